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


# lesson 21: top_k_logits, top_p_logits, top_nsigma_logits, sample_next
from course.softmax import (  # noqa: E402
    check_sample_next,
    check_top_k_logits,
    check_top_nsigma_logits,
    check_top_p_logits,
)

INF = float("inf")


def top_k_logits(logits, k):
    kth = logits.topk(k, dim=-1)[0][..., -1:]
    return logits.masked_fill(logits < kth, -INF)


def top_p_logits(logits, p):
    ordered = logits.sort(dim=-1, descending=True)[0]
    probs = ordered.softmax(-1)
    before = probs.cumsum(-1) - probs
    threshold = ordered.masked_fill(before >= p, INF).amin(-1, keepdim=True)
    return logits.masked_fill(logits < threshold, -INF)


def top_nsigma_logits(logits, n):
    threshold = logits.amax(-1, keepdim=True) - n * logits.std(-1, keepdim=True)
    return logits.masked_fill(logits < threshold, -INF)


OTHER_RIGHT_TOP_K = {
    "sort, then the k-th value": lambda z, k: z.masked_fill(z < z.sort(-1, descending=True)[0][..., k - 1:k],
                                                             -INF),
    "ml.where with a -inf tensor": lambda z, k: ml.where(z >= z.topk(k, -1)[0][..., -1:], z,
                                                         ml.full(z.shape, -INF)),
    "the smallest of the top-k values": lambda z, k: z.masked_fill(z < z.topk(k, -1)[0].amin(-1, keepdim=True), -INF),
}

WRONG_TOP_K = {
    "> the k-th largest (keeps k - 1)": lambda z, k: z.masked_fill(z <= z.topk(k, -1)[0][..., -1:], -INF),
    "the k-th largest over the rows (dim 0)": lambda z, k: z.masked_fill(z < z.topk(k, 0)[0][-1:], -INF),
    "removed tokens set to 0, not -inf": lambda z, k: z.masked_fill(z < z.topk(k, -1)[0][..., -1:], 0.0),
    "keeps the k smallest": lambda z, k: z.masked_fill(z > z.topk(k, -1, largest=False)[0][..., -1:], -INF),
    "k + 1 tokens (0-based k-th index)": lambda z, k: z.masked_fill(
        z < z.sort(-1, descending=True)[0][..., min(k, z.shape[-1] - 1):min(k, z.shape[-1] - 1) + 1], -INF),
    "returns the k largest values, sorted": lambda z, k: z.topk(k, -1)[0],
    "indexes the k-th value as 2-D ([:, -1:])": lambda z, k: z.masked_fill(z < z.topk(k, -1)[0][:, -1:], -INF),
}


def _nucleus(z, p, before_of):
    """Keeps sorted tokens whose `before_of(probs)` < p; a threshold logit as in the right code."""
    ordered = z.sort(dim=-1, descending=True)[0]
    probs = ordered.softmax(-1)
    threshold = ordered.masked_fill(before_of(probs) >= p, INF).amin(-1, keepdim=True)
    return z.masked_fill(z < threshold, -INF)


def _top_p_scatter(z, p):
    """The nucleus built in sorted order, then put back by sorting the sort's indices (another right way)."""
    ordered, index = z.sort(dim=-1, descending=True)
    probs = ordered.softmax(-1)
    kept_sorted = (probs.cumsum(-1) - probs) < p
    back = index.argsort(-1)
    return z.masked_fill(~kept_sorted.gather(-1, back), -INF)


OTHER_RIGHT_TOP_P = {
    "cumsum of the probabilities, token included, compared after removing it": lambda z, p: _nucleus(
        z, p, lambda q: ml.cat([ml.zeros(*q.shape[:-1], 1), q.cumsum(-1)[..., :-1]], -1)),
    "mask built in sorted order and gathered back": _top_p_scatter,
    "drops a token when the mass before it is > p (ties aside, the same)": lambda z, p: (lambda o, q: z.masked_fill(
        z < o.masked_fill(q.cumsum(-1) - q > p, INF).amin(-1, keepdim=True), -INF))(
        z.sort(-1, descending=True)[0], z.sort(-1, descending=True)[0].softmax(-1)),
}

WRONG_TOP_P = {
    "mass including the token < p (drops the token that crosses p)": lambda z, p: _nucleus(
        z, p, lambda q: q.cumsum(-1)),
    "drops the token that crosses p, keeps the likeliest one": lambda z, p: _nucleus(
        z, p, lambda q: q.cumsum(-1) * (ml.arange(q.shape[-1]) > 0).float()),
    "cumsum of unsorted probabilities": lambda z, p: z.masked_fill(
        z.softmax(-1).cumsum(-1) - z.softmax(-1) >= p, -INF),
    "ascending sort": lambda z, p: z.masked_fill(
        z < (lambda o, q: o.masked_fill(q.cumsum(-1) - q >= p, INF).amin(-1, keepdim=True))(
            z.sort(-1)[0], z.sort(-1)[0].softmax(-1)), -INF),
    "returns the sorted logits (order not restored)": lambda z, p: (lambda o: o.masked_fill(
        o.softmax(-1).cumsum(-1) - o.softmax(-1) >= p, -INF))(z.sort(-1, descending=True)[0]),
    "keeps tokens whose own probability is at least 1 - p": lambda z, p: z.masked_fill(
        z.softmax(-1) < 1 - p, -INF),
    "softmax over the rows (dim 0)": lambda z, p: (lambda o: z.masked_fill(z < o.masked_fill(
        o.softmax(0).cumsum(-1) - o.softmax(0) >= p, INF).amin(-1, keepdim=True), -INF))(
        z.sort(-1, descending=True)[0]),
    "<= the threshold (drops the last kept token)": lambda z, p: (lambda o: z.masked_fill(z <= o.masked_fill(
        o.softmax(-1).cumsum(-1) - o.softmax(-1) >= p, INF).amin(-1, keepdim=True), -INF))(
        z.sort(-1, descending=True)[0]),
}

OTHER_RIGHT_TOP_NSIGMA = {
    "std written out, divided by V - 1": lambda z, n: z.masked_fill(
        z < z.amax(-1, keepdim=True) - n * (((z - z.mean(-1, keepdim=True)) ** 2).sum(-1, keepdim=True)
                                             / (z.shape[-1] - 1)).sqrt(), -INF),
    "max through .max(dim)": lambda z, n: z.masked_fill(
        z < z.max(-1, keepdim=True)[0] - n * z.std(-1, keepdim=True), -INF),
}

WRONG_TOP_NSIGMA = {
    "std of the probabilities": lambda z, n: z.masked_fill(
        z < z.amax(-1, keepdim=True) - n * z.softmax(-1).std(-1, keepdim=True), -INF),
    "threshold on the probabilities": lambda z, n: z.masked_fill(
        z.softmax(-1) < (z.softmax(-1).amax(-1, keepdim=True) - n * z.softmax(-1).std(-1, keepdim=True)), -INF),
    "mean - n sigma instead of max - n sigma": lambda z, n: z.masked_fill(
        z < z.mean(-1, keepdim=True) - n * z.std(-1, keepdim=True), -INF),
    "std over the rows (dim 0)": lambda z, n: z.masked_fill(
        z < z.amax(-1, keepdim=True) - n * z.std(0, keepdim=True), -INF),
    "population std (divides by V)": lambda z, n: z.masked_fill(
        z < z.amax(-1, keepdim=True) - n * z.std(-1, keepdim=True, unbiased=False), -INF),
    "max - sigma, n ignored": lambda z, n: z.masked_fill(
        z < z.amax(-1, keepdim=True) - z.std(-1, keepdim=True), -INF),
    "max - sigma / n": lambda z, n: z.masked_fill(
        z < z.amax(-1, keepdim=True) - z.std(-1, keepdim=True) / n, -INF),
    "std of the whole tensor": lambda z, n: z.masked_fill(z < z.amax(-1, keepdim=True) - n * z.std(), -INF),
    "max of the whole tensor": lambda z, n: z.masked_fill(z < z.amax() - n * z.std(-1, keepdim=True), -INF),
}

TRUNCATE = {"none": lambda z, amount: z, "top-k": top_k_logits, "top-p": top_p_logits, "top-nσ": top_nsigma_logits}


def sample_next(logits, temperature=1.0, method="none", amount=None, generator=None):
    return ml.multinomial(TRUNCATE[method](logits / temperature, amount).softmax(-1), 1, generator=generator)[:, 0]


def _inverse_cdf(logits, temperature=1.0, method="none", amount=None, generator=None):
    probs = TRUNCATE[method](logits / temperature, amount).softmax(-1)
    u = ml.rand(logits.shape[0], 1, generator=generator)
    return (probs.cumsum(-1) < u).long().sum(-1).clamp(max=logits.shape[-1] - 1)


def _gumbel_max(logits, temperature=1.0, method="none", amount=None, generator=None):
    u = ml.rand(*logits.shape, generator=generator).clamp(min=1e-12)
    return (TRUNCATE[method](logits / temperature, amount) - (-u.log()).log()).argmax(-1)


OTHER_RIGHT_SAMPLERS = {"inverse CDF with ml.rand": _inverse_cdf, "Gumbel-max": _gumbel_max}

WRONG_SAMPLERS = {
    "truncates before the temperature": lambda logits, temperature=1.0, method="none", amount=None, generator=None:
        ml.multinomial((TRUNCATE[method](logits, amount) / temperature).softmax(-1), 1, generator=generator)[:, 0],
    "multiplies by the temperature": lambda logits, temperature=1.0, method="none", amount=None, generator=None:
        sample_next(logits * temperature ** 2, temperature, method, amount, generator),
    "divides the probabilities by T (multinomial renormalises)":
        lambda logits, temperature=1.0, method="none", amount=None, generator=None:
        ml.multinomial(TRUNCATE[method](logits, amount).softmax(-1) / temperature, 1, generator=generator)[:, 0],
    "ignores the truncation": lambda logits, temperature=1.0, method="none", amount=None, generator=None:
        sample_next(logits, temperature, "none", None, generator),
    "greedy: the argmax of each row": lambda logits, temperature=1.0, method="none", amount=None, generator=None:
        TRUNCATE[method](logits / temperature, amount).argmax(-1),
    "returns shape (B, 1)": lambda logits, temperature=1.0, method="none", amount=None, generator=None:
        ml.multinomial(TRUNCATE[method](logits / temperature, amount).softmax(-1), 1, generator=generator),
    "ignores the generator": lambda logits, temperature=1.0, method="none", amount=None, generator=None:
        sample_next(logits, temperature, method, amount, None),
    "the first row's distribution for every row": lambda logits, temperature=1.0, method="none", amount=None,
    generator=None: sample_next(logits[:1], temperature, method, amount, generator).expand(logits.shape[0]),
    "softmax over the rows (dim 0)": lambda logits, temperature=1.0, method="none", amount=None, generator=None:
        ml.multinomial(TRUNCATE[method](logits / temperature, amount).softmax(0), 1, generator=generator)[:, 0],
    "temperature only when there is no truncation":
        lambda logits, temperature=1.0, method="none", amount=None, generator=None:
        sample_next(logits, temperature if method == "none" else 1.0, method, amount, generator),
}


@pytest.mark.parametrize("check,right", [
    (check_top_k_logits, top_k_logits), (check_top_p_logits, top_p_logits),
    (check_top_nsigma_logits, top_nsigma_logits), (check_sample_next, sample_next),
    *[(check_top_k_logits, f) for f in OTHER_RIGHT_TOP_K.values()],
    *[(check_top_p_logits, f) for f in OTHER_RIGHT_TOP_P.values()],
    *[(check_top_nsigma_logits, f) for f in OTHER_RIGHT_TOP_NSIGMA.values()],
    *[(check_sample_next, f) for f in OTHER_RIGHT_SAMPLERS.values()],
], ids=["top_k_logits", "top_p_logits", "top_nsigma_logits", "sample_next", *OTHER_RIGHT_TOP_K, *OTHER_RIGHT_TOP_P,
        *OTHER_RIGHT_TOP_NSIGMA, *OTHER_RIGHT_SAMPLERS])
def test_lesson_21_right_code_passes(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", [
    *[(check_top_k_logits, f) for f in WRONG_TOP_K.values()],
    *[(check_top_p_logits, f) for f in WRONG_TOP_P.values()],
    *[(check_top_nsigma_logits, f) for f in WRONG_TOP_NSIGMA.values()],
    *[(check_sample_next, f) for f in WRONG_SAMPLERS.values()],
], ids=[*[f"top-k: {k}" for k in WRONG_TOP_K], *[f"top-p: {k}" for k in WRONG_TOP_P],
        *[f"top-nσ: {k}" for k in WRONG_TOP_NSIGMA], *[f"sample_next: {k}" for k in WRONG_SAMPLERS]])
def test_lesson_21_wrong_code_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)
