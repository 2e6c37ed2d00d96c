# %% [markdown]
# # 26 · Softmax alternatives: the Z-loss, softpick and the attention sink
#
# **The idea.** Softmax is shift-invariant, but not scale-invariant, and its outputs always sum to one.
# Both properties have consequences. The *Z-loss* of de Brébisson & Vincent standardises the logits
# (subtract the mean, divide by the standard deviation) before a softplus, so the loss depends only
# on where the true class stands relative to the others, as ranking metrics do. In attention,
# summing to one means a query that finds nothing relevant must still put its weight *somewhere*.
# Language models learn to dump it on the first token, the *attention sink* (Gu et al.).
# *Softpick* replaces softmax by ReLU(eˣ − 1)/Σ|eˣ − 1|: weights can all be zero, so a head can
# abstain.
#
# *Papers:* A. de Brébisson, P. Vincent, **"The Z-loss: a shift and scale invariant classification loss
# belonging to the Spherical Family"**, 2016 (arXiv:1604.08859); Z. M. K. Zuhri, E. H. Fuadi, A. F. Aji,
# **"Softpick: No Attention Sink, No Massive Activations with Rectified Softmax"**, 2025
# (arXiv:2504.20966); X. Gu, T. Pang, C. Du, Q. Liu, F. Zhang, C. Du, Y. Wang, M. Lin, **"When Attention
# Sink Emerges in Language Models: An Empirical View"**, ICLR 2025 (arXiv:2410.10781).
#
# The claims we reproduce: the Z-loss is invariant to shifting and scaling the logits (a property
# test), and still trains a classifier; softpick can give a head zero total attention; in a tiny
# trained attention model, queries with nothing to find pile their softmax attention on the first
# token, while softpick lets them attend less in total.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import FloatSlider

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import check, expect, gpu, panel, progress

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: the Z-loss
#
# With μ and σ the mean and (population) standard deviation of the logits o over the classes,
# z_c = (o_c − μ)/σ and
#
# $$L_Z(o, c) = \frac1a \log\big(1 + e^{a (b - z_c)}\big).$$
#
# a sets the sharpness and b the target z-score (defaults here a = 1, b = 3).
#
# **Exercise.** Write `z_loss(logits, y, a, b)`, averaged over the batch.

# %%
def z_loss(logits, y, a=1.0, b=3.0):
    """Mean over the batch of softplus(a * (b - z_y)) / a, z = standardised logits (B, K)."""
    # BEGIN SOLUTION
    mu = logits.mean(-1, keepdim=True)
    sigma = ((logits - mu) ** 2).mean(-1, keepdim=True).sqrt()
    z_y = ((logits - mu) / sigma).gather(-1, y.reshape(-1, 1))
    return ((a * (b - z_y)).exp().log1p() / a).mean()
    # END SOLUTION


# %%
def z_loss_reference(o, y, a=1.0, b=3.0):
    """The same loss through torch (float64): standardise with std(unbiased=False), then softplus."""
    t = torch.from_numpy(o.detach().numpy().astype(np.float64))
    z = (t - t.mean(-1, keepdim=True)) / t.std(-1, unbiased=False, keepdim=True)
    value = torch.nn.functional.softplus(a * (b - z.gather(-1, torch.from_numpy(y.numpy()).reshape(-1, 1))), beta=1) / a
    return value.mean().float()


some_y = ml.tensor([1, 0, 4, 2])
check("z_loss", lambda o: z_loss(o, some_y), lambda o: z_loss_reference(o, some_y), (4, 5), grad=False,
      hint="standardise with the population std: ((o - mu)**2).mean().sqrt()")


# %% [markdown]
# ## From scratch 2: softpick
#
# softpick(x)_i = ReLU(e^{x_i} − 1) / (Σ_j |e^{x_j} − 1| + ε). Scores at or below 0 get exactly zero
# weight, and if every score is ≤ 0, the whole row is zero. For numerical safety, multiply the
# numerator and the denominator by e^{−m} with m = max(0, max_j x_j): e^{x−m} − e^{−m} never overflows.
#
# **Exercise.** Write `softpick` over the last dim.

# %%
def softpick(x, eps=1e-6):
    """Rectified softmax over the last dim: relu(e^x - 1) / (sum |e^x - 1| + eps), computed stably."""
    # BEGIN SOLUTION
    m = x.amax(-1, keepdim=True).clamp(min=0)
    shifted = (x - m).exp() - (-m).exp()
    return shifted.relu() / (shifted.abs().sum(-1, keepdim=True) + eps * (-m).exp())
    # END SOLUTION


# %%
def softpick_by_formula(x):
    e = np.expm1(np.asarray(x, np.float64))
    return ml.tensor((np.maximum(e, 0) / (np.abs(e).sum(-1, keepdims=True) + 1e-6)).astype(np.float32))


check("softpick", softpick, softpick_by_formula, ml.randn(5, 7, generator=ml.Generator().manual_seed(0)), grad=False,
      hint="relu(e^x - 1) over the sum of |e^x - 1|; shift by m = max(0, max x) for safety")
expect("softpick's abstention", lambda: {
    "rows sum to at most 1": bool((softpick(ml.randn(100, 9) * 3).sum(-1) <= 1 + 1e-6).all().item()),
    "all-negative scores give an all-zero row": bool((softpick(-ml.rand(3, 9) - 0.1) == 0).all().item()),
    "large scores do not overflow": bool(ml.isfinite(softpick(ml.tensor([[1000.0, 999.0, -5.0]]))).all().item())})


# %% [markdown]
# ## See it: softmax and softpick on the same scores
#
# Eight attention scores: one "match" whose score you set, and seven others spread around a level
# you set. Softmax always sums to one; softpick drops every score ≤ 0 and can sum to anything
# between 0 and 1.

# %%
def draw_normalisers(match=2.0, others=-0.5):
    scores = ml.tensor([others + d for d in (0.3, -0.2, 0.1, -0.4, 0.0, 0.2, -0.1)] + [match])
    fig, ax = plt.subplots(figsize=(8, 3.3))
    for k, (name, weights) in enumerate((("softmax", scores.softmax(-1)), ("softpick", softpick(scores)))):
        ax.bar(np.arange(8) + (k - 0.5) * 0.4, weights.numpy(), 0.4, label=f"{name}: total {weights.sum().item():.2f}")
    ax.set(xticks=range(8), xticklabels=[f"k{i}" for i in range(7)] + ["match"], ylim=(0, 1),
           ylabel="attention weight", title=f"match score {match:.1f}, other scores around {others:.1f}")
    ax.legend()
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_normalisers, match=FloatSlider(value=2.0, min=-3, max=5, step=0.25),
      others=FloatSlider(value=-0.5, min=-3, max=3, step=0.25))

# %% [markdown]
# ## Reproduce claim 1: the Z-loss ignores shifts and scales
#
# For 200 random logit vectors, random shifts β and positive scales α: L_Z(α·o + β) = L_Z(o), while
# cross-entropy changes. Then a linear classifier on digits trained with the Z-loss alone.

# %%
g = ml.Generator().manual_seed(1)
o, y = ml.randn(200, 10, generator=g), ml.randint(0, 10, (200,), generator=g)
alpha, beta = ml.rand(200, 1, generator=g) * 10 + 0.1, ml.randn(200, 1, generator=g) * 100
per_example = [z_loss(o[i:i + 1], y[i:i + 1]).item() for i in range(200)]
transformed = [z_loss((alpha * o + beta)[i:i + 1], y[i:i + 1]).item() for i in range(200)]
invariant = np.allclose(per_example, transformed, atol=1e-4)
ce_changes = not np.isclose(F.cross_entropy(o, y).item(), F.cross_entropy(alpha * o + beta, y).item(), atol=1e-2)
print("the Z-loss is unchanged by every shift and positive scale:", invariant)
print("cross-entropy is not:", ce_changes)

digits = ml.data.digits(flatten=True)
ml.manual_seed(0)
classifier = nn.Linear(64, 10)
opt, rng = ml.optim.Adam(classifier.parameters(), lr=1e-2), np.random.default_rng(0)
for _ in progress(range(300), desc="Z-loss classifier"):
    idx = ml.tensor(rng.choice(len(digits.x_train), 128, replace=False))
    opt.zero_grad()
    z_loss(classifier(digits.x_train[idx]), digits.y_train[idx]).backward()
    opt.step()
with ml.no_grad():
    z_accuracy = (classifier(digits.x_test).argmax(1) == digits.y_test).float().mean().item()
print("a linear classifier trained with the Z-loss alone reaches 90% on digits:", z_accuracy > 0.9)
assert invariant and ce_changes and z_accuracy > 0.9

# %% [markdown]
# ## Reproduce claim 2: the sink, and abstaining instead
#
# A tiny attention model answers "does token k appear in this sequence?". A sequence is a start
# token, 6 distinct tokens out of 16, and a query token Q_k. One attention head reads from the
# query position; its output plus the query's embedding goes to a linear classifier. When k is
# present, the head should attend to it. When k is *absent*, there is nothing to attend to.
# Softmax must still spend weight 1, and the start token, present in every sequence, is the
# natural place to put it. We train the same model with softmax and with softpick (two seeds each),
# then look at the absent-k queries.

# %%
CONTENT, LENGTH, WIDTH = 16, 6, 32
START = 2 * CONTENT  # tokens: 0..15 content, 16..31 queries Q_k, 32 the start token
POSITIONS = LENGTH + 2


class PresenceModel(nn.Module):
    def __init__(self, normaliser):
        super().__init__()
        self.normaliser = normaliser
        self.embed = nn.Embedding(2 * CONTENT + 1, WIDTH)
        self.q, self.k, self.v = nn.Linear(WIDTH, WIDTH), nn.Linear(WIDTH, WIDTH), nn.Linear(WIDTH, WIDTH)
        self.head = nn.Linear(WIDTH, 2)

    def forward(self, x):
        """x (B, T) -> (logits (B, 2), attention weights of the query position (B, T))."""
        h = self.embed(x)
        query = h[:, -1:]
        scores = (self.q(query) @ self.k(h).transpose(-2, -1)) / math.sqrt(WIDTH)
        weights = scores.softmax(-1) if self.normaliser == "softmax" else softpick(scores)
        return self.head(query[:, 0] + (weights @ self.v(h))[:, 0]), weights[:, 0]


def presence_batch(rng, batch=128):
    tokens = np.stack([rng.choice(CONTENT, LENGTH, replace=False) for _ in range(batch)])
    k = rng.integers(0, CONTENT, batch)
    x = np.concatenate([np.full((batch, 1), START), tokens, (CONTENT + k)[:, None]], 1)
    return ml.tensor(x), ml.tensor((tokens == k[:, None]).any(1).astype(np.int64))


def train_presence(normaliser, seed, steps=600):
    ml.manual_seed(seed)
    model = PresenceModel(normaliser)
    opt, rng = ml.optim.Adam(model.parameters(), lr=3e-3), np.random.default_rng(seed)
    for _ in progress(range(steps), desc=f"{normaliser}, seed {seed}"):
        x, y = presence_batch(rng)
        opt.zero_grad()
        F.cross_entropy(model(x)[0], y).backward()
        opt.step()
    return model


test_x, test_y = presence_batch(np.random.default_rng(99), 1000)
absent = test_y == 0
sink = {}
for seed in (0, 1):
    for normaliser in ("softmax", "softpick"):
        model = train_presence(normaliser, seed)
        with ml.no_grad():
            logits, weights = model(test_x)
        sink[normaliser, seed] = {"accuracy": (logits.argmax(-1) == test_y).float().mean().item(),
                                  "on start token": weights[:, 0][absent].mean().item(),
                                  "total": weights.sum(-1)[absent].mean().item()}

# %% tags=["nbval-ignore-output"]
for key, r in sink.items():
    print(key, {k: round(v, 3) for k, v in r.items()})

# %%
uniform = 1 / POSITIONS
print("softmax: absent-k queries put over twice the uniform share on the start token:",
      all(sink["softmax", s]["on start token"] > 2 * uniform for s in (0, 1)))
print("softpick: absent-k queries attend with total weight under 0.7:",
      all(sink["softpick", s]["total"] < 0.7 for s in (0, 1)))
assert all(sink["softmax", s]["on start token"] > 2 * uniform for s in (0, 1))
assert all(sink["softpick", s]["total"] < 0.7 for s in (0, 1))

# %% [markdown]
# ## The GPU version
#
# `z_loss` and `softpick` use tensor methods only, so they run on torch tensors unchanged. Neither is
# built into PyTorch; we check agreement with minilib, and time softpick next to `torch.softmax`
# as attention normalisers.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
s_np = (3 * np.random.default_rng(0).standard_normal((8, 4, 64, 64))).astype(np.float32)
st = gpu.to_torch(s_np, device)
print("softpick on torch agrees with minilib:", gpu.agree(softpick(st), softpick(ml.tensor(s_np)), atol=1e-6))
ot, yt = gpu.to_torch(o, device), gpu.to_torch(y, device)
print("z_loss on torch agrees with minilib:", gpu.agree(z_loss(ot, yt), z_loss(o, y), atol=1e-5))


# %% tags=["nbval-ignore-output"]
def normaliser_runner(fn, lib, device=None):
    """Time fn on (8, 4, T, T) seeded attention scores."""
    return gpu.array_runner(fn, lib, lambda t: (8, 4, t, t), device)


rows = gpu.compare_timings([32, 128, 256], {
    "softpick, minilib": (normaliser_runner(softpick, ml), "cpu"),
    "softpick, torch cpu": (normaliser_runner(softpick, torch, "cpu"), "cpu"),
    f"softpick, torch on {device.type}": (normaliser_runner(softpick, torch, device), device),
    f"torch.softmax on {device.type}": (normaliser_runner(lambda s: torch.softmax(s, -1), torch, device), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "attention normaliser on (8, 4, T, T) scores, by T")

# %% [markdown]
# ## Takeaways
#
# * Standardising the logits makes a loss depend only on the true class's standing among the classes.
#   The Z-loss ignores any shift and scale, and it still trains.
# * A softmax head cannot say "nothing here": its weights sum to one. Trained models route the
#   unwanted weight to a token that is always present, the attention sink.
# * Softpick's rectified numerator lets a head abstain, so the weight need not go anywhere.
#
# **Questions a teacher might ask**
# 1. Why is the Z-loss "spherical"? Which three statistics of the logits does it depend on?
# 2. Mask the start token out of the presence model's attention. Where does softmax put the
#    absent-k weight now, and does accuracy suffer?
# 3. Softpick's gradient is zero for every score ≤ 0. Why could that slow learning, and how do the
#    paper's authors argue it does not?
# 4. Add a learnable "null" key with zero value to the softmax model. Is that equivalent to softpick?
