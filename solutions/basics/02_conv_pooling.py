# %% [markdown]
# # 02 · Convolution and pooling
#
# **The idea.** A convolutional layer slides one small set of weights over every position of an
# image (weight sharing), so a feature is detected wherever it appears; pooling then summarises
# neighbourhoods, so a small shift of the input barely changes the output. LeCun et al. built
# digit recognisers from these two pieces; Chellapilla et al. showed how to compute a convolution
# as *one matrix multiply* over unfolded windows ("im2col"), which is how we write it here.
#
# *Papers:* Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, **"Gradient-Based Learning Applied to
# Document Recognition"**, Proc. IEEE 1998; K. Chellapilla, S. Puri, P. Simard, **"High Performance
# Convolutional Neural Networks for Document Processing"**, IWFHR 2006.
#
# The claim we reproduce: on digits that wander around the frame, a small CNN classifies clearly
# better than a fully connected network (an MLP), even one with 36 times its parameters, and the
# advantage comes from the wandering: with every digit in the centre it vanishes.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import Dropdown, IntSlider

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import claim, gpu, panel, progress
from course.basics import check_avg_pool2d_windows, check_conv2d_windows, check_max_pool2d_windows

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: convolution as windows and one matrix multiply
#
# `x.unfold(dim, size, step)` returns every window of `size` along `dim`, `step` apart, as a new
# last dimension, without copying. Unfolding the height and then the width of a padded
# (N, C, H, W) batch gives (N, C, Ho, Wo, kh, kw): every window the kernel visits. Flatten each
# window into a row of C·kh·kw numbers, flatten the kernels into a (C·kh·kw, O) matrix, multiply.
# The order of the numbers in a row has to be the order of the numbers in a flattened kernel, and
# the result has to end up as (N, O, Ho, Wo).
#
# **Exercise.** Write `conv2d_windows`. `F.pad` pads the last two dims; it takes the amounts as
# (left, right, top, bottom).

# %%
def conv2d_windows(x, weight, bias=None, stride=1, padding=0, F=F):
    """Cross-correlation of x (N, C, H, W) with weight (O, C, kh, kw) -> (N, O, Ho, Wo).

    ``F`` is the functional module to pad with (minilib's, or torch.nn.functional).
    """
    n, c = x.shape[:2]
    o, _, kh, kw = weight.shape
    # BEGIN SOLUTION
    if padding:
        x = F.pad(x, (padding, padding, padding, padding))
    windows = x.unfold(2, kh, stride).unfold(3, kw, stride)  # (N, C, Ho, Wo, kh, kw)
    ho, wo = windows.shape[2], windows.shape[3]
    rows = windows.permute(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)
    out = (rows @ weight.reshape(o, c * kh * kw).T).reshape(n, ho, wo, o).permute(0, 3, 1, 2)
    return out if bias is None else out + bias.reshape(1, o, 1, 1)
    # END SOLUTION


# %%
check_conv2d_windows(conv2d_windows)


# %% [markdown]
# ## From scratch 2: pooling
#
# Pooling uses the same kind of windows, reduced instead of multiplied: the maximum or the mean of
# each window. Here the window and the step are both `k`, so the windows do not overlap, and each
# channel is pooled on its own. The tools: `unfold` again, and `amax` and `mean`, which reduce over a
# tuple of dims at once.
#
# **Exercise.** Write both.

# %%
def max_pool2d_windows(x, k):
    """Max over non-overlapping k x k windows: (N, C, H, W) -> (N, C, H//k, W//k)."""
    # BEGIN SOLUTION
    return x.unfold(2, k, k).unfold(3, k, k).amax(dim=(-2, -1))
    # END SOLUTION


def avg_pool2d_windows(x, k):
    """Mean over non-overlapping k x k windows."""
    # BEGIN SOLUTION
    return x.unfold(2, k, k).unfold(3, k, k).mean(dim=(-2, -1))
    # END SOLUTION


# %%
check_max_pool2d_windows(max_pool2d_windows)
check_avg_pool2d_windows(avg_pool2d_windows)

# %% [markdown]
# ## See it: shift a digit, and watch what moves
#
# An 8x8 digit sits in a 16x16 frame; the sliders move it from the centre. Your `conv2d_windows`
# applies a vertical-edge kernel (then a ReLU), and your `max_pool2d_windows` pools the result.
# The feature map *moves* with the digit (the same kernel is applied at every position): shifted
# back, it is the centred digit's map exactly. The pooled map keeps only the largest value in each
# window, so a shift leaves it unchanged as long as each stroke stays inside its window; a stroke
# that crosses a window's edge changes it as much as the pixels. The right-hand plot measures it for
# every horizontal shift: how much the pixels (what an MLP sees), the feature map and the pooled
# map differ from those of the centred digit. Pick the pooling window: the larger it is, the fewer
# edges a stroke can cross, and the less the map says about where things are; only the 16x16 pool,
# one window for the whole frame, ignores every shift.

# %%
digit = ml.data.digits().x_test[0, 0].numpy()  # (8, 8) in [0, 1]
EDGE = ml.tensor([[[[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]]])  # vertical edges, (1, 1, 3, 3)


def shifted(dx, dy, frame=16):
    """The digit in a frame x frame picture, moved dx pixels right and dy down from the centre: (1, 1, 16, 16)."""
    out = np.zeros((1, 1, frame, frame), np.float32)
    row, col = (frame - 8) // 2 + dy, (frame - 8) // 2 + dx
    out[0, 0, row:row + 8, col:col + 8] = digit
    return ml.tensor(out)


def representations(dx, dy, pool):
    x = shifted(dx, dy)
    feature_map = conv2d_windows(x, EDGE, padding=1).relu()
    return x, feature_map, max_pool2d_windows(feature_map, pool)


def change(a, b):
    """|a - b| / |b|: 0 when a shift changes nothing."""
    a, b = a.numpy(), b.numpy()
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def draw_shift(dx=1, dy=0, pool=4):
    x, feature_map, pooled = representations(dx, dy, pool)
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.2), gridspec_kw={"width_ratios": [1, 1, 1, 1.5]})
    for ax, img, title in zip(axes, (x, feature_map, pooled),
                              (f"input, moved ({dx:+d}, {dy:+d})", "feature map: moves",
                               f"{pool}x{pool} max pool: {16 // pool}x{16 // pool}")):
        ax.imshow(img[0, 0].numpy(), cmap="magma", vmin=0)
        ax.set_title(title)
        ax.axis("off")
    centre = representations(0, dy, pool)
    shifts = range(-4, 5)
    changes = np.array([[change(a, b) for a, b in zip(representations(s, dy, pool), centre)] for s in shifts])
    back = [change(ml.tensor(np.roll(representations(s, dy, pool)[1].numpy(), -s, axis=-1)), centre[1])
            for s in shifts]  # the feature map moved back by the shift: equivariance
    for column, label in enumerate(("pixels (what an MLP sees)", "feature map", f"{pool}x{pool} max pool")):
        axes[3].plot(shifts, changes[:, column], marker=".", label=label)
    axes[3].plot(shifts, back, marker=".", ls="--", color="C1", label="feature map, shifted back")
    axes[3].axvline(dx, color="grey", ls=":")
    axes[3].set(xlabel="horizontal shift (pixels)", ylabel="change from the centred digit", ylim=(0, 2.1),
                title=f"vertical shift {dy:+d}")
    axes[3].legend(fontsize=8, loc="upper center")
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_shift, dx=IntSlider(value=1, min=-4, max=4), dy=IntSlider(value=0, min=-4, max=4),
      pool=Dropdown(options=[2, 4, 8, 16], value=4))

# %% [markdown]
# ## Reproduce the claim: digits that wander around the frame
#
# Each 8x8 digit is placed at a random offset inside a 16x16 frame, up to `WANDER` pixels across
# and down (a fresh offset for every image, train and test alike). On each seed (its own
# train/test split of the 1,797 digits, its own offsets, initial weights and batches) we train a
# small CNN and three MLPs with one hidden layer, 32, 128 and 512 units wide, all with the same
# Adam, batch size and number of steps. The CNN has two 3x3 convolutions (8 and 16 channels), each
# followed by 2x2 max pooling, and a linear layer on the 4x4 result: 3,818 parameters. The MLPs have
# 8,554, 34,186 and 136,714. The CNN is compared with the *best* of the three MLPs on each seed,
# picked on the test digits themselves, which favours the baseline.
#
# The knobs sit in the next cell. From the course's root folder, `make claims basics/02` re-runs the
# lesson on other seeds, and under the control: `WANDER = 0`, every digit in the centre. There the
# network's built-in tolerance to shifts has nothing to do, and the claim must fail. `CNN = False`
# is a placebo: the CNN is swapped for one more MLP.

# %% tags=["parameters"]
SEEDS = [0, 1, 2, 3]  # each seed: its own train/test split, offsets, initial weights and batches
WANDER = 8  # pixels a digit may move, across and down, in the 16x16 frame; 0 keeps every digit centred
CNN = True  # False: a placebo, the CNN swapped for one more MLP (the widest, from other initial weights)
MLP_WIDTHS = [32, 128, 512]  # the baselines; on each seed the best of them is compared
STEPS = 1000

# %%
FRAME = 16


def wandering_digits(seed, wander=WANDER, frame=FRAME):
    """(x_train, y_train, x_test, y_test): 8x8 digits in frame x frame pictures, each moved by its own
    random offset of 0 to `wander` pixels across and down, around the centre (0: every digit centred)."""
    data = ml.data.digits(seed=seed)
    rng = np.random.default_rng(seed)
    start = (frame - 8 - wander) // 2  # wander = 0: every digit in the centre

    def place(images):
        out = np.zeros((len(images), 1, frame, frame), np.float32)
        for i, (r, c) in enumerate(start + rng.integers(0, wander + 1, (len(images), 2))):
            out[i, :, r:r + 8, c:c + 8] = images.data[i]
        return ml.tensor(out)

    return place(data.x_train), data.y_train, place(data.x_test), data.y_test


def make_mlp(width, seed):
    ml.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(FRAME * FRAME, width), nn.ReLU(), nn.Linear(width, 10))


def make_cnn(seed):
    ml.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 16x16 -> 8x8
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # -> 4x4
                         nn.Flatten(), nn.Linear(16 * 4 * 4, 10))


def fit(model, data, seed, steps=STEPS, batch=64, lr=3e-3):
    """Adam on random batches of the training digits; returns the accuracy on the test digits."""
    x_train, y_train, x_test, y_test = data
    opt = ml.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        idx = ml.tensor(rng.choice(len(x_train), batch, replace=False))
        opt.zero_grad()
        F.cross_entropy(model(x_train[idx]), y_train[idx]).backward()
        opt.step()
    with ml.no_grad():
        return (model.eval()(x_test).argmax(1) == y_test).float().mean().item()


def n_params(model):
    return sum(p.numel() for p in model.parameters())


MLPS = [f"MLP {w}" for w in MLP_WIDTHS]
acc = {}
for seed in progress(SEEDS, desc=f"seeds: a CNN and {len(MLP_WIDTHS)} MLPs each"):
    data = wandering_digits(seed)
    acc[seed] = {name: fit(make_mlp(w, seed), data, seed) for name, w in zip(MLPS, MLP_WIDTHS)}
    acc[seed]["CNN"] = fit(make_cnn(seed) if CNN else make_mlp(max(MLP_WIDTHS), seed + 1000), data, seed)

sizes = {name: n_params(make_mlp(w, 0)) for name, w in zip(MLPS, MLP_WIDTHS)}
sizes["CNN"] = n_params(make_cnn(0) if CNN else make_mlp(max(MLP_WIDTHS), 0))
print("parameters:", sizes)
print(f"test accuracy on digits wandering up to {WANDER} pixels:")
print("seed  " + "  ".join(f"{name:>8}" for name in sizes))
for seed in SEEDS:
    print(f"{seed:>4}  " + "  ".join(f"{acc[seed][name]:8.3f}" for name in sizes))
print("mean  " + "  ".join(f"{np.mean([acc[s][name] for s in SEEDS]):8.3f}" for name in sizes))

# %% [markdown]
# The claim, in two forms. First in points: on every seed the CNN is more than 5 points more accurate
# than the best MLP, and at least 10 points on average. How far is that from noise? While this
# lesson was written, seeds 0-11 gave the CNN a margin of 11 to 26 points (standard deviation 4
# points per seed, so about 2 on a mean of four seeds); with every digit centred, the control, the
# same twelve seeds gave −0.9 to +1.3 points (mean +0.2, standard deviation 0.6).
#
# But centred digits are easy: every MLP scored above 97% there, which leaves no room for a 5-point
# margin whatever the CNN does. So the second form counts errors, which a ceiling cannot fake: the
# CNN makes at most 60% of the best MLP's errors on average, and at most 75% on every seed. On
# seeds 0-11 that ratio was 0.34 to 0.66 (mean 0.46) on wandering digits, and 0.54 to 1.57 (mean
# 0.95) on centred ones: there the CNN and the MLP make about as many errors.

# %%
best_mlp = [max(acc[s][m] for m in MLPS) for s in SEEDS]
_ = claim("a small CNN classifies wandering digits more accurately than the best MLP", SEEDS,
          technique=[acc[s]["CNN"] for s in SEEDS], baseline=best_mlp,
          each_above=0.05, mean_at_least=0.10, names=("CNN" if CNN else "placebo MLP", "best MLP"))

# %%
# errors counted relative to the best MLP's: the MLP's own are 1.0
error_ratio = [(1 - acc[s]["CNN"]) / (1 - b) for s, b in zip(SEEDS, best_mlp)]
_ = claim("relative to the best MLP's errors, the CNN makes at most 60% as many (75% on every seed)", SEEDS,
          technique=error_ratio, baseline=[1.0] * len(SEEDS), higher_is_better=False, each_above=0.25,
          mean_at_least=0.40, names=("CNN" if CNN else "placebo MLP", "best MLP"))

# %% [markdown]
# Where does the advantage come from? The same comparison on one seed, with every digit in the centre:

# %%
centred = wandering_digits(SEEDS[0], wander=0)
acc_centred = {name: fit(make_mlp(w, SEEDS[0]), centred, SEEDS[0]) for name, w in zip(MLPS, MLP_WIDTHS)}
acc_centred["CNN"] = fit(make_cnn(SEEDS[0]), centred, SEEDS[0])
print(f"seed {SEEDS[0]}, centred digits:", {name: round(a, 3) for name, a in acc_centred.items()})

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5), gridspec_kw={"width_ratios": [1.3, 1]})
x_show = wandering_digits(SEEDS[0])[2][:8]
axes[0].imshow(np.concatenate(list(x_show.numpy()[:, 0]), axis=1), cmap="gray")
axes[0].set_title(f"test digits, wandering up to {WANDER} pixels")
axes[0].axis("off")
for name, marker in (("MLP", "o-"), ("CNN", "*")):
    names = MLPS if name == "MLP" else ["CNN"]
    axes[1].plot([sizes[m] for m in names], [np.mean([acc[s][m] for s in SEEDS]) for m in names], marker,
                 ms=12 if name == "CNN" else 6, label=f"{name}, wandering digits")
axes[1].plot([sizes[m] for m in MLPS], [acc_centred[m] for m in MLPS], "o--", color="C0", alpha=0.5,
             label=f"MLP, centred (seed {SEEDS[0]})")
axes[1].plot([sizes["CNN"]], [acc_centred["CNN"]], "*", ms=12, color="C1", alpha=0.5,
             label=f"CNN, centred (seed {SEEDS[0]})")
axes[1].set(xscale="log", xlabel="parameters", ylabel="test accuracy", title=f"mean over {len(SEEDS)} seeds")
axes[1].legend(fontsize=8)
fig.tight_layout()

# %% [markdown]
# ## The GPU version
#
# `conv2d_windows` only uses tensor methods and a padding function, all of which torch has. On torch
# tensors it should agree with `torch.nn.functional.conv2d`, PyTorch's built-in (cuDNN on a GPU).

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
rng = np.random.default_rng(0)
x_np, w_np, b_np = (rng.standard_normal(s).astype(np.float32) for s in ((4, 3, 16, 16), (8, 3, 3, 3), (8,)))
xt, wt, bt = (gpu.to_torch(a, device) for a in (x_np, w_np, b_np))
mine = conv2d_windows(xt, wt, bt, stride=1, padding=1, F=torch.nn.functional)
print("conv2d_windows on torch agrees with torch's conv2d:",
      gpu.agree(mine, torch.nn.functional.conv2d(xt, wt, bt, padding=1), atol=1e-4))
print("...and with minilib's:",
      gpu.agree(mine, F.conv2d(ml.tensor(x_np), ml.tensor(w_np), ml.tensor(b_np), padding=1), atol=1e-4))
print("max pooling agrees:", gpu.agree(max_pool2d_windows(xt, 2), torch.nn.functional.max_pool2d(xt, 2)))


# %% tags=["nbval-ignore-output"]
def conv_runner(fn, lib, device=None):
    def make(batch):
        x = ml.ones(batch, 16, 28, 28) if lib is ml else gpu.to_torch(np.ones((batch, 16, 28, 28), np.float32), device)
        w = ml.ones(32, 16, 3, 3) if lib is ml else gpu.to_torch(np.ones((32, 16, 3, 3), np.float32), device)
        return lambda: fn(x, w, padding=1)

    return make


rows = gpu.compare_timings([4, 16, 64], {
    "minilib F.conv2d": (conv_runner(F.conv2d, ml), "cpu"),
    "yours, torch cpu": (conv_runner(lambda x, w, padding: conv2d_windows(x, w, padding=padding, F=torch.nn.functional),
                                     torch, "cpu"), "cpu"),
    "torch conv2d cpu": (conv_runner(torch.nn.functional.conv2d, torch, "cpu"), "cpu"),
    f"torch conv2d on {device.type}": (conv_runner(torch.nn.functional.conv2d, torch, device), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "conv2d forward, 16 -> 32 channels, 28x28, 3x3")

# %% [markdown]
# ## Takeaways
#
# * A convolution is a matrix multiply over unfolded windows; pooling reduces the same windows.
# * Weight sharing makes a CNN far smaller than an MLP on the same image: 3,818 parameters here,
#   against 8,554 to 136,714 for the MLPs.
# * Shifting a digit moves its feature map with it; pooling keeps a map unchanged while each stroke
#   stays inside its window, and only a window as large as the frame ignores every shift. A shift
#   of one pixel already changes the pixels an MLP sees by more than 80% (the widget's right-hand
#   plot).
# * On digits wandering up to 8 pixels the CNN was right on 84.4% of the test digits on average,
#   the best MLP (the 512-wide one, on every seed) on 63.9%: a margin of 20.4 points, and at least
#   17.8 on every seed. The MLPs gain less and less from width (47.6% → 58.7% → 63.9% for 32, 128 and
#   512 units): they have to learn each digit at each position, from few examples per position.
# * With every digit in the centre the advantage is gone: on seed 0 the CNN scored 97.6%, the MLPs
#   97.6%, 98.0% and 98.4%. Here, on 8x8 digits, the CNN's edge comes from its tolerance to shifts,
#   not from being a better classifier of centred digits. That is a fact of this small scale: on
#   28x28 MNIST, centred, LeCun et al.'s CNNs made fewer errors than their MLPs too.
#
# **Questions a teacher might ask**
# 1. How many multiply-adds does `conv2d_windows` perform for the layer timed above? How much
#    memory do the unfolded rows take compared with the input?
# 2. What does the gradient of max pooling look like? Where does it send the upstream gradient?
# 3. Replace the CNN's `Flatten` + `Linear` head by `AdaptiveAvgPool2d(1)` and a small linear layer.
#    The model becomes fully translation-invariant. What happens to its accuracy on wandering
#    digits? What does it no longer know about where the strokes are relative to each other?
# 4. Why is a 3x3 convolution applied twice "seeing" a 5x5 neighbourhood?
# 5. Run `make claims basics/02`. Under the control (`WANDER = 0`) the claim fails: what does its
#    table show? Try `WANDER = 2` and `4`: how does the margin grow with the wandering?
# 6. Add 2048 to `MLP_WIDTHS` (546,826 parameters). Does the widest MLP catch up? What would it need
#    instead: more data, or the same digits shown at every position (data augmentation)?
