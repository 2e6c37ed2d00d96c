# %% [markdown]
# # 00 · Tensors and autograd
#
# **The idea.** Reverse-mode automatic differentiation computes the gradient of a scalar
# with respect to *every* input for a small constant multiple of the cost of evaluating the
# function once. It records the computation as a graph, then walks it backwards applying the
# chain rule, one local derivative per node.
#
# *Paper:* A. G. Baydin, B. A. Pearlmutter, A. A. Radul, J. M. Siskind,
# **"Automatic Differentiation in Machine Learning: a Survey"**, JMLR 2018 (arXiv:1502.05767).
# The claim we reproduce: one backward pass gives all n partial derivatives, while finite
# differences need 2n evaluations of the function, and the two agree.
#
# **minilib** is the small tensor library this course is built on. It looks like PyTorch on
# purpose: the functions you write here run unchanged on torch tensors at the end.

# %%

import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import Dropdown, FloatSlider

import minilib as ml
from course import check, gpu, panel

ml.manual_seed(0)
_ = torch.manual_seed(0)

# %% [markdown]
# ## Tensors: minilib and torch side by side
#
# A tensor is an n-dimensional array plus what autograd needs: `requires_grad`, `grad` and
# `grad_fn` (the node that made it). Both libraries spell these the same way.

# %%
for lib in (ml, torch):
    x = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    print(lib.__name__, tuple(x.shape), x.dtype, "| y =", y.item(), "| dy/dx =", x.grad.tolist())

# %% [markdown]
# Every op records a node. Following `grad_fn` backwards from the output lists the graph:

# %%
x = ml.tensor([0.5, -1.0], requires_grad=True)
loss = (x.tanh() * 3).sum()
node, path = loss.grad_fn, []
while node is not None:
    path.append(node.name_())
    parents = [p for p in node.inputs if p is not None and p.grad_fn is not None]
    node = parents[0].grad_fn if parents else None
print(" <- ".join(path))


# %% [markdown]
# ## From scratch 1: a differentiable op with its own backward
#
# A custom op subclasses `autograd.Function` (the same class exists in `torch.autograd`):
# `forward` computes the value and saves what the backward needs; `backward` receives
# dL/d(output) and returns dL/d(input).
#
# **Exercise.** Write `Tanh`. Use `tanh'(x) = 1 - tanh(x)²`, and save the *output*, not the input,
# so the backward needs no second `tanh`.

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
check("Tanh", Tanh.apply, ml.tanh, (4, 5), hint="backward returns grad_output times the local derivative")


# %% [markdown]
# ## From scratch 2: the chain rule by hand
#
# For a one-layer network `h = tanh(x W + b)` and loss `L = mean(h²)`, write the gradients
# yourself, going backwards one step at a time:
#
# * `dL/dh = 2h / n` where n is the number of entries of h,
# * `dL/dz = dL/dh · (1 - h²)` for the pre-activation `z = xW + b`,
# * `dL/dW = xᵀ · dL/dz` and `dL/db = Σ_rows dL/dz`.
#
# **Exercise.** Return `(dW, db)` computed this way, with tensor ops only (no `.backward()`).

# %%
def manual_grads(x, W, b):
    """Gradients of mean(tanh(x @ W + b) ** 2) w.r.t. W (in, out) and b (out,), by the chain rule."""
    # BEGIN SOLUTION
    h = (x @ W + b).tanh()
    dh = 2 * h / h.numel()
    dz = dh * (1 - h * h)
    return x.T @ dz, dz.sum(0)
    # END SOLUTION


def autograd_grads(x, W, b):
    """The same gradients from minilib's autograd: the reference."""
    W, b = W.detach().requires_grad_(), b.detach().requires_grad_()
    ((x @ W + b).tanh() ** 2).mean().backward()
    return W.grad, b.grad


# %%
check("manual_grads", manual_grads, autograd_grads, (8, 3), (3, 4), (4,), grad=False,
      hint="dL/dz multiplies dL/dh by tanh's derivative 1 - h**2")


# %% [markdown]
# ## From scratch 3: finite differences
#
# The definition of a derivative gives a slow but independent check:
# `∂f/∂xᵢ ≈ (f(x + ε eᵢ) − f(x − ε eᵢ)) / 2ε`. It needs two evaluations of `f` per input.
#
# **Exercise.** Fill in `numerical_grad`. Work on float64 copies and restore each entry.

# %%
def numerical_grad(f, x, eps=1e-6):
    """Central differences of the scalar f at x (a float64 tensor): a tensor shaped like x."""
    grad = ml.zeros_like(x)
    flat, gflat = x.data.reshape(-1), grad.data.reshape(-1)
    for i in range(flat.size):
        # BEGIN SOLUTION
        original = flat[i]
        flat[i] = original + eps
        up = f(x).item()
        flat[i] = original - eps
        down = f(x).item()
        flat[i] = original
        gflat[i] = (up - down) / (2 * eps)
        # END SOLUTION
    return grad


def autograd_grad(f, x, eps=None):
    x = x.detach().requires_grad_()
    f(x).backward()
    return x.grad


# %%
def wiggly(x):
    return (x.sin() * x.exp() + x ** 3).sum()


x64 = ml.randn(6, dtype=ml.float64)
check("numerical_grad", numerical_grad, autograd_grad, wiggly, x64, grad=False, atol=1e-6,
      hint="evaluate f at x + eps and x - eps for one entry at a time")

# %% [markdown]
# ## See it: a function, its tangent and its gradient
#
# Pick a function and a point. The slope of the tangent is the gradient autograd returns.

# %%
FUNCTIONS = {"sin(2x)": lambda x: (2 * x).sin(), "x³ − x": lambda x: x ** 3 - x,
             "tanh(3x)": lambda x: (3 * x).tanh(), "softplus(x)": lambda x: ml.nn.functional.softplus(x)}


def value_and_grad(f, x):
    """f(x) and df/dx at every point of a 1-D tensor, with one backward pass."""
    x = x.detach().requires_grad_()
    y = f(x)
    y.sum().backward()  # the points are independent, so the sum's gradient is each derivative
    return y.detach(), x.grad


def draw_tangent(function="sin(2x)", x0=0.5):
    f = FUNCTIONS[function]
    xs = ml.linspace(-2, 2, 200)
    ys, dys = value_and_grad(f, xs)
    y0, slope = value_and_grad(f, ml.tensor([x0]))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax1.plot(xs, ys, label=function)
    ax1.plot(xs, y0.item() + slope.item() * (xs - x0), "--", label=f"tangent, slope {slope.item():.2f}")
    ax1.plot([x0], [y0.item()], "o", color="black")
    ax1.set(ylim=(ys.min().item() - 1, ys.max().item() + 1), title="f and its tangent")
    ax1.legend(loc="upper left")
    ax2.plot(xs, dys, color="tab:orange")
    ax2.axvline(x0, color="black", lw=0.8)
    ax2.set(title="df/dx from one backward pass")
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_tangent, function=Dropdown(options=list(FUNCTIONS), value="sin(2x)"),
      x0=FloatSlider(value=0.5, min=-2, max=2, step=0.05))


# %% [markdown]
# ## Reproduce the claim: one backward pass versus 2n evaluations
#
# We count how often each method evaluates `f = sum(tanh(W x))` for inputs of growing size n,
# and check that they agree. Reverse mode runs the forward once and visits each recorded node
# once on the way back, whatever n is; finite differences evaluate f twice per input.

# %%
class Counted:
    """Wrap f and count how many times it is evaluated."""

    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, x):
        self.calls += 1
        return self.f(x)


rows = []
for n in (4, 16, 64):
    W = ml.randn(n, n, dtype=ml.float64) / n ** 0.5
    f = Counted(lambda x, W=W: (W @ x).tanh().sum())
    x = ml.randn(n, dtype=ml.float64)
    g_auto = autograd_grad(f, x)
    auto_calls, f.calls = f.calls, 0
    g_num = numerical_grad(f, x)
    rows.append((n, auto_calls, f.calls, ml.allclose(g_auto, g_num, atol=1e-6)))
    print(f"n = {n:3d}: autograd evaluated f {auto_calls}x, finite differences {f.calls}x, "
          f"gradients agree: {rows[-1][3]}")

assert all(auto == 1 and num == 2 * n and same for n, auto, num, same in rows)

# %% [markdown]
# ## The GPU version
#
# `manual_grads` uses only tensor methods, so it runs unchanged on torch tensors, on any
# device. We compare it with torch's autograd there, then time a forward+backward pass of
# the same layer in minilib, in torch on the CPU and in torch on the best device present.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
rng = np.random.default_rng(1)
x_np, W_np, b_np = (rng.standard_normal(s).astype(np.float32) for s in ((64, 32), (32, 16), (16,)))
xt, Wt, bt = (gpu.to_torch(a, device) for a in (x_np, W_np, b_np))
mine = manual_grads(xt, Wt, bt)
Wr, br = Wt.clone().requires_grad_(), bt.clone().requires_grad_()
((xt @ Wr + br).tanh() ** 2).mean().backward()
print("manual_grads on torch tensors agrees with torch autograd:",
      gpu.agree(mine[0], Wr.grad) and gpu.agree(mine[1], br.grad))
print("...and with minilib:", gpu.agree(mine[0], manual_grads(ml.tensor(x_np), ml.tensor(W_np), ml.tensor(b_np))[0]))


# %% tags=["nbval-ignore-output"]
def layer_step(lib, device=None):
    def make(n):
        x = gpu.to_torch(np.ones((n, n), np.float32), device) if lib is torch else ml.ones(n, n)
        W = gpu.to_torch(np.ones((n, n), np.float32) / n, device) if lib is torch else ml.ones(n, n) / n
        W.requires_grad_()

        def run():
            W.grad = None
            ((x @ W).tanh() ** 2).mean().backward()

        return run

    return make


rows = gpu.compare_timings([64, 256, 1024], {"minilib": (layer_step(ml), "cpu"),
                                             "torch-cpu": (layer_step(torch, "cpu"), "cpu"),
                                             f"torch on {device.type}": (layer_step(torch, device), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "forward + backward of tanh(x W)")

# %% [markdown]
# ## Takeaways
#
# * A tensor library with autograd records a graph on the way forward and applies one local
#   derivative per node on the way back.
# * Reverse mode gives the whole gradient for about the cost of one extra pass; finite
#   differences need two evaluations per input but make an independent check.
# * Writing code against tensor methods makes it library-agnostic: the same function ran on
#   minilib and on torch, on the CPU and on an accelerator.
#
# **Questions a teacher might ask**
# 1. Why does `Tanh.backward` save the output rather than the input? What would `Exp` save?
# 2. A node is used twice (`y = x * x`). Where in the backward pass do its two gradient
#    contributions meet?
# 3. Finite differences with ε = 1e-12 give worse answers than ε = 1e-6. Why?
# 4. When is *forward*-mode differentiation cheaper than reverse mode?
