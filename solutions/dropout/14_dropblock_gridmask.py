# %% [markdown]
# # 14 · DropBlock and GridMask: dropping regions, not pixels
#
# **The idea.** Neighbouring activations of a convolutional layer are strongly correlated, so when
# dropout removes single units the network can read the missing value off its neighbours, and
# little information is actually lost. DropBlock drops contiguous *blocks* of a feature map
# instead. GridMask does the same to the input image, with a regular grid of square holes.
# Both remove information that the neighbours cannot fill in.
#
# *Papers:* G. Ghiasi, T.-Y. Lin, Q. V. Le, **"DropBlock: A regularization method for convolutional
# networks"**, NeurIPS 2018 (arXiv:1810.12890); P. Chen, S. Liu, H. Zhao, J. Jia,
# **"GridMask Data Augmentation"**, 2020 (arXiv:2001.04086).
#
# The claim we reproduce: at the same drop rate, dropped blocks (and grid holes) are far harder to
# fill in from their neighbours than dropped pixels. γ, the rate at which block centres are drawn, is
# chosen so that the expected number of dropped units matches the drop rate.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import Dropdown, FloatSlider, IntSlider

import minilib as ml
import minilib.nn.functional as F
from course import check, expect, gpu, panel

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: γ, the rate of block centres
#
# DropBlock draws block centres with probability γ, only where a whole block fits: a
# (f − b + 1)² region of an f×f map, for block size b. Each centre drops b² units. For the
# expected number of dropped units to equal a fraction p of the map:
#
# $$\gamma = \frac{p}{b^2}\,\frac{f^2}{(f - b + 1)^2}.$$
#
# **Exercise.** Write `dropblock_gamma(p, block, size)`.

# %%
def dropblock_gamma(p, block, size):
    """Centre rate γ for drop rate p, block size `block` on a `size` x `size` map."""
    # BEGIN SOLUTION
    return p / block ** 2 * size ** 2 / (size - block + 1) ** 2
    # END SOLUTION


# %%
check("dropblock_gamma", dropblock_gamma, lambda p, b, f: p * f * f / (b * b * (f - b + 1) ** 2), 0.1, 7, 28,
      hint="p / block**2, times the ratio of the map's area to the area where centres may fall")


# %% [markdown]
# ## From scratch 2: from centres to a keep mask
#
# Given a 0/1 map of centres, every centre must grow into a b×b square. A max-pool with kernel b,
# stride 1 and padding b//2 does exactly that: an output unit is 1 when any centre lies within
# its window. The keep mask is 1 minus that. To keep expectations, DropBlock then rescales the
# kept units by (number of units) / (number kept), a data-dependent version of dropout's 1/(1 − p).
#
# **Exercise.** Write `block_keep_mask(centers, block)` (odd block sizes) and
# `apply_keep_mask(x, keep)`. Pass `F` so that torch can run them.

# %%
def block_keep_mask(centers, block, F=F):
    """(N, C, H, W) 0/1 centres -> 0/1 keep mask of the same shape with a b x b hole per centre."""
    # BEGIN SOLUTION
    return 1 - F.max_pool2d(centers, block, stride=1, padding=block // 2)
    # END SOLUTION


def apply_keep_mask(x, keep):
    """x * keep, rescaled so that the total is preserved in expectation: * keep.numel() / keep.sum()."""
    # BEGIN SOLUTION
    return x * keep * (keep.numel() / keep.sum())
    # END SOLUTION


# %%
def painted_reference(centers, block):
    """The same mask, painted square by square in numpy (independent of max-pooling)."""
    c, r = np.asarray(centers), block // 2
    keep = np.ones_like(c)
    for n, ch, i, j in zip(*np.nonzero(c)):
        keep[n, ch, max(i - r, 0):i + r + 1, max(j - r, 0):j + r + 1] = 0
    return ml.tensor(keep)


some_centers = ml.bernoulli(ml.full((2, 3, 12, 12), 0.03), generator=ml.Generator().manual_seed(3))
check("block_keep_mask", block_keep_mask, painted_reference, some_centers, 5, grad=False,
      hint="F.max_pool2d(centers, block, stride=1, padding=block // 2) marks every unit near a centre")
check("apply_keep_mask", lambda x: apply_keep_mask(x, block_keep_mask(some_centers, 5)),
      lambda x: x * painted_reference(some_centers, 5) * (864 / painted_reference(some_centers, 5).sum()),
      (2, 3, 12, 12))


# %% [markdown]
# ## From scratch 3: sampling centres, and GridMask
#
# Centres are Bernoulli(γ) draws, zeroed outside the region where a whole block fits. GridMask
# instead removes, in every d×d cell of a grid shifted by (dy, dx), an l×l square with
# l = round(ratio·d): pixel (i, j) is dropped when (i + dy) mod d < l and (j + dx) mod d < l.
#
# **Exercise.** Write both.

# %%
def sample_centers(shape, p, block, generator=None):
    """Bernoulli(γ) centres of shape (N, C, H, W) (H == W), only where a whole block fits."""
    n, c, h, w = shape
    gamma = dropblock_gamma(p, block, h)
    # BEGIN SOLUTION
    r = block // 2
    valid = ml.zeros(h, w)
    valid[r:h - r, r:w - r] = 1.0
    return ml.bernoulli(ml.full(shape, gamma) * valid, generator=generator)
    # END SOLUTION


def grid_keep_mask(h, w, d, ratio, dy=0, dx=0):
    """(h, w) 0/1 GridMask keep mask: an l x l hole (l = round(ratio * d)) in each d x d cell."""
    # BEGIN SOLUTION
    l = round(ratio * d)
    rows = ((ml.arange(h) + dy) % d < l).float().reshape(h, 1)
    cols = ((ml.arange(w) + dx) % d < l).float().reshape(1, w)
    return 1 - rows * cols
    # END SOLUTION


# %%
def centre_properties():
    centers = sample_centers((400, 1, 28, 28), 0.2, 7, generator=ml.Generator().manual_seed(0))
    expected = dropblock_gamma(0.2, 7, 28) * 22 * 22 / (28 * 28)
    return {"no centre within block//2 of the border": centers[:, :, :3].sum().item() == 0
            and centers[:, :, :, -3:].sum().item() == 0,
            "the centre rate γ inside the valid region (within 5%)":
                abs(centers.mean().item() / expected - 1) < 0.05}


def grid_reference(h, w, d, ratio, dy, dx):
    keep, l = np.ones((h, w), np.float32), round(ratio * d)
    for i in range(h):
        for j in range(w):
            if (i + dy) % d < l and (j + dx) % d < l:
                keep[i, j] = 0
    return ml.tensor(keep)


expect("sample_centers", centre_properties, hint="multiply the γ map by a 0/1 map of the valid region")
check("grid_keep_mask", grid_keep_mask, grid_reference, 13, 17, 6, 0.5, 2, 1, grad=False,
      hint="a unit is dropped when both its row and its column fall inside a hole")

# %% [markdown]
# ## See it: what is left, and what can be guessed back
#
# The top row shows a photo; the bottom row shows a feature map (a vertical-edge filter, ReLU and a
# 3×3 average, like a unit one layer into a CNN). In each row: the masked input, and a *guess* of
# the dropped values from their kept neighbours (the mean of the kept pixels in the surrounding
# 3×3 window). Dropped pixels are
# guessed almost perfectly. Dropped blocks and grid holes are not.

# %%
photo = ml.data.sample_image("china.jpg", gray=True, size=(96, 144))
sobel = ml.tensor([[[[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]]])
edges = F.avg_pool2d(F.conv2d(photo[None, None], sobel, padding=1).relu(), 3, stride=1, padding=1)[0, 0]


def keep_for(method, p, block, shape, seed=0):
    g = ml.Generator().manual_seed(seed)
    h, w = shape
    if method == "dropout":
        return (ml.rand(h, w, generator=g) >= p).float()
    if method == "DropBlock":
        side = max(h, w)
        return block_keep_mask(sample_centers((1, 1, side, side), p, block, generator=g), block)[0, 0, :h, :w]
    d = round(block / p ** 0.5)  # GridMask: holes of side `block` in cells of side d, (block/d)^2 ~ p dropped
    offsets = ml.randint(0, d, (2,), generator=g).tolist()
    return grid_keep_mask(h, w, d, block / d, *offsets)


def fill_in(image, keep, k=3):
    """Guess each dropped pixel as the mean of the kept pixels in its k x k window (global mean if none)."""
    total = F.avg_pool2d((image * keep)[None, None], k, stride=1, padding=k // 2)[0, 0]
    count = F.avg_pool2d(keep[None, None], k, stride=1, padding=k // 2)[0, 0]
    guess = ml.where(count > 0, total / count.clamp(min=1e-6), image.mean())
    return keep * image + (1 - keep) * guess


def fill_error(image, keep):
    """Mean squared error of the guesses, over the dropped pixels only."""
    dropped = 1 - keep
    return (((fill_in(image, keep) - image) ** 2) * dropped).sum().item() / max(dropped.sum().item(), 1)


def draw_masks(method="DropBlock", p=0.15, block=7):
    keep = keep_for(method, p, block, tuple(photo.shape))
    fig, axes = plt.subplots(2, 2, figsize=(9, 5.4))
    for row, (name, image) in enumerate((("photo", photo), ("edge feature map", edges))):
        axes[row, 0].imshow(image * keep, cmap="gray")
        axes[row, 0].set_title(f"{name}, {method}: {1 - keep.mean().item():.0%} dropped")
        axes[row, 1].imshow(fill_in(image, keep), cmap="gray")
        axes[row, 1].set_title(f"filled in from neighbours, error {fill_error(image, keep):.4f}")
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_masks, method=Dropdown(options=["dropout", "DropBlock", "GridMask"], value="DropBlock"),
      p=FloatSlider(value=0.15, min=0.05, max=0.4, step=0.05), block=IntSlider(value=7, min=3, max=15, step=2))

# %% [markdown]
# ## Reproduce the claim
#
# **γ gives the drop rate asked for.** Blocks may overlap, so the fraction actually dropped is a little
# below p, and falls further below it as p grows. We measure it over 200 masks of a 28×28 map.

# %%
rates = [0.05, 0.1, 0.15, 0.2, 0.3]
measured = [1 - block_keep_mask(sample_centers((200, 1, 28, 28), p, 7, generator=ml.Generator().manual_seed(1)),
                                7).mean().item() for p in rates]
print("drop rate within 10% of p for p <= 0.15:", all(abs(m / p - 1) < 0.1 for p, m in zip(rates[:3], measured)))
print("never above p (overlaps only lose):", all(m <= p * 1.02 for p, m in zip(rates, measured)))
assert all(abs(m / p - 1) < 0.1 for p, m in zip(rates[:3], measured)) and all(
    m <= p * 1.02 for p, m in zip(rates, measured))

# %% [markdown]
# **Blocks cannot be filled in from their neighbours.** We drop 15% of a photo and of its
# edge map with each method (GridMask with holes of side 7 in cells of side 18), guess the dropped values from
# their neighbours, and compare the errors over 10 masks each.

# %%
errors = {(method, name): np.mean([fill_error(image, keep_for(method, 0.15, 7, tuple(image.shape), seed))
                                   for seed in range(10)])
          for method in ("dropout", "DropBlock", "GridMask") for name, image in (("photo", photo), ("edges", edges))}

# %% tags=["nbval-ignore-output"]
print({k: round(float(v), 5) for k, v in errors.items()})

# %%
for name in ("photo", "edges"):
    ratio = errors["DropBlock", name] / errors["dropout", name]
    print(f"{name}: DropBlock's holes are at least 3x harder to fill than dropout's:", ratio > 3)
    print(f"{name}: so are GridMask's:", errors["GridMask", name] / errors["dropout", name] > 3)
assert all(errors[m, n] > 3 * errors["dropout", n] for m in ("DropBlock", "GridMask") for n in ("photo", "edges"))

# %% [markdown]
# ## The GPU version
#
# `block_keep_mask` and `apply_keep_mask` use `max_pool2d`, arithmetic and sums, so they run on torch.
# Given the same centres they must give the same mask and output. PyTorch itself has no DropBlock
# (torchvision has `ops.drop_block2d`, which this course does not install). For a sense of
# cost, we time it next to the built-in `torch.nn.functional.dropout` on the same maps.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
x = ml.randn(4, 8, 28, 28)
centers = sample_centers(tuple(x.shape), 0.1, 7, generator=ml.Generator().manual_seed(0))
xt, centers_t = gpu.to_torch(x, device), gpu.to_torch(centers, device)
keep_t = block_keep_mask(centers_t, 7, F=torch.nn.functional)
print("masks agree with minilib's:", gpu.agree(keep_t, block_keep_mask(centers, 7)))
print("outputs agree:", gpu.agree(apply_keep_mask(xt, keep_t), apply_keep_mask(x, block_keep_mask(centers, 7))))


# %% tags=["nbval-ignore-output"]
def dropblock_runner(lib, device=None, builtin=False):
    """DropBlock (p=0.1, block 7) or plain dropout on (n, 32, 28, 28) feature maps."""
    def make(n):
        if lib is ml:
            x = ml.randn(n, 32, 28, 28)
            return lambda: apply_keep_mask(x, block_keep_mask(sample_centers(tuple(x.shape), 0.1, 7), 7))
        x = gpu.to_torch(np.ones((n, 32, 28, 28), np.float32), device)
        if builtin:
            return lambda: torch.nn.functional.dropout(x, 0.1)
        gamma = dropblock_gamma(0.1, 7, 28)

        def run():
            centers = torch.zeros_like(x)
            centers[:, :, 3:-3, 3:-3] = (torch.rand(n, 32, 22, 22, device=device) < gamma).float()
            return apply_keep_mask(x, block_keep_mask(centers, 7, F=torch.nn.functional))

        return run

    return make


rows = gpu.compare_timings([2, 8, 32], {
    "yours, minilib": (dropblock_runner(ml), "cpu"),
    "yours, torch cpu": (dropblock_runner(torch, "cpu"), "cpu"),
    f"yours, torch on {device.type}": (dropblock_runner(torch, device), device),
    f"torch F.dropout on {device.type}": (dropblock_runner(torch, device, builtin=True), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "DropBlock on (n, 32, 28, 28)")

# %% [markdown]
# ## Takeaways
#
# * Correlated neighbours make single-unit dropout weak on feature maps; removing whole regions
#   forces the network to use evidence from elsewhere.
# * DropBlock is dropout with the mask dilated by a max-pool; γ converts a drop rate into a
#   centre rate, and rescaling by kept/total preserves expectations.
# * GridMask is the same idea applied to the input image, with regular holes instead of random blocks.
#
# **Questions a teacher might ask**
# 1. Derive the measured drop rate for overlapping blocks: a unit far from the border survives when
#    none of the b² centres that could cover it fires. How far below p is that at p = 0.3?
# 2. The paper increases p linearly during training. Why would a schedule help more here than for
#    plain dropout?
# 3. With block = 1, what is DropBlock? Check it with your functions.
# 4. GridMask's holes are regular. What might a network learn from that regularity, and how do the
#    random offsets prevent it?
