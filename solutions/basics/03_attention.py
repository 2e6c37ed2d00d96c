# %% [markdown]
# # 03 · Attention and a tiny transformer block
#
# **The idea.** In attention every position asks a question (a *query*), every position offers
# a *key* and a *value*, and each output is the average of the values weighted by how well the
# keys match the query: `softmax(q kᵀ / √d) v`. Because the weights are computed from the data,
# one layer can move information between any two positions, whatever their distance.
#
# *Paper:* A. Vaswani, N. Shazeer, N. Parmar, J. Uszkoreit, L. Jones, A. N. Gomez, Ł. Kaiser,
# I. Polosukhin, **"Attention Is All You Need"**, NeurIPS 2017 (arXiv:1706.03762).
#
# The claim we reproduce: a one-layer transformer learns to *reverse* a sequence, a task that
# needs each position to fetch another position's token; the same network without attention
# stays at chance.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import Checkbox, FloatLogSlider

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import check, gpu, panel, progress

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: scaled dot-product attention
#
# For queries q (..., L, d), keys k (..., S, d) and values v (..., S, dv):
# scores `q kᵀ / √d` (..., L, S); where `mask` is False the score becomes −∞ (that key is hidden);
# softmax over the keys; weighted sum of the values.
#
# **Exercise.** Return the output and the attention weights.

# %%
def attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d), masked) @ v -> (output (..., L, dv), weights (..., L, S)).

    mask: bool, broadcastable to (..., L, S); True where a query may look at a key.
    """
    # BEGIN SOLUTION
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(-1)
    return weights @ v, weights
    # END SOLUTION


# %%
causal = ml.tril(ml.ones(5, 5)).bool()
check("attention", lambda q, k, v: attention(q, k, v)[0], F.scaled_dot_product_attention, (2, 5, 4), (2, 5, 4),
      (2, 5, 3))
check("attention with a causal mask", lambda q, k, v: attention(q, k, v, causal)[0],
      lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=causal), (2, 5, 4), (2, 5, 4), (2, 5, 3),
      hint="scores.masked_fill(~mask, float('-inf')) hides the masked keys")


# %% [markdown]
# ## From scratch 2: several heads
#
# Multi-head attention projects x (B, T, E) to queries, keys and values with one matrix
# `W_qkv` (3E, E), splits E into `heads` groups of E/heads, attends in each group independently,
# then merges the groups and mixes them with `W_o` (E, E).
#
# **Exercise.** Write `multi_head`. `t.reshape(B, T, heads, E // heads).transpose(1, 2)` splits
# the heads; the reverse merges them.

# %%
def multi_head(x, w_qkv, w_o, heads, mask=None):
    """Multi-head self-attention of x (B, T, E) -> (B, T, E), using your `attention`."""
    b, t, e = x.shape
    # BEGIN SOLUTION
    q, k, v = (x @ w_qkv.T).chunk(3, dim=-1)
    q, k, v = (z.reshape(b, t, heads, e // heads).transpose(1, 2) for z in (q, k, v))
    out, _ = attention(q, k, v, mask)
    return out.transpose(1, 2).reshape(b, t, e) @ w_o.T
    # END SOLUTION


def multi_head_reference(x, w_qkv, w_o, heads, mask=None):
    b, t, e = x.shape
    q, k, v = (z.reshape(b, t, heads, e // heads).transpose(1, 2) for z in (x @ w_qkv.T).chunk(3, dim=-1))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return out.transpose(1, 2).reshape(b, t, e) @ w_o.T


# %%
check("multi_head", multi_head, multi_head_reference, (2, 6, 8), (24, 8), (8, 8), heads=2,
      hint="split with reshape(b, t, heads, e // heads).transpose(1, 2); merge in the reverse order")


# %% [markdown]
# A pre-norm transformer block wraps the attention and a small MLP in residual connections:
# `x + attn(LN(x))`, then `x + MLP(LN(x))`.

# %%
class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.w_qkv = nn.Parameter(ml.randn(3 * dim, dim) / math.sqrt(dim))
        self.w_o = nn.Parameter(ml.randn(dim, dim) / math.sqrt(dim))
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x, mask=None):
        x = x + multi_head(self.ln1(x), self.w_qkv, self.w_o, self.heads, mask)
        return x + self.mlp(self.ln2(x))


class TinyTransformer(nn.Module):
    """Token + position embeddings, one block (or none: an MLP per position), a linear read-out."""

    def __init__(self, vocab, length, dim=32, heads=2, attention=True):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, dim), nn.Embedding(length, dim)
        self.block = Block(dim, heads, 4 * dim) if attention else nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.ln, self.head = nn.LayerNorm(dim), nn.Linear(dim, vocab)

    def forward(self, tokens):
        x = self.tok(tokens) + self.pos(ml.arange(tokens.shape[1]))
        return self.head(self.ln(self.block(x)))


# %% [markdown]
# ## See it: temperature and the causal mask
#
# Queries and keys below are built from position codes so that position i matches key
# L − 1 − i best (the pattern reversing needs). Dividing the scores by a temperature flattens
# (high) or sharpens (low) the weights; the causal mask hides the future, so the early
# positions cannot reach the keys they match.

# %%
L = 8
codes = ml.tensor(np.eye(L, dtype=np.float32)) * 3


def draw_attention(temperature=1.0, causal=False):
    q, k = codes, codes.flip(0)
    mask = ml.tril(ml.ones(L, L)).bool() if causal else None
    _, weights = attention(q / temperature, k, ml.eye(L), mask)
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    image = ax.imshow(weights, cmap="viridis", vmin=0, vmax=1)
    ax.set(xlabel="key position", ylabel="query position", title=f"T = {temperature:.2f}, causal = {causal}")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_attention, temperature=FloatLogSlider(value=1.0, base=10, min=-1, max=1, step=0.05),
      causal=Checkbox(value=False))

# %% [markdown]
# ## Reproduce the claim: learning to reverse
#
# Sequences of 8 digits; the target at position i is the input's digit at position 7 − i. We
# train the transformer and the same network with its attention replaced by a per-position MLP,
# then measure token accuracy on fresh sequences.

# %%
VOCAB, LENGTH = 10, 8


def batch(n, rng):
    x = rng.integers(0, VOCAB, (n, LENGTH))
    return ml.tensor(x), ml.tensor(x[:, ::-1].copy())


def train_reverse(model, steps=400, lr=3e-3, seed=0):
    rng = np.random.default_rng(seed)
    opt = ml.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    for _ in progress(range(steps), desc="reverse"):
        x, y = batch(64, rng)
        opt.zero_grad()
        F.cross_entropy(model(x).reshape(-1, VOCAB), y.reshape(-1)).backward()
        opt.step()
    x, y = batch(1000, np.random.default_rng(seed + 1))
    with ml.no_grad():
        return (model(x).argmax(-1) == y).float().mean().item()


_ = ml.manual_seed(0)
transformer = TinyTransformer(VOCAB, LENGTH)
no_attention = TinyTransformer(VOCAB, LENGTH, attention=False)
acc = {"with attention": train_reverse(transformer), "without attention": train_reverse(no_attention)}
print("with attention, token accuracy above 95%:", acc["with attention"] > 0.95)
print("without attention, token accuracy below 20% (chance is 10%):", acc["without attention"] < 0.2)
assert acc["with attention"] > 0.95 and acc["without attention"] < 0.2

# %% tags=["nbval-ignore-output"]
print({k: round(v, 3) for k, v in acc.items()})

# %% [markdown]
# The learned attention of one sequence: each query position looks at its mirror image.

# %%
x, _ = batch(1, np.random.default_rng(5))
with ml.no_grad():
    block = transformer.block
    h = block.ln1(transformer.tok(x) + transformer.pos(ml.arange(LENGTH)))
    q, k, _ = (h @ block.w_qkv.T).chunk(3, dim=-1)
    heads = block.heads
    q, k = (z.reshape(1, LENGTH, heads, -1).transpose(1, 2) for z in (q, k))
    _, learned = attention(q, k, k)
fig, axes = plt.subplots(1, heads, figsize=(4 * heads, 3.4))
for i, ax in enumerate(axes):
    ax.imshow(learned[0, i], cmap="viridis", vmin=0, vmax=1)
    ax.set(title=f"head {i}", xlabel="key position", ylabel="query position")
fig.tight_layout()
anti_diagonal = learned[0].amax(0)[ml.arange(LENGTH), ml.arange(LENGTH).flip(0)]
print("some head puts most of each query's weight on its mirror position:", (anti_diagonal > 0.5).all().item())

# %% [markdown]
# ## The GPU version
#
# `attention` is written with tensor methods only, so it runs on torch tensors. PyTorch's
# `scaled_dot_product_attention` is the fused built-in (flash / memory-efficient kernels on GPU).

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
rng = np.random.default_rng(0)
q_np, k_np, v_np = (rng.standard_normal((2, 4, 64, 32)).astype(np.float32) for _ in range(3))
qt, kt, vt = (gpu.to_torch(a, device) for a in (q_np, k_np, v_np))
mask_t = torch.tril(torch.ones(64, 64, dtype=torch.bool, device=device))
out_t, _ = attention(qt, kt, vt, mask_t)
print("attention on torch agrees with torch's fused kernel:",
      gpu.agree(out_t, torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, is_causal=True), atol=1e-4))
print("...and with minilib:", gpu.agree(out_t, attention(*(ml.tensor(a) for a in (q_np, k_np, v_np)),
                                                       ml.tril(ml.ones(64, 64)).bool())[0], atol=1e-4))


# %% tags=["nbval-ignore-output"]
def attention_runner(fn, lib, device=None):
    def make(length):
        shape = (4, 8, length, 64)
        q = ml.ones(*shape) if lib is ml else gpu.to_torch(np.ones(shape, np.float32), device)
        return lambda: fn(q, q, q)

    return make


rows = gpu.compare_timings([64, 256, 1024], {
    "yours, minilib": (attention_runner(attention, ml), "cpu"),
    "yours, torch cpu": (attention_runner(attention, torch, "cpu"), "cpu"),
    "torch sdpa cpu": (attention_runner(torch.nn.functional.scaled_dot_product_attention, torch, "cpu"), "cpu"),
    f"torch sdpa on {device.type}": (attention_runner(torch.nn.functional.scaled_dot_product_attention, torch, device),
                                  device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "attention forward, 4 x 8 heads x L x 64")

# %% [markdown]
# ## Takeaways
#
# * Attention is a data-dependent weighted average: scores from queries and keys, a softmax,
#   a weighted sum of values. Masks hide keys by sending their scores to −∞.
# * Heads split the embedding so several routing patterns run side by side.
# * Reversal needs routing between positions: one attention layer learns it; without attention the
#   same network cannot beat chance.
#
# **Questions a teacher might ask**
# 1. Why divide the scores by √d? What happens to the softmax for large d without it?
# 2. What is the cost of attention in time and memory as the sequence length L grows?
# 3. The reverse task has no causal mask. Which positions could a causal model still reverse?
# 4. Remove the position embedding. What can the transformer still learn, and what not?
