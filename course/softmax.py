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
