# %% [markdown]
# # 25 · Knowledge distillation
#
# **The idea.** A trained network knows more than its top answer: a "2" that looks a bit like a
# "7" gets more probability on 7 than on 4. Hinton et al. call this *dark knowledge*, and transfer
# it to a small *student* by training the student on the teacher's output distribution, softened by
# a temperature T so that the small probabilities become visible. The loss is the cross-entropy
# between the softened distributions, multiplied by T² so that its gradients keep their scale as T
# grows. Yang et al. split this loss into a *target* part (how sure the teacher is of the true
# class) and a *non-target* part (how it spreads the rest). They show that the non-target part is
# down-weighted by exactly the teacher's confidence, and that normalising it makes a better loss,
# and one that works even when the student is its own teacher.
#
# *Papers:* G. Hinton, O. Vinyals, J. Dean, **"Distilling the Knowledge in a Neural Network"**, 2015
# (arXiv:1503.02531); Z. Yang, A. Zeng, Z. Li, T. Zhang, C. Yuan, Y. Li, **"From Knowledge
# Distillation to Self-Knowledge Distillation: A Unified Approach with Normalized Loss and
# Customized Soft Labels"**, ICCV 2023 (arXiv:2303.13005).
#
# The claims we reproduce: a small student trained on 50 or 100 digits learns better from a
# teacher's softened outputs than from the hard labels; a teacher trained with label smoothing
# distills worse (Müller et al., lesson 24), because smoothing erases the dark knowledge.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import Dropdown, FloatLogSlider

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import check, expect, gpu, panel, progress

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: the distillation loss
#
# $$L_\text{KD} = T^2 \cdot \frac1B \sum_b \Big(-\sum_c \operatorname{softmax}(t_b/T)_c \,
# \log \operatorname{softmax}(s_b/T)_c\Big).$$
#
# **Exercise.** Write it (pass `F` so it runs on torch too).

# %%
def distillation_loss(student_logits, teacher_logits, T=4.0, F=F):
    """T^2 times the cross-entropy from softened teacher to softened student, batch mean."""
    # BEGIN SOLUTION
    soft_targets = F.softmax(teacher_logits / T, -1)
    return -(soft_targets * F.log_softmax(student_logits / T, -1)).sum(-1).mean() * T * T
    # END SOLUTION


# %%
teacher_demo = ml.randn(5, 10, generator=ml.Generator().manual_seed(0)) * 3
check("distillation_loss", lambda s: distillation_loss(s, teacher_demo, 4.0),
      lambda s: F.cross_entropy(s / 4.0, F.softmax(teacher_demo / 4.0, -1)) * 16.0, (5, 10),
      hint="soften both with / T, cross-entropy from the teacher's softmax, times T * T")


# %% [markdown]
# ## From scratch 2: target and non-target knowledge
#
# Let p and q be the teacher's and student's (softened) distributions, and y the true class.
# Merging all other classes gives binary distributions b = (p_y, 1 − p_y); renormalising the other
# classes gives p̂ = p_{≠y}/(1 − p_y). The KL divergence then splits exactly:
#
# $$\mathrm{KL}(p\,\|\,q) = \mathrm{KL}(b^p\,\|\,b^q) + (1 - p_y)\,\mathrm{KL}(\hat p\,\|\,\hat q).$$
#
# The non-target knowledge, the dark knowledge, is scaled by 1 − p_y, so the more confident the
# teacher, the less of it reaches the student. Yang et al. remove that factor.
#
# **Exercise.** Write `kd_parts(p, q, y)` returning the three per-example terms
# (binary KL, non-target KL, weight 1 − p_y).

# %%
def kd_parts(p, q, y):
    """For distributions p, q (B, K) and labels y (B,): (KL of b^p || b^q, KL of p̂ || q̂, 1 - p_y), each (B,)."""
    target = F.one_hot(y, p.shape[-1]).bool()
    p_y, q_y = p[target], q[target]
    # BEGIN SOLUTION
    binary = p_y * (p_y / q_y).log() + (1 - p_y) * ((1 - p_y) / (1 - q_y)).log()
    p_hat = p.masked_fill(target, 0) / (1 - p_y).reshape(-1, 1)
    q_hat = q.masked_fill(target, 0) / (1 - q_y).reshape(-1, 1)
    non_target = (p_hat * (p_hat.clamp(min=1e-12) / q_hat.clamp(min=1e-12)).log()).sum(-1)
    return binary, non_target, 1 - p_y
    # END SOLUTION


# %%
def split_properties():
    g = ml.Generator().manual_seed(1)
    p, q = (ml.randn(6, 5, generator=g) * 2).softmax(-1), (ml.randn(6, 5, generator=g) * 2).softmax(-1)
    y = ml.randint(0, 5, (6,), generator=g)
    binary, non_target, weight = kd_parts(p, q, y)
    total = (p * (p / q).log()).sum(-1)
    return {"three (B,) terms": all(tuple(t.shape) == (6,) for t in (binary, non_target, weight)),
            "binary + (1 - p_y) * non-target equals KL(p || q)": gpu.agree(binary + weight * non_target, total,
                                                                          atol=1e-5),
            "each part is non-negative": bool((binary > -1e-6).all().item() and (non_target > -1e-6).all().item())}


expect("kd_parts", split_properties, hint="p_hat = p with the target zeroed, divided by 1 - p_y")

# %% [markdown]
# ## See it: dark knowledge at temperature T
#
# Two teachers, MLPs with 512 hidden units, trained on all 1,347 training digits: one with
# ordinary cross-entropy and one with label smoothing ε = 0.1.

# %%
digits = ml.data.digits(flatten=True)


def mlp(hidden, seed):
    ml.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def train_teacher(smoothing, steps=600):
    model = mlp(512, 0)
    opt, rng = ml.optim.Adam(model.parameters(), lr=3e-3), np.random.default_rng(0)
    for _ in progress(range(steps), desc=f"teacher, ε={smoothing}"):
        idx = ml.tensor(rng.choice(len(digits.x_train), 128, replace=False))
        opt.zero_grad()
        F.cross_entropy(model(digits.x_train[idx]), digits.y_train[idx], label_smoothing=smoothing).backward()
        opt.step()
    return model


teachers = {"teacher": train_teacher(0.0), "smoothed teacher": train_teacher(0.1)}


# %% [markdown]
# One training digit, and both teachers' softened distributions over the ten classes. At T = 1 the
# true class takes nearly everything. As T rises, the ranking of the wrong classes appears: the dark
# knowledge the student learns from. The smoothed teacher's wrong classes stay nearly uniform.

# %%
def draw_dark_knowledge(T=4.0, example=0):
    x = digits.x_train[example:example + 1]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [1, 3]})
    axes[0].imshow(x.reshape(8, 8), cmap="gray_r")
    axes[0].set_title(f"training digit {example} (a {int(digits.y_train[example].item())})")
    axes[0].axis("off")
    with ml.no_grad():
        for k, (name, teacher) in enumerate(teachers.items()):
            probs = F.softmax(teacher(x) / T, -1)[0].numpy()
            axes[1].bar(np.arange(10) + (k - 0.5) * 0.4, probs, 0.4, label=name)
    axes[1].set(yscale="log", ylim=(1e-4, 1.5), xticks=range(10), xlabel="class",
                title=f"softened outputs, T = {T:.2g}")
    axes[1].legend()
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_dark_knowledge, T=FloatLogSlider(value=4.0, base=10, min=0, max=1.3),
      example=Dropdown(options=list(range(8)), value=0))


# %% [markdown]
# ## Reproduce the claims
#
# The two teachers from the section above, one trained with label smoothing ε = 0.1. Students, MLPs
# with 32 hidden units, trained on a *transfer set* of only 50 or 100 digits, three ways: from the
# hard labels, from the teacher's outputs at T = 4, and from the label-smoothed teacher's outputs at
# T = 4. Two seeds each.

# %%
def accuracy(model):
    with ml.no_grad():
        return (model(digits.x_test).argmax(1) == digits.y_test).float().mean().item()


def train_student(x, y, seed, teacher=None, T=4.0, steps=300):
    model = mlp(32, seed)
    opt = ml.optim.Adam(model.parameters(), lr=3e-3)
    if teacher is not None:
        with ml.no_grad():
            teacher_logits = teacher(x)
    for _ in range(steps):
        logits = model(x)
        loss = F.cross_entropy(logits, y) if teacher is None else distillation_loss(logits, teacher_logits, T)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return accuracy(model)


students = {}
for n in progress((50, 100), desc="transfer set"):
    x, y = digits.x_train[:n], digits.y_train[:n]
    for seed in (0, 1):
        students[n, seed] = {"hard labels": train_student(x, y, seed),
                             **{f"from {name}": train_student(x, y, seed, t) for name, t in teachers.items()}}

# %% tags=["nbval-ignore-output"]
print({name: round(accuracy(t), 3) for name, t in teachers.items()})
for key, r in students.items():
    print(key, {k: round(v, 3) for k, v in r.items()})

# %%
better = [r["from teacher"] > r["hard labels"] + 0.02 for r in students.values()]
worse = [r["from smoothed teacher"] < r["from teacher"] for r in students.values()]
print("every distilled student beats the hard-label student by at least 2 points:", all(better))
print("every student of the smoothed teacher does worse than the plain teacher's:", all(worse))
assert all(better) and all(worse)


# %% [markdown]
# **Why the smoothed teacher teaches less.** We can measure the dark
# knowledge directly. On the transfer set, how far apart are the two teachers' non-target
# distributions p̂ for different examples of the same class? Label smoothing pushes every wrong
# class towards the same small probability, so p̂ looks alike for every example, and it says little
# about *which* wrong classes an example resembles.

# %%
def non_target_spread(teacher, T=4.0):
    """Mean over classes of the average L1 distance of each example's p̂ to its class's mean p̂."""
    with ml.no_grad():
        p = F.softmax(teacher(digits.x_train[:100]) / T, -1)
    y = digits.y_train[:100]
    target = F.one_hot(y, 10).bool()
    p_hat = p.masked_fill(target, 0) / (1 - p[target]).reshape(-1, 1)
    spread = [(p_hat[y == c] - p_hat[y == c].mean(0)).abs().sum(-1).mean().item() for c in range(10)]
    return float(np.mean(spread))


spread = {name: non_target_spread(t) for name, t in teachers.items()}
print("the smoothed teacher's non-target distributions vary less between examples:",
      spread["smoothed teacher"] < spread["teacher"])
assert spread["smoothed teacher"] < spread["teacher"]

# %% [markdown]
# ## The GPU version
#
# `distillation_loss` with `F=torch.nn.functional` must agree with PyTorch's built-in KL divergence,
# `T² · kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean")`. The two differ by the
# teacher's entropy, which is a constant, so we compare the gradients, and the values after adding
# the entropy back.

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


rows = gpu.compare_timings([64, 512, 4096], {
    "yours, minilib": (kd_runner(ml), "cpu"),
    "yours, torch cpu": (kd_runner(torch, "cpu"), "cpu"),
    f"yours, torch on {device.type}": (kd_runner(torch, device), device),
    f"torch kl_div on {device.type}": (kd_runner(torch, device, builtin=True), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "distillation loss, 1,000 classes, forward + backward")

# %% [markdown]
# ## Takeaways
#
# * A teacher's softened outputs carry more information per example than a hard label: which wrong
#   classes are plausible, and how plausible. With little data, that is worth several points of accuracy.
# * The KD loss splits into target and non-target parts, and the non-target (dark) knowledge is
#   weighted by 1 − p_y, so a confident teacher hides it.
# * Label smoothing makes the wrong classes look alike, and a smoothed teacher has less to teach.
#
# **Questions a teacher might ask**
# 1. Why multiply by T²? Differentiate the loss with respect to the student's logits for large T.
# 2. Implement Yang et al.'s normalised loss: drop the 1 − p_y factor and weight the non-target part
#    by a constant. Does it beat plain KD here?
# 3. Self-knowledge distillation: train a student, then train a fresh copy on its predictions
#    (softened). Does the second generation beat the first?
# 4. How does the best T change with the size of the transfer set?
