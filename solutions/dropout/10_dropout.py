# %% [markdown]
# # 10 · Dropout
#
# **The idea.** A large network trained on little data lets its hidden units *co-adapt*: each one
# is useful only together with a particular set of others, and together they memorise the
# training set. Dropout removes every unit at random with probability p on every training step,
# so no unit can count on its neighbours. Each unit has to be useful on its own, which
# regularises the network. At test time all units are used, with their outputs scaled so that
# each one's expected value matches what it was during training.
#
# *Paper:* G. E. Hinton, N. Srivastava, A. Krizhevsky, I. Sutskever, R. R. Salakhutdinov,
# **"Improving neural networks by preventing co-adaptation of feature detectors"**, 2012
# (arXiv:1207.0580).
#
# The claim we reproduce: on a small subset of digits an MLP overfits, and dropout narrows the
# gap between training and test loss and raises test accuracy.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import FloatSlider, IntSlider

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import check, expect, gpu, panel, progress

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: the keep mask
#
# A mask has the input's shape and holds 1.0 for a unit that survives (probability 1 − p) and 0.0
# for one that is dropped. `ml.rand(*shape, generator=g)` gives uniform numbers in [0, 1), and a
# comparison gives booleans that `.float()` turns into 0.0 and 1.0.
#
# **Exercise.** Write `keep_mask`.

# %%
def keep_mask(shape, p, generator=None):
    """A float32 tensor of `shape`: 1.0 with probability 1 - p, else 0.0."""
    # BEGIN SOLUTION
    return (ml.rand(*shape, generator=generator) >= p).float()
    # END SOLUTION


# %%
def mask_properties():
    mask = keep_mask((200, 500), 0.3, generator=ml.Generator().manual_seed(1))
    again = keep_mask((200, 500), 0.3, generator=ml.Generator().manual_seed(1))
    return {"the shape asked for": tuple(mask.shape) == (200, 500),
            "only 0.0 and 1.0": bool(((mask == 0) | (mask == 1)).all().item()),
            "70% kept, within 1%": abs(mask.mean().item() - 0.7) < 0.01,
            "the same mask from the same seed": bool((mask == again).all().item())}


expect("keep_mask", mask_properties, hint="compare ml.rand(...) with p, then .float()")


# %% [markdown]
# ## From scratch 2: inverted dropout
#
# The 2012 paper halved the outgoing weights at test time. The form everyone uses now, *inverted*
# dropout, rescales during training instead: the kept units are divided by 1 − p, so each unit's
# expected value is unchanged, and the network at test time is left exactly as it is.
#
# **Exercise.** Write `dropout(x, keep, p)` with the mask passed in. With the mask an argument,
# the same function runs on torch tensors later, and both libraries can use the same mask.

# %%
def dropout(x, keep, p):
    """Inverted dropout of x with a given 0/1 mask `keep` of x's shape (any library)."""
    # BEGIN SOLUTION
    return x * keep / (1 - p)
    # END SOLUTION


# %%
fixed_mask = keep_mask((6, 5), 0.4, generator=ml.Generator().manual_seed(0))
check("dropout", dropout, lambda x, keep, p: x * keep * (1 / (1 - p)), (6, 5), fixed_mask, 0.4,
      hint="keep the kept units and divide them by 1 - p")


# %% [markdown]
# ## From scratch 3: a dropout layer
#
# As a module, dropout has to know whether it is training: `self.training` is set by
# `model.train()` and `model.eval()`. In eval mode it passes its input through unchanged.
#
# **Exercise.** Write `forward`.

# %%
class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        # BEGIN SOLUTION
        if not self.training or self.p == 0:
            return x
        return dropout(x, keep_mask(x.shape, self.p), self.p)
        # END SOLUTION


# %%
def layer_properties():
    layer, x = Dropout(0.5), ml.ones(400, 250)
    train_out = layer.train()(x)
    return {"eval mode returns the input unchanged": bool((layer.eval()(x) == x).all().item()),
            "about half the units dropped in training": abs((train_out == 0).float().mean().item() - 0.5) < 0.02,
            "the mean is preserved in training": abs(train_out.mean().item() - 1.0) < 0.03}


expect("Dropout", layer_properties, hint="check self.training first; then use keep_mask and dropout")

# %% [markdown]
# ## See it: masks, and the expectation they preserve
#
# A hidden layer's activations, here a digit's 8x8 pixels scaled up to stand in for 64 units, pass through
# dropout. The mask changes at every step. The average of many dropped-out copies comes back to
# the input: that is what "the expected value is preserved" means. Move p, and the number of
# masks averaged.

# %%
digit = ml.data.digits().x_test[0, 0]  # (8, 8) in [0, 1]


def draw_dropout(p=0.5, n_masks=1):
    g = ml.Generator().manual_seed(0)
    samples = [dropout(digit, keep_mask(digit.shape, p, generator=g), p) for _ in range(n_masks)]
    fig, axes = plt.subplots(1, 4, figsize=(11, 3))
    for ax, img, title in zip(axes[:3], (digit, samples[0], ml.stack(samples).mean(0)),
                              ("input", f"one mask, p={p:.2f}", f"mean of {n_masks} masks")):
        ax.imshow(img, cmap="magma", vmin=0, vmax=2)
        ax.set_title(title)
        ax.axis("off")
    errors = [(ml.stack(samples[:k]).mean(0) - digit).abs().mean().item() for k in range(1, n_masks + 1)]
    axes[3].plot(range(1, n_masks + 1), errors, marker=".")
    axes[3].set(xlabel="masks averaged", ylabel="mean |average - input|", ylim=(0, 1), title="expectation")
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_dropout, p=FloatSlider(value=0.5, min=0.0, max=0.9, step=0.05),
      n_masks=IntSlider(value=20, min=1, max=200))

# %% [markdown]
# ## Reproduce the claim: a small training set, a large MLP
#
# 100 training digits and two hidden layers of 256 units: plenty of capacity to memorise. We
# train the same network (same initial weights, same full-batch Adam) without dropout and with
# Hinton's setting: 20% dropout on the inputs and 50% on the hidden units.

# %%
data = ml.data.digits(flatten=True, n_train=100)


def make_mlp(p_hidden, p_input):
    ml.manual_seed(0)
    return nn.Sequential(Dropout(p_input), nn.Linear(64, 256), nn.ReLU(), Dropout(p_hidden),
                         nn.Linear(256, 256), nn.ReLU(), Dropout(p_hidden), nn.Linear(256, 10))


def evaluate(model):
    """(train loss, test loss, test accuracy) in eval mode."""
    with ml.no_grad():
        model.eval()
        train_loss = F.cross_entropy(model(data.x_train), data.y_train).item()
        logits = model(data.x_test)
        test_loss = F.cross_entropy(logits, data.y_test).item()
        accuracy = (logits.argmax(1) == data.y_test).float().mean().item()
    return train_loss, test_loss, accuracy


def train(model, steps=500, every=25):
    opt = ml.optim.Adam(model.parameters(), lr=1e-3)
    curve = []
    for step in progress(range(1, steps + 1), desc="training"):
        model.train()
        opt.zero_grad()
        F.cross_entropy(model(data.x_train), data.y_train).backward()
        opt.step()
        if step % every == 0:
            curve.append((step, *evaluate(model)))
    return np.array(curve)


curves = {"no dropout": train(make_mlp(0.0, 0.0)), "dropout 0.2 / 0.5": train(make_mlp(0.5, 0.2))}

# %%
(_, train_plain, test_plain, acc_plain), (_, train_drop, test_drop, acc_drop) = (c[-1] for c in curves.values())
print("dropout narrows the train/test loss gap:", test_drop - train_drop < test_plain - train_plain)
print("dropout raises test accuracy by at least one point:", acc_drop > acc_plain + 0.01)
assert test_drop - train_drop < test_plain - train_plain and acc_drop > acc_plain + 0.01

# %% tags=["nbval-ignore-output"]
print(f"loss gap: {test_plain - train_plain:.3f} without dropout, {test_drop - train_drop:.3f} with it")
print(f"test accuracy: {acc_plain:.3f} without dropout, {acc_drop:.3f} with it")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for (name, c), color in zip(curves.items(), ("C0", "C1")):
    axes[0].plot(c[:, 0], c[:, 1], color=color, ls="--", label=f"{name}, train")
    axes[0].plot(c[:, 0], c[:, 2], color=color, label=f"{name}, test")
    axes[1].plot(c[:, 0], c[:, 3], color=color, label=name)
axes[0].set(xlabel="step", ylabel="cross-entropy", yscale="log", title="loss")
axes[1].set(xlabel="step", ylabel="test accuracy", title="accuracy")
for ax in axes:
    ax.legend()
fig.tight_layout()

# %% [markdown]
# ## The GPU version
#
# `dropout(x, keep, p)` only multiplies and divides, so it runs unchanged on torch tensors. With the
# same mask it must agree with minilib exactly. PyTorch's built-in `torch.nn.functional.dropout`
# draws its own mask, so for it we check the two properties instead: the fraction dropped,
# and the scale of what is kept.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
x = ml.randn(256, 512)
mask = keep_mask(x.shape, 0.3, generator=ml.Generator().manual_seed(0))
xt, mask_t = gpu.to_torch(x, device), gpu.to_torch(mask, device)
print("your dropout on torch agrees with minilib's:", gpu.agree(dropout(xt, mask_t, 0.3), dropout(x, mask, 0.3)))
torch.manual_seed(0)
builtin = torch.nn.functional.dropout(xt, 0.3)
kept = builtin != 0
print("torch's built-in drops about 30%:", abs(1 - kept.float().mean().item() - 0.3) < 0.01)
print("...and scales the kept units by 1/0.7:", gpu.agree(builtin[kept], xt[kept] / 0.7))


# %% tags=["nbval-ignore-output"]
def dropout_runner(lib, device=None, builtin=False):
    def make(n):
        if lib is ml:
            x = ml.randn(n, 1024)
            return lambda: dropout(x, keep_mask(x.shape, 0.5), 0.5)
        x = gpu.to_torch(np.ones((n, 1024), np.float32), device)
        if builtin:
            return lambda: torch.nn.functional.dropout(x, 0.5)
        return lambda: dropout(x, (torch.rand_like(x) >= 0.5).float(), 0.5)

    return make


rows = gpu.compare_timings([64, 512, 4096], {
    "yours, minilib": (dropout_runner(ml), "cpu"),
    "yours, torch cpu": (dropout_runner(torch, "cpu"), "cpu"),
    "torch F.dropout cpu": (dropout_runner(torch, "cpu", builtin=True), "cpu"),
    f"torch F.dropout on {device.type}": (dropout_runner(torch, device, builtin=True), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "dropout forward, (n, 1024), p = 0.5")

# %% [markdown]
# ## Takeaways
#
# * Dropout multiplies each unit by a fresh random 0/1 mask on every step; inverted dropout divides
#   by 1 − p so that nothing needs to change at test time.
# * On a small training set it narrows the train/test gap and lifts test accuracy. The network
#   cannot rely on any particular unit, so it cannot memorise through fragile combinations of them.
# * The mask is the only random part. Passing it in makes the function run on any library, and
#   lets two libraries be compared exactly.
#
# **Questions a teacher might ask**
# 1. Without rescaling by 1/(1 − p), what would you have to do to the weights at test time, and why
#    is that the same thing in expectation?
# 2. Training loss with dropout (measured in eval mode) ends higher than without. Is that a problem?
# 3. Try p = 0.8 on the hidden layers. What happens to the curves, and why?
# 4. Hinton et al. describe dropout as training an ensemble of 2^n thinned networks that share
#    weights. In what sense is the test-time network an average of them?
