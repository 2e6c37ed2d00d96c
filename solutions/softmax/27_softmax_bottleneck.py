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
# The claims we reproduce: log-probabilities of a rank-d softmax model have rank d + 1; fitting a
# full-rank target, the best achievable loss falls as d grows; a mixture of softmaxes with the
# same d gets below the bound.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import IntSlider

import minilib as ml
import minilib.nn.functional as F
from course import check, expect, gpu, panel, progress

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: the rank of a log-probability matrix
#
# Numerical rank: the number of singular values above a tolerance relative to the largest. minilib
# has no SVD, so we call numpy's on the values. It only measures the matrix, with no gradients needed.
#
# **Exercise.** Write `numerical_rank`, then check the claim: log_softmax(HWᵀ) has rank d + 1.

# %%
def numerical_rank(matrix, rtol=1e-5):
    """Number of singular values of a 2-D tensor above rtol * the largest one."""
    # BEGIN SOLUTION
    s = np.linalg.svd(np.asarray(matrix, np.float64), compute_uv=False)
    return int((s > rtol * s[0]).sum())
    # END SOLUTION


# %%
def rank_properties():
    g = ml.Generator().manual_seed(0)
    ranks = {}
    for d in (1, 3, 8):
        h, w = ml.randn(60, d, generator=g, dtype=ml.float64), ml.randn(40, d, generator=g, dtype=ml.float64)
        ranks[d] = (numerical_rank(h @ w.T), numerical_rank(F.log_softmax(h @ w.T, -1)))
    return {"the identity has full rank": numerical_rank(ml.eye(7)) == 7,
            "logits HW^T have rank d": all(r[0] == d for d, r in ranks.items()),
            "log-probabilities have rank d + 1": all(r[1] == d + 1 for d, r in ranks.items())}


expect("numerical_rank", rank_properties, hint="np.linalg.svd(..., compute_uv=False), count s > rtol * s[0]")


# %% [markdown]
# ## From scratch 2: a mixture of softmaxes
#
# With K components: mixture weights π = softmax(H·P) (P is d × K), component contexts
# h_k = tanh(H·U_k) (U is K × d × d), and
#
# $$\log p = \log \sum_k \pi_k \operatorname{softmax}(h_k W^\top).$$
#
# Compute it stably as a logsumexp over k of log π_k + log_softmax(h_k Wᵀ).
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
def mos_by_loop(h, w, prior, projections):
    pi = F.softmax(h @ prior, -1)
    total = sum(pi[:, k:k + 1] * F.softmax((h @ projections[k]).tanh() @ w.T, -1) for k in range(prior.shape[1]))
    return total.log()


check("mos_log_probs", mos_log_probs, mos_by_loop, (6, 4), (9, 4), (4, 3), (3, 4, 4),
      hint="logsumexp over k of log pi_k + log_softmax(tanh(h U_k) W^T)")

# %% [markdown]
# ## See it: singular values against d
#
# For the d you choose: the singular values of a random rank-d softmax model's log-probabilities
# (they drop to zero after d + 1) and of a mixture of 4 softmaxes with the same d (they do not).

# %%
N, V = 64, 32  # contexts and vocabulary size, here and in the fits below


def draw_bottleneck(d=4):
    g = ml.Generator().manual_seed(0)
    h, w = ml.randn(N, d, generator=g), ml.randn(V, d, generator=g)
    prior, proj = ml.randn(d, 4, generator=g), ml.randn(4, d, d, generator=g)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, log_q in (("softmax", F.log_softmax(h @ w.T, -1)), ("mixture of 4", mos_log_probs(h, w, prior, proj))):
        s = np.linalg.svd(np.asarray(log_q, np.float64), compute_uv=False)
        ax.semilogy(np.arange(1, V + 1), s / s[0] + 1e-17, marker=".", label=name)
    ax.axvline(d + 1, color="grey", ls=":", label="d + 1")
    ax.set(xlabel="index", ylabel="singular value / largest", ylim=(1e-10, 2), title=f"log-probabilities, d = {d}")
    ax.legend()
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_bottleneck, d=IntSlider(value=4, min=1, max=31))

# %% [markdown]
# ## Reproduce the claims
#
# A target: 64 contexts, each with its own distribution over a vocabulary of 32 drawn from a
# Dirichlet, which almost surely gives a full-rank log-probability matrix. We fit free
# parameters H (64 × d) and W (32 × d) to it by minimising the KL divergence, for d from 2 to 24,
# and a mixture of 4 softmaxes with d = 4. The same Adam settings and steps for every model. A plot
# of the KL each fitted model reached follows the fits: the bottleneck shows as d shrinks.

# %%
target = ml.tensor(np.random.default_rng(0).dirichlet(np.full(V, 0.5), N).astype(np.float32))
target_log = target.clamp(min=1e-12).log()


def kl(log_q):
    return (target * (target_log - log_q)).sum(-1).mean()


def fit(d, mixture=0, steps=800):
    g = ml.Generator().manual_seed(d)
    params = [ml.randn(N, d, generator=g).mul(0.5).requires_grad_(),
              ml.randn(V, d, generator=g).mul(0.5).requires_grad_()]
    if mixture:
        params += [ml.randn(d, mixture, generator=g).requires_grad_(),
                   ml.randn(mixture, d, d, generator=g).mul(0.5).requires_grad_()]
    opt = ml.optim.Adam(params, lr=0.05)
    for _ in range(steps):
        log_q = mos_log_probs(*params) if mixture else F.log_softmax(params[0] @ params[1].T, -1)
        opt.zero_grad()
        kl(log_q).backward()
        opt.step()
    with ml.no_grad():
        log_q = mos_log_probs(*params) if mixture else F.log_softmax(params[0] @ params[1].T, -1)
    return kl(log_q).item(), numerical_rank(log_q, rtol=1e-4)


dims = [2, 4, 8, 16, 24]
softmax_fits = {d: fit(d) for d in progress(dims, desc="softmax")}
mos_fit = fit(4, mixture=4)

# %% tags=["nbval-ignore-output"]
print("KL and rank by d:", {d: (round(k, 4), r) for d, (k, r) in softmax_fits.items()})
print("MoS, d = 4, K = 4:", (round(mos_fit[0], 4), mos_fit[1]))
fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.plot(dims, [softmax_fits[d][0] for d in dims], marker="o", label="softmax, fitted")
ax.plot([4], [mos_fit[0]], "s", ms=10, label="MoS (K = 4), d = 4")
ax.set(xlabel="d", ylabel="KL to the target", yscale="log", title="best fit by d")
ax.legend()
fig.tight_layout()

# %%
losses = [softmax_fits[d][0] for d in dims]
print("target log-probabilities have full rank 32:", numerical_rank(target_log) == V)
print("each fitted softmax model has rank at most d + 1:", all(softmax_fits[d][1] <= d + 1 for d in dims))
print("the best loss falls as d grows:", all(b < a for a, b in zip(losses, losses[1:])))
print("MoS with d = 4 beats the softmax with d = 4 by over 15%:", mos_fit[0] < 0.85 * softmax_fits[4][0])
print("...and its log-probabilities have rank above d + 1 = 5:", mos_fit[1] > 5)
assert numerical_rank(target_log) == V and all(softmax_fits[d][1] <= d + 1 for d in dims)
assert all(b < a for a, b in zip(losses, losses[1:])) and mos_fit[0] < 0.85 * softmax_fits[4][0] and mos_fit[1] > 5

# %% [markdown]
# ## The GPU version
#
# `mos_log_probs` uses batched matmuls, `tanh`, `log_softmax` and `logsumexp`, so it runs on torch
# unchanged. The single softmax head is PyTorch's `log_softmax(h @ W.T)`. We check agreement, and time
# both across vocabulary sizes: MoS costs K softmaxes over the vocabulary.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
rng = np.random.default_rng(0)
arrays = [rng.standard_normal(s).astype(np.float32) for s in ((16, 8), (50, 8), (8, 4), (4, 8, 8))]
mine = mos_log_probs(*(gpu.to_torch(a, device) for a in arrays))
print("MoS on torch agrees with minilib:", gpu.agree(mine, mos_log_probs(*(ml.tensor(a) for a in arrays)), atol=1e-5))
print("each row is a distribution:", gpu.agree(mine.exp().sum(-1), torch.ones(16), atol=1e-5))


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
#   rank d + 1. That limit is set by the architecture, and no amount of training removes it.
# * With a full-rank target, the achievable loss is bounded below by d. That is the bottleneck,
#   and Godey et al.'s explanation of why small models saturate.
# * Mixing softmaxes *before* the log escapes the bound at a cost of K softmaxes per token.
#
# **Questions a teacher might ask**
# 1. Why exactly is the rank d + 1 and not d? What does the extra dimension hold?
# 2. Would a mixture of *logits* (averaging h_k Wᵀ before one softmax) break the bound?
# 3. Finlayson et al. (lesson 21) use the bottleneck to explain the unreliable tail. How are the two
#    connected?
# 4. Real vocabularies have V ≈ 50,000 and d ≈ 4,096. Is the bound a problem there? What does Godey et
#    al.'s "saturation" suggest about small d?
