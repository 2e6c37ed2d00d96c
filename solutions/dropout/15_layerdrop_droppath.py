# %% [markdown]
# # 15 · Structured dropout of depth: LayerDrop and drop-path
#
# **The idea.** Dropout removes units. Structured dropout removes whole layers or paths. In a
# residual network h ← h + f(h), skipping a block leaves a valid network: h passes through
# unchanged. FractalNet (Larsson et al.) trained with *drop-path*, which removes the paths into a
# join at random. Fan et al.'s *LayerDrop* skips whole residual layers at random during
# training. A network trained this way has learned to work without any given layer. At inference
# you can prune it to any depth you need without retraining ("depth on demand").
#
# *Papers:* A. Fan, E. Grave, A. Joulin, **"Reducing Transformer Depth on Demand with Structured
# Dropout"**, ICLR 2020 (arXiv:1909.11556); G. Larsson, M. Maire, G. Shakhnarovich,
# **"FractalNet: Ultra-Deep Neural Networks without Residuals"**, ICLR 2017 (arXiv:1605.07648).
#
# The claim we reproduce: a residual network trained with LayerDrop keeps its accuracy when half or
# three quarters of its layers are pruned at inference; the same network trained without LayerDrop
# does not.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import Dropdown, IntSlider

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import check, expect, gpu, panel, progress

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: drop-path, one example at a time
#
# The per-example form used in today's vision transformers (also called stochastic depth) keeps or
# drops a residual branch separately for each example in the batch: h + f(h)·k/(1 − p), with
# k ∈ {0, 1} per row. As with dropout, dividing by 1 − p keeps the expectation.
#
# **Exercise.** Write `drop_path(h, branch, keep, p)`, with keep a (B,) 0/1 tensor.

# %%
def drop_path(h, branch, keep, p):
    """h + branch with the branch of example i kept (scaled by 1/(1-p)) where keep[i] == 1. h, branch: (B, d)."""
    # BEGIN SOLUTION
    return h + branch * keep.reshape(-1, 1) / (1 - p)
    # END SOLUTION


# %%
row_keep = ml.tensor([1.0, 0.0, 1.0, 1.0, 0.0])
check("drop_path", lambda h, f: drop_path(h, f, row_keep, 0.4),
      lambda h, f: h + f * (row_keep / 0.6)[:, None], (5, 3), (5, 3),
      hint="reshape keep to (B, 1) so that it scales whole rows")


# %% [markdown]
# ## From scratch 2: which layers to keep when pruning
#
# Fan et al. prune evenly: to keep k of n layers, keep every (n/k)-th layer, so the layers that
# remain are spread over the whole depth.
#
# **Exercise.** Write `layers_to_keep(n, k)`: the indices round(i·n/k) for i = 0 … k−1.

# %%
def layers_to_keep(n, k):
    """Indices of k evenly spread layers out of n (k <= n)."""
    # BEGIN SOLUTION
    if not 1 <= k <= n:
        raise ValueError(f"layers_to_keep: need 1 <= k <= n, got k={k}, n={n}")
    return [round(i * n / k) for i in range(k)]
    # END SOLUTION


# %%
expect("layers_to_keep", lambda: {
    "all 8 of 8": layers_to_keep(8, 8) == list(range(8)),
    "every other layer for 4 of 8": layers_to_keep(8, 4) == [0, 2, 4, 6],
    "k distinct indices below n": all(len(set(layers_to_keep(12, k))) == k and max(layers_to_keep(12, k)) < 12
                                      for k in range(1, 13))},
    hint="[round(i * n / k) for i in range(k)]")


# %% [markdown]
# ## From scratch 3: a residual stack with both kinds of structured dropout
#
# `forward(x, keep=None)`: in training, with `mode="layerdrop"` each block is skipped for the whole
# batch with probability p; with `mode="droppath"` each block's branch goes through `drop_path`
# with a fresh per-example mask. At inference, `keep` lists the blocks to run, and the others are
# skipped.
#
# **Exercise.** Write the loop over blocks.

# %%
class ResidualMLP(nn.Module):
    def __init__(self, depth=8, width=64, mode="none", p=0.5):
        super().__init__()
        self.mode, self.p = mode, p
        self.embed = nn.Linear(64, width)
        self.blocks = nn.ModuleList([nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.ReLU(),
                                                   nn.Linear(width, width)) for _ in range(depth)])
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 10))

    def forward(self, x, keep=None):
        h = self.embed(x)
        # BEGIN SOLUTION
        for i, block in enumerate(self.blocks):
            if keep is not None and i not in keep:
                continue
            if self.training and self.mode == "layerdrop":
                if ml.rand(1).item() < self.p:
                    continue
                h = h + block(h)
            elif self.training and self.mode == "droppath":
                h = drop_path(h, block(h), (ml.rand(h.shape[0]) >= self.p).float(), self.p)
            else:
                h = h + block(h)
        # END SOLUTION
        return self.head(h)


# %%
def stack_properties():
    ml.manual_seed(0)
    net, x = ResidualMLP(depth=4, mode="layerdrop", p=0.5).eval(), ml.randn(3, 64)
    with ml.no_grad():
        e = net.embed(x)
        only_embed_and_head = net.head(e)
        h0 = e + net.blocks[0](e)
        two = net.head(h0 + net.blocks[2](h0))
        seen = {tuple(net.train()(x).detach().numpy().round(5).ravel()) for _ in range(20)}
    return {"keep=[] skips every block": gpu.agree(net.eval()(x, keep=[]), only_embed_and_head),
            "keep=[0, 2] runs blocks 0 and 2 in order": gpu.agree(net.eval()(x, keep=[0, 2]), two),
            "layerdrop gives different depths in training": len(seen) > 1}


expect("ResidualMLP", stack_properties, hint="skip block i when keep is given and i is not in it")

# %% [markdown]
# ## See it: depth on demand
#
# Eight residual blocks on digits, trained three times with the same initial weights and batches:
# without structured dropout, with LayerDrop (p = 0.5) and with per-example drop-path (p = 0.5).

# %%
data = ml.data.digits(flatten=True)


def train(mode, steps=400, batch=64):
    ml.manual_seed(0)
    model = ResidualMLP(mode=mode)
    opt = ml.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    for _ in progress(range(steps), desc=mode):
        idx = ml.tensor(rng.choice(len(data.x_train), batch, replace=False))
        model.train()
        opt.zero_grad()
        F.cross_entropy(model(data.x_train[idx]), data.y_train[idx]).backward()
        opt.step()
    return model.eval()


def pruned_accuracy(model, k):
    with ml.no_grad():
        logits = model(data.x_test, keep=layers_to_keep(len(model.blocks), k))
    return (logits.argmax(1) == data.y_test).float().mean().item()


models = {mode: train(mode) for mode in ("none", "layerdrop", "droppath")}


# %% [markdown]
# Choose how many of the 8 blocks to keep: the diagram shows which ones stay, and the
# curves show each trained network's test accuracy at every depth.

# %%
def draw_depth(keep=4, highlight="layerdrop"):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.3), gridspec_kw={"width_ratios": [1, 2]})
    chosen = layers_to_keep(8, keep)
    axes[0].barh(range(8), [1] * 8, color=["C2" if i in chosen else "lightgrey" for i in range(8)])
    axes[0].set(yticks=range(8), xticks=[], ylabel="block", title=f"{keep} of 8 blocks kept")
    axes[0].invert_yaxis()
    for mode, color in zip(models, ("C0", "C1", "C3")):
        accs = [pruned_accuracy(models[mode], k) for k in range(1, 9)]
        axes[1].plot(range(1, 9), accs, marker="o", color=color, lw=3 if mode == highlight else 1, label=mode)
        axes[1].plot([keep], [accs[keep - 1]], "s", color=color, ms=10)
    axes[1].set(xlabel="blocks kept at inference", ylabel="test accuracy", ylim=(0, 1),
                title="pruned without retraining")
    axes[1].legend()
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_depth, keep=IntSlider(value=4, min=1, max=8), highlight=Dropdown(options=list(models), value="layerdrop"))

# %% [markdown]
# ## Reproduce the claim
#
# Each of the three networks is pruned to 8, 4, 2 and 1 evenly spread blocks, with no retraining.

# %%
kept = [8, 4, 2, 1]
accuracy = {mode: [pruned_accuracy(m, k) for k in kept] for mode, m in models.items()}

# %% tags=["nbval-ignore-output"]
print({mode: [round(a, 3) for a in accs] for mode, accs in accuracy.items()})

# %%
full, half, quarter = (dict(zip(accuracy, a)) for a in zip(*(accuracy[m][:3] for m in accuracy)))
print("all three reach 95% with every layer:", min(full.values()) > 0.95)
print("LayerDrop pruned to 4 or 2 of 8 loses under 2 points:", full["layerdrop"] - min(half["layerdrop"],
                                                                                       quarter["layerdrop"]) < 0.02)
print("without it, pruning to 4 of 8 loses over 5 points:", full["none"] - half["none"] > 0.05)
assert min(full.values()) > 0.95
assert full["layerdrop"] - min(half["layerdrop"], quarter["layerdrop"]) < 0.02 and full["none"] - half["none"] > 0.05

# %% [markdown]
# ## The GPU version
#
# `drop_path` is arithmetic, so with the same mask it agrees across libraries. We also copy the
# LayerDrop network's weights into a torch model with the same layout and check that the pruned
# forward passes agree. Pruning is what LayerDrop is for, so the timing compares the pruned
# depths, on the CPU and on the device.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()


# %%
class TorchResidualMLP(torch.nn.Module):
    """The same layout in torch, at inference (no structured dropout)."""

    def __init__(self, depth=8, width=64):
        super().__init__()
        self.embed = torch.nn.Linear(64, width)
        self.blocks = torch.nn.ModuleList([torch.nn.Sequential(
            torch.nn.LayerNorm(width), torch.nn.Linear(width, width), torch.nn.ReLU(), torch.nn.Linear(width, width))
            for _ in range(depth)])
        self.head = torch.nn.Sequential(torch.nn.LayerNorm(width), torch.nn.Linear(width, 10))

    def forward(self, x, keep=None):
        h = self.embed(x)
        for i in range(len(self.blocks)) if keep is None else keep:
            h = h + self.blocks[i](h)
        return self.head(h)


twin = TorchResidualMLP()
ml.interop.copy_weights(models["layerdrop"], twin)
twin = twin.to(device).eval()
xt = gpu.to_torch(data.x_test, device)
with torch.no_grad(), ml.no_grad():
    print("pruned forward passes agree (4 of 8 blocks):",
          gpu.agree(twin(xt, keep=layers_to_keep(8, 4)), models["layerdrop"](data.x_test, keep=layers_to_keep(8, 4)),
                    atol=1e-4))
h, f = ml.randn(6, 4), ml.randn(6, 4)
rows_kept = (ml.rand(6, generator=ml.Generator().manual_seed(0)) >= 0.5).float()
print("drop_path on torch agrees:", gpu.agree(drop_path(gpu.to_torch(h, device), gpu.to_torch(f, device),
                                                        gpu.to_torch(rows_kept, device), 0.5),
                                              drop_path(h, f, rows_kept, 0.5)))


# %% tags=["nbval-ignore-output"]
def pruned_runner(lib, device=None):
    """Inference on 4,096 examples with k blocks kept, for the size axis k."""
    x_np = np.random.default_rng(0).standard_normal((4096, 64), np.float32)

    def make(k):
        if lib is ml:
            model, x = models["layerdrop"], ml.tensor(x_np)
        else:
            model, x = twin.to(device), gpu.to_torch(x_np, device)

        def run():
            with ml.no_grad(), torch.no_grad():
                return model(x, keep=layers_to_keep(8, k))

        return run

    return make


rows = gpu.compare_timings([1, 2, 4, 8], {
    "minilib": (pruned_runner(ml), "cpu"),
    "torch cpu": (pruned_runner(torch, "cpu"), "cpu"),
    f"torch on {device.type}": (pruned_runner(torch, device), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "inference on 4,096 digits, by blocks kept")

# %% [markdown]
# ## Takeaways
#
# * A residual block can be skipped and the network is still a network. Structured dropout trains
#   for that case, so that every subset of blocks works.
# * LayerDrop skips blocks for the whole batch (cheap: a skipped block costs nothing);
#   drop-path skips them per example. Both make the network robust to pruning.
# * Without it, removing blocks at inference hands later layers inputs they have never seen.
#
# **Questions a teacher might ask**
# 1. LayerDrop with p = 0.5 trains, on average, a 4-block network. Why does the full 8-block network
#    still work at inference? How does its accuracy compare with the plain network's?
# 2. Fan et al. also try choosing *which* layers to keep with a data-driven rule. Try keeping the
#    first 4 blocks instead of every other one. Which is better here?
# 3. Drop-path scales kept branches by 1/(1 − p); LayerDrop as written above does not scale. Should it?
# 4. In FractalNet, drop-path acts on the paths into a join, with a "global" mode that keeps a
#    single column. Sketch how you would write that on top of `drop_path`.
