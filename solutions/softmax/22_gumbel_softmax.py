# %% [markdown]
# # 22 · Gumbel-softmax: differentiable discrete choices
#
# **The idea.** Sampling a category is not differentiable, so a network that makes a discrete
# choice cannot learn it by backpropagation. The *Gumbel-max trick* turns sampling into an
# argmax: add independent Gumbel noise g_i = −log(−log u_i) to the logits and take the largest.
# The winner is distributed exactly as softmax(logits). Jang et al. replace the argmax by a softmax
# with temperature τ, which is differentiable, and approaches a one-hot sample as τ → 0. The
# *straight-through* variant uses the hard one-hot sample in the forward pass and the soft
# sample's gradient in the backward pass.
#
# *Paper:* E. Jang, S. Gu, B. Poole, **"Categorical Reparameterization with Gumbel-Softmax"**, ICLR 2017
# (arXiv:1611.01144).
#
# The claims we reproduce: Gumbel-max samples follow the categorical distribution (a chi-squared
# test); relaxed samples approach one-hot as τ → 0; the straight-through estimator trains a
# network whose every decision is discrete.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import FloatLogSlider, IntSlider
from scipy import stats

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import check, expect, gpu, panel, progress

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: Gumbel noise and the Gumbel-max trick
#
# If u ~ Uniform(0, 1), then −log(−log u) is a standard Gumbel variable (mean ≈ 0.5772, the
# Euler–Mascheroni constant; variance π²/6). Clamp u away from 0 and 1 so that the logarithms stay finite.
#
# **Exercise.** Write `gumbel_noise` and `gumbel_max`.

# %%
def gumbel_noise(*shape, generator=None):
    """Standard Gumbel samples of the given shape (float32)."""
    # BEGIN SOLUTION
    u = ml.rand(*shape, generator=generator).clamp(1e-10, 1 - 1e-7)
    return -(-u.log()).log()
    # END SOLUTION


def gumbel_max(logits, noise):
    """Indices argmax(logits + noise) over the last dim: categorical samples."""
    # BEGIN SOLUTION
    return (logits + noise).argmax(-1)
    # END SOLUTION


# %%
def gumbel_properties():
    g = gumbel_noise(200000, generator=ml.Generator().manual_seed(0)).numpy().astype(np.float64)
    return {"finite": bool(np.isfinite(g).all()),
            "mean ≈ 0.5772 (within 0.01)": abs(g.mean() - np.euler_gamma) < 0.01,
            "variance ≈ π²/6 (within 0.03)": abs(g.var() - np.pi ** 2 / 6) < 0.03,
            "gumbel_max picks the largest perturbed logit":
                gumbel_max(ml.tensor([[0.0, 1.0, 0.0]]), ml.tensor([[2.0, 0.0, 0.5]])).tolist() == [0]}


expect("gumbel_noise and gumbel_max", gumbel_properties, hint="-(-u.log()).log() with u clamped into (0, 1)")


# %% [markdown]
# ## From scratch 2: the relaxation, and straight-through
#
# y = softmax((logits + g) / τ). With `hard=True`, the forward pass returns the one-hot vector of
# y's argmax, yet the gradient is y's. The trick: `hard - y.detach() + y` equals `hard` in
# value, and its gradient is that of `y`.
#
# **Exercise.** Write `gumbel_softmax` (the noise is passed in, so the same noise can be used
# in torch).

# %%
def gumbel_softmax(logits, noise, tau=1.0, hard=False):
    """Relaxed (or straight-through hard) categorical sample over the last dim."""
    # BEGIN SOLUTION
    y = ((logits + noise) / tau).softmax(-1)
    if not hard:
        return y
    one_hot = (y == y.amax(-1, keepdim=True)).float()
    return one_hot - y.detach() + y
    # END SOLUTION


# %%
fixed_noise = gumbel_noise(4, 6, generator=ml.Generator().manual_seed(1))
check("gumbel_softmax", lambda z: gumbel_softmax(z, fixed_noise, tau=0.5),
      lambda z: F.softmax((z + fixed_noise) / 0.5, -1), (4, 6), hint="softmax of (logits + noise) / tau")


def straight_through_reference(z):
    soft = F.softmax((z + fixed_noise) / 0.5, -1)
    return F.one_hot(soft.argmax(-1), 6).float() + soft - soft.detach()


check("gumbel_softmax (hard)", lambda z: gumbel_softmax(z, fixed_noise, tau=0.5, hard=True),
      straight_through_reference, (4, 6), hint="one_hot - y.detach() + y: the value of one_hot, the gradient of y")

# %% [markdown]
# ## See it: temperature and noise
#
# One set of six logits. Each row is one relaxed sample at temperature τ (a new Gumbel draw per row):
# at high τ the samples are nearly uniform, and at low τ they are one-hot, landing on each category as
# often as softmax(logits) says (right panel).

# %%
logits6 = ml.tensor([1.0, 0.5, 0.0, -0.5, 2.0, -1.0])


def draw_gumbel(tau=0.5, rows=12):
    g = ml.Generator().manual_seed(0)
    samples = gumbel_softmax(logits6.expand(rows, 6), gumbel_noise(rows, 6, generator=g), tau)
    many = gumbel_softmax(logits6.expand(4000, 6), gumbel_noise(4000, 6, generator=g), tau)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    axes[0].imshow(samples, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    axes[0].set(xlabel="category", ylabel="sample", title=f"relaxed samples, τ = {tau:.3g}")
    axes[1].bar(np.arange(6) - 0.2, logits6.softmax(-1).numpy(), 0.4, label="softmax(logits)")
    axes[1].bar(np.arange(6) + 0.2, many.mean(0).numpy(), 0.4, label="mean relaxed sample")
    axes[1].set(xlabel="category", ylim=(0, 0.7), title="4,000 samples")
    axes[1].legend()
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_gumbel, tau=FloatLogSlider(value=0.5, base=10, min=-2, max=1), rows=IntSlider(value=12, min=2, max=40))

# %% [markdown]
# ## Reproduce the claims
#
# **Gumbel-max is exact.** 20,000 samples from six logits, compared with softmax(logits) by a
# chi-squared goodness-of-fit test.

# %%
draws = gumbel_max(logits6.expand(20000, 6), gumbel_noise(20000, 6, generator=ml.Generator().manual_seed(2)))
observed = np.bincount(draws.numpy(), minlength=6)
expected = 20000 * logits6.softmax(-1).numpy().astype(np.float64)
chi2 = stats.chisquare(observed, expected / expected.sum() * 20000)
print("the chi-squared test does not reject the softmax distribution (p > 0.01):", chi2.pvalue > 0.01)

# %% [markdown]
# **Relaxed samples become one-hot as τ → 0.** The mean of each sample's largest entry, at
# falling temperatures.

# %%
taus = [5.0, 1.0, 0.5, 0.1, 0.01]
noise = gumbel_noise(5000, 6, generator=ml.Generator().manual_seed(3))
peak = [gumbel_softmax(logits6.expand(5000, 6), noise, tau).amax(-1).mean().item() for tau in taus]
print("the largest entry grows towards 1 as τ falls:", all(a < b for a, b in zip(peak, peak[1:])))
print("at τ = 0.01 samples are one-hot to within 1%:", peak[-1] > 0.99)

# %% tags=["nbval-ignore-output"]
print(f"chi-squared p-value {chi2.pvalue:.3f}; mean largest entry by τ:", [round(p, 3) for p in peak])

# %% [markdown]
# **Straight-through trains discrete decisions.** A discrete autoencoder for digits: an encoder
# picks *one* of 16 codes for each image (a hard one-hot sample), and a linear decoder turns the
# code into an image. Every forward pass is fully discrete. Learning which code to pick is possible
# only through the straight-through gradient. We compare the reconstruction error with the error of
# always predicting the mean digit, and with codes assigned at random. (The learning rate is high
# on purpose: with 3e-3, a few codes win early, the others are never chosen again, and only 2 to 5
# of the 16 end up used. This is *code collapse*; try it.)

# %%
digits = ml.data.digits(flatten=True)


def train_discrete_autoencoder(steps=800, codes=16, tau=1.0):
    ml.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, codes))
    decoder = nn.Linear(codes, 64)
    opt = ml.optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), lr=3e-2)
    g = ml.Generator().manual_seed(0)
    for _ in progress(range(steps), desc="discrete autoencoder"):
        x = digits.x_train[ml.randint(0, len(digits.x_train), (128,), generator=g)]
        code = gumbel_softmax(encoder(x), gumbel_noise(128, codes, generator=g), tau, hard=True)
        opt.zero_grad()
        ((decoder(code) - x) ** 2).sum(1).mean().backward()
        opt.step()
    return encoder, decoder


encoder, decoder = train_discrete_autoencoder()
with ml.no_grad():
    chosen = encoder(digits.x_test).argmax(-1)
    error = ((decoder(F.one_hot(chosen, 16).float()) - digits.x_test) ** 2).sum(1).mean().item()
    random_codes = ml.randint(0, 16, (len(digits.x_test),), generator=ml.Generator().manual_seed(5))
    random_error = ((decoder(F.one_hot(random_codes, 16).float()) - digits.x_test) ** 2).sum(1).mean().item()
mean_error = ((digits.x_train.mean(0) - digits.x_test) ** 2).sum(1).mean().item()
used = len(set(chosen.tolist()))

# %% tags=["nbval-ignore-output"]
print(f"test error: learned codes {error:.3f}, mean digit {mean_error:.3f}, random codes {random_error:.3f}; "
      f"{used} of 16 codes used")

# %%
print("learned discrete codes beat the mean digit by over 30%:", error < 0.7 * mean_error)
print("...and random codes by more:", error < 0.5 * random_error)
print("at least 8 of the 16 codes are used:", used >= 8)
assert chi2.pvalue > 0.01 and all(a < b for a, b in zip(peak, peak[1:])) and peak[-1] > 0.99
assert error < 0.7 * mean_error and error < 0.5 * random_error and used >= 8

# %%
fig, axes = plt.subplots(1, 16, figsize=(12, 1.2))
for k, ax in enumerate(axes):
    ax.imshow(decoder.bias.detach().reshape(8, 8) + decoder.weight.detach()[:, k].reshape(8, 8), cmap="gray_r")
    ax.axis("off")
_ = fig.suptitle("what each of the 16 discrete codes decodes to", y=1.05)

# %% [markdown]
# ## The GPU version
#
# With the same noise, `gumbel_softmax` on torch tensors must equal minilib's, hard and soft.
# PyTorch's built-in `torch.nn.functional.gumbel_softmax` draws its own noise, so we check that its
# hard samples follow the softmax distribution, and time both.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
z = ml.randn(8, 10, generator=ml.Generator().manual_seed(4))
n = gumbel_noise(8, 10, generator=ml.Generator().manual_seed(5))
zt, nt = gpu.to_torch(z, device), gpu.to_torch(n, device)
for hard in (False, True):
    print(f"hard={hard}: yours on torch agrees with minilib:",
          gpu.agree(gumbel_softmax(zt, nt, 0.5, hard), gumbel_softmax(z, n, 0.5, hard), atol=1e-6))
torch.manual_seed(0)
builtin = torch.nn.functional.gumbel_softmax(gpu.to_torch(logits6, device).expand(20000, 6), tau=0.5, hard=True)
counts = builtin.sum(0).double().cpu().numpy()
print("torch's built-in hard samples pass the same chi-squared test:",
      stats.chisquare(counts, expected / expected.sum() * counts.sum()).pvalue > 0.01)


# %% tags=["nbval-ignore-output"]
def gumbel_runner(lib, device=None, builtin=False):
    """Hard Gumbel-softmax over 1,000 categories for n rows."""
    def make(n):
        z = np.random.default_rng(0).standard_normal((n, 1000)).astype(np.float32)
        if lib is ml:
            zs = ml.tensor(z)
            return lambda: gumbel_softmax(zs, gumbel_noise(n, 1000), 0.5, hard=True)
        zs = gpu.to_torch(z, device)
        if builtin:
            return lambda: torch.nn.functional.gumbel_softmax(zs, tau=0.5, hard=True)
        return lambda: gumbel_softmax(zs, -(-torch.rand_like(zs).clamp(1e-10, 1 - 1e-7).log()).log(), 0.5, hard=True)

    return make


rows = gpu.compare_timings([64, 512, 4096], {
    "yours, minilib": (gumbel_runner(ml), "cpu"),
    "yours, torch cpu": (gumbel_runner(torch, "cpu"), "cpu"),
    f"yours, torch on {device.type}": (gumbel_runner(torch, device), device),
    f"torch built-in on {device.type}": (gumbel_runner(torch, device, builtin=True), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "hard Gumbel-softmax over 1,000 categories, by rows")

# %% [markdown]
# ## Takeaways
#
# * Gumbel noise plus argmax samples a categorical distribution exactly. The randomness moves into
#   an input that does not depend on the parameters, which is the reparameterisation trick.
# * Replacing the argmax by softmax with temperature τ gives a differentiable sample, with bias that
#   shrinks as τ → 0 and gradient variance that grows.
# * Straight-through keeps the forward pass discrete and borrows the soft gradient. It is biased,
#   but it trains discrete bottlenecks such as the autoencoder above.
#
# **Questions a teacher might ask**
# 1. Prove the Gumbel-max trick for two categories: P(g₁ + a > g₂ + b) = σ(a − b).
# 2. Train the autoencoder with `hard=False`, then evaluate it with hard codes. What goes wrong?
# 3. Anneal τ from 1 to 0.1 during training. Does the error improve?
# 4. Why does `y == y.amax(-1, keepdim=True)` give a valid one-hot vector here, when in general it
#    might mark two entries?
