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


# lesson 28: softmax collapse and StableMax


def reference_stablemax(x):
    """s(x) / sum s(x) over the last dim, with s(x) = x + 1 for x >= 0 and 1 / (1 - x) for x < 0."""
    s = ml.where(x >= 0, x + 1, 1 / (1 - x.clamp(max=0)))  # clamp: where evaluates both branches
    return s / s.sum(-1, keepdim=True)


def reference_stablemax_cross_entropy(logits, y):
    """Per-example -log StableMax(logits)_y: logits (..., C), y (...) int64 -> (...)."""
    return -reference_stablemax(logits).log().gather(-1, y.unsqueeze(-1)).squeeze(-1)


def reference_collapsed_fraction(logits, y):
    """Fraction of rows whose float32 softmax cross-entropy is exactly 0: logits (..., N, C), y (..., N) -> (...)."""
    losses = -F.log_softmax(logits.float(), -1).gather(-1, y.unsqueeze(-1)).squeeze(-1)
    return (losses == 0).float().mean(-1)


def _stable_inputs():
    """Logits (5, 7) and (3, 4, 6) spanning both branches of s (none exactly 0, where the slope is a convention;
    one exactly 1, where 1 / (1 - x) would divide by zero in the branch that is not picked)."""
    rng = np.random.default_rng(0)
    a = (3 * rng.standard_normal((5, 7))).astype(np.float32)
    a[1, 2] = 1.0
    b = (5 * rng.standard_normal((3, 4, 6))).astype(np.float32)
    return ml.tensor(a), ml.tensor(b)


def check_stablemax(stablemax):
    """``stablemax(x)`` against :func:`reference_stablemax`, values and gradients, on 2-D and 3-D logits of both
    signs."""
    hint = ("s grows like x + 1 above 0 and like 1 / (1 - x) below it, so it is positive everywhere and meets "
            "itself (value and slope) at 0; then normalise each row over the classes, the last dim")
    for x in _stable_inputs():
        check(f"stablemax on shape {tuple(x.shape)}", stablemax, reference_stablemax, x, hint=hint)


def check_stablemax_cross_entropy(stablemax_cross_entropy):
    """``stablemax_cross_entropy(logits, y)`` (one loss per example, no reduction) against
    :func:`reference_stablemax_cross_entropy`, values and gradients, on (5, 7) and (3, 4, 6) logits."""
    a, b = _stable_inputs()
    rng = np.random.default_rng(1)
    for x in (a, b):
        y = ml.tensor(rng.integers(0, x.shape[-1], x.shape[:-1]).astype(np.int64))
        check(f"stablemax_cross_entropy on logits {tuple(x.shape)}", stablemax_cross_entropy,
              reference_stablemax_cross_entropy, x, y, grad_inputs=(0,),
              hint="one loss per example (no mean): minus the log of the label's StableMax probability; the label "
                   "indexes the last dim")


def _margin_logits():
    """Logits (2, 32, 10): row i has the label's logit m_i above the other nine, m from 0 to 44 (float32
    collapses from about 19, float64 from about 39), the other logits spread over [-1, 1]; in the last two rows a
    wrong class leads by 30 instead (the softmax is saturated on the wrong class: the loss is 30, not 0); a second
    batch shifted by +50 (softmax does not care) with its label in another place."""
    m = np.concatenate([np.linspace(0, 44, 30), [-30, -30]]).astype(np.float32)
    rng = np.random.default_rng(3)
    z = rng.uniform(-1, 1, (2, 32, 10)).astype(np.float32)
    y = np.array([np.zeros(32, np.int64), np.full(32, 7, np.int64)])
    z[0, :, 0] += np.maximum(m, 0)
    z[1, :, 7] += np.maximum(m, 0)
    z[0, -2:, 3] += 30
    z[1, -2:, 2] += 30
    z[1] += 50
    return ml.tensor(z), ml.tensor(y)


def check_collapsed_fraction(collapsed_fraction):
    """``collapsed_fraction(logits, y)``: per batch, the fraction of rows whose float32 softmax cross-entropy is
    exactly 0, against :func:`reference_collapsed_fraction` on label margins from 0 to 44, in float32 and from
    float64 logits (still measured in float32), and on one batch of 2-D logits."""
    z, y = _margin_logits()

    def probe():
        mine, ref = collapsed_fraction(z, y), reference_collapsed_fraction(z, y)
        mine64, ref64 = collapsed_fraction(z.double(), y), reference_collapsed_fraction(z.double(), y)
        one, one_ref = collapsed_fraction(z[0], y[0]), reference_collapsed_fraction(z[0], y[0])
        exact = [round(float(v), 3) for v in np.asarray(ref).ravel()]
        return {"one fraction per batch, shape (2,)": tuple(np.shape(np.asarray(mine))) == (2,),
                f"the float32 fractions, {exact}": np.array_equal(np.asarray(mine, np.float64).ravel(),
                                                                 np.asarray(ref, np.float64).ravel()),
                "the same from float64 logits (collapse is measured in float32)":
                    np.array_equal(np.asarray(mine64, np.float64).ravel(), np.asarray(ref64, np.float64).ravel()),
                "a single fraction for 2-D logits": np.allclose(np.asarray(one, np.float64), np.asarray(one_ref))}

    expect("collapsed_fraction", probe,
           hint="compute the cross-entropy in float32, stably (shift by the row's max), and count the rows where it "
                "is exactly zero, not merely small; average over the rows, the second-to-last dim")
