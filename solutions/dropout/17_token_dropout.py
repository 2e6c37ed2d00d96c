# %% [markdown]
# # 17 · Token-level dropout: BPE-dropout and token-level masking
#
# **The idea.** Dropout need not act on numbers. *BPE-dropout* acts on the tokenizer: byte-pair
# encoding builds words from characters by applying learned merges, and BPE-dropout skips each
# applicable merge with probability p. The same word then reaches the model as different
# segmentations, and the model learns how words are composed. *Token-level masking* (TLM) acts
# on attention: for randomly chosen tokens it cuts their connections in the attention matrix,
# so the other tokens must build their representations from partial context.
#
# *Papers:* I. Provilkov, D. Emelianenko, E. Voita, **"BPE-Dropout: Simple and Effective Subword
# Regularization"**, ACL 2020 (arXiv:1910.13267); Y. Wu, K. Fang, D. Zhang, H. Wang, H. Zhang,
# G. Chen, **"TLM: Token-Level Masking for Transformers"**, EMNLP 2023 (arXiv:2310.18738).
#
# The claims we reproduce: with p = 0 BPE-dropout is exactly BPE, and with p > 0 the same word gets
# several segmentations, more tokens on average as p grows. TLM's masked tokens receive zero
# attention while every row of attention still sums to one.

# %%
import math
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import Dropdown, FloatSlider

import minilib as ml
import minilib.nn.functional as F
from course import check, expect, gpu, panel

_ = ml.manual_seed(0)

END = "</w>"  # marks the end of a word, so "st" inside a word and "st" ending one are different tokens


# %% [markdown]
# ## From scratch 1: learning BPE merges
#
# Start with every word as a tuple of characters plus `</w>`. Count every adjacent pair of symbols,
# weighted by how often the word occurs. Merge the most frequent pair everywhere into one symbol
# and record it. Repeat n times. Ties are broken by the smaller pair in Python's ordering, so the
# result is the same on every machine.
#
# **Exercise.** Write `pair_counts` and `merge_pair`. `learn_bpe` (given) repeats them.

# %%
def pair_counts(words):
    """words: {tuple of symbols: count} -> Counter {(left, right): weighted count of that adjacent pair}."""
    # BEGIN SOLUTION
    counts = Counter()
    for symbols, n in words.items():
        for pair in zip(symbols, symbols[1:]):
            counts[pair] += n
    return counts
    # END SOLUTION


def merge_pair(symbols, pair):
    """Replace every occurrence of `pair` in the tuple `symbols` (left to right) by the joined symbol."""
    # BEGIN SOLUTION
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)
    # END SOLUTION


def learn_bpe(word_counts, n_merges):
    """The first `n_merges` BPE merges (a list of pairs, in order) for {word: count}."""
    words = {tuple(w) + (END,): n for w, n in word_counts.items()}
    merges = []
    for _ in range(n_merges):
        counts = pair_counts(words)
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        words = {merge_pair(symbols, best): n for symbols, n in words.items()}
    return merges


# %%
def learn_bpe_with_strings(word_counts, n_merges):
    """An independent reference: words as space-separated strings, merges by string replacement."""
    words = {" ".join(list(w) + [END]): n for w, n in word_counts.items()}
    merges = []
    for _ in range(n_merges):
        counts = Counter()
        for w, n in words.items():
            s = w.split(" ")
            for a, b in zip(s, s[1:]):
                counts[a, b] += n
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        new = {}
        for w, n in words.items():
            s, out, i = w.split(" "), [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out, i = out + [s[i] + s[i + 1]], i + 2
                else:
                    out, i = out + [s[i]], i + 1
            new[" ".join(out)] = n
        words = new
    return merges


toy = {"low": 5, "lower": 2, "newest": 6, "widest": 3}
expect("pair_counts and merge_pair", lambda: {
    "pair counts weighted by word frequency": pair_counts({("a", "b", "a", "b"): 3})[("a", "b")] == 6,
    "merges left to right without overlap": merge_pair(("a", "a", "a"), ("a", "a")) == ("aa", "a"),
    "the same 10 merges as the reference on Sennrich's toy vocabulary":
        learn_bpe(toy, 10) == learn_bpe_with_strings(toy, 10),
    "...whose first merges are e+s, es+t, est+</w>": learn_bpe(toy, 3) == [("e", "s"), ("es", "t"), ("est", END)]},
    hint="count with zip(symbols, symbols[1:]); in merge_pair skip two symbols after a merge")


# %% [markdown]
# ## From scratch 2: segmenting a word, with merge-dropout
#
# To segment a word, start from its characters and repeatedly apply the applicable merge with the
# best (lowest) rank, until none applies. BPE-dropout changes one thing: at every round, each
# applicable merge is dropped with probability p before the best is chosen. With p = 0 this must
# be exactly BPE. With p = 1 nothing is merged, and the word stays as characters.
#
# **Exercise.** Write `segment`.

# %%
def segment(word, ranks, p=0.0, rng=None):
    """BPE(-dropout) segmentation of `word`; ranks: {pair: merge index}. Returns a tuple of tokens."""
    symbols = tuple(word) + (END,)
    # BEGIN SOLUTION
    while True:
        candidates = [(ranks[pair], i) for i, pair in enumerate(zip(symbols, symbols[1:]))
                      if pair in ranks and (p == 0 or rng.random() >= p)]
        if not candidates:
            return symbols
        _, i = min(candidates)
        symbols = symbols[:i] + (symbols[i] + symbols[i + 1],) + symbols[i + 2:]
    # END SOLUTION


# %%
def apply_merges_in_order(word, merges):
    """Classic BPE encoding: apply each merge, in the order learned, to the whole word."""
    symbols = tuple(word) + (END,)
    for pair in merges:
        symbols = merge_pair(symbols, pair)
    return symbols


toy_merges = learn_bpe(toy, 10)
toy_ranks = {pair: i for i, pair in enumerate(toy_merges)}
rng = np.random.default_rng(0)
expect("segment", lambda: {
    "p = 0 gives classic BPE on every toy word and 'lowest'":
        all(segment(w, toy_ranks) == apply_merges_in_order(w, toy_merges) for w in [*toy, "lowest"]),
    "p = 1 leaves the characters": segment("newest", toy_ranks, 1.0, rng) == tuple("newest") + (END,),
    "p = 0.5 gives more than one segmentation of 'newest'":
        len({segment("newest", toy_ranks, 0.5, rng) for _ in range(50)}) > 1},
    hint="collect (rank, position) of every applicable pair that survives dropout; merge the minimum")


# %% [markdown]
# ## From scratch 3: token-level masking of attention
#
# Attention takes a boolean mask `allowed` (T, T): query i may attend to key j where it is True.
# TLM picks tokens at random and, as we read the paper, cuts their connections in one of two ways:
#
# * **siblings**: a chosen token j and the other tokens ignore each other: `allowed[i, j]` and
#   `allowed[j, i]` are False for every i ≠ j, so j keeps only itself;
# * **self**: a chosen token j cannot attend to itself, `allowed[j, j] = False`, so its
#   representation comes entirely from the others.
#
# **Exercise.** Write `tlm_mask(chosen, mode)` for a (T,) bool tensor of chosen tokens, and
# `masked_attention`, which sets disallowed scores to −∞ before the softmax.

# %%
def tlm_mask(chosen, mode="siblings"):
    """(T, T) bool mask, True where attention is allowed, for chosen (T,) bool tokens."""
    t = chosen.shape[0]
    eye = ml.eye(t).bool() if isinstance(chosen, ml.Tensor) else torch.eye(t, dtype=torch.bool, device=chosen.device)
    # BEGIN SOLUTION
    if mode == "siblings":
        touches_chosen = chosen.reshape(t, 1) | chosen.reshape(1, t)
        return ~touches_chosen | eye
    if mode == "self":
        return ~(eye & chosen.reshape(t, 1))
    raise ValueError(f"tlm_mask: mode must be 'siblings' or 'self', got {mode!r}")
    # END SOLUTION


def masked_attention(q, k, v, allowed):
    """softmax(q k^T / sqrt(d), disallowed = -inf) v for q, k, v (..., T, d) and allowed (T, T)."""
    # BEGIN SOLUTION
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v
    # END SOLUTION


# %%
def tlm_reference(chosen, mode):
    c, t = np.asarray(chosen), len(chosen)
    allowed = np.ones((t, t), bool)
    for j in np.nonzero(c)[0]:
        if mode == "siblings":
            allowed[:, j] = allowed[j, :] = False
            allowed[j, j] = True
        else:
            allowed[j, j] = False
    return ml.tensor(allowed)


picked = ml.tensor([False, True, False, False, True, False])
check("tlm_mask (siblings)", tlm_mask, tlm_reference, picked, "siblings", grad=False,
      hint="a pair (i, j) is cut when either is chosen, except i == j")
check("tlm_mask (self)", tlm_mask, tlm_reference, picked, "self", grad=False)
allowed_demo = tlm_mask(picked, "siblings")
check("masked_attention", lambda q, k, v: masked_attention(q, k, v, allowed_demo),
      lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=allowed_demo), (2, 6, 4), (2, 6, 4), (2, 6, 4),
      hint="scores.masked_fill(~allowed, float('-inf')) before the softmax")

# %% [markdown]
# ## See it
#
# We learn 300 merges from the words of the course corpus.

# %%
corpus_words = Counter(ml.data.corpus().split())
merges = learn_bpe(corpus_words, 300)
ranks = {pair: i for i, pair in enumerate(merges)}

# %% [markdown]
# Left: a line of the corpus segmented with merge-dropout rate p (a new draw for each line shown).
# Right: the attention weights over its tokens under TLM with the chosen rate and mode. Chosen
# tokens are marked in red.

# %%
line = "Humpty Dumpty sat on a wall"


def draw_token_dropout(p=0.1, tlm_rate=0.2, mode="siblings"):
    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1.2, 1]})
    draws = [[t for w in line.split() for t in segment(w, ranks, p, rng)] for _ in range(6)]
    for row, toks in enumerate(draws):
        axes[0].text(0.01, 0.92 - row * 0.16, " | ".join(t.replace(END, "_") for t in toks), family="monospace",
                     fontsize=9, transform=axes[0].transAxes)
    axes[0].set_title(f"six BPE-dropout draws, p={p:.2f} (_ ends a word)")
    axes[0].axis("off")
    toks = draws[0]
    g = ml.Generator().manual_seed(1)
    chosen = ml.rand(len(toks), generator=g) < tlm_rate
    qk = ml.randn(len(toks), 8, generator=g)
    w = masked_attention(qk, qk, ml.eye(len(toks)), tlm_mask(chosen, mode))
    axes[1].imshow(w, cmap="viridis", vmin=0, vmax=1)
    labels = [t.replace(END, "_") for t in toks]
    axes[1].set_xticks(range(len(toks)), labels, rotation=90, fontsize=7)
    axes[1].set_yticks(range(len(toks)), labels, fontsize=7)
    for i in np.nonzero(np.asarray(chosen))[0]:
        axes[1].get_xticklabels()[i].set_color("red")
        axes[1].get_yticklabels()[i].set_color("red")
    axes[1].set_title(f"TLM ({mode}), {int(chosen.sum().item())} tokens chosen")
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_token_dropout, p=FloatSlider(value=0.1, min=0.0, max=0.9, step=0.05),
      tlm_rate=FloatSlider(value=0.2, min=0.0, max=0.6, step=0.05),
      mode=Dropdown(options=["siblings", "self"], value="siblings"))

# %% [markdown]
# ## Reproduce the claims
#
# We segment every distinct word of the corpus with the 300 merges learned above, with and without
# merge-dropout.

# %%
vocabulary = sorted(corpus_words)

same_as_bpe = all(segment(w, ranks) == apply_merges_in_order(w, merges) for w in vocabulary)
rng = np.random.default_rng(0)
long_words = [w for w in vocabulary if len(w) >= 5]
several = np.mean([len({segment(w, ranks, 0.1, rng) for _ in range(20)}) > 1 for w in long_words])
tokens_per_word = {p: np.mean([len(segment(w, ranks, p, rng)) for w in vocabulary for _ in range(5)])
                   for p in (0.0, 0.1, 0.3, 0.6)}
print("p = 0 is exactly BPE on every corpus word:", same_as_bpe)
print("with p = 0.1, most words of 5+ letters get several segmentations:", several > 0.5)
print("tokens per word grow with p:", all(a < b for a, b in zip(list(tokens_per_word.values()),
                                                                  list(tokens_per_word.values())[1:])))
assert same_as_bpe and several > 0.5
assert all(a < b for a, b in zip(list(tokens_per_word.values()), list(tokens_per_word.values())[1:]))

# %% tags=["nbval-ignore-output"]
print(f"{several:.0%} of {len(long_words)} long words get several segmentations at p = 0.1")
print({p: round(float(n), 2) for p, n in tokens_per_word.items()})

# %% [markdown]
# **TLM: masked tokens receive no attention, and every row still sums to one.** We draw a TLM mask
# over 24 tokens with 15% chosen, and look at the attention weights of random queries and keys.

# %%
gen = ml.Generator().manual_seed(0)
chosen = ml.rand(24, generator=gen) < 0.15
q, k = ml.randn(24, 8, generator=gen), ml.randn(24, 8, generator=gen)
weights = masked_attention(q, k, ml.eye(24), tlm_mask(chosen, "siblings"))  # v = identity returns the weights
others = ~chosen.reshape(24, 1) & ~ml.eye(24).bool()
print("some tokens are chosen:", chosen.any().item())
print("siblings: no other token attends to a chosen one:", (weights[:, chosen][others[:, chosen]] == 0).all().item())
print("every row of attention sums to one:", gpu.agree(weights.sum(-1), ml.ones(24)))
self_weights = masked_attention(q, k, ml.eye(24), tlm_mask(chosen, "self"))
print("self: a chosen token gives itself zero weight:", (self_weights.diagonal()[chosen] == 0).all().item())
assert chosen.any().item() and (weights[:, chosen][others[:, chosen]] == 0).all().item()
assert gpu.agree(weights.sum(-1), ml.ones(24)) and (self_weights.diagonal()[chosen] == 0).all().item()

# %% [markdown]
# ## The GPU version
#
# Tokenizing is string work and stays on the CPU. Attention is where the GPU matters:
# `tlm_mask` and `masked_attention` run on torch tensors unchanged, and must agree with PyTorch's
# fused `torch.nn.functional.scaled_dot_product_attention` given the same boolean mask.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
rng = np.random.default_rng(0)
q_np, k_np, v_np = (rng.standard_normal((4, 32, 16)).astype(np.float32) for _ in range(3))
chosen_np = rng.random(32) < 0.15
qt, kt, vt, chosen_t = (gpu.to_torch(a, device) for a in (q_np, k_np, v_np, chosen_np))
mask_t = tlm_mask(chosen_t, "siblings")
print("tlm_mask on torch agrees with minilib's:", gpu.agree(mask_t, tlm_mask(ml.tensor(chosen_np), "siblings")))
print("masked_attention on torch agrees with torch's sdpa:",
      gpu.agree(masked_attention(qt, kt, vt, mask_t),
                torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, attn_mask=mask_t), atol=1e-5))
print("...and with minilib:", gpu.agree(masked_attention(qt, kt, vt, mask_t),
                                        masked_attention(ml.tensor(q_np), ml.tensor(k_np), ml.tensor(v_np),
                                                         tlm_mask(ml.tensor(chosen_np), "siblings")), atol=1e-5))


# %% tags=["nbval-ignore-output"]
def attention_runner(lib, device=None, fused=False):
    """TLM-masked attention for 8 sequences, 4 heads of 32 dims, over T tokens."""
    def make(t):
        rng = np.random.default_rng(0)
        arrays = [rng.standard_normal((8, 4, t, 32)).astype(np.float32) for _ in range(3)]
        chosen = rng.random(t) < 0.15
        if lib is ml:
            q, k, v = (ml.tensor(a) for a in arrays)
            allowed = tlm_mask(ml.tensor(chosen))
        else:
            q, k, v = (gpu.to_torch(a, device) for a in arrays)
            allowed = tlm_mask(gpu.to_torch(chosen, device))
        if fused:
            return lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        return lambda: masked_attention(q, k, v, allowed)

    return make


rows = gpu.compare_timings([32, 128, 512], {
    "yours, minilib": (attention_runner(ml), "cpu"),
    "yours, torch cpu": (attention_runner(torch, "cpu"), "cpu"),
    f"yours, torch on {device.type}": (attention_runner(torch, device), device),
    f"torch sdpa on {device.type}": (attention_runner(torch, device, fused=True), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "TLM-masked attention forward, by sequence length")

# %% [markdown]
# ## Takeaways
#
# * BPE is a list of merges applied greedily by rank. Dropping merges at random gives
#   segmentations that are still valid, just finer, and p = 0 gives back plain BPE.
# * Seeing a word in many segmentations teaches a model what subwords mean, which is the
#   regularisation BPE-dropout provides (at test time, use p = 0).
# * TLM is dropout on attention *connections* chosen by token. It is cheap: a boolean mask that
#   PyTorch's fused attention accepts.
#
# **Questions a teacher might ask**
# 1. Why must the segmentation with p > 0 still consist only of tokens in the vocabulary? Check it
#    on the corpus.
# 2. How would you apply BPE-dropout only during training, and what would go wrong if you kept it at
#    test time?
# 3. Siblings-masking leaves a chosen token attending only to itself. Compare that with dropping the
#    token from the input altogether.
# 4. Attention dropout drops single entries of the attention matrix. How is TLM's noise different in
#    structure?
