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

# lesson 26: z_loss(logits, y, a, b), softpick(x)

from course.softmax import check_softpick, check_z_loss  # noqa: E402


def z_loss(logits, y, a=1.0, b=3.0):
    mu = logits.mean(-1, keepdim=True)
    sigma = ((logits - mu) ** 2).mean(-1, keepdim=True).sqrt()
    z_y = ((logits - mu) / sigma).gather(-1, y.reshape(-1, 1))
    return ((a * (b - z_y)).exp().log1p() / a).mean()


def _z(logits, dim=-1, unbiased=False):
    mu = logits.mean(dim, keepdim=True)
    return (logits - mu) / logits.std(dim, keepdim=True, unbiased=unbiased)


def _pick(z, y):
    return z.gather(-1, y.reshape(-1, 1))


OTHER_RIGHT_Z = {
    "std(unbiased=False) and F.softplus": lambda o, y, a=1.0, b=3.0:
        (F.softplus(a * (b - _pick(_z(o), y))) / a).mean(),
    "one-hot mask instead of gather": lambda o, y, a=1.0, b=3.0:
        (F.softplus(a * (b - (_z(o) * F.one_hot(y, o.shape[-1]).float()).sum(-1))) / a).mean(),
}

WRONG_Z = {
    "unbiased standard deviation": lambda o, y, a=1.0, b=3.0:
        (F.softplus(a * (b - _pick(_z(o, unbiased=True), y))) / a).mean(),
    "standardised over the batch, not the classes": lambda o, y, a=1.0, b=3.0:
        (F.softplus(a * (b - _pick(_z(o, dim=0), y))) / a).mean(),
    "centred but not scaled": lambda o, y, a=1.0, b=3.0:
        (F.softplus(a * (b - _pick(o - o.mean(-1, keepdim=True), y))) / a).mean(),
    "raw logits": lambda o, y, a=1.0, b=3.0: (F.softplus(a * (b - _pick(o, y))) / a).mean(),
    "sign flipped (z - b)": lambda o, y, a=1.0, b=3.0: (F.softplus(a * (_pick(_z(o), y) - b)) / a).mean(),
    "forgets to divide by a": lambda o, y, a=1.0, b=3.0: F.softplus(a * (b - _pick(_z(o), y))).mean(),
    "a outside the softplus only": lambda o, y, a=1.0, b=3.0: (F.softplus(b - _pick(_z(o), y)) / a).mean(),
    "sum over the batch": lambda o, y, a=1.0, b=3.0: (F.softplus(a * (b - _pick(_z(o), y))) / a).sum(),
    "standard deviation with a detached gradient": lambda o, y, a=1.0, b=3.0:
        (F.softplus(a * (b - _pick((o - o.mean(-1, keepdim=True)) / o.std(-1, keepdim=True, unbiased=False).detach(),
                                   y))) / a).mean(),
}


def softpick(x, eps=1e-6):
    m = x.amax(-1, keepdim=True).clamp(min=0)
    shifted = (x - m).exp() - (-m).exp()
    return shifted.relu() / (shifted.abs().sum(-1, keepdim=True) + eps * (-m).exp())


def _softpick_unshifted(x, eps=1e-6):
    e = x.exp() - 1
    return e.relu() / (e.abs().sum(-1, keepdim=True) + eps)


OTHER_RIGHT_SOFTPICK = {
    "where instead of relu, minilib functions": lambda x, eps=1e-6: (lambda m: (lambda s: ml.where(
        s > 0, s, ml.zeros_like(s)) / (s.abs().sum(-1, keepdim=True) + eps * (-m).exp()))(
        (x - m).exp() - (-m).exp()))(x.amax(-1, keepdim=True).clamp(min=0)),
}

WRONG_SOFTPICK = {
    "no shift (overflows at 1000)": _softpick_unshifted,
    "one max over the whole tensor, not per row": lambda x, eps=1e-6: (lambda m: (lambda s: s.relu() / (
        s.abs().sum(-1, keepdim=True) + eps * (-m).exp()))((x - m).exp() - (-m).exp()))(x.amax().clamp(min=0)),
    "relu in the denominator too": lambda x, eps=1e-6: (lambda m: (lambda s: s.relu() / (
        s.relu().sum(-1, keepdim=True) + eps * (-m).exp()))((x - m).exp() - (-m).exp()))(
        x.amax(-1, keepdim=True).clamp(min=0)),
    "absolute value in the numerator too": lambda x, eps=1e-6: (lambda m: (lambda s: s.abs() / (
        s.abs().sum(-1, keepdim=True) + eps * (-m).exp()))((x - m).exp() - (-m).exp()))(
        x.amax(-1, keepdim=True).clamp(min=0)),
    "e^x in the numerator, without the -1 (a softmax)": lambda x, eps=1e-6: F.softmax(x, -1),
    "relu of the scores, then normalised": lambda x, eps=1e-6: x.relu() / (x.abs().sum(-1, keepdim=True) + eps),
    "normalised over the first dim": lambda x, eps=1e-6: (lambda m: (lambda s: s.relu() / (
        s.abs().sum(0, keepdim=True) + eps * (-m).exp()))((x - m).exp() - (-m).exp()))(
        x.amax(0, keepdim=True).clamp(min=0)),
    "denominator detached": lambda x, eps=1e-6: (lambda m: (lambda s: s.relu() / (
        s.abs().sum(-1, keepdim=True) + eps * (-m).exp()).detach())((x - m).exp() - (-m).exp()))(
        x.amax(-1, keepdim=True).clamp(min=0)),
    "shift by the row's max without clamping it at 0 (NaN gradients on all-negative rows)":
        lambda x, eps=1e-6: (lambda m: (lambda s: s.relu() / (s.abs().sum(-1, keepdim=True) + eps * (-m).exp()))(
            (x - m).exp() - (-m).exp()))(x.amax(-1, keepdim=True)),
    "signed sum in the denominator (no absolute value)": lambda x, eps=1e-6: (lambda m: (lambda s: s.relu() / (
        s.sum(-1, keepdim=True) + eps * (-m).exp()))((x - m).exp() - (-m).exp()))(
        x.amax(-1, keepdim=True).clamp(min=0)),
    "softmax with the weights of scores <= 0 zeroed": lambda x, eps=1e-6: F.softmax(x, -1) * (x > 0).float(),
}

WRONG_Z.update({
    "true class not picked: mean over every class": lambda o, y, a=1.0, b=3.0:
        (F.softplus(a * (b - _z(o))) / a).mean(),
    "a multiplies b only": lambda o, y, a=1.0, b=3.0: (F.softplus(a * b - _pick(_z(o), y)) / a).mean(),
})


@pytest.mark.parametrize("check,right", [
    (check_z_loss, z_loss), (check_softpick, softpick),
    *[(check_z_loss, f) for f in OTHER_RIGHT_Z.values()],
    *[(check_softpick, f) for f in OTHER_RIGHT_SOFTPICK.values()],
], ids=["z_loss", "softpick", *OTHER_RIGHT_Z, *OTHER_RIGHT_SOFTPICK])
def test_lesson_26_right_code_passes(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", [
    *[(check_z_loss, f) for f in WRONG_Z.values()],
    *[(check_softpick, f) for f in WRONG_SOFTPICK.values()],
], ids=[*[f"z_loss: {k}" for k in WRONG_Z], *[f"softpick: {k}" for k in WRONG_SOFTPICK]])
def test_lesson_26_wrong_implementation_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)
