# %% [markdown]
# # 27 · The softmax bottleneck
#
# **The idea.** A language model computes logits as h·Wᵀ: a d-dimensional context vector h
# against a V × d output embedding W. Stack the log-probabilities for N contexts into an N × V
# matrix. It is HWᵀ minus each row's log-normaliser, so its rank is at most d + 1, however the
# contexts are computed. If the true conditional distributions need a higher rank (natural
# language does, Yang et al. argue), no softmax model with d < rank can fit them. A *mixture of
# softmaxes* (MoS), a weighted sum of K softmaxes taken before the log, is not bound this way.
# Godey et al. connect the bottleneck to why small language models saturate: their output layer
# has too low a rank for the target distribution.
#
# *Papers:* Z. Yang, Z. Dai, R. Salakhutdinov, W. W. Cohen, **"Breaking the Softmax Bottleneck: A
# High-Rank RNN Language Model"**, ICLR 2018 (arXiv:1711.03953); N. Godey, É. de la Clergerie,
# B. Sagot, **"Why do small language models underperform? Studying Language Model Saturation via
# the Softmax Bottleneck"**, 2024 (arXiv:2404.07647).
#
# The claim we reproduce: fitted to a full-rank target, a mixture of 4 softmaxes with d = 4 reaches a
# lower KL divergence than a single softmax with as many parameters (d = 5), and than a mixture of 4
# *logits* with the same d and the same parameters, which stays low-rank; on each of 5 targets. That
# a softmax model's log-probabilities have rank at most d + 1, and that its best loss falls as d
# grows, follow from the formula: the lesson checks them, they are not the claim.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import Dropdown, IntSlider

import minilib as ml
import minilib.nn.functional as F
from course import claim, gpu, panel, progress
from course.softmax import check_mol_log_probs, check_mos_log_probs, check_numerical_rank, singular_values

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: the rank of a log-probability matrix
#
# Numerical rank: the number of singular values above a tolerance *relative to the largest*, so that
# it does not depend on the matrix's scale, and float32's rounding (about 1e-7 of the largest value)
# does not count as a direction. minilib has no SVD, so we call numpy's on the values
# (`np.asarray(tensor)` gives them). It only measures the matrix, with no gradients needed.
#
# **Exercise.** Write `numerical_rank`. The check then confirms on random matrices what the idea says:
# log_softmax(HWᵀ) has rank d + 1.

# %%
def numerical_rank(matrix, rtol=1e-5):
    """Number of singular values of a 2-D tensor above rtol * the largest one."""
    # BEGIN SOLUTION
    s = np.linalg.svd(np.asarray(matrix, np.float64), compute_uv=False)
    return int((s > rtol * s[0]).sum())
    # END SOLUTION


# %%
check_numerical_rank(numerical_rank)


# %% [markdown]
# ## From scratch 2: a mixture of softmaxes
#
# With K components: mixture weights π = softmax(H·P) over the K components (P is d × K), component
# contexts h_k = tanh(H·U_k) (U is K × d × d), and
#
# $$\log p = \log \sum_k \pi_k \operatorname{softmax}(h_k W^\top).$$
#
# Summing probabilities that may underflow, then taking the log, loses precision; the stable way
# stays in log space throughout (lesson 20's trick, over k this time).
#
# **Exercise.** Write `mos_log_probs`.

# %%
def mos_log_probs(h, w, prior, projections):
    """log of a mixture of softmaxes: h (N, d), w (V, d), prior (d, K), projections (K, d, d) -> (N, V)."""
    # BEGIN SOLUTION
    log_pi = (h @ prior).log_softmax(-1)  # (N, K)
    contexts = (h.unsqueeze(0) @ projections).tanh()  # (K, N, d)
    component = (contexts @ w.T).log_softmax(-1)  # (K, N, V)
    return (log_pi.T.unsqueeze(-1) + component).logsumexp(0)
    # END SOLUTION


# %%
check_mos_log_probs(mos_log_probs)


# %% [markdown]
# ## From scratch 3: a mixture of logits, the baseline
#
# Why not mix *before* the softmax? A mixture of logits keeps the same weights π and the same
# component contexts h_k, and so exactly the same parameters, but averages the logits and takes one
# softmax:
#
# $$\log p = \log\operatorname{softmax}\Big(\sum_k \pi_k\, h_k W^\top\Big).$$
#
# It looks just as rich, but Σ_k π_k h_k Wᵀ = (Σ_k π_k h_k) Wᵀ: one d-dimensional context per row
# times Wᵀ, so it meets the bottleneck again. With the same parameters as the mixture of softmaxes and
# only the place of the mixing changed, it is the fairest baseline for it.
#
# **Exercise.** Write `mol_log_probs`, with the same arguments as `mos_log_probs`.

# %%
def mol_log_probs(h, w, prior, projections):
    """log_softmax of a mixture of logits: h (N, d), w (V, d), prior (d, K), projections (K, d, d) -> (N, V)."""
    # BEGIN SOLUTION
    pi = (h @ prior).softmax(-1)  # (N, K)
    contexts = (h.unsqueeze(0) @ projections).tanh()  # (K, N, d)
    logits = (pi.T.unsqueeze(-1) * (contexts @ w.T)).sum(0)  # (N, V)
    return logits.log_softmax(-1)
    # END SOLUTION


# %%
check_mol_log_probs(mol_log_probs)

# %% [markdown]
# ## See it: singular values against d
#
# For the d you choose: the singular values of a random rank-d softmax model's log-probabilities
# (they drop to zero after d + 1), and of a mixture of 4 components with the same d. Switch the mixture
# between softmaxes (its singular values do not drop) and logits (they drop after d + 1, as for the
# single softmax: Σ_k π_k h_k Wᵀ is still a d-dimensional context times Wᵀ).

# %%
N, V = 64, 32  # contexts and vocabulary size, here and in the fits below


def draw_bottleneck(d=4, mixture="softmaxes"):
    g = ml.Generator().manual_seed(0)
    h, w = ml.randn(N, d, generator=g), ml.randn(V, d, generator=g)
    prior, proj = ml.randn(d, 4, generator=g), ml.randn(4, d, d, generator=g)
    mixed = (mos_log_probs if mixture == "softmaxes" else mol_log_probs)(h, w, prior, proj)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, log_q in (("softmax", F.log_softmax(h @ w.T, -1)), (f"mixture of 4 {mixture}", mixed)):
        s = singular_values(log_q)
        ax.semilogy(np.arange(1, V + 1), s / s[0] + 1e-17, marker=".", label=name)
    ax.axvline(d + 1, color="grey", ls=":", label="d + 1")
    ax.set(xlabel="index", ylabel="singular value / largest", ylim=(1e-10, 2), title=f"log-probabilities, d = {d}")
    ax.legend()
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_bottleneck, d=IntSlider(value=4, min=1, max=31), mixture=Dropdown(options=["softmaxes", "logits"]))

# %% [markdown]
# ## Reproduce the claim: a full-rank target
#
# Each seed draws a target: 64 contexts, each with its own distribution over a vocabulary of 32 drawn
# from a Dirichlet, which almost surely gives a full-rank log-probability matrix. Free parameters
# (H, W, and for a mixture P and U) are fitted to it by minimising the KL divergence from the target,
# with the same Adam settings and steps for every model. On each target we fit three models:
#
# * the technique, a mixture of K = 4 softmaxes with d = 4: 64·4 + 32·4 + 4·4 + 4·4·4 = 464 parameters;
# * a single softmax with as many parameters: the smallest d that has at least as many, d = 5 (480);
# * a mixture of 4 logits with d = 4: the same 464 parameters, mixed before the softmax.
#
# Each model draws its own initial weights. The knobs sit in the next cell. From the course's root
# folder, `make claims softmax/27` re-runs the lesson on other seeds, and under the control:
# `MIXTURE = "logits"`, which puts a mixture of logits in the technique's place. There the first
# claim compares two low-rank models, and the second compares two mixtures of logits that differ only
# in their initial weights, a placebo: both claims must fail.

# %% tags=["parameters"]
SEEDS = [0, 1, 2, 3, 4]  # each seed: its own target, and its own initial weights for every model
MIXTURE = "softmaxes"  # the technique; "logits" puts a mixture of logits in its place (the control)
D, K = 4, 4  # the mixtures' context size and number of components
STEPS = 800  # Adam steps, the same for every model


# %%
def softmax_log_probs(h, w):
    return F.log_softmax(h @ w.T, -1)


def n_params(d, k=0):
    """H and W, and for a mixture of k components, P (d × k) and U (k × d × d)."""
    return (N + V) * d + (d * k + k * d * d if k else 0)


D_MATCHED = next(d for d in range(1, V) if n_params(d) >= n_params(D, K))
LABEL = {"softmaxes": "MoS", "logits": "MoL"}[MIXTURE]
technique = {"softmaxes": mos_log_probs, "logits": mol_log_probs}[MIXTURE]


def make_target(seed):
    """(target probabilities, their logs): N rows drawn from a Dirichlet(0.5) over V words."""
    target = ml.tensor(np.random.default_rng(seed).dirichlet(np.full(V, 0.5), N).astype(np.float32))
    return target, target.clamp(min=1e-12).log()


def fit(target, log_probs, d, k=0, init=0, steps=STEPS):
    """Fit a model's free parameters to `target` by Adam on KL(target || model), from initial weights drawn
    with seed `init`; returns the final KL and the numerical rank of the fitted log-probabilities."""
    p, log_p = target
    g = ml.Generator().manual_seed(init)
    params = [ml.randn(N, d, generator=g).mul(0.5).requires_grad_(),
              ml.randn(V, d, generator=g).mul(0.5).requires_grad_()]
    if k:
        params += [ml.randn(d, k, generator=g).requires_grad_(),
                   ml.randn(k, d, d, generator=g).mul(0.5).requires_grad_()]
    opt = ml.optim.Adam(params, lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        (p * (log_p - log_probs(*params))).sum(-1).mean().backward()
        opt.step()
    with ml.no_grad():
        log_q = log_probs(*params)
        return (p * (log_p - log_q)).sum(-1).mean().item(), numerical_rank(log_q, rtol=1e-4)


print(f"parameters: {LABEL} (d = {D}, K = {K}) {n_params(D, K)}, mixture of logits {n_params(D, K)}, "
      f"softmax (d = {D_MATCHED}) {n_params(D_MATCHED)}")
fits = {}
for seed in progress(SEEDS, desc="targets, four fits each"):
    target = make_target(seed)
    fits[seed] = {LABEL: fit(target, technique, D, K, init=1000 + seed),
                  f"{LABEL}, other initial weights": fit(target, technique, D, K, init=4000 + seed),
                  "MoL": fit(target, mol_log_probs, D, K, init=2000 + seed),
                  "softmax": fit(target, softmax_log_probs, D_MATCHED, init=3000 + seed)}


def kls(model):
    return [fits[seed][model][0] for seed in SEEDS]


# %% [markdown]
# How much of a difference is noise? Refitting the technique to the same target from other initial
# weights moves its KL, and that is the noise any single comparison carries. The next cell prints it.
# Over 15 targets (seeds 0 to 14), two fits of the mixture of softmaxes differed by 0.015 nats in
# standard deviation and by 0.047 at most; two mixtures of logits, by 0.004 at most.

# %%
refit = [a - b for a, b in zip(kls(LABEL), kls(f"{LABEL}, other initial weights"))]
print(f"{LABEL} refitted from other initial weights: KL differences {np.round(refit, 3).tolist()}, "
      f"largest {np.abs(refit).max():.3f} nats")

# %% [markdown]
# The first claim: the mixture of softmaxes beats the single softmax that has as many parameters, on
# every target, by at least 0.03 nats on average. That bound is twice the standard deviation of the
# refitting noise (0.015), and four times that noise on a mean over 5 targets (0.015 / √5 ≈ 0.007).
# Under the control the mixture of logits takes the technique's place, and the effect turns negative.

# %%
_ = claim(f"a mixture of {K} {MIXTURE} (d = {D}) fits a full-rank target with lower KL than a softmax with as "
          f"many parameters (d = {D_MATCHED})", SEEDS, technique=kls(LABEL), baseline=kls("softmax"),
          higher_is_better=False, each_above=0.0, mean_at_least=0.03, names=(LABEL, f"softmax d={D_MATCHED}"))

# %% [markdown]
# The second: it beats the mixture of logits, with the same parameters, on every target by at least
# 0.06 nats on average. Under the control, where both sides are mixtures of logits from different
# initial weights, the effect is the placebo's: a few thousandths of a nat on any target, and under a
# thousandth on average.

# %%
_ = claim(f"a mixture of {K} {MIXTURE} (d = {D}) fits a full-rank target with lower KL than a mixture of {K} "
          "logits with the same d and parameters", SEEDS, technique=kls(LABEL), baseline=kls("MoL"),
          higher_is_better=False, each_above=0.0, mean_at_least=0.06, names=(LABEL, "MoL"))

# %% [markdown]
# What holds by construction, checked rather than claimed: on the first target, single softmaxes with d
# from 2 to 24 (each rank at most d + 1, and the best KL falling as d grows), and the rank of every
# fitted model (numerical rank at rtol 1e-4).

# %%
dims = [2, 4, 8, 16, 24]
first = make_target(SEEDS[0])
sweep = {d: fit(first, softmax_log_probs, d, init=3000 + SEEDS[0]) for d in progress(dims, desc="softmax by d")}
losses = [sweep[d][0] for d in dims]
full_rank = all(numerical_rank(make_target(seed)[1]) == V for seed in SEEDS)
softmax_ranks = all(r <= d + 1 for d, (_, r) in sweep.items()) and all(fits[s]["softmax"][1] <= D_MATCHED + 1
                                                                           for s in SEEDS)
print(f"every target's log-probabilities have full rank {V}:", full_rank)
print("each fitted softmax model has rank at most d + 1:", softmax_ranks)
print("the best softmax loss falls as d grows:", all(b < a for a, b in zip(losses, losses[1:])))
print(f"each fitted mixture of logits has rank at most d + 1 = {D + 1}:",
      all(fits[s]["MoL"][1] <= D + 1 for s in SEEDS))
print(f"each fitted {LABEL} has rank above d + 1 = {D + 1}:", all(fits[s][LABEL][1] > D + 1 for s in SEEDS))
print("mean KL over the targets:", {name: round(float(np.mean(kls(name))), 3)
                                    for name in (LABEL, "softmax", "MoL")})
assert full_rank and softmax_ranks and all(b < a for a, b in zip(losses, losses[1:]))

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.plot(dims, losses, marker="o", color="C0", label="softmax, fitted")
ax.plot([D_MATCHED], [fits[SEEDS[0]]["softmax"][0]], "o", color="C0", mfc="white", ms=9,
        label=f"softmax, d = {D_MATCHED} (as many parameters)")
ax.plot([D], [fits[SEEDS[0]][LABEL][0]], "s", color="C1", ms=9, label=f"{LABEL} (K = {K}), d = {D}")
ax.plot([D], [fits[SEEDS[0]]["MoL"][0]], "^", color="C2", ms=9, label=f"MoL (K = {K}), d = {D}")
ax.set(xlabel="d", ylabel="KL to the target", yscale="log", title=f"best fit by d, target {SEEDS[0]}")
ax.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# ## The GPU version
#
# `mos_log_probs` and `mol_log_probs` use batched matmuls and tensor methods only, so they run on torch
# unchanged. The single softmax head is PyTorch's `log_softmax(h @ W.T)`. PyTorch has no built-in
# mixture of softmaxes (and one written from its built-ins would be this exercise's answer), so for
# MoS we check your function on torch against minilib, and time both heads across vocabulary sizes:
# MoS costs K softmaxes over the vocabulary.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
rng = np.random.default_rng(0)
arrays = [rng.standard_normal(s).astype(np.float32) for s in ((16, 8), (50, 8), (8, 4), (4, 8, 8))]
mine = mos_log_probs(*(gpu.to_torch(a, device) for a in arrays))
print("MoS on torch agrees with minilib:", gpu.agree(mine, mos_log_probs(*(ml.tensor(a) for a in arrays)), atol=1e-5))
print("each row is a distribution:", gpu.agree(mine.exp().sum(-1), torch.ones(16), atol=1e-5))
mixed_logits = mol_log_probs(*(gpu.to_torch(a, device) for a in arrays))
print("MoL on torch agrees with minilib:",
      gpu.agree(mixed_logits, mol_log_probs(*(ml.tensor(a) for a in arrays)), atol=1e-5))


# %% tags=["nbval-ignore-output"]
def head_runner(lib, device=None, mixture=False):
    """Log-probabilities for 256 contexts (d = 64) over a vocabulary of v."""
    def make(v):
        rng = np.random.default_rng(0)
        arrays = [rng.standard_normal(s).astype(np.float32) * 0.1 for s in ((256, 64), (v, 64), (64, 4), (4, 64, 64))]
        ts = [ml.tensor(a) for a in arrays] if lib is ml else [gpu.to_torch(a, device) for a in arrays]
        if mixture:
            return lambda: mos_log_probs(*ts)
        return lambda: (ts[0] @ ts[1].T).log_softmax(-1)

    return make


rows = gpu.compare_timings([1000, 4000, 16000], {
    "softmax, minilib": (head_runner(ml), "cpu"),
    "MoS, minilib": (head_runner(ml, mixture=True), "cpu"),
    f"softmax, torch on {device.type}": (head_runner(torch, device), device),
    f"MoS, torch on {device.type}": (head_runner(torch, device, mixture=True), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "output layer for 256 contexts, by vocabulary size")

# %% [markdown]
# ## Takeaways
#
# * A softmax output layer with d-dimensional contexts can only express log-probability matrices of
#   rank d + 1: every fitted softmax here had rank at most d + 1, and with a full-rank target its best
#   KL fell as d grew. That limit is set by the architecture: more training changes the fitted
#   matrix, not its rank.
# * Mixing softmaxes *before* the log escapes the bound: with d = 4 and 4 components, the mixture of
#   softmaxes had rank above 5 and reached a lower KL than a single softmax with more parameters
#   (d = 5) on each of the 5 targets.
# * Where the mixing happens is what matters: a mixture of logits, with the same parameters, stayed at
#   rank at most 5 and did worse than the mixture of softmaxes on every target (the second claim's
#   table), and worse than the d = 5 softmax on average (the mean KLs printed above). Extra
#   parameters or extra nonlinearity before the softmax do not widen the bottleneck.
# * The price is K softmaxes over the vocabulary per context instead of one (the timing table).
#
# **Questions a teacher might ask**
# 1. Why exactly is the rank d + 1 and not d? What does the extra dimension hold?
# 2. The mixture of logits has tanh nonlinearities and mixture weights that depend on the context.
#    Why is its rank still at most d + 1?
# 3. Finlayson et al. (lesson 21) use the bottleneck to explain the unreliable tail. How are the two
#    connected?
# 4. Real vocabularies have V ≈ 50,000 and d ≈ 4,096. Is the bound a problem there? What does Godey et
#    al.'s "saturation" suggest about small d?
# 5. Run `make claims softmax/27`. Under the control (`MIXTURE = "logits"`) both claims fail: what do
#    their tables show, and what does the second one measure there?
# 6. Try K = 1. Is a mixture of one softmax still better than the single softmax with d = 5? Why not?
