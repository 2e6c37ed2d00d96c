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

# lesson 24: smoothed_targets, smoothed_cross_entropy, expected_calibration_error, fit_temperature

from course.softmax import (  # noqa: E402
    check_expected_calibration_error,
    check_fit_temperature,
    check_smoothed_cross_entropy,
    check_smoothed_targets,
)


def _smoothed_targets(y, classes, eps):
    return F.one_hot(y, classes).float() * (1 - eps) + eps / classes


def _smoothed_cross_entropy(logits, y, eps):
    return -(_smoothed_targets(y, logits.shape[-1], eps) * F.log_softmax(logits, -1)).sum(-1).mean()


def _ece(probs, y, bins=15):
    confidence, correct = probs.amax(-1), (probs.argmax(-1) == y).float()
    members = F.one_hot((confidence * bins).ceil().long().clamp(1, bins) - 1, bins).float()
    return (members * (correct - confidence).reshape(-1, 1)).sum(0).abs().sum().item() / probs.shape[0]


def _ece_bin_means(probs, y, bins=15, weighted=True):
    """Per-bin accuracy and confidence; the gaps weighted by the bins' shares, or (wrongly) all alike."""
    confidence, correct = probs.amax(-1), (probs.argmax(-1) == y).float()
    members = F.one_hot((confidence * bins).ceil().long().clamp(1, bins) - 1, bins).float()
    count = members.sum(0)
    gap = ((members * (correct - confidence).reshape(-1, 1)).sum(0) / count.clamp(min=1)).abs()
    if weighted:
        return (gap * count).sum().item() / probs.shape[0]
    return (gap.sum() / (count > 0).float().sum()).item()


def _fit_temperature(logits, y, steps=300, lr=0.05, scale=lambda z, t: z / t, answer=lambda log_t: log_t.exp()):
    log_t = ml.zeros(1, requires_grad=True)
    opt = ml.optim.Adam([log_t], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(scale(logits.detach(), log_t.exp()), y).backward()
        opt.step()
    return answer(log_t).item()


def _temperature_by_grid(logits, y, grid=None, loss="nll"):
    grid = np.geomspace(0.01, 100, 4001) if grid is None else grid
    z, y = np.asarray(logits, np.float64), np.asarray(y)
    best, best_t = np.inf, None
    for t in grid:
        s = z / t
        p = np.exp(s - s.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        if loss == "nll":
            value = -np.log(np.maximum(p[np.arange(len(y)), y], 1e-300)).mean()
        else:  # the Brier score
            value = ((p - np.eye(z.shape[1])[y]) ** 2).sum(1).mean()
        if value < best:
            best, best_t = value, t
    return float(best_t)


OTHER_RIGHT_24 = {
    "smoothed_targets: one_hot mixed with a uniform distribution": (
        check_smoothed_targets, lambda y, classes, eps: (1 - eps) * F.one_hot(y, classes).float()
        + eps * ml.ones(y.shape[0], classes) / classes),
    "smoothed_cross_entropy: (1 - eps) * cross-entropy + eps * mean of -log p over the classes": (
        check_smoothed_cross_entropy, lambda z, y, eps: (1 - eps) * F.cross_entropy(z, y)
        - eps * F.log_softmax(z, -1).mean(-1).mean()),
    "expected_calibration_error: a loop over the bins with masks": (
        check_expected_calibration_error, lambda probs, y, bins=15: _ece_bin_means(probs, y, bins)),
    "fit_temperature: a fine grid in log space": (check_fit_temperature, _temperature_by_grid),
    "expected_calibration_error: bin index floor(conf * bins), the top one clamped": (
        check_expected_calibration_error, lambda probs, y, bins=15: (
            (F.one_hot((probs.amax(-1) * bins).floor().long().clamp(0, bins - 1), bins).float()
             * ((probs.argmax(-1) == y).float() - probs.amax(-1)).reshape(-1, 1)).sum(0).abs().sum().item()
            / probs.shape[0])),
    "smoothed_cross_entropy: logsumexp minus the targets' mean logit": (
        check_smoothed_cross_entropy,
        lambda z, y, eps: (z.logsumexp(-1) - (_smoothed_targets(y, z.shape[-1], eps) * z).sum(-1)).mean()),
}

WRONG_24 = {
    "smoothed_targets: eps / (K - 1) on the wrong classes, 1 - eps on the true one": (
        check_smoothed_targets, lambda y, classes, eps: F.one_hot(y, classes).float() * (1 - eps - eps / (classes - 1))
        + eps / (classes - 1)),
    "smoothed_targets: one-hot plus eps / K, not renormalised": (
        check_smoothed_targets, lambda y, classes, eps: F.one_hot(y, classes).float() + eps / classes),
    "smoothed_targets: 1 - eps on the true class, eps / K elsewhere": (
        check_smoothed_targets, lambda y, classes, eps: F.one_hot(y, classes).float() * (1 - eps - eps / classes)
        + eps / classes),
    "smoothed_targets: eps and 1 - eps swapped": (
        check_smoothed_targets, lambda y, classes, eps: F.one_hot(y, classes).float() * eps + (1 - eps) / classes),
    "smoothed_cross_entropy: summed over the batch": (
        check_smoothed_cross_entropy, lambda z, y, eps: -(_smoothed_targets(y, z.shape[-1], eps)
                                                         * F.log_softmax(z, -1)).sum()),
    "smoothed_cross_entropy: the mean over every entry (divides by K too)": (
        check_smoothed_cross_entropy, lambda z, y, eps: -(_smoothed_targets(y, z.shape[-1], eps)
                                                         * F.log_softmax(z, -1)).mean()),
    "smoothed_cross_entropy: eps ignored (plain cross-entropy)": (
        check_smoothed_cross_entropy, lambda z, y, eps: F.cross_entropy(z, y)),
    "smoothed_cross_entropy: log_softmax over the batch": (
        check_smoothed_cross_entropy, lambda z, y, eps: -(_smoothed_targets(y, z.shape[-1], eps)
                                                         * F.log_softmax(z, 0)).sum(-1).mean()),
    "smoothed_cross_entropy: the logits shrunk by 1 - eps instead": (
        check_smoothed_cross_entropy, lambda z, y, eps: F.cross_entropy(z * (1 - eps), y)),
    "expected_calibration_error: every bin weighted alike": (
        check_expected_calibration_error, lambda probs, y, bins=15: _ece_bin_means(probs, y, bins, weighted=False)),
    "expected_calibration_error: |correct - confidence| per prediction": (
        check_expected_calibration_error, lambda probs, y, bins=15:
        ((probs.argmax(-1) == y).float() - probs.amax(-1)).abs().mean().item()),
    "expected_calibration_error: |accuracy - mean confidence| over all predictions, no bins": (
        check_expected_calibration_error, lambda probs, y, bins=15:
        abs(((probs.argmax(-1) == y).float() - probs.amax(-1)).mean().item())),
    "expected_calibration_error: the true class's probability as the confidence": (
        check_expected_calibration_error, lambda probs, y, bins=15: _ece(
            F.one_hot(probs.argmax(-1), probs.shape[-1]).float() * (probs * F.one_hot(y, probs.shape[-1]).float())
            .sum(-1, keepdim=True), y, bins)),
    "expected_calibration_error: ignores bins (always 15)": (
        check_expected_calibration_error, lambda probs, y, bins=15: _ece(probs, y)),
    "expected_calibration_error: returns a tensor": (
        check_expected_calibration_error, lambda probs, y, bins=15: ml.tensor(_ece(probs, y, bins))),
    "fit_temperature: multiplies the logits by T": (
        check_fit_temperature, lambda z, y: _fit_temperature(z, y, scale=lambda z, t: z * t)),
    "fit_temperature: returns log T": (
        check_fit_temperature, lambda z, y: _fit_temperature(z, y, answer=lambda log_t: log_t)),
    "fit_temperature: too few steps to converge": (
        check_fit_temperature, lambda z, y: _fit_temperature(z, y, steps=10)),
    "fit_temperature: a grid between 0.5 and 2": (
        check_fit_temperature, lambda z, y: _temperature_by_grid(z, y, grid=np.linspace(0.5, 2, 151))),
    "fit_temperature: the Brier score instead of the likelihood": (
        check_fit_temperature, lambda z, y: _temperature_by_grid(z, y, loss="brier")),
    "fit_temperature: returns 1 / T": (check_fit_temperature, lambda z, y: 1 / _fit_temperature(z, y)),
    "smoothed_cross_entropy: the predicted distribution smoothed instead of the target": (
        check_smoothed_cross_entropy, lambda z, y, eps: -((1 - eps) * z.softmax(-1) + eps / z.shape[-1]).log()
        .gather(-1, y.reshape(-1, 1)).mean()),
    "expected_calibration_error: signed gaps (no absolute value per bin)": (
        check_expected_calibration_error, lambda probs, y, bins=15: (
            (F.one_hot((probs.amax(-1) * bins).ceil().long().clamp(1, bins) - 1, bins).float()
             * ((probs.argmax(-1) == y).float() - probs.amax(-1)).reshape(-1, 1)).sum(0).sum().item()
            / probs.shape[0])),
    "expected_calibration_error: bins [lo, hi), so confidence 1 falls in none": (
        check_expected_calibration_error, lambda probs, y, bins=15: _ece_half_open(probs, y, bins)),
}


def _ece_half_open(probs, y, bins=15):
    p, y = probs.numpy(), y.numpy()
    confidence, correct = p.max(1), p.argmax(1) == y
    edges, total = np.linspace(0, 1, bins + 1), 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (confidence >= lo) & (confidence < hi)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


def test_lesson_24_right_code_passes(capsys):
    for check, right in ((check_smoothed_targets, lambda y, classes, eps: _smoothed_targets(y, classes, eps)),
                         (check_smoothed_cross_entropy, _smoothed_cross_entropy),
                         (check_expected_calibration_error, _ece), (check_fit_temperature, _fit_temperature)):
        check(right)
        assert "✗" not in capsys.readouterr().out


@pytest.mark.parametrize("check,right", OTHER_RIGHT_24.values(), ids=list(OTHER_RIGHT_24))
def test_lesson_24_right_code_written_otherwise_passes(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", WRONG_24.values(), ids=list(WRONG_24))
def test_lesson_24_wrong_implementations_are_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)
