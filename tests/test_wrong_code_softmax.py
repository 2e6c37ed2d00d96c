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

# lesson 28: stablemax(x), stablemax_cross_entropy(logits, y), collapsed_fraction(logits, y)
from course.softmax import check_collapsed_fraction, check_stablemax, check_stablemax_cross_entropy  # noqa: E402


def _s(x):
    return x.relu() + 1 / (1 + (-x).relu())


def stablemax(x):
    s = _s(x)
    return s / s.sum(-1, keepdim=True)


def stablemax_cross_entropy(logits, y):
    return -stablemax(logits).gather(-1, y.unsqueeze(-1)).log().squeeze(-1)


def collapsed_fraction(logits, y):
    losses = -F.log_softmax(logits.float(), -1).gather(-1, y.unsqueeze(-1)).squeeze(-1)
    return (losses == 0).float().mean(-1)


def _normalise(s, dim=-1):
    return s / s.sum(dim, keepdim=True)


OTHER_RIGHT_STABLEMAX = {
    "where with a clamp": lambda x: _normalise(ml.where(x >= 0, x + 1, 1 / (1 - x.clamp(max=0)))),
    "max and min instead of relu": lambda x: _normalise(x.clamp(min=0) + 1 / (1 - x.clamp(max=0))),
}

WRONG_STABLEMAX = {
    "softmax": lambda x: F.softmax(x, -1),
    "x + 1 on both sides (negative 'probabilities')": lambda x: _normalise(x + 1),
    "1 / (1 + x) below zero (the sign)": lambda x: _normalise(ml.where(x >= 0, x + 1, 1 / (1 + x.clamp(max=0)))),
    "x, not x + 1, above zero": lambda x: _normalise(ml.where(x >= 0, x, 1 / (1 - x.clamp(max=0)))),
    "relu(x) + 1: flat below zero": lambda x: _normalise(x.relu() + 1),
    "|x| + 1: symmetric": lambda x: _normalise(x.abs() + 1),
    "normalised over the first dim": lambda x: _normalise(_s(x), 0),
    "not normalised": _s,
    "no clamp: 1 / (1 - x) sees x = 1 in the branch not picked (nan gradient)":
        lambda x: _normalise(ml.where(x >= 0, x + 1, 1 / (1 - x))),
    "exp below zero": lambda x: _normalise(ml.where(x >= 0, x + 1, x.clamp(max=0).exp())),
    "softmax of s": lambda x: F.softmax(_s(x), -1),
}

OTHER_RIGHT_STABLEMAX_CE = {
    "softmax cross-entropy of the log-probabilities": lambda z, y: _ce(stablemax(z).log(), y),
    "log of s minus log of the sum": lambda z, y:
        (_s(z).sum(-1).log() - _s(z).log().gather(-1, y.unsqueeze(-1)).squeeze(-1)),
}

WRONG_STABLEMAX_CE = {
    "the batch mean, not one loss per example": lambda z, y: stablemax_cross_entropy(z, y).mean(),
    "softmax cross-entropy": lambda z, y: -F.log_softmax(z, -1).gather(-1, y.unsqueeze(-1)).squeeze(-1),
    "no minus sign": lambda z, y: stablemax(z).gather(-1, y.unsqueeze(-1)).log().squeeze(-1),
    "log of s, not normalised": lambda z, y: -_s(z).gather(-1, y.unsqueeze(-1)).log().squeeze(-1),
    "1 - p instead of -log p": lambda z, y: 1 - stablemax(z).gather(-1, y.unsqueeze(-1)).squeeze(-1),
    "the label indexes the wrong dim": lambda z, y: -stablemax(z).gather(0, y.unsqueeze(-1).clamp(max=z.shape[0] - 1))
        .log().squeeze(-1),
    "softmax cross-entropy of the StableMax probabilities": lambda z, y: _ce(stablemax(z), y),
    "log of StableMax of the log-probabilities": lambda z, y:
        -stablemax(F.log_softmax(z, -1)).gather(-1, y.unsqueeze(-1)).log().squeeze(-1),
}

OTHER_RIGHT_COLLAPSED = {
    "the label's float32 softmax probability is exactly 1": lambda z, y:
        (F.softmax(z.float(), -1).gather(-1, y.unsqueeze(-1)).squeeze(-1) == 1.0).float().mean(-1),
}


def _ce(z, y):
    return -F.log_softmax(z, -1).gather(-1, y.unsqueeze(-1)).squeeze(-1)


WRONG_COLLAPSED = {
    "measured in the logits' dtype (float64 collapses later)": lambda z, y: (_ce(z, y) == 0).float().mean(-1),
    "small rather than exactly zero (< 1e-6)": lambda z, y: (_ce(z.float(), y) < 1e-6).float().mean(-1),
    "no shift by the max (exp overflows)": lambda z, y:
        ((z.float().exp().sum(-1).log() - z.float().gather(-1, y.unsqueeze(-1)).squeeze(-1)) == 0).float().mean(-1),
    "training accuracy instead": lambda z, y: (z.argmax(-1) == y).float().mean(-1),
    "averaged over the wrong dim": lambda z, y: (_ce(z.float(), y) == 0).float().mean(0),
    "one fraction over everything": lambda z, y: (_ce(z.float(), y) == 0).float().mean(),
    "any class's float32 probability exactly 1, not the label's": lambda z, y:
        (F.softmax(z.float(), -1).max(-1)[0] == 1.0).float().mean(-1),
    "the probability computed in float64": lambda z, y:
        (F.softmax(z.double(), -1).gather(-1, y.unsqueeze(-1)).squeeze(-1) == 1.0).float().mean(-1),
}


@pytest.mark.parametrize("check,right", [
    (check_stablemax, stablemax), (check_stablemax_cross_entropy, stablemax_cross_entropy),
    (check_collapsed_fraction, collapsed_fraction),
    *[(check_stablemax, f) for f in OTHER_RIGHT_STABLEMAX.values()],
    *[(check_stablemax_cross_entropy, f) for f in OTHER_RIGHT_STABLEMAX_CE.values()],
    *[(check_collapsed_fraction, f) for f in OTHER_RIGHT_COLLAPSED.values()],
], ids=["stablemax", "stablemax_cross_entropy", "collapsed_fraction", *OTHER_RIGHT_STABLEMAX,
        *OTHER_RIGHT_STABLEMAX_CE, *OTHER_RIGHT_COLLAPSED])
def test_lesson_28_right_code_passes(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", [
    *[(check_stablemax, f) for f in WRONG_STABLEMAX.values()],
    *[(check_stablemax_cross_entropy, f) for f in WRONG_STABLEMAX_CE.values()],
    *[(check_collapsed_fraction, f) for f in WRONG_COLLAPSED.values()],
], ids=[*[f"stablemax: {k}" for k in WRONG_STABLEMAX], *[f"stablemax_ce: {k}" for k in WRONG_STABLEMAX_CE],
        *[f"collapsed: {k}" for k in WRONG_COLLAPSED]])
def test_lesson_28_wrong_implementation_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)
