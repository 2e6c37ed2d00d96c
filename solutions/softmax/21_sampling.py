# %% [markdown]
# # 21 · Sampling: temperature, top-k, top-p and top-nσ
#
# **The idea.** A language model gives a distribution over the next token, and how we sample from
# it matters as much as the model. *Temperature* divides the logits by T: below 1 it sharpens the
# distribution, above 1 it flattens it. *Truncation* removes the unreliable tail before sampling.
# Top-k keeps the k likeliest tokens; nucleus (top-p) sampling keeps the smallest set whose
# probability reaches p (Holtzman et al.). Finlayson et al. explain why the tail is unreliable: a
# softmax over a low-rank output layer cannot make every unlikely token exactly as unlikely as it
# should be, so the errors collect there. Top-nσ keeps the tokens whose logit is within n standard
# deviations of the maximum. That rule works on the logits, and it is unchanged by temperature.
#
# *Papers:* A. Holtzman, J. Buys, L. Du, M. Forbes, Y. Choi, **"The Curious Case of Neural Text
# Degeneration"**, ICLR 2020 (arXiv:1904.09751); M. Finlayson, J. Hewitt, A. Koller, S. Swayamdipta,
# A. Sabharwal, **"Closing the Curious Case of Neural Text Degeneration"**, ICLR 2024
# (arXiv:2310.01693); C. Tang, J. Liu, H. Xu, L. Huang, **"Top-nσ: Not All Logits Are You Need"**,
# 2024 (arXiv:2411.07641).
#
# The claims we reproduce, on a small character model trained on the course corpus: temperature
# reshapes the distribution (entropy grows with T); truncation removes the tail (no sample falls
# outside the kept set); top-nσ's kept set does not change with temperature, while top-p's does.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import Dropdown, FloatSlider

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import check, expect, gpu, panel, progress

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: truncation by rank, by mass and by spread
#
# Each function returns the logits with the removed tokens set to −∞, so that a softmax gives them
# probability zero and the others are renormalised automatically. All work on the last dimension.
#
# * **top-k**: keep logits ≥ the k-th largest (`topk`).
# * **top-p**: sort descending, take the softmax and its cumulative sum; a token is kept when the
#   mass *before* it is still below p. The smallest kept logit is the threshold.
# * **top-nσ**: keep logits ≥ max − n·σ, with σ the standard deviation of the row's logits.
#
# **Exercise.** Write the three.

# %%
def top_k_logits(logits, k):
    """Logits with all but the k largest (per row) set to -inf."""
    # BEGIN SOLUTION
    kth = logits.topk(k, dim=-1)[0][..., -1:]
    return logits.masked_fill(logits < kth, -math.inf)
    # END SOLUTION


def top_p_logits(logits, p):
    """Logits outside the nucleus (smallest top set with probability >= p) set to -inf."""
    # BEGIN SOLUTION
    ordered = logits.sort(dim=-1, descending=True)[0]
    probs = ordered.softmax(-1)
    before = probs.cumsum(-1) - probs
    threshold = ordered.masked_fill(before >= p, math.inf).amin(-1, keepdim=True)
    return logits.masked_fill(logits < threshold, -math.inf)
    # END SOLUTION


def top_nsigma_logits(logits, n):
    """Logits below max - n * std (per row) set to -inf."""
    # BEGIN SOLUTION
    threshold = logits.amax(-1, keepdim=True) - n * logits.std(-1, keepdim=True)
    return logits.masked_fill(logits < threshold, -math.inf)
    # END SOLUTION


# %%
def numpy_truncations(z, k, p, n):
    """Independent references, row by row in numpy."""
    z = np.asarray(z, np.float64)
    out = {name: np.full_like(z, -np.inf) for name in ("k", "p", "n")}
    for r, row in enumerate(z):
        order = np.argsort(-row, kind="stable")
        out["k"][r, order[:k]] = row[order[:k]]
        probs = np.exp(row[order] - row.max())
        probs /= probs.sum()
        size = int(np.searchsorted(np.cumsum(probs), p) + 1)  # first index where the mass reaches p
        out["p"][r, order[:size]] = row[order[:size]]
        keep = row >= row.max() - n * row.std(ddof=1)
        out["n"][r, keep] = row[keep]
    return out


z = ml.randn(6, 30, generator=ml.Generator().manual_seed(0)) * 2
reference = numpy_truncations(z, 5, 0.8, 1.5)
check("top_k_logits", top_k_logits, lambda z, k: ml.tensor(reference["k"].astype(np.float32)), z, 5, grad=False,
      hint="logits.topk(k, dim=-1)[0][..., -1:] is the k-th largest")
check("top_p_logits", top_p_logits, lambda z, p: ml.tensor(reference["p"].astype(np.float32)), z, 0.8, grad=False,
      hint="keep a sorted token while the cumulative probability before it is < p")
check("top_nsigma_logits", top_nsigma_logits, lambda z, n: ml.tensor(reference["n"].astype(np.float32)), z, 1.5,
      grad=False, hint="threshold = amax - n * std, both with keepdim=True")

# %% [markdown]
# ## From scratch 2: sampling
#
# Divide by the temperature, truncate, softmax, draw. `ml.multinomial(probs, 1, generator=g)`
# draws one index per row.
#
# **Exercise.** Write `sample_next`.

# %%
TRUNCATIONS = {"none": lambda z, amount: z, "top-k": top_k_logits, "top-p": top_p_logits,
               "top-nσ": top_nsigma_logits}


def sample_next(logits, temperature=1.0, method="none", amount=None, generator=None):
    """One token index per row of logits (B, V): temperature, then truncation (a key of TRUNCATIONS)."""
    # BEGIN SOLUTION
    scaled = logits / temperature
    return ml.multinomial(TRUNCATIONS[method](scaled, amount).softmax(-1), 1, generator=generator)[:, 0]
    # END SOLUTION


# %%
def sampling_properties():
    g = ml.Generator().manual_seed(0)
    logits = ml.tensor([[2.0, 1.0, 0.0, -1.0, -3.0]]).expand(4000, 5)
    plain = sample_next(logits, generator=g)
    frequencies = np.bincount(plain.numpy(), minlength=5) / 4000
    cold = sample_next(logits, temperature=0.05, generator=g)
    top2 = sample_next(logits, method="top-k", amount=2, generator=g)
    return {"one index per row": tuple(plain.shape) == (4000,),
            "frequencies follow the softmax (within 0.03)":
                bool(np.abs(frequencies - logits[0].softmax(-1).numpy()).max() < 0.03),
            "T -> 0 picks the argmax": bool((cold == 0).all().item()),
            "top-k 2 never samples outside the top 2": bool((top2 <= 1).all().item())}


expect("sample_next", sampling_properties, hint="divide by temperature, truncate, softmax, ml.multinomial(probs, 1)")

# %% [markdown]
# ## A small character model
#
# To have real next-character distributions, we train a model that reads the previous 8
# characters (embedded, concatenated) and predicts the next, on the course corpus, for 600 steps.

# %%
text = ml.data.corpus()
tokenizer = ml.data.CharTokenizer(text)
ids = tokenizer.encode(text)
CONTEXT, vocab = 8, tokenizer.vocab_size
contexts = ids[ml.arange(len(ids) - CONTEXT).reshape(-1, 1) + ml.arange(CONTEXT)]  # (N, 8)
targets = ids[CONTEXT:]

ml.manual_seed(0)
model = nn.Sequential(nn.Embedding(vocab, 16), nn.Flatten(), nn.Linear(16 * CONTEXT, 256), nn.ReLU(),
                      nn.Linear(256, vocab))
opt = ml.optim.Adam(model.parameters(), lr=3e-3)
rng = np.random.default_rng(0)
for _ in progress(range(600), desc="training"):
    idx = ml.tensor(rng.choice(len(targets), 256, replace=False))
    opt.zero_grad()
    F.cross_entropy(model(contexts[idx]), targets[idx]).backward()
    opt.step()
model.eval()


def generate(prompt, n=120, seed=0, **how):
    g = ml.Generator().manual_seed(seed)
    tokens = tokenizer.encode(prompt).tolist()
    with ml.no_grad():
        for _ in range(n):
            tokens.append(int(sample_next(model(ml.tensor([tokens[-CONTEXT:]])), generator=g, **how)[0].item()))
    return tokenizer.decode(tokens)


# %% tags=["nbval-ignore-output"]
for how in ({"temperature": 1.0}, {"temperature": 0.5}, {"temperature": 1.5, "method": "top-nσ", "amount": 1.0}):
    print(how, "->", repr(generate("Humpty D", **how)))

# %% [markdown]
# ## See it
#
# The model's next-character distribution after a prompt, with the temperature and the truncation
# you choose: kept characters are blue and removed ones grey. Below, a continuation sampled that way.

# %%
prompt = "Jack and Jill went up the "
AMOUNT_FOR = {"none": None, "top-k": lambda a: max(1, int(a * 10)), "top-p": lambda a: a, "top-nσ": lambda a: 3 * a}


def draw_sampling(temperature=1.0, method="top-p", amount=0.9):
    with ml.no_grad():
        z = model(ml.tensor([tokenizer.encode(prompt).tolist()[-CONTEXT:]])) / temperature
    setting = None if method == "none" else AMOUNT_FOR[method](amount)
    truncated = TRUNCATIONS[method](z, setting)
    probs, keep = truncated.softmax(-1)[0], ml.isfinite(truncated)[0].numpy()
    order = np.argsort(-z[0].numpy())[:24]
    fig, axes = plt.subplots(2, 1, figsize=(10, 4.6), gridspec_kw={"height_ratios": [3, 1]})
    axes[0].bar(range(24), z[0].softmax(-1).numpy()[order], color="lightgrey", label="before truncation")
    axes[0].bar(range(24), probs.numpy()[order], color=["C0" if keep[i] else "none" for i in order], alpha=0.8,
                label="sampled from")
    axes[0].set_xticks(range(24), [repr(tokenizer.decode([int(i)]))[1:-1] for i in order])
    axes[0].set(ylabel="probability", title=f"after {prompt!r}: T={temperature:.2f}, {method} ({setting})")
    axes[0].legend()
    sampled = generate(prompt, n=60, temperature=temperature, method=method, amount=setting)
    axes[1].text(0, 0.5, sampled.replace("\n", " / "), family="monospace", fontsize=9, va="center")
    axes[1].axis("off")
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_sampling, temperature=FloatSlider(value=1.0, min=0.1, max=3.0, step=0.1),
      method=Dropdown(options=["none", "top-k", "top-p", "top-nσ"], value="top-p"),
      amount=FloatSlider(value=0.9, min=0.1, max=1.0, step=0.05))

# %% [markdown]
# The `amount` slider sets k = 10·amount for top-k, p = amount for top-p and n = 3·amount for top-nσ.

# %% [markdown]
# ## Reproduce the claims
#
# We take the model's logits at 300 positions of the corpus and compare, at temperatures from 0.5
# to 4: the entropy of the distribution, the number of characters each truncation keeps, and
# where 2,000 samples land.

# %%
with ml.no_grad():
    positions = ml.tensor(np.random.default_rng(1).choice(len(targets), 300, replace=False))
    logits = model(contexts[positions])

temperatures = [0.5, 1.0, 2.0, 4.0]
entropy = [-(p * p.clamp(min=1e-12).log()).sum(-1).mean().item() for p in
           ((logits / t).softmax(-1) for t in temperatures)]
kept = {method: [ml.isfinite(fn(logits / t, amount)) for t in temperatures]
        for method, fn, amount in (("top-p", top_p_logits, 0.9), ("top-nσ", top_nsigma_logits, 1.5))}
same_set = {method: all(bool((m == masks[0]).all().item()) for m in masks[1:]) for method, masks in kept.items()}
mean_kept = {method: [m.float().sum(-1).mean().item() for m in masks] for method, masks in kept.items()}

g = ml.Generator().manual_seed(0)
repeated = logits[:1].expand(2000, vocab)
outside = {}
for method, amount in (("top-k", 5), ("top-p", 0.9), ("top-nσ", 1.5)):
    allowed = ml.isfinite(TRUNCATIONS[method](logits[:1], amount))[0]
    draws = sample_next(repeated, method=method, amount=amount, generator=g)
    outside[method] = int((~allowed[draws]).sum().item())

# %% tags=["nbval-ignore-output"]
print("entropy by temperature:", [round(h, 3) for h in entropy])
print("characters kept on average:", {m: [round(v, 1) for v in vals] for m, vals in mean_kept.items()})

# %%
print("entropy grows with temperature:", all(a < b for a, b in zip(entropy, entropy[1:])))
print("no truncated sample falls outside its kept set:", all(v == 0 for v in outside.values()))
print("top-nσ keeps the same set at every temperature:", same_set["top-nσ"])
print("top-p's set changes with temperature (and grows):", not same_set["top-p"] and all(
    a < b for a, b in zip(mean_kept["top-p"], mean_kept["top-p"][1:])))
assert all(a < b for a, b in zip(entropy, entropy[1:])) and all(v == 0 for v in outside.values())
assert same_set["top-nσ"] and not same_set["top-p"]
assert all(a < b for a, b in zip(mean_kept["top-p"], mean_kept["top-p"][1:]))

# %% [markdown]
# ## The GPU version
#
# The truncations use `topk`, `sort`, `cumsum`, `std` and `masked_fill`, all torch methods. On
# torch tensors they must keep exactly the same tokens as on minilib. PyTorch's built-in
# `torch.topk` does top-k directly; for sampling, `torch.multinomial` draws its own random
# numbers, so we check it statistically.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
zt = gpu.to_torch(logits, device)
for name, fn, amount in (("top-k", top_k_logits, 5), ("top-p", top_p_logits, 0.9), ("top-nσ", top_nsigma_logits, 1.5)):
    print(f"{name} keeps the same tokens on torch:",
          gpu.agree(torch.isfinite(fn(zt, amount)), ml.isfinite(fn(logits, amount))))
values, _ = torch.topk(zt, 5, dim=-1)
print("top-k agrees with torch.topk's values:",
      gpu.agree(torch.sort(top_k_logits(zt, 5), descending=True)[0][:, :5], values))
torch.manual_seed(0)
draws = torch.multinomial(top_p_logits(zt[:1], 0.9).softmax(-1).expand(4000, -1), 1)[:, 0]
frequencies = torch.bincount(draws, minlength=vocab).double() / 4000
print("torch.multinomial frequencies match the nucleus probabilities (within 0.03):",
      bool((frequencies.cpu() - top_p_logits(zt[:1], 0.9).softmax(-1)[0].double().cpu()).abs().max() < 0.03))


# %% tags=["nbval-ignore-output"]
def top_p_runner(lib, device=None):
    """top-p over a vocabulary of V for 64 rows, then softmax."""
    return gpu.array_runner(lambda z: top_p_logits(z, 0.9).softmax(-1), lib, lambda v: (64, v), device)


rows = gpu.compare_timings([1000, 4000, 16000], {
    "minilib": (top_p_runner(ml), "cpu"),
    "torch cpu": (top_p_runner(torch, "cpu"), "cpu"),
    f"torch on {device.type}": (top_p_runner(torch, device), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "top-p (sort + cumsum) over 64 rows, by vocabulary size")

# %% [markdown]
# ## Takeaways
#
# * Temperature changes the shape of the distribution. Truncation changes which tokens are
#   allowed at all.
# * Top-k ignores the shape of the distribution; top-p adapts to it, but its kept set moves with the
#   temperature; top-nσ's threshold, max − nσ, scales with the logits, so the kept set stays put.
# * All three are a few tensor operations (`topk`, `sort`/`cumsum`, `std`), and the sort dominates
#   the cost at large vocabularies.
#
# **Questions a teacher might ask**
# 1. Prove that top-nσ's kept set is invariant to temperature. Is it invariant to adding a constant to
#    all logits? Which truncations are?
# 2. At T = 3, which method still produces readable text, and why?
# 3. Finlayson et al. argue that the tail's errors come from the softmax bottleneck (lesson 27). What
#    property of the logits would a truncation need to look at to use that?
# 4. Why does top-p compare the mass *before* each token with p, and not the mass including it?
