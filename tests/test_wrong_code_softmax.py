"""The softmax track's checks against plausible wrong code: each must raise CheckFailed, the right code must pass.

One entry per mistake a learner makes; a check that lets one through is a check that teaches nothing.
Right answers written differently must pass too.
"""
import math

import numpy as np
import pytest

import minilib as ml
import minilib.nn.functional as F
from course import CheckFailed
from course.softmax import (
    check_mol_log_probs,
    check_mos_log_probs,
    check_naive_softmax,
    check_numerical_rank,
    check_online_normaliser,
    check_safe_softmax,
    check_two_pass_normaliser,
)

# lesson 20: naive_softmax, safe_softmax, online_normaliser(x, block), two_pass_normaliser(x, block)

LOG2E, LN2 = math.log2(math.e), math.log(2)


def naive_softmax(x):
    e = x.exp()
    return e / e.sum(-1, keepdim=True)


def safe_softmax(x):
    e = (x - x.amax(-1, keepdim=True)).exp()
    return e / e.sum(-1, keepdim=True)


def online_normaliser(x, block=16):
    m, d = x[..., :1] * 0 - math.inf, x[..., :1] * 0
    for start in range(0, x.shape[-1], block):
        chunk = x[..., start:start + block]
        m_new = chunk.amax(-1, keepdim=True).maximum(m)
        d = d * (m - m_new).exp() + (chunk - m_new).exp().sum(-1, keepdim=True)
        m = m_new
    return m, d


def _online(update, x, block, start_m=-math.inf):
    """The online loop with a (wrong) update(chunk, m, d) -> (m, d)."""
    m, d = x[..., :1] * 0 + start_m, x[..., :1] * 0
    for start in range(0, x.shape[-1], block):
        m, d = update(x[..., start:start + block], m, d)
    return m, d


def _row_max_first(x, block=16):
    m = x.amax(-1, keepdim=True)
    d = x[..., :1] * 0
    for start in range(0, x.shape[-1], block):
        d = d + (x[..., start:start + block] - m).exp().sum(-1, keepdim=True)
    return m, d


def _global_max_first(x, block=16):
    m = x[..., :1] * 0 + x.amax()
    d = x[..., :1] * 0
    for start in range(0, x.shape[-1], block):
        d = d + (x[..., start:start + block] - m).exp().sum(-1, keepdim=True)
    return m, d


def _two_pass(x, block=16, exponent=lambda chunk: (chunk * LOG2E).round(), rescale=True):
    e, s = x[..., :1] * 0 - math.inf, x[..., :1] * 0
    for start in range(0, x.shape[-1], block):
        chunk = x[..., start:start + block]
        n = exponent(chunk)
        mu = (chunk - n * LN2).exp()
        e_new = n.amax(-1, keepdim=True).maximum(e)
        s = (s * (e - e_new).exp2() if rescale else s) + (mu * (n - e_new).exp2()).sum(-1, keepdim=True)
        e = e_new
    return e, s


def two_pass_normaliser(x, block=16):
    return _two_pass(x, block)


def _two_pass_separate_max(x, block=16):
    """The lesson's old code: the exponents' maximum taken over the whole row first (a second pass)."""
    top = (x * LOG2E).round().amax(-1, keepdim=True)
    s = x[..., :1] * 0
    for start in range(0, x.shape[-1], block):
        chunk = x[..., start:start + block]
        n = (chunk * LOG2E).round()
        s = s + ((chunk - n * LN2).exp() * (n - top).exp2()).sum(-1, keepdim=True)
    return top, s


def _two_pass_plain_exp(x, block=16):
    s = x[..., :1] * 0
    for start in range(0, x.shape[-1], block):
        s = s + x[..., start:start + block].exp().sum(-1, keepdim=True)
    return s * 0, s


OTHER_RIGHT_SAFE = {
    "max through amax with a negative dim": lambda x: (lambda e: e / e.sum(dim=-1, keepdim=True))(
        (x - x.amax(dim=x.ndim - 1, keepdim=True)).exp()),
    "log_softmax, then exp": lambda x: (x - x.amax(-1, keepdim=True) - (x - x.amax(-1, keepdim=True)).exp()
                                        .sum(-1, keepdim=True).log()).exp(),
}

OTHER_RIGHT_ONLINE = {
    "with the block max kept apart": lambda x, block=16: _online(
        lambda c, m, d: (lambda b: (b.maximum(m), d * (m - b.maximum(m)).exp()
                                    + (c - b).exp().sum(-1, keepdim=True) * (b - b.maximum(m)).exp()))(
            c.amax(-1, keepdim=True)), x, block),
}

OTHER_RIGHT_TWO_PASS = {
    "floor instead of round": lambda x, block=16: _two_pass(x, block, exponent=lambda c: (c * LOG2E).floor()),
}

WRONG_NAIVE = {
    "divides by the sum over rows": lambda x: x.exp() / x.exp().sum(0, keepdim=True),
    "divides by the total sum": lambda x: x.exp() / x.exp().sum(),
    "forgets the exp in the sum": lambda x: x.exp() / x.sum(-1, keepdim=True),
}

WRONG_SAFE = {
    "subtracts the global max": lambda x: (lambda e: e / e.sum(-1, keepdim=True))((x - x.amax()).exp()),
    "no max subtracted (naive)": naive_softmax,
    "max over the wrong dim": lambda x: (lambda e: e / e.sum(-1, keepdim=True))((x - x.amax(0, keepdim=True)).exp()),
    "subtracts the row mean": lambda x: (lambda e: e / e.sum(-1, keepdim=True))((x - x.mean(-1, keepdim=True)).exp()),
    "subtracts the row min": lambda x: (lambda e: e / e.sum(-1, keepdim=True))((x - x.amin(-1, keepdim=True)).exp()),
    "normalises by the sum over all rows": lambda x: (
        lambda e: e / e.sum())((x - x.amax(-1, keepdim=True)).exp()),
}

WRONG_ONLINE = {
    "row max taken first (two passes)": _row_max_first,
    "global max taken first": _global_max_first,
    "no rescaling when the max grows": lambda x, block=16: _online(
        lambda c, m, d: (lambda mn: (mn, d + (c - mn).exp().sum(-1, keepdim=True)))(
            c.amax(-1, keepdim=True).maximum(m)), x, block),
    "rescales by e^(new - old)": lambda x, block=16: _online(
        lambda c, m, d: (lambda mn: (mn, d * (mn - m).exp() + (c - mn).exp().sum(-1, keepdim=True)))(
            c.amax(-1, keepdim=True).maximum(m)), x, block, start_m=-1e30),
    "the block's max, not the running max": lambda x, block=16: _online(
        lambda c, m, d: (lambda mn: (mn, d * (m - mn).exp() + (c - mn).exp().sum(-1, keepdim=True)))(
            c.amax(-1, keepdim=True)), x, block),
    "rescales after adding the block's terms": lambda x, block=16: _online(
        lambda c, m, d: (lambda mn: (mn, (d + (c - mn).exp().sum(-1, keepdim=True)) * (m - mn).exp()))(
            c.amax(-1, keepdim=True).maximum(m)), x, block, start_m=-1e30),
}

WRONG_TWO_PASS = {
    "exponents' max taken over the row first (the old lesson)": _two_pass_separate_max,
    "plain e^x, no exponent": _two_pass_plain_exp,
    "mantissa not rescaled when the exponent grows": lambda x, block=16: _two_pass(x, block, rescale=False),
    "exponent from x, not x log2(e)": lambda x, block=16: _two_pass(x, block, exponent=lambda c: c.round()),
    "exponent not rounded": lambda x, block=16: _two_pass(x, block, exponent=lambda c: c * LOG2E),
}


@pytest.mark.parametrize("check,right", [
    (check_naive_softmax, naive_softmax), (check_safe_softmax, safe_softmax),
    (check_online_normaliser, online_normaliser), (check_two_pass_normaliser, two_pass_normaliser),
    *[(check_safe_softmax, f) for f in OTHER_RIGHT_SAFE.values()],
    *[(check_online_normaliser, f) for f in OTHER_RIGHT_ONLINE.values()],
    *[(check_two_pass_normaliser, f) for f in OTHER_RIGHT_TWO_PASS.values()],
], ids=["naive", "safe", "online", "two-pass", *OTHER_RIGHT_SAFE, *OTHER_RIGHT_ONLINE, *OTHER_RIGHT_TWO_PASS])
def test_lesson_20_right_code_passes(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", [
    *[(check_naive_softmax, f) for f in WRONG_NAIVE.values()],
    *[(check_safe_softmax, f) for f in WRONG_SAFE.values()],
    *[(check_online_normaliser, f) for f in WRONG_ONLINE.values()],
    *[(check_two_pass_normaliser, f) for f in WRONG_TWO_PASS.values()],
], ids=[*[f"naive: {k}" for k in WRONG_NAIVE], *[f"safe: {k}" for k in WRONG_SAFE],
        *[f"online: {k}" for k in WRONG_ONLINE], *[f"two-pass: {k}" for k in WRONG_TWO_PASS]])
def test_lesson_20_each_wrong_implementation_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)


def _one_slice_max_first(x, block=16):
    """The safe normaliser on one slice of the whole row: counted as one read, but not a pass over blocks."""
    row = x[..., :]
    m = row.amax(-1, keepdim=True)
    return m, (row - m).exp().sum(-1, keepdim=True)


def _two_pass_one_slice(x, block=16):
    """The two-pass normaliser on one slice of the whole row, block ignored."""
    return _two_pass(x[..., :], x.shape[-1])


@pytest.mark.parametrize("check,wrong", [(check_online_normaliser, _one_slice_max_first),
                                         (check_two_pass_normaliser, _two_pass_one_slice)],
                         ids=["online: one slice of the row, max first", "two-pass: one slice of the row"])
def test_lesson_20_whole_row_in_one_read_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="at most 8 columns"):
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



# lesson 23: sparsemax(z), sparsemax_jacobian(p), sparsemax_loss(z, q)
from course.softmax import check_sparsemax, check_sparsemax_jacobian, check_sparsemax_loss  # noqa: E402


def _sorted_parts(z, descending=True):
    ordered = z.sort(dim=-1, descending=descending)[0]
    return ordered, ordered.cumsum(-1), (ordered * 0 + 1).cumsum(-1)


def sparsemax(z):
    ordered, cumulative, k = _sorted_parts(z)
    support = (1 + k * ordered > cumulative).long().sum(-1, keepdim=True)
    return (z - (cumulative.gather(-1, support - 1) - 1) / support).clamp(min=0)


def _sparsemax_tau(z, tau_of):
    ordered, cumulative, k = _sorted_parts(z)
    support = (1 + k * ordered > cumulative).long().sum(-1, keepdim=True)
    return (z - tau_of(cumulative, support)).clamp(min=0)


def _sparsemax_by_numpy_loop(z):
    """A row-by-row numpy version (no gradients needed by its check)."""
    a = np.asarray(z.numpy(), np.float64)
    flat, out = a.reshape(-1, a.shape[-1]), np.zeros(a.reshape(-1, a.shape[-1]).shape)
    for i, row in enumerate(flat):
        s = np.sort(row)[::-1]
        k = np.arange(1, len(s) + 1)
        size = k[1 + k * s > np.cumsum(s)].max()
        out[i] = np.maximum(row - (np.cumsum(s)[size - 1] - 1) / size, 0)
    return ml.tensor(out.reshape(a.shape).astype(np.float32))


OTHER_RIGHT_SPARSEMAX = {"a numpy loop over rows": _sparsemax_by_numpy_loop,
                         "max subtracted first": lambda z: sparsemax(z - z.max(-1, keepdim=True)[0])}

WRONG_SPARSEMAX = {
    "softmax": lambda z: F.softmax(z, -1),
    "tau without the -1": lambda z: _sparsemax_tau(z, lambda c, s: c.gather(-1, s - 1) / s),
    "ascending sort": lambda z: (lambda o, c, k: (lambda s: (z - (c.gather(-1, s - 1) - 1) / s).clamp(min=0))(
        (1 + k * o > c).long().sum(-1, keepdim=True).clamp(min=1)))(*_sorted_parts(z, descending=False)),
    "support test without the factor k (1 + z_k > c_k)": lambda z: (lambda o, c, k: (lambda s: (
        z - (c.gather(-1, s - 1) - 1) / s).clamp(min=0))((1 + o > c).long().sum(-1, keepdim=True)))(*_sorted_parts(z)),
    "support test without the 1 (k z_k > c_k)": lambda z: (lambda o, c, k: (lambda s: (
        z - (c.gather(-1, s - 1) - 1) / s).clamp(min=0))((k * o > c).long().sum(-1, keepdim=True).clamp(min=1)))(
        *_sorted_parts(z)),
    "tau from the mean of all logits": lambda z: (z - (z.sum(-1, keepdim=True) - 1) / z.shape[-1]).clamp(min=0),
    "relu, then renormalised": lambda z: z.clamp(min=0) / z.clamp(min=0).sum(-1, keepdim=True).clamp(min=1e-12),
    "along the first dimension": lambda z: sparsemax(z.transpose(0, -1)).transpose(0, -1),
    "the support size from the first row only": lambda z: _sparsemax_tau(
        z, lambda c, s: (c.gather(-1, s[..., :1, :] * 0 + s.reshape(-1)[0]) - 1) / s.reshape(-1)[0]),
    "c_k gathered one place too far": lambda z: _sparsemax_tau(
        z, lambda c, s: (c.gather(-1, s.clamp(max=z.shape[-1] - 1)) - 1) / s),
    "tau divided by K, not the support size": lambda z: _sparsemax_tau(z, lambda c, s: (c.gather(-1, s - 1) - 1)
                                                                      / z.shape[-1]),
    "no clamp at zero": lambda z: (lambda o, c, k: (lambda s: z - (c.gather(-1, s - 1) - 1) / s)(
        (1 + k * o > c).long().sum(-1, keepdim=True)))(*_sorted_parts(z)),
    "output left in sorted order": lambda z: sparsemax(z).sort(dim=-1, descending=True)[0],
}


def sparsemax_jacobian(p):
    s = (p > 0).float()
    return ml.eye(p.shape[0]) * s - s.reshape(-1, 1) * s.reshape(1, -1) / s.sum()


OTHER_RIGHT_JACOBIAN = {
    "numpy outer product": lambda p: ml.tensor(
        (lambda s: (np.diag(s) - np.outer(s, s) / s.sum()).astype(np.float32))(np.asarray(p.numpy() > 0, np.float64))),
}

WRONG_JACOBIAN = {
    "softmax's Jacobian diag(p) - p p^T": lambda p: ml.eye(p.shape[0]) * p - p.reshape(-1, 1) * p.reshape(1, -1),
    "no outer-product term": lambda p: ml.eye(p.shape[0]) * (p > 0).float(),
    "divided by K instead of the support size": lambda p: (lambda s: ml.eye(p.shape[0]) * s
                                                           - s.reshape(-1, 1) * s.reshape(1, -1) / p.shape[0])(
        (p > 0).float()),
    "the identity minus the mean over all classes": lambda p: ml.eye(p.shape[0]) - ml.ones(p.shape[0], p.shape[0])
    / p.shape[0],
    "outer product not masked to the support": lambda p: (lambda s: ml.eye(p.shape[0]) * s
                                                          - ml.ones(p.shape[0], p.shape[0]) / s.sum())((p > 0).float()),
}


def sparsemax_loss(z, q):
    p = sparsemax(z)
    support = (p > 0).float()
    tau = ((z - p) * support).sum(-1, keepdim=True) / support.sum(-1, keepdim=True)
    return (-(q * z).sum(-1) + 0.5 * ((z * z - tau * tau) * support).sum(-1) + 0.5 * (q * q).sum(-1)).mean()


def _loss_parts(z):
    p = sparsemax(z)
    support = (p > 0).float()
    return p, support, ((z - p) * support).sum(-1, keepdim=True) / support.sum(-1, keepdim=True)


OTHER_RIGHT_LOSS = {
    "through z·p - |p|²/2": lambda z, q: (lambda p: (-(q * z).sum(-1) + (z * p).sum(-1) - 0.5 * (p * p).sum(-1)
                                                      + 0.5 * (q * q).sum(-1)).mean())(sparsemax(z)),
}

WRONG_LOSS = {
    "+1/2 (the one-hot constant) instead of +|q|²/2": lambda z, q: (lambda p, s, t: (
        -(q * z).sum(-1) + 0.5 * ((z * z - t * t) * s).sum(-1) + 0.5).mean())(*_loss_parts(z)),
    "tau² not masked to the support": lambda z, q: (lambda p, s, t: (
        -(q * z).sum(-1) + 0.5 * (z * z * s).sum(-1) - 0.5 * (t * t).sum(-1) + 0.5 * (q * q).sum(-1)).mean())(
        *_loss_parts(z)),
    "+q·z instead of -q·z": lambda z, q: (lambda p, s, t: (
        (q * z).sum(-1) + 0.5 * ((z * z - t * t) * s).sum(-1) + 0.5 * (q * q).sum(-1)).mean())(*_loss_parts(z)),
    "summed over the batch, not averaged": lambda z, q: sparsemax_loss(z, q) * z.shape[0],
    "soft cross-entropy": lambda z, q: -(q * z.log_softmax(-1)).sum(-1).mean(),
    "squared error between sparsemax and q": lambda z, q: 0.5 * ((sparsemax(z) - q) ** 2).sum(-1).mean(),
    "no +|q|²/2 (the gradient is right, the value is not)": lambda z, q: (lambda p, s, t: (
        -(q * z).sum(-1) + 0.5 * ((z * z - t * t) * s).sum(-1)).mean())(*_loss_parts(z)),
    "averaged over classes too": lambda z, q: sparsemax_loss(z, q) / z.shape[-1],
    "tau detached": lambda z, q: (lambda p, s, t: (
        -(q * z).sum(-1) + 0.5 * ((z * z - t.detach() * t.detach()) * s).sum(-1) + 0.5 * (q * q).sum(-1)).mean())(
        *_loss_parts(z)),
}


@pytest.mark.parametrize("check,right", [
    (check_sparsemax, sparsemax), (check_sparsemax_jacobian, sparsemax_jacobian),
    (check_sparsemax_loss, sparsemax_loss),
    *[(check_sparsemax, f) for f in OTHER_RIGHT_SPARSEMAX.values()],
    *[(check_sparsemax_jacobian, f) for f in OTHER_RIGHT_JACOBIAN.values()],
    *[(check_sparsemax_loss, f) for f in OTHER_RIGHT_LOSS.values()],
], ids=["sparsemax", "sparsemax_jacobian", "sparsemax_loss", *OTHER_RIGHT_SPARSEMAX, *OTHER_RIGHT_JACOBIAN,
        *OTHER_RIGHT_LOSS])
def test_lesson_23_right_code_passes(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", [
    *[(check_sparsemax, f) for f in WRONG_SPARSEMAX.values()],
    *[(check_sparsemax_jacobian, f) for f in WRONG_JACOBIAN.values()],
    *[(check_sparsemax_loss, f) for f in WRONG_LOSS.values()],
], ids=[*[f"sparsemax: {k}" for k in WRONG_SPARSEMAX], *[f"jacobian: {k}" for k in WRONG_JACOBIAN],
        *[f"loss: {k}" for k in WRONG_LOSS]])
def test_lesson_23_wrong_code_is_rejected(check, wrong):
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
