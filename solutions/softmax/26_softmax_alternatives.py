# %% [markdown]
# # 26 · Softmax alternatives: the Z-loss, softpick and the attention sink
#
# **The idea.** Softmax weights always sum to one. In attention, that means a query that finds nothing
# relevant must still put its weight *somewhere*. Xiao et al. found that language models dump it on the
# first tokens, whatever they say: an *attention sink*, which StreamingLLM keeps in the cache for that
# reason; Gu et al. trace when and why the sink emerges during training. *Softpick* (Zuhri et al.)
# replaces softmax by ReLU(eˣ − 1)/Σ|eˣ − 1|: scores at or below 0 get weight exactly 0, the weights may
# sum to less than one, so a head can abstain, and the authors report that the sink disappears.
#
# A second way to change what the softmax normalises: the *Z-loss* of de Brébisson & Vincent
# standardises the logits (subtract their mean, divide by their standard deviation) before a softplus, so
# the loss ignores any shift and positive scale of the logits. It is not the "z-loss" of PaLM
# (Chowdhery et al., 2022, arXiv:2204.02311) and ST-MoE (Zoph et al., 2022, arXiv:2202.08906): that one is
# an *auxiliary* term, 10⁻⁴ · (log Z)² with Z = Σ eᵒ, added to cross-entropy to keep the softmax's
# normaliser near 1 for numerical stability; it leaves the classification loss itself alone.
#
# *Papers:* G. Xiao, Y. Tian, B. Chen, S. Han, M. Lewis, **"Efficient Streaming Language Models with
# Attention Sinks"**, ICLR 2024 (arXiv:2309.17453); X. Gu, T. Pang, C. Du, Q. Liu, F. Zhang, C. Du, Y. Wang,
# M. Lin, **"When Attention Sink Emerges in Language Models: An Empirical View"**, ICLR 2025
# (arXiv:2410.10781); Z. M. K. Zuhri, E. H. Fuadi, A. F. Aji, **"Softpick: No Attention Sink, No Massive
# Activations with Rectified Softmax"**, 2025 (arXiv:2504.20966); A. de Brébisson, P. Vincent, **"The
# Z-loss: a shift and scale invariant classification loss belonging to the Spherical Family"**, 2016
# (arXiv:1604.08859).
#
# The claim we reproduce, on a one-layer attention model that learns to say whether a query token occurs
# in a sequence: with softmax, queries whose token is absent put far more attention on the start token
# than queries whose token is present (a sink). The same model with softpick puts less on it on most
# seeds, but not reliably at this scale: the lesson shows that and does not claim it. The
# Z-loss's invariance holds by construction, so the lesson checks it in your code; against cross-entropy
# the lesson shows it, and claims nothing.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import FloatSlider

import minilib as ml
import minilib.nn.functional as F
from course import claim, gpu, panel, progress
from course.softmax import check_softpick, check_z_loss

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: the Z-loss
#
# With μ and σ the mean and (population) standard deviation of the logits o over the classes,
# z_c = (o_c − μ)/σ and
#
# $$L_Z(o, c) = \frac1a \log\big(1 + e^{a (b - z_c)}\big).$$
#
# a sets the sharpness and b the z-score the true class should reach (defaults here a = 1, b = 3). The
# loss depends on the logits only through z, which no shift and no positive scale of the logits changes.
#
# **Exercise.** Write `z_loss(logits, y, a, b)`, averaged over the batch.

# %%
def z_loss(logits, y, a=1.0, b=3.0):
    """Mean over the batch of softplus(a * (b - z_y)) / a, z = logits (B, K) standardised over K; y (B,)."""
    # BEGIN SOLUTION
    mu = logits.mean(-1, keepdim=True)
    sigma = ((logits - mu) ** 2).mean(-1, keepdim=True).sqrt()
    z_y = ((logits - mu) / sigma).gather(-1, y.reshape(-1, 1))
    return ((a * (b - z_y)).exp().log1p() / a).mean()
    # END SOLUTION


# %%
check_z_loss(z_loss)


# %% [markdown]
# ## From scratch 2: softpick
#
# softpick(x)_i = ReLU(e^{x_i} − 1) / (Σ_j |e^{x_j} − 1| + ε). Scores at or below 0 get exactly zero
# weight, and if every score is ≤ 0, the whole row is zero. Note the denominator: a negative score still
# counts there, so it still gets a gradient as long as some score in its row is positive. For numerical
# safety, multiply the numerator and the denominator by e^{−m} with m = max(0, max_j x_j):
# e^{x−m} − e^{−m} never overflows.
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
check_softpick(softpick)


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
# ## Reproduce the claim: a sink under softmax
#
# **The task.** A sequence is a start token followed by 3 distinct content tokens out of 16; a query
# names one content token k, and the model must say whether k occurs in the sequence (half the queries:
# yes). **The model**, one attention layer: token embeddings (a query is the embedding of k plus a
# learned "query" vector), one head whose query reads the query token and whose keys and values read the
# start and content tokens, then the usual residual and a small MLP (one hidden layer of 128) before a
# 2-way classifier. Queries and keys share one projection (as in Kitaev et al.'s Reformer), so a token's
# query and its own key score high from the start; in our trials with two separate projections, some
# query tokens never learned to find their match: their weight had all gone to the start token, where the
# match's score gets almost no gradient. The start token has a key, so it can be attended to, but its
# value is zero: attending to it adds nothing, much as Gu et al. find for the sink tokens of trained
# language models (small values: the sink stores attention, not information). A present query can attend
# to its token; an absent one has nothing to find.
#
# Each arm trains one model per seed (all seeds at once, stacked along a first axis) with Adam on the same
# kind of batches; the softpick arm draws other initial weights than the softmax arm. The knobs sit in
# the next cell. The control, `BASELINE = "softpick"`, puts softpick in the softmax arm too: both arms are
# then softpick models that differ only in their initial weights, and the claim below must fail.

# %% tags=["parameters"]
SEEDS = list(range(12))  # one model per seed and arm: its own initial weights and its own batches
BASELINE = "softmax"  # the arm whose sink we measure; "softpick" (the control) puts softpick there too
STEPS = 1500  # Adam steps per arm
CONTENT, LENGTH, WIDTH = 16, 3, 32  # content tokens, tokens per sequence, model width

# %%
START, QUERY = CONTENT, CONTENT + 1  # token ids: 0..15 content, 16 the start token, 17 the "query" marker
LR, BATCH, HIDDEN = 3e-3, 64, 128


def presence_batch(rng, n_models, batch):
    """keys (M, B, 1 + LENGTH): the start token then distinct content tokens; k (M, B); present (M, B)."""
    order = rng.random((n_models, batch, CONTENT)).argsort(-1)
    tokens = order[..., :LENGTH]
    present = rng.random((n_models, batch)) < 0.5
    inside = np.take_along_axis(tokens, rng.integers(0, LENGTH, (n_models, batch, 1)), -1)[..., 0]
    outside = np.take_along_axis(order[..., LENGTH:], rng.integers(0, CONTENT - LENGTH, (n_models, batch, 1)), -1)
    keys = np.concatenate([np.full((n_models, batch, 1), START), tokens], -1)
    return ml.tensor(keys), ml.tensor(np.where(present, inside, outside[..., 0])), ml.tensor(present.astype(np.int64))


def init_models(n_models, seed):
    """Weights of n_models independent models, stacked: embeddings, W_qk (shared), W_v, MLP, classifier."""
    g = ml.Generator().manual_seed(seed)

    def weight(*shape, scale):
        return (ml.randn(n_models, *shape, generator=g) * scale).requires_grad_()

    w = WIDTH ** -0.5
    return {"embed": weight(CONTENT + 2, WIDTH, scale=1.0), "qk": weight(WIDTH, WIDTH, scale=w),
            "v": weight(WIDTH, WIDTH, scale=w),
            "up": weight(WIDTH, HIDDEN, scale=w), "up_bias": weight(1, HIDDEN, scale=0.0),
            "down": weight(HIDDEN, WIDTH, scale=HIDDEN ** -0.5), "out": weight(WIDTH, 2, scale=w),
            "out_bias": weight(1, 2, scale=0.0)}


def presence_forward(p, keys, k, normaliser):
    """keys (M, B, T), k (M, B) -> (logits (M, B, 2), attention weights of the query (M, B, T))."""
    models = ml.arange(keys.shape[0]).reshape(-1, 1)
    h = p["embed"][models.unsqueeze(-1), keys]  # (M, B, T, W)
    query = p["embed"][models, k] + p["embed"][:, QUERY].unsqueeze(1)  # (M, B, W)
    scores = ((query @ p["qk"]).unsqueeze(2) @ (h @ p["qk"].unsqueeze(1)).transpose(-2, -1)) / math.sqrt(WIDTH)
    weights = scores.softmax(-1) if normaliser == "softmax" else softpick(scores)  # (M, B, 1, T)
    values = (h @ p["v"].unsqueeze(1)) * (keys != START).float().unsqueeze(-1)  # the start token's value is 0
    x = query + (weights @ values)[:, :, 0]
    x = x + (x @ p["up"] + p["up_bias"]).relu() @ p["down"]
    return x @ p["out"] + p["out_bias"], weights[:, :, 0]


def train_presence(normaliser, seeds, init_offset):
    """One model per seed, trained together; returns their stacked weights."""
    p = init_models(len(seeds), init_offset + seeds[0])
    opt = ml.optim.Adam(list(p.values()), lr=LR)
    rng = np.random.default_rng([init_offset, *seeds])
    for _ in progress(range(STEPS), desc=f"{normaliser}, {len(seeds)} models"):
        keys, k, present = presence_batch(rng, len(seeds), BATCH)
        logits, _ = presence_forward(p, keys, k, normaliser)
        opt.zero_grad()
        (F.cross_entropy(logits.reshape(-1, 2), present.reshape(-1)) * len(seeds)).backward()
        opt.step()
    return p


def measure(p, normaliser, seeds):
    """Per model, on 2000 fresh sequences: accuracy, and attention on the start token, absent vs present k."""
    keys, k, present = presence_batch(np.random.default_rng([99, *seeds]), len(seeds), 2000)
    with ml.no_grad():
        logits, weights = presence_forward(p, keys, k, normaliser)
    yes, on_start = present.numpy().astype(bool), weights[..., 0].numpy()
    return {"accuracy": (logits.argmax(-1) == present).float().mean(-1).numpy(),
            "start, absent k": np.array([on_start[m][~yes[m]].mean() for m in range(len(seeds))]),
            "start, present k": np.array([on_start[m][yes[m]].mean() for m in range(len(seeds))]),
            "total, absent k": np.array([weights[m].numpy()[~yes[m]].sum(-1).mean() for m in range(len(seeds))])}


ARMS = {"baseline": BASELINE, "softpick": "softpick"}
results = {arm: measure(train_presence(norm, SEEDS, 1000 * (i + 1)), norm, SEEDS)
           for i, (arm, norm) in enumerate(ARMS.items())}
for arm, norm in ARMS.items():
    print(f"{arm} arm ({norm}):", {name: [round(float(x), 2) for x in v] for name, v in results[arm].items()})

# %% [markdown]
# First, the task must be solved: a model that has not learned to find the query's token says nothing
# about where attention goes when there is nothing to find. Every model, in both arms, must classify
# more than 95% of fresh sequences correctly (half are present, so guessing gets 50%).

# %%
solved = {arm: bool((r["accuracy"] > 0.95).all()) for arm, r in results.items()}
print("every model solves the task (accuracy > 0.95):", solved)
assert all(solved.values()), "a model did not learn the task: the attention measurements below would mean nothing"

# %% [markdown]
# The first claim, the sink: in the softmax arm, queries whose token is absent put more attention on the
# start token than queries whose token is present, on every seed and by at least 0.55 on average. Over
# 18 other models (seeds 100 to 117) the effect averaged 0.73 with a standard deviation of 0.19 across
# models, so 0.08 on a mean of 12; one model of the 18 formed no sink at all (0.08: its absent-k queries
# spread over the other tokens), which is why the per-seed bound is only "more". Under the control the
# arm holds softpick models, whose absent-k queries put anywhere from 0 to 0.84 on the start token: over
# 18 models the effect averaged 0.36 (standard deviation 0.23, so 0.07 on a mean of 12). The review ran
# more sets of 12: the softmax means ranged from 0.60 to 0.76, the softpick means (with other initial
# weights) from 0.20 to 0.47. The bound sits between the two ranges, but only about one standard error
# from the nearest set of each: this claim has the thinnest margin of the track, and more seeds would
# sharpen it.

# %%
base = results["baseline"]
_ = claim(f"{BASELINE} attention: absent-k queries put more weight on the start token than present-k queries",
          SEEDS, technique=base["start, absent k"], baseline=base["start, present k"],
          each_above=0.0, mean_at_least=0.55, names=("absent k", "present k"), digits=2)

# %% [markdown]
# Softpick's side, shown and not claimed: on absent-k queries, do the softpick models put less weight on
# the start token than the softmax models? The paper reports no sink at all with softpick; at this scale
# we could not make that a claim. The softpick models' share on the start token varies from model to
# model, anywhere from 0 to over 0.9 (the table below): lower than softmax's on most seeds and on
# average, but not on every seed, and by an average (0.47 over 18 other models, 0.30 over these 12) that
# a softpick-against-softpick placebo came within about 0.25 of. Softpick makes a sink unnecessary here;
# it does not prevent one.

# %%
gap = results["baseline"]["start, absent k"] - results["softpick"]["start, absent k"]
print(f"absent-k queries, weight on the start token, {BASELINE} minus softpick, per seed:",
      [round(float(x), 2) for x in gap])
print(f"softpick lower on {int((gap > 0).sum())} of {len(SEEDS)} seeds; mean difference {float(gap.mean()):.2f}")

# %% [markdown]
# ### Shown, not claimed: the Z-loss against cross-entropy
#
# De Brébisson & Vincent report that the Z-loss matches cross-entropy's accuracy and helps top-k accuracy
# with many classes. Here a linear classifier on digits (10 classes) is trained with three losses, one
# model per seed, full-batch Adam with the same settings: cross-entropy; cross-entropy plus PaLM's
# auxiliary 10⁻⁴ · (log Z)²; and the Z-loss alone. A linear model reaches about 95% on digits with any
# sensible loss, so accuracy cannot tell them apart here, and the lesson claims nothing from it. What
# differs is what each loss does to the logits' scale: cross-entropy keeps growing them, the Z-loss
# cannot see it.

# %%
digits = ml.data.digits(flatten=True)


def train_linear(loss_fn, seeds, steps=300):
    """Linear classifiers (one per seed, stacked: W (S, 64, 10), b (S, 1, 10)), full-batch Adam."""
    g = ml.Generator().manual_seed(seeds[0])
    w = (ml.randn(len(seeds), 64, 10, generator=g) * 0.05).requires_grad_()
    b = ml.zeros(len(seeds), 1, 10).requires_grad_()
    opt = ml.optim.Adam([w, b], lr=1e-2)
    y = digits.y_train.reshape(1, -1).expand(len(seeds), -1).reshape(-1)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn((digits.x_train @ w + b).reshape(-1, 10), y).backward()
        opt.step()
    with ml.no_grad():
        logits = digits.x_test @ w + b  # (S, N, 10)
    return {"test accuracy": (logits.argmax(-1) == digits.y_test).float().mean(-1).numpy(),
            "mean log Z": logits.logsumexp(-1).mean(-1).numpy(),
            "logit spread": logits.std(-1).mean(-1).numpy()}


def cross_entropy_with_log_z_penalty(logits, y):
    return F.cross_entropy(logits, y) + 1e-4 * (logits.logsumexp(-1) ** 2).mean()


losses = {"cross-entropy": F.cross_entropy, "cross-entropy + 1e-4 log²Z": cross_entropy_with_log_z_penalty,
          "Z-loss": z_loss}
linear = {name: train_linear(fn, SEEDS) for name, fn in progress(losses.items(), desc="linear classifiers")}
for name, r in linear.items():
    print(f"{name:>26}:", {k: [round(float(x), 2) for x in v] for k, v in r.items()})

# %% [markdown]
# ## The GPU version
#
# `z_loss` and `softpick` use tensor methods only, so they run on torch tensors unchanged. Neither is
# built into PyTorch; `torch.nn.functional.cross_entropy` is the loss the Z-loss replaces and
# `torch.softmax` the normaliser softpick replaces. We check your functions on torch against minilib on
# the same seeded inputs, and time softpick next to `torch.softmax` as attention normalisers.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
s_np = (3 * np.random.default_rng(0).standard_normal((8, 4, 64, 64))).astype(np.float32)
st = gpu.to_torch(s_np, device)
print("softpick on torch agrees with minilib:", gpu.agree(softpick(st), softpick(ml.tensor(s_np)), atol=1e-6))
o_np = np.random.default_rng(1).standard_normal((200, 10)).astype(np.float32)
y_np = np.random.default_rng(2).integers(0, 10, 200)
ot, yt = gpu.to_torch(o_np, device), torch.from_numpy(y_np).to(device)
print("z_loss on torch agrees with minilib:",
      gpu.agree(z_loss(ot, yt), z_loss(ml.tensor(o_np), ml.tensor(y_np)), atol=1e-5))
print("softpick with every score negative is all zero on torch too:", bool((softpick(-st.abs() - 0.1) == 0).all()))


# %% tags=["nbval-ignore-output"]
def normaliser_runner(fn, lib, device=None):
    """Time fn on (8, 4, T, T) seeded attention scores."""
    return gpu.array_runner(fn, lib, lambda t: (8, 4, t, t), device)


runners = {"softpick, minilib": (normaliser_runner(softpick, ml), "cpu"),
           "softpick, torch cpu": (normaliser_runner(softpick, torch, "cpu"), "cpu"),
           "torch.softmax cpu": (normaliser_runner(lambda s: torch.softmax(s, -1), torch, "cpu"), "cpu")}
if device.type != "cpu":
    runners[f"softpick, {device.type}"] = (normaliser_runner(softpick, torch, device), device)
    runners[f"torch.softmax {device.type}"] = (normaliser_runner(lambda s: torch.softmax(s, -1), torch, device), device)
rows = gpu.compare_timings([32, 128, 256], runners)
print(gpu.format_timings(rows, size="T"))
_ = gpu.plot_timings(rows, "attention normaliser on (8, 4, T, T) scores, by T")

# %% [markdown]
# ## Takeaways
#
# * A softmax head cannot say "nothing here": its weights sum to one. In the presence model every model
#   solved the task, and with softmax, queries whose token was absent put 0.58 to 0.93 of their attention
#   on the start token, a token whose value is zero, against a few hundredths for queries whose token was
#   present (the claim's table): a sink, formed exactly where there was nothing to find, as Xiao et al.
#   saw in language models.
# * Softpick lets a head abstain: scores at or below 0 get weight 0, and its absent-k queries attended with
#   a total weight below 1 (the printed "total, absent k"). But its models still put anywhere from 0 to
#   0.97 on the start token: less than softmax on most seeds, not on all. At this scale softpick makes a
#   sink unnecessary; it does not forbid one, and the paper's "no sink" is not reproduced as a claim.
# * The Z-loss depends on the logits only through their standardised values, so no shift or positive
#   scale changes it (your `z_loss` passed that check). On digits it trained a linear classifier to about
#   the same test accuracy as cross-entropy (the printed table): accuracy cannot tell them apart here.
#   What differs is the logits: cross-entropy grew them (log Z about 7.5), the Z-loss left them near zero
#   (log Z about log 10 = 2.3), so its softmax is no probability estimate.
# * PaLM's and ST-MoE's "z-loss" is another thing: an auxiliary 10⁻⁴ · (log Z)² added to cross-entropy. Here
#   it lowered the mean log Z from about 7.5 to about 6.6 and changed nothing else: a gentle pull on the
#   normaliser for numerical stability, not a new classification loss.
#
# **Questions a teacher might ask**
# 1. Why is the Z-loss "spherical"? Which three statistics of the logits does it depend on?
# 2. Run `make claims softmax/26`. Under the control (`BASELINE = "softpick"`) both arms hold softpick
#    models. What does the claim's table show there, and why must it fail?
# 3. Softpick gives every score ≤ 0 a weight of exactly 0. Does such a score get a zero gradient? (The
#    check says: not while some other score in its row is positive; it counts in the denominator.) What
#    happens to a query whose scores are *all* ≤ 0, and how could that stall training?
# 4. The start token's value is zero here. Give it a learned value: does the softmax model still sink
#    on it, and does the softpick model now use it as well? Why?
# 5. Remove the start token. Where does softmax put the absent-k weight now, and does accuracy suffer?
# 6. The start token here is a "null" key with a zero value. Is a softmax head with such a key
#    equivalent to softpick?
