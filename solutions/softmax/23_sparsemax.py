# %% [markdown]
# # 23 · Sparsemax: a softmax with exact zeros
#
# **The idea.** Softmax gives every class some probability: exp is never zero in exact arithmetic (in
# float32 it underflows to zero once logits differ by more than about 100, a rounding accident). Martins &
# Astudillo define *sparsemax* as the Euclidean projection of the logits onto the probability simplex, the
# closest probability vector to z. It has a closed form, a threshold τ with p = max(z − τ, 0), so logits
# below τ get exactly zero. It comes with its own loss, whose gradient is sparsemax(z) − q for a target
# distribution q, as softmax with cross-entropy has softmax(z) − q. For multi-label classification, the
# target q spreads evenly over an example's labels, and the support of sparsemax(z) is a predicted label set.
#
# *Paper:* A. F. T. Martins, R. F. Astudillo, **"From Softmax to Sparsemax: A Sparse Model of Attention
# and Multi-Label Classification"**, ICML 2016 (arXiv:1602.02068).
#
# The claim we reproduce (the paper's label-proportion experiment on simulated data): on a multi-label task, a
# classifier trained with the sparsemax loss outputs distributions closer to the target (uniform over the true
# labels) than a cross-entropy classifier's softmax, even with the softmax's temperature tuned on held-out data.
# What this measures is the worth of an output with exact zeros at the right scale, not of the loss itself: a
# cross-entropy classifier made sparse afterwards (sparsemax at a tuned temperature, or softmax cut and
# renormalised) wins by about as much. And the support, used as the label set, does not beat a tuned threshold
# on softmax. We show both.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import FloatSlider
from matplotlib.colors import ListedColormap

import minilib as ml
import minilib.nn.functional as F
from course import claim, gpu, panel, progress
from course.softmax import (
    autograd_jacobian,
    check_sparsemax,
    check_sparsemax_jacobian,
    check_sparsemax_loss,
    projection_by_bisection,
)

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: sparsemax
#
# Sort z in decreasing order, z₍₁₎ ≥ z₍₂₎ ≥ …, with cumulative sums c_k. The support size is the
# largest k with 1 + k·z₍ₖ₎ > c_k. Then τ = (c_{k(z)} − 1)/k(z) and p = max(z − τ, 0).
#
# **Exercise.** Write `sparsemax` over the last dimension, for any number of leading dimensions.
# `gather` picks c_{k(z)} per row. Build 1, 2, …, K from z itself (a cumulative sum of ones), so that
# the same function runs on torch tensors later.

# %%
def sparsemax(z):
    """Euclidean projection of z (..., K) onto the probability simplex, along the last dim."""
    # BEGIN SOLUTION
    ordered = z.sort(dim=-1, descending=True)[0]
    cumulative = ordered.cumsum(-1)
    k = (ordered * 0 + 1).cumsum(-1)  # 1, 2, ..., K in z's library, dtype and device
    support = (1 + k * ordered > cumulative).long().sum(-1, keepdim=True)
    tau = (cumulative.gather(-1, support - 1) - 1) / support
    return (z - tau).clamp(min=0)
    # END SOLUTION


# %%
check_sparsemax(sparsemax)


# %% [markdown]
# ## From scratch 2: its Jacobian, by hand
#
# On the support S (the nonzero outputs), p = z − τ with τ depending on z through the mean of
# z over S. Differentiating, with s the 0/1 indicator of S:
#
# $$\frac{\partial p}{\partial z} = \mathrm{diag}(s) - \frac{s\,s^\top}{|S|}.$$
#
# **Exercise.** Write `sparsemax_jacobian(p)` for one output vector p (K,), returning (K, K).

# %%
def sparsemax_jacobian(p):
    """The Jacobian of sparsemax at an output p (K,): diag(s) - s s^T / |S|."""
    # BEGIN SOLUTION
    s = (p > 0).float()
    return ml.eye(p.shape[0]) * s - s.reshape(-1, 1) * s.reshape(1, -1) / s.sum()
    # END SOLUTION


# %%
check_sparsemax_jacobian(sparsemax_jacobian)


# %% [markdown]
# ## From scratch 3: the sparsemax loss
#
# For a target distribution q (one-hot for a single label; 1/|Y| on each label of a label set Y),
# Martins & Astudillo's loss is
#
# $$L(z, q) = -q^\top z + \tfrac12 \sum_{j \in S} (z_j^2 - \tau^2) + \tfrac12 \lVert q \rVert^2,$$
#
# whose gradient is sparsemax(z) − q. It is zero exactly when sparsemax(z) = q.
#
# **Exercise.** Write `sparsemax_loss(z, q)` for z and q of shape (..., K), averaged over all the
# leading dimensions.

# %%
def sparsemax_loss(z, q):
    """Mean over the leading dims of -q·z + 1/2 sum_{j in S}(z_j^2 - tau^2) + 1/2 |q|^2."""
    # BEGIN SOLUTION
    p = sparsemax(z)
    support = (p > 0).float()
    tau = ((z - p) * support).sum(-1, keepdim=True) / support.sum(-1, keepdim=True)  # z_j - p_j = tau on S
    return (-(q * z).sum(-1) + 0.5 * ((z * z - tau * tau) * support).sum(-1) + 0.5 * (q * q).sum(-1)).mean()
    # END SOLUTION


# %%
check_sparsemax_loss(sparsemax_loss)

# %% [markdown]
# ## See it: how many classes sparsemax keeps
#
# Three classes with logits (z₁, z₂, 0), all multiplied by a scale. The left panel colours the logit
# plane by the size of sparsemax's support: one class where one logit leads by more than 1/scale, three
# near the origin, two in between. Raise the scale and the one-class regions grow: sparsemax, unlike
# softmax, depends on the logits' scale through where its zeros fall. The star is the point (z₁, z₂);
# the right panel compares softmax and sparsemax there.

# %%
SUPPORT_COLOURS = ListedColormap(["#fbb4ae", "#b3cde3", "#ccebc5"])


def draw_support(z1=1.0, z2=0.3, scale=1.0):
    grid = np.linspace(-3, 3, 121)
    g1, g2 = np.meshgrid(grid, grid)
    plane = np.stack([g1, g2, np.zeros_like(g1)], -1).reshape(-1, 3).astype(np.float32)
    size = (sparsemax(ml.tensor(plane) * scale) > 0).float().sum(-1).numpy().reshape(g1.shape)
    z = ml.tensor([z1, z2, 0.0]) * scale
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9.5, 4), gridspec_kw={"width_ratios": [1.2, 1]})
    mesh = ax.pcolormesh(grid, grid, size, cmap=SUPPORT_COLOURS, vmin=0.5, vmax=3.5, shading="auto")
    fig.colorbar(mesh, ax=ax, ticks=[1, 2, 3], label="classes sparsemax keeps")
    ax.plot(z1, z2, "k*", ms=13)
    ax.set(xlabel="z₁", ylabel="z₂", aspect="equal", title=f"logits (z₁, z₂, 0) × {scale:.1f}")
    for i, (name, p) in enumerate((("softmax", F.softmax(z, -1)), ("sparsemax", sparsemax(z)))):
        bx.bar(np.arange(3) + 0.4 * i - 0.2, p.numpy(), width=0.4, label=name)
    bx.set(xticks=range(3), xticklabels=["class 1", "class 2", "class 3"], ylim=(0, 1), ylabel="probability",
           title="at the star")
    bx.legend()
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_support, z1=FloatSlider(value=1.0, min=-3, max=3, step=0.1),
      z2=FloatSlider(value=0.3, min=-3, max=3, step=0.1), scale=FloatSlider(value=1.0, min=0.2, max=5.0, step=0.1))

# %% [markdown]
# ## Reproduce the claim: multi-label classification
#
# First, what holds by construction, checked rather than claimed: on 1,000 random rows at several
# scales, sparsemax equals the bisection solver's projection and has more exact zeros as the scale grows;
# the hand-written Jacobian matches autograd. Softmax has exact zeros too once the scale is large enough
# for exp to underflow in float32 (at scale 20 here), which says nothing about the model.

# %%
rows = ml.randn(1000, 10, generator=ml.Generator().manual_seed(3))
projection_ok, zero_fraction, softmax_zeros = [], [], []
for scale in (0.1, 1.0, 10.0, 20.0):
    p = sparsemax(rows * scale)
    projection_ok.append(gpu.agree(p, projection_by_bisection(rows * scale), atol=1e-5)
                         and gpu.agree(p.sum(-1), ml.ones(1000), atol=1e-5))
    zero_fraction.append(round((p == 0).float().mean().item(), 3))
    softmax_zeros.append(int((F.softmax(rows * scale, -1) == 0).sum().item()))
jacobians_ok = all(gpu.agree(sparsemax_jacobian(sparsemax(r)), autograd_jacobian(sparsemax, r), atol=1e-5)
                   for r in rows[:20] * 3)
print("sparsemax is the simplex projection at every scale:", all(projection_ok))
print("fraction of sparsemax outputs exactly 0 at scales 0.1, 1, 10, 20:", zero_fraction)
print("softmax outputs exactly 0 (float32 underflow), of 10,000:", softmax_zeros)
print("the hand-written Jacobian matches autograd on 20 rows:", jacobians_ok)
assert all(projection_ok) and jacobians_ok and all(a < b for a, b in zip(zero_fraction, zero_fraction[1:]))

# %% [markdown]
# **The task.** Each seed draws 16 label prototypes in 64 dimensions. An example has a label set Y of 1 to
# 8 labels (uniform in size, then uniform in which), and its features are the *mean* of its labels'
# prototypes plus Gaussian noise (standard deviation 0.2): a document that mixes its topics, as in the
# paper's simulated data. Its target is q = 1/|Y| on each label in Y. Each seed has its own prototypes and
# its own 300 training, 500 validation and 2,000 test examples. Two linear classifiers (logits = xW + b) are
# trained on the same data with full-batch Adam, all seeds at once (one weight tensor per seed):
#
# * the technique: the sparsemax loss, read through sparsemax, with nothing tuned;
# * the baseline: softmax cross-entropy against the same q, read through softmax at the temperature T
#   (softmax(z/T)) that fits the validation set best.
#
# The outcome is the Jensen–Shannon divergence between a model's output distribution and the target q on
# the test set, one of the paper's measures for multi-label classification: 0 when they are equal, ln 2 =
# 0.693 when their supports do not overlap. The knobs sit in the next cell. `make claims softmax/23` re-runs
# the lesson on other seeds and under the control, `LOSS = "cross_entropy"`: the technique's model is then
# trained with cross-entropy and read through softmax, untuned, so the claim compares a cross-entropy model
# with the same kind of model at a tuned temperature, and it must fail.

# %% tags=["parameters"]
SEEDS = [0, 1, 2]  # each seed: its own prototypes, data and initial weights
LOSS = "sparsemax"  # the technique; "cross_entropy" trains and reads its model as the baseline's (the control)
N_TRAIN, N_LABELS, N_FEATURES, MAX_LABELS, NOISE = 300, 16, 64, 8, 0.2
STEPS = 600  # full-batch Adam steps, the same for both models


# %%
def make_task(seed, sizes=(N_TRAIN, 500, 2000)):
    """Train, validation and test splits: features x (n, D) and 0/1 label sets (n, K), from one seed."""
    rng = np.random.default_rng(seed)
    prototypes = rng.standard_normal((N_LABELS, N_FEATURES))
    splits = []
    for n in sizes:
        count = rng.integers(1, MAX_LABELS + 1, n)
        member = (rng.random((n, N_LABELS)).argsort(1).argsort(1) < count[:, None]).astype(np.float32)
        x = (member / count[:, None]) @ prototypes + NOISE * rng.standard_normal((n, N_FEATURES))
        splits.append((x.astype(np.float32), member))
    return splits


def stack(split, part):
    """One split's features (part 0) or targets q (part 1) for every seed: (S, n, ·) tensors."""
    arrays = [tasks[seed][split][part] for seed in SEEDS]
    return ml.tensor(np.stack(arrays if part == 0 else [a / a.sum(1, keepdims=True) for a in arrays]))


def soft_cross_entropy(z, q):
    """Cross-entropy against a target distribution q, averaged over the leading dims."""
    return -(q * z.log_softmax(-1)).sum(-1).mean()


def train(loss_fn, init, desc):
    """Linear classifiers for all seeds at once; weight (S, D, K) and bias (S, 1, K), each seed's own init."""
    w = ml.stack([ml.randn(N_FEATURES, N_LABELS, generator=ml.Generator().manual_seed(init + s)) * 0.01
                  for s in SEEDS]).requires_grad_()
    b = ml.zeros(len(SEEDS), 1, N_LABELS).requires_grad_()
    opt = ml.optim.Adam([w, b], lr=0.05)
    x, q = stack(0, 0), stack(0, 1)
    for _ in progress(range(STEPS), desc=desc):
        opt.zero_grad()
        (loss_fn(x @ w + b, q) * len(SEEDS)).backward()  # each seed's mean loss, summed over seeds
        opt.step()
    return lambda split: (stack(split, 0) @ w + b).detach()


tasks = {seed: make_task(seed) for seed in SEEDS}
technique = train({"sparsemax": sparsemax_loss, "cross_entropy": soft_cross_entropy}[LOSS], 1000, LOSS)
baseline = train(soft_cross_entropy, 2000, "cross-entropy")
read_out = {"sparsemax": sparsemax, "cross_entropy": lambda z: F.softmax(z, -1)}[LOSS]

# %% [markdown]
# How to score: the JS divergence per example, averaged; and for label sets, the F1 between a predicted set
# and the true one, averaged over examples. A temperature or a threshold is tuned per seed on the validation
# split, over a grid, and scored on the test split.

# %%
TEMPERATURES = np.exp(np.linspace(np.log(0.05), np.log(20), 41))
THRESHOLDS = np.linspace(0.005, 0.5, 100)
CUTS = [(t, c) for t in TEMPERATURES[::2] for c in np.linspace(0, 0.3, 31)]  # (temperature, cut) pairs


def js_divergence(p, q):
    """Mean over examples of the Jensen-Shannon divergence (nats) between rows of p and q (..., n, K)."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    m = (p + q) / 2

    def kl(a, b):
        return np.where(a > 0, a * np.log(np.where(a > 0, a, 1) / np.where(a > 0, b, 1)), 0).sum(-1)

    return (kl(p, m) + kl(q, m)).mean(-1) / 2


def set_f1(predicted, member):
    """Mean over examples of the F1 between predicted and true 0/1 label sets (..., n, K)."""
    predicted, member = np.asarray(predicted, np.float64), np.asarray(member, np.float64)
    return (2 * (predicted * member).sum(-1) / (predicted.sum(-1) + member.sum(-1))).mean(-1)


def cut_softmax(z, option):
    """softmax(z/T) (..., K) with the entries below the cut set to 0 (the top class always kept), renormalised."""
    temperature, cut = option
    p = F.softmax(z / temperature, -1).numpy()
    kept = np.where((p >= cut) | (p == p.max(-1, keepdims=True)), p, 0)
    return kept / kept.sum(-1, keepdims=True)


def tuned(score, make, options, lower_is_better):
    """Per seed, the option that scores best on validation, and its test score: (S,) arrays."""
    on_validation = np.array([score(make(1, o), stack(1, 1).numpy()) for o in options])  # (options, S)
    best = (on_validation.argmin if lower_is_better else on_validation.argmax)(0)
    test = np.array([score(make(2, o), stack(2, 1).numpy()) for o in options])
    return np.array(options)[best], test[best, np.arange(len(SEEDS))]


members = np.stack([tasks[seed][2][1] for seed in SEEDS])
q_test = stack(2, 1).numpy()
ours = read_out(technique(2)).numpy()
js_ours = js_divergence(ours, q_test)
t_softmax, js_softmax = tuned(js_divergence, lambda s, t: F.softmax(baseline(s) / t, -1).numpy(), TEMPERATURES, True)
t_sparse, js_sparse = tuned(js_divergence, lambda s, t: sparsemax(baseline(s) / t).numpy(), TEMPERATURES, True)
_, js_cut = tuned(js_divergence, lambda s, o: cut_softmax(baseline(s), o), CUTS, True)
f1_ours = set_f1(ours > 0, members)
_, f1_threshold = tuned(lambda p, q: set_f1(p, q > 0), lambda s, t: F.softmax(baseline(s), -1).numpy() > t,
                        THRESHOLDS, False)
_, f1_sparse = tuned(lambda p, q: set_f1(p, q > 0), lambda s, t: sparsemax(baseline(s) / t).numpy() > 0,
                     TEMPERATURES, False)
plain_sparse = sparsemax(baseline(2)).numpy()
print(f"true labels per example: {members.sum(-1).mean():.2f}; classes kept (output above 0) by the technique: "
      f"{(ours > 0).sum(-1).mean():.2f}, by sparsemax of the cross-entropy logits: "
      f"{(plain_sparse > 0).sum(-1).mean():.2f}")
print(" seed | JS: technique  softmax(z/T*)  sparsemax(z)  sparsemax(z/T*)  softmax(z/T*) cut, renormalised "
      "| set F1: support  softmax > t*  support of sparsemax(z/T*)")
for i, seed in enumerate(SEEDS):
    print(f"{seed:5d} |     {js_ours[i]:.3f}          {js_softmax[i]:.3f}         "
          f"{js_divergence(plain_sparse, q_test)[i]:.3f}            {js_sparse[i]:.3f}"
          f"                            {js_cut[i]:.3f} |          {f1_ours[i]:.3f}"
          f"         {f1_threshold[i]:.3f}                       {f1_sparse[i]:.3f}")

# %% [markdown]
# **The claim.** The technique's outputs are closer to the targets than the cross-entropy model's softmax at
# its best temperature: on every seed by more than 0.02 nats of JS divergence, by at least 0.03 on average.
# Read it as a claim about sparse outputs, the paper's reason for expecting sparsemax to win here: the two
# sparse read-outs of the cross-entropy model in the table's last JS columns beat the tuned softmax by 0.037
# to 0.040 on seeds 0 to 8, so they would pass these bounds too. It is not a claim that the sparsemax loss
# beats them (next paragraph). Nor does it follow from the formula alone: sparse but at the wrong scale,
# sparsemax(z) of the same cross-entropy logits is four times worse than softmax (JS about 0.27).
# Where the bounds sit: on seeds 0 to 8 the effect ran from 0.039 to 0.045 (sd 0.002 across seeds), and a
# cross-entropy model refitted from other initial weights moved its tuned JS by at most 0.0001. The per-seed
# bound sits eight standard deviations of the seed-to-seed spread below the smallest effect seen; the mean's
# bound, 0.03, still leaves a quarter of the effect to spare. Under the control the technique is an untuned
# softmax, which the tuned one beats: the effect turns negative (about −0.04).

# %%
READ = {"sparsemax": "sparsemax", "cross_entropy": "softmax"}[LOSS]
_ = claim(f"trained with the {LOSS} loss and read through {READ}, untuned, a linear multi-label classifier's "
          "outputs are closer (JS) to the target label distribution than a cross-entropy classifier's softmax at "
          "its validation-tuned temperature", SEEDS, technique=js_ours, baseline=js_softmax, higher_is_better=False,
          each_above=0.02, mean_at_least=0.03, names=(f"{LOSS}, untuned", "softmax(z/T*)"))

# %% [markdown]
# **What we could not reproduce.** Two stronger statements fail here; the table above shows them, and so
# did seeds 3 to 8. The support of the technique's output, used as the predicted label set with no threshold,
# scores a lower F1 than the best single threshold on the cross-entropy model's softmax (on seeds 0 to 8 by
# 0.002 to 0.022). It keeps labels too many (the classes-kept count above against the true one): the loss
# is already zero when a wrong label's logit sits just at τ, so training leaves no margin there, and noise in
# the test features pushes some of them over. And sparsemax applied to the cross-entropy logits after
# training, at a validation-tuned temperature, fits the targets almost as well as the sparsemax loss (within
# 0.007 nats on seeds 0 to 8, closer on one of them) and predicts label sets better. So does, in fit, the
# plainest sparse read-out: softmax at a tuned temperature with every output below a tuned cut set to zero
# and the rest renormalised (0.001 to 0.007 behind the technique). The technique's edge over these two, 0.003
# and 0.004 on average, is about its spread across seeds (sd 0.0025), and on seeds 9 to 26 each of them beat
# the technique on some seed, so we do not claim it. Untuned, the same
# sparsemax of the cross-entropy logits keeps under two classes and fits badly (JS about 0.27). So what the
# cross-entropy model lacks is the right scale, and one number tuned on held-out data supplies it. Our
# reading: at this scale the sparse mapping is what matters, and the sparsemax loss is a way to get it with
# no held-out data, not a better set predictor.

# %% [markdown]
# ## The GPU version
#
# `sparsemax` and `sparsemax_loss` use `sort`, `cumsum`, `gather` and `clamp`, so they run on torch tensors.
# PyTorch has no built-in sparsemax; we check agreement with minilib and time it next to `torch.softmax`.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
zt = gpu.to_torch(rows * 3, device)
print("sparsemax on torch agrees with minilib:", gpu.agree(sparsemax(zt), sparsemax(rows * 3), atol=1e-6))
targets = F.one_hot(ml.tensor(np.arange(1000) % 10), 10).float()
zt.requires_grad_()
sparsemax_loss(zt, gpu.to_torch(targets, device)).backward()
zm = (rows * 3).detach().requires_grad_()
sparsemax_loss(zm, targets).backward()
print("so do the sparsemax loss's gradients:", gpu.agree(zt.grad, zm.grad, atol=1e-6))


# %% tags=["nbval-ignore-output"]
def runner(fn, lib, device=None):
    """Time fn on 256 rows of K seeded logits."""
    return gpu.array_runner(fn, lib, lambda k: (256, k), device)


runners = {"sparsemax, minilib": (runner(sparsemax, ml), "cpu"),
           "sparsemax, torch cpu": (runner(sparsemax, torch, "cpu"), "cpu"),
           "torch.softmax, cpu": (runner(lambda z: torch.softmax(z, -1), torch, "cpu"), "cpu")}
if device.type != "cpu":
    runners[f"sparsemax, torch on {device.type}"] = (runner(sparsemax, torch, device), device)
    runners[f"torch.softmax on {device.type}"] = (runner(lambda z: torch.softmax(z, -1), torch, device), device)
timings = gpu.compare_timings([16, 256, 4096], runners)
print(gpu.format_timings(timings, size="K (classes)"))
_ = gpu.plot_timings(timings, "256 rows of K logits, by K")

# %% [markdown]
# ## Takeaways
#
# * Sparsemax is a projection: the closest probability vector to the logits. A threshold τ, found from a
#   sorted cumulative sum, gives exact zeros, more of them as the logits grow (17% of outputs at scale 0.1,
#   89% at scale 20 above). Softmax's exact zeros are float32 underflow (8 of 10,000 at scale 20, none below).
# * Its Jacobian is the identity on the support minus its average: gradients flow only among the classes
#   still in the support.
# * Trained with its loss on label sets, sparsemax's outputs matched the targets far better than softmax
#   at its best temperature (JS about 0.03 against 0.07 on every seed): softmax cannot put zero on the
#   wrong labels at any temperature. The gain is the zeros': softmax cut at a tuned threshold and
#   renormalised got nearly all of it (JS 0.027 to 0.034).
# * It did not make a better set predictor: its support kept too many labels and lost to a tuned threshold
#   on softmax in F1, and sparsemax applied to a cross-entropy model's logits at a tuned temperature came
#   within 0.007 nats of it. Without that tuning, sparsemax of the cross-entropy logits kept under two
#   classes: a sparse read-out needs the logits at the right scale, which the sparsemax loss trains for.
#
# **Questions a teacher might ask**
# 1. Show that sparsemax(z + c) = sparsemax(z) for any constant c. Is sparsemax(2z) related to
#    sparsemax(z) the way softmax's temperature is? (The widget's scale slider is a hint.)
# 2. Sorting costs O(K log K). How would you find τ in O(K) expected time?
# 3. The sparsemax loss is zero as soon as a wrong label's logit reaches τ from below. Why does that
#    make the support too large on test data, and how would you add a margin?
# 4. Run `make claims softmax/23`. Under the control (`LOSS = "cross_entropy"`), what do the two columns of
#    the claim's table compare, and why does the effect turn negative rather than to zero?
# 5. The two sparse read-outs of the cross-entropy model would pass the claim's bounds too. What, then, does the
#    claim show about the sparsemax loss, and what experiment would show an advantage of the loss itself?
# 6. The features here are the *mean* of an example's label prototypes. Make them the sum instead: which of
#    the three read-outs of the cross-entropy model changes most, and why?
# 7. Use sparsemax instead of softmax in lesson 03's attention. What do the attention maps look like?
