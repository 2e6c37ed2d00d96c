"""References and checks for the softmax track (lessons 20-28).

A lesson's check cell shows a call, ``check_mos_log_probs(mos_log_probs)``, not the reference: the
reference lives here, and each check is tested against plausible wrong implementations
(``tests/test_wrong_code_softmax.py``). Hints name the idea, never the line of code.
"""
import numpy as np

import minilib as ml
import minilib.nn.functional as F
from minilib.tensor import Tensor

from .check import at_most, check, expect

# lesson 27: the softmax bottleneck


def singular_values(matrix):
    """The singular values of a 2-D tensor or array, largest first (numpy's SVD, in float64)."""
    return np.linalg.svd(np.asarray(matrix, np.float64), compute_uv=False)


def reference_numerical_rank(matrix, rtol=1e-5):
    """The number of singular values of a 2-D matrix above ``rtol`` times the largest one."""
    s = singular_values(matrix)
    return int((s > rtol * s[0]).sum())


def reference_mos_log_probs(h, w, prior, projections):
    """log sum_k pi_k softmax(tanh(h U_k) W^T), computed in log space: logsumexp_k (log pi_k + log_softmax_k),
    so that large logits give finite log-probabilities (the log of a sum of underflowed probabilities is -inf)."""
    log_pi = F.log_softmax(h @ prior, -1)  # (N, K)
    parts = [log_pi[:, k:k + 1] + F.log_softmax((h @ projections[k]).tanh() @ w.T, -1)
             for k in range(prior.shape[1])]
    return ml.stack(parts, 0).logsumexp(0)


def reference_mol_log_probs(h, w, prior, projections):
    """log_softmax of a mixture of logits: one softmax of sum_k pi_k tanh(h U_k) W^T."""
    pi = F.softmax(h @ prior, -1)
    logits = 0
    for k in range(prior.shape[1]):
        logits = logits + pi[:, k:k + 1] * ((h @ projections[k]).tanh() @ w.T)
    return F.log_softmax(logits, -1)


# Two sets of shapes (h, w, prior, projections): N contexts, V words, d dimensions, K components, all
# different, so that a softmax over the wrong axis or a transposed weight shows.
_MIXTURE_SHAPES = [((6, 4), (9, 4), (4, 3), (3, 4, 4)), ((5, 3), (7, 3), (3, 2), (2, 3, 3))]


def _large_logits():
    """Inputs whose word logits reach about ±100: probabilities below float32's range for most words."""
    rng = np.random.default_rng(1)
    h, w, prior, proj = (rng.standard_normal(s).astype(np.float32) for s in _MIXTURE_SHAPES[0])
    return h, 30 * w, prior, proj


def check_numerical_rank(numerical_rank):
    """``numerical_rank(matrix, rtol)``: counts singular values relative to the largest, on matrices of
    known rank (float64 and float32, any scale) and at two tolerances."""
    def probe():
        g = ml.Generator().manual_seed(0)
        ranks, ranks32 = {}, {}
        for d in (1, 3, 8):
            h = ml.randn(60, d, generator=g, dtype=ml.float64)
            w = ml.randn(40, d, generator=g, dtype=ml.float64)
            ranks[d] = (numerical_rank(h @ w.T), numerical_rank(F.log_softmax(h @ w.T, -1)))
            h32, w32 = ml.randn(60, d, generator=g), ml.randn(40, d, generator=g)
            ranks32[d] = numerical_rank(F.log_softmax(h32 @ w32.T, -1))
        spectrum = ml.tensor(np.diag([1e3, 1.0, 1e-3, 1e-6]))  # relative to the largest: 1, 1e-3, 1e-6, 1e-9
        # 20 singular values of 1, then 3e-5 and 0.95e-5: relative to the largest one the rank at rtol 1e-5 is
        # 21; relative to their sum, their norm or their mean it is not.
        q, _ = np.linalg.qr(np.random.default_rng(2).standard_normal((30, 22)))
        flat = ml.tensor(q * np.r_[np.ones(20), 3e-5, 0.95e-5] @ np.linalg.qr(np.random.default_rng(3).standard_normal(
            (22, 22)))[0].T)
        tall = ml.tensor(np.random.default_rng(0).standard_normal((50, 3)) @ np.diag([1e-7, 2e-7, 3e-7]))
        return {"an int": isinstance(numerical_rank(ml.eye(7)), (int, np.integer)),
                "the identity has full rank": numerical_rank(ml.eye(7)) == 7,
                "a tiny matrix still has full rank (the tolerance is relative)": numerical_rank(tall) == 3,
                "diag(1e3, 1, 1e-3, 1e-6) has rank 3 at rtol 1e-8 and 2 at rtol 1e-5":
                    numerical_rank(spectrum, rtol=1e-8) == 3 and numerical_rank(spectrum, rtol=1e-5) == 2,
                "twenty equal singular values, then 3e-5 and 0.95e-5: rank 21 at rtol 1e-5":
                    numerical_rank(flat, rtol=1e-5) == 21,
                "logits HW^T have rank d": all(r[0] == d for d, r in ranks.items()),
                "log-probabilities have rank d + 1": all(r[1] == d + 1 for d, r in ranks.items()),
                "in float32 too, at the default rtol": all(r == d + 1 for d, r in ranks32.items())}

    expect("numerical_rank", probe, hint="count the singular values that are large compared with the largest "
                                         "one, rtol being that fraction")


def check_mos_log_probs(mos_log_probs):
    """``mos_log_probs(h, w, prior, projections)`` against :func:`reference_mos_log_probs`, values and
    gradients of all four inputs, on two sets of shapes and on logits large enough that mixing
    probabilities outside log space gives -inf."""
    hint = ("mix probabilities, then take the log: each component is a softmax over the vocabulary, the "
            "mixture weights are a softmax over the K components; mixing in log space needs logsumexp")
    for shapes in _MIXTURE_SHAPES:
        n, v, k = shapes[0][0], shapes[1][0], shapes[2][1]
        check(f"mos_log_probs, N = {n}, V = {v}, K = {k}", mos_log_probs, reference_mos_log_probs, *shapes,
              hint=hint)
    check("mos_log_probs with logits near ±100", mos_log_probs, reference_mos_log_probs, *_large_logits(),
          atol=1e-4, hint=hint + " (a probability that underflows to 0 has log -inf; its log never does)")


def check_mol_log_probs(mol_log_probs):
    """``mol_log_probs(h, w, prior, projections)`` against :func:`reference_mol_log_probs`, values and
    gradients of all four inputs, on two sets of shapes."""
    for shapes in _MIXTURE_SHAPES:
        n, v, k = shapes[0][0], shapes[1][0], shapes[2][1]
        check(f"mol_log_probs, N = {n}, V = {v}, K = {k}", mol_log_probs, reference_mol_log_probs, *shapes,
              hint="the same weights and component contexts as the mixture of softmaxes, but they mix the logits; "
                   "a single softmax over the vocabulary comes after the mixing")


# lesson 21: temperature, top-k, top-p and top-nσ


def _rows(logits):
    """The logits (a tensor or an array, (..., V)) as float64 numpy rows (rows, V), and their shape."""
    z = np.asarray(logits.data if isinstance(logits, Tensor) else logits, np.float64)
    return z.reshape(-1, z.shape[-1]), z.shape


def reference_keep(logits, method, amount):
    """The tokens each truncation keeps, row by row in numpy: a bool array of the logits' shape.

    ``method`` is "none", "top-k" (the ``amount`` largest), "top-p" (the fewest largest whose probability
    reaches ``amount``: a token is kept while the mass before it is below p) or "top-nσ" (logits at least
    max - ``amount`` · std, the std dividing by V - 1 as torch's does)."""
    rows, shape = _rows(logits)
    keep = np.zeros(rows.shape, bool)
    for r, row in enumerate(rows):
        order = np.argsort(-row, kind="stable")
        if method == "none":
            size = len(row)
        elif method == "top-k":
            size = amount
        elif method == "top-p":
            probs = np.exp(row[order] - row.max())
            probs /= probs.sum()
            size = int(np.sum(np.cumsum(probs) - probs < amount))
        elif method == "top-nσ":
            size = int(np.sum(row >= row.max() - amount * row.std(ddof=1)))
        else:
            raise ValueError(f"unknown truncation {method!r}")
        keep[r, order[:size]] = True
    return keep.reshape(shape)


def reference_truncated(logits, method, amount):
    """The logits with the tokens ``method`` removes set to -inf (a float32 minilib tensor)."""
    z = np.asarray(logits.data, np.float32)
    return ml.tensor(np.where(reference_keep(logits, method, amount), z, -np.inf).astype(z.dtype))


def reference_sampling_probs(logits, temperature, method, amount):
    """The distribution each row is sampled from: temperature first, then truncation, then softmax (float64)."""
    rows, shape = _rows(logits)
    scaled = rows / temperature
    kept = np.where(reference_keep(scaled, method, amount), scaled, -np.inf)
    probs = np.exp(kept - kept.max(-1, keepdims=True))
    return (probs / probs.sum(-1, keepdims=True)).reshape(shape)


def _truncation_inputs():
    """Rows of logits at several scales (a flat row keeps many tokens, a peaked one few), 2-D and 3-D,
    with no ties, and one row whose largest logit stands far above the rest."""
    rng = np.random.default_rng(21)
    flat = rng.standard_normal((8, 30)) * np.array([0.3, 0.6, 1, 1.5, 2, 3, 5, 8])[:, None]
    flat[7, 4] = 40.0
    cube = rng.standard_normal((2, 3, 17)) * 2
    return [ml.tensor(flat.astype(np.float32)), ml.tensor(cube.astype(np.float32))]


def _check_truncation(name, fn, method, amounts, hint):
    __tracebackhide__ = True
    for z in _truncation_inputs():
        for amount in amounts:
            check(f"{name}, {method} {amount} on logits of shape {tuple(z.shape)}", fn,
                  lambda z, amount: reference_truncated(z, method, amount), z, amount, grad=False, hint=hint)


def check_top_k_logits(top_k_logits):
    """``top_k_logits(logits, k)`` against :func:`reference_truncated`: 2-D and 3-D logits, k = 1, 3, 7."""
    _check_truncation("top_k_logits", top_k_logits, "top-k", (1, 3, 7),
                      hint="along the last dimension, a token survives when its logit is at least the k-th largest "
                           "of its row; removed tokens become -inf, kept ones keep their logit")


def check_top_p_logits(top_p_logits):
    """``top_p_logits(logits, p)`` against :func:`reference_truncated`: 2-D and 3-D logits at scales from
    flat to peaked, p = 0.5, 0.8, 0.95."""
    _check_truncation("top_p_logits", top_p_logits, "top-p", (0.5, 0.8, 0.95),
                      hint="rank each row's tokens from the likeliest down and go through them in that order: a "
                           "token is kept while the probability of the tokens ranked above it is still below p (so "
                           "the token that crosses p is kept, and the likeliest token always is); the answer keeps "
                           "the original order")


def check_top_nsigma_logits(top_nsigma_logits):
    """``top_nsigma_logits(logits, n)`` against :func:`reference_truncated`: 2-D and 3-D logits, n = 0.5, 1, 2."""
    _check_truncation("top_nsigma_logits", top_nsigma_logits, "top-nσ", (0.5, 1.0, 2.0),
                      hint="the threshold is a logit: the row's largest logit minus n standard deviations of that "
                           "row's logits (the std that torch computes by default, dividing by V - 1)")


_SAMPLING_ROWS = np.array([[2.0, 1.2, 0.9, 0.3, -0.2, -1.0, -2.0, -3.0],
                           [-1.0, 0.5, -2.5, 1.5, 0.0, -0.4, 2.2, -3.0]])


def check_sample_next(sample_next, rows=6000):
    """``sample_next(logits, temperature, method, amount, generator)``: draws from ``rows`` rows (two different
    logit rows, alternating) follow :func:`reference_sampling_probs` at several temperatures and truncations,
    among them top-p at T = 2.5 and 0.5 (whose nucleus differs from the one at T = 1), never leave the kept set,
    are integer indices of shape (B,), and are decided by the generator."""
    __tracebackhide__ = True
    logits = ml.tensor(np.tile(_SAMPLING_ROWS, (rows // 2, 1)).astype(np.float32))
    cases = [(1.0, "none", None), (2.0, "none", None), (0.5, "none", None), (3.0, "top-k", 2), (2.5, "top-p", 0.8),
             (0.5, "top-p", 0.8), (2.0, "top-nσ", 1.0)]

    def tokens_of(draws):
        return np.asarray(draws.data).reshape(-1)[:rows]

    def worst_error(draws, expected):
        """The largest |frequency - probability| in standard errors of a frequency over rows / 2 draws."""
        tokens = tokens_of(draws)
        seen = np.stack([np.bincount(tokens[i::2], minlength=8)[:8] / (rows // 2) for i in range(2)])
        return np.max(np.abs(seen - expected) / np.sqrt(np.maximum(expected * (1 - expected), 1e-4) / (rows // 2)))

    def probe():
        out = {}
        first = sample_next(logits, 1.0, "none", None, ml.Generator().manual_seed(0))
        out["one integer index per row, shape (B,)"] = (
            tuple(first.shape) == (rows,) and np.asarray(first.data).dtype.kind in "iu")
        for temperature, method, amount in cases:
            draws = sample_next(logits, temperature, method, amount, ml.Generator().manual_seed(1))
            expected = reference_sampling_probs(_SAMPLING_ROWS, temperature, method, amount)
            setting = "no truncation" if method == "none" else f"{method} {amount}"
            out[f"T = {temperature}, {setting}: no token outside the kept set"] = bool(
                (expected[np.arange(rows) % 2, np.clip(tokens_of(draws), 0, 7)] > 0).all())
            out[f"T = {temperature}, {setting}: frequencies follow softmax(truncate(z / T)) (each token within "
                "5 standard errors)"] = at_most(worst_error(draws, expected), 5.0)
        cold = tokens_of(sample_next(logits, 0.02, "none", None, ml.Generator().manual_seed(2)))
        out["T = 0.02 picks each row's argmax"] = bool((cold == np.tile([0, 6], rows // 2)).all())
        again = sample_next(logits, 1.0, "none", None, ml.Generator().manual_seed(0))
        other = sample_next(logits, 1.0, "none", None, ml.Generator().manual_seed(3))
        out["the generator decides the draws (same seed, same tokens; another seed, other tokens)"] = bool(
            np.array_equal(tokens_of(again), tokens_of(first)) and not np.array_equal(tokens_of(other),
                                                                                     tokens_of(first)))
        return out

    expect("sample_next", probe, hint="divide the logits by the temperature first, then truncate what that gives, "
                                      "then softmax and draw one token per row with the generator passed in")
