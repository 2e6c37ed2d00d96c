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
# The claim we reproduce is BPE-dropout's: a model trained on BPE-dropout segmentations copes far
# better with misspelled input than the same model trained on plain BPE, because training has shown
# it the small subwords a misspelling breaks a word into. We measure it on a small word-recognition
# model; TLM is built and checked here, but its result (beating attention dropout on GLUE-sized
# tasks) is out of reach at this scale and is not claimed.

# %%
import math
import re
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import Dropdown, FloatSlider

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import claim, gpu, panel, progress
from course.dropout import check_bpe_merges, check_masked_attention, check_segment, check_tlm_mask

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
check_bpe_merges(pair_counts, merge_pair)


# %% [markdown]
# ## From scratch 2: segmenting a word, with merge-dropout
#
# To segment a word, start from its characters and repeatedly apply the applicable merge with the
# best (lowest) rank, until none applies. BPE-dropout changes one thing: at every round, each
# applicable merge is dropped with probability p before the best is chosen, with a fresh draw for
# every pair at every round. With p = 0 this must be exactly BPE. With p = 1 nothing is merged, and
# the word stays as characters. The random draws come from `rng`, a numpy `Generator`, so that a
# seed reproduces the segmentations.
#
# **Exercise.** Write `segment`.

# %%
def segment(word, ranks, p=0.0, rng=None):
    """BPE(-dropout) segmentation of `word`; ranks: {pair: merge index}. Returns a tuple of tokens."""
    if p > 0 and rng is None:
        raise ValueError("segment: p > 0 needs rng, a numpy Generator such as np.random.default_rng(0)")
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
check_segment(segment)


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
# `masked_attention`, scaled dot-product attention in which a disallowed pair gets no weight at all.

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
check_tlm_mask(tlm_mask)
check_masked_attention(masked_attention)

# %% [markdown]
# ## See it
#
# We learn 300 merges from the words of the course corpus (nursery rhymes, lower-cased, 354
# distinct words).

# %%
corpus_words = Counter(re.findall("[a-z']+", ml.data.corpus().lower()))
vocabulary = sorted(corpus_words)
merges = learn_bpe(corpus_words, 300)
ranks = {pair: i for i, pair in enumerate(merges)}
print(f"{len(vocabulary)} distinct words, {len(merges)} merges")

# %% [markdown]
# Left: a line of the corpus segmented with merge-dropout rate p (a new draw for each line shown).
# Right: the attention weights over its tokens, for random queries and keys, under TLM with the chosen
# rate and mode. Chosen tokens are marked in red: in siblings mode their rows and columns go dark
# except the diagonal; in self mode only their diagonal entry does.

# %%
line = "humpty dumpty sat on a wall"


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
    q, k = ml.randn(len(toks), 8, generator=g), ml.randn(len(toks), 8, generator=g)
    w = masked_attention(q, k, ml.eye(len(toks)), tlm_mask(chosen, mode))  # v = identity returns the weights
    axes[1].imshow(w, cmap="viridis", vmin=0, vmax=1)
    labels = [t.replace(END, "_") for t in toks]
    axes[1].set_xticks(range(len(toks)), labels, rotation=90, fontsize=7)
    axes[1].set_yticks(range(len(toks)), labels, fontsize=7)
    for i in np.nonzero(np.asarray(chosen))[0]:
        axes[1].get_xticklabels()[i].set_color("red")
        axes[1].get_yticklabels()[i].set_color("red")
    axes[1].set(title=f"TLM ({mode}), {int(chosen.sum().item())} tokens chosen", xlabel="key", ylabel="query")
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_token_dropout, p=FloatSlider(value=0.1, min=0.0, max=0.9, step=0.05),
      tlm_rate=FloatSlider(value=0.2, min=0.0, max=0.6, step=0.05),
      mode=Dropdown(options=["siblings", "self"], value="siblings"))

# %% [markdown]
# ## Reproduce the claim: recognising misspelled words
#
# Provilkov et al. train translation models on clean text and test them on text with misspellings.
# With plain BPE, a frequent word is one token, and a misspelling breaks it into small subwords the
# model has never seen as tokens; with BPE-dropout, training has shown those subwords, inside the
# correct words. Models trained with BPE-dropout lose much less on misspelled input.
#
# Our stand-in for translation: recognise a word from its subwords. A bag-of-subwords model (an
# N(0, 1)-initialised embedding table like `nn.Embedding`, averaged over a word's tokens, and a linear
# layer) learns to name each of the 354 corpus words, trained full-batch on every word at every step.
# With BPE-dropout every step sees a fresh segmentation; at test time both models get plain BPE, as in
# the paper. The test: each word of 4+ letters misspelled 4 times by one random edit (a letter
# substituted, inserted, deleted, or two letters swapped), misspellings that are themselves corpus words
# left out. Each seed draws its own misspellings, initial weights and dropout draws; both models of a
# seed start from the same weights and meet the same misspellings.
#
# The control (in `course.toml`): `P_DROPOUT = 0.0` and the second model started from other weights, a
# placebo. Any difference there is the noise of the initial weights, and the claim must fail.

# %% tags=["parameters"]
SEEDS = [0, 1, 2, 3, 4]  # each seed: its own misspellings, initial weights and dropout draws
P_DROPOUT = 0.1  # the paper's merge-dropout rate; 0.0 switches BPE-dropout off
SAME_INIT = True  # both models start from the same weights; False starts the second from other ones
STEPS = 200

# %%
LETTERS = "abcdefghijklmnopqrstuvwxyz"
symbols = sorted({c for w in vocabulary for c in w} | {END} | {a + b for a, b in merges})
token_id = {s: i for i, s in enumerate(symbols)}


def misspell(word, rng):
    """`word` with one random edit: a letter substituted, inserted or deleted, or two neighbours swapped."""
    i, kind, c = int(rng.integers(len(word))), int(rng.integers(4)), LETTERS[rng.integers(26)]
    if kind == 0:
        return word[:i] + c + word[i + 1:]
    if kind == 1:
        return word[:i] + c + word[i:]
    if kind == 2:
        return word[:i] + word[i + 1:]
    j = min(i, len(word) - 2)
    return word[:j] + word[j + 1] + word[j] + word[j + 2:]


def misspelled_test_set(seed, per_word=4):
    """(misspelled words, index of the word meant) for every corpus word of 4+ letters."""
    rng = np.random.default_rng(seed)
    pairs = [(m, i) for i, w in enumerate(vocabulary) if len(w) >= 4
             for m in (misspell(w, rng) for _ in range(per_word)) if m not in corpus_words]
    return [m for m, _ in pairs], ml.tensor(np.array([i for _, i in pairs]))


def bags(segmentations):
    """(N, V) float32: row r holds each token's share of segmentation r (its rows of the table get averaged)."""
    x = np.zeros((len(segmentations), len(symbols)), np.float32)
    for r, toks in enumerate(segmentations):
        np.add.at(x[r], [token_id[t] for t in toks], 1.0)
    return ml.tensor(x / x.sum(1, keepdims=True))


class BagOfSubwords(nn.Module):
    def __init__(self, n_words, dim=32):
        super().__init__()
        self.embedding = nn.Embedding(len(symbols), dim)
        self.out = nn.Linear(dim, n_words)

    def forward(self, bag):
        """bag (N, V) -> logits (N, n_words): the mean embedding of a word's tokens, then a linear layer."""
        return self.out(bag @ self.embedding.weight)


def accuracy(model, bag, target):
    with ml.no_grad():
        return (model(bag).argmax(1) == target).float().mean().item()


def train(p, init_seed, rng, test):
    """Train on every corpus word for STEPS full-batch Adam steps, segmented with merge-dropout rate p.
    Returns (clean accuracy, misspelled accuracy, curve of misspelled accuracy, and for each word the set of
    tokens it was trained with)."""
    ml.manual_seed(init_seed)
    model = BagOfSubwords(len(vocabulary))
    opt = ml.optim.Adam(model.parameters(), lr=1e-2)
    target = ml.tensor(np.arange(len(vocabulary)))
    plain = [segment(w, ranks) for w in vocabulary]
    seen, curve, bag = [set(toks) for toks in plain], [], bags(plain)
    for step in range(1, STEPS + 1):
        if p > 0:
            segmentations = [segment(w, ranks, p, rng) for w in vocabulary]
            for tokens, toks in zip(seen, segmentations):
                tokens.update(toks)
            bag = bags(segmentations)
        opt.zero_grad()
        F.cross_entropy(model(bag), target).backward()
        opt.step()
        if step % 20 == 0:
            curve.append(accuracy(model, *test))
    return accuracy(model, bags(plain), target), curve[-1], curve, seen


results = {}
for seed in progress(SEEDS, desc="seeds, two trainings each"):
    words, meant = misspelled_test_set(seed)
    test = (bags([segment(w, ranks) for w in words]), meant)
    results[seed] = {"BPE": train(0.0, seed, None, test),
                     "BPE-dropout": train(P_DROPOUT, seed if SAME_INIT else seed + 1000,
                                          np.random.default_rng(seed + 1), test),
                     "test": (words, meant.tolist())}


def final(name, column):
    """Per seed: column 0 clean accuracy, 1 accuracy on misspelled words, 2 its curve, 3 tokens seen per word."""
    return [results[seed][name][column] for seed in SEEDS]


# %% [markdown]
# Both models name every clean word correctly (they were trained on all of them):

# %%
for name in ("BPE", "BPE-dropout"):
    print(f"{name}: clean accuracy, lowest over seeds {min(final(name, 0)):.3f}; "
          f"accuracy on misspelled words, mean over seeds {np.mean(final(name, 1)):.3f}")

# %% [markdown]
# The claim: on misspelled words, the model trained with BPE-dropout (p = 0.1) is right more often
# than the one trained on plain BPE, by at least 15 points on average and by more than 10 on every
# seed. Where do the bounds come from? We ran the placebo (both models on plain BPE, the second from
# other initial weights) on 15 seeds: the per-seed differences had a standard deviation of 2 points
# and never exceeded 4.2, and their mean was +0.0. A 10-point bound per seed is five of those standard
# deviations; 15 points on the mean of five seeds is over fifteen times the placebo's standard error
# (2 / √5 ≈ 0.9 points).

# %%
_ = claim("BPE-dropout makes a word model more robust to misspellings", SEEDS,
          technique=final("BPE-dropout", 1), baseline=final("BPE", 1), each_above=0.10, mean_at_least=0.15,
          names=("BPE-dropout", "BPE"))


# %% [markdown]
# Why it works. A misspelling keeps most of the word's letters, but plain BPE cuts it into other
# tokens than the word's own: small subwords that, in plain BPE training, only ever stood for other
# words. Count, for each misspelled test word, the share of its tokens that the model met *in the
# word meant* during training:

# %%
def met_in_the_word(name):
    """Per seed: the mean share of a misspelling's BPE tokens that training showed inside the word meant."""
    shares = []
    for seed in SEEDS:
        words, meant = results[seed]["test"]
        seen = results[seed][name][3]
        shares.append(np.mean([np.mean([t in seen[i] for t in segment(w, ranks)]) for w, i in zip(words, meant)]))
    return shares


for name in ("BPE", "BPE-dropout"):
    share = np.mean(met_in_the_word(name))
    print(f"trained on {name}: {share:.0%} of a misspelling's tokens were met in the word meant")

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, color in (("BPE", "C0"), ("BPE-dropout", "C1")):
    for seed in SEEDS:
        curve = results[seed][name][2]
        ax.plot(range(20, 20 * len(curve) + 1, 20), curve, color=color, alpha=0.6,
                label=name if seed == SEEDS[0] else None)
ax.set(xlabel="training step", ylabel="accuracy on misspelled words", ylim=(0, 1),
       title=f"one line per seed, p = {P_DROPOUT}")
ax.legend()
fig.tight_layout()

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


runners = {"yours, minilib": (attention_runner(ml), "cpu"),
           "yours, torch cpu": (attention_runner(torch, "cpu"), "cpu"),
           "torch sdpa cpu": (attention_runner(torch, "cpu", fused=True), "cpu")}
if device.type != "cpu":
    runners[f"yours, {device.type}"] = (attention_runner(torch, device), device)
    runners[f"torch sdpa {device.type}"] = (attention_runner(torch, device, fused=True), device)
rows = gpu.compare_timings([32, 128, 512], runners)
print(gpu.format_timings(rows, size="tokens T"))
_ = gpu.plot_timings(rows, "TLM-masked attention forward, (8, 4, T, 32)")

# %% [markdown]
# ## Takeaways
#
# * BPE is a list of merges applied greedily by rank. Dropping merges at random gives segmentations
#   that are still made of vocabulary tokens, just finer, and p = 0 gives back plain BPE.
# * Trained on plain BPE, our word model recognised 34% of misspelled words on average; trained on
#   BPE-dropout (p = 0.1), 57%, better by 20 to 25 points on every seed, while both named every clean
#   word. The mechanism shows in the token counts: of a misspelling's BPE tokens, BPE-dropout training
#   had shown 79% inside the word meant, plain BPE training only 40%. The model never saw a
#   misspelling; it saw the word's small pieces.
# * The placebo (plain BPE twice, the second from other initial weights, 15 seeds) moved the result by
#   at most 4 points and by 0 on average: the 20-point gain comes from the segmentations, not from the
#   luck of the draw.
# * TLM is dropout on attention *connections* chosen by token. It is cheap: a boolean mask that
#   PyTorch's fused attention accepts. Its paper's gains over attention dropout are fractions of a
#   point on large benchmarks, which this lesson does not try to measure.
#
# **Questions a teacher might ask**
# 1. Run `make claims dropout/17`. Under the control (p = 0, second model from other weights), what
#    does the table show, and why would a claim that passed there be worthless?
# 2. Would fewer merges (finer plain BPE) be just as robust to misspellings? What would it cost the
#    model on clean words and on sequence length? Try `learn_bpe(corpus_words, 100)`, and go all the way
#    to characters (p = 1 in training and at test): why can a bag of characters not tell some words apart?
# 3. Is it BPE-dropout in particular, or any way of showing the model a word's smaller pieces? Try
#    cutting each training word at a random point and segmenting the two halves with plain BPE.
# 4. The model never sees a misspelling in training. Where does its robustness come from, and which
#    kinds of edit (substitution, insertion, deletion, swap) should it handle best?
# 5. How would you apply BPE-dropout only during training, and what would go wrong if you kept it at
#    test time?
# 6. Siblings-masking leaves a chosen token attending only to itself. Compare that with dropping the
#    token from the input altogether, and with attention dropout, which drops single entries of the
#    attention matrix.
