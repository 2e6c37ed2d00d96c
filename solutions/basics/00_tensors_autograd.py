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
# times f. The claim we reproduce: on random functions of n = 10 to 1000 inputs, the gradient from
# reverse mode costs a few evaluations of f at every n, while that of finite differences grows in
# proportion to n.
#
# **minilib** is the small tensor library this course is built on. It looks like PyTorch on
# purpose: the functions you write here run unchanged on torch tensors at the end.

# %%
import time

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
# Cost here is counted, not timed: every addition, multiplication, tanh, sin and cos done on a number is
# one operation (on an array of k numbers, k operations). The numbers of f are `Counted` numbers (from
# the course package), which count the arithmetic done on them, so the tables below come out the same on
# every machine; a timed version follows, for comparison. For each seed we draw a random f (the kind in
# the widget, with n inputs and `DEPTH` layers of n values: about 2·DEPTH·n + n operations) and a random
# input x, for each n in `SIZES`. Then we compute the whole gradient in three ways and count what each costs:
#
# * **reverse mode**: your `Value` and `backward`: one forward pass that records the graph, one backward
#   pass (every local derivative, and every `local · grad` the backward does, is counted);
# * **forward mode**: each number carries its derivatives with respect to all n inputs (a vector of n
#   *tangents*), pushed forward through every operation: the work of n forward passes, done side by side;
# * **finite differences**: your `numerical_grad`'s 2n evaluations of f, made side by side (each number an
#   array of 2n probe values), which costs the same number of operations as making them one after the other.
#
# The knobs sit in the next cell. From the course's root folder, `make claims basics/00` re-runs the
# lesson on other seeds, and under the control: `MODE = "forward"`, forward mode in the technique's
# place, one tangent per input. The claims must fail there.

# %% tags=["parameters"]
SEEDS = [0, 1, 2]  # each seed: its own random f and input x at every n
MODE = "reverse"  # the gradient the claims test: "reverse", "forward" (the control) or "finite differences"
SIZES = [10, 30, 100, 300, 1000]  # n, the number of inputs of f
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


def reverse_mode(program, x):
    """Your engine: f on Values (the graph is recorded), then backward. The gradient, as an array."""
    xs = [Value(Counted(v)) for v in x]
    backward(count_local_products(run(program, xs)))
    return np.array([float(v.grad) for v in xs])


def forward_mode(program, x):
    """Input i starts with tangent e_i; the output's tangents are the gradient."""
    xs = [Dual(Counted(v), Counted(np.eye(1, len(x), i)[0])) for i, v in enumerate(x)]
    return run(program, xs).tangent.number


def finite_differences(program, x, eps=1e-6):
    """Central differences: probe 2i is x + eps e_i, probe 2i + 1 is x - eps e_i, all evaluated at once."""
    n = len(x)
    probes = np.tile(x, (2 * n, 1))
    probes[2 * np.arange(n), np.arange(n)] += eps
    probes[2 * np.arange(n) + 1, np.arange(n)] -= eps
    out = run(program, [Counted(column) for column in probes.T]).number
    return (out[0::2] - out[1::2]) / (2 * eps)


METHODS = {"reverse": reverse_mode, "forward": forward_mode, "finite differences": finite_differences}

ratio, agree = {}, True  # ratio[seed, n][method]: operations for the gradient / operations for f
for seed in progress(SEEDS, desc="seeds: f, and three gradients, at each n"):
    for n in SIZES:
        program = random_program(n, DEPTH, seed)
        x = np.random.default_rng([seed, n]).standard_normal(n)
        _, f_ops = count_ops(run, program, [Counted(v) for v in x])
        grads, ratio[seed, n] = {}, {}
        for name, method in METHODS.items():
            grads[name], ops = count_ops(method, program, x)
            ratio[seed, n][name] = ops / f_ops
        agree &= np.allclose(grads["reverse"], grads["forward"], atol=1e-12, rtol=0)
        agree &= np.allclose(grads["reverse"], grads["finite differences"], atol=1e-6, rtol=0)

print("all three gradients agree (forward and reverse mode to 1e-12, finite differences to 1e-6):", agree)
print(f"cost of the gradient in evaluations of f (mean over {len(SEEDS)} seeds)")
print(f"{'n':>6}" + "".join(f"{name:>20}" for name in METHODS))
for n in SIZES:
    print(f"{n:>6}" + "".join(f"{np.mean([ratio[s, n][m] for s in SEEDS]):>20.2f}" for m in METHODS))

# %% [markdown]
# The claim, in two parts, each tested on `MODE`'s numbers.
#
# **The cost stays a few evaluations of f.** Every operation's backward adds at most four operations to
# its own one (tanh: 1 − t² is two, then one multiply and one add per parent; a sum or a product: one
# multiply and one add for each of two parents), so an engine that visits each Value once cannot pass 5
# evaluations of f, at any n; the survey's c < 6 is the same argument. The claim: at every n, the gradient
# costs at most 5 evaluations of f on every seed, and at most 4.5 on average. An engine that went back
# through the graph once per input would not stay under it, nor would forward mode. While this lesson
# was written, seeds 0-11 gave reverse mode a largest cost (over n) of 3.89 to 4.10 evaluations of f,
# standard deviation 0.07 across seeds (the seeds differ by the mix of operations in f; the count does
# not depend on x), so the bound on the mean sits seven standard deviations away. Forward mode's costs
# ran from 14 evaluations (n = 10) to 1,461 (n = 1000), finite differences' from 20 to 2,000.

# %%
NAMES = {"reverse": "reverse mode", "forward": "forward mode", "finite differences": "finite diff."}
_ = claim("at every n from 10 to 1000, the whole gradient costs at most 5 evaluations of f", SEEDS,
          technique=[max(ratio[s, n][MODE] for n in SIZES) for s in SEEDS], baseline=[5.0] * len(SEEDS),
          higher_is_better=False, each_above=0.0, mean_at_least=0.5, names=(NAMES[MODE], "bound"), digits=2)


# %% [markdown]
# **It does not grow with n; finite differences' cost does.** We fit a line to log(cost / cost of f)
# against log n, over the sizes above: a slope of 0 means a cost in proportion to f's, whatever n; a
# slope of 1 means n times f's. Finite differences make exactly 2n evaluations, so their slope is 1. The
# claim: the technique's slope is lower than that by at least 0.8 on average, and by more than 0.7 on
# every seed. On seeds 0-11 reverse mode's slopes lay between −0.013 and +0.016, forward mode's between
# 0.97 and 1.00: the bounds sit far from both.

# %%
def slope(seed, method):
    """How the cost, in evaluations of f, grows with n: the slope of log(cost / cost of f) against log n."""
    return np.polyfit(np.log(SIZES), np.log([ratio[seed, n][method] for n in SIZES]), 1)[0]


_ = claim("the gradient's cost, in evaluations of f, does not grow with n as finite differences' does", SEEDS,
          technique=[slope(s, MODE) for s in SEEDS], baseline=[slope(s, "finite differences") for s in SEEDS],
          higher_is_better=False, each_above=0.7, mean_at_least=0.8, names=(NAMES[MODE], "finite diff."))

# %%
fig, ax = plt.subplots(figsize=(6, 3.8))
for m in METHODS:
    ax.plot(SIZES, [np.mean([ratio[s, n][m] for s in SEEDS]) for n in SIZES], "o-", label=NAMES[m])
ax.axhline(5, color="black", ls="--", lw=0.8, label="5 evaluations of f")
ax.set(xscale="log", yscale="log", xlabel="n, inputs of f", ylabel="cost of the gradient / cost of f",
       title=f"operations counted, mean of {len(SEEDS)} seeds")
ax.legend()
fig.tight_layout()


# %% [markdown]
# **The same on a clock.** Counting leaves out what the engine does besides arithmetic (making Values,
# sorting the graph). Timed, on minilib tensors, with f written one layer at a time (`run_tensors`, the
# same function as `run`), finite differences with your `numerical_grad`. Your machine's numbers will
# differ; the shape should not. (Finite differences are timed in one long run, f by the median of a few
# short ones, so on a busy machine their ratio comes out above 2n.)

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


# %% tags=["nbval-ignore-output"]
def clock(n):
    """Milliseconds for f, for f and its gradient by minilib's reverse mode, and for finite differences."""
    program = program_tensors(random_program(n, DEPTH, 0), ml)
    x = np.random.default_rng(0).standard_normal(n)

    def f(v):
        with ml.no_grad():
            return run_tensors(program, ml.tensor(v), ml).item()

    def gradient():
        xt = ml.tensor(x, requires_grad=True)
        run_tensors(program, xt, ml).backward()

    start = time.perf_counter()
    numerical_grad(f, x)
    fd = time.perf_counter() - start
    return 1e3 * gpu.time_it(lambda: f(x)), 1e3 * gpu.time_it(gradient), 1e3 * fd


print(f"{'n':>6}{'f (ms)':>10}{'f + gradient':>14}{'ratio':>7}{'finite diff.':>14}{'ratio':>8}")
for n in (10, 100, 1000):
    t_f, t_rev, t_fd = clock(n)
    print(f"{n:>6}{t_f:>10.2f}{t_rev:>14.2f}{t_rev / t_f:>7.1f}{t_fd:>14.1f}{t_fd / t_f:>8.0f}")

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
# * Counted in operations, your engine computed the whole gradient of random functions for 3.88
#   evaluations of f on average at n = 10 and 3.86 at n = 1000, and never more than 4.07 at any n on the
#   three seeds: the slope of its cost against n was between −0.008 and +0.011. Finite differences cost
#   2n evaluations (20 at n = 10, 2,000 at n = 1000), forward mode, the control, 15.6 and 1,447: both grow
#   in proportion to n, and with forward mode in the technique's place both claims fail.
# * The three methods agree, forward and reverse mode to 1e-12, finite differences to 1e-6: finite
#   differences stay a slow but independent check of an engine, as long as they are central and each
#   entry is put back.
# * Counting leaves out the engine's bookkeeping; the timed table (its numbers depend on the machine)
#   showed minilib's f and gradient taking a few times f, and finite differences thousands of times f at
#   n = 1000.
#
# **Questions a teacher might ask**
# 1. Why does `Value.tanh` store 1 − t² from its output? What would `exp` store?
# 2. An engine could skip the topological order: each Value, as soon as it receives a contribution,
#    passes that contribution on to its parents at once. Its gradients are right: why? How many
#    multiply-adds does it do on 12 diamonds in a row, v ← tanh(v) + sin(v), against your engine?
# 3. Finite differences with ε = 1e-12 give worse answers than ε = 1e-6, and ε = 1e-2 too. Why both?
# 4. When is forward mode cheaper than reverse mode? Think of f with n inputs and m outputs.
# 5. Run `make claims basics/00`. Under the control (`MODE = "forward"`) both claims fail: what do their
#    tables show? Would they fail with `MODE = "finite differences"`, and why is a claim that passed
#    there worthless?
# 6. Reverse mode keeps every Value of the forward pass until the backward pass has used it. How much
#    memory does that take for f at n = 1000, and what does forward mode keep instead?
