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
# The claim we reproduce: on digits that move around the frame, a small CNN with fewer parameters
# than an MLP classifies clearly better.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import Dropdown, FloatSlider

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import check, gpu, panel, progress

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: convolution as windows and one matrix multiply
#
# `x.unfold(dim, size, step)` returns every window of `size` along `dim`, `step` apart, as a new
# last dimension, without copying. Unfolding the height and then the width of a padded
# (N, C, H, W) batch gives (N, C, Ho, Wo, kh, kw): every window the kernel visits. Flatten each
# window into a row of C·kh·kw numbers, flatten the kernels into a (C·kh·kw, O) matrix, multiply.
#
# **Exercise.** Write `conv2d_windows`. `F.pad(x, (p, p, p, p))` pads the last two dims.

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
check("conv2d_windows", conv2d_windows, F.conv2d, (2, 3, 9, 8), (4, 3, 3, 3), (4,), stride=2, padding=1,
      hint="windows.permute(0, 2, 3, 1, 4, 5) puts each window's C*kh*kw numbers last")


# %% [markdown]
# ## From scratch 2: pooling
#
# Pooling uses the same windows, reduced instead of multiplied: the max (`amax` over the two
# window dims) or the mean. Here the window and the step are both `k`.
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
check("max_pool2d_windows", max_pool2d_windows, F.max_pool2d, (2, 3, 8, 6), 2, hint="amax over dims (-2, -1)")
check("avg_pool2d_windows", avg_pool2d_windows, F.avg_pool2d, (2, 3, 8, 6), 2)

# %% [markdown]
# ## See it: kernels on a photograph
#
# A photo that ships with scikit-learn, in grey. Pick a kernel, blend it with the identity, and
# optionally pool the result. Edge kernels respond where brightness changes; pooling halves the
# resolution but keeps the strong responses.

# %%
KERNELS = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "blur": [[1 / 9] * 3] * 3,
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "vertical edges": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "horizontal edges": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
}
photo = ml.data.sample_image("china.jpg", gray=True, size=(120, 180))[None, None]  # (1, 1, H, W)


def draw_kernel(kernel="vertical edges", strength=1.0, pooling="none"):
    k = strength * ml.tensor(KERNELS[kernel]) + (1 - strength) * ml.tensor(KERNELS["identity"])
    out = conv2d_windows(photo, k.reshape(1, 1, 3, 3), padding=1)
    if pooling != "none":
        out = (max_pool2d_windows if pooling.startswith("max") else avg_pool2d_windows)(out, 2)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3), gridspec_kw={"width_ratios": [3, 3, 1]})
    axes[0].imshow(photo[0, 0], cmap="gray")
    axes[0].set_title("input")
    axes[1].imshow(out[0, 0], cmap="gray")
    axes[1].set_title(f"{kernel}, strength {strength:.1f}, pooling {pooling}")
    axes[2].imshow(k, cmap="coolwarm", vmin=-2, vmax=2)
    axes[2].set_title("kernel")
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_kernel, kernel=Dropdown(options=list(KERNELS), value="vertical edges"),
      strength=FloatSlider(value=1.0, min=0.0, max=1.0, step=0.1),
      pooling=Dropdown(options=["none", "max 2x2", "avg 2x2"], value="none"))


# %% [markdown]
# ## Reproduce the claim: digits that wander around the frame
#
# We place each 16x16 digit at a random offset inside a 22x22 frame (a fresh offset for every
# image, train and test alike), then train an MLP and a smaller CNN with the same optimizer,
# batch size and number of steps.

# %%
def wandering_digits(seed=0, frame=22):
    data = ml.data.digits(upscale=2)
    rng = np.random.default_rng(seed)

    def place(images):
        n, size = len(images), images.shape[-1]
        out = np.zeros((n, 1, frame, frame), np.float32)
        offsets = rng.integers(0, frame - size + 1, (n, 2))
        for i, (r, c) in enumerate(offsets):  # one copy per image (not per pixel)
            out[i, :, r:r + size, c:c + size] = images.data[i]
        return ml.tensor(out)

    return place(data.x_train), data.y_train, place(data.x_test), data.y_test


x_train, y_train, x_test, y_test = wandering_digits()


def make_mlp():
    ml.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(22 * 22, 32), nn.ReLU(), nn.Linear(32, 10))


def make_cnn():
    ml.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(16 * 5 * 5, 10))


def fit(model, steps=400, batch=64, lr=3e-3, seed=0):
    opt = ml.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    for _ in progress(range(steps), desc=type(model[1]).__name__):
        idx = ml.tensor(rng.choice(len(x_train), batch, replace=False))
        opt.zero_grad()
        F.cross_entropy(model(x_train[idx]), y_train[idx]).backward()
        opt.step()
    with ml.no_grad():
        return (model.eval()(x_test).argmax(1) == y_test).float().mean().item()


def n_params(model):
    return sum(p.numel() for p in model.parameters())


mlp, cnn = make_mlp(), make_cnn()
acc = {"MLP": fit(mlp), "CNN": fit(cnn)}
print(f"parameters: MLP {n_params(mlp)}, CNN {n_params(cnn)}")
print("the CNN has fewer parameters:", n_params(cnn) < n_params(mlp))
print("the CNN is at least 10 points more accurate on wandering digits:", acc["CNN"] > acc["MLP"] + 0.10)
assert n_params(cnn) < n_params(mlp) and acc["CNN"] > acc["MLP"] + 0.10

# %% tags=["nbval-ignore-output"]
print({k: round(v, 3) for k, v in acc.items()})

# %% [markdown]
# ## The GPU version
#
# `conv2d_windows` only uses `unfold`, `permute`, `reshape`, `@` and a padding function, all of
# which torch has. On torch tensors it should agree with `torch.nn.functional.conv2d`, PyTorch's
# built-in (cuDNN on a GPU).

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
# * Weight sharing makes a CNN far smaller than an MLP on the same image, and pooling makes it
#   tolerant to where the digit sits, which the MLP must learn position by position.
# * The same `unfold` code runs on torch, where the built-in convolution is faster still.
#
# **Questions a teacher might ask**
# 1. How many multiply-adds does `conv2d_windows` perform for the layer timed above? How much
#    memory do the unfolded rows take compared with the input?
# 2. What does the gradient of max pooling look like? Where does it send the upstream gradient?
# 3. Replace the CNN's `Flatten` + `Linear` head by `AdaptiveAvgPool2d(1)` and a small linear layer.
#    The model becomes fully translation-invariant. Why does it then do *worse* on digits?
# 4. Why is a 3x3 convolution applied twice "seeing" a 5x5 neighbourhood?
