# %% [markdown]
# # 19 · MC dropout, uncertainty and Rashomon sets
#
# **The idea.** Keep dropout *on* at test time and run the network many times: each pass uses a
# different thinned network, and the spread of their predictions measures how unsure the model is.
# Gal & Ghahramani show that this *MC dropout* approximates Bayesian inference over the weights.
# Hsu et al. use dropout for a different question. Many models fit the data almost equally well
# (the *Rashomon set*), but they may disagree on individual predictions, which is called *predictive
# multiplicity*. Rather than retrain hundreds of models, they sample thinned networks with fixed
# dropout masks, keep those whose loss is within ε of the original's, and measure how much they
# disagree.
#
# *Papers:* Y. Gal, Z. Ghahramani, **"Dropout as a Bayesian Approximation: Representing Model
# Uncertainty in Deep Learning"**, ICML 2016 (arXiv:1506.02142); H. Hsu, G. Li, S. Hu, C.-F. Chen,
# **"Dropout-Based Rashomon Set Exploration for Efficient Predictive Multiplicity Estimation"**,
# ICLR 2024 (arXiv:2402.00728).
#
# The claims we reproduce: MC dropout's predictive entropy and mutual information are much higher
# on inputs unlike the training data than on test digits; dropout-sampled models within ε of the
# original's loss disagree on more test points as ε grows, at no retraining cost.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import FloatLogSlider, IntSlider

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import check, expect, gpu, panel, progress

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: MC dropout prediction
#
# Put the model in training mode (dropout on), turn off gradient tracking, run it S times and stack the
# softmax outputs. Put the model back in eval mode afterwards: forgetting to do that is a
# classic bug.
#
# **Exercise.** Write `mc_predict`.

# %%
def mc_predict(model, x, samples=50):
    """(samples, N, classes) softmax outputs of `model` on x with dropout on; leaves the model in eval mode."""
    # BEGIN SOLUTION
    model.train()
    with ml.no_grad():
        out = ml.stack([model(x).softmax(-1) for _ in range(samples)])
    model.eval()
    return out
    # END SOLUTION


# %%
def mc_properties():
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    probs = mc_predict(model, ml.randn(4, 5), samples=7)
    return {"shape (samples, N, classes)": tuple(probs.shape) == (7, 4, 3),
            "each row a distribution": gpu.agree(probs.sum(-1), ml.ones(7, 4)),
            "the samples differ (dropout was on)": not gpu.agree(probs[0], probs[1]),
            "the model is back in eval mode": not model.training and not model[2].training}


expect("mc_predict", mc_properties, hint="model.train(), stack softmax outputs under ml.no_grad(), model.eval()")


# %% [markdown]
# ## From scratch 2: two measures of uncertainty
#
# With p̄ the mean of the S predictive distributions:
#
# * **predictive entropy** H(p̄) = −Σ_c p̄_c log p̄_c is the total uncertainty;
# * **mutual information** H(p̄) − mean_s H(p_s) is the part that comes from the samples
#   *disagreeing* (uncertainty about the model itself). It is zero when every thinned network
#   predicts the same distribution.
#
# **Exercise.** Write `entropy` (over the last dim; treat 0·log 0 as 0) and `mutual_information`.

# %%
def entropy(p):
    """Entropy of distributions along the last dim: (..., C) -> (...)."""
    # BEGIN SOLUTION
    return -(p * p.clamp(min=1e-12).log()).sum(-1)
    # END SOLUTION


def mutual_information(samples):
    """H(mean over samples) - mean over samples of H, for samples (S, N, C) -> (N,)."""
    # BEGIN SOLUTION
    return entropy(samples.mean(0)) - entropy(samples).mean(0)
    # END SOLUTION


# %%
def torch_entropy(p):
    return torch.distributions.Categorical(probs=torch.from_numpy(p.numpy().astype(np.float64))).entropy().float()


some_probs = ml.randn(6, 5, 4).softmax(-1)
check("entropy", entropy, torch_entropy, some_probs, atol=1e-5, grad=False,
      hint="-(p * log p).sum(-1); clamp p away from 0 before the log")
check("mutual_information", mutual_information,
      lambda s: torch_entropy(s.mean(0)) - torch_entropy(s).mean(0), some_probs, atol=1e-5, grad=False)


# %% [markdown]
# ## From scratch 3: predictive multiplicity
#
# Given the original model's predicted labels (N,) and those of M other models (M, N):
#
# * **ambiguity**: the fraction of points on which *at least one* model disagrees with the original;
# * **discrepancy**: the largest fraction of points on which *any single* model disagrees.
#
# **Exercise.** Write both (return Python floats; an empty set of models gives 0.0).

# %%
def ambiguity(base, others):
    """Fraction of points where some row of others (M, N) differs from base (N,)."""
    # BEGIN SOLUTION
    if others.shape[0] == 0:
        return 0.0
    return (others != base).any(0).float().mean().item()
    # END SOLUTION


def discrepancy(base, others):
    """Largest fraction of points on which one row of others (M, N) differs from base (N,)."""
    # BEGIN SOLUTION
    if others.shape[0] == 0:
        return 0.0
    return (others != base).float().mean(1).max().item()
    # END SOLUTION


# %%
def loop_ambiguity(base, others):
    b, o = np.asarray(base), np.asarray(others)
    return float(np.mean([any(o[m, i] != b[i] for m in range(len(o))) for i in range(len(b))])) if len(o) else 0.0


def loop_discrepancy(base, others):
    b, o = np.asarray(base), np.asarray(others)
    return max(float(np.mean([o[m, i] != b[i] for i in range(len(b))])) for m in range(len(o))) if len(o) else 0.0


base_labels = ml.randint(0, 3, (40,), generator=ml.Generator().manual_seed(0))
other_labels = ml.where(ml.rand(5, 40, generator=ml.Generator().manual_seed(1)) < 0.1,
                        ml.randint(0, 3, (5, 40), generator=ml.Generator().manual_seed(2)), base_labels)
check("ambiguity", ambiguity, loop_ambiguity, base_labels, other_labels, grad=False,
      hint="(others != base).any(0) marks the points some model changes")
check("discrepancy", discrepancy, loop_discrepancy, base_labels, other_labels, grad=False)
check("ambiguity of no models", ambiguity, loop_ambiguity, base_labels, other_labels[:0], grad=False)

# %% [markdown]
# ## See it
#
# An MLP with dropout 0.3 after each hidden layer, trained on digits. MC dropout runs it 50 times on
# the test digits and on three kinds of input it never saw: the same digits with their pixels
# shuffled (one fixed permutation), uniform noise, and inverted digits (1 − x).

# %%
digits = ml.data.digits(flatten=True)
ml.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 128), nn.ReLU(), nn.Dropout(0.3),
                      nn.Linear(128, 10))
opt = ml.optim.Adam(model.parameters(), lr=1e-3)
rng = np.random.default_rng(0)
for _ in progress(range(400), desc="training"):
    idx = ml.tensor(rng.choice(len(digits.x_train), 128, replace=False))
    model.train()
    opt.zero_grad()
    F.cross_entropy(model(digits.x_train[idx]), digits.y_train[idx]).backward()
    opt.step()
model.eval()

inputs = {"test digits": digits.x_test,
          "shuffled pixels": digits.x_test[:, ml.tensor(np.random.default_rng(1).permutation(64))],
          "uniform noise": ml.rand(len(digits.x_test), 64, generator=ml.Generator().manual_seed(2)),
          "inverted": 1 - digits.x_test}
samples = {name: mc_predict(model, x) for name, x in inputs.items()}


# %% [markdown]
# A candidate model is the trained network with one *fixed* dropout mask on each hidden layer (the
# same for every input), at a rate drawn from {0.02, 0.05, 0.1, 0.2}. We draw 300 candidates and
# measure each one's training loss; `rashomon(ε)` keeps those within ε of the original's loss. No
# model is retrained.

# %%
def forward_with_masks(model, x, masks):
    """The MLP above with fixed per-unit masks (already scaled) on its two hidden layers."""
    h = model[1](model[0](x)) * masks[0]
    h = model[4](model[3](h)) * masks[1]
    return model[6](h)


with ml.no_grad():
    base_loss = F.cross_entropy(model(digits.x_train), digits.y_train).item()
    base_pred = model(digits.x_test).argmax(1)
    mask_rng = np.random.default_rng(0)
    candidates = []
    for _ in progress(range(300), desc="candidates"):
        rate = mask_rng.choice([0.02, 0.05, 0.1, 0.2])
        masks = [ml.tensor((mask_rng.random((1, 128)) >= rate).astype(np.float32) / (1 - rate)) for _ in range(2)]
        loss = F.cross_entropy(forward_with_masks(model, digits.x_train, masks), digits.y_train).item()
        candidates.append((loss - base_loss, forward_with_masks(model, digits.x_test, masks).argmax(1)))

epsilons = [0.0, 0.005, 0.01, 0.02, 0.05, 0.1]


def rashomon(eps):
    """Test predictions (M, N) of the candidates within eps of the original training loss."""
    kept = [pred for gap, pred in candidates if gap <= eps]
    return ml.stack(kept) if kept else base_pred[None][:0]


# %% [markdown]
# Left: the predictive entropy of MC dropout on each kind of input, for the number of samples you
# choose. Right: ambiguity and discrepancy against ε, with the Rashomon set at your ε marked.

# %%
def draw_uncertainty(samples_used=50, eps=0.01):
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    bins = np.linspace(0, np.log(10), 40)
    for name in inputs:
        h = entropy(samples[name][:samples_used].mean(0))
        axes[0].hist(np.asarray(h), bins=bins, alpha=0.5, label=name)
    axes[0].set(xlabel="predictive entropy (nats)", ylabel="inputs", title=f"MC dropout, {samples_used} samples")
    axes[0].legend(fontsize=8)
    sets = [rashomon(e) for e in epsilons]
    axes[1].plot(epsilons, [ambiguity(base_pred, m) for m in sets], marker="o", label="ambiguity")
    axes[1].plot(epsilons, [discrepancy(base_pred, m) for m in sets], marker="o", label="discrepancy")
    current = rashomon(eps)
    axes[1].plot([eps], [ambiguity(base_pred, current)], "s", ms=10, color="C3")
    axes[1].set_xscale("symlog", linthresh=1e-3)
    axes[1].set(xlabel="ε (training-loss tolerance)", ylabel="fraction of test digits",
                title=f"ε = {eps:.3g}: {len(current)} models in the set")
    axes[1].legend()
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_uncertainty, samples_used=IntSlider(value=50, min=2, max=50),
      eps=FloatLogSlider(value=0.01, base=10, min=-3, max=-1))

# %% [markdown]
# ## Reproduce claim 1: MC dropout knows what it has not seen
#
# We compare MC dropout's uncertainty on the test digits with its uncertainty on the three kinds of
# input it never saw.

# %%
uncertainty = {name: (entropy(s.mean(0)), mutual_information(s)) for name, s in samples.items()}
mean_unc = {name: (h.mean().item(), mi.mean().item()) for name, (h, mi) in uncertainty.items()}

# %% tags=["nbval-ignore-output"]
print({name: tuple(round(v, 3) for v in vals) for name, vals in mean_unc.items()})
mc_accuracy = (samples["test digits"].mean(0).argmax(1) == digits.y_test).float().mean().item()
print("MC accuracy on test digits:", round(mc_accuracy, 3))

# %%
in_h, in_mi = mean_unc["test digits"]
for name in ("shuffled pixels", "uniform noise", "inverted"):
    h, mi = mean_unc[name]
    print(f"{name}: entropy and mutual information over twice the test digits':", h > 2 * in_h and mi > 2 * in_mi)
assert all(mean_unc[n][0] > 2 * in_h and mean_unc[n][1] > 2 * in_mi for n in inputs if n != "test digits")

# %% [markdown]
# ## Reproduce claim 2: a Rashomon set from dropout masks
#
# For each ε, how much do the candidates within ε of the original's training loss disagree with the
# original on the test digits?

# %%
multiplicity = [(len(members), ambiguity(base_pred, members), discrepancy(base_pred, members))
                for members in map(rashomon, epsilons)]

# %% tags=["nbval-ignore-output"]
for e, (size, amb, dis) in zip(epsilons, multiplicity):
    print(f"eps {e:<6} models {size:4d}  ambiguity {amb:.3f}  discrepancy {dis:.3f}")

# %%
sizes, ambiguities = [m[0] for m in multiplicity], [m[1] for m in multiplicity]
print("the set grows with eps:", all(a <= b for a, b in zip(sizes, sizes[1:])))
print("ambiguity grows with eps:", all(a <= b for a, b in zip(ambiguities, ambiguities[1:])))
print("models within 0.1 of the loss disagree with the original on over 5% of test digits:", ambiguities[-1] > 0.05)
assert all(a <= b for a, b in zip(sizes, sizes[1:])) and all(a <= b for a, b in zip(ambiguities, ambiguities[1:]))
assert ambiguities[-1] > 0.05

# %% [markdown]
# ## The GPU version
#
# With the same fixed masks, a Rashomon member must predict the same in torch as in minilib
# (`forward_with_masks` only indexes layers and multiplies). MC dropout draws its own masks in torch,
# so we check that its *uncertainty* agrees rather than each sample. PyTorch has no built-in
# for either; the timing compares S looped MC passes with S passes batched into one call on the device.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
twin = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(128, 128),
                           torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(128, 10))
ml.interop.copy_weights(model, twin)
twin = twin.to(device).eval()
xt = gpu.to_torch(digits.x_test, device)
masks = [ml.tensor((np.random.default_rng(9).random((1, 128)) >= 0.1).astype(np.float32) / 0.9) for _ in range(2)]
with torch.no_grad(), ml.no_grad():
    print("a Rashomon member agrees across libraries:",
          gpu.agree(forward_with_masks(twin, xt, [gpu.to_torch(m, device) for m in masks]),
                    forward_with_masks(model, digits.x_test, masks), atol=1e-4))
    twin.train()
    torch.manual_seed(0)
    mc_t = torch.stack([twin(xt).softmax(-1) for _ in range(50)])
    twin.eval()
h_t = entropy(mc_t.mean(0)).mean().item()
print("MC predictive entropy agrees within 10%:", abs(h_t / mean_unc["test digits"][0] - 1) < 0.1)


# %% tags=["nbval-ignore-output"]
def mc_runner(lib, device=None, batched=False):
    """S dropout passes over the 450 test digits (looped, or batched into one call)."""
    def make(s):
        if lib is ml:
            net, x = model, digits.x_test
        else:
            net, x = twin.to(device), gpu.to_torch(digits.x_test, device)

        def run():
            net.train()
            with ml.no_grad(), torch.no_grad():
                if batched:
                    out = net(x.repeat(s, 1)).softmax(-1).reshape(s, x.shape[0], 10)
                else:
                    out = [net(x).softmax(-1) for _ in range(s)]
            net.eval()
            return out

        return run

    return make


rows = gpu.compare_timings([10, 30, 100], {
    "minilib, looped": (mc_runner(ml), "cpu"),
    "minilib, batched": (mc_runner(ml, batched=True), "cpu"),
    "torch cpu, batched": (mc_runner(torch, "cpu", batched=True), "cpu"),
    f"torch on {device.type}, batched": (mc_runner(torch, device, batched=True), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "MC dropout on 450 digits, by number of samples")

# %% [markdown]
# ## Takeaways
#
# * Dropout left on at test time turns one network into an ensemble of thinned networks. Where they
#   disagree, the model is uncertain, and they disagree most on inputs unlike the training data.
# * Mutual information isolates that disagreement from uncertainty inherent in the input (a digit that
#   could be a 1 or a 7).
# * The same thinned networks, with their masks held fixed, explore models that fit almost equally
#   well. How much they disagree on individual predictions, for a cost of forward passes only, is
#   the predictive multiplicity.
#
# **Questions a teacher might ask**
# 1. How many MC samples do you need before the mean entropy stops changing? Use the widget.
# 2. Inverted digits are the least "surprising" of the three unseen input types. Why might that be?
# 3. Ambiguity counts a point once any model disagrees. Why does it keep growing with the number of
#    candidates even at fixed ε, and what does that mean for how many candidates to draw?
# 4. A loan is refused by the original model and granted by a model within ε. What should a
#    practitioner do with that information?
