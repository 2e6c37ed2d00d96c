# %% [markdown]
# # 12 · Early dropout: dropout against underfitting
#
# **The idea.** Dropout is known as a cure for overfitting. Liu et al. show that it can also help a
# model that *underfits*, one too small to fit its training data, if it is switched on only at the
# start of training and then off. Early in training, the gradients of different mini-batches
# point in quite different directions. Dropout makes each step less committed to one mini-batch,
# and the model settles into a region where, once dropout is off, it fits the data better.
# For models that overfit, they propose the mirror image, *late dropout*: off at first, on later.
#
# *Paper:* Z. Liu, Z. Xu, J. Jin, Z. Shen, T. Darrell, **"Dropout Reduces Underfitting"**, ICML 2023
# (arXiv:2303.01500).
#
# The claim we reproduce: a small MLP that underfits a five-armed spiral ends with a lower training
# loss when dropout is on for its first quarter of training than when dropout is never used.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import Dropdown, FloatSlider, IntSlider

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import check, expect, gpu, panel, progress

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: the schedule
#
# Early dropout uses rate p for the first `until` steps and 0 after them. Late dropout does the
# reverse.
#
# **Exercise.** Write `dropout_rate(step, p, until, mode)`.

# %%
def dropout_rate(step, p, until, mode="early"):
    """The dropout rate at `step` (0-based) for mode 'early' (p, then 0) or 'late' (0, then p)."""
    # BEGIN SOLUTION
    if mode not in ("early", "late"):
        raise ValueError(f"dropout_rate: mode must be 'early' or 'late', got {mode!r}")
    on = step < until if mode == "early" else step >= until
    return p if on else 0.0
    # END SOLUTION


# %%
expect("dropout_rate", lambda: {
    "early: p before `until`": dropout_rate(0, 0.1, 50) == 0.1 and dropout_rate(49, 0.1, 50) == 0.1,
    "early: 0 from `until` on": dropout_rate(50, 0.1, 50) == 0.0 and dropout_rate(999, 0.1, 50) == 0.0,
    "late: the reverse": dropout_rate(49, 0.3, 50, "late") == 0.0 and dropout_rate(50, 0.3, 50, "late") == 0.3},
    hint="step < until is the early phase")


# %% [markdown]
# ## From scratch 2: switching every dropout layer in a model
#
# `model.modules()` walks a model and all its sub-modules. Every `nn.Dropout` reads its `p`
# attribute on each forward pass, so changing it takes effect on the next step.
#
# **Exercise.** Write `set_dropout(model, p)`.

# %%
def set_dropout(model, p, nn=nn):
    """Set the rate of every nn.Dropout inside `model` to p; returns how many there are.

    Pass `nn=torch.nn` for a torch model.
    """
    # BEGIN SOLUTION
    layers = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    for layer in layers:
        layer.p = p
    return len(layers)
    # END SOLUTION


# %%
def set_dropout_properties():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Sequential(nn.ReLU(), nn.Dropout(0.2)))
    count = set_dropout(model, 0.05)
    return {"returns the number of dropout layers (2)": count == 2,
            "sets every one, nested ones too":
                [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.05] * 2}


expect("set_dropout", set_dropout_properties, hint="isinstance(m, nn.Dropout) for m in model.modules()")


# %% [markdown]
# ## From scratch 3: gradient direction error
#
# The paper's lens is the *gradient direction error*: how far a mini-batch gradient points from the
# gradient of the whole training set, measured as 1 − cosine similarity (0 = same direction,
# 1 = orthogonal, 2 = opposite).
#
# **Exercise.** Write it for two flat gradient vectors.

# %%
def direction_error(g, g_full):
    """1 - cos(g, g_full) for two 1-D tensors."""
    # BEGIN SOLUTION
    return 1 - (g * g_full).sum() / (g.norm() * g_full.norm())
    # END SOLUTION


# %%
check("direction_error", direction_error, lambda a, b: 1 - (a @ b) / ((a @ a).sqrt() * (b @ b).sqrt()),
      (50,), (50,), hint="cosine = dot product / (norm * norm)")

# %% [markdown]
# ## See it: schedules and what they did
#
# 1,000 points on five interleaved spiral arms, and an MLP with two hidden layers of 32 units,
# too small to fit them in 800 Adam steps of 64 points. `train` runs one training under a dropout
# schedule, and records the direction error of a few mini-batch gradients against the full-batch
# gradient every 25 steps.

# %%
x_train, y_train = ml.data.spirals(n=1000, classes=5, noise=0.2, seed=0)


def make_mlp(seed, width=32):
    ml.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Dropout(0.0), nn.Linear(width, width), nn.ReLU(),
                         nn.Dropout(0.0), nn.Linear(width, 5))


def flat_grad(model, x, y):
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return ml.cat([p.grad.reshape(-1) for p in model.parameters()])


def mean_direction_error(model, rng, batch=64, n=4):
    g_full = flat_grad(model.eval(), x_train, y_train)
    model.train()
    errors = []
    for _ in range(n):
        idx = ml.tensor(rng.choice(len(x_train), batch, replace=False))
        errors.append(direction_error(flat_grad(model, x_train[idx], y_train[idx]), g_full).item())
    return float(np.mean(errors))


def train(seed, p=0.0, until=0, mode="early", steps=800, batch=64, every=25):
    model = make_mlp(seed)
    opt = ml.optim.Adam(model.parameters(), lr=3e-3)
    rng, probe_rng = np.random.default_rng(seed), np.random.default_rng(100 + seed)
    log = []
    for step in range(steps):
        set_dropout(model, dropout_rate(step, p, until, mode))
        if step % every == 0:
            log.append((step, mean_direction_error(model, probe_rng)))
        idx = ml.tensor(rng.choice(len(x_train), batch, replace=False))
        model.train()
        opt.zero_grad()
        F.cross_entropy(model(x_train[idx]), y_train[idx]).backward()
        opt.step()
    with ml.no_grad():
        final_loss = F.cross_entropy(model.eval()(x_train), y_train).item()
    return final_loss, np.array(log)


# %% [markdown]
# The left panel is the schedule you choose. The right panel shows the gradient direction error
# recorded by two trainings from the initialisation you pick, one without dropout and one with
# early dropout (p = 0.1 for the first 200 steps), with the early-dropout phase shaded. Each
# initialisation is trained the first time you pick it, which takes a second or two.

# %%
logs = {}  # (run, seed) -> direction-error log, filled the first time a seed is drawn


def draw_schedule(p=0.1, until=200, mode="early", seed=0):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.3))
    steps = np.arange(800)
    axes[0].plot(steps, [dropout_rate(s, p, until, mode) for s in steps])
    axes[0].set(xlabel="step", ylabel="dropout rate", ylim=(-0.02, 0.52), title=f"{mode} dropout")
    for name, config in {"no dropout": (), "early dropout": (0.1, 200)}.items():
        if (name, seed) not in logs:
            logs[name, seed] = train(seed, *config)[1]
        log = logs[name, seed]
        axes[1].plot(log[:, 0], log[:, 1], marker=".", label=name)
    axes[1].axvspan(0, 200, color="C1", alpha=0.1)
    axes[1].set(xlabel="step", ylabel="1 - cos(mini-batch, full)", title=f"direction error, seed {seed}")
    axes[1].legend()
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_schedule, p=FloatSlider(value=0.1, min=0.0, max=0.5, step=0.05),
      until=IntSlider(value=200, min=0, max=800, step=50), mode=Dropdown(options=["early", "late"], value="early"),
      seed=Dropdown(options=[0, 1, 2, 3], value=0))

# %% [markdown]
# In the paper, on ImageNet, dropout lowers the direction error early in training. On a model
# and a dataset this small, the recorded errors are noisy and the two runs overlap. The effect on
# the final training loss, which the next section measures, is the part that shows up clearly.
# Whether it comes from the mechanism the paper proposes is a good question to investigate
# (question 2 below).

# %% [markdown]
# ## Reproduce the claim
#
# We train the MLP once without dropout and once with early dropout (p = 0.1 for the first 200
# steps), each run recording the direction error as above, and repeat with four initialisations.

# %%
runs = {(name, seed): train(seed, *config)
        for seed in progress(range(4), desc="seeds")
        for name, config in {"no dropout": (), "early dropout": (0.1, 200)}.items()}
losses = {name: [runs[name, s][0] for s in range(4)] for name in ("no dropout", "early dropout")}

# %% tags=["nbval-ignore-output"]
print({name: [round(v, 4) for v in vals] for name, vals in losses.items()})

# %%
lower = [e < n for e, n in zip(losses["early dropout"], losses["no dropout"])]
print("early dropout ends with a lower training loss for every initialisation:", all(lower))
assert all(lower)

# %% [markdown]
# ## The GPU version
#
# `dropout_rate` and `set_dropout` manage a schedule; the work is done by the model. We build
# the same MLP in torch, copy the weights across, and apply the schedule through torch's own
# `nn.Dropout` layers by passing `nn=torch.nn` to `set_dropout`. `direction_error` runs on torch
# tensors unchanged.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
mine = make_mlp(0)
theirs = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.ReLU(), torch.nn.Dropout(0.0), torch.nn.Linear(32, 32),
                             torch.nn.ReLU(), torch.nn.Dropout(0.0), torch.nn.Linear(32, 5))
ml.interop.copy_weights(mine, theirs)
theirs = theirs.to(device)
print("the schedule switches torch's two dropout layers:", set_dropout(theirs, 0.1, nn=torch.nn) == 2)
xt, yt = gpu.to_torch(x_train, device), gpu.to_torch(y_train, device)
set_dropout(theirs, 0.0, nn=torch.nn)
theirs.zero_grad()
torch.nn.functional.cross_entropy(theirs(xt), yt).backward()
g_torch = torch.cat([p.grad.reshape(-1) for p in theirs.parameters()])
g_mine = flat_grad(mine.eval(), x_train, y_train)
print("full-batch gradients agree:", gpu.agree(g_torch, g_mine, atol=1e-5))
print("direction_error on torch tensors agrees:",
      gpu.agree(direction_error(g_torch, g_torch.flip(0)), direction_error(g_mine, g_mine.flip(0)), atol=1e-5))


# %% tags=["nbval-ignore-output"]
def step_runner(lib, device=None):
    """One training step (forward, backward, SGD) of a width-w MLP on 256 examples, dropout 0.1."""
    def make(width):
        x = np.random.default_rng(0).standard_normal((256, 64), np.float32)
        y = np.random.default_rng(1).integers(0, 10, 256)
        if lib is ml:
            model = nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Dropout(0.1), nn.Linear(width, 10))
            opt, xs, ys, f = ml.optim.SGD(model.parameters(), lr=0.05), ml.tensor(x), ml.tensor(y), F
        else:
            model = torch.nn.Sequential(torch.nn.Linear(64, width), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                                        torch.nn.Linear(width, 10)).to(device)
            opt, f = torch.optim.SGD(model.parameters(), lr=0.05), torch.nn.functional
            xs, ys = gpu.to_torch(x, device), gpu.to_torch(y, device)

        def step():
            opt.zero_grad()
            f.cross_entropy(model(xs), ys).backward()
            opt.step()

        return step

    return make


rows = gpu.compare_timings([16, 256, 4096], {
    "minilib": (step_runner(ml), "cpu"),
    "torch cpu": (step_runner(torch, "cpu"), "cpu"),
    f"torch on {device.type}": (step_runner(torch, device), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "one training step of an MLP, by hidden width")

# %% [markdown]
# ## Takeaways
#
# * Dropout is not only a regulariser: in an underfitting model, a short dose at the start
#   can lead to a better fit of the training data once it is switched off.
# * The schedule is the whole technique: `dropout_rate` decides, `set_dropout` applies it.
# * The paper's explanation, that dropout lowers the gradient direction error early on, is
#   measurable with a few lines. Measure it before you believe it on your own problem.
#
# **Questions a teacher might ask**
# 1. Try `until` = 0, 100, 200, 400 and 800 (dropout always on). Which ends with the lowest
#    training loss, and why does "always on" lose?
# 2. The direction errors above are noisy. Average more mini-batches per probe, or measure the
#    variance of the mini-batch gradients instead. Does dropout lower it early on?
# 3. Training digits instead (lesson 10's data, width 8), the effect comes and goes with the seed.
#    Why might a dataset where the model must carve out many thin regions favour early dropout?
# 4. Late dropout is the paper's recipe for overfitting models. Apply it to lesson 10's setting
#    (100 training digits, 256-unit layers). Does it help test accuracy there?
# 5. The paper also uses a linearly decreasing schedule. Write it as a third mode.
