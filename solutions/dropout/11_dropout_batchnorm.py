# %% [markdown]
# # 11 · Dropout and batch norm: the variance shift
#
# **The idea.** Batch norm learns, during training, the variance of its input, and uses that
# running estimate at test time. When dropout comes *before* batch norm, the variance seen in
# training includes the noise dropout adds, and at test time, with dropout off, that noise is
# gone. Batch norm then divides by the wrong variance. Li et al. call this the *variance shift*,
# derive its size, and show that putting dropout after the last batch norm layer removes it.
#
# *Paper:* X. Li, S. Chen, X. Hu, J. Yang, **"Understanding the Disharmony between Dropout and
# Batch Normalization by Variance Shift"**, CVPR 2019 (arXiv:1801.05134).
#
# The claim we reproduce: the ratio of test-time to train-time variance follows the paper's formula
# as p grows; in a trained network, dropout before batch norm shifts the variance and dropout after
# it does not.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import FloatSlider

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import check, expect, gpu, panel, progress

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: the formula
#
# Take one unit x with mean c and variance v, and apply inverted dropout that keeps it with
# probability q = 1 − p: y = x·m/q with m ~ Bernoulli(q). The mean is unchanged, E[y] = c, and
# E[y²] = E[x²]/q = (c² + v)/q, so
#
# $$\mathrm{Var}_\text{train}(y) = \frac{c^2 + v}{q} - c^2, \qquad \mathrm{Var}_\text{test}(y) = v,
# \qquad \text{shift} = \frac{\mathrm{Var}_\text{test}}{\mathrm{Var}_\text{train}}
# = \frac{v}{(c^2 + v)/q - c^2}.$$
#
# A shift below 1 means that at test time batch norm's input is narrower than the variance it
# learned to divide by.
#
# **Exercise.** Write `predicted_shift(p, mean, var)` (p is the drop probability; works on tensors).

# %%
def predicted_shift(p, mean, var):
    """Var_test / Var_train of a unit with this mean and variance after inverted dropout with drop rate p."""
    # BEGIN SOLUTION
    q = 1 - p
    return var / ((mean * mean + var) / q - mean * mean)
    # END SOLUTION


# %%
check("predicted_shift", predicted_shift,
      lambda p, c, v: v / ((c ** 2 + v) / (1 - p) - c ** 2),
      0.3, ml.tensor([0.0, 1.0, -2.0, 0.5]), ml.tensor([1.0, 1.0, 0.5, 2.0]),
      hint="q = 1 - p is the keep probability; Var_train = (c^2 + v)/q - c^2")


# %% [markdown]
# ## From scratch 2: measure it with a real batch norm layer
#
# Feed batches of features through dropout and then batch norm in training mode, so that batch
# norm accumulates its running variance as it would while training (`momentum=None` makes that an
# exact average over the batches). The test-time variance is that of the features without
# dropout. Pass the libraries in (`nn`, `F`) so the same code runs on torch.
#
# **Exercise.** Write `measured_shift`.

# %%
def measured_shift(features, p, batches=100, batch=128, nn=nn, F=F, generator=None):
    """Per-unit Var_test / running Var_train for (N, d) features behind dropout(p) and BatchNorm1d."""
    n, d = features.shape
    bn = nn.BatchNorm1d(d, momentum=None).to(features.device)
    rng = np.random.default_rng(0)
    # BEGIN SOLUTION
    bn.train()
    for _ in range(batches):
        rows = features[rng.integers(0, n, batch).tolist()]
        bn(F.dropout(rows, p, training=True))
    return features.var(0) / bn.running_var
    # END SOLUTION


# %%
def shift_properties():
    units = ml.randn(20000, 4) * ml.tensor([1.0, 1.0, 2.0, 0.5]) + ml.tensor([0.0, 1.0, 1.0, -1.0])
    measured = measured_shift(units, 0.5, batches=400).detach()
    predicted = predicted_shift(0.5, units.mean(0), units.var(0))
    return {"one ratio per unit": tuple(measured.shape) == (4,),
            "within 5% of the formula for p = 0.5": bool(((measured / predicted - 1).abs() < 0.05).all().item()),
            "no shift at p = 0":
                bool(((measured_shift(units, 0.0, batches=400).detach() - 1).abs() < 0.05).all().item())}


expect("measured_shift", shift_properties,
       hint="train mode, then for each batch bn(F.dropout(rows, p)); compare features.var(0) with bn.running_var")


# %% [markdown]
# ## See it: the distributions at train and test time
#
# One unit with mean c and variance 1 passes through dropout into batch norm. Batch norm divides by
# the variance it saw in training (orange); at test time the input (blue) is narrower, and so is
# everything after it. The right panel is the formula against p.

# %%
def draw_shift(p=0.5, mean=1.0):
    g = ml.Generator().manual_seed(0)
    x = ml.randn(20000, generator=g) + mean
    y = x * (ml.rand(20000, generator=g) >= p).float() / (1 - p)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    bins = np.linspace(-6, 10, 81)
    axes[0].hist(np.asarray(y), bins=bins, alpha=0.6, color="C1", label=f"train: var {y.var().item():.2f}")
    axes[0].hist(np.asarray(x), bins=bins, alpha=0.6, color="C0", label=f"test: var {x.var().item():.2f}")
    axes[0].set(title=f"batch norm's input, p={p:.2f}, c={mean:.1f}", xlabel="value")
    axes[0].legend()
    ps = np.linspace(0, 0.9, 46)
    axes[1].plot(ps, [predicted_shift(q, mean, 1.0) for q in ps])
    axes[1].plot([p], [predicted_shift(p, mean, 1.0)], "o", color="C3")
    axes[1].set(xlabel="drop rate p", ylabel="Var_test / Var_train", ylim=(0, 1.05), title="variance shift")
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_shift, p=FloatSlider(value=0.5, min=0.0, max=0.9, step=0.05),
      mean=FloatSlider(value=1.0, min=0.0, max=3.0, step=0.25))

# %% [markdown]
# ## Reproduce the claim
#
# **First, the formula across p.** Fixed features (ReLU of a random projection of the digits, so
# they have the skewed, non-zero-mean shape real activations have) go through
# `measured_shift` for several p. We compare the median over units with the formula's median.

# %%
digits = ml.data.digits(flatten=True)
with ml.no_grad():
    ml.manual_seed(0)
    features = nn.Linear(64, 256)(digits.x_train).relu()
    alive = features.var(0) > 1e-3
    features = features[:, alive]

drop_rates = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
measured = [np.median(measured_shift(features, p).numpy()) for p in progress(drop_rates, desc="p")]
predicted = [np.median(predicted_shift(p, features.mean(0), features.var(0)).numpy()) for p in drop_rates]
error = max(abs(m / q - 1) for m, q in zip(measured, predicted))
print("the measured shift follows the formula within 5% at every p:", error < 0.05)
print("and it falls as p grows:", all(b < a for a, b in zip(measured, measured[1:])))
assert error < 0.05 and all(b < a for a, b in zip(measured, measured[1:]))


# %% [markdown]
# **Then in a trained network.** The same two-layer network on digits, trained with dropout 0.5
# placed either before its batch norm layer or after it (the paper's remedy: no batch norm after
# any dropout). After training, we compare each batch norm's running variance with the variance its
# input actually has at test time.

# %%
def make_net(order, p=0.5):
    ml.manual_seed(0)
    if order == "dropout before BN":
        return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Dropout(p), nn.BatchNorm1d(256), nn.ReLU(),
                             nn.Linear(256, 10))
    return nn.Sequential(nn.Linear(64, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(p), nn.Linear(256, 10))


def train(model, steps=300, batch=128):
    opt = ml.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    model.train()
    for _ in progress(range(steps), desc="training"):
        idx = ml.tensor(rng.choice(len(digits.x_train), batch, replace=False))
        opt.zero_grad()
        F.cross_entropy(model(digits.x_train[idx]), digits.y_train[idx]).backward()
        opt.step()
    return model.eval()


def test_time_shift(model):
    """Median over live units of (test-time variance of the BN input) / (BN's running variance)."""
    i = next(i for i, layer in enumerate(model) if isinstance(layer, nn.BatchNorm1d))
    with ml.no_grad():
        bn_input = nn.Sequential(*list(model)[:i])(digits.x_test)
    live = model[i].running_var > 1e-3
    return float(np.median((bn_input.var(0) / model[i].running_var)[live].numpy()))


shifts = {order: test_time_shift(train(make_net(order))) for order in ("dropout before BN", "dropout after BN")}
print("dropout before BN: test variance under 70% of what BN learned:", shifts["dropout before BN"] < 0.7)
print("dropout after BN: within 10% of it:", abs(shifts["dropout after BN"] - 1) < 0.1)
assert shifts["dropout before BN"] < 0.7 and abs(shifts["dropout after BN"] - 1) < 0.1

# %% tags=["nbval-ignore-output"]
print({k: round(v, 3) for k, v in shifts.items()})

# %%
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(drop_rates, predicted, marker="o", label="formula (median over units)")
ax.plot(drop_rates, measured, marker="x", ls="--", label="measured with BatchNorm1d")
ax.set(xlabel="drop rate p", ylabel="Var_test / Var_train", title="variance shift on digit features")
ax.legend()
fig.tight_layout()

# %% [markdown]
# ## The GPU version
#
# `measured_shift` takes the libraries as arguments, so it runs on torch with `torch.nn` and
# `torch.nn.functional`, on any device. Torch draws its own dropout masks, so the two agree
# statistically (within a few per cent) rather than bit for bit. `predicted_shift` is plain
# arithmetic and agrees exactly.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
torch.manual_seed(0)
features_t = gpu.to_torch(features, device)
mine_t = measured_shift(features_t, 0.5, nn=torch.nn, F=torch.nn.functional).detach()
print("measured_shift on torch agrees with minilib's within 3% (median):",
      abs(mine_t.median().item() / np.median(measured_shift(features, 0.5).numpy()) - 1) < 0.03)
print("predicted_shift on torch agrees exactly:",
      gpu.agree(predicted_shift(0.5, features_t.mean(0), features_t.var(0)),
                predicted_shift(0.5, features.mean(0), features.var(0))))


# %% tags=["nbval-ignore-output"]
def dropout_bn_runner(lib, device=None):
    """Forward and backward of dropout followed by batch norm on (n, 256)."""
    def make(n):
        if lib is ml:
            x, bn = ml.randn(n, 256, requires_grad=True), nn.BatchNorm1d(256)
            f = F
        else:
            x = gpu.to_torch(np.random.default_rng(0).standard_normal((n, 256), np.float32), device, True)
            bn, f = torch.nn.BatchNorm1d(256).to(device), torch.nn.functional
        return lambda: bn(f.dropout(x, 0.5)).sum().backward()

    return make


rows = gpu.compare_timings([256, 2048, 16384], {
    "minilib": (dropout_bn_runner(ml), "cpu"),
    "torch cpu": (dropout_bn_runner(torch, "cpu"), "cpu"),
    f"torch on {device.type}": (dropout_bn_runner(torch, device), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "dropout -> BatchNorm1d(256), forward + backward")

# %% [markdown]
# ## Takeaways
#
# * Dropout keeps the mean but inflates the variance by a known amount. Batch norm's running
#   variance records the inflated value, and at test time it divides by it.
# * The shift is v / ((c² + v)/q − c²). It is larger for units with a large mean, and it grows
#   with p.
# * The fix is structural: no batch norm after dropout (dropout only after the last BN), or
#   recompute BN's statistics with dropout switched off before testing.
#
# **Questions a teacher might ask**
# 1. The paper also studies Gaussian dropout and a "variance-stable" Uout. Work out Var_train for
#    multiplicative Gaussian noise with the same variance as Bernoulli dropout. Is the shift
#    different?
# 2. Why is the shift worse for ReLU features (positive mean) than for zero-mean features?
# 3. Recalibrate the "dropout before BN" network: run the training set through it in train mode
#    for BN but with dropout off, then test. What happens to the shift?
# 4. Wide layers make the shift smaller when dropout is followed by a linear layer before BN
#    (the paper's second case). Why might averaging many units help?
