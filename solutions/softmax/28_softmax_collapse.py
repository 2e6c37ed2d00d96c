# %% [markdown]
# # 28 · Softmax collapse and StableMax
#
# **The idea.** Once a network fits its training set, cross-entropy can still fall by simply
# *scaling up* the logits, and without regularisation gradient descent does exactly that (Prieto et
# al. call it naive loss minimisation). The logits grow until, in floating point, softmax
# rounds the true class's probability to exactly 1 and the others to exactly 0. The loss is then
# exactly zero, and so is the gradient. Learning stops. They call this *softmax collapse*, and
# it is why grokking usually needs weight decay. *StableMax* replaces eˣ by s(x) = x + 1 for
# x ≥ 0 and 1/(1 − x) for x < 0. s grows linearly rather than exponentially, so the probabilities
# stay away from 0 and 1.
#
# *Paper:* L. Prieto, M. Barsbey, P. A. M. Mediano, T. Birdal, **"Grokking at the Edge of Numerical
# Stability"**, ICLR 2025 (arXiv:2501.04697).
#
# The claims we reproduce: float32 softmax of growing logits rounds to exact 0/1 and its gradient
# vanishes, while StableMax's does not; on modular addition, once the training set is memorised,
# the gradient points along the weights (it scales the logits up), and a modest further scaling
# collapses float32 softmax on nearly every training example. Grokking itself takes far longer than a
# lesson's budget; see the last question.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import Dropdown, FloatLogSlider

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import check, gpu, panel, progress

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: StableMax and its cross-entropy
#
# s(x) = x + 1 for x ≥ 0 and 1/(1 − x) for x < 0 is positive, increasing and continuous (with a
# continuous slope) at 0. StableMax(x)_i = s(x_i) / Σ_j s(x_j), and its cross-entropy is
# −log StableMax(x)_y. One way to write s without branches: relu(x) + 1/(1 + relu(−x)).
#
# **Exercise.** Write `stablemax` and `stablemax_cross_entropy` (batch mean).

# %%
def s_map(x):
    """x + 1 for x >= 0, 1 / (1 - x) for x < 0."""
    # BEGIN SOLUTION
    return x.relu() + 1 / (1 + (-x).relu())
    # END SOLUTION


def stablemax(x):
    """s(x) normalised over the last dim."""
    # BEGIN SOLUTION
    s = s_map(x)
    return s / s.sum(-1, keepdim=True)
    # END SOLUTION


def stablemax_cross_entropy(logits, y):
    """Mean of -log stablemax(logits)_y over the batch."""
    # BEGIN SOLUTION
    return -stablemax(logits).gather(-1, y.reshape(-1, 1)).log().mean()
    # END SOLUTION


# %%
def stablemax_by_numpy(x):
    x = np.asarray(x, np.float64)
    s = np.where(x >= 0, x + 1, 1 / (1 - np.minimum(x, 0)))
    return ml.tensor((s / s.sum(-1, keepdims=True)).astype(np.float32))


some_logits = ml.randn(5, 7, generator=ml.Generator().manual_seed(0)) * 3
check("stablemax", stablemax, stablemax_by_numpy, some_logits, grad=False,
      hint="where(x >= 0, x + 1, 1 / (1 - x.clamp(max=0))), then divide by the row sum")
def stablemax_nll_reference(z, y):
    """The same loss by another route: where() for s, then minilib's nll_loss on the log."""
    s = ml.where(z >= 0, z + 1, 1 / (1 - z.clamp(max=0)))  # clamp: where evaluates both branches
    return F.nll_loss((s / s.sum(-1, keepdim=True)).log(), y)


some_y = ml.tensor([0, 3, 6, 2, 2])
check("stablemax_cross_entropy", lambda z: stablemax_cross_entropy(z, some_y),
      lambda z: stablemax_nll_reference(z, some_y), some_logits, hint="gather the label's probability, -log, mean")


# %% [markdown]
# ## From scratch 2: measuring collapse
#
# A row has *collapsed* when float32 softmax gives its label probability exactly 1.0. Its
# cross-entropy is then exactly 0, and its gradient, softmax − onehot, is exactly zero too.
#
# **Exercise.** Write `collapsed_fraction(logits, y)`.

# %%
def collapsed_fraction(logits, y):
    """Fraction of rows whose float32 softmax puts exactly 1.0 on the label."""
    # BEGIN SOLUTION
    probs = F.softmax(logits.float(), -1)
    return (probs.gather(-1, y.reshape(-1, 1)) == 1.0).float().mean().item()
    # END SOLUTION


# %%
def collapsed_by_numpy(z, y):
    z = np.asarray(z, np.float32)
    e = np.exp(z - z.max(-1, keepdims=True))
    p = (e / e.sum(-1, keepdims=True)).astype(np.float32)
    return float(np.mean(p[np.arange(len(p)), np.asarray(y)] == np.float32(1.0)))


margins = ml.linspace(0, 40, 30).reshape(-1, 1) * ml.tensor([[1.0, 0.0, -0.5, 0.2]])
check("collapsed_fraction", collapsed_fraction, collapsed_by_numpy, margins, ml.zeros(30, dtype=ml.int64), grad=False,
      hint="softmax in float32, then compare the label's probability with 1.0 exactly")


# %% [markdown]
# ## See it: loss and gradient against the margin
#
# The loss and the gradient on the label's logit for logits (m, 0, …, 0), as m grows, for softmax in the
# dtype you choose and for StableMax. Softmax's curves fall off a cliff to exactly zero (drawn at the
# bottom edge), and StableMax's decay slowly.

# %%
def loss_and_grad(m, kind, dtype=ml.float32):
    z = (ml.tensor([[m] + [0.0] * 9], dtype=dtype)).requires_grad_()
    loss = F.cross_entropy(z, ml.tensor([0])) if kind == "softmax" else stablemax_cross_entropy(z, ml.tensor([0]))
    loss.backward()
    return loss.item(), abs(z.grad[0, 0].item()), z.grad.abs().max().item()


def draw_collapse(margin=20.0, dtype="float32"):
    grid = np.logspace(0, 3.5, 60)
    dt = {"float32": ml.float32, "float64": ml.float64}[dtype]
    soft = np.array([loss_and_grad(float(m), "softmax", dt) for m in grid])
    stable = np.array([loss_and_grad(float(m), "stablemax", dt) for m in grid])
    floor = 1e-40
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    for ax, column, label in zip(axes, (0, 1), ("loss", "|gradient| on the label's logit")):
        ax.loglog(grid, np.maximum(soft[:, column], floor), label=f"softmax, {dtype}")
        ax.loglog(grid, np.maximum(stable[:, column], floor), label=f"StableMax, {dtype}")
        ax.axvline(margin, color="grey", ls=":")
        ax.set(xlabel="margin m", ylabel=label, ylim=(floor / 10, 10))
        ax.legend()
    loss_now, grad_now, _ = loss_and_grad(margin, "softmax", dt)
    axes[0].set_title(f"softmax at m = {margin:.3g}: loss {loss_now:.2e}, gradient {grad_now:.2e}")
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_collapse, margin=FloatLogSlider(value=20.0, base=10, min=0, max=3.5),
      dtype=Dropdown(options=["float32", "float64"], value="float32"))

# %% [markdown]
# ## Reproduce claim 1: the collapse, in numbers
#
# Logits (m, 0, 0, …, 0) over 10 classes with the label first, for growing margins m. We compute
# the loss, the gradient on the label's logit and the largest gradient entry, with softmax in float32
# and float64, and with StableMax in float32, using `loss_and_grad` from the section above.

# %%
margin_grid = [1, 5, 10, 15, 20, 30, 50, 100, 1000]
curves = {"softmax float32": [loss_and_grad(m, "softmax") for m in margin_grid],
          "softmax float64": [loss_and_grad(m, "softmax", ml.float64) for m in margin_grid],
          "StableMax float32": [loss_and_grad(m, "stablemax") for m in margin_grid]}

# %% tags=["nbval-ignore-output"]
for name, values in curves.items():
    print(f"{name:18}", "loss", [f"{v[0]:.0e}" for v in values], "largest grad", [f"{v[2]:.0e}" for v in values])

# %%
f32, f64, stable = (curves[k] for k in ("softmax float32", "softmax float64", "StableMax float32"))
at20 = margin_grid.index(20)
print("float32 softmax: from margin 20 on, the loss and the label's gradient are exactly zero:",
      all(loss == 0 and label_grad == 0 for loss, label_grad, _ in f32[at20:]))
print("...and at margin 1000 every gradient entry is zero:", f32[-1][2] == 0)
print("float64 holds out at margin 20, but collapses by 1000:", f64[at20][0] > 0 and f64[-1][2] == 0)
print("StableMax's loss and label gradient stay non-zero on the whole grid:",
      all(loss > 0 and label_grad > 0 for loss, label_grad, _ in stable))
assert all(loss == 0 and label_grad == 0 for loss, label_grad, _ in f32[at20:]) and f32[-1][2] == 0
assert f64[at20][0] > 0 and f64[-1][2] == 0 and all(loss > 0 and label_grad > 0 for loss, label_grad, _ in stable)

# %% [markdown]
# ## Reproduce claim 2: on the grokking task
#
# Modular addition (a + b) mod 23, 70% of the pairs for training, one-hot inputs, an MLP,
# trained with Adam and *no weight decay*. It memorises the training set within a few hundred steps.
# Test accuracy stays at zero: no grokking in this budget. We follow two things. The cosine
# between the last layer's negative gradient and its weights: near 1 means the update mostly
# scales the logits up (naive loss minimisation). And what happens to float32 softmax and to
# StableMax when the trained logits are scaled a few times more.

# %%
P = 23
task = ml.data.modular_arithmetic(p=P, train_fraction=0.7)


def one_hot_pairs(x):
    return ml.cat([F.one_hot(x[:, 0], P), F.one_hot(x[:, 1], P)], 1).float()


x_train, x_test = one_hot_pairs(task.x_train), one_hot_pairs(task.x_test)
ml.manual_seed(0)
model = nn.Sequential(nn.Linear(2 * P, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, P))
opt = ml.optim.Adam(model.parameters(), lr=1e-2)
alignment = []
for _ in progress(range(600), desc="modular addition"):
    opt.zero_grad()
    F.cross_entropy(model(x_train), task.y_train).backward()
    weight = model[4].weight
    alignment.append((-(weight.grad * weight).sum() / (weight.grad.norm() * weight.norm())).item())
    opt.step()

with ml.no_grad():
    logits = model(x_train)
    train_accuracy = (logits.argmax(1) == task.y_train).float().mean().item()
    test_accuracy = (model(x_test).argmax(1) == task.y_test).float().mean().item()
    collapse = {c: (collapsed_fraction(logits * c, task.y_train),
                    (stablemax(logits * c).gather(-1, task.y_train.reshape(-1, 1)) == 1).float().mean().item())
                for c in (1, 2, 5, 10)}

# %% tags=["nbval-ignore-output"]
print(f"train accuracy {train_accuracy:.3f}, test accuracy {test_accuracy:.3f}")
print("gradient-weight cosine at steps 50, 200, 599:", [round(alignment[i], 3) for i in (50, 200, 599)])
print("collapsed fraction (softmax, StableMax) by extra scale:", collapse)

# %%
print("the training set is memorised:", train_accuracy == 1.0)
print("the update aligns more and more with the weights (cosine > 0.7 at the end, rising):",
      alignment[599] > 0.7 and alignment[599] > alignment[200] > alignment[50])
print("scaling the logits 5x collapses float32 softmax on over 90% of training examples:", collapse[5][0] > 0.9)
print("...and StableMax on none:", all(stable_share == 0 for _, stable_share in collapse.values()))
assert train_accuracy == 1.0 and alignment[599] > 0.7 and alignment[599] > alignment[200] > alignment[50]
assert collapse[5][0] > 0.9 and all(stable_share == 0 for _, stable_share in collapse.values())

# %% [markdown]
# ## The GPU version
#
# StableMax runs on torch tensors unchanged. Collapse is a property of floating point, not of a
# library: torch's fused `cross_entropy` collapses in float32 at the same margins, on any device.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
zt = gpu.to_torch(some_logits, device)
print("stablemax on torch agrees with minilib:", gpu.agree(stablemax(zt), stablemax(some_logits), atol=1e-6))
collapsed_torch = []
for m in margin_grid:
    z = torch.tensor([[m] + [0.0] * 9], device=device, requires_grad=True)
    torch.nn.functional.cross_entropy(z, torch.tensor([0], device=device)).backward()
    collapsed_torch.append(z.grad[0, 0].item() == 0)
print("torch's float32 cross_entropy collapses at the same margins as minilib's:",
      collapsed_torch == [label_grad == 0 for _, label_grad, _ in f32])


# %% tags=["nbval-ignore-output"]
def normaliser_runner(fn, lib, device=None):
    """Time fn on (n, 1000) seeded logits."""
    return gpu.array_runner(fn, lib, lambda n: (n, 1000), device)


rows = gpu.compare_timings([64, 512, 4096], {
    "StableMax, minilib": (normaliser_runner(stablemax, ml), "cpu"),
    "StableMax, torch cpu": (normaliser_runner(stablemax, torch, "cpu"), "cpu"),
    f"StableMax, torch on {device.type}": (normaliser_runner(stablemax, torch, device), device),
    f"torch.softmax on {device.type}": (normaliser_runner(lambda z: torch.softmax(z, -1), torch, device), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "normalising 1,000 logits, by rows")

# %% [markdown]
# ## Takeaways
#
# * With no regulariser, a network that has memorised its data lowers the loss by scaling its logits:
#   the gradient lines up with the weights.
# * In floating point that ends in softmax collapse: probabilities of exactly 0 and 1, zero loss and
#   zero gradient, after which nothing is learned. Float64 only postpones it.
# * StableMax's linear growth keeps probabilities away from 0 and 1 at any realistic scale, so
#   gradients never vanish this way.
#
# **Questions a teacher might ask**
# 1. At what margin does float32 softmax collapse with 10 classes, and with 50,000? Derive it from the
#    float32 machine epsilon.
# 2. Weight decay prevents the logits from growing. Why does that also prevent collapse?
# 3. Grokking: train this model with StableMax cross-entropy and no weight decay for 20,000 steps
#    (p = 23, 70% of pairs; a few minutes on a laptop) and plot test accuracy. Then try softmax. What
#    do you see, and how does it match the paper?
# 4. The paper's ⊥Grad removes the component of the gradient along the weights. Write it for the last
#    layer and measure the cosine again.
