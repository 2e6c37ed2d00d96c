# %% [markdown]
# # 28 · Softmax collapse and StableMax
#
# **The idea.** Once a network fits its training set, cross-entropy can still fall by simply
# *scaling up* the logits, and without regularisation gradient descent does exactly that (Prieto et
# al. call it naive loss minimisation). The logits grow until, in float32, the sum inside the
# log-softmax rounds to exactly 1: the example's loss is then exactly 0, and so is the gradient on its
# label's logit. The other entries of its gradient are still there, but tiny (e⁻²⁰ ≈ 2e-9 at a margin
# of 20), and they shrink exponentially as the logits keep growing. Learning from that example all but stops;
# once most examples get there, the paper calls it *softmax collapse* (SC), and argues it is why
# grokking usually needs weight decay. *StableMax* replaces eˣ by s(x) = x + 1 for x ≥ 0 and
# 1/(1 − x) for x < 0, which grows linearly rather than exponentially, so its probabilities stay away
# from 0 and 1 at any realistic scale.
#
# *Paper:* L. Prieto, M. Barsbey, P. A. M. Mediano, T. Birdal, **"Grokking at the Edge of Numerical
# Stability"**, ICLR 2025 (arXiv:2501.04697).
#
# The claim we reproduce, in training: an MLP fitting modular addition in float32 with Adam and no weight
# decay, trained with softmax cross-entropy, ends with the loss of nearly every training example rounded
# to exactly 0, and a gradient two orders of magnitude smaller than the same network trained with
# StableMax cross-entropy, whose zero-loss fraction stays at 0. Grokking itself (StableMax generalising
# without weight decay) does not appear within this lesson's budget: the lesson shows that and does not
# claim it.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import Dropdown, FloatLogSlider

import minilib as ml
import minilib.nn.functional as F
from course import claim, gpu, panel, progress
from course.softmax import check_collapsed_fraction, check_stablemax, check_stablemax_cross_entropy

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: StableMax
#
# s(x) = x + 1 for x ≥ 0 and 1/(1 − x) for x < 0 is positive and increasing, and at 0 both pieces
# have value 1 and slope 1. StableMax(x)_i = s(x_i) / Σ_j s(x_j), over the last dim. `a.where(cond, b)` (a
# where cond holds, else b: a tensor method in minilib and torch alike) computes both branches, so
# keep the one you do not pick finite, gradient included: 1/(1 − x) must not see x = 1.
#
# **Exercise.** Write `s_map` and `stablemax`.

# %%
def s_map(x):
    """x + 1 for x >= 0, 1 / (1 - x) for x < 0, elementwise."""
    # BEGIN SOLUTION
    return (x + 1).where(x >= 0, 1 / (1 - x.clamp(max=0)))
    # END SOLUTION


def stablemax(x):
    """s(x) normalised over the last dim: (..., C) -> (..., C)."""
    # BEGIN SOLUTION
    s = s_map(x)
    return s / s.sum(-1, keepdim=True)
    # END SOLUTION


# %%
check_stablemax(stablemax)


# %% [markdown]
# ## From scratch 2: StableMax cross-entropy
#
# −log StableMax(x)_y, one loss per example (no mean): the training loop below needs each example's
# loss, to count those that are exactly 0, and it trains several networks at once, so the logits
# may have any number of leading dims.
#
# **Exercise.** Write `stablemax_cross_entropy`.

# %%
def stablemax_cross_entropy(logits, y):
    """Per-example -log stablemax(logits)_y: logits (..., C), y (...) int64 -> (...)."""
    # BEGIN SOLUTION
    return -stablemax(logits).gather(-1, y.unsqueeze(-1)).log().squeeze(-1)
    # END SOLUTION


# %%
check_stablemax_cross_entropy(stablemax_cross_entropy)


# %% [markdown]
# ## From scratch 3: measuring collapse
#
# Softmax cross-entropy, computed stably, is log Σ_j exp(z_j − m) − (z_y − m) with m the row's
# largest logit. When the label's logit is the largest, the sum is 1 + Σ_{j≠y} exp(z_j − z_y), and
# once those terms fall below half of float32's spacing at 1 (2⁻²⁴ ≈ 6e-8 together), it rounds to
# exactly 1: the loss is exactly 0. With 9 other logits level with each other, that happens from a
# margin of ln(9 / 2⁻²⁴) ≈ 18.8.
#
# **Exercise.** Write `collapsed_fraction(logits, y)`: the fraction of rows whose *float32* softmax
# cross-entropy (computed as above, through `log_softmax`) is exactly 0, one fraction per batch.

# %%
def collapsed_fraction(logits, y):
    """Fraction of rows with float32 softmax cross-entropy exactly 0: logits (..., N, C), y (..., N) -> (...)."""
    # BEGIN SOLUTION
    losses = -F.log_softmax(logits.float(), -1).gather(-1, y.unsqueeze(-1)).squeeze(-1)
    return (losses == 0).float().mean(-1)
    # END SOLUTION


# %%
check_collapsed_fraction(collapsed_fraction)


# %% [markdown]
# ## See it: loss and gradient against the margin
#
# The loss and its gradient for logits (m, 0, …, 0) over 10 classes, label first, as the margin m
# grows: softmax in the dtype you choose, and StableMax. On the right, the gradient on the label's
# logit (solid) and the largest gradient on another logit (dashed). Exact zeros are drawn at the
# bottom edge. Softmax's loss and label gradient fall off a cliff to exactly 0 near m = 19 in
# float32 (39 in float64), while its other gradients keep shrinking like e⁻ᵐ until they underflow
# (past m ≈ 103 in float32). StableMax's decay like 1/m.

# %%
def softmax_cross_entropy(logits, y):
    """Per-example softmax cross-entropy through log_softmax (what collapsed_fraction measures): (..., C) -> (...)."""
    return -F.log_softmax(logits, -1).gather(-1, y.unsqueeze(-1)).squeeze(-1)


LOSSES = {"softmax": softmax_cross_entropy, "stablemax": stablemax_cross_entropy}


def loss_and_grad(m, kind, dtype=ml.float32):
    """(loss, |gradient on the label's logit|, largest |gradient on another logit|) for logits (m, 0, ..., 0)."""
    z = ml.tensor([[m] + [0.0] * 9], dtype=dtype).requires_grad_()
    loss = LOSSES[kind](z, ml.tensor([0])).sum()
    loss.backward()
    grad = np.abs(np.asarray(z.grad, np.float64)[0])
    return loss.item(), grad[0], grad[1:].max()


def draw_collapse(margin=20.0, dtype="float32"):
    grid = np.logspace(0, 3, 80)
    dt = {"float32": ml.float32, "float64": ml.float64}[dtype]
    floor = 1e-50
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    for kind, color in (("softmax", "C0"), ("stablemax", "C1")):
        values = np.maximum(np.array([loss_and_grad(float(m), kind, dt) for m in grid]), floor)
        axes[0].loglog(grid, values[:, 0], color=color, label=f"{kind}, {dtype}")
        axes[1].loglog(grid, values[:, 1], color=color, label=f"{kind}, label")
        axes[1].loglog(grid, values[:, 2], color=color, ls="--", label=f"{kind}, other")
    for ax, label in zip(axes, ("loss", "|gradient|")):
        ax.axvline(margin, color="grey", ls=":")
        ax.set(xlabel="margin m", ylabel=label, ylim=(floor / 10, 10))
        ax.legend(fontsize=8)
    loss_now, label_now, other_now = loss_and_grad(margin, "softmax", dt)
    axes[0].set_title(f"softmax at m = {margin:.3g}: loss {loss_now:.1e}")
    axes[1].set_title(f"gradient: label {label_now:.1e}, others {other_now:.1e}")
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_collapse, margin=FloatLogSlider(value=20.0, base=10, min=0, max=3),
      dtype=Dropdown(options=["float32", "float64"], value="float32"))

# %% [markdown]
# The same numbers at a few margins. These follow from the formulas and float32's precision: they are
# checks of the arithmetic above, not the claim.

# %%
margin_grid = [1, 5, 10, 15, 20, 30, 50, 100, 110, 1000]
curves = {"softmax f32": [loss_and_grad(m, "softmax") for m in margin_grid],
          "softmax f64": [loss_and_grad(m, "softmax", ml.float64) for m in margin_grid],
          "StableMax f32": [loss_and_grad(m, "stablemax") for m in margin_grid]}
print("margin                    ", "  ".join(f"{m:>7}" for m in margin_grid))
for name, values in curves.items():
    for column, what in enumerate(("loss", "label grad", "other grad")):
        print(f"{name:13} {what:12}", "  ".join(f"{v[column]:7.0e}" for v in values))

# %%
f32, f64, stable = (curves[k] for k in ("softmax f32", "softmax f64", "StableMax f32"))
at20, at110 = margin_grid.index(20), margin_grid.index(110)
print("float32 softmax: from margin 20 on, the loss and the label's gradient are exactly 0:",
      all(loss == 0 and label == 0 for loss, label, _ in f32[at20:]))
print("...but the other logits' gradients are not, until they underflow past margin 100:",
      all(other > 0 for _, _, other in f32[at20:at110]) and all(other == 0 for _, _, other in f32[at110:]))
print("float64 softmax still has a loss at margin 30, and collapses by margin 50:", f64[5][0] > 0 and f64[6][0] == 0)
print("StableMax's loss and label gradient stay non-zero on the whole grid:",
      all(loss > 0 and label > 0 for loss, label, _ in stable))

# %% [markdown]
# ## Reproduce the claim: collapse in training
#
# Does training actually get there? The paper's setting, scaled down: modular addition (a + b) mod 23,
# half of the 529 pairs for training, one-hot inputs, an MLP 46 → 128 → 128 → 23 with ReLUs and no biases, trained in
# float32 on the full training set by Adam with a high learning rate (0.1) and *no weight decay*. We
# train it twice on each seed, from different initial weights:
#
# * the baseline, with softmax cross-entropy;
# * the technique, with your StableMax cross-entropy;
# * and a placebo: softmax cross-entropy again, from the technique's initial weights. It measures how
#   much two softmax trainings differ by chance, and the bounds below sit well beyond that.
#
# Every 10 steps we record, per network, the fraction of training examples whose own training loss is
# exactly 0 in float32 (they send no gradient to their label's logit), and the norm of the gradient of
# the mean training loss over all the weights. The three trainings of all seeds are stacked into one
# batch of networks (a leading dim on every weight), so that they run as one.
#
# The knobs sit in the next cell. From the course's root folder, `make claims softmax/28` re-runs the
# lesson on other seeds, and under the control, `TECHNIQUE = "softmax"`, which puts softmax
# cross-entropy in StableMax's place: both claims then compare two softmax trainings from different
# initial weights, and must fail.

# %% tags=["parameters"]
SEEDS = [0, 1, 2]  # each seed: its own train/test split and initial weights
TECHNIQUE = "stablemax"  # the technique's loss; "softmax" swaps in the baseline's (the control)
P, TRAIN_FRACTION, WIDTH = 23, 0.5, 128  # modulus, share of pairs for training, hidden width
LR, STEPS, EVERY = 0.1, 1500, 10  # Adam's learning rate (no weight decay), full-batch steps, record interval

# %%
ARMS = {"softmax": ("softmax", 0), "technique": (TECHNIQUE, 1000), "placebo": ("softmax", 1000)}  # loss, init


def one_hot_pairs(x):
    """(N, 2) token ids -> (N, 2P) float32 one-hot inputs."""
    return ml.cat([F.one_hot(x[:, 0], P), F.one_hot(x[:, 1], P)], 1).float()


def stacked_data(seeds, repeats):
    """Inputs and labels of every seed's split, stacked once per arm: x (M, N, 2P), y (M, N)."""
    tasks = [ml.data.modular_arithmetic(p=P, train_fraction=TRAIN_FRACTION, seed=s) for s in seeds]
    return {part: (ml.stack([one_hot_pairs(getattr(t, f"x_{part}")) for t in tasks] * repeats),
                   ml.stack([getattr(t, f"y_{part}") for t in tasks] * repeats)) for part in ("train", "test")}


def init_mlps(inits):
    """One bias-free MLP 2P -> WIDTH -> WIDTH -> P per init seed, stacked: three weights (M, fan_in, fan_out),
    standard normal / sqrt(fan_in)."""
    gens = [ml.Generator().manual_seed(s) for s in inits]
    return [ml.stack([ml.randn(fan_in, fan_out, generator=g) / fan_in ** 0.5 for g in gens]).requires_grad_()
            for fan_in, fan_out in [(2 * P, WIDTH), (WIDTH, WIDTH), (WIDTH, P)]]


def forward(weights, x):
    """x (M, N, 2P) -> logits (M, N, P)."""
    h = x
    for i, w in enumerate(weights):
        h = h @ w
        if i < len(weights) - 1:
            h = h.relu()
    return h


def train(seeds):
    """Train every arm on every seed at once; returns per network (arm by arm, seed by seed) the
    recorded zero-loss fraction, gradient norm and mean training loss (M, STEPS // EVERY + 1), and final
    train and test accuracy."""
    data = stacked_data(seeds, len(ARMS))
    (x, y), (x_test, y_test) = data["train"], data["test"]
    kinds = [kind for kind, _ in ARMS.values()]
    params = init_mlps([offset + s for _, offset in ARMS.values() for s in seeds])
    opt = ml.optim.Adam(params, lr=LR)
    n = len(seeds)
    zero, norm, mean_loss = [], [], []
    for step in progress(range(STEPS + 1), desc="training softmax and StableMax MLPs"):
        opt.zero_grad()
        logits = forward(params, x)
        losses = ml.cat([LOSSES[kind](logits[a * n:(a + 1) * n], y[a * n:(a + 1) * n])
                         for a, kind in enumerate(kinds)], 0)  # (M, N): each network's own loss
        losses.mean(-1).sum().backward()  # each network gets the gradient of its own mean loss
        if step % EVERY == 0:
            zero.append(np.asarray((losses.detach() == 0).float().mean(-1)))
            mean_loss.append(np.asarray(losses.detach().mean(-1), np.float64))
            norm.append(np.sqrt(sum((np.asarray(p.grad, np.float64) ** 2).reshape(len(p.grad), -1).sum(1)
                                    for p in params)))
        if step < STEPS:
            opt.step()
    with ml.no_grad():
        train_acc = (forward(params, x).argmax(-1) == y).float().mean(-1)
        test_acc = (forward(params, x_test).argmax(-1) == y_test).float().mean(-1)
        softmax_zero = collapsed_fraction(forward(params, x)[:n], y[:n])
    return {"zero": np.array(zero).T, "norm": np.array(norm).T, "loss": np.array(mean_loss).T,
            "train_acc": np.asarray(train_acc), "test_acc": np.asarray(test_acc),
            "softmax_zero_recount": np.asarray(softmax_zero)}


run = train(SEEDS)
steps = np.arange(0, STEPS + 1, EVERY)


def arm(key, name):
    """Per seed, the arm's values of `key` (rows over the record steps for 'zero', 'norm' and 'loss')."""
    a = list(ARMS).index(name)
    return run[key][a * len(SEEDS):(a + 1) * len(SEEDS)]


# %%
print("train accuracy at the end:", {name: [round(float(v), 3) for v in arm("train_acc", name)] for name in ARMS})
print("test accuracy at the end: ", {name: [round(float(v), 3) for v in arm("test_acc", name)] for name in ARMS})
print("your collapsed_fraction on the softmax networks' final logits agrees with the training loop's count:",
      np.allclose(run["softmax_zero_recount"], arm("zero", "softmax")[:, -1]))

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
for name, color in zip(ARMS, ("C0", "C1", "C2")):
    label = f"{name} ({ARMS[name][0]})"
    for i, (z, g) in enumerate(zip(arm("zero", name), arm("norm", name))):
        axes[0].plot(steps, z, color=color, alpha=0.8, label=label if i == 0 else None)
        axes[1].semilogy(steps, g, color=color, alpha=0.8, label=label if i == 0 else None)
axes[0].set(xlabel="step", ylabel="share of training examples", title="training loss exactly 0 (float32)")
axes[1].set(xlabel="step", ylabel="‖gradient‖", title="gradient norm of the mean training loss")
for ax in axes:
    ax.legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# Each network fits its training set within the first 200 steps (train accuracy 1 above); from then
# on only the scale of the logits keeps changing. With softmax, the share of training examples whose
# loss is exactly 0 climbs towards 1 and the gradient norm stalls near 1e-7: the loss is 0 and the
# gradient comes only from e⁻ᵐ-sized terms. With StableMax, no example's loss reaches 0 and the gradient
# keeps shrinking slowly, like 1/m.
#
# How much is noise? The placebo differs from the softmax baseline only in its initial weights. The
# next cell prints their differences at the last step, which is the noise each claim must clear. Over
# seeds 0 to 8, the zero-loss fractions of the two softmax runs differed by at most 0.05 (0.02 but for
# one seed), and their log10 gradient norms by at most 0.1; softmax's fraction ended between 0.90 and 1.

# %%
zero_end = {name: arm("zero", name)[:, -1] for name in ARMS}
log_norm_end = {name: np.log10(arm("norm", name)[:, -1]) for name in ARMS}
print("placebo - softmax, zero-loss fraction:",
      [round(float(v), 3) for v in zero_end["placebo"] - zero_end["softmax"]])
print("placebo - softmax, log10 gradient norm:",
      [round(float(v), 2) for v in log_norm_end["placebo"] - log_norm_end["softmax"]])

# %% [markdown]
# The first claim: at the end of training, the share of training examples with a loss of exactly 0 is
# lower with StableMax than with softmax by more than 0.7 on every seed and by at least 0.85 on average.
# Softmax reaches 0.9 to 1; the placebo's differences are a few hundredths, more than ten times below
# the bounds. (That StableMax's stays at 0 is not automatic: its loss rounds to 0 too once the label's
# logit is about 10⁷ times the others' s-values; training with learning rate 1 gets there.)
#
# The learning rate is not a free knob here. We tried others on seeds 9 to 11: at 0.05 softmax has only
# 35 to 43% of its examples at a loss of 0 after 1,500 steps (collapse is under way, not done), and this
# claim fails; at 0.2 softmax training breaks instead, ending with 1 to 22% of its training examples
# misclassified (dead ReLUs), logits in the thousands and two softmax runs differing by up to 0.5.
# At 0.1 collapse completes within the budget while the softmax runs still agree with each other.
# Collapse here means the loss and the label's gradient are exactly 0, not the whole gradient: at every
# step we looked at (200 to 1,500, seeds 0 to 2) no example of either arm had all its logit gradients
# at exactly 0, since the other logits' e⁻ᵐ terms only underflow past a margin of about 103.

# %%
_ = claim(f"training with {TECHNIQUE} cross-entropy leaves fewer training examples at a float32 loss of exactly 0 "
          "than softmax cross-entropy", SEEDS, technique=zero_end["technique"], baseline=zero_end["softmax"],
          higher_is_better=False, each_above=0.7, mean_at_least=0.85, names=(TECHNIQUE, "softmax"))

# %% [markdown]
# The second: at the end of training, the gradient of the StableMax network's mean loss is at least 10
# times larger than the softmax network's on every seed (log10 of their ratio above 1), and at least
# 30 times on average (1.5). The placebo moves that log10 by a tenth at most.
#
# Read it for what it is: a difference in the *scale of the loss*, not a steeper loss. The next cell
# prints each arm's final mean training loss and the gradient norm per unit of that loss. StableMax's
# loss stays at least 10⁵ times higher (its tail falls like 1/m, softmax's like e⁻ᵐ), while per unit of
# loss its gradient is *smaller* than softmax's. The label gradients that softmax's collapsed examples
# no longer send were e⁻ᵐ-small anyway (at most about as large as their other entries): what keeps
# softmax's gradient near 1e-7 is the exponential tail, which float32 then cuts off.

# %%
_ = claim(f"at the end of training the gradient norm with {TECHNIQUE} cross-entropy is larger than with softmax "
          "(log10)", SEEDS, technique=log_norm_end["technique"], baseline=log_norm_end["softmax"],
          each_above=1.0, mean_at_least=1.5, names=(TECHNIQUE, "softmax"), digits=2)

# %%
loss_end = {name: arm("loss", name)[:, -1] for name in ARMS}
print("final mean training loss:", {name: [f"{v:.0e}" for v in loss_end[name]] for name in ARMS})
print("gradient norm / mean loss:", {name: [f"{g / v:.2g}" if v > 0 else "loss exactly 0" for g, v in
                                            zip(arm("norm", name)[:, -1], loss_end[name])] for name in ARMS})

# %% [markdown]
# What the paper also reports and this lesson does not reproduce: without weight decay, the StableMax
# network goes on to *grok*, its test accuracy rising long after it has fitted the training set. Here
# every network's test accuracy stays near 0, below chance (1/23 ≈ 0.04; printed above): within 1,500
# steps on 265 training pairs neither arm generalises. Keeping the gradient alive is what StableMax
# does here; whether that turns into grokking takes far longer runs (question 3).
#
# *Below* chance is not a bug in the split (train and test pairs are disjoint and together cover all
# 529) but memorisation at work. In the table of a + b mod 23 every answer appears exactly once in each
# row a and once in each column b, so a test pair's answer is never the answer of a training pair that
# shares its a or its b (the next cell counts them). A network that memorises by letting each input
# token vote for the answers it was trained on with it votes, at a test pair, for many answers but
# never the right one, and both losses push every answer a token was not trained on down. That is the
# likely reason for accuracy under chance; the lesson does not test it further.

# %%
seen = [np.mean([c in {c2 for (a2, b2), c2 in zip(t.x_train.tolist(), t.y_train.tolist()) if a2 == a or b2 == b}
                 for (a, b), c in zip(t.x_test.tolist(), t.y_test.tolist())])
        for t in (ml.data.modular_arithmetic(p=P, train_fraction=TRAIN_FRACTION, seed=s) for s in SEEDS)]
print("share of test pairs whose answer is the answer of a training pair in the same row or column:",
      [round(float(v), 3) for v in seen])

# %% [markdown]
# ## The GPU version
#
# `stablemax` and `stablemax_cross_entropy` use tensor methods only, so they run on torch tensors
# unchanged. Collapse is a property of float32, not of a library: torch's `cross_entropy` (log-softmax
# then the label's entry, like ours) gives a loss of exactly 0 at the same margins.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
rng = np.random.default_rng(0)
z_np = (3 * rng.standard_normal((6, 9))).astype(np.float32)
y_np = rng.integers(0, 9, 6)
zt, yt = gpu.to_torch(z_np, device), torch.tensor(y_np, device=device)
print("stablemax on torch agrees with minilib:", gpu.agree(stablemax(zt), stablemax(ml.tensor(z_np)), atol=1e-6))
print("stablemax_cross_entropy on torch agrees with minilib:",
      gpu.agree(stablemax_cross_entropy(zt, yt), stablemax_cross_entropy(ml.tensor(z_np), ml.tensor(y_np)), atol=1e-5))
zero_torch = []
for m in margin_grid:
    z = torch.tensor([[m] + [0.0] * 9], device=device)
    zero_torch.append(torch.nn.functional.cross_entropy(z, torch.tensor([0], device=device)).item() == 0)
print("torch's float32 cross_entropy is exactly 0 at the same margins as ours:",
      zero_torch == [loss == 0 for loss, _, _ in f32])


# %% tags=["nbval-ignore-output"]
def normaliser_runner(fn, lib, device=None):
    """Time fn on (n, 1000) seeded logits."""
    return gpu.array_runner(fn, lib, lambda n: (n, 1000), device)


runners = {"StableMax, minilib": (normaliser_runner(stablemax, ml), "cpu"),
           "StableMax, torch cpu": (normaliser_runner(stablemax, torch, "cpu"), "cpu"),
           "torch.softmax cpu": (normaliser_runner(lambda z: torch.softmax(z, -1), torch, "cpu"), "cpu")}
if device.type != "cpu":
    runners[f"StableMax, {device.type}"] = (normaliser_runner(stablemax, torch, device), device)
    runners[f"torch.softmax {device.type}"] = (normaliser_runner(lambda z: torch.softmax(z, -1), torch, device),
                                               device)
rows = gpu.compare_timings([64, 512, 4096], runners)
print(gpu.format_timings(rows, size="rows n"))
_ = gpu.plot_timings(rows, "normalising 1,000 logits, by rows")

# %% [markdown]
# ## Takeaways
#
# * In float32, softmax cross-entropy is exactly 0 once the label's margin passes about 19 (10 classes),
#   and so is the gradient on the label's logit; the other logits' gradients are not zero but e⁻ᵐ-small
#   (2e-9 at margin 20), until they underflow past about 103. Float64 only postpones it (to about 39).
# * Training gets there by itself: with Adam, a high learning rate and no weight decay, an MLP that has
#   fitted modular addition ends with nearly every training example at a loss of exactly 0, and a
#   gradient norm stalled near 1e-7 (the claim tables).
# * Trained with StableMax cross-entropy instead, the same network has no example at a loss of 0 and a
#   gradient about a hundred times larger at the end of training: its loss is still at least 10⁵ times
#   higher, and per unit of loss its gradient is in fact smaller. StableMax keeps the loss, and so the
#   gradient, alive; it does not make the loss steeper.
# * Grokking (test accuracy rising long after the fit) did not appear within this lesson's budget, with
#   either loss: keeping the gradient alive is necessary for it, not sufficient in 1,500 steps. Test
#   accuracy is even below chance, as memorisation predicts on this table (no test answer is the answer of
#   a training pair sharing a token).
#
# **Questions a teacher might ask**
# 1. At what margin does float32 softmax cross-entropy reach exactly 0 with 10 classes, and with 50,000?
#    Derive it from float32's spacing at 1. And when do the other gradients underflow?
# 2. Weight decay keeps the logits from growing. Why does that also prevent collapse? Add it to the
#    softmax arm (a `weight_decay` for Adam) and watch the zero-loss fraction.
# 3. Grokking: train the StableMax network for 20,000 steps (a learning rate of 0.01; a few minutes on a
#    laptop) and plot test accuracy. Then softmax. What do you see, and how does it match the paper?
# 4. Under the control (`TECHNIQUE = "softmax"`) both claims fail: what do their tables show, and why
#    is that the placebo's noise?
# 5. The paper's ⊥Grad removes the component of the gradient along the weights (the direction that only
#    scales the logits). Write it for the last layer: does the softmax arm still collapse?
