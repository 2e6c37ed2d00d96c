"""The softmax track's checks against plausible wrong code: each must raise CheckFailed, the right code must pass.

One entry per mistake a learner makes; a check that lets one through is a check that teaches nothing.
Right answers written differently must pass too.
"""
import numpy as np
import pytest

import minilib as ml
import minilib.nn.functional as F
from course import CheckFailed
from course.softmax import check_mol_log_probs, check_mos_log_probs, check_numerical_rank

# lesson 27: numerical_rank(matrix, rtol)


def numerical_rank(matrix, rtol=1e-5):
    s = np.linalg.svd(np.asarray(matrix, np.float64), compute_uv=False)
    return int((s > rtol * s[0]).sum())


def _singular_values(matrix):
    return np.linalg.svd(np.asarray(matrix, np.float64), compute_uv=False)


OTHER_RIGHT_RANKS = {
    "matrix_rank with a relative tol": lambda m, rtol=1e-5:
        int(np.linalg.matrix_rank(np.asarray(m, np.float64), tol=rtol * _singular_values(m).max())),
    "float32 SVD, max instead of s[0]": lambda m, rtol=1e-5:
        int((lambda s: np.count_nonzero(s > rtol * s.max()))(np.linalg.svd(np.asarray(m), compute_uv=False))),
    "a numpy integer": lambda m, rtol=1e-5: np.sum(_singular_values(m) / _singular_values(m)[0] > rtol),
}

WRONG_RANKS = {
    "an absolute tolerance": lambda m, rtol=1e-5: int((_singular_values(m) > rtol).sum()),
    "numpy's default tolerance, ignoring rtol": lambda m, rtol=1e-5: int(np.linalg.matrix_rank(np.asarray(m))),
    "relative to the smallest singular value": lambda m, rtol=1e-5:
        int((_singular_values(m) > rtol * _singular_values(m)[-1]).sum()),
    "the smaller dimension (full rank always)": lambda m, rtol=1e-5: min(np.asarray(m).shape),
    "counts the small ones": lambda m, rtol=1e-5: int((_singular_values(m) <= rtol * _singular_values(m)[0]).sum()),
    "rtol squared (tolerance on s^2 compared with s)": lambda m, rtol=1e-5:
        int((_singular_values(m) > rtol ** 2 * _singular_values(m)[0]).sum()),
    "returns a float": lambda m, rtol=1e-5: float((_singular_values(m) > rtol * _singular_values(m)[0]).sum()),
}

# lesson 27: mos_log_probs(h, w, prior, projections), mol_log_probs(...)


def mos_log_probs(h, w, prior, projections):
    log_pi = (h @ prior).log_softmax(-1)
    contexts = (h.unsqueeze(0) @ projections).tanh()
    component = (contexts @ w.T).log_softmax(-1)
    return (log_pi.T.unsqueeze(-1) + component).logsumexp(0)


def mol_log_probs(h, w, prior, projections):
    pi = (h @ prior).softmax(-1)
    contexts = (h.unsqueeze(0) @ projections).tanh()
    return (pi.T.unsqueeze(-1) * (contexts @ w.T)).sum(0).log_softmax(-1)


def _components(h, w, projections):
    """(K, N, V) logits of each component."""
    return (h.unsqueeze(0) @ projections).tanh() @ w.T


def _mos_by_loop(h, w, prior, projections):
    pi = F.softmax(h @ prior, -1)
    return sum(pi[:, k:k + 1] * F.softmax((h @ projections[k]).tanh() @ w.T, -1)
               for k in range(prior.shape[1])).log()


OTHER_RIGHT_MOS = {
    "einsum-free broadcasting, ml.logsumexp": lambda h, w, prior, projections: ml.logsumexp(
        F.log_softmax(h @ prior, -1).T.unsqueeze(-1) + F.log_softmax(_components(h, w, projections), -1), 0),
}

WRONG_MOS = {
    # the right mixture, but outside log space: words whose probability underflows get log 0 = -inf
    "a loop over k, log of the summed probabilities": _mos_by_loop,
    "mixing in probability space with the weights as (K, N, 1)": lambda h, w, prior, projections:
        (F.softmax(h @ prior, 1).T.unsqueeze(2) * F.softmax(_components(h, w, projections), 2)).sum(0).log(),
    "mixes logits instead of probabilities": mol_log_probs,
    "the components' softmax over the contexts, not the vocabulary": lambda h, w, prior, projections:
        (F.log_softmax(h @ prior, -1).T.unsqueeze(-1) + _components(h, w, projections).log_softmax(1)).logsumexp(0),
    "mixture weights not normalised": lambda h, w, prior, projections:
        ((h @ prior).T.unsqueeze(-1) + _components(h, w, projections).log_softmax(-1)).logsumexp(0),
    "mixture weights normalised over the contexts": lambda h, w, prior, projections:
        ((h @ prior).log_softmax(0).T.unsqueeze(-1) + _components(h, w, projections).log_softmax(-1)).logsumexp(0),
    "log taken before mixing (weights times log-probabilities)": lambda h, w, prior, projections:
        (F.softmax(h @ prior, -1).T.unsqueeze(-1) * _components(h, w, projections).log_softmax(-1)).sum(0),
    "weights, not log-weights, inside the logsumexp": lambda h, w, prior, projections:
        (F.softmax(h @ prior, -1).T.unsqueeze(-1) + _components(h, w, projections).log_softmax(-1)).logsumexp(0),
    "the mean over k instead of the weighted mixture": lambda h, w, prior, projections:
        F.softmax(_components(h, w, projections), -1).mean(0).log(),
    "no tanh on the component contexts": lambda h, w, prior, projections:
        (F.log_softmax(h @ prior, -1).T.unsqueeze(-1)
         + ((h.unsqueeze(0) @ projections) @ w.T).log_softmax(-1)).logsumexp(0),
    "max over k instead of logsumexp": lambda h, w, prior, projections:
        (F.log_softmax(h @ prior, -1).T.unsqueeze(-1) + _components(h, w, projections).log_softmax(-1)).amax(0),
    "cuts the gradient to the mixture weights": lambda h, w, prior, projections:
        (F.log_softmax(h @ prior.detach(), -1).T.unsqueeze(-1)
         + _components(h, w, projections).log_softmax(-1)).logsumexp(0),
}

OTHER_RIGHT_MOL = {
    "mixing log-softmaxed components, then renormalising": lambda h, w, prior, projections:
        (F.softmax(h @ prior, -1).T.unsqueeze(-1) * F.log_softmax(_components(h, w, projections), -1)).sum(0)
        .log_softmax(-1),
    "mixing the contexts, then one matmul": lambda h, w, prior, projections:
        F.log_softmax((F.softmax(h @ prior, -1).T.unsqueeze(-1) * (h.unsqueeze(0) @ projections).tanh()).sum(0)
                      @ w.T, -1),
}

WRONG_MOL = {
    "mixes probabilities (the mixture of softmaxes)": mos_log_probs,
    "no softmax after mixing": lambda h, w, prior, projections:
        (F.softmax(h @ prior, -1).T.unsqueeze(-1) * _components(h, w, projections)).sum(0),
    "softmax over the contexts": lambda h, w, prior, projections:
        (F.softmax(h @ prior, -1).T.unsqueeze(-1) * _components(h, w, projections)).sum(0).log_softmax(0),
    "mixture weights not normalised": lambda h, w, prior, projections:
        ((h @ prior).T.unsqueeze(-1) * _components(h, w, projections)).sum(0).log_softmax(-1),
    "log-weights instead of weights": lambda h, w, prior, projections:
        (F.log_softmax(h @ prior, -1).T.unsqueeze(-1) * _components(h, w, projections)).sum(0).log_softmax(-1),
    "the plain mean over k": lambda h, w, prior, projections: _components(h, w, projections).mean(0).log_softmax(-1),
    "mixed log-softmaxed components, not renormalised": lambda h, w, prior, projections:
        (F.softmax(h @ prior, -1).T.unsqueeze(-1) * F.log_softmax(_components(h, w, projections), -1)).sum(0),
}


@pytest.mark.parametrize("check,right", [
    (check_numerical_rank, numerical_rank), (check_mos_log_probs, mos_log_probs),
    (check_mol_log_probs, mol_log_probs),
    *[(check_numerical_rank, f) for f in OTHER_RIGHT_RANKS.values()],
    *[(check_mos_log_probs, f) for f in OTHER_RIGHT_MOS.values()],
    *[(check_mol_log_probs, f) for f in OTHER_RIGHT_MOL.values()],
], ids=["numerical_rank", "mos_log_probs", "mol_log_probs", *OTHER_RIGHT_RANKS, *OTHER_RIGHT_MOS, *OTHER_RIGHT_MOL])
def test_the_right_code_passes(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", [
    *[(check_numerical_rank, f) for f in WRONG_RANKS.values()],
    *[(check_mos_log_probs, f) for f in WRONG_MOS.values()],
    *[(check_mol_log_probs, f) for f in WRONG_MOL.values()],
], ids=[*WRONG_RANKS, *[f"mos: {k}" for k in WRONG_MOS], *[f"mol: {k}" for k in WRONG_MOL]])
def test_each_wrong_implementation_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)

# lesson 25: distillation_loss(student_logits, teacher_logits, T), kd_parts(p, q, target),
# shuffle_non_target(logits, y, rng)
from course.softmax import (  # noqa: E402
    check_distillation_loss,
    check_kd_parts,
    check_shuffle_non_target,
    reference_shuffle_non_target,
)


def distillation_loss(student_logits, teacher_logits, T=4.0):
    soft_targets = F.softmax(teacher_logits / T, -1)
    return -(soft_targets * F.log_softmax(student_logits / T, -1)).sum(-1).mean() * T * T


WRONG_KD_LOSSES = {
    "no T² factor": lambda s, t, T=4.0: -(F.softmax(t / T, -1) * F.log_softmax(s / T, -1)).sum(-1).mean(),
    "T instead of T²": lambda s, t, T=4.0: -(F.softmax(t / T, -1) * F.log_softmax(s / T, -1)).sum(-1).mean() * T,
    "the student not softened": lambda s, t, T=4.0:
        -(F.softmax(t / T, -1) * F.log_softmax(s, -1)).sum(-1).mean() * T * T,
    "the teacher not softened": lambda s, t, T=4.0:
        -(F.softmax(t, -1) * F.log_softmax(s / T, -1)).sum(-1).mean() * T * T,
    "teacher and student swapped": lambda s, t, T=4.0:
        -(F.softmax(s / T, -1) * F.log_softmax(t / T, -1)).sum(-1).mean() * T * T,
    "the temperature fixed at 4": lambda s, t, T=4.0:
        -(F.softmax(t / 4, -1) * F.log_softmax(s / 4, -1)).sum(-1).mean() * 16,
    "mean over the classes too": lambda s, t, T=4.0: -(F.softmax(t / T, -1) * F.log_softmax(s / T, -1)).mean() * T * T,
    "summed over the batch": lambda s, t, T=4.0: -(F.softmax(t / T, -1) * F.log_softmax(s / T, -1)).sum() * T * T,
    "softmax over the batch axis": lambda s, t, T=4.0:
        -(F.softmax(t / T, 0) * F.log_softmax(s / T, 0)).sum(-1).mean() * T * T,
    "mean over the first axis only (stacked networks)": lambda s, t, T=4.0:
        -(F.softmax(t / T, -1) * F.log_softmax(s / T, -1)).sum(-1).mean(0).mean() * T * T
        if s.ndim == 2 else -(F.softmax(t / T, -1) * F.log_softmax(s / T, -1)).sum(-1).mean(0).sum() * T * T,
    "KL divergence (no teacher entropy)": lambda s, t, T=4.0:
        (F.softmax(t / T, -1) * (F.log_softmax(t / T, -1) - F.log_softmax(s / T, -1))).sum(-1).mean() * T * T,
    "the student's gradient cut": lambda s, t, T=4.0:
        -(F.softmax(t / T, -1) * F.log_softmax(s.detach() / T, -1)).sum(-1).mean() * T * T,
}

OTHER_RIGHT_KD_LOSSES = {
    "cross_entropy with probability targets, flattened": lambda s, t, T=4.0:
        F.cross_entropy((s / T).reshape(-1, s.shape[-1]), F.softmax(t / T, -1).reshape(-1, s.shape[-1])) * T ** 2,
}


def kd_parts(p, q, target):
    p_y, q_y = p.masked_fill(~target, 0).sum(-1), q.masked_fill(~target, 0).sum(-1)
    binary = p_y * (p_y / q_y).log() + (1 - p_y) * ((1 - p_y) / (1 - q_y)).log()
    p_hat = p.masked_fill(target, 0) / (1 - p_y).unsqueeze(-1)
    q_hat = q.masked_fill(target, 1) / (1 - q_y).unsqueeze(-1)
    log_ratio = (p_hat.masked_fill(target, 1) / q_hat).log().masked_fill(target, 0)
    return binary, (p_hat * log_ratio).sum(-1), 1 - p_y


def _kd_pieces(p, q, target):
    """p_y, q_y (B,), p̂, q̂ (B, K) with 0 at the target."""
    p_y, q_y = p[target], q[target]
    return (p_y, q_y, p.masked_fill(target, 0) / (1 - p_y).reshape(-1, 1),
            q.masked_fill(target, 0) / (1 - q_y).reshape(-1, 1))


def _binary(p_y, q_y):
    return p_y * (p_y / q_y).log() + (1 - p_y) * ((1 - p_y) / (1 - q_y)).log()


def _natural(p, q, target):
    """The formula as written: 0 · log(0 / 0) = nan at the target."""
    p_y, q_y, p_hat, q_hat = _kd_pieces(p, q, target)
    return _binary(p_y, q_y), (p_hat * (p_hat / q_hat).log()).sum(-1), 1 - p_y


def _where_masked(p, q, target):
    """The value is right, but where() still sends the nan of the masked branch into the gradient."""
    p_y, q_y, p_hat, q_hat = _kd_pieces(p, q, target)
    return _binary(p_y, q_y), ml.where(target, 0.0, p_hat * (p_hat / q_hat).log()).sum(-1), 1 - p_y


def _clamped(p, q, target):
    p_y, q_y, p_hat, q_hat = _kd_pieces(p, q, target)
    return _binary(p_y, q_y), (p_hat * (p_hat.clamp(min=1e-12) / q_hat.clamp(min=1e-12)).log()).sum(-1), 1 - p_y


def _with(p, q, target, binary=None, non_target=None, weight=None):
    right = kd_parts(p, q, target)
    return (binary if binary is not None else right[0], non_target if non_target is not None else right[1],
            weight if weight is not None else right[2])


OTHER_RIGHT_KD_PARTS = {"boolean indexing, clamped logs (0 · log 0 = 0)": _clamped}

WRONG_KD_PARTS = {
    "the natural formula: 0 · log(0 / 0) = nan at the target": _natural,
    "where() around the natural formula: nan in the gradient": _where_masked,
    "weight p_y instead of 1 - p_y": lambda p, q, t: _with(p, q, t, weight=1 - kd_parts(p, q, t)[2]),
    "p̂ not renormalised": lambda p, q, t: _with(
        p, q, t, non_target=(p.masked_fill(t, 0) * (p.masked_fill(t, 1) / q.masked_fill(t, 1)).log()).sum(-1)),
    "q̂ renormalised by 1 - p_y": lambda p, q, t: _with(p, q, t, non_target=_clamped(
        p, q.masked_fill(t, 0) + p.masked_fill(~t, 0), t)[1]),
    "the reversed KL, q̂ from p̂": lambda p, q, t: _with(p, q, t, non_target=_clamped(q, p, t)[1]),
    "the binary KL without its second term": lambda p, q, t: _with(
        p, q, t, binary=(lambda py, qy: py * (py / qy).log())(p[t], q[t])),
    "the non-target part already weighted by 1 - p_y": lambda p, q, t: _with(
        p, q, t, non_target=kd_parts(p, q, t)[1] * kd_parts(p, q, t)[2]),
    "the whole KL as the binary part": lambda p, q, t: _with(
        p, q, t, binary=(p * (p / q).log()).sum(-1), non_target=ml.zeros(p.shape[0])),
}


def shuffle_non_target(logits, y, rng):
    out, labels = np.asarray(logits).copy(), np.asarray(y)
    for i, label in enumerate(labels):
        others = np.flatnonzero(np.arange(out.shape[1]) != label)
        out[i, others] = out[i, rng.permutation(others)]
    return ml.tensor(out)


def _shuffle_with(order_of):
    """Each row i gets the order order_of(i, others, rng) of its non-target classes."""
    def shuffle(logits, y, rng):
        out, labels = np.asarray(logits).copy(), np.asarray(y)
        for i, label in enumerate(labels):
            others = np.flatnonzero(np.arange(out.shape[1]) != label)
            out[i, others] = out[i, order_of(i, others, rng)]
        return ml.tensor(out)
    return shuffle


def _one_order_for_all(logits, y, rng):
    out, labels = np.asarray(logits).copy(), np.asarray(y)
    keys = rng.random(out.shape[1])
    for i, label in enumerate(labels):
        others = np.flatnonzero(np.arange(out.shape[1]) != label)
        out[i, others] = out[i, others[np.argsort(keys[others])]]
    return ml.tensor(out)


def _in_place(logits, y, rng):
    out, labels = np.asarray(logits), np.asarray(y)  # no copy: shares the tensor's memory
    for i, label in enumerate(labels):
        others = np.flatnonzero(np.arange(out.shape[1]) != label)
        out[i, others] = out[i, rng.permutation(others)]
    return ml.tensor(out.copy())


OTHER_RIGHT_SHUFFLES = {
    "vectorised, argsort of random keys": reference_shuffle_non_target,
}

WRONG_SHUFFLES = {
    "shuffles the target too": lambda logits, y, rng: ml.tensor(rng.permuted(np.asarray(logits).copy(), axis=1)),
    "one order for every row": _one_order_for_all,
    "shuffles each class across the rows": lambda logits, y, rng: ml.tensor(np.where(
        np.arange(10) == np.asarray(y)[:, None], np.asarray(logits), rng.permuted(np.asarray(logits).copy(), axis=0))),
    "a random roll of the others (never in place)":
        _shuffle_with(lambda i, others, rng: np.roll(others, rng.integers(1, 9))),
    "numpy's global generator, not the one given": _shuffle_with(lambda i, others, rng: np.random.permutation(others)),
    "unchanged": lambda logits, y, rng: ml.tensor(np.asarray(logits).copy()),
    "shuffles the input tensor in place": _in_place,
    "returns a numpy array": lambda logits, y, rng: np.asarray(shuffle_non_target(logits, y, rng)),
}


def _binary_reversed(p, q, target):
    p_y, q_y, _, _ = _kd_pieces(p, q, target)
    return _with(p, q, target, binary=_binary(q_y, p_y))


def _rows_shuffled(order):
    """Each row i of a copy gets order(row, others, label, rng) applied in place."""
    def shuffle(logits, y, rng):
        out, labels = np.asarray(logits).copy(), np.asarray(y)
        for i, label in enumerate(labels):
            order(out[i], np.flatnonzero(np.arange(out.shape[1]) != label), label, rng)
        return ml.tensor(out)
    return shuffle


def _swap_target_back(row, others, label, rng):
    perm = rng.permutation(len(row))
    new = row[perm]
    landed = int(np.flatnonzero(perm == label)[0])
    new[[landed, label]] = new[[label, landed]]
    row[:] = new


def _derangement(row, others, label, rng):
    order = rng.permutation(len(others))
    while (order == np.arange(len(others))).any():
        order = rng.permutation(len(others))
    row[others] = row[others[order]]


def _fancy_copy_shuffled(row, others, label, rng):
    rng.shuffle(row[others])  # row[others] is a copy: nothing moves


def _permutation_of_nine(row, others, label, rng):
    row[others] = row[rng.permutation(len(others))]  # indices 0..8: the target's logit is copied, the last lost


OTHER_RIGHT_KD_PARTS["a small epsilon inside the logs"] = lambda p, q, t: _with(p, q, t, non_target=(
    (lambda ph, qh: (ph * ((ph + 1e-12).log() - (qh + 1e-12).log())).sum(-1))(*_kd_pieces(p, q, t)[2:])))
def _permuted_values(row, others, label, rng):
    row[others] = rng.permutation(row[others])


OTHER_RIGHT_SHUFFLES.update({"shuffle all ten, then swap the target back": _rows_shuffled(_swap_target_back),
                             "rng.permutation of the values": _rows_shuffled(_permuted_values)})
WRONG_KD_LOSSES["cross_entropy on stacked logits, not flattened (axis 1 taken as classes)"] = (
    lambda s, t, T=4.0: F.cross_entropy(s / T, F.softmax(t / T, -1)) * T * T)
WRONG_KD_PARTS.update({"the binary KL reversed, b^q from b^p": _binary_reversed,
                       "weight 1 - q_y (the student's)": lambda p, q, t: _with(
                           p, q, t, weight=1 - _kd_pieces(p, q, t)[1])})
WRONG_SHUFFLES.update({"rng.shuffle on a fancy-indexed copy (nothing moves)": _rows_shuffled(_fancy_copy_shuffled),
                       "permutation(9) used as indices (target included)": _rows_shuffled(_permutation_of_nine),
                       "a derangement: no logit ever stays in place": _rows_shuffled(_derangement)})


@pytest.mark.parametrize("check,right", [
    (check_distillation_loss, distillation_loss), (check_kd_parts, kd_parts),
    (check_shuffle_non_target, shuffle_non_target),
    *[(check_distillation_loss, f) for f in OTHER_RIGHT_KD_LOSSES.values()],
    *[(check_kd_parts, f) for f in OTHER_RIGHT_KD_PARTS.values()],
    *[(check_shuffle_non_target, f) for f in OTHER_RIGHT_SHUFFLES.values()],
], ids=["distillation_loss", "kd_parts", "shuffle_non_target", *OTHER_RIGHT_KD_LOSSES, *OTHER_RIGHT_KD_PARTS,
        *OTHER_RIGHT_SHUFFLES])
def test_the_right_lesson_25_code_passes(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("check,wrong", [
    *[(check_distillation_loss, f) for f in WRONG_KD_LOSSES.values()],
    *[(check_kd_parts, f) for f in WRONG_KD_PARTS.values()],
    *[(check_shuffle_non_target, f) for f in WRONG_SHUFFLES.values()],
], ids=[*[f"kd loss: {k}" for k in WRONG_KD_LOSSES], *[f"kd_parts: {k}" for k in WRONG_KD_PARTS],
        *[f"shuffle: {k}" for k in WRONG_SHUFFLES]])
def test_each_wrong_lesson_25_implementation_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)
