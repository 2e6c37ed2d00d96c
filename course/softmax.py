"""References and checks for the softmax track (lessons 20-28).

A lesson's check cell shows a call, ``check_mos_log_probs(mos_log_probs)``, not the reference: the
reference lives here, and each check is tested against plausible wrong implementations
(``tests/test_wrong_code_softmax.py``). Hints name the idea, never the line of code.
"""
import numpy as np

import minilib as ml
import minilib.nn.functional as F

from .check import at_least, check, expect, near

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


# lesson 25: knowledge distillation


def reference_distillation_loss(student_logits, teacher_logits, temperature=4.0):
    """T² times the cross-entropy from softmax(teacher/T) to softmax(student/T), summed over the last axis
    (classes) and averaged over every other one (examples, and networks when stacked); T = ``temperature``."""
    soft_targets = F.softmax(teacher_logits / temperature, -1)
    return -(soft_targets * F.log_softmax(student_logits / temperature, -1)).sum(-1).mean() * temperature ** 2


def reference_kd_parts(p, q, target):
    """Zhao et al.'s split of KL(p || q) for distributions p, q (B, K) and a boolean target mask (B, K):
    (binary KL of (p_y, 1 - p_y) from (q_y, 1 - q_y), KL of p̂ from q̂ over the non-target classes, 1 - p_y),
    each (B,). The target entry is left out of the non-target sum (0 · log 0 counts as 0), never computed."""
    p_y, q_y = p.masked_fill(~target, 0).sum(-1), q.masked_fill(~target, 0).sum(-1)
    binary = p_y * (p_y.log() - q_y.log()) + (1 - p_y) * ((1 - p_y).log() - (1 - q_y).log())
    p_hat = p.masked_fill(target, 0) / (1 - p_y).unsqueeze(-1)
    log_ratio = ((p.log() - q.log()).masked_fill(target, 0)
                 - (1 - p_y).log().unsqueeze(-1) + (1 - q_y).log().unsqueeze(-1))
    return binary, (p_hat * log_ratio).sum(-1), 1 - p_y


def reference_shuffle_non_target(logits, y, rng):
    """Each row's non-target logits in a random order of their own (drawn from the numpy Generator ``rng``),
    the target logit left in place: logits (B, K), y (B,) -> (B, K)."""
    x = np.asarray(logits)
    target = np.arange(x.shape[-1]) == np.asarray(y)[:, None]
    order = np.argsort(np.where(target, -1.0, rng.random(x.shape)), -1)  # target first, then a random order
    places = np.argsort(np.where(target, -1, np.arange(x.shape[-1])), -1)  # target first, then the others in order
    out = np.empty_like(x)
    np.put_along_axis(out, places, np.take_along_axis(x, order, -1), -1)
    return ml.tensor(out)


def _teacher_like(seed, shape, scale=3.0):
    g = ml.Generator().manual_seed(seed)
    return ml.randn(*shape, generator=g) * scale


def check_distillation_loss(distillation_loss):
    """``distillation_loss(student_logits, teacher_logits, T)`` against :func:`reference_distillation_loss`:
    value and gradient with respect to the student's logits, at two temperatures, for a batch (B, K) and for
    networks stacked side by side (S, B, K)."""
    hint = ("soften the teacher and the student with the same T; the cross-entropy runs from the teacher's "
            "distribution to the student's, summed over the classes, averaged over the examples; T² "
            "restores the gradient's scale")
    for temperature, shape in ((4.0, (5, 10)), (2.0, (5, 10)), (3.0, (3, 4, 7))):
        teacher = _teacher_like(len(shape) + int(temperature), shape)
        check(f"distillation_loss, T = {temperature:g}, logits {shape}",
              lambda s, t, tau=temperature: distillation_loss(s, t, tau),
              lambda s, t, tau=temperature: reference_distillation_loss(s, t, tau),
              shape, teacher, grad_inputs=(0,), hint=hint)


def _kd_parts_inputs():
    """p (teacher), q (student) over 6 classes for 7 examples, the last teacher 99.9% sure; target mask."""
    g = ml.Generator().manual_seed(1)
    p_logits, q_logits = ml.randn(7, 6, generator=g) * 2, ml.randn(7, 6, generator=g) * 2
    y = ml.tensor(np.array([0, 3, 5, 1, 1, 4, 2]))
    target = F.one_hot(y, 6).bool()
    p_logits = p_logits + ml.tensor(np.r_[np.zeros(6), np.full(1, 9.0)].astype(np.float32)).unsqueeze(-1) * target
    return p_logits.softmax(-1), q_logits.softmax(-1), target


def check_kd_parts(kd_parts):
    """``kd_parts(p, q, target)`` against :func:`reference_kd_parts`: the three (B,) terms and their
    gradients with respect to the student's distribution q (stacked into one (3, B) tensor), then the
    identity they must meet, KL(p || q) = binary + (1 - p_y) · non-target, with every term finite."""
    p, q, target = _kd_parts_inputs()
    hint = ("p̂ is p over the non-target classes only, renormalised to sum to 1 (and q̂ likewise, from q); "
            "the target's entry of p̂ is 0 and contributes 0 · log 0 = 0, but computed as 0 · log(0 / 0) it "
            "gives nan, in the value or in the gradient: leave that entry out of the sum")
    check("kd_parts (binary, non-target, weight)", lambda p, q, t: ml.stack(list(kd_parts(p, q, t))),
          lambda p, q, t: ml.stack(list(reference_kd_parts(p, q, t))), p, q, target, grad_inputs=(1,), hint=hint)

    def probe():
        binary, non_target, weight = kd_parts(p, q, target)
        parts = np.stack([np.asarray(t.detach()) for t in (binary, non_target, weight)])
        total = (p * (p.log() - q.log())).sum(-1)
        return {"every term finite": bool(np.isfinite(parts).all()),
                "binary + (1 - p_y) · non-target = KL(p || q)":
                    bool(np.allclose(parts[0] + parts[2] * parts[1], np.asarray(total), atol=1e-5))}

    expect("kd_parts", probe, hint=hint)


def check_shuffle_non_target(shuffle_non_target):
    """``shuffle_non_target(logits, y, rng)``: on 400 rows of 10 classes, keeps each row's target logit and its
    set of values, moves the non-target logits to other classes by a permutation of each row's own, drawn from
    ``rng`` (the same seed gives the same result), evenly over the non-target classes."""
    def probe():
        rng = np.random.default_rng(0)
        x = ml.tensor(rng.standard_normal((400, 10)).astype(np.float32))
        y = ml.tensor(rng.integers(0, 10, 400))
        before = np.asarray(x).copy()
        out = shuffle_non_target(x, y, np.random.default_rng(1))
        if not np.array_equal(np.asarray(x), before):
            return {"the input logits are left unchanged (work on a copy: np.array(tensor) may share its memory)":
                    False}
        again = shuffle_non_target(x, y, np.random.default_rng(1))
        other = shuffle_non_target(x, y, np.random.default_rng(2))
        a, b, labels = np.asarray(x), np.asarray(out), np.asarray(y)
        rows = np.arange(400)
        if not (isinstance(out, ml.Tensor) and b.shape == a.shape):
            return {"a Tensor of the same shape (400, 10)": False}
        moved = a != b
        moved[rows, labels] = False
        # where each entry of b came from in a (the values are distinct): one permutation per row
        source = np.take_along_axis(np.argsort(a, -1), np.argsort(np.argsort(b, -1), -1), -1)
        a_nt = np.where(np.arange(10) == labels[:, None], -np.inf, a)
        top = a_nt.argmax(-1)  # the largest non-target logit: does it stay in its class?
        return {"the input logits are left unchanged": True, "a Tensor of the same shape (400, 10)": True,
                "the target logit stays in place": bool((b[rows, labels] == a[rows, labels]).all()),
                "each row keeps its own values": bool(np.array_equal(np.sort(a, -1), np.sort(b, -1))),
                "about 8 in 9 non-target logits move": near(moved.sum() / (400 * 9), 8 / 9, 0.05),
                "each row has an order of its own (not one for all rows)":
                    at_least(len({tuple(r) for r in source}), 300),
                "the largest non-target logit stays in its class about 1 time in 9":
                    near((source[rows, top] == top).mean(), 1 / 9, 0.06),
                "the same generator seed gives the same shuffle": bool(np.array_equal(b, np.asarray(again))),
                "another seed gives another shuffle": not np.array_equal(b, np.asarray(other))}

    expect("shuffle_non_target", probe,
           hint="only the non-target classes trade places, the target stays where it is; draw a fresh order "
                "for every row, from the generator you are given")
