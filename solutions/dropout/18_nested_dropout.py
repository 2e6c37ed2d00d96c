# %% [markdown]
# # 18 · Nested dropout: ordered representations
#
# **The idea.** Ordinary dropout treats all units alike. *Nested* dropout draws a cut-off b for
# each example and drops every unit after it, so unit 1 is always kept, unit 2 almost always, and
# unit 30 rarely. The network learns to put the most important information first. For a linear
# autoencoder, Rippel et al. prove this recovers PCA *in order*: the first k units are the best
# k-dimensional code. Chen et al. use the same squeeze to compress features, so that a classifier
# cannot memorise noisy labels, and FlexTok orders image tokens this way, so that an image can be
# described by any number of tokens.
#
# *Papers:* O. Rippel, M. A. Gelbart, R. P. Adams, **"Learning Ordered Representations with Nested
# Dropout"**, ICML 2014 (arXiv:1402.0915); Y. Chen, S. X. Hu, X. Shen, C. Ai, J. A. K. Suykens,
# **"Compressing Features for Learning with Noisy Labels"**, IEEE TNNLS 2022 (arXiv:2206.13140);
# R. Bachmann et al., **"FlexTok: Resampling Images into 1D Token Sequences of Flexible Length"**,
# 2025 (arXiv:2502.13967).
#
# The claims we reproduce: a linear autoencoder trained with nested dropout reconstructs from its
# first k units as well as PCA with k components, for every k, while one trained without it does not;
# and with half of the training labels corrupted, a classifier whose features pass through nested
# dropout ends with higher test accuracy.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import IntSlider

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import check, expect, gpu, panel, progress

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: the nested mask
#
# For each example draw b ~ Geometric(ρ) (so P(b = j) = (1 − ρ)^{j−1} ρ for j = 1, 2, …), cap it at
# K, and keep units 0 … b−1. Unit k is then kept with probability (1 − ρ)^k. The draws come from a
# numpy generator, and the mask is built with tensor operations.
#
# **Exercise.** Write `nested_mask`.

# %%
def nested_mask(batch, units, rho, rng, lib=ml):
    """(batch, units) float mask whose row i keeps units 0..b_i-1, b_i ~ Geometric(rho) capped at `units`."""
    cutoffs = lib.tensor(np.minimum(rng.geometric(rho, batch), units))
    # BEGIN SOLUTION
    return (lib.arange(units).reshape(1, units) < cutoffs.reshape(batch, 1)).float()
    # END SOLUTION


# %%
def mask_properties():
    mask = nested_mask(20000, 8, 0.25, np.random.default_rng(0))
    kept = mask.mean(0).numpy()
    return {"shape (batch, units)": tuple(mask.shape) == (20000, 8),
            "every row is ones then zeros": bool((mask[:, 1:] <= mask[:, :-1]).all().item()),
            "unit 0 always kept": bool((mask[:, 0] == 1).all().item()),
            "unit k kept with probability (1 - rho)^k (within 0.01)":
                bool(np.allclose(kept, 0.75 ** np.arange(8), atol=0.01))}


expect("nested_mask", mask_properties, hint="compare arange(units) as a row with the cut-offs as a column")


# %% [markdown]
# ## From scratch 2: reconstructing from the first k units
#
# To use an ordered code at a budget of k units, keep units 0 … k−1 and zero the rest before
# decoding.
#
# **Exercise.** Write `reconstruct_first_k`.

# %%
def reconstruct_first_k(encoder, decoder, x, k):
    """decoder(encoder(x) with units k.. zeroed), for x (N, D)."""
    # BEGIN SOLUTION
    code = encoder(x)
    keep = (ml.arange(code.shape[1]) < k).float()
    return decoder(code * keep)
    # END SOLUTION


# %%
demo_enc, demo_dec = nn.Linear(6, 4, bias=False), nn.Linear(4, 6, bias=False)
check("reconstruct_first_k", lambda x: reconstruct_first_k(demo_enc, demo_dec, x, 2),
      lambda x: (x @ demo_enc.weight[:2].T) @ demo_dec.weight[:, :2].T, (5, 6),
      hint="multiply the code by a 0/1 row that is 1 for the first k units")

# %% [markdown]
# ## See it: a budget of k units
#
# A linear autoencoder with 16 code units on centred 8x8 digits, trained twice with the same
# initial weights and batches: with nested dropout (ρ = 0.1) and without. `error_ratios` gives, for
# each k, the error of reconstructing from the first k units divided by PCA's error with k
# components, which is the best any rank-k linear code can do.

# %%
digits = ml.data.digits(flatten=True)
x_all = digits.x_train - digits.x_train.mean(0)
UNITS = 16
_, _, pcs = np.linalg.svd(x_all.numpy(), full_matrices=False)  # rows: principal directions


def pca_error(k):
    """Mean squared reconstruction error (summed over pixels) of the best rank-k projection."""
    x = x_all.numpy()
    return float((((x - x @ pcs[:k].T @ pcs[:k]) ** 2).sum(1)).mean())


def train_autoencoder(nested, steps=1500, rho=0.1, batch=128):
    ml.manual_seed(0)
    encoder, decoder = nn.Linear(64, UNITS, bias=False), nn.Linear(UNITS, 64, bias=False)
    opt = ml.optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in progress(range(steps), desc="nested" if nested else "plain"):
        x = x_all[ml.tensor(rng.choice(len(x_all), batch, replace=False))]
        code = encoder(x)
        if nested:
            code = code * nested_mask(batch, UNITS, rho, rng)
        opt.zero_grad()
        ((decoder(code) - x) ** 2).sum(1).mean().backward()
        opt.step()
    return encoder, decoder


def error_ratios(encoder, decoder):
    with ml.no_grad():
        errors = [((reconstruct_first_k(encoder, decoder, x_all, k) - x_all) ** 2).sum(1).mean().item()
                  for k in range(1, UNITS + 1)]
    return np.array(errors) / np.array([pca_error(k) for k in range(1, UNITS + 1)])


autoencoders = {"nested": train_autoencoder(True), "plain": train_autoencoder(False)}


# %% [markdown]
# Reconstructions of test digits from the first k units of each code, next to PCA with k
# components. The curve shows each code's error relative to PCA for every k.

# %%
def draw_budget(k=4):
    x = digits.x_test[:6] - digits.x_train.mean(0)
    fig, axes = plt.subplots(4, 7, figsize=(10, 6), gridspec_kw={"width_ratios": [1] * 6 + [2.5]})
    with ml.no_grad():
        rows = {"input": x,
                "nested, first k": reconstruct_first_k(*autoencoders["nested"], x, k),
                "plain, first k": reconstruct_first_k(*autoencoders["plain"], x, k),
                "PCA, k comps": ml.tensor(x.numpy() @ pcs[:k].T @ pcs[:k])}
    for r, (name, images) in enumerate(rows.items()):
        for c in range(6):
            axes[r, c].imshow(images[c].reshape(8, 8), cmap="gray_r", vmin=-0.5, vmax=0.5)
            axes[r, c].axis("off")
        axes[r, 0].set_title(name, loc="left", fontsize=9)
    gs = axes[0, 6].get_gridspec()
    for ax in axes[:, 6]:
        ax.remove()
    curve = fig.add_subplot(gs[:, 6])
    for name, ae in autoencoders.items():
        r = error_ratios(*ae)
        curve.plot(range(1, UNITS + 1), r, marker=".", label=name)
        curve.plot([k], [r[k - 1]], "s", ms=9, color="C0" if name == "nested" else "C1")
    curve.axhline(1.0, color="grey", ls=":")
    curve.set(xlabel="k units kept", ylabel="error / PCA's error", title=f"k = {k}")
    curve.legend()
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_budget, k=IntSlider(value=4, min=1, max=UNITS))

# %% [markdown]
# ## Reproduce claim 1: nested dropout recovers PCA's ordering
#
# For each k we compare the error of the two autoencoders reconstructing from their first k units
# with PCA's error with k components.

# %%
ratios = {name: error_ratios(*ae) for name, ae in autoencoders.items()}

# %% tags=["nbval-ignore-output"]
print({name: r.round(2).tolist() for name, r in ratios.items()})

# %%
print("nested: within 5% of PCA for every k:", bool((ratios["nested"] < 1.05).all()))
print("plain: over 30% worse than PCA for some k:", bool((ratios["plain"] > 1.3).any()))
assert (ratios["nested"] < 1.05).all() and (ratios["plain"] > 1.3).any()

# %% [markdown]
# ## Reproduce claim 2: compressed features resist noisy labels
#
# Half of the training labels are replaced by random ones. An MLP maps each digit to 32 features,
# and a linear layer classifies them. We train it with and without nested dropout (ρ = 0.2) on the
# features, which squeezes what the classifier can use into the first few units, and measure accuracy on
# the clean test labels. Two seeds.

# %%
noise_rng = np.random.default_rng(0)
noisy = digits.y_train.numpy().copy()
flip = noise_rng.random(len(noisy)) < 0.5
noisy[flip] = noise_rng.integers(0, 10, int(flip.sum()))
noisy = ml.tensor(noisy)


def train_classifier(nested, seed, steps=800, rho=0.2, features=32, batch=128):
    ml.manual_seed(seed)
    body = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, features))
    head = nn.Linear(features, 10)
    opt = ml.optim.Adam(list(body.parameters()) + list(head.parameters()), lr=1e-3)
    rng = np.random.default_rng(seed)
    for _ in progress(range(steps), desc=f"{'nested' if nested else 'plain'}, seed {seed}"):
        idx = ml.tensor(rng.choice(len(noisy), batch, replace=False))
        z = body(digits.x_train[idx])
        if nested:
            z = z * nested_mask(batch, features, rho, rng)
        opt.zero_grad()
        F.cross_entropy(head(z), noisy[idx]).backward()
        opt.step()
    with ml.no_grad():
        return (head(body(digits.x_test)).argmax(1) == digits.y_test).float().mean().item()


noisy_accuracy = {(nested, seed): train_classifier(nested, seed) for seed in (0, 1) for nested in (False, True)}

# %% tags=["nbval-ignore-output"]
print({("nested" if n else "plain", s): round(a, 3) for (n, s), a in noisy_accuracy.items()})

# %%
better = [noisy_accuracy[True, s] > noisy_accuracy[False, s] + 0.05 for s in (0, 1)]
print("with 50% noisy labels, nested dropout is at least 5 points more accurate on clean test labels:", all(better))
assert all(better)

# %% [markdown]
# ## The GPU version
#
# `nested_mask` takes the library as an argument, so the same numpy draws give the same mask in
# torch, and the masked autoencoder must agree across libraries. PyTorch has no built-in nested
# dropout; the timing is one training step of the autoencoder across batch sizes.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
encoder, decoder = autoencoders["nested"]
enc_t, dec_t = torch.nn.Linear(64, UNITS, bias=False), torch.nn.Linear(UNITS, 64, bias=False)
ml.interop.copy_weights(encoder, enc_t)
ml.interop.copy_weights(decoder, dec_t)
enc_t, dec_t = enc_t.to(device), dec_t.to(device)
mask_ml = nested_mask(256, UNITS, 0.1, np.random.default_rng(5))
mask_t = nested_mask(256, UNITS, 0.1, np.random.default_rng(5), lib=torch).to(device)
print("the same draws give the same mask in torch:", gpu.agree(mask_t, mask_ml))
xt = gpu.to_torch(x_all[:256], device)
print("masked reconstructions agree:",
      gpu.agree(dec_t(enc_t(xt) * mask_t), decoder(encoder(x_all[:256]) * mask_ml), atol=1e-5))


# %% tags=["nbval-ignore-output"]
def step_runner(lib, device=None):
    """One nested-dropout training step of the 64 -> 16 -> 64 autoencoder on a batch of n."""
    def make(n):
        x_np = np.random.default_rng(0).standard_normal((n, 64), np.float32)
        rng = np.random.default_rng(0)
        if lib is ml:
            enc, dec, x = nn.Linear(64, UNITS, bias=False), nn.Linear(UNITS, 64, bias=False), ml.tensor(x_np)
            opt = ml.optim.Adam(list(enc.parameters()) + list(dec.parameters()))
        else:
            enc = torch.nn.Linear(64, UNITS, bias=False).to(device)
            dec = torch.nn.Linear(UNITS, 64, bias=False).to(device)
            x, opt = gpu.to_torch(x_np, device), torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()))

        def step():
            mask = nested_mask(n, UNITS, 0.1, rng, lib=lib)
            mask = mask if lib is ml else mask.to(device)
            opt.zero_grad()
            ((dec(enc(x) * mask) - x) ** 2).sum(1).mean().backward()
            opt.step()

        return step

    return make


rows = gpu.compare_timings([128, 1024, 8192], {
    "minilib": (step_runner(ml), "cpu"),
    "torch cpu": (step_runner(torch, "cpu"), "cpu"),
    f"torch on {device.type}": (step_runner(torch, device), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "nested-dropout autoencoder step, by batch size")

# %% [markdown]
# ## Takeaways
#
# * Nested dropout gives units a priority: unit k sees training signal only when every unit before
#   it is kept, so the first units learn the most useful directions.
# * For a linear autoencoder this yields PCA in order, and every prefix of the code is the best code
#   of its size.
# * Squeezing information into few units is also a regulariser: a classifier that must rely on the first
#   few features cannot memorise random labels as easily.
#
# **Questions a teacher might ask**
# 1. Why does the plain autoencoder reach PCA's error at k = 16, yet not for smaller k?
# 2. The principal directions 2 and 3 of digits have close variances. Look at the decoder's columns:
#    do they match the PCs one by one, or only as a subspace? Why?
# 3. What does ρ trade off? Try ρ = 0.02 and ρ = 0.5 in both experiments.
# 4. FlexTok orders the tokens of an image this way. What does a decoder see when it receives only
#    the first token, and what would you expect it to draw?
