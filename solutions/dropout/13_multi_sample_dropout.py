# %% [markdown]
# # 13 · Multi-sample dropout
#
# **The idea.** One dropout mask per step gives a noisy estimate of the loss the network is really
# being trained on, its average over all masks. Inoue draws M masks after a shared trunk,
# runs the small head on each dropped-out copy, and averages the M losses. The expensive trunk still
# runs once, so the extra cost is small, and the lower-variance loss trains faster per iteration.
#
# *Paper:* H. Inoue, **"Multi-Sample Dropout for Accelerated Training and Better Generalization"**,
# 2019 (arXiv:1905.09788).
#
# The claim we reproduce: with M = 8 dropout samples the training loss after a fixed number of
# iterations is lower than with M = 1, for every seed, while the extra multiply-adds stay under 15%
# of the network's.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import FloatSlider, IntSlider

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import check, gpu, panel, progress

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: M dropped-out copies through the head, in one batch
#
# Looping M times over the head would cost M sets of Python calls. Instead, stack the M copies:
# masks of shape (M, B, d) multiply the trunk's features h (B, d), broadcast along the first
# dimension. The result is reshaped to (M·B, d) for one pass through the head, and then back to
# (M, B, classes).
#
# **Exercise.** Write `multi_sample_logits`. The masks are passed in, so the function runs on torch
# too.

# %%
def multi_sample_logits(h, head, masks, p):
    """Logits (M, B, C) of `head` applied to h (B, d) under each of the M keep masks (M, B, d)."""
    # BEGIN SOLUTION
    m, b, d = masks.shape
    dropped = h * masks / (1 - p)  # (M, B, d)
    return head(dropped.reshape(m * b, d)).reshape(m, b, -1)
    # END SOLUTION


# %%
def looped_logits(h, head, masks, p):
    return ml.stack([head(h * masks[i] / (1 - p)) for i in range(masks.shape[0])])


demo_head = nn.Linear(6, 3)
demo_masks = (ml.rand(4, 5, 6, generator=ml.Generator().manual_seed(0)) >= 0.5).float()
check("multi_sample_logits", lambda h: multi_sample_logits(h, demo_head, demo_masks, 0.5),
      lambda h: looped_logits(h, demo_head, demo_masks, 0.5), (5, 6),
      hint="h * masks broadcasts to (M, B, d); reshape to (M*B, d) for the head")


# %% [markdown]
# ## From scratch 2: the averaged loss
#
# Averaging the M cross-entropies equals one cross-entropy over all M·B rows, with the targets
# repeated M times.
#
# **Exercise.** Write `multi_sample_loss`.

# %%
def multi_sample_loss(logits, y, F=F):
    """Mean over the M samples of the cross-entropy of logits (M, B, C) against labels y (B,)."""
    # BEGIN SOLUTION
    m, b, c = logits.shape
    return F.cross_entropy(logits.reshape(m * b, c), y.repeat(m))
    # END SOLUTION


# %%
labels = ml.tensor([0, 2, 1, 1, 0])
check("multi_sample_loss", lambda z: multi_sample_loss(z, labels),
      lambda z: ml.stack([F.cross_entropy(z[i], labels) for i in range(z.shape[0])]).mean(), (4, 5, 3),
      hint="flatten the first two dims and repeat the labels M times")

# %% [markdown]
# ## See it: how noisy is one mask?
#
# For one fixed batch of 64 digits and a network at its initial weights, we draw the
# multi-sample loss 300 times. With M = 1 it scatters widely; as M grows the spread shrinks like
# 1/√M. The gradient is just as noisy as the loss, and that noise is what multi-sample dropout
# reduces.

# %%
data = ml.data.digits(flatten=True)


def make_net(seed=0, width=512):
    ml.manual_seed(seed)
    trunk = nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
    return trunk, nn.Linear(width, 10)


demo_trunk, demo_head = make_net()
with ml.no_grad():
    demo_h = demo_trunk(data.x_train[:64])


def draw_spread(m=8, p=0.5):
    g = ml.Generator().manual_seed(0)
    fig, ax = plt.subplots(figsize=(6, 3.3))
    for count, color in ((1, "C0"), (m, "C1")):
        with ml.no_grad():
            draws = [multi_sample_loss(multi_sample_logits(
                demo_h, demo_head, (ml.rand(count, *demo_h.shape, generator=g) >= p).float(), p),
                data.y_train[:64]).item() for _ in range(300)]
        ax.hist(draws, bins=40, alpha=0.6, color=color, label=f"M={count}: std {np.std(draws):.4f}")
    ax.set(xlabel="loss on one fixed batch", ylabel="draws", title=f"300 draws of the dropout loss, p={p:.2f}")
    ax.legend()
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_spread, m=IntSlider(value=8, min=1, max=32), p=FloatSlider(value=0.5, min=0.1, max=0.9, step=0.1))


# %% [markdown]
# ## Reproduce the claim
#
# A trunk of two 512-unit layers and a linear head with dropout 0.5 before it, trained with Adam
# on mini-batches of 64 digits for 300 iterations. The runs differ only in M. The network's
# multiply-adds per example are 64·512 + 512·512 in the trunk and 512·10 per sample in the head, so we can
# compute the extra cost exactly rather than time it.

# %%
def train(m, seed, steps=300, batch=64, p=0.5):
    trunk, head = make_net(seed)
    opt = ml.optim.Adam(list(trunk.parameters()) + list(head.parameters()), lr=1e-3)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        idx = ml.tensor(rng.choice(len(data.x_train), batch, replace=False))
        h = trunk(data.x_train[idx])
        masks = (ml.rand(m, *h.shape) >= p).float()
        opt.zero_grad()
        multi_sample_loss(multi_sample_logits(h, head, masks, p), data.y_train[idx]).backward()
        opt.step()
    with ml.no_grad():
        return F.cross_entropy(head(trunk(data.x_train)), data.y_train).item()


losses = {m: [train(m, seed) for seed in progress(range(3), desc=f"M={m}")] for m in (1, 8)}
trunk_macs, head_macs = 64 * 512 + 512 * 512, 512 * 10
extra = 7 * head_macs / (trunk_macs + head_macs)

# %% tags=["nbval-ignore-output"]
print({m: [round(v, 4) for v in vals] for m, vals in losses.items()})
print(f"extra multiply-adds for M=8: {extra:.1%}")

# %%
lower = [a < b for a, b in zip(losses[8], losses[1])]
print("M=8 ends with a lower training loss than M=1 for every seed:", all(lower))
print("the 7 extra head passes add under 15% to the multiply-adds:", extra < 0.15)
assert all(lower) and extra < 0.15

# %% [markdown]
# ## The GPU version
#
# Given the same masks, `multi_sample_logits` and `multi_sample_loss` on torch tensors must agree
# with minilib's. PyTorch has no built-in multi-sample dropout, so we time our batched form
# against the obvious loop of M calls to `torch.nn.functional.dropout` and the head.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
trunk, head = make_net()
h = trunk(data.x_train[:64]).detach()
masks = (ml.rand(8, *h.shape, generator=ml.Generator().manual_seed(0)) >= 0.5).float()
head_t = torch.nn.Linear(512, 10)
ml.interop.copy_weights(head, head_t)
head_t = head_t.to(device)
ht, masks_t, yt = (gpu.to_torch(a, device) for a in (h, masks, data.y_train[:64]))
logits_t = multi_sample_logits(ht, head_t, masks_t, 0.5)
print("logits agree with minilib's:", gpu.agree(logits_t, multi_sample_logits(h, head, masks, 0.5), atol=1e-4))
print("losses agree:", gpu.agree(multi_sample_loss(logits_t, yt, F=torch.nn.functional),
                                 multi_sample_loss(multi_sample_logits(h, head, masks, 0.5), data.y_train[:64]),
                                 atol=1e-5))


# %% tags=["nbval-ignore-output"]
def head_runner(lib, device=None, looped=False):
    """Forward + backward of M dropout samples through a 512 -> 10 head on a batch of 256."""
    def make(m):
        if lib is ml:
            hh, hd, yy, f = ml.randn(256, 512, requires_grad=True), nn.Linear(512, 10), ml.randint(0, 10, (256,)), F
            rand = ml.rand
        else:
            rng = np.random.default_rng(0)
            hh = gpu.to_torch(rng.standard_normal((256, 512), np.float32), device, True)
            hd, yy = torch.nn.Linear(512, 10).to(device), gpu.to_torch(rng.integers(0, 10, 256), device)
            f = torch.nn.functional

            def rand(*shape):
                return torch.rand(*shape, device=device)

        if looped:
            return lambda: (sum(f.cross_entropy(hd(f.dropout(hh, 0.5)), yy) for _ in range(m)) / m).backward()
        return lambda: multi_sample_loss(multi_sample_logits(hh, hd, (rand(m, 256, 512) >= 0.5).float(), 0.5),
                                         yy, F=f).backward()

    return make


rows = gpu.compare_timings([1, 4, 16], {
    "yours, minilib": (head_runner(ml), "cpu"),
    "yours, torch cpu": (head_runner(torch, "cpu"), "cpu"),
    "loop of F.dropout, torch cpu": (head_runner(torch, "cpu", looped=True), "cpu"),
    f"yours, torch on {device.type}": (head_runner(torch, device), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "multi-sample head, forward + backward, by M")

# %% [markdown]
# ## Takeaways
#
# * Averaging the loss over M dropout masks estimates the expected dropout loss with 1/M of the
#   variance, so each iteration makes more progress.
# * The trunk runs once. Only the cheap part after it is repeated, so the extra cost is small:
#   12% of the multiply-adds here, less with a deeper trunk.
# * Stacking the M copies into the batch dimension turns M small passes into one larger one.
#
# **Questions a teacher might ask**
# 1. Multi-sample dropout with M samples is *not* the same as a batch M times larger. What is
#    shared, and what is not?
# 2. Compare the loss after equal *wall-clock time* instead of equal iterations on your machine.
#    Does M = 8 still win? Where is the crossover?
# 3. Inoue also varies other operations per sample (flips, pooling). Add a per-sample horizontal
#    shift of the features and test it.
# 4. At test time the dropout is off. Does M change what the network computes at test time?
