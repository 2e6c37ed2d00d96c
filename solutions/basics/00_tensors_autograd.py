# %% [markdown]
# # 00 · Tensors and autograd
#
# **The idea.** Reverse-mode automatic differentiation records a computation as a graph while it runs,
# then walks that graph once backwards, from the output to the inputs, applying the chain rule at each
# node. One backward pass gives the derivative of a scalar with respect to *every* input, so the whole
# gradient costs a small constant multiple of one evaluation of the function, whatever the number of
# inputs n. Finite differences, and forward mode, need one pass per input: their cost grows with n.
#
# *Paper:* A. G. Baydin, B. A. Pearlmutter, A. A. Radul, J. M. Siskind,
# **"Automatic Differentiation in Machine Learning: a Survey"**, JMLR 2018 (arXiv:1502.05767).
# The survey puts the cost of reverse mode at c times the cost of f for a scalar f, with c < 6 and
# typically 2 to 3 (citing Griewank and Walther, 2008); forward mode and finite differences cost about n
# times f. That bound is about arithmetic, and it follows from how reverse mode is built: the lesson
# counts operations and checks it. The claim we reproduce is about time: on random functions of n = 10 to
# 300 inputs, the CPU time of the whole gradient from your reverse-mode engine, in evaluations of f, grows
# with n far more slowly than that of finite differences, which grows in proportion to n.
#
# **minilib** is the small tensor library this course is built on. It looks like PyTorch on
# purpose: the functions you write here run unchanged on torch tensors at the end.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import IntSlider

import minilib as ml
from course import claim, gpu, panel, progress
from course.basics import (
    Counted,
    check_backward,
    check_numerical_grad,
    check_tanh_function,
    check_value_ops,
    count_local_products,
    count_ops,
    cpu_seconds,
    replay_backward,
)

_ = ml.manual_seed(0)

# %% [markdown]
# ## Tensors: minilib and torch side by side
#
# A tensor is an n-dimensional array plus what autograd needs: `requires_grad`, `grad`, `grad_fn` (the
# node of the graph that made it) and `.backward()`. Both libraries spell these the same way.

# %%
for lib in (ml, torch):
    x = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    print(lib.__name__, tuple(x.shape), x.dtype, "| y =", y.item(), "| dy/dx =", x.grad.tolist(),
          "| y made by", type(y.grad_fn).__name__ if lib is torch else y.grad_fn)


# %% [markdown]
# What `.backward()` does with those nodes is the subject of this lesson, and you will write it. Each
# library keeps its graph in its own way (torch in C++, reached through `grad_fn.next_functions`;
# minilib in Python, in `minilib/autograd.py`), so we build the engine on a graph of our own, made of
# single numbers, where every step can be seen.
#
# ## From scratch 1: a number that remembers how it was made
#
# A `Value` holds a number, `data`, and the Values it was computed from, `parents`: one pair
# (parent, local derivative) per input of the operation that made it. For `c = a + b` the pairs are
# (a, 1) and (b, 1), since ∂c/∂a = ∂c/∂b = 1. `grad` will hold the derivative of the final output, the
# *root*, with respect to this Value; it starts at 0.
#
# **Exercise.** Write `__mul__` and `tanh`. The local derivatives of `a * b` are the other factor; that of
# `t = tanh(a)` is 1 − t², written with the output so no second tanh is needed. Use `np.tanh` (as `sin`
# does with `np.sin`): on a Python float it is `math.tanh`, and it also works on the counting numbers we
# use later to measure cost.

# %%
class Value:
    """A scalar that remembers how it was made: `parents` holds (parent Value, d self / d parent) pairs."""

    def __init__(self, data, parents=()):
        self.data = data
        self.grad = 0.0  # d root / d self, filled in by backward(root)
        self.parents = parents  # empty for an input

    def __add__(self, other):
        return Value(self.data + other.data, ((self, 1.0), (other, 1.0)))

    def __mul__(self, other):
        # BEGIN SOLUTION
        return Value(self.data * other.data, ((self, other.data), (other, self.data)))
        # END SOLUTION

    def tanh(self):
        # BEGIN SOLUTION
        t = np.tanh(self.data)
        return Value(t, ((self, 1 - t * t),))
        # END SOLUTION

    def sin(self):
        return Value(np.sin(self.data), ((self, np.cos(self.data)),))

    def __repr__(self):
        return f"Value(data={float(self.data):.4g}, grad={float(self.grad):.4g})"


# %%
check_value_ops(Value)


# %% [markdown]
# ## From scratch 2: the backward engine
#
# The chain rule, read backwards: the derivative of the root with respect to a Value p is the sum, over
# every Value v that uses p, of (∂root/∂v) · (∂v/∂p). The second factor is the local derivative stored
# in `v.parents`. So the engine sets `root.grad = 1` and lets every Value pass its gradient on to its
# parents, each parent receiving `local · v.grad`. Two things make it right:
#
# * **accumulation**: a Value used twice (by `x * x`, or by two later Values) receives one contribution
#   per use, and they add up;
# * **order**: a Value may pass its gradient on only once it has received every contribution, from
#   every Value that uses it. An order in which each Value comes after all the Values that use it is a
#   *topological order* of the graph. A search that starts at the root and handles each Value the first
#   time it meets it is not one: in a diamond (b used by tanh(b) and by the sum tanh(b) + b) it can reach b
#   by the short path before the long path has delivered its part.
#
# Every Value is visited once and every (parent, local derivative) pair is used once: this is why the
# whole gradient costs a small multiple of the forward pass. Graphs can be thousands of Values deep (a
# long sum, a recurrent network over many steps), deeper than Python lets functions call themselves, so
# walk the graph with a list as your own stack.
#
# **Exercise.** Write `backward(root)`.

# %%
def backward(root):
    """Set every Value's .grad to d root / d value, for all the Values root was computed from."""
    # BEGIN SOLUTION
    order, seen, stack = [], set(), [(root, False)]
    while stack:  # depth-first; a Value goes into `order` after all of its parents
        v, expanded = stack.pop()
        if expanded:
            order.append(v)
        elif id(v) not in seen:
            seen.add(id(v))
            stack.append((v, True))
            stack.extend((p, False) for p, _ in v.parents)
    root.grad = 1.0
    for v in reversed(order):  # each Value after every Value that uses it
        for parent, local in v.parents:
            parent.grad += local * v.grad
    # END SOLUTION


# %%
check_backward(backward)


# %% [markdown]
# minilib's own `.backward()` is this engine over tensors: `_topological_order` and `run_backward` in
# `minilib/autograd.py`. Each node there holds whole arrays, and its local backward is a function
# (a vector-Jacobian product) instead of a stored number, but the walk and the accumulation are yours.
#
# ## From scratch 3: finite differences
#
# The definition of a derivative gives a slow but independent check:
# `∂f/∂xᵢ ≈ (f(x + ε eᵢ) − f(x − ε eᵢ)) / 2ε`, with eᵢ the i-th unit vector. It needs two evaluations of
# f per input. The central form is exact up to about ε² (the one-sided `(f(x + ε eᵢ) − f(x)) / ε` only
# up to ε), and each entry must be put back before the next is probed, or every later probe is made at
# a shifted point.
#
# **Exercise.** Fill in `numerical_grad`. It probes `x`, a float64 copy of the caller's array, one entry
# at a time.

# %%
def numerical_grad(f, x, eps=1e-6):
    """Central differences of the scalar f at x (a 1-D array of n numbers): an array of n derivatives."""
    x = np.array(x, dtype=np.float64)  # a copy: the caller's array is never changed
    grad = np.zeros_like(x)
    for i in range(x.size):
        # BEGIN SOLUTION
        original = x[i]
        x[i] = original + eps
        up = f(x)
        x[i] = original - eps
        down = f(x)
        x[i] = original
        grad[i] = (up - down) / (2 * eps)
        # END SOLUTION
    return grad


# %%
check_numerical_grad(numerical_grad)


# %% [markdown]
# ## From scratch 4: a differentiable op for tensors
#
# minilib and torch let you add an op of your own with an `autograd.Function` (the same class exists in
# `torch.autograd`): `forward` computes the value and saves what the backward needs; `backward`
# receives dL/d(output) and returns dL/d(input), the upstream gradient times the local derivative, now
# for a whole array at once.
#
# **Exercise.** Write `Tanh`. Save the *output*, as in `Value.tanh`, so the backward needs no second `tanh`.

# %%
class Tanh(ml.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        # BEGIN SOLUTION
        y = x.tanh()
        ctx.save_for_backward(y)
        return y
        # END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        # BEGIN SOLUTION
        (y,) = ctx.saved_tensors
        return grad_output * (1 - y * y)
        # END SOLUTION


# %%
check_tanh_function(Tanh)


# %% [markdown]
# ## See it: step through your backward pass
#
# A small random function of three inputs (the kind measured below: two layers, each value a + or ×
# of two earlier values followed by tanh or sin, and the sum of the last layer). Move `step` to replay
# your `backward`, one accumulation at a time: the red arrow is the contribution just added. A Value
# turns green once its gradient is complete; orange means more contributions are still to come. Count
# the lines from a Value to the right: one per use, one contribution each. `seed` draws another function.

# %%
def random_program(n, depth, seed):
    """A random f of n inputs: `depth` layers of n values. Value j of layer k applies + or × (at random) to
    two values picked at random from the inputs and the layers before it, then tanh or sin. Per layer:
    (a, b, mul, sin), the indices of the two operands and the two choices, each an array of n."""
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, k * n, n), rng.integers(0, k * n, n), rng.random(n) < 0.5, rng.random(n) < 0.5)
            for k in range(1, depth + 1)]


def run(program, x):
    """f(x): the program on a list x of n numbers of any kind (floats, Values, ...); the sum of its last layer.
    np.tanh(v) calls v.tanh() when v is an object numpy does not know, such as a Value."""
    values = list(x)
    for a, b, mul, sin in program:
        layer = []
        for i, j, m, s in zip(a, b, mul, sin):
            z = values[i] * values[j] if m else values[i] + values[j]
            layer.append(np.sin(z) if s else np.tanh(z))
        values += layer
    total = layer[0]
    for v in layer[1:]:
        total = total + v
    return total


def op_name(v):
    """How a Value of `run` was made, read from its parents."""
    if not v.parents:
        return "x"
    if len(v.parents) == 2:
        return "+" if all(d == 1.0 for _, d in v.parents) else "×"
    return "tanh" if np.isclose(v.data, np.tanh(v.parents[0][0].data)) else "sin"


def layout(inputs, root):
    """(x, y) for every Value: x its depth (longest path from an input), y its place in that column."""
    depth, order = {id(v): 0 for v in inputs}, []
    stack, seen = [(root, False)], set()
    while stack:
        v, expanded = stack.pop()
        if expanded:
            order.append(v)
            depth[id(v)] = max([depth[id(p)] + 1 for p, _ in v.parents], default=depth.get(id(v), 0))
        elif id(v) not in seen:
            seen.add(id(v))
            stack += [(v, True)] + [(p, False) for p, _ in v.parents]
    columns = {}
    for v in inputs + [v for v in order if v.parents]:
        columns.setdefault(depth[id(v)], []).append(v)
    return {id(v): (d, i - (len(c) - 1) / 2) for d, c in columns.items() for i, v in enumerate(c)}, order


def draw_backward(step=8, seed=0):
    program = random_program(3, 2, seed)
    inputs = [Value(v) for v in np.random.default_rng(seed).standard_normal(3)]
    root = run(program, inputs)
    events = replay_backward(backward, root)
    step = min(step, len(events))
    where, order = layout(inputs, root)
    grads, pending = {}, {}
    for v, g, _ in events[:step]:
        grads[id(v)] = g
    for v, _, _ in events[step:]:
        pending[id(v)] = True
    fig, (ax, bars) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [3, 1]})
    for v in order:
        for p, _ in v.parents:
            (x0, y0), (x1, y1) = where[id(p)], where[id(v)]
            ax.plot([x0, x1], [y0, y1], color="0.8", zorder=1)
    if step:
        v, g, user = events[step - 1]
        if user is not None:  # the contribution just added flows back, from the user to its parent
            (x0, y0), (x1, y1) = where[id(v)], where[id(user)]
            ax.annotate("", (x0 + 0.12, y0), (x1 - 0.12, y1),
                        arrowprops={"arrowstyle": "->", "color": "red", "lw": 2.5})
    names = {id(v): f"x{i}" for i, v in enumerate(inputs)}
    for v in inputs + [v for v in order if v.parents]:
        x, y = where[id(v)]
        color = "white" if id(v) not in grads else ("orange" if pending.get(id(v)) else "mediumseagreen")
        ax.scatter([x], [y], s=650, color=color, edgecolor="black", zorder=3)
        ax.text(x, y, names.get(id(v), op_name(v)), ha="center", va="center", zorder=4, fontsize=9)
        if id(v) in grads:
            ax.text(x, y - 0.45, f"{grads[id(v)]:.3f}", ha="center", fontsize=8, color="darkred")
    ax.set(title=f"step {step} of {len(events)}: d f / d Value so far (below each Value)", xlabel="depth")
    ax.set_yticks([])
    ax.set(xlim=(-0.5, max(x for x, _ in where.values()) + 0.5), ylim=(-2.1, 1.7))
    final = [float(v.grad) for v in inputs]
    bars.bar(np.arange(3) - 0.2, [grads.get(id(v), 0.0) for v in inputs], 0.4, label="so far")
    bars.bar(np.arange(3) + 0.2, final, 0.4, label="at the end", color="0.7")
    bars.set(xticks=range(3), xticklabels=["x0", "x1", "x2"], title="d f / d input")
    bars.legend(fontsize=8)
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_backward, step=IntSlider(value=8, min=0, max=40), seed=IntSlider(value=0, min=0, max=9))

# %% [markdown]
# ## Reproduce the claim: the cost of a gradient as n grows
#
# For each seed we draw a random f (the kind in the widget, with n inputs and `DEPTH` layers of n values:
# about 2·DEPTH·n + n operations) and a random input x, for each n in `SIZES`. Then we compute the whole
# gradient in three ways:
#
# * **reverse mode**: your `Value` and `backward`: one forward pass that records the graph, one backward pass;
# * **forward mode**: each number carries its derivatives with respect to all n inputs (a numpy array of n
#   *tangents*), pushed forward through every operation: the arithmetic of n forward passes, done side by side;
# * **finite differences**: your `numerical_grad`: 2n evaluations of f.
#
# We measure what each costs, in evaluations of f, two ways. **Counted**: every addition, multiplication,
# tanh, sin and cos done on a number is one operation (on an array of k numbers, k operations); the numbers
# are `Counted` numbers (from the course package), which count the arithmetic done on them. That is the
# survey's own accounting, and it comes out the same on every machine. **Timed**: CPU seconds, which also pay
# for what the count leaves out: a Python object made for every Value, the walk through the graph, every
# lookup of a Value already seen.
#
# The knobs sit in the next cell. From the course's root folder, `make claims basics/00` re-runs the
# lesson on other seeds, and under the control: `MODE = "finite differences"`, the baseline timed a second
# time in the technique's place. The claim must fail there.

# %% tags=["parameters"]
SEEDS = [0, 1, 2]  # each seed: its own random f and input x at every n
MODE = "reverse"  # the gradient the claim times: "reverse", "forward", or "finite differences" (the control)
SIZES = [10, 30, 100, 300]  # n, the number of inputs of f
DEPTH = 4  # layers of n values in f


# %%
class Dual:
    """Forward mode: a number and its derivatives with respect to each of the n inputs (n tangents)."""

    def __init__(self, value, tangent):
        self.value, self.tangent = value, tangent

    def __add__(self, other):
        return Dual(self.value + other.value, self.tangent + other.tangent)

    def __mul__(self, other):
        return Dual(self.value * other.value, self.tangent * other.value + other.tangent * self.value)

    def tanh(self):
        t = np.tanh(self.value)
        return Dual(t, self.tangent * (1 - t * t))

    def sin(self):
        return Dual(np.sin(self.value), self.tangent * np.cos(self.value))


def reverse_mode(program, x, counted=False):
    """Your engine: f on Values (the graph is recorded), then backward. The gradient, an array of n.
    counted: on Counted numbers, with every local derivative Counted too, so each local · grad is counted."""
    xs = [Value(Counted(v) if counted else v) for v in x]
    root = run(program, xs)
    backward(count_local_products(root) if counted else root)
    return np.array([float(v.grad) for v in xs])


def forward_mode(program, x, counted=False):
    """Input i starts with tangent e_i; the output's n tangents are the gradient."""
    xs = [Dual(v, np.eye(1, len(x), i)[0]) for i, v in enumerate(x)]
    if counted:
        xs = [Dual(Counted(d.value), Counted(d.tangent)) for d in xs]
    tangent = run(program, xs).tangent
    return tangent.number if counted else tangent


def finite_differences(program, x, counted=False, eps=1e-6):
    """Your numerical_grad on f. Counted, its 2n probes are evaluated side by side (probe 2i is x + eps e_i,
    probe 2i + 1 is x - eps e_i, each number an array of 2n probe values): the same operations, counted faster."""
    if not counted:
        return numerical_grad(lambda v: run(program, v), x, eps)
    n = len(x)
    probes = np.tile(x, (2 * n, 1))
    probes[2 * np.arange(n), np.arange(n)] += eps
    probes[2 * np.arange(n) + 1, np.arange(n)] -= eps
    out = run(program, [Counted(column) for column in probes.T]).number
    return (out[0::2] - out[1::2]) / (2 * eps)


METHODS = {"reverse": reverse_mode, "forward": forward_mode, "finite differences": finite_differences}
NAMES = {"reverse": "reverse mode", "forward": "forward mode", "finite differences": "finite diff."}


def problem(seed, n):
    """One seed's random f (its program) and input x (an array of n) at n inputs."""
    return random_program(n, DEPTH, seed), np.random.default_rng([seed, n]).standard_normal(n)


counted, agree = {}, True  # counted[seed, n][method]: operations for the gradient / operations for f
for seed in progress(SEEDS, desc="seeds: f and three gradients, counted, at each n"):
    for n in SIZES:
        program, x = problem(seed, n)
        _, f_ops = count_ops(run, program, [Counted(v) for v in x])
        grads, counted[seed, n] = {}, {}
        for name, method in METHODS.items():
            grads[name], ops = count_ops(method, program, x, True)
            counted[seed, n][name] = ops / f_ops
        agree &= np.allclose(grads["reverse"], grads["forward"], atol=1e-12, rtol=0)
        agree &= np.allclose(grads["reverse"], grads["finite differences"], atol=1e-6, rtol=0)

print("all three gradients agree (forward and reverse mode to 1e-12, finite differences to 1e-6):", agree)
print(f"operations for the gradient, in evaluations of f (counted, mean over {len(SEEDS)} seeds)")
print(f"{'n':>6}" + "".join(f"{name:>20}" for name in METHODS))
for n in SIZES:
    print(f"{n:>6}" + "".join(f"{np.mean([counted[s, n][m] for s in SEEDS]):>20.2f}" for m in METHODS))


# %% [markdown]
# **What the count shows is fixed by the algorithms**, so it is checked here, not claimed. Every operation's
# backward adds at most four operations to its own one (tanh: 1 − t² is two, then one multiply and one add
# for its parent; a sum or a product: one multiply and one add for each of two parents), so an engine that
# uses each (parent, local derivative) pair once cannot pass 5 evaluations of f, at any n: the survey's
# c < 6 is this argument. Finite differences do exactly 2n evaluations, and forward mode's n tangents do
# about n times f's arithmetic. The seeds only change the mix of operations (the count does not depend on
# x), and your engine passed its check, which already counted one multiply and one add per pair. We fit a
# line to log(cost / cost of f) against log n: a slope of 0 means a cost in proportion to f's, whatever n;
# a slope of 1 means n times f's.

# %%
def slope(ratios, seed, method):
    """How a cost, in evaluations of f, grows with n: the slope of log(ratios[seed, n][method]) against log n."""
    return np.polyfit(np.log(SIZES), np.log([ratios[seed, n][method] for n in SIZES]), 1)[0]


most = max(counted[s, n]["reverse"] for s in SEEDS for n in SIZES)
slopes = {m: [slope(counted, s, m) for s in SEEDS] for m in METHODS}
two_n = all(np.isclose(counted[s, n]["finite differences"], 2 * n) for s in SEEDS for n in SIZES)
print(f"reverse mode, counted: at most {most:.2f} evaluations of f at any n (at most 5 by design); slopes "
      f"{min(slopes['reverse']):+.3f} to {max(slopes['reverse']):+.3f}")
print(f"forward mode, counted: slopes {min(slopes['forward']):.3f} to {max(slopes['forward']):.3f}; "
      f"finite differences: exactly 2n evaluations at every n: {two_n}")
assert most <= 5 and max(np.abs(slopes["reverse"])) < 0.05 and two_n

# %% [markdown]
# **The claim, on the clock.** Time is where the count can be wrong: an engine makes a Python object for every
# Value, walks the graph and looks Values up, and one that looked each Value up in a list of those seen would
# do the same arithmetic for a walk that costs the square of the graph's size. We time f on plain numbers and
# each gradient in CPU seconds (`cpu_seconds`, from the course package: the least of three runs, each long
# enough to measure) and fit the same line to log(time of the gradient / time of f) against log n. The claim:
# the technique's slope lies at least 0.6 below that of finite differences on average, and at least 0.4
# below on every seed. Under the control, `MODE = "finite differences"`, finite differences are timed a
# second time as the technique: two timings of the same thing, so the claim fails by noise there.
#
# While this lesson was written, on a busy 2-core machine (one thread, three seeds at a time), seeds 0-11
# gave reverse mode slopes of 0.09 to 0.32 and finite differences 0.85 to 1.11: effects of 0.67 to 0.95
# (mean 0.79, standard deviation 0.07 across seeds), while finite differences against themselves (the
# control) gave −0.07 to +0.09 (mean −0.01). An engine that looked Values up in a list of those seen
# (right gradients, the same count, a walk that grows as the square of the graph) gave slopes of 0.48 to
# 0.65 and effects of 0.37 to 0.57 (mean 0.43); one that kept their ids in a list, faster to search, fell
# just short (mean 0.53 on seeds 0-2). The bound on the mean sits four standard deviations of a three-seed
# mean below your engine's and above the list lookup's; the control falls far short of it.

# %% tags=["nbval-ignore-output"]
timed = {}  # timed[seed, n][method]: CPU time of the gradient / CPU time of f
for seed in progress(SEEDS, desc="seeds: f and three gradients, timed, at each n"):
    for n in SIZES:
        program, x = problem(seed, n)
        f_seconds = cpu_seconds(run, program, x)
        timed[seed, n] = {m: cpu_seconds(method, program, x) / f_seconds for m, method in METHODS.items()}
        if MODE == "finite differences":  # the control: the baseline timed a second time, on its own
            timed[seed, n]["baseline"] = cpu_seconds(finite_differences, program, x) / f_seconds
        else:
            timed[seed, n]["baseline"] = timed[seed, n]["finite differences"]

print(f"CPU time of the gradient, in evaluations of f (mean over {len(SEEDS)} seeds; your machine's will differ)")
print(f"{'n':>6}" + "".join(f"{name:>20}" for name in METHODS))
for n in SIZES:
    print(f"{n:>6}" + "".join(f"{np.mean([timed[s, n][m] for s in SEEDS]):>20.1f}" for m in METHODS))
_ = claim("on the clock, the gradient's cost in evaluations of f grows with n far more slowly than finite "
          "differences'", SEEDS, technique=[slope(timed, s, MODE) for s in SEEDS],
          baseline=[slope(timed, s, "baseline") for s in SEEDS], higher_is_better=False, each_above=0.4,
          mean_at_least=0.6, names=(NAMES[MODE], "finite diff."))

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
for ax, ratios, title in zip(axes, (counted, timed), ("operations counted", "CPU time")):
    for m in METHODS:
        ax.plot(SIZES, [np.mean([ratios[s, n][m] for s in SEEDS]) for n in SIZES], "o-", label=NAMES[m])
    ax.axhline(5, color="black", ls="--", lw=0.8, label="5 evaluations of f")
    ax.set(xscale="log", yscale="log", xlabel="n, inputs of f", title=f"{title}, mean of {len(SEEDS)} seeds")
axes[0].set_ylabel("cost of the gradient / cost of f")
axes[0].legend()
fig.tight_layout()

# %% [markdown]
# **What the clock shows that the count does not.** On the clock your engine's gradient costs several times
# more evaluations of f than the count's 4 (6 to 26 on seeds 0-11 while this was written): every operation
# on Values makes a Python object, and the walk and its lookups take time the count leaves out. The
# survey's c < 6 counts arithmetic, and only in compiled code is arithmetic most of the time. The ratio
# also creeps up with n (most likely as a larger graph fits the processor's caches less well), but nothing
# like finite differences' n.
#
# Forward mode is the surprise. Counted, it does about n times f's arithmetic; timed, it costs about what
# reverse mode costs, and in reverse mode's place (`MODE = "forward"`) it passes the claim at these sizes
# (effects of 0.70 to 0.98 on seeds 0-11). Its n tangents of one operation are one numpy call, whose fixed
# cost, about a microsecond, dwarfs n multiplications until n reaches the thousands. So the clock at this
# scale does not separate reverse from forward mode, and the claim is made against finite differences,
# which run the whole of f, in Python, 2n times. Forward mode's n-fold arithmetic would show on a clock where
# arithmetic is what takes the time: large n, or compiled code.

# %% [markdown]
# ## The GPU version
#
# `Tanh`'s two methods only use tensor methods, so they run unchanged under torch's own
# `torch.autograd.Function`, on any device; they must agree with `torch.tanh`. The random f, written a
# layer at a time with tensor methods, runs on torch too: torch's gradient on the device, minilib's, and
# your engine's on Values must agree. Then we time f alone and f with its gradient, in minilib, in torch
# on the CPU and on the best device present. Here the gradient costs more times f than in the count: the
# backward's scatter-adds, which sum the gradients of values used several times, are slower per number
# than the forward's gathers.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()


# %%
def program_tensors(program, lib, device=None):
    """The program's operand indices and choices as tensors of `lib` (minilib or torch), for run_tensors."""
    def make(a):
        return torch.tensor(a, device=device) if lib is torch else ml.tensor(a)

    return [tuple(make(part) for part in layer) for layer in program]


def run_tensors(program, x, lib):
    """f on a 1-D tensor of n inputs, a whole layer per step: the same f as run(program, list(x))."""
    values = x
    for a, b, mul, sin in program:
        u, v = values[a], values[b]
        z = lib.where(mul, u * v, u + v)
        layer = lib.where(sin, z.sin(), z.tanh())
        values = lib.cat([values, layer])
    return layer.sum()


# %%
TorchTanh = type("TorchTanh", (torch.autograd.Function,),
                 {"forward": staticmethod(Tanh.forward), "backward": staticmethod(Tanh.backward)})
x_np = np.random.default_rng(1).standard_normal((256, 256)).astype(np.float32)
xt, xr, xm = gpu.to_torch(x_np, device, requires_grad=True), gpu.to_torch(x_np, device, requires_grad=True), \
    ml.tensor(x_np, requires_grad=True)
yt, yr, ym = TorchTanh.apply(xt), torch.tanh(xr), Tanh.apply(xm)
for y in (yt, yr, ym):
    (y * y).sum().backward()
print("your Tanh under torch.autograd.Function agrees with torch.tanh:",
      gpu.agree(yt, yr) and gpu.agree(xt.grad, xr.grad))
print("...and with your Tanh on minilib:", gpu.agree(yt, ym) and gpu.agree(xt.grad, xm.grad))

program = random_program(100, DEPTH, seed=0)
x = np.random.default_rng(0).standard_normal(100)
xs = [Value(v) for v in x]
backward(run(program, xs))
yours = np.array([v.grad for v in xs])
xt = gpu.to_torch(x.astype(np.float32), device, requires_grad=True)
run_tensors(program_tensors(program, torch, device), xt, torch).backward()
xm = ml.tensor(x, requires_grad=True)
run_tensors(program_tensors(program, ml), xm, ml).backward()
print("the gradient of f (n = 100): torch on the device agrees with your engine:", gpu.agree(xt.grad, yours, atol=1e-4))
print("...and minilib's with your engine:", gpu.agree(xm.grad, yours, atol=1e-10, rtol=1e-10))


# %% tags=["nbval-ignore-output"]
def f_runner(lib, device=None, gradient=False):
    """Times f (or f and its gradient) on n float32 inputs, with `lib` (minilib or torch) on `device`."""
    def make(n):
        program = program_tensors(random_program(n, DEPTH, 0), lib, device)
        x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
        xt = gpu.to_torch(x, device, requires_grad=gradient) if lib is torch else ml.tensor(x, requires_grad=gradient)
        if gradient:
            return lambda: run_tensors(program, xt, lib).backward()
        return lambda: run_tensors(program, xt, lib)

    return make


runners = {"minilib f": (f_runner(ml), "cpu"), "minilib f+grad": (f_runner(ml, gradient=True), "cpu"),
           "torch cpu f": (f_runner(torch, "cpu"), "cpu"),
           "torch cpu f+grad": (f_runner(torch, "cpu", gradient=True), "cpu")}
if device.type != "cpu":
    runners[f"{device.type} f"] = (f_runner(torch, device), device)
    runners[f"{device.type} f+grad"] = (f_runner(torch, device, gradient=True), device)
rows = gpu.compare_timings([1000, 10_000, 100_000], runners)
print(gpu.format_timings(rows, size="inputs n"))
_ = gpu.plot_timings(rows, f"the random f ({DEPTH} layers of n), alone and with its gradient")

# %% [markdown]
# ## Takeaways
#
# * A Value (or a tensor) that remembers its parents and its local derivatives is all the chain rule
#   needs. The backward engine is a walk in topological order that adds each Value's contributions
#   into its parents: a Value used twice receives two, and no Value passes its gradient on before all of
#   them have arrived.
# * Counted in operations, your engine computed the whole gradient of random functions for 3.81 to 3.89
#   evaluations of f on average at each n from 10 to 300, never more than 4.07 on the three seeds: the
#   survey's c < 6, which follows from using each (parent, local derivative) pair once, so the lesson
#   checks it. Counted, finite differences cost 2n evaluations (20 to 600) and forward mode 15.6 to 436.
# * Timed, on the machine this lesson was executed on, your engine's gradient took 9.8 evaluations of f at
#   n = 10 and 13.5 at n = 300, finite differences 20 and 633: slopes against log n of 0.03 to 0.18 for
#   your engine and 1.01 for finite differences, so the claim held on every seed (mean effect 0.92, bound
#   0.6). The clock charges what the count leaves out (a Python object per Value, the walk, the lookups),
#   which is why your engine costs more evaluations of f on the clock than in the count.
# * Forward mode, timed, took 10.7 to 15.3 evaluations of f, about what reverse mode took, although it
#   counted 436 at n = 300: numpy does an operation's n tangents in one call, whose fixed cost hides the
#   arithmetic at these sizes. The count shows the arithmetic; the clock shows where the time goes.
# * The three methods agree, forward and reverse mode to 1e-12, finite differences to 1e-6: finite
#   differences stay a slow but independent check of an engine, as long as they are central and each
#   entry is put back.
#
# **Questions a teacher might ask**
# 1. Why does `Value.tanh` store 1 − t² from its output? What would `exp` store?
# 2. An engine could skip the topological order: each Value, as soon as it receives a contribution,
#    passes that contribution on to its parents at once. Its gradients are right: why? How many
#    multiply-adds does it do on 12 diamonds in a row, v ← tanh(v) + sin(v), against your engine?
# 3. Finite differences with ε = 1e-12 give worse answers than ε = 1e-6, and ε = 1e-2 too. Why both?
# 4. When is forward mode cheaper than reverse mode? Think of f with n inputs and m outputs.
# 5. Run `make claims basics/00`. Under the control (`MODE = "finite differences"`) the claim fails: what
#    does its table show, and why is a second timing of the baseline the right control for a claim about
#    time? With `MODE = "forward"` the claim passes: what would you change (n, the language, the device)
#    for it to fail, and what does that say about when reverse mode's advantage shows?
# 6. Reverse mode keeps every Value of the forward pass until the backward pass has used it. How much
#    memory does that take for f at n = 1000, and what does forward mode keep instead?
# 7. An engine that keeps the Values it has seen in a list gets every gradient right and does exactly the
#    operations yours does. What does it do to the clock, and which parts of this lesson catch it?
