# %% [markdown]
# # 25 · Knowledge distillation: target and non-target knowledge
#
# **The idea.** A trained network knows more than its top answer: a "2" that looks a bit like a
# "7" gets more probability on 7 than on 4. Hinton et al. call this *dark knowledge*, and transfer
# it to a small *student* by training the student on the teacher's output distribution, softened by
# a temperature T so that the small probabilities become visible. The loss is the cross-entropy
# between the softened distributions, multiplied by T² so that its gradients keep their scale as T
# grows. Zhao et al. split this loss into a *target* part (how sure the teacher is of the true
# class) and a *non-target* part (how it spreads the rest over the other classes). They find that
# the non-target part is what makes distillation work, and that the usual loss weights it down by
# 1 − p_y, the less the more confident the teacher.
#
# *Papers:* G. Hinton, O. Vinyals, J. Dean, **"Distilling the Knowledge in a Neural Network"**, 2015
# (arXiv:1503.02531); B. Zhao, Q. Cui, R. Song, Y. Qiu, J. Liang, **"Decoupled Knowledge
# Distillation"**, CVPR 2022 (arXiv:2203.08679).
#
# The claims we reproduce, on 12 teachers (each seed its own split of the digits, teacher and
# students): a small student trained on the teacher's softened outputs for only 50 digits tests far
# better than students trained on the same outputs with the non-target probabilities shuffled among
# the wrong classes, and than students given only the teacher's target probability: the gain is in
# *which* wrong classes the teacher finds plausible. A teacher trained with label smoothing (lesson 24;
# R. Müller, S. Kornblith, G. Hinton, "When Does Label Smoothing Help?", 2019, arXiv:1906.02629)
# reduces that knowledge, and its students do worse.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import Dropdown, FloatLogSlider

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import claim, gpu, panel, progress
from course.softmax import check_distillation_loss, check_kd_parts, check_shuffle_non_target

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: the distillation loss
#
# $$L_\text{KD} = T^2 \cdot \frac1B \sum_b \Big(-\sum_c \operatorname{softmax}(t_b/T)_c \,
# \log \operatorname{softmax}(s_b/T)_c\Big).$$
#
# **Exercise.** Write it for student logits s and teacher logits t of shape (..., classes): the sum
# runs over the last axis, the mean over all the others (later we train several students at once,
# stacked on a leading axis). Pass `F` so that it runs on torch too.

# %%
def distillation_loss(student_logits, teacher_logits, T=4.0, F=F):
    """T² times the cross-entropy from softened teacher to softened student: logits (..., K) -> scalar."""
    # BEGIN SOLUTION
    soft_targets = F.softmax(teacher_logits / T, -1)
    return -(soft_targets * F.log_softmax(student_logits / T, -1)).sum(-1).mean() * T * T
    # END SOLUTION


# %%
check_distillation_loss(distillation_loss)


# %% [markdown]
# ## From scratch 2: target and non-target knowledge
#
# Let p and q be the teacher's and student's (softened) distributions, and y the true class.
# Merging all other classes gives binary distributions b = (p_y, 1 − p_y); renormalising the other
# classes gives p̂ = p_{≠y}/(1 − p_y). Zhao et al. show that the KL divergence then splits exactly:
#
# $$\mathrm{KL}(p\,\|\,q) = \underbrace{\mathrm{KL}(b^p\,\|\,b^q)}_\text{target}
# + (1 - p_y)\,\underbrace{\mathrm{KL}(\hat p\,\|\,\hat q)}_\text{non-target}.$$
#
# The non-target knowledge, the dark knowledge, is scaled by 1 − p_y, so the more confident the
# teacher, the less of it reaches the student. (Distillation's cross-entropy is this KL plus the
# teacher's entropy, a constant for the student.)
#
# **Exercise.** Write `kd_parts(p, q, target)` returning the three per-example terms
# (binary KL, non-target KL, weight 1 − p_y); `target` is a boolean mask (B, K), true at the true
# class. Careful at the target's own entry: p̂ is 0 there, and its term of p̂ log(p̂/q̂) must count as 0.

# %%
def kd_parts(p, q, target):
    """Distributions p, q (B, K), boolean target mask (B, K) -> (KL(b^p || b^q), KL(p̂ || q̂), 1 - p_y), each (B,)."""
    # BEGIN SOLUTION
    p_y, q_y = p.masked_fill(~target, 0).sum(-1), q.masked_fill(~target, 0).sum(-1)
    binary = p_y * (p_y / q_y).log() + (1 - p_y) * ((1 - p_y) / (1 - q_y)).log()
    p_hat = p.masked_fill(target, 0) / (1 - p_y).unsqueeze(-1)
    q_hat = q.masked_fill(target, 1) / (1 - q_y).unsqueeze(-1)  # any positive value at the target: p̂ is 0 there
    log_ratio = (p_hat.masked_fill(target, 1) / q_hat).log().masked_fill(target, 0)
    return binary, (p_hat * log_ratio).sum(-1), 1 - p_y
    # END SOLUTION


# %%
check_kd_parts(kd_parts)


# %% [markdown]
# ## From scratch 3: a control that keeps everything but the dark knowledge
#
# To show that the student learns from *which* wrong classes the teacher finds plausible, we need a
# teacher that says just as much, minus that. Take the teacher's logits and, in each row, shuffle the
# non-target logits among the non-target classes, leaving the target's logit where it is. The
# softened distribution keeps p_y (so the target part of the loss is unchanged) and the same set of
# non-target probabilities (the same entropy), but they now sit on the wrong classes.
#
# **Exercise.** Write `shuffle_non_target(logits, y, rng)`, with an order of its own for every row,
# drawn from the numpy generator `rng` (it works on the values; gradients are not needed).

# %%
def shuffle_non_target(logits, y, rng):
    """Each row's non-target logits in a random order of its own, target in place: (B, K), (B,) -> (B, K)."""
    # BEGIN SOLUTION
    out, labels = np.asarray(logits).copy(), np.asarray(y)
    for i, label in enumerate(labels):
        others = np.flatnonzero(np.arange(out.shape[1]) != label)
        out[i, others] = out[i, rng.permutation(others)]
    return ml.tensor(out)
    # END SOLUTION


# %%
check_shuffle_non_target(shuffle_non_target)


# %% [markdown]
# ## See it: dark knowledge at temperature T
#
# Two teachers, MLPs with 256 hidden units, trained on the 1,347 training digits: one with
# ordinary cross-entropy and one with label smoothing ε = 0.1 (lesson 24). Each layer below holds one
# weight matrix per network, a (networks, inputs, outputs) tensor, and `x @ weight` runs every
# network on its own slice of the batch: one batched matmul trains several networks at once. Summing
# their losses gives each network the gradient of its own loss, and Adam treats every weight on its
# own, so this is the same as separate trainings.

# %%
class SeedLinear(nn.Module):
    """Independent linear layers, one per key: x (N, B, n_in) -> (N, B, n_out) by one batched matmul."""

    def __init__(self, keys, n_in, n_out):
        super().__init__()
        bound = 1 / math.sqrt(n_in)  # nn.Linear's initialisation, from each network's own generator
        w = np.stack([np.random.default_rng(key).uniform(-bound, bound, (n_in + 1, n_out)) for key in keys])
        self.weight = nn.Parameter(ml.tensor(w[:, :-1].astype(np.float32)))  # (N, n_in, n_out)
        self.bias = nn.Parameter(ml.tensor(w[:, -1:].astype(np.float32)))  # (N, 1, n_out)

    def forward(self, x):
        return x @ self.weight + self.bias


def make_mlps(keys, hidden):
    """One 64-hidden-10 MLP per key (a list of ints seeding its initial weights)."""
    return nn.Sequential(SeedLinear([[*k, 0] for k in keys], 64, hidden), nn.ReLU(),
                         SeedLinear([[*k, 1] for k in keys], hidden, 10))


def train_teachers(seeds, smoothing, steps=400, hidden=256, batch=128):
    """One teacher per (seed, ε): trained on that seed's split of the digits with label smoothing ε,
    initial weights and batches from the seed (a plain and a smoothed teacher share both)."""
    splits = {s: ml.data.digits(flatten=True, seed=s) for s in set(seeds)}
    x = np.stack([splits[s].x_train.numpy() for s in seeds])
    y = np.stack([splits[s].y_train.numpy() for s in seeds])
    eps = ml.tensor(np.array(smoothing, np.float32).reshape(-1, 1, 1))
    model = make_mlps([[s, 1] for s in seeds], hidden)
    opt = ml.optim.Adam(model.parameters(), lr=3e-3)
    rngs = {s: np.random.default_rng([s, 2]) for s in set(seeds)}
    for _ in progress(range(steps), desc=f"{len(seeds)} teachers"):
        picks = {s: rng.choice(x.shape[1], batch, replace=False) for s, rng in rngs.items()}
        idx = np.stack([picks[s] for s in seeds])
        xb, yb = np.take_along_axis(x, idx[..., None], 1), np.take_along_axis(y, idx, 1)
        targets = ml.tensor(np.eye(10, dtype=np.float32)[yb]) * (1 - eps) + eps / 10
        opt.zero_grad()
        (-(targets * model(ml.tensor(xb)).log_softmax(-1)).sum(-1).mean() * len(seeds)).backward()
        opt.step()
    return model


digits = ml.data.digits(flatten=True, seed=0)
pair = train_teachers([0, 0], [0.0, 0.1])


# %% [markdown]
# One training digit, and both teachers' softened distributions over the ten classes, beside the
# plain teacher's with its non-target logits shuffled (your `shuffle_non_target`). At T = 1 the true
# class takes nearly everything. As T rises, the ranking of the wrong classes appears: the dark
# knowledge the student learns from. The smoothed teacher's wrong classes stay flatter; the shuffled
# ones are as spread out as the teacher's, on the wrong classes.

# %%
def draw_dark_knowledge(T=4.0, example=0):
    x, y = digits.x_train[example:example + 1], digits.y_train[example:example + 1]
    with ml.no_grad():
        logits = pair(ml.stack([x, x]))[:, 0]  # (2 teachers, 10)
    shown = {"teacher": logits[0], "smoothed teacher": logits[1],
             "teacher, shuffled": shuffle_non_target(logits[:1], y, np.random.default_rng(example))[0]}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [1, 3]})
    axes[0].imshow(x.reshape(8, 8), cmap="gray_r")
    axes[0].set_title(f"training digit {example} (a {int(y.item())})")
    axes[0].axis("off")
    for k, (name, lg) in enumerate(shown.items()):
        axes[1].bar(np.arange(10) + (k - 1) * 0.28, F.softmax(lg / T, -1).numpy(), 0.28, label=name)
    axes[1].set(yscale="log", ylim=(1e-4, 1.5), xticks=range(10), xlabel="class",
                title=f"softened outputs, T = {T:.2g}")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_dark_knowledge, T=FloatLogSlider(value=4.0, base=10, min=0, max=1.3),
      example=Dropdown(options=list(range(8)), value=0))

# %% [markdown]
# ## Reproduce the claims
#
# Each seed draws its own split of the digits and trains its own pair of teachers (plain and
# label-smoothed, as above). Students, MLPs with 32 hidden units, then see only a *transfer set*: the
# first 50 (or 100) training digits of that seed. Every student is trained full-batch with Adam for
# the same number of steps, from the same two initial weights per seed (each result below is the mean
# of the two), on one of these targets at T = 4:
#
# * **teacher**: the teacher's softened outputs (Hinton et al.), the technique;
# * **shuffled**: the same outputs with the non-target logits shuffled in each row (three shuffles,
#   averaged): same target probability, same set of non-target probabilities, wrong classes;
# * **target only**: the teacher's target probability p_y, the rest spread evenly over the other
#   classes: Zhao et al.'s target part without the non-target knowledge;
# * **smoothed teacher**: the label-smoothed teacher's softened outputs;
# * **hard labels**: plain cross-entropy, shown for reference.
#
# The knobs sit in the next cell. From the course's root folder, `make claims softmax/25` re-runs the
# lesson on other seeds, and under the control: `NON_TARGET = "shuffled"`, which hands the technique's
# students a fourth shuffle of the teacher's outputs. Every claim below must fail there.

# %% tags=["parameters"]
SEEDS = list(range(12))  # each seed: its own split of the digits, teachers, transfer set, students
NON_TARGET = "teacher"  # what the technique's students get: "teacher", or "shuffled" (the control)
SIZES = [50, 100]  # transfer-set sizes; the claims are on the first, the smallest
T = 4.0  # distillation temperature
STUDENT_STEPS = 300


# %%
def target_only(logits, y, T):
    """Logits whose softmax at T keeps the teacher's p_y and spreads 1 - p_y evenly: (B, K), (B,) -> (B, K)."""
    p = F.softmax(logits / T, -1)
    target = F.one_hot(y, p.shape[-1]).bool()
    p_y = p.masked_fill(~target, 0).sum(-1, keepdim=True)
    flat = ((1 - p_y) / (p.shape[-1] - 1)).expand(*p.shape)
    return ml.where(target, p_y.expand(*p.shape), flat).log() * T


def train_students(x, targets, inits, hard=None):
    """One student per row of x (N, n, 64): distilled from teacher logits `targets` (N, n, 10) at T, or,
    with `hard` labels (N, n), trained by cross-entropy. Initial weights from `inits`. Returns the model."""
    model = make_mlps(inits, 32)
    opt = ml.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(STUDENT_STEPS):
        logits = model(x)
        if hard is None:
            loss = distillation_loss(logits, targets, T)
        else:
            loss = F.cross_entropy(logits.reshape(-1, 10), hard.reshape(-1))
        opt.zero_grad()
        (loss * len(inits)).backward()  # the sum of the networks' mean losses
        opt.step()
    return model


splits = {s: ml.data.digits(flatten=True, seed=s) for s in SEEDS}
teachers = train_teachers(SEEDS + SEEDS, [0.0] * len(SEEDS) + [0.1] * len(SEEDS))
x_test = ml.tensor(np.stack([splits[s].x_test.numpy() for s in SEEDS]))
y_test = np.stack([splits[s].y_test.numpy() for s in SEEDS])
with ml.no_grad():
    teacher_accuracy = (teachers(ml.cat([x_test, x_test])).numpy().argmax(-1) == np.concatenate([y_test] * 2)).mean(1)
INITS = (7, 8)  # every student arm starts from the same two initial weights per seed
S = len(SEEDS)

results = {}  # (size, arm) -> (init, seed) test accuracies, shape (2, S)
for n in progress(SIZES, desc="transfer-set sizes"):
    x = np.stack([splits[s].x_train.numpy()[:n] for s in SEEDS])  # (S, n, 64)
    y = ml.tensor(np.stack([splits[s].y_train.numpy()[:n] for s in SEEDS]).reshape(-1))  # (S n,)
    with ml.no_grad():
        plain, smooth = teachers(ml.tensor(np.concatenate([x, x]))).reshape(2, S * n, 10)

    shuffles = [shuffle_non_target(plain, y, np.random.default_rng([n, k])) for k in range(4)]
    arms = {"teacher": plain if NON_TARGET == "teacher" else shuffles[0],
            **{f"shuffled {k}": shuffles[k] for k in (1, 2, 3)},
            "target only": target_only(plain, y, T), "smoothed teacher": smooth}
    targets = ml.cat([arm.reshape(S, n, 10) for arm in arms.values()])
    inits = [[s, i] for _ in arms for i in INITS for s in SEEDS]
    x_all = ml.tensor(np.concatenate([x] * len(arms) * len(INITS)))
    students = train_students(x_all, ml.cat([targets.reshape(len(arms), 1, S, n, 10)] * len(INITS), 1)
                              .reshape(-1, n, 10), inits)
    hard = train_students(ml.tensor(np.concatenate([x] * len(INITS))), None, [[s, i] for i in INITS for s in SEEDS],
                          hard=ml.cat([y.reshape(S, n)] * len(INITS)))
    with ml.no_grad():
        predicted = students(ml.cat([x_test] * len(arms) * len(INITS))).numpy().argmax(-1)
        predicted_hard = hard(ml.cat([x_test] * len(INITS))).numpy().argmax(-1)
    correct = (predicted == np.concatenate([y_test] * len(arms) * len(INITS))).mean(1).reshape(len(arms), 2, S)
    results.update({(n, name): correct[a] for a, name in enumerate(arms)})
    results[n, "hard labels"] = (predicted_hard == np.concatenate([y_test] * len(INITS))).mean(1).reshape(2, S)


TECHNIQUE = "teacher" if NON_TARGET == "teacher" else "teacher, shuffled"  # the label in the claims' tables


def acc(n, arm):
    """Per seed, the test accuracy of `arm`'s students on n digits (mean of the two initial weights)."""
    if arm == "shuffled":
        return np.mean([acc(n, f"shuffled {k}") for k in (1, 2, 3)], 0)
    return results[n, arm].mean(0)


print("teachers' test accuracy: plain", np.round(teacher_accuracy[:S], 3).tolist(),
      "smoothed", np.round(teacher_accuracy[S:], 3).tolist())
for n in SIZES:
    print(f"\nn = {n}: mean test accuracy over {S} seeds (and its lowest seed)")
    for arm in ("teacher", "shuffled", "target only", "smoothed teacher", "hard labels"):
        print(f"  {arm:17s} {acc(n, arm).mean():.3f}  ({acc(n, arm).min():.3f})")

# %% [markdown]
# How much of a difference is noise? Two kinds, printed by the next cell per seed, in points of test
# accuracy on 50 digits. The students' initial weights: the teacher's two students of a seed differ by
# about 1 point in standard deviation (seeds 0 to 35), so one student carries about 0.7 points of
# noise, a mean of two 0.5, and a comparison of two arms (each a mean of two) about 0.7 per seed and
# 0.2 on a mean over 12 seeds. And the shuffles: one shuffle against the mean of two others differs
# by 2.3 to 3.2 points in standard deviation, so under the control (one shuffle against the mean of
# three) the effect moves by about 2.5 points per seed and 0.7 on the mean. The teachers differ too:
# each seed has its own, and the effects below vary from seed to seed by 2 to 4 points, more than
# either kind of noise. That is real variation between teachers, and why the claims need 12 of them.

# %%
n0 = SIZES[0]
init_noise = 100 * (results[n0, "teacher"][0] - results[n0, "teacher"][1])
shuffle_noise = 100 * (acc(n0, "shuffled 1") - (acc(n0, "shuffled 2") + acc(n0, "shuffled 3")) / 2)
print("the teacher's students, initial weights 7 - 8:", np.round(init_noise, 1).tolist(),
      f"(sd {init_noise.std(ddof=1):.1f})")
print("one shuffle - the mean of two others:", np.round(shuffle_noise, 1).tolist(),
      f"(sd {shuffle_noise.std(ddof=1):.1f})")

# %% [markdown]
# The first claim, on 50 digits: the teacher's students beat those of the shuffled teacher by at least
# 8 points on average and by more than 3 on every seed. The shuffled students keep everything but the
# placement of the non-target probabilities, so this is the placement of the dark knowledge: on the right
# classes against the wrong ones. The wrong placement also misleads (these students fall below those of
# the hard labels, printed above), so the target-only comparison after this one is the cleaner measure of
# what the dark knowledge adds. Over seeds 0 to 35
# the mean was 12 to 14 points in each set of 12 seeds and no seed was below 6.6; under the control
# both sides are shuffles, and the effect is the shuffle noise above: a few points either way, about 0
# on average, where 8 is about ten times that noise on a mean over 12 seeds.

# %%
_ = claim(f"on {n0} digits, students of the {TECHNIQUE} beat students of its shuffled outputs", SEEDS,
          technique=acc(n0, "teacher"), baseline=acc(n0, "shuffled"), each_above=0.03, mean_at_least=0.08,
          names=(TECHNIQUE, "shuffled"))

# %% [markdown]
# The second, Zhao et al.'s finding: the target part alone, the teacher's confidence in the true class
# with nothing said about the others, teaches far less. The teacher's students beat those given only
# p_y by at least 5 points on average, and on every seed. (Over seeds 0 to 35: 8.4 to 10.3 points on
# average per set of 12, 3.5 at the lowest seed.) Under the control the shuffled outputs do worse than
# the target-only ones, and the claim fails.

# %%
_ = claim(f"on {n0} digits, students of the {TECHNIQUE} beat students of its target probability alone",
          SEEDS, technique=acc(n0, "teacher"), baseline=acc(n0, "target only"), each_above=0.0,
          mean_at_least=0.05, names=(TECHNIQUE, "target only"))

# %% [markdown]
# The third: the label-smoothed teacher (same initial weights and batches, ε = 0.1) is at least as
# accurate as the plain one (the teachers' accuracies are printed above), yet its students do worse:
# at least 1 point on average, and no seed worse off by more than 3. This effect is the smallest,
# and the thinnest claim: over seeds 0 to 59 it was 3.3, 2.7, 3.4, 1.7 and 2.1 points on average per
# set of 12 seeds, from −1.2 to +7.5 on single seeds, so the bound of 1 sits 0.7 below the lowest
# set, and ten times the placebo's spread on a mean of 12 seeds above it. What moves it is the split
# of the digits, not the teachers' initial weights: a placebo, a second plain teacher that differs
# from the first only in its initial weights, gives 0.0 and −0.1 points on
# seeds 0-11 and 36-47 (about 0.5 per seed), and fails the claim. Nor does it come from a temperature
# that suits one teacher only: over T = 1, 2, 4 and 8 on those seeds, the smoothed teacher's students do
# best at T = 4 (0.868 and 0.892; 0.866 and 0.891 at T = 8), the plain teacher's at T = 8 (0.921 and
# 0.921), so each teacher at its best temperature gives a larger gap than at T = 4. The order turns at
# low T: at T = 2 the two tie, and at T = 1 the smoothed teacher's students win. Under the control the
# technique's students get shuffled outputs and fall far below the smoothed teacher's.

# %%
_ = claim(f"on {n0} digits, students of the {TECHNIQUE} beat students of a label-smoothed teacher", SEEDS,
          technique=acc(n0, "teacher"), baseline=acc(n0, "smoothed teacher"), each_above=-0.03,
          mean_at_least=0.01, names=(TECHNIQUE, "smoothed"))

# %% [markdown]
# The same comparisons with 100 digits, shown and not claimed: every gap shrinks as the transfer set
# grows, since the hard labels alone say more.

# %%
fig, axes = plt.subplots(1, len(SIZES), figsize=(10, 3.5), sharey=True)
arms_shown = ("teacher", "shuffled", "target only", "smoothed teacher", "hard labels")
for ax, n in zip(axes, SIZES):
    for k, arm in enumerate(arms_shown):
        ax.bar(k, acc(n, arm).mean(), color=f"C{k}", alpha=0.6)
        ax.plot(np.full(S, k) + np.linspace(-0.2, 0.2, S), acc(n, arm), "k.", ms=4)
    ax.set(xticks=range(len(arms_shown)), ylim=(0.6, 1.0), title=f"transfer set of {n} digits")
    ax.set_xticklabels(arms_shown, rotation=25, fontsize=8)
axes[0].set_ylabel("student test accuracy")
fig.tight_layout()
for n in SIZES:
    gaps = {arm: round(100 * float((acc(n, "teacher") - acc(n, arm)).mean()), 1) for arm in arms_shown[1:]}
    print(f"n = {n}: the teacher's students minus each other arm, mean points:", gaps)


# %% [markdown]
# **Why the smoothed teacher teaches less.** `kd_parts` measures it. On each seed's 50 transfer
# digits at T = 4, take each example's softened output p and compare it with the mean output q of its
# class: the non-target part KL(p̂ ‖ q̂) says how much the example's dark knowledge differs from
# what any example of its class would say, the part a class label cannot carry. And the weight 1 − p_y
# says how much of it the loss lets through.

# %%
def example_knowledge(logits, y):
    """Mean over examples of (non-target KL of each p̂ from its class's mean p̂, 1 - p_y), at T."""
    p = F.softmax(logits / T, -1)
    target = F.one_hot(y, 10).bool()
    class_mean = ml.stack([p[y == int(c)].mean(0) for c in y.numpy()])
    _, non_target, weight = kd_parts(p, class_mean, target)
    return non_target.mean().item(), weight.mean().item()


knowledge = {}
with ml.no_grad():
    for i, s in enumerate(SEEDS):
        xs, ys = splits[s].x_train[:n0], splits[s].y_train[:n0]
        logits = teachers(ml.stack([xs] * 2 * S))[[i, S + i]]
        knowledge[s] = [example_knowledge(logits[0], ys), example_knowledge(logits[1], ys)]
for k, name in enumerate(("teacher", "smoothed teacher")):
    nt, w = np.mean([knowledge[s][k] for s in SEEDS], 0)
    print(f"{name:17s} non-target KL from the class mean {nt:.3f}, weight 1 - p_y {w:.2f}, "
          f"their product {nt * w:.3f}")

# %% [markdown]
# ## The GPU version
#
# `distillation_loss` with `F=torch.nn.functional` must agree with PyTorch's built-in KL divergence,
# `T² · kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean")`. The two differ by the
# teacher's entropy, which is a constant, so we compare the gradients, and the values after adding
# the entropy back. `kd_parts` uses tensor methods only, so it runs on torch unchanged; its parts must
# add up to torch's KL.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
rng = np.random.default_rng(0)
s_np, t_np = rng.standard_normal((16, 10)).astype(np.float32), 3 * rng.standard_normal((16, 10)).astype(np.float32)
st, tt = gpu.to_torch(s_np, device, requires_grad=True), gpu.to_torch(t_np, device)
tf = torch.nn.functional
mine = distillation_loss(st, tt, 4.0, F=tf)
builtin = tf.kl_div(tf.log_softmax(st / 4, -1), tf.softmax(tt / 4, -1), reduction="batchmean") * 16
teacher_entropy = -(tf.softmax(tt / 4, -1) * tf.log_softmax(tt / 4, -1)).sum(-1).mean() * 16
print("values agree (cross-entropy = KL + teacher entropy):", gpu.agree(mine, builtin + teacher_entropy, atol=1e-5))
print("gradients agree:", gpu.agree(torch.autograd.grad(mine, st)[0], torch.autograd.grad(builtin, st)[0], atol=1e-6))
print("...and with minilib's:", gpu.agree(mine, distillation_loss(ml.tensor(s_np), ml.tensor(t_np), 4.0), atol=1e-5))
labels = rng.integers(0, 10, 16)
p_t, q_t = tf.softmax(tt / 4, -1), tf.softmax(st.detach() / 4, -1)
mask_t = tf.one_hot(torch.tensor(labels, device=device), 10).bool()
binary, non_target, weight = kd_parts(p_t, q_t, mask_t)
print("kd_parts on torch adds up to torch's KL:",
      gpu.agree(binary + weight * non_target, tf.kl_div(q_t.log(), p_t, reduction="none").sum(-1), atol=1e-5))
mine_parts = kd_parts(F.softmax(ml.tensor(t_np) / 4, -1), F.softmax(ml.tensor(s_np) / 4, -1),
                      F.one_hot(ml.tensor(labels), 10).bool())
print("...and agrees with minilib's:", all(gpu.agree(a, b, atol=1e-5) for a, b in zip((binary, non_target, weight),
                                                                                    mine_parts)))


# %% tags=["nbval-ignore-output"]
def kd_runner(lib, device=None, builtin=False):
    """Forward + backward of the distillation loss for n rows of 1,000 classes."""
    def make(n):
        rng = np.random.default_rng(0)
        s, t = rng.standard_normal((n, 1000)).astype(np.float32), rng.standard_normal((n, 1000)).astype(np.float32)
        if lib is ml:
            ss, ts = ml.tensor(s, requires_grad=True), ml.tensor(t)
            return lambda: distillation_loss(ss, ts).backward()
        ss, ts = gpu.to_torch(s, device, True), gpu.to_torch(t, device)
        if builtin:
            return lambda: (tf.kl_div(tf.log_softmax(ss / 4, -1), tf.softmax(ts / 4, -1), reduction="batchmean")
                            * 16).backward()
        return lambda: distillation_loss(ss, ts, F=tf).backward()

    return make


runners = {"yours, minilib": (kd_runner(ml), "cpu"),
           "yours, torch cpu": (kd_runner(torch, "cpu"), "cpu"),
           "torch kl_div cpu": (kd_runner(torch, "cpu", builtin=True), "cpu")}
if device.type != "cpu":
    runners[f"yours, {device.type}"] = (kd_runner(torch, device), device)
    runners[f"torch kl_div {device.type}"] = (kd_runner(torch, device, builtin=True), device)
rows = gpu.compare_timings([64, 512, 4096], runners)
print(gpu.format_timings(rows, size="rows n"))
_ = gpu.plot_timings(rows, "distillation loss, 1,000 classes, forward + backward")

# %% [markdown]
# ## Takeaways
#
# * A teacher's softened outputs carry more than a hard label. On 50 digits its students reached
#   90% test accuracy on average over 12 seeds, against 78% from the hard labels alone.
# * The gain is in *which* wrong classes the teacher finds plausible. Students of the same outputs
#   with the non-target logits shuffled (same p_y, same set of non-target probabilities) reached 76%,
#   below the hard labels: soft targets that point at the wrong classes mislead. Students given only
#   p_y, Zhao et al.'s target part, reached 80%: the non-target part carries most of the gain.
# * The KD loss splits exactly into a target part and a non-target part weighted by 1 − p_y
#   (`kd_parts`); the natural formula's 0 · log(0/0) at the target has to be kept out, of the value
#   and of the gradient.
# * Label smoothing reduces the dark knowledge without costing the teacher accuracy: the smoothed
#   teachers were at least as accurate, and their loss even lets more through (1 − p_y about 0.74
#   against 0.34), but each example's non-target distribution barely differs from its class's
#   (KL about 0.01 against 0.15), and their students lost about 3 points on 50 digits. They still
#   beat the hard labels by far: reduced, not erased.
# * Every gap shrinks with 100 digits, where the labels alone say more.
#
# **Questions a teacher might ask**
# 1. Why multiply by T²? Differentiate the loss with respect to the student's logits for large T.
# 2. Run `make claims softmax/25`. Under the control (`NON_TARGET = "shuffled"`) all three claims fail:
#    what does each table show? Why is the first one's effect about 0, and the other two negative?
# 3. Why do students of the shuffled teacher do worse than students of hard labels, when they get
#    the same p_y? What would a student learn from a teacher whose non-target part is random but
#    *consistent* for each class?
# 4. Zhao et al.'s decoupled loss weights the two parts freely, α · target + β · non-target, instead
#    of 1 and 1 − p_y. Write it with `kd_parts` and train the students with it. Does a larger β help here?
# 5. The smoothed teacher is the more accurate one, and the worse teacher. What does that say about
#    choosing a teacher by its test accuracy?
# 6. How does the best T change with the size of the transfer set?
