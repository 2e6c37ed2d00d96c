# %% [markdown]
# # 24 · Label smoothing and soft labels
#
# **The idea.** Cross-entropy against one-hot targets is minimised only by infinitely large logit
# gaps, so a network keeps growing its confidence. *Label smoothing* trains against
# (1 − ε)·onehot + ε/K instead: the target gives every class a little mass, and the optimal logits
# become finite. Müller et al. show what this does to the network. The penultimate features of
# each class gather in tight, equidistant clusters around their class template, and the
# predicted confidences match the actual accuracy better.
#
# *Paper:* R. Müller, S. Kornblith, G. Hinton, **"When Does Label Smoothing Help?"**, NeurIPS 2019
# (arXiv:1906.02629).
#
# The claims we reproduce, on noisy digits (where an unsmoothed network is overconfident): with ε = 0.1
# the penultimate features form tighter class clusters (measured, and drawn as in the paper's
# projection plot), and the expected calibration error falls.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import Dropdown

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import check, gpu, panel, progress

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: soft targets and their loss
#
# **Exercise.** Write `smoothed_targets(y, classes, eps)`, and `smoothed_cross_entropy`, the mean
# over the batch of −Σ_c q_c log softmax(z)_c.

# %%
def smoothed_targets(y, classes, eps, F=F):
    """(B, K) targets: 1 - eps + eps/K on the true class, eps/K elsewhere (F: the functional module)."""
    # BEGIN SOLUTION
    return F.one_hot(y, classes).float() * (1 - eps) + eps / classes
    # END SOLUTION


def smoothed_cross_entropy(logits, y, eps, F=F):
    """Cross-entropy of logits (B, K) against smoothed targets, averaged over the batch."""
    # BEGIN SOLUTION
    q = smoothed_targets(y, logits.shape[-1], eps, F=F)
    return -(q * F.log_softmax(logits, -1)).sum(-1).mean()
    # END SOLUTION


# %%
some_labels = ml.tensor([2, 0, 1, 4, 4])
check("smoothed_targets", lambda: smoothed_targets(some_labels, 5, 0.1),
      lambda: ml.tensor(np.where(np.eye(5)[some_labels.numpy()] == 1, 0.92, 0.02).astype(np.float32)),
      hint="one_hot * (1 - eps) + eps / K")
check("smoothed_cross_entropy", lambda z: smoothed_cross_entropy(z, some_labels, 0.1),
      lambda z: F.cross_entropy(z, some_labels, label_smoothing=0.1), (5, 5),
      hint="-(q * F.log_softmax(logits, -1)).sum(-1).mean()")


# %% [markdown]
# ## From scratch 2: expected calibration error
#
# Group predictions into 15 equal-width bins by their confidence (the top probability). In each
# bin, compare the mean confidence with the accuracy. ECE is the average gap, weighted by how
# many predictions fall in the bin: Σ_b |acc_b − conf_b|·n_b/N. A bin's index is ⌈conf·15⌉ − 1.
# Sums per bin come from a one-hot matrix of bin indices, with no loop over bins.
#
# **Exercise.** Write `expected_calibration_error`.

# %%
def expected_calibration_error(probs, y, bins=15):
    """ECE of predicted distributions probs (N, K) against labels y (N,)."""
    # BEGIN SOLUTION
    confidence, predicted = probs.amax(-1), probs.argmax(-1)
    correct = (predicted == y).float()
    index = (confidence * bins).ceil().long().clamp(1, bins) - 1
    members = F.one_hot(index, bins).float()  # (N, bins)
    gap = (members * (correct - confidence).reshape(-1, 1)).sum(0)
    return gap.abs().sum().item() / probs.shape[0]
    # END SOLUTION


# %%
def ece_by_loops(probs, y, bins=15):
    p, y = np.asarray(probs, np.float64), np.asarray(y)
    confidence, correct, total = p.max(1), p.argmax(1) == y, 0.0
    for b in range(bins):
        inside = (confidence > b / bins) & (confidence <= (b + 1) / bins)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return total


random_probs = ml.randn(200, 4, generator=ml.Generator().manual_seed(0)).mul(2).softmax(-1)
random_labels = ml.randint(0, 4, (200,), generator=ml.Generator().manual_seed(1))
check("expected_calibration_error", expected_calibration_error, ece_by_loops, random_probs, random_labels,
      grad=False, atol=1e-5, hint="bin index = ceil(conf * bins) - 1; sum (correct - confidence) per bin, then |.|")

# %% [markdown]
# ## See it: the paper's projection, and a reliability diagram
#
# The data are 600 training digits with Gaussian pixel noise (σ = 0.3, test digits too), so that even
# a good network makes mistakes. The network is an MLP with a 64-unit penultimate layer, trained for
# 1,200 steps with ε = 0 and with ε = 0.1 (seed 0 here; the claims below use two seeds).
#
# Müller et al. pick three classes, take the plane through their templates (the three rows of the
# last layer's weights), and project the penultimate features onto it. Left: that projection for
# training digits of the three classes you choose. Right: the reliability diagram on the test set,
# with accuracy per confidence bin against the diagonal of perfect calibration.

# %%
clean = ml.data.digits(flatten=True, n_train=600)
noise = np.random.default_rng(0)
x_train = clean.x_train + ml.tensor(noise.normal(0, 0.3, tuple(clean.x_train.shape)).astype(np.float32))
x_test = clean.x_test + ml.tensor(noise.normal(0, 0.3, tuple(clean.x_test.shape)).astype(np.float32))
y_train, y_test = clean.y_train, clean.y_test


def train(eps, seed, steps=1200):
    ml.manual_seed(seed)
    body = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU())
    head = nn.Linear(64, 10)
    opt = ml.optim.Adam(list(body.parameters()) + list(head.parameters()), lr=1e-3)
    rng = np.random.default_rng(seed)
    for _ in progress(range(steps), desc=f"eps={eps}, seed {seed}"):
        idx = ml.tensor(rng.choice(len(x_train), 64, replace=False))
        opt.zero_grad()
        smoothed_cross_entropy(head(body(x_train[idx])), y_train[idx], eps).backward()
        opt.step()
    return body, head


shown = {eps: train(eps, 0) for eps in (0.0, 0.1)}  # the two networks the panel shows


# %%
def template_plane(weight, classes):
    """Orthonormal 2-D basis (2, d) of the plane through the three template vectors."""
    w = weight[list(classes)]
    a, b = w[1] - w[0], w[2] - w[0]
    e1 = a / a.norm()
    e2 = b - (b * e1).sum() * e1
    return ml.stack([e1, e2 / e2.norm()])


def draw_projection(eps=0.1, classes="0, 3, 8"):
    chosen = [int(c) for c in classes.split(",")]
    body, head = shown[eps]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    with ml.no_grad():
        basis = template_plane(head.weight, chosen)
        for c in chosen:
            points = body(x_train[y_train == c]) @ basis.T
            axes[0].scatter(points[:, 0].numpy(), points[:, 1].numpy(), s=6, alpha=0.6, label=f"digit {c}")
        probs = head(body(x_test)).softmax(-1)
    axes[0].set(title=f"penultimate features, ε = {eps}", xticks=[], yticks=[])
    axes[0].legend()
    confidence, correct = probs.amax(-1).numpy(), (probs.argmax(-1) == y_test).numpy()
    edges = np.linspace(0, 1, 11)
    centers, accuracy = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            centers.append((lo + hi) / 2)
            accuracy.append(correct[inside].mean())
    axes[1].bar(centers, accuracy, width=0.09, alpha=0.7, label="accuracy in bin")
    axes[1].plot([0, 1], [0, 1], "k:", label="perfect calibration")
    axes[1].set(xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1),
                title=f"ECE {expected_calibration_error(probs, y_test):.3f}")
    axes[1].legend(loc="upper left")
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_projection, eps=Dropdown(options=[0.0, 0.1], value=0.1),
      classes=Dropdown(options=["0, 3, 8", "1, 4, 7", "2, 5, 9"], value="0, 3, 8"))


# %% [markdown]
# ## Reproduce the claims
#
# On the noisy digits, the MLP is trained for 1,200 steps with ε = 0 and ε = 0.1, two seeds each.
# *Tightness* is the mean squared distance of each (length-normalised) feature vector to its class
# centre, divided by the mean squared distance between class centres: smaller means tighter, better
# separated clusters.

# %%
def tightness(features, y):
    f = features / features.norm(dim=1, keepdim=True).clamp(min=1e-8)
    centres = ml.stack([f[y == c].mean(0) for c in range(10)])
    within = ((f - centres[y]) ** 2).sum(1).mean()
    between = ((centres.reshape(10, 1, -1) - centres.reshape(1, 10, -1)) ** 2).sum(-1).sum() / 90
    return (within / between).item()


def measure(body, head):
    with ml.no_grad():
        test_features = body(x_test)
        probs = head(test_features).softmax(-1)
        return {"accuracy": (probs.argmax(-1) == y_test).float().mean().item(),
                "ECE": expected_calibration_error(probs, y_test),
                "tightness (train)": tightness(body(x_train), y_train),
                "tightness (test)": tightness(test_features, y_test)}


models = {(eps, seed): train(eps, seed) for seed in (0, 1) for eps in (0.0, 0.1)}
results = {key: measure(*model) for key, model in models.items()}

# %% tags=["nbval-ignore-output"]
for key, r in results.items():
    print(key, {k: round(v, 4) for k, v in r.items()})

# %%
for seed in (0, 1):
    plain, smooth = results[0.0, seed], results[0.1, seed]
    print(f"seed {seed}: training clusters at least 30% tighter with ε = 0.1:",
          smooth["tightness (train)"] < 0.7 * plain["tightness (train)"])
    print(f"seed {seed}: test clusters tighter too:", smooth["tightness (test)"] < plain["tightness (test)"])
    print(f"seed {seed}: calibration error at least 20% lower:", smooth["ECE"] < 0.8 * plain["ECE"])
assert all(results[0.1, s]["tightness (train)"] < 0.7 * results[0.0, s]["tightness (train)"] for s in (0, 1))
assert all(results[0.1, s]["tightness (test)"] < results[0.0, s]["tightness (test)"] for s in (0, 1))
assert all(results[0.1, s]["ECE"] < 0.8 * results[0.0, s]["ECE"] for s in (0, 1))

# %% [markdown]
# ## The GPU version
#
# `smoothed_cross_entropy` only needs `one_hot` and `log_softmax`; pass torch's functional module
# and it must agree with PyTorch's built-in `torch.nn.functional.cross_entropy(...,
# label_smoothing=ε)`, in value and in gradient.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
z_np = np.random.default_rng(0).standard_normal((32, 10)).astype(np.float32)
zt = gpu.to_torch(z_np, device, requires_grad=True)
yt = gpu.to_torch(y_test[:32], device)
mine = smoothed_cross_entropy(zt, yt, 0.1, F=torch.nn.functional)
builtin = torch.nn.functional.cross_entropy(zt, yt, label_smoothing=0.1)
grad_mine, = torch.autograd.grad(mine, zt)
grad_builtin, = torch.autograd.grad(builtin, zt)
print("your loss on torch agrees with torch's label_smoothing:", gpu.agree(mine, builtin, atol=1e-6))
print("...and so do the gradients:", gpu.agree(grad_mine, grad_builtin, atol=1e-6))
print("...and with minilib's:", gpu.agree(mine, smoothed_cross_entropy(ml.tensor(z_np), y_test[:32], 0.1), atol=1e-6))


# %% tags=["nbval-ignore-output"]
def loss_runner(lib, device=None, builtin=False):
    """Forward + backward of the smoothed loss over n rows of 1,000 classes."""
    def make(n):
        rng = np.random.default_rng(0)
        z, y = rng.standard_normal((n, 1000)).astype(np.float32), rng.integers(0, 1000, n)
        if lib is ml:
            zs, ys = ml.tensor(z, requires_grad=True), ml.tensor(y)
            return lambda: smoothed_cross_entropy(zs, ys, 0.1).backward()
        zs, ys = gpu.to_torch(z, device, True), gpu.to_torch(y, device)
        if builtin:
            return lambda: torch.nn.functional.cross_entropy(zs, ys, label_smoothing=0.1).backward()
        return lambda: smoothed_cross_entropy(zs, ys, 0.1, F=torch.nn.functional).backward()

    return make


rows = gpu.compare_timings([64, 512, 4096], {
    "yours, minilib": (loss_runner(ml), "cpu"),
    "yours, torch cpu": (loss_runner(torch, "cpu"), "cpu"),
    f"yours, torch on {device.type}": (loss_runner(torch, device), device),
    f"torch built-in on {device.type}": (loss_runner(torch, device, builtin=True), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "label-smoothed cross-entropy, 1,000 classes, forward + backward")

# %% [markdown]
# ## Takeaways
#
# * Label smoothing makes the optimal logits finite: the network stops pushing its confidence
#   towards 1 on every training example.
# * Geometrically, each class's penultimate features gather tightly around their template, and the
#   templates end up at equal distances from each other.
# * Where the plain network is overconfident, smoothing improves calibration. On a problem the
#   network already solves with calibrated confidence, it can make it *under*-confident (try ε = 0.1
#   on clean digits).
#
# **Questions a teacher might ask**
# 1. What are the optimal logits for the smoothed loss, as a function of ε and K?
# 2. Müller et al. find that a teacher trained with label smoothing makes a *worse* teacher for
#    distillation. Using the tight clusters, explain what information was erased (lesson 25).
# 3. Is a network trained with ε = 0.1 and then temperature-scaled better calibrated than one trained
#    with ε = 0 and temperature-scaled?
# 4. Why does the reliability diagram of the ε = 0 network lie below the diagonal?
