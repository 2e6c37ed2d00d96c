# %% [markdown]
# # 23 · Sparsemax: a softmax with exact zeros
#
# **The idea.** Softmax never outputs an exact zero: every class keeps some probability. Martins &
# Astudillo define *sparsemax* as the Euclidean projection of the logits onto the probability
# simplex: the closest probability vector to z. It has a closed form, a threshold τ, and
# p = max(z − τ, 0), so low logits get exactly zero. Its Jacobian is simple, and it comes with
# its own loss, whose gradient is sparsemax(z) − onehot(y), the same shape as softmax with
# cross-entropy.
#
# *Paper:* A. F. T. Martins, R. F. Astudillo, **"From Softmax to Sparsemax: A Sparse Model of Attention
# and Multi-Label Classification"**, ICML 2016 (arXiv:1602.02068).
#
# The claims we reproduce: sparsemax is the Euclidean projection onto the simplex (it matches an
# independent projection solver, with exact zeros); its Jacobian written by hand matches autograd;
# the sparsemax loss trains a digit classifier whose predictions put all their mass on a few
# classes.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import FloatSlider

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import check, gpu, panel, progress

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: sparsemax
#
# Sort z in decreasing order, z₍₁₎ ≥ z₍₂₎ ≥ …, with cumulative sums c_k. The support size is the
# largest k with 1 + k·z₍ₖ₎ > c_k. Then τ = (c_{k(z)} − 1)/k(z) and p = max(z − τ, 0).
#
# **Exercise.** Write `sparsemax` over the last dimension. `gather` picks c_{k(z)} per row.

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
def projection_by_bisection(z, iterations=100):
    """An independent solver: find τ with sum(max(z - τ, 0)) = 1 by bisection, in float64 numpy."""
    z = np.asarray(z, np.float64)
    lo, hi = z.min(-1, keepdims=True) - 1, z.max(-1, keepdims=True)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        too_much = np.maximum(z - mid, 0).sum(-1, keepdims=True) > 1
        lo, hi = np.where(too_much, mid, lo), np.where(too_much, hi, mid)
    return ml.tensor(np.maximum(z - (lo + hi) / 2, 0).astype(np.float32))


check("sparsemax", sparsemax, projection_by_bisection, ml.randn(6, 9, generator=ml.Generator().manual_seed(0)) * 2,
      grad=False, hint="support = count of k with 1 + k * sorted_k > cumsum_k; tau = (cumsum at support - 1) / support")


# %% [markdown]
# ## From scratch 2: its Jacobian, by hand
#
# On the support S (the nonzero outputs), p = z − τ with τ depending on z through the mean of
# z over S. Differentiating, with s the 0/1 indicator of S:
#
# $$\frac{\partial p}{\partial z} = \mathrm{diag}(s) - \frac{s\,s^\top}{|S|}.$$
#
# **Exercise.** Write `sparsemax_jacobian(p)` for one vector p (K,), returning (K, K).

# %%
def sparsemax_jacobian(p):
    """The Jacobian of sparsemax at an output p (K,): diag(s) - s s^T / |S|."""
    # BEGIN SOLUTION
    s = (p > 0).float()
    return ml.eye(p.shape[0]) * s - s.reshape(-1, 1) * s.reshape(1, -1) / s.sum()
    # END SOLUTION


# %%
def autograd_jacobian(z):
    """Row i is the gradient of sparsemax(z)[i] with respect to z, from minilib's autograd."""
    rows = []
    for i in range(z.shape[0]):
        zz = z.detach().requires_grad_()
        sparsemax(zz)[i].backward()
        rows.append(zz.grad)
    return ml.stack(rows)


z9 = ml.randn(9, generator=ml.Generator().manual_seed(1)) * 2
check("sparsemax_jacobian", lambda z: sparsemax_jacobian(sparsemax(z)), autograd_jacobian, z9, grad=False,
      hint="s = (p > 0).float(); the identity restricted to S minus the outer product s s^T over |S|")


# %% [markdown]
# ## From scratch 3: the sparsemax loss
#
# Martins & Astudillo's loss for true class y is
#
# $$L(z, y) = -z_y + \tfrac12 \sum_{j \in S} (z_j^2 - \tau^2) + \tfrac12,$$
#
# whose gradient is sparsemax(z) − onehot(y). It is zero exactly when the prediction is
# one-hot on y, with a margin.
#
# **Exercise.** Write `sparsemax_loss(z, y)` for z (B, K), y (B,), averaged over the batch.

# %%
def sparsemax_loss(z, y):
    """Mean over the batch of -z_y + 1/2 sum_{j in S}(z_j^2 - tau^2) + 1/2."""
    # BEGIN SOLUTION
    p = sparsemax(z)
    support = (p > 0).float()
    tau = ((z - p) * support).sum(-1, keepdim=True) / support.sum(-1, keepdim=True)  # z_j - p_j = tau on S
    z_y = z.gather(-1, y.reshape(-1, 1))
    return (-z_y + 0.5 * ((z * z - tau * tau) * support).sum(-1, keepdim=True) + 0.5).mean()
    # END SOLUTION


# %%
def loss_reference(z, y):
    """The same loss through z·p - |p|²/2 = Σ_S (z_j² - τ²)/2, with p from the bisection solver (a constant)."""
    p = projection_by_bisection(z.detach())
    return (-z.gather(-1, y.reshape(-1, 1))[:, 0] + (z * p).sum(-1) - 0.5 * (p * p).sum(-1) + 0.5).mean()


labels = ml.tensor([0, 3, 5, 5, 1, 8])
check("sparsemax_loss", lambda z: sparsemax_loss(z, labels), lambda z: loss_reference(z, labels),
      ml.randn(6, 9, generator=ml.Generator().manual_seed(2)) * 2, atol=1e-4,
      hint="on the support z_j - p_j = tau; mask the sum with the support")

# %% [markdown]
# ## See it: the 3-class simplex
#
# Logits (z₁, z₂, 0), multiplied by a scale. The triangle is the simplex. The background shows how
# many classes sparsemax keeps at each point (corners: one, edges: two, inside: three). The markers
# are softmax (always inside) and sparsemax (on an edge or a corner when logits differ enough).

# %%
CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])


def to_plane(p):
    return np.asarray(p) @ CORNERS


def draw_simplex(z1=1.0, z2=0.3, scale=1.0):
    z = ml.tensor([z1, z2, 0.0]) * scale
    grid = ml.tensor(np.stack(np.meshgrid(np.linspace(-3, 3, 120), np.linspace(-3, 3, 120)), -1).reshape(-1, 2))
    grid_logits = ml.cat([grid, ml.zeros(grid.shape[0], 1)], dim=1) * scale
    grid_p = sparsemax(grid_logits)
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    points = to_plane(grid_p)
    ax.scatter(points[:, 0], points[:, 1], c=(grid_p > 0).float().sum(-1).numpy(), cmap="Pastel1", s=6, vmin=1, vmax=3)
    ax.plot(*to_plane(np.vstack([np.eye(3), np.eye(3)[:1]])).T, color="k", lw=1)
    ax.plot(*to_plane(F.softmax(z, -1).numpy()), "o", ms=11, label=f"softmax {np.round(F.softmax(z, -1).numpy(), 2)}")
    ax.plot(*to_plane(sparsemax(z).numpy()), "s", ms=11, label=f"sparsemax {np.round(sparsemax(z).numpy(), 2)}")
    for i, name in enumerate(("class 1", "class 2", "class 3")):
        ax.annotate(name, CORNERS[i], textcoords="offset points", xytext=(-15, -14 if i < 2 else 6))
    ax.set(title=f"z = ({z1:.1f}, {z2:.1f}, 0) x {scale:.1f}", aspect="equal")
    ax.axis("off")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_simplex, z1=FloatSlider(value=1.0, min=-3, max=3, step=0.1),
      z2=FloatSlider(value=0.3, min=-3, max=3, step=0.1), scale=FloatSlider(value=1.0, min=0.1, max=3.0, step=0.1))

# %% [markdown]
# ## Reproduce the claims
#
# **Projection, with exact zeros.** On 1,000 random rows at several scales, sparsemax equals the
# bisection solver's projection, its outputs sum to one, and many of them are exactly zero.

# %%
rows = ml.randn(1000, 10, generator=ml.Generator().manual_seed(3))
projection_ok, zero_fraction = [], []
for scale in (0.1, 1.0, 10.0):
    p = sparsemax(rows * scale)
    projection_ok.append(gpu.agree(p, projection_by_bisection(rows * scale), atol=1e-5)
                         and gpu.agree(p.sum(-1), ml.ones(1000), atol=1e-5))
    zero_fraction.append((p == 0).float().mean().item())
print("sparsemax is the simplex projection at every scale:", all(projection_ok))
print("softmax has no exact zeros; sparsemax has more as the scale grows:",
      (F.softmax(rows, -1) == 0).sum().item() == 0 and zero_fraction[0] < zero_fraction[1] < zero_fraction[2])
jacobians_ok = all(gpu.agree(sparsemax_jacobian(sparsemax(r)), autograd_jacobian(r), atol=1e-5) for r in rows[:20] * 3)
print("the hand-written Jacobian matches autograd on 20 rows:", jacobians_ok)

# %% [markdown]
# **The sparsemax loss trains a classifier.** A linear classifier on digits, trained with the
# sparsemax loss and, for comparison, with softmax cross-entropy.

# %%
digits = ml.data.digits(flatten=True)


def train(loss_fn, steps=300):
    ml.manual_seed(0)
    model = nn.Linear(64, 10)
    opt = ml.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    for _ in progress(range(steps), desc="training"):
        idx = ml.tensor(rng.choice(len(digits.x_train), 128, replace=False))
        opt.zero_grad()
        loss_fn(model(digits.x_train[idx]), digits.y_train[idx]).backward()
        opt.step()
    with ml.no_grad():
        logits = model(digits.x_test)
    return logits


sparse_logits, soft_logits = train(sparsemax_loss), train(F.cross_entropy)
sparse_accuracy = (sparse_logits.argmax(1) == digits.y_test).float().mean().item()
soft_accuracy = (soft_logits.argmax(1) == digits.y_test).float().mean().item()
support_size = (sparsemax(sparse_logits) > 0).float().sum(-1).mean().item()

# %% tags=["nbval-ignore-output"]
print(f"accuracy: sparsemax loss {sparse_accuracy:.3f}, cross-entropy {soft_accuracy:.3f}; "
      f"mean support {support_size:.2f} classes")

# %%
print("the sparsemax-loss classifier reaches 90% test accuracy:", sparse_accuracy > 0.9)
print("its predictions use fewer than 2 of 10 classes on average:", support_size < 2)
assert all(projection_ok) and zero_fraction[0] < zero_fraction[1] < zero_fraction[2] and jacobians_ok
assert sparse_accuracy > 0.9 and support_size < 2

# %% [markdown]
# ## The GPU version
#
# `sparsemax` uses `sort`, `cumsum`, `gather` and `clamp`, so it runs on torch tensors. PyTorch has
# no built-in sparsemax; we check agreement with minilib and time it next to `torch.softmax`.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
zt = gpu.to_torch(rows * 3, device)
print("sparsemax on torch agrees with minilib:", gpu.agree(sparsemax(zt), sparsemax(rows * 3), atol=1e-6))
zt.requires_grad_()
sparsemax(zt)[0].square().sum().backward()
zm = (rows * 3).detach().requires_grad_()
sparsemax(zm)[0].square().sum().backward()
print("and so do its gradients:", gpu.agree(zt.grad, zm.grad, atol=1e-5))


# %% tags=["nbval-ignore-output"]
def runner(fn, lib, device=None):
    """Time fn on 256 rows of K seeded logits."""
    return gpu.array_runner(fn, lib, lambda k: (256, k), device)


timings = gpu.compare_timings([16, 256, 4096], {
    "sparsemax, minilib": (runner(sparsemax, ml), "cpu"),
    "sparsemax, torch cpu": (runner(sparsemax, torch, "cpu"), "cpu"),
    f"sparsemax, torch on {device.type}": (runner(sparsemax, torch, device), device),
    f"torch.softmax on {device.type}": (runner(lambda z: torch.softmax(z, -1), torch, device), device)})
print(gpu.format_timings(timings))
_ = gpu.plot_timings(timings, "256 rows of K logits, by K")

# %% [markdown]
# ## Takeaways
#
# * Sparsemax is a projection: the closest probability vector to the logits. A threshold τ gives
#   exact zeros and a sorted cumulative sum finds τ.
# * Its Jacobian is the identity on the support minus its average. Gradients flow only among the
#   classes that are still alive.
# * The sparsemax loss pairs with it as cross-entropy pairs with softmax (gradient p − onehot), and
#   it trains classifiers whose outputs are sparse.
#
# **Questions a teacher might ask**
# 1. Show that sparsemax(z + c) = sparsemax(z) for any constant c. Is sparsemax(2z) related to
#    sparsemax(z) the way softmax's temperature is?
# 2. Sorting costs O(K log K). How would you find τ in O(K) expected time?
# 3. Where does the sparsemax loss become exactly zero, and why does that give the classifier a margin?
# 4. Use sparsemax instead of softmax in lesson 03's attention. What do the attention maps look like?
