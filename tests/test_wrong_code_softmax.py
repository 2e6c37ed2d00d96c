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


# lesson 22: gumbel_noise(u), gumbel_max(logits, noise), gumbel_softmax(logits, noise, tau, hard),
# score_function_loss(logits, sample, error, baseline)
from course.softmax import (  # noqa: E402
    check_gumbel_max,
    check_gumbel_noise,
    check_gumbel_softmax,
    check_score_function_loss,
)


def gumbel_noise(u):
    u = u.clamp(1e-10, 1 - 1e-7)
    return -(-u.log()).log()


def gumbel_max(logits, noise):
    return (logits + noise).argmax(-1)


def gumbel_softmax(logits, noise, tau=1.0, hard=False):
    y = ((logits + noise) / tau).softmax(-1)
    if not hard:
        return y
    one_hot = (y == y.amax(-1, keepdim=True)).float()
    return one_hot - y.detach() + y


def score_function_loss(logits, sample, error, baseline):
    log_p = logits.log_softmax(-1).gather(-1, sample.unsqueeze(-1)).squeeze(-1).sum(-1)
    return (error - baseline).detach() * log_p


OTHER_RIGHT_GUMBEL_NOISE = {
    "clamp with min/max keywords, log of -log": lambda u: -(-(u.clamp(min=1e-20, max=1 - 1e-7)).log()).log(),
    "an epsilon added inside both logs": lambda u: -(-(u + 1e-10).log() + 1e-10).log(),
}

WRONG_GUMBEL_NOISE = {
    "no clamp: infinite at u = 0": lambda u: -(-u.log()).log(),
    "log(-log u): the sign of a Gumbel flipped": lambda u: (-u.clamp(1e-10, 1 - 1e-7).log()).log(),
    "-log u: exponential noise": lambda u: -u.clamp(1e-10, 1 - 1e-7).log(),
    "normal noise, not Gumbel": lambda u: ml.randn(*u.shape, generator=ml.Generator().manual_seed(0)),
    "the uniforms themselves": lambda u: u,
    "clamped into [0, 1], which still holds 0": lambda u: -(-u.clamp(0.0, 1.0).log()).log(),
}

WRONG_GUMBEL_MAX = {
    "noise subtracted": lambda logits, noise: (logits - noise).argmax(-1),
    "ignores the noise (always the mode)": lambda logits, noise: logits.argmax(-1),
    "argmax over the first axis": lambda logits, noise: (logits + noise).argmax(0),
    "noise multiplied": lambda logits, noise: (logits * noise).argmax(-1),
    "softmax probabilities plus noise": lambda logits, noise: (logits.softmax(-1) + noise).argmax(-1),
    "argmin": lambda logits, noise: (logits + noise).argmin(-1),
    "half the noise": lambda logits, noise: (logits + 0.5 * noise).argmax(-1),
}


def _soft(logits, noise, tau):
    return ((logits + noise) / tau).softmax(-1)


OTHER_RIGHT_GUMBEL_SOFTMAX = {
    "F.softmax and F.one_hot": lambda logits, noise, tau=1.0, hard=False: (
        _soft(logits, noise, tau) if not hard else
        F.one_hot(_soft(logits, noise, tau).argmax(-1), logits.shape[-1]).float()
        + _soft(logits, noise, tau) - _soft(logits, noise, tau).detach()),
}

WRONG_GUMBEL_SOFTMAX = {
    "temperature multiplies": lambda logits, noise, tau=1.0, hard=False: gumbel_softmax(logits, noise, 1 / tau, hard),
    "softmax over the rows": lambda logits, noise, tau=1.0, hard=False: ((logits + noise) / tau).softmax(0),
    "noise not added": lambda logits, noise, tau=1.0, hard=False: gumbel_softmax(logits, 0 * noise, tau, hard),
    "hard without straight-through (no gradient)": lambda logits, noise, tau=1.0, hard=False: (
        _soft(logits, noise, tau) if not hard else
        (_soft(logits, noise, tau) == _soft(logits, noise, tau).amax(-1, keepdim=True)).float()),
    "hard returns the soft sample": lambda logits, noise, tau=1.0, hard=False: _soft(logits, noise, tau),
    "straight-through with softmax(logits)'s gradient (no noise, no τ)": lambda logits, noise, tau=1.0, hard=False: (
        _soft(logits, noise, tau) if not hard else
        F.one_hot(_soft(logits, noise, tau).argmax(-1), logits.shape[-1]).float()
        + logits.softmax(-1) - logits.softmax(-1).detach()),
    "detach on the wrong term (gradient of nothing)": lambda logits, noise, tau=1.0, hard=False: (
        _soft(logits, noise, tau) if not hard else
        F.one_hot(_soft(logits, noise, tau).argmax(-1), logits.shape[-1]).float()
        - _soft(logits, noise, tau) + _soft(logits, noise, tau).detach()),
    "hard picks the mode of the logits, not the sample": lambda logits, noise, tau=1.0, hard=False: (
        _soft(logits, noise, tau) if not hard else
        F.one_hot(logits.argmax(-1), logits.shape[-1]).float() + _soft(logits, noise, tau)
        - _soft(logits, noise, tau).detach()),
    "temperature divides the logits only, not the noise": lambda logits, noise, tau=1.0, hard=False: (
        (logits / tau + noise).softmax(-1) if not hard else gumbel_softmax(logits / tau + noise, 0 * noise, 1.0, True)),
    "hard ignores τ (straight-through with the τ = 1 gradient)": lambda logits, noise, tau=1.0, hard=False: (
        _soft(logits, noise, tau) if not hard else gumbel_softmax(logits, noise, 1.0, True)),
    "straight-through with the log-softmax's gradient": lambda logits, noise, tau=1.0, hard=False: (
        _soft(logits, noise, tau) if not hard else
        F.one_hot(_soft(logits, noise, tau).argmax(-1), logits.shape[-1]).float()
        + ((logits + noise) / tau).log_softmax(-1) - ((logits + noise) / tau).log_softmax(-1).detach()),
}


def _log_p(logits, sample):
    return logits.log_softmax(-1).gather(-1, sample.unsqueeze(-1)).squeeze(-1)


OTHER_RIGHT_SCORE = {
    "one-hot mask instead of gather": lambda logits, sample, error, baseline:
        (error - baseline).detach()
        * (F.one_hot(sample, logits.shape[-1]).float() * logits.log_softmax(-1)).sum((-2, -1)),
    "log of softmax (small logits)": lambda logits, sample, error, baseline:
        (error.detach() - baseline) * logits.softmax(-1).gather(-1, sample.unsqueeze(-1)).squeeze(-1).log().sum(-1),
}

WRONG_SCORE = {
    "sign flipped": lambda logits, sample, error, baseline: -score_function_loss(logits, sample, error, baseline),
    "no baseline": lambda logits, sample, error, baseline: error.detach() * _log_p(logits, sample).sum(-1),
    "the error not held constant": lambda logits, sample, error, baseline:
        (error - baseline) * _log_p(logits, sample).sum(-1),
    "probability instead of log-probability": lambda logits, sample, error, baseline:
        (error - baseline).detach() * logits.softmax(-1).gather(-1, sample.unsqueeze(-1)).squeeze(-1).sum(-1),
    "mean over the latents instead of the joint log-probability": lambda logits, sample, error, baseline:
        (error - baseline).detach() * _log_p(logits, sample).mean(-1),
    "log-probability of the mode, not the sample": lambda logits, sample, error, baseline:
        (error - baseline).detach() * _log_p(logits, logits.argmax(-1)).sum(-1),
    "raw logit instead of log-probability": lambda logits, sample, error, baseline:
        (error - baseline).detach() * logits.gather(-1, sample.unsqueeze(-1)).squeeze(-1).sum(-1),
    "baseline added": lambda logits, sample, error, baseline:
        (error + baseline).detach() * _log_p(logits, sample).sum(-1),
    "log-softmax over the latents, not the categories": lambda logits, sample, error, baseline:
        (error - baseline).detach() * logits.log_softmax(-2).gather(-1, sample.unsqueeze(-1)).squeeze(-1).sum(-1),
}


@pytest.mark.parametrize("check,right", [
    (check_gumbel_noise, gumbel_noise), (check_gumbel_softmax, gumbel_softmax),
    (check_score_function_loss, score_function_loss),
    *[(check_gumbel_noise, f) for f in OTHER_RIGHT_GUMBEL_NOISE.values()],
    *[(check_gumbel_softmax, f) for f in OTHER_RIGHT_GUMBEL_SOFTMAX.values()],
    *[(check_score_function_loss, f) for f in OTHER_RIGHT_SCORE.values()],
], ids=["gumbel_noise", "gumbel_softmax", "score_function_loss", *OTHER_RIGHT_GUMBEL_NOISE,
        *OTHER_RIGHT_GUMBEL_SOFTMAX, *OTHER_RIGHT_SCORE])
def test_lesson_22_right_code_passes(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


def test_lesson_22_right_gumbel_max_passes(capsys):
    check_gumbel_max(gumbel_max, gumbel_noise)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", [
    *[(check_gumbel_noise, f) for f in WRONG_GUMBEL_NOISE.values()],
    *[(check_gumbel_softmax, f) for f in WRONG_GUMBEL_SOFTMAX.values()],
    *[(check_score_function_loss, f) for f in WRONG_SCORE.values()],
], ids=[*[f"gumbel_noise: {k}" for k in WRONG_GUMBEL_NOISE], *[f"gumbel_softmax: {k}" for k in WRONG_GUMBEL_SOFTMAX],
        *[f"score_function_loss: {k}" for k in WRONG_SCORE]])
def test_lesson_22_each_wrong_implementation_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)


@pytest.mark.parametrize("wrong", WRONG_GUMBEL_MAX.values(), ids=WRONG_GUMBEL_MAX)
def test_lesson_22_each_wrong_gumbel_max_is_rejected(wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check_gumbel_max(wrong, gumbel_noise)


def test_lesson_22_gumbel_max_rejects_wrong_noise():
    """The chi-squared test has power: exponential or normal noise in place of Gumbel noise fails it."""
    for noise in (WRONG_GUMBEL_NOISE["-log u: exponential noise"], WRONG_GUMBEL_NOISE["normal noise, not Gumbel"]):
        with pytest.raises(CheckFailed, match="✗"):
            check_gumbel_max(gumbel_max, noise)
