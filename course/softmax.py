"""References and checks for the softmax track (lessons 20-28).

A lesson's check cell shows a call, ``check_mos_log_probs(mos_log_probs)``, not the reference: the
reference lives here, and each check is tested against plausible wrong implementations
(``tests/test_wrong_code_softmax.py``). Hints name the idea, never the line of code.
"""
import numpy as np

import minilib as ml
import minilib.nn.functional as F

from .check import check, expect

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
