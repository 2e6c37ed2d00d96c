"""References and checks for the softmax track (lessons 20-28).

A lesson's check cell shows a call, ``check_mos_log_probs(mos_log_probs)``, not the reference: the
reference lives here, and each check is tested against plausible wrong implementations
(``tests/test_wrong_code_softmax.py``). Hints name the idea, never the line of code.
"""
import numpy as np

import minilib as ml
import minilib.nn.functional as F
from minilib.tensor import Tensor

from .check import at_least, at_most, check, expect, near

# lesson 20: stable softmax, safe, online and two-pass

_LN2, _LOG2E = float(np.log(2.0)), float(np.log2(np.e))


class ReadCounter:
    """A tensor that counts how often each of its elements is read; ``passes()`` is the typical count.

    Indexing (``x[..., a:b]``) counts the elements it selects; any other use of ``x`` (a method, arithmetic)
    reads every element. ``x.shape`` reads nothing. The count is per element, so ``passes()`` (the median
    over elements) is 1 for a function that reads x once even if it peeks at one column to start.
    ``widest`` is the most elements of one row taken by a single read (a block-by-block pass reads at most
    ``block``; reading the whole row at once and working on it in memory is not a pass over blocks).
    """

    def __init__(self, x):
        self._x, self.reads, self.widest = x, np.zeros(tuple(x.shape), np.int64), 0

    @property
    def shape(self):
        return self._x.shape

    @property
    def ndim(self):
        return len(self._x.shape)

    @property
    def dtype(self):
        return self._x.dtype

    def __getitem__(self, key):
        self.reads[key] += 1
        taken = np.zeros(self.reads.shape, bool)
        taken[key] = True
        self.widest = max(self.widest, int(taken.sum(-1).max()))
        return self._x[key]

    def _whole(self):
        self.reads += 1
        self.widest = max(self.widest, self.reads.shape[-1])
        return self._x

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._whole(), name)

    def passes(self):
        """How many times the median element was read."""
        return int(np.median(self.reads))


def _reads_everything(op):
    def method(self, *args):
        return getattr(self._whole(), op)(*args)
    return method


for _op in ("add", "radd", "sub", "rsub", "mul", "rmul", "truediv", "rtruediv", "pow", "rpow", "matmul", "rmatmul",
            "neg", "gt", "ge", "lt", "le", "eq", "ne", "abs"):
    setattr(ReadCounter, f"__{_op}__", _reads_everything(f"__{_op}__"))


def count_passes(fn, x, *args, **kwargs):
    """How many times ``fn(x, *args)`` reads a typical element of ``x`` (through :class:`ReadCounter`)."""
    counter = ReadCounter(x)
    fn(counter, *args, **kwargs)
    return counter.passes()


def reference_safe_softmax(x):
    """softmax over the last dim with each row's own maximum subtracted."""
    e = (x - x.amax(-1, keepdim=True)).exp()
    return e / e.sum(-1, keepdim=True)


def reference_normaliser(x, block=None):
    """(m, d): each row's maximum and sum of e^(x - m), both of shape (..., 1)."""
    m = x.amax(-1, keepdim=True)
    return m, (x - m).exp().sum(-1, keepdim=True)


def _softmax_inputs():
    """Named inputs: random rows, and rows whose logits are near ±1000 (exp over- or underflows)."""
    rng = np.random.default_rng(3)
    return {"random logits (4 x 7)": rng.standard_normal((4, 7)).astype(np.float32),
            "rows near +1000 and near -1000": np.array([[1000.0, 999.0], [-1000.0, -999.0]], np.float32),
            "one row near 1000, one near 0 (3 x 5)": np.array([[1000, 999, 995, 990, 998], [0.5, -1, 2, 0, 1],
                                                                 [-3, -2, -800, -1, 0]], np.float32)}


def check_naive_softmax(naive_softmax):
    """``naive_softmax(x)``: e^x over the row sum of e^x, values and gradients, on two shapes."""
    for shape in ((4, 7), (3, 5, 2)):
        check(f"naive_softmax {shape}", naive_softmax, lambda x: F.softmax(x, -1), shape,
              hint="exponentiate, then divide by the sum over the last dimension (keep that dimension)")


def check_safe_softmax(safe_softmax):
    """``safe_softmax(x)`` against F.softmax, values and gradients, on random rows and on rows near ±1000,
    where a maximum shared by all rows (or no maximum) gives NaN."""
    for name, x in _softmax_inputs().items():
        check(f"safe_softmax on {name}", safe_softmax, lambda x: F.softmax(x, -1), x,
              hint="subtract each row's own maximum (over the last dimension, kept for broadcasting), then "
                   "normalise; a maximum over all rows leaves a row near -1000 with e^(-2000) = 0 everywhere")


def _rising_rows():
    """Rows whose maximum grows in every block (sorted), spread over 60 units: a sum not rescaled when the
    maximum grows is off by e^60."""
    rng = np.random.default_rng(4)
    return np.sort(rng.uniform(-30, 30, (3, 24)), -1).astype(np.float32)


def _normaliser_inputs():
    rng = np.random.default_rng(5)
    return {"random (5 x 11)": rng.standard_normal((5, 11)).astype(np.float32),
            "rising maxima (3 x 24)": _rising_rows(),
            "falling maxima (3 x 24)": _rising_rows()[:, ::-1].copy(),
            "logits near ±1000": np.array([[1000.0, 999.0, 990.0, 1001.0, 1003.0], [-1000.0, -999.0, -1003.0,
                                                                                     -998.0, -1001.0]], np.float32)}


def check_online_normaliser(online_normaliser):
    """``online_normaliser(x, block)`` -> (m, d): the row maximum and sum of e^(x - m), for blocks of 1, 3 and
    16 columns, and in one pass over x (counted with :class:`ReadCounter`)."""
    hint = ("keep a running maximum m and a running sum d of e^(x - m); when a block raises the maximum, "
            "rescale d by e^(old m - new m) before adding the block's terms")
    for name, x in _normaliser_inputs().items():
        for block in (1, 3, 16):
            check(f"online_normaliser on {name}, block={block}", online_normaliser, reference_normaliser, x,
                  grad=False, hint=hint, block=block)

    def probe():
        x = ml.tensor(np.random.default_rng(6).standard_normal((4, 48)).astype(np.float32))
        counter = ReadCounter(x)
        online_normaliser(counter, block=8)
        return {"x read once (one pass over 48 columns in blocks of 8)": near(counter.passes(), 1, 0),
                "at most 8 columns read at a time": at_most(counter.widest, 8),
                "...and in blocks of 1": near(count_passes(online_normaliser, x, block=1), 1, 0)}

    expect("online_normaliser passes over x", probe,
           hint="the whole point is one pass: take the maximum block by block while summing, "
                "never the row maximum first")


def check_two_pass_normaliser(two_pass_normaliser):
    """``two_pass_normaliser(x, block)`` -> (e, s): an integer exponent e and a mantissa sum s with
    s * 2^e = sum of e^x, s between 0.5 and 2 * (columns); finite on logits near ±1000; one pass over x."""
    hint = ("write each e^x as mu * 2^n with n = round(x * log2(e)); keep the sum's exponent e (the largest n so "
            "far) and its mantissa s; when e grows, multiply s by 2^(old e - new e)")

    def probe():
        out = {}
        for name, x in _normaliser_inputs().items():
            xt = ml.tensor(x)
            lse = np.log(np.exp(x.astype(np.float64) - x.max(-1, keepdims=True)).sum(-1)) + x.max(-1)
            for block in (1, 3, 16):
                e, s = two_pass_normaliser(xt, block=block)
                e, s = np.asarray(e, np.float64), np.asarray(s, np.float64)
                where = f" ({name}, block={block})"
                out["e and s have shape (rows, 1)" + where] = e.shape == s.shape == (x.shape[0], 1)
                out["e is an integer" + where] = bool(np.all(e == np.round(e)))
                out["0.5 <= s <= 2 * columns" + where] = bool(np.all((s >= 0.5) & (s <= 2 * x.shape[-1])))
                out["log(s) + e ln 2 is the row's logsumexp" + where] = near(
                    np.abs(np.log(s[:, 0]) + e[:, 0] * _LN2 - lse).max(), 0, 1e-5 * max(1.0, np.abs(lse).max()))
        counter = ReadCounter(ml.tensor(np.random.default_rng(6).standard_normal((4, 48)).astype(np.float32)))
        two_pass_normaliser(counter, block=8)
        out["x read once (blocks of 8)"] = near(counter.passes(), 1, 0)
        out["at most 8 columns read at a time"] = at_most(counter.widest, 8)
        return out

    expect("two_pass_normaliser", probe, hint=hint)



# lesson 21: temperature, top-k, top-p and top-nσ


def _rows(logits):
    """The logits (a tensor or an array, (..., V)) as float64 numpy rows (rows, V), and their shape."""
    z = np.asarray(logits.data if isinstance(logits, Tensor) else logits, np.float64)
    return z.reshape(-1, z.shape[-1]), z.shape


def reference_keep(logits, method, amount):
    """The tokens each truncation keeps, row by row in numpy: a bool array of the logits' shape.

    ``method`` is "none", "top-k" (the ``amount`` largest), "top-p" (the fewest largest whose probability
    reaches ``amount``: a token is kept while the mass before it is below p) or "top-nσ" (logits at least
    max - ``amount`` · std, the std dividing by V - 1 as torch's does)."""
    rows, shape = _rows(logits)
    keep = np.zeros(rows.shape, bool)
    for r, row in enumerate(rows):
        order = np.argsort(-row, kind="stable")
        if method == "none":
            size = len(row)
        elif method == "top-k":
            size = amount
        elif method == "top-p":
            probs = np.exp(row[order] - row.max())
            probs /= probs.sum()
            size = int(np.sum(np.cumsum(probs) - probs < amount))
        elif method == "top-nσ":
            size = int(np.sum(row >= row.max() - amount * row.std(ddof=1)))
        else:
            raise ValueError(f"unknown truncation {method!r}")
        keep[r, order[:size]] = True
    return keep.reshape(shape)


def reference_truncated(logits, method, amount):
    """The logits with the tokens ``method`` removes set to -inf (a float32 minilib tensor)."""
    z = np.asarray(logits.data, np.float32)
    return ml.tensor(np.where(reference_keep(logits, method, amount), z, -np.inf).astype(z.dtype))


def reference_sampling_probs(logits, temperature, method, amount):
    """The distribution each row is sampled from: temperature first, then truncation, then softmax (float64)."""
    rows, shape = _rows(logits)
    scaled = rows / temperature
    kept = np.where(reference_keep(scaled, method, amount), scaled, -np.inf)
    probs = np.exp(kept - kept.max(-1, keepdims=True))
    return (probs / probs.sum(-1, keepdims=True)).reshape(shape)


def _truncation_inputs():
    """Rows of logits at several scales (a flat row keeps many tokens, a peaked one few), 2-D and 3-D,
    with no ties, and one row whose largest logit stands far above the rest."""
    rng = np.random.default_rng(21)
    flat = rng.standard_normal((8, 30)) * np.array([0.3, 0.6, 1, 1.5, 2, 3, 5, 8])[:, None]
    flat[7, 4] = 40.0
    cube = rng.standard_normal((2, 3, 17)) * 2
    return [ml.tensor(flat.astype(np.float32)), ml.tensor(cube.astype(np.float32))]


def _check_truncation(name, fn, method, amounts, hint):
    __tracebackhide__ = True
    for z in _truncation_inputs():
        for amount in amounts:
            check(f"{name}, {method} {amount} on logits of shape {tuple(z.shape)}", fn,
                  lambda z, amount: reference_truncated(z, method, amount), z, amount, grad=False, hint=hint)


def check_top_k_logits(top_k_logits):
    """``top_k_logits(logits, k)`` against :func:`reference_truncated`: 2-D and 3-D logits, k = 1, 3, 7."""
    _check_truncation("top_k_logits", top_k_logits, "top-k", (1, 3, 7),
                      hint="along the last dimension, a token survives when its logit is at least the k-th largest "
                           "of its row; removed tokens become -inf, kept ones keep their logit")


def check_top_p_logits(top_p_logits):
    """``top_p_logits(logits, p)`` against :func:`reference_truncated`: 2-D and 3-D logits at scales from
    flat to peaked, p = 0.5, 0.8, 0.95."""
    _check_truncation("top_p_logits", top_p_logits, "top-p", (0.5, 0.8, 0.95),
                      hint="rank each row's tokens from the likeliest down and go through them in that order: a "
                           "token is kept while the probability of the tokens ranked above it is still below p (so "
                           "the token that crosses p is kept, and the likeliest token always is); the answer keeps "
                           "the original order")


def check_top_nsigma_logits(top_nsigma_logits):
    """``top_nsigma_logits(logits, n)`` against :func:`reference_truncated`: 2-D and 3-D logits, n = 0.5, 1, 2."""
    _check_truncation("top_nsigma_logits", top_nsigma_logits, "top-nσ", (0.5, 1.0, 2.0),
                      hint="the threshold is a logit: the row's largest logit minus n standard deviations of that "
                           "row's logits (the std that torch computes by default, dividing by V - 1)")


_SAMPLING_ROWS = np.array([[2.0, 1.2, 0.9, 0.3, -0.2, -1.0, -2.0, -3.0],
                           [-1.0, 0.5, -2.5, 1.5, 0.0, -0.4, 2.2, -3.0]])


def check_sample_next(sample_next, rows=6000):
    """``sample_next(logits, temperature, method, amount, generator)``: draws from ``rows`` rows (two different
    logit rows, alternating) follow :func:`reference_sampling_probs` at several temperatures and truncations,
    among them top-p at T = 2.5 and 0.5 (whose nucleus differs from the one at T = 1), never leave the kept set,
    are integer indices of shape (B,), and are decided by the generator."""
    __tracebackhide__ = True
    logits = ml.tensor(np.tile(_SAMPLING_ROWS, (rows // 2, 1)).astype(np.float32))
    cases = [(1.0, "none", None), (2.0, "none", None), (0.5, "none", None), (3.0, "top-k", 2), (2.5, "top-p", 0.8),
             (0.5, "top-p", 0.8), (2.0, "top-nσ", 1.0)]

    def tokens_of(draws):
        return np.asarray(draws.data).reshape(-1)[:rows]

    def worst_error(draws, expected):
        """The largest |frequency - probability| in standard errors of a frequency over rows / 2 draws."""
        tokens = tokens_of(draws)
        seen = np.stack([np.bincount(tokens[i::2], minlength=8)[:8] / (rows // 2) for i in range(2)])
        return np.max(np.abs(seen - expected) / np.sqrt(np.maximum(expected * (1 - expected), 1e-4) / (rows // 2)))

    def probe():
        out = {}
        first = sample_next(logits, 1.0, "none", None, ml.Generator().manual_seed(0))
        out["one integer index per row, shape (B,)"] = (
            tuple(first.shape) == (rows,) and np.asarray(first.data).dtype.kind in "iu")
        for temperature, method, amount in cases:
            draws = sample_next(logits, temperature, method, amount, ml.Generator().manual_seed(1))
            expected = reference_sampling_probs(_SAMPLING_ROWS, temperature, method, amount)
            setting = "no truncation" if method == "none" else f"{method} {amount}"
            out[f"T = {temperature}, {setting}: no token outside the kept set"] = bool(
                (expected[np.arange(rows) % 2, np.clip(tokens_of(draws), 0, 7)] > 0).all())
            out[f"T = {temperature}, {setting}: frequencies follow softmax(truncate(z / T)) (each token within "
                "5 standard errors)"] = at_most(worst_error(draws, expected), 5.0)
        cold = tokens_of(sample_next(logits, 0.02, "none", None, ml.Generator().manual_seed(2)))
        out["T = 0.02 picks each row's argmax"] = bool((cold == np.tile([0, 6], rows // 2)).all())
        again = sample_next(logits, 1.0, "none", None, ml.Generator().manual_seed(0))
        other = sample_next(logits, 1.0, "none", None, ml.Generator().manual_seed(3))
        out["the generator decides the draws (same seed, same tokens; another seed, other tokens)"] = bool(
            np.array_equal(tokens_of(again), tokens_of(first)) and not np.array_equal(tokens_of(other),
                                                                                     tokens_of(first)))
        return out

    expect("sample_next", probe, hint="divide the logits by the temperature first, then truncate what that gives, "
                                      "then softmax and draw one token per row with the generator passed in")



# lesson 22: Gumbel-softmax and the score-function estimator


def reference_gumbel_noise(u):
    """Standard Gumbel samples -log(-log u) from uniform draws ``u`` (any shape), u kept inside (0, 1)."""
    u = u.clamp(1e-10, 1 - 1e-7)
    return -(-u.log()).log()


def reference_gumbel_softmax(logits, noise, tau=1.0, hard=False):
    """softmax((logits + noise) / tau) over the last dim; with ``hard``, the one-hot of its argmax in value
    and the soft sample's gradient (straight-through)."""
    soft = F.softmax((logits + noise) / tau, -1)
    if not hard:
        return soft
    return F.one_hot(soft.argmax(-1), soft.shape[-1]).float() + soft - soft.detach()


def reference_score_function_loss(logits, sample, error, baseline):
    """Per example, (error - baseline) log p(sample), with error and baseline held constant: logits (..., L, K),
    sample (..., L) integer categories, error (...), baseline broadcastable to error -> (...)."""
    log_p = F.log_softmax(logits, -1).gather(-1, sample.unsqueeze(-1)).squeeze(-1).sum(-1)
    return (error - baseline).detach() * log_p


_SIX_LOGITS = [1.0, 0.5, 0.0, -0.5, 2.0, -1.0]


def check_gumbel_noise(gumbel_noise):
    """``gumbel_noise(u)``: -log(-log u) pointwise, finite at u = 0 and just below 1, and on 200,000 uniform
    draws the standard Gumbel's mean (Euler's constant) and variance (π²/6)."""
    def probe():
        grid = ml.tensor(np.linspace(1e-6, 1 - 1e-6, 101, dtype=np.float32))
        expected = -np.log(-np.log(grid.numpy().astype(np.float64)))
        edges = gumbel_noise(ml.tensor([0.0, np.nextafter(np.float32(1), np.float32(0))]))
        g = gumbel_noise(ml.rand(200000, generator=ml.Generator().manual_seed(0))).numpy().astype(np.float64)
        cube = gumbel_noise(ml.rand(3, 4, 5, generator=ml.Generator().manual_seed(1)))
        return {"the shape of u, float32": tuple(cube.shape) == (3, 4, 5) and cube.dtype == ml.float32,
                "-log(-log u) for u inside (0, 1)": bool(np.allclose(gumbel_noise(grid).numpy(), expected,
                                                                      rtol=1e-4, atol=1e-4)),
                "finite at u = 0 and just below u = 1": bool(np.isfinite(edges.numpy()).all()),
                "mean ≈ 0.5772, Euler's constant (within 0.01)": near(g.mean(), np.euler_gamma, 0.01),
                "variance ≈ π²/6 ≈ 1.645 (within 0.03)": near(g.var(), np.pi ** 2 / 6, 0.03)}

    expect("gumbel_noise", probe, hint="a Gumbel variable is what you get by inverting its CDF exp(-exp(-g)) at a "
                                       "uniform draw; keep u away from 0 and 1 so that no logarithm sees 0")


def check_gumbel_max(gumbel_max, gumbel_noise):
    """``gumbel_max(logits, noise)``: the index of the largest perturbed logit along the last dim, and on
    20,000 draws (with your noise) the categories follow softmax(logits) by a chi-squared test."""
    from scipy import stats

    def probe():
        logits = ml.tensor(_SIX_LOGITS)
        noise = gumbel_noise(ml.rand(20000, 6, generator=ml.Generator().manual_seed(2)))
        draws = gumbel_max(logits.expand(20000, 6), noise)
        counts = np.bincount(np.asarray(draws.numpy()).ravel(), minlength=6)[:6]
        p = F.softmax(logits, -1).numpy().astype(np.float64)
        chi2 = stats.chisquare(counts, 20000 * p / p.sum()).pvalue if counts.sum() == 20000 else 0.0
        cube = ml.randn(2, 3, 5, generator=ml.Generator().manual_seed(3))
        cube_noise = ml.randn(2, 3, 5, generator=ml.Generator().manual_seed(4))
        return {"integer indices over the last dim": tuple(cube.shape[:-1]) == tuple(gumbel_max(cube, cube_noise).shape)
                and gumbel_max(cube, cube_noise).dtype == ml.int64,
                "the largest perturbed logit": bool((gumbel_max(cube, cube_noise) == (cube + cube_noise).argmax(-1))
                                                    .all().item()),
                "the noise decides, not only the logits": gumbel_max(ml.tensor([[0.0, 1.0, 0.0]]),
                                                                     ml.tensor([[2.0, 0.0, 0.5]])).tolist() == [0],
                "20,000 draws pass a chi-squared test against softmax(logits) (p > 0.01)":
                    chi2 > 0.01}

    expect("gumbel_max", probe, hint="perturb every logit by its own noise, then pick the winner along the "
                                     "categories")


def check_gumbel_softmax(gumbel_softmax):
    """``gumbel_softmax(logits, noise, tau, hard)`` against :func:`reference_gumbel_softmax`, values and
    gradients, soft at τ = 0.5 and 2, hard (straight-through) at τ = 0.5; and soft samples whose largest
    entry averages over 0.99 at τ = 0.01."""
    noise = reference_gumbel_noise(ml.rand(4, 6, generator=ml.Generator().manual_seed(1)))
    hint = "divide the perturbed logits by the temperature, then a softmax over the categories"
    for tau in (0.5, 2.0):
        check(f"gumbel_softmax, τ = {tau}", gumbel_softmax, reference_gumbel_softmax, (4, 6), noise, tau,
              grad_inputs=(0,), hint=hint)
    check("gumbel_softmax, hard", gumbel_softmax, reference_gumbel_softmax, (4, 6), noise, 0.5, True, grad_inputs=(0,),
          hint="straight-through: the forward value is the one-hot vector of the soft sample's winner, "
               "the gradient is the soft sample's")

    def probe():
        many = reference_gumbel_noise(ml.rand(5000, 6, generator=ml.Generator().manual_seed(3)))
        cold = gumbel_softmax(ml.tensor(_SIX_LOGITS).expand(5000, 6), many, 0.01)
        return {"at τ = 0.01 the largest entry averages over 0.99": at_least(cold.amax(-1).mean(), 0.99),
                "each sample sums to 1": bool(np.allclose(cold.sum(-1).numpy(), 1.0, atol=1e-5))}

    expect("gumbel_softmax at a low temperature", probe, hint=hint)


def check_score_function_loss(score_function_loss):
    """``score_function_loss(logits, sample, error, baseline)`` against :func:`reference_score_function_loss`:
    values and the gradient to the logits, for one batch (L = 3 latents of K = 4) and for a stack of two;
    and no gradient reaches the error."""
    hint = ("the score function is the gradient of the log-probability of the sample drawn (a sum over the "
            "independent latents); the error minus the baseline weighs it, and is a constant")
    rng = np.random.default_rng(0)
    for lead in ((5,), (2, 5)):
        sample = ml.tensor(rng.integers(0, 4, (*lead, 3)))
        error = ml.tensor(rng.uniform(1, 4, lead).astype(np.float32))
        baseline = ml.tensor(np.full(lead[:-1] + (1,), 2.5, np.float32))
        check(f"score_function_loss, logits {(*lead, 3, 4)}", score_function_loss, reference_score_function_loss,
              (*lead, 3, 4), sample, error, baseline, grad_inputs=(0,), hint=hint)

    def probe():
        error = ml.tensor(rng.uniform(1, 4, (5,)).astype(np.float32), requires_grad=True)
        logits = ml.randn(5, 3, 4, generator=ml.Generator().manual_seed(5), requires_grad=True)
        score_function_loss(logits, ml.tensor(rng.integers(0, 4, (5, 3))), error, ml.tensor(2.5)).sum().backward()
        return {"no gradient reaches the error through this term": error.grad is None
                or not bool(error.grad.abs().amax().item() > 0)}

    expect("score_function_loss", probe, hint=hint)



# lesson 23: sparsemax


def projection_by_bisection(z, iterations=100):
    """An independent solver for the projection of z (..., K) onto the simplex: find τ with
    sum(max(z - τ, 0)) = 1 by bisection in float64 numpy; returns a float32 tensor."""
    z = np.asarray(z, np.float64)
    lo, hi = z.min(-1, keepdims=True) - 1, z.max(-1, keepdims=True)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        too_much = np.maximum(z - mid, 0).sum(-1, keepdims=True) > 1
        lo, hi = np.where(too_much, mid, lo), np.where(too_much, hi, mid)
    return ml.tensor(np.maximum(z - (lo + hi) / 2, 0).astype(np.float32))


def reference_sparsemax(z):
    """Sparsemax over the last dimension by sorting: p = max(z - τ, 0), differentiable by autograd."""
    ordered = z.sort(dim=-1, descending=True)[0]
    cumulative = ordered.cumsum(-1)
    k = (ordered * 0 + 1).cumsum(-1)
    support = (1 + k * ordered > cumulative).long().sum(-1, keepdim=True)
    tau = (cumulative.gather(-1, support - 1) - 1) / support
    return (z - tau).clamp(min=0)


def reference_sparsemax_loss(z, q):
    """Mean over all leading dims of -q·z + z·p - |p|²/2 + |q|²/2 with p = sparsemax(z) held constant
    (from the bisection solver): the same value as -q·z + ½Σ_S(z_j² - τ²) + ½|q|², gradient p - q."""
    p = projection_by_bisection(z.detach())
    return (-(q * z).sum(-1) + (z * p).sum(-1) - 0.5 * (p * p).sum(-1) + 0.5 * (q * q).sum(-1)).mean()


def autograd_jacobian(sparsemax, z):
    """Row i is the gradient of sparsemax(z)[i] with respect to z (K,), from minilib's autograd."""
    rows = []
    for i in range(z.shape[0]):
        zz = z.detach().requires_grad_()
        sparsemax(zz)[i].backward()
        rows.append(zz.grad)
    return ml.stack(rows)


def _logit_rows():
    """Seeded logits (rows, K) at scales where the support is all, some, or one class, and a 3-D batch."""
    g = ml.Generator().manual_seed(0)
    rows = ml.cat([ml.randn(4, 9, generator=g) * s for s in (0.05, 0.5, 2.0, 20.0)])
    return rows, ml.randn(2, 3, 7, generator=g) * 2


def check_sparsemax(sparsemax):
    """``sparsemax(z)`` against the bisection projection, on rows with full, partial and one-class supports,
    shifted by 100 (the answer must not change), and on a 3-D batch (the last dimension is the one)."""
    rows, batch = _logit_rows()
    hint = ("sort each row in decreasing order; the support is every k with 1 + k·z₍ₖ₎ larger than the sum of the "
            "top k; τ makes what is left above it sum to one")
    check("sparsemax, 16 rows of 9", sparsemax, projection_by_bisection, rows, grad=False, hint=hint)
    check("sparsemax, logits shifted by 100", sparsemax, projection_by_bisection, rows + 100, grad=False, atol=1e-4,
          hint=hint + " (adding a constant to every logit moves τ by that constant)")
    check("sparsemax, a (2, 3, 7) batch", sparsemax, projection_by_bisection, batch, grad=False,
          hint=hint + " (work along the last dimension)")


def check_sparsemax_jacobian(sparsemax_jacobian):
    """``sparsemax_jacobian(p)`` (K,) -> (K, K) against autograd through sparsemax, at outputs with one, a few
    and all classes in the support."""
    g = ml.Generator().manual_seed(1)
    points = [ml.randn(9, generator=g) * s for s in (2.0, 0.05, 20.0)] + [ml.tensor([3.0, 1.0, 0.5, -2.0, 0.9])]
    for z in points:
        p = reference_sparsemax(z)
        check(f"sparsemax_jacobian, support {int((p > 0).sum().item())} of {z.shape[0]}", sparsemax_jacobian,
              lambda p, z=z: autograd_jacobian(reference_sparsemax, z), p, grad=False,
              hint="outside the support nothing moves; inside it, a change in one logit moves τ by its share, "
                   "one over the support's size")


def check_sparsemax_loss(sparsemax_loss):
    """``sparsemax_loss(z, q)`` against the loss written with the bisection projection, values and gradients,
    for one-hot targets and for targets spread evenly over a label set."""
    g = ml.Generator().manual_seed(2)
    z = ml.randn(6, 9, generator=g) * 2
    onehot = F.one_hot(ml.tensor([0, 3, 5, 5, 1, 8]), 9).float()
    member = np.random.default_rng(0).random((6, 9)) < 0.4
    member[:, 0] = True
    sets = ml.tensor(member.astype(np.float32))
    hint = ("on the support S, z_j - p_j is τ for every j; the loss is -q·z + ½Σ over S of (z_j² - τ²) + ½|q|², "
            "averaged over the batch")
    check("sparsemax_loss, one-hot targets", sparsemax_loss, reference_sparsemax_loss, z, onehot, grad_inputs=[0],
          atol=1e-4, hint=hint)
    check("sparsemax_loss, label sets", sparsemax_loss, reference_sparsemax_loss, z * 0.5,
          sets / sets.sum(-1, keepdim=True), grad_inputs=[0], atol=1e-4, hint=hint)



# lesson 24: label smoothing


def reference_smoothed_targets(y, classes, eps):
    """(B, K) soft targets: 1 - eps + eps/K on the true class, eps/K on every other one (Szegedy et al.)."""
    return F.one_hot(y, classes).float() * (1 - eps) + eps / classes


def reference_smoothed_cross_entropy(logits, y, eps):
    """minilib's own cross-entropy with ``label_smoothing=eps``: logits (B, K), labels y (B,), mean over B."""
    return F.cross_entropy(logits, y, label_smoothing=eps)


def reliability_bins(probs, y, bins=15):
    """Per confidence bin b = ceil(conf * bins) - 1 (bins of equal width, right edge included):
    (count, mean confidence, accuracy), three float64 arrays of length ``bins`` (NaN where a bin is empty).
    probs (N, K) predicted distributions, y (N,) labels; one loop over the bins, written for reading."""
    p, y = np.asarray(probs, np.float64), np.asarray(y)
    confidence, correct = p.max(1), p.argmax(1) == y
    index = np.clip(np.ceil(confidence * bins).astype(int), 1, bins) - 1
    count, mean_confidence, accuracy = np.zeros(bins), np.full(bins, np.nan), np.full(bins, np.nan)
    for b in range(bins):
        inside = index == b
        count[b] = inside.sum()
        if inside.any():
            mean_confidence[b], accuracy[b] = confidence[inside].mean(), correct[inside].mean()
    return count, mean_confidence, accuracy


def reference_expected_calibration_error(probs, y, bins=15):
    """sum_b n_b / N * |accuracy_b - mean confidence_b| over the bins of :func:`reliability_bins`."""
    count, confidence, accuracy = reliability_bins(probs, y, bins)
    full = count > 0
    return float((count[full] / count.sum() * np.abs(accuracy[full] - confidence[full])).sum())


def _temperature_nll(z, y, log_t):
    """Mean NLL of softmax(z / exp(log_t)) against y, float64."""
    s = z / np.exp(log_t)
    s = s - s.max(1, keepdims=True)
    return float((np.log(np.exp(s).sum(1)) - s[np.arange(len(y)), y]).mean())


def reference_fit_temperature(logits, y):
    """The T > 0 minimising the mean NLL of softmax(logits / T) (Guo et al.'s temperature scaling), by a
    golden-section search on log T in [log 0.01, log 100] in float64 (the NLL is convex in 1/T)."""
    z, y = np.asarray(logits, np.float64), np.asarray(y)
    lo, hi, ratio = np.log(0.01), np.log(100.0), (np.sqrt(5) - 1) / 2
    for _ in range(80):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if _temperature_nll(z, y, a) < _temperature_nll(z, y, b):
            hi = b
        else:
            lo = a
    return float(np.exp((lo + hi) / 2))


def check_smoothed_targets(smoothed_targets):
    """``smoothed_targets(y, classes, eps)`` against :func:`reference_smoothed_targets`, at two K and two eps."""
    for classes, eps, labels in ((5, 0.1, [2, 0, 1, 4, 4]), (7, 0.3, [6, 3, 3, 0])):
        y = ml.tensor(labels)
        check(f"smoothed_targets, K = {classes}, eps = {eps}", lambda y=y, c=classes, e=eps: smoothed_targets(y, c, e),
              lambda y=y, c=classes, e=eps: reference_smoothed_targets(y, c, e), grad=False,
              hint="every class gets an equal share eps / K of the mass taken from the true class; "
                   "each row is still a distribution")


def check_smoothed_cross_entropy(smoothed_cross_entropy):
    """``smoothed_cross_entropy(logits, y, eps)`` against minilib's cross-entropy with label smoothing,
    values and gradients, at two K and two eps (eps = 0 included: plain cross-entropy)."""
    for classes, eps, labels in ((5, 0.1, [2, 0, 1, 4, 4]), (7, 0.3, [6, 3, 3, 0]), (4, 0.0, [1, 3, 0])):
        y = ml.tensor(labels)
        check(f"smoothed_cross_entropy, K = {classes}, eps = {eps}",
              lambda z, y=y, e=eps: smoothed_cross_entropy(z, y, e),
              lambda z, y=y, e=eps: reference_smoothed_cross_entropy(z, y, e), (len(labels), classes),
              hint="the cross-entropy against a distribution sums over the classes, then averages over the batch; "
                   "log-probabilities come from a numerically safe log of the softmax")


def check_expected_calibration_error(expected_calibration_error):
    """``expected_calibration_error(probs, y, bins)`` against :func:`reference_expected_calibration_error`,
    on random predictions, on mostly right ones (gaps of both signs) at 15 and 10 bins, on overconfident ones, and on
    one-hot ones (confidence exactly 1)."""
    def probe():
        g = ml.Generator().manual_seed(0)
        probs = ml.randn(300, 4, generator=g).mul(2).softmax(-1)
        labels = ml.randint(0, 4, (300,), generator=g)
        sharp = ml.randn(200, 6, generator=g).mul(6).softmax(-1)
        sharp_labels = ml.randint(0, 6, (200,), generator=g)
        one_hot = F.one_hot(ml.tensor([0, 1, 2, 2, 1]), 3).float()
        # labels mostly the top class: unsure bins are underconfident, sure ones overconfident (gaps of both signs)
        mixed = ml.randn(400, 5, generator=g).mul(1.5).softmax(-1)
        guesses = ml.randint(0, 5, (400,), generator=g)
        mostly_right = ml.where(ml.rand(400, generator=g) < 0.85, mixed.argmax(-1), guesses)
        cases = {"random predictions, 15 bins": (probs, labels, 15),
                 "mostly right predictions, 15 bins": (mixed, mostly_right, 15),
                 "mostly right predictions, 10 bins": (mixed, mostly_right, 10),
                 "overconfident predictions": (sharp, sharp_labels, 15),
                 "one-hot predictions (3 of 5 right)": (one_hot, ml.tensor([0, 1, 0, 2, 0]), 15)}
        out = {"a Python float": isinstance(expected_calibration_error(probs, labels, 15), float)}
        for name, (p, y, bins) in cases.items():
            out[f"{name}: the reference's ECE"] = near(expected_calibration_error(p, y, bins),
                                                       reference_expected_calibration_error(p, y, bins), 1e-5)
        return out

    expect("expected_calibration_error", probe,
           hint="bin by the top probability; in each bin compare the accuracy with the mean confidence, take the "
                "absolute gap per bin (not per prediction), and weight it by the fraction of predictions in the bin")


def check_fit_temperature(fit_temperature):
    """``fit_temperature(logits, y)``: the temperature minimising the NLL, within 2%, on overconfident logits
    (T > 1) and underconfident ones (T < 1); scaling the logits by 3 scales T by 3."""
    def probe():
        g = ml.Generator().manual_seed(0)
        y = ml.randint(0, 5, (400,), generator=g)
        clean = ml.randn(400, 5, generator=g) + 2 * F.one_hot(y, 5).float()  # about 75% right
        confident, timid = clean * 4, clean * 0.4
        t_confident, t_timid, t_scaled = (fit_temperature(z, y) for z in (confident, timid, confident * 3))
        want = reference_fit_temperature(confident, y)
        return {"a Python float": isinstance(t_confident, float),
                "overconfident logits: the NLL's minimiser (T > 1), within 2%": near(t_confident / want, 1, 0.02),
                "underconfident logits: the NLL's minimiser (T < 1), within 2%":
                    near(t_timid / reference_fit_temperature(timid, y), 1, 0.02),
                "logits 3 times larger: a temperature 3 times larger": near(t_scaled / (3 * t_confident), 1, 0.02)}

    expect("fit_temperature", probe,
           hint="the logits are divided by T before the softmax; T is chosen by the likelihood of the labels "
                "(not by accuracy, which T cannot change), and it must stay positive; the temperatures in this check "
                "range from about 0.2 to 6: make sure the search reaches them and has converged")



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
            return {"the input logits are left unchanged (work on a copy: np.asarray(tensor) and "
                    ".numpy() share its memory, np.array(tensor) copies)": False}
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
