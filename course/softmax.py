"""References and checks for the softmax track (lessons 20-28).

A lesson's check cell shows a call, ``check_mos_log_probs(mos_log_probs)``, not the reference: the
reference lives here, and each check is tested against plausible wrong implementations
(``tests/test_wrong_code_softmax.py``). Hints name the idea, never the line of code.
"""
import numpy as np

import minilib as ml
import minilib.nn.functional as F

from .check import at_least, at_most, check, expect

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


# lesson 26: the Z-loss, softpick and the attention sink


def reference_z_loss(logits, y, a=1.0, b=3.0):
    """de Brébisson & Vincent's Z-loss, mean over the batch: softplus(a (b - z_y)) / a, with z the logits
    standardised over the classes (population std). logits (B, K), y (B,) class indices."""
    mu = logits.mean(-1, keepdim=True)
    sigma = ((logits - mu) ** 2).mean(-1, keepdim=True).sqrt()
    z_y = ((logits - mu) / sigma).gather(-1, y.reshape(-1, 1))
    return F.softplus(a * (b - z_y)).mean() / a


def check_z_loss(z_loss):
    """``z_loss(logits, y, a, b)`` against :func:`reference_z_loss`, values and gradients at two settings of
    (a, b) and two shapes, then the invariance that defines it, example by example."""
    hint = ("standardise each row of logits over the classes (its mean and its population standard "
            "deviation), then a softplus of how far the true class's z-score falls short of b, scaled by a "
            "and divided by it; average over the batch")
    for shape, labels, (a, b) in (((4, 5), [1, 0, 4, 2], (1.0, 3.0)), ((6, 10), [9, 3, 3, 0, 7, 1], (2.0, 1.5))):
        y = ml.tensor(labels)
        check(f"z_loss, {shape[0]} rows of {shape[1]} classes, a = {a:g}, b = {b:g}", z_loss, reference_z_loss,
              shape, y, grad_inputs=(0,), a=a, b=b, hint=hint)

    def probe():
        g = ml.Generator().manual_seed(3)
        o, y = ml.randn(50, 10, generator=g), ml.randint(0, 10, (50,), generator=g)
        alpha, beta = ml.rand(50, 1, generator=g) * 10 + 0.1, ml.randn(50, 1, generator=g) * 100
        moved = alpha * o + beta
        one = [z_loss(o[i:i + 1], y[i:i + 1]).item() for i in range(50)]
        other = [z_loss(moved[i:i + 1], y[i:i + 1]).item() for i in range(50)]
        flipped = [z_loss(-o[i:i + 1], y[i:i + 1]).item() for i in range(50)]
        return {"unchanged, example by example, by a shift and a positive scale of each row":
                    at_most(np.abs(np.subtract(one, other)).max(), 1e-4),
                "a negative scale is not a positive one (it flips the ranking)":
                    at_least(np.abs(np.subtract(one, flipped)).max(), 0.1)}

    expect("z_loss's invariance", probe, hint=hint)


def reference_softpick(x, eps=1e-6):
    """Zuhri et al.'s rectified softmax over the last dim, relu(e^x - 1) / (sum |e^x - 1| + eps), computed
    with both sides multiplied by e^-m, m = max(0, max x), so that neither side overflows."""
    m = x.amax(-1, keepdim=True).clamp(min=0)
    shifted = (x - m).exp() - (-m).exp()
    return shifted.relu() / (shifted.abs().sum(-1, keepdim=True) + eps * (-m).exp())


def _softpick_in_float64(x):
    """The formula as written, in float64 numpy, for moderate scores."""
    e = np.expm1(np.asarray(x, np.float64))
    return np.maximum(e, 0) / (np.abs(e).sum(-1, keepdims=True) + 1e-6)


def check_softpick(softpick):
    """``softpick(x)`` against :func:`reference_softpick`, values and gradients on rows with scores of both
    signs, on large and very negative rows (no overflow), and the properties that let a head abstain."""
    hint = ("rectify e^x - 1 in the numerator, but sum its absolute value in the denominator, over the last "
            "dim; to stay finite, multiply both by e^-m with m the row's largest score, never below 0")
    check("softpick, (5, 7) scores", softpick, reference_softpick, (5, 7), hint=hint)
    check("softpick, (2, 3, 4) scores", softpick, reference_softpick, (2, 3, 4), hint=hint)
    extreme = ml.tensor([[1000.0, 999.0, -5.0, 0.0], [-1000.0, -999.0, -3.0, -0.5], [80.0, -80.0, 0.5, 0.0],
                         [-1000.0, -990.0, -995.0, -999.0]])
    check("softpick on scores near ±1000", softpick, reference_softpick, extreme, hint=hint)

    def probe():
        g = ml.Generator().manual_seed(4)
        x = ml.randn(100, 9, generator=g) * 3
        w = softpick(x)
        scores = ml.tensor([[1.5, -0.5, -2.0, 0.3]], requires_grad=True)
        softpick(scores)[0, 0].backward()
        silent = ml.tensor([[-1.5, -0.5, -2.0, -0.3]], requires_grad=True)
        softpick(silent).sum().backward()
        return {"agrees with the formula in float64": at_most(np.abs(w.numpy() - _softpick_in_float64(x)).max(), 1e-5),
                "rows sum to at most 1": bool((w.sum(-1) <= 1 + 1e-6).all().item()),
                "scores at or below 0 get exactly zero weight": bool((w[x <= 0] == 0).all().item()),
                "an all-negative row is all zero":
                    bool((softpick(-ml.rand(3, 9, generator=g) - 0.1) == 0).all().item()),
                "a negative score still gets a gradient (through the denominator)":
                    at_least(abs(scores.grad[0, 1].item()), 1e-3),
                "an all-negative row gets no gradient at all": at_most(np.abs(silent.grad.numpy()).max(), 0.0)}

    expect("softpick's abstention", probe, hint=hint)
