# %% [markdown]
# # 01 · The training loop: SGD, momentum and AdamW
#
# **The idea.** Training repeats four lines: forward, loss, backward, update. The update rule
# is where optimizers differ. Adam (Kingma & Ba 2015) divides each step by a running estimate of
# the gradient's scale. Loshchilov & Hutter showed that this breaks the usual equivalence between
# *L2 regularisation* (add λw to the gradient) and *weight decay* (shrink w by a factor each step):
# in Adam the L2 term gets divided by the gradient scale too. Their AdamW decouples the decay from
# the adaptive step.
#
# *Papers:* I. Loshchilov, F. Hutter, **"Decoupled Weight Decay Regularization"**, ICLR 2019
# (arXiv:1711.05101); D. P. Kingma, J. Ba, **"Adam: A Method for Stochastic Optimization"**,
# ICLR 2015 (arXiv:1412.6980).
#
# The claim we reproduce: with Adam + L2 the strength of the regularisation depends on how the
# loss is scaled; with AdamW it does not.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import FloatLogSlider, FloatSlider

import minilib as ml
import minilib.nn.functional as F
from course import check, gpu, panel, progress

data = ml.data.digits(flatten=True)  # 1,797 8x8 digits from scikit-learn, split 75/25 with seed 0
print("train", tuple(data.x_train.shape), "test", tuple(data.x_test.shape))


def make_mlp(seed=0, hidden=64, lib=ml):
    lib.manual_seed(seed)
    return lib.nn.Sequential(lib.nn.Linear(64, hidden), lib.nn.ReLU(), lib.nn.Linear(hidden, 10))


# %% [markdown]
# ## From scratch 1: SGD with momentum
#
# Momentum keeps a velocity `v`, a running sum of past gradients, and steps along it:
#
# `v ← μ v + g`,  `w ← w − η v`  (PyTorch's form; μ = 0 is plain SGD).
#
# **Exercise.** Return the new `(w, v)`. Use tensor arithmetic only, so this also runs on torch.

# %%
def sgd_momentum_step(w, g, v, lr, momentum):
    """One SGD-with-momentum step for a parameter w with gradient g and velocity v."""
    # BEGIN SOLUTION
    v = momentum * v + g
    return w - lr * v, v
    # END SOLUTION


# %% [markdown]
# To check it, `FromScratch` wraps an update rule as an optimizer with `zero_grad()` and `step()`
# (so a training loop does not care whose optimizer it is). We run a few steps on a small problem
# with your rule and with `minilib.optim.SGD`.

# %%
class FromScratch:
    """An optimizer made from an update rule ``step(w, g, *state, **hyper) -> (w, *state)``."""

    def __init__(self, params, rule, n_state, **hyper):
        self.params, self.rule, self.hyper, self.t = list(params), rule, hyper, 0
        self.state = [[ml.zeros_like(p) for _ in range(n_state)] for p in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @ml.no_grad()
    def step(self):
        self.t += 1
        extra = {"t": self.t} if "t" in self.rule.__code__.co_varnames else {}
        for p, state in zip(self.params, self.state):
            new_p, *state[:] = self.rule(p.detach(), p.grad, *state, **extra, **self.hyper)
            p.copy_(new_p)


def toy_problem(seed=0):
    """A fixed start and a quadratic-plus-quartic loss, the same for every optimizer we test."""
    g = ml.Generator().manual_seed(seed)
    return ml.randn(5, 3, generator=g), ml.randn(7, 5, generator=g)


def toy_loss(w, x):
    return ((x @ w).tanh() ** 2).sum() + (w ** 4).sum() * 0.1


def run_few_steps(make_optimizer, steps=6):
    """Final weights after a few steps on the toy problem with ``make_optimizer([w])``."""
    w, x = toy_problem()
    w.requires_grad_()
    opt = make_optimizer([w])
    for _ in range(steps):
        opt.zero_grad()
        toy_loss(w, x).backward()
        opt.step()
    return w.detach()


# %%
check("sgd_momentum_step",
      lambda: run_few_steps(lambda ps: FromScratch(ps, sgd_momentum_step, 1, lr=0.05, momentum=0.9)),
      lambda: run_few_steps(lambda ps: ml.optim.SGD(ps, lr=0.05, momentum=0.9)), grad=False,
      hint="update v first, then step w along the new v")


# %% [markdown]
# ## From scratch 2: AdamW
#
# Adam keeps running means of the gradient (`m`) and of its square (`v`), corrects their bias
# towards zero in early steps, and steps by `m̂ / (√v̂ + ε)`. AdamW first shrinks the weights:
#
# `w ← w (1 − η λ)`, `m ← β₁ m + (1 − β₁) g`, `v ← β₂ v + (1 − β₂) g²`,
# `m̂ = m / (1 − β₁ᵗ)`, `v̂ = v / (1 − β₂ᵗ)`, `w ← w − η m̂ / (√v̂ + ε)`.
#
# **Exercise.** Return the new `(w, m, v)` after step number `t` (starting at 1).

# %%
def adamw_step(w, g, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """One AdamW step; t counts steps from 1."""
    b1, b2 = betas
    # BEGIN SOLUTION
    w = w * (1 - lr * weight_decay)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    return w - lr * m_hat / (v_hat.sqrt() + eps), m, v
    # END SOLUTION


# %%
check("adamw_step", lambda: run_few_steps(lambda ps: FromScratch(ps, adamw_step, 2, lr=0.05, weight_decay=0.1)),
      lambda: run_few_steps(lambda ps: ml.optim.AdamW(ps, lr=0.05, weight_decay=0.1)), grad=False,
      hint="decay w before the Adam step, and use bias-corrected m and v")


# %% [markdown]
# ## The loop
#
# Forward, loss, backward, update: the same four lines whichever optimizer `opt` is.

# %%
def train(model, opt, steps=300, batch_size=64, seed=0, loss_scale=1.0, l2=0.0, show_progress=True):
    """Mini-batch training on the digits; returns the loss after every step."""
    rng = np.random.default_rng(seed)
    losses = []
    steps_iter = progress(range(steps), desc="training") if show_progress else range(steps)
    for _ in steps_iter:
        idx = ml.tensor(rng.choice(len(data.x_train), batch_size, replace=False))
        loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        total = loss * loss_scale
        if l2:
            total = total + l2 / 2 * sum((p ** 2).sum() for p in model.parameters())
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def accuracy(model, x, y):
    with ml.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


# %%
mine, ref = make_mlp(), make_mlp()
losses_mine = train(mine, FromScratch(mine.parameters(), adamw_step, 2, lr=1e-2, weight_decay=1e-2))
losses_ref = train(ref, ml.optim.AdamW(ref.parameters(), lr=1e-2, weight_decay=1e-2))
print("from-scratch AdamW and minilib.optim.AdamW give the same losses:",
      np.allclose(losses_mine, losses_ref, rtol=1e-4))
print("test accuracy above 90%:", accuracy(mine, data.x_test, data.y_test) > 0.9)


# %% [markdown]
# ## See it: learning rate and momentum
#
# 150 steps of SGD with momentum on the digits. Too small a learning rate crawls; too large
# with high momentum oscillates or diverges.

# %%
def draw_sgd(lr=0.05, momentum=0.9):
    model = make_mlp()
    losses = train(model, ml.optim.SGD(model.parameters(), lr=lr, momentum=momentum), steps=150,
                   show_progress=False)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(losses, lw=1)
    ax.set(xlabel="step", ylabel="training loss", ylim=(0, 3), title=f"SGD lr={lr:.3g}, momentum={momentum:.2f}")
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_sgd, lr=FloatLogSlider(value=0.05, base=10, min=-3, max=0, step=0.1),
      momentum=FloatSlider(value=0.9, min=0.0, max=0.99, step=0.01))


# %% [markdown]
# ## Reproduce the claim: scale the loss, watch the regulariser
#
# Adam's step `m̂ / √v̂` does not change when the loss (so every gradient) is multiplied by a
# constant. With **L2**, the regulariser's gradient λw is *not* multiplied, so scaling the loss
# changes how strongly it pulls weights to zero. With **AdamW** the decay never enters `m` or `v`,
# so the run is unchanged. We train the same network four times and compare the final weights.

# %%
def final_weights(decoupled, loss_scale, lam=1e-1, steps=200):
    model = make_mlp(seed=1)
    if decoupled:
        opt = ml.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=lam)
        train(model, opt, steps, loss_scale=loss_scale, show_progress=False)
    else:
        opt = ml.optim.Adam(model.parameters(), lr=1e-2)
        train(model, opt, steps, loss_scale=loss_scale, l2=lam, show_progress=False)
    return ml.cat([p.detach().reshape(-1) for p in model.parameters()])


def relative_change(a, b):
    return ((a - b).norm() / a.norm()).item()


change = {}
for name, decoupled in (("Adam + L2", False), ("AdamW", True)):
    w1, w100 = final_weights(decoupled, 1.0), final_weights(decoupled, 100.0)
    change[name] = relative_change(w1, w100)

print("AdamW: scaling the loss 100x changes the final weights by less than 1%:", change["AdamW"] < 0.01)
print("Adam + L2: the same scaling changes them by more than 30%:", change["Adam + L2"] > 0.3)
assert change["AdamW"] < 0.01 < 0.3 < change["Adam + L2"]

# %% tags=["nbval-ignore-output"]
print({k: round(v, 4) for k, v in change.items()})

# %% [markdown]
# ## The GPU version
#
# `adamw_step` is plain tensor arithmetic, so it runs on torch tensors. We check it against
# `torch.optim.AdamW` on the best device, then time one training step of the same MLP in
# minilib, torch on the CPU and torch on the device, across batch sizes.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
w0 = np.random.default_rng(2).standard_normal((32, 16)).astype(np.float32)
g0 = np.random.default_rng(3).standard_normal((32, 16)).astype(np.float32)
wt = gpu.to_torch(w0, device)
state = [torch.zeros_like(wt), torch.zeros_like(wt)]
reference = torch.nn.Parameter(wt.clone())
opt = torch.optim.AdamW([reference], lr=1e-2, weight_decay=0.1)
for t in range(1, 4):
    wt, *state = adamw_step(wt, gpu.to_torch(g0 * t, device), *state, t=t, lr=1e-2, weight_decay=0.1)
    reference.grad = gpu.to_torch(g0 * t, device)
    opt.step()
print("adamw_step on torch tensors matches torch.optim.AdamW:", gpu.agree(wt, reference))


# %% tags=["nbval-ignore-output"]
def training_step(lib, device=None):
    def make(batch):
        model = make_mlp(lib=lib)
        if lib is torch:
            model = model.to(device)
        opt = lib.optim.AdamW(model.parameters(), lr=1e-3)
        x = gpu.to_torch(np.ones((batch, 64), np.float32), device) if lib is torch else ml.ones(batch, 64)
        y = gpu.to_torch(np.zeros(batch, np.int64), device) if lib is torch else ml.zeros(batch, dtype=ml.int64)

        def run():
            opt.zero_grad()
            lib.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

        return run

    return make


rows = gpu.compare_timings([64, 512, 4096], {"minilib": (training_step(ml), "cpu"),
                                             "torch-cpu": (training_step(torch, "cpu"), "cpu"),
                                             f"torch on {device.type}": (training_step(torch, device), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "one AdamW training step of the MLP")

# %% [markdown]
# ## Takeaways
#
# * An optimizer is an update rule plus per-parameter state; `zero_grad`/`step` just apply it.
# * Momentum accumulates a velocity; Adam normalises each coordinate by its gradient scale.
# * In Adam, L2 regularisation is normalised too, so its strength depends on the loss scale and
#   on each weight's gradient history. AdamW's decoupled decay shrinks every weight by the same
#   factor, whatever the gradients.
#
# **Questions a teacher might ask**
# 1. For plain SGD, show that L2 with coefficient λ equals weight decay with coefficient ηλ.
# 2. Why does Adam need bias correction, and what would the first step look like without it?
# 3. In the widget, which learning rates diverge at momentum 0.99 but not at 0.5? Why?
# 4. Weights that receive large gradients: are they decayed more or less by Adam + L2 than by AdamW?
