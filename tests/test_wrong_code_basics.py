"""The basics track's checks against plausible wrong code: each must raise CheckFailed, the right code must pass.

One entry per mistake a learner makes; a check that lets one through is a check that teaches nothing. Right
answers written another way (a loop over kernel offsets, width unfolded first, a crop and a reshape) must pass.
"""
import math

import numpy as np
import pytest

import minilib as ml
import minilib.nn.functional as F
import minilib.nn.functional as _minilib_F
from course import CheckFailed
from course.basics import (
    _Value,
    check_adamw_step,
    check_attention,
    check_avg_pool2d_windows,
    check_backward,
    check_conv2d_windows,
    check_max_pool2d_windows,
    check_multi_head,
    check_numerical_grad,
    check_sgd_momentum_step,
    check_tanh_function,
    check_value_ops,
    reference_backward,
    reference_multi_head,
)

# lesson 02: conv2d_windows(x, weight, bias=None, stride=1, padding=0, F=F)


def conv2d_windows(x, weight, bias=None, stride=1, padding=0, F=F, window_order=(0, 2, 3, 1, 4, 5),
                   pad=True, use_stride=True, flip=False, kernel_order=None):
    """The lesson's solution, with switches that each turn one of its steps wrong."""
    n, c = x.shape[:2]
    o, _, kh, kw = weight.shape
    if flip:
        weight = weight.flip(2, 3)
    if kernel_order is not None:
        weight = weight.permute(*kernel_order)
    if padding and pad:
        x = F.pad(x, (padding, padding, padding, padding))
    step = stride if use_stride else 1
    windows = x.unfold(2, kh, step).unfold(3, kw, step)
    ho, wo = windows.shape[2], windows.shape[3]
    rows = windows.permute(*window_order).reshape(n * ho * wo, c * kh * kw)
    out = (rows @ weight.reshape(o, c * kh * kw).T).reshape(n, ho, wo, o).permute(0, 3, 1, 2)
    return out if bias is None else out + bias.reshape(1, o, 1, 1)


def conv_wrong(**switches):
    return lambda x, weight, bias=None, stride=1, padding=0, F=F: conv2d_windows(
        x, weight, bias, stride, padding, F, **switches)


def conv_no_output_permute(x, weight, bias=None, stride=1, padding=0, F=F):
    """Reshapes the (N·Ho·Wo, O) product straight to (N, O, Ho, Wo): right shape, scrambled values."""
    n, c = x.shape[:2]
    o, _, kh, kw = weight.shape
    x = F.pad(x, (padding,) * 4) if padding else x
    windows = x.unfold(2, kh, stride).unfold(3, kw, stride)
    ho, wo = windows.shape[2], windows.shape[3]
    rows = windows.permute(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)
    out = (rows @ weight.reshape(o, c * kh * kw).T).reshape(n, o, ho, wo)
    return out if bias is None else out + bias.reshape(1, o, 1, 1)


def conv_bias_not_reshaped(x, weight, bias=None, stride=1, padding=0, F=F):
    """Adds the (O,) bias as it is: it broadcasts along the last axis, the width, not the channels."""
    out = conv2d_windows(x, weight, None, stride, padding, F)
    return out if bias is None else out + bias


WRONG_CONVS = {
    "windows not permuted (channels mixed with positions)": conv_wrong(window_order=(0, 1, 2, 3, 4, 5)),
    "window numbers ordered (kh, kw, C), kernel (C, kh, kw)": conv_wrong(window_order=(0, 2, 3, 4, 5, 1)),
    "kernel rows and columns swapped": conv_wrong(window_order=(0, 2, 3, 1, 5, 4)),
    "no padding": conv_wrong(pad=False),
    "stride ignored": conv_wrong(use_stride=False),
    "a true convolution (kernel flipped)": conv_wrong(flip=True),
    "no output permute": conv_no_output_permute,
    "bias ignored": lambda x, weight, bias=None, stride=1, padding=0, F=F: conv2d_windows(
        x, weight, None, stride, padding, F),
    "bias along the width, not the channels": conv_bias_not_reshaped,
    "padding hard-coded to 1": lambda x, weight, bias=None, stride=1, padding=0, F=F: conv2d_windows(
        x, weight, bias, stride, min(padding, 1), F),
    "pads with minilib whatever F it is given": lambda x, weight, bias=None, stride=1, padding=0, F=F:
        conv2d_windows(x, weight, bias, stride, padding, _minilib_F),
    "cuts the gradient": lambda x, weight, bias=None, stride=1, padding=0, F=F: conv2d_windows(
        x.detach(), weight, bias, stride, padding, F),
}


def conv_by_offsets(x, weight, bias=None, stride=1, padding=0, F=F):
    """A right answer without unfold: one strided slice of the input per kernel offset, summed."""
    o, c, kh, kw = weight.shape
    x = F.pad(x, (padding,) * 4) if padding else x
    ho, wo = (x.shape[2] - kh) // stride + 1, (x.shape[3] - kw) // stride + 1
    out = 0
    for i in range(kh):
        for j in range(kw):
            patch = x[:, :, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]  # (N, C, Ho, Wo)
            out = out + (patch.permute(0, 2, 3, 1) @ weight[:, :, i, j].T).permute(0, 3, 1, 2)
    return out if bias is None else out + bias.reshape(1, o, 1, 1)


def conv_width_first(x, weight, bias=None, stride=1, padding=0, F=F):
    """A right answer that unfolds the width first and orders the kernel to match the windows."""
    n, c = x.shape[:2]
    o, _, kh, kw = weight.shape
    x = F.pad(x, (padding, padding, padding, padding)) if padding else x
    windows = x.unfold(3, kw, stride).unfold(2, kh, stride)  # (N, C, Ho, Wo, kw, kh)
    ho, wo = windows.shape[2], windows.shape[3]
    rows = windows.permute(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kw * kh)
    kernel = weight.permute(0, 1, 3, 2).reshape(o, c * kw * kh)
    out = (kernel @ rows.T).reshape(o, n, ho, wo).permute(1, 0, 2, 3)
    return out if bias is None else out + bias.reshape(1, o, 1, 1)


OTHER_RIGHT_CONVS = {"one slice per kernel offset": conv_by_offsets, "width unfolded first": conv_width_first}

# lesson 02: max_pool2d_windows(x, k), avg_pool2d_windows(x, k)


def max_pool2d_windows(x, k):
    return x.unfold(2, k, k).unfold(3, k, k).amax(dim=(-2, -1))


def avg_pool2d_windows(x, k):
    return x.unfold(2, k, k).unfold(3, k, k).mean(dim=(-2, -1))


def pool_by_reshape(reduce):
    """A right answer without unfold: crop to a multiple of k, split each axis in two, reduce."""
    def pool(x, k):
        n, c, h, w = x.shape
        ho, wo = h // k, w // k
        blocks = x[:, :, :ho * k, :wo * k].reshape(n, c, ho, k, wo, k)
        return getattr(blocks, reduce)(dim=(3, 5))
    return pool


WRONG_MAX_POOLS = {
    "mean instead of max": avg_pool2d_windows,
    "overlapping windows (step 1)": lambda x, k: x.unfold(2, k, 1).unfold(3, k, 1).amax(dim=(-2, -1)),
    "max over one window axis only": lambda x, k: x.unfold(2, k, k).unfold(3, k, k).amax(dim=-1)[..., 0],
    "min instead of max": lambda x, k: x.unfold(2, k, k).unfold(3, k, k).amin(dim=(-2, -1)),
    "k = 2 whatever k": lambda x, k: max_pool2d_windows(x, 2),
    "windows over channels and height": lambda x, k: x.unfold(1, k, k).unfold(2, k, k).amax(dim=(-2, -1)),
    "reshape without cropping to a multiple of k": lambda x, k: x.reshape(
        x.shape[0], x.shape[1], x.shape[2] // k, k, -1, k).amax(dim=(3, 5)),
}

WRONG_AVG_POOLS = {
    "max instead of mean": max_pool2d_windows,
    "sum instead of mean": lambda x, k: x.unfold(2, k, k).unfold(3, k, k).sum(dim=(-2, -1)),
    "overlapping windows (step 1)": lambda x, k: x.unfold(2, k, 1).unfold(3, k, 1).mean(dim=(-2, -1)),
    "divides by k, not k * k": lambda x, k: x.unfold(2, k, k).unfold(3, k, k).sum(dim=(-2, -1)) / k,
    "k = 2 whatever k": lambda x, k: avg_pool2d_windows(x, 2),
}


@pytest.mark.parametrize("check,right", [
    (check_conv2d_windows, conv2d_windows), *[(check_conv2d_windows, f) for f in OTHER_RIGHT_CONVS.values()],
    (check_max_pool2d_windows, max_pool2d_windows), (check_max_pool2d_windows, pool_by_reshape("amax")),
    (check_avg_pool2d_windows, avg_pool2d_windows), (check_avg_pool2d_windows, pool_by_reshape("mean")),
], ids=["conv2d_windows", *OTHER_RIGHT_CONVS, "max_pool2d_windows", "max pool by reshape", "avg_pool2d_windows",
        "avg pool by reshape"])
def test_the_right_code_passes(check, right, capsys):
    check(right)
    out = capsys.readouterr().out
    assert "✓" in out and "✗" not in out


@pytest.mark.parametrize("check,wrong", [
    *[(check_conv2d_windows, f) for f in WRONG_CONVS.values()],
    *[(check_max_pool2d_windows, f) for f in WRONG_MAX_POOLS.values()],
    *[(check_avg_pool2d_windows, f) for f in WRONG_AVG_POOLS.values()],
], ids=[*WRONG_CONVS, *[f"max pool: {k}" for k in WRONG_MAX_POOLS], *[f"avg pool: {k}" for k in WRONG_AVG_POOLS]])
def test_each_wrong_implementation_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)


def test_the_check_runs_the_learners_code_on_torch_style_arguments():
    """The lesson calls conv2d_windows with F=torch.nn.functional later: the check leaves F at the learner's
    default for minilib tensors, and passes torch's for its torch case."""
    seen = []

    def spy(x, weight, bias=None, stride=1, padding=0, F=F):
        seen.append(F)
        return conv2d_windows(x, weight, bias, stride, padding, F)

    check_conv2d_windows(spy)
    import torch

    assert len(seen) > 1 and all(f is F for f in seen[:-1]), "the minilib cases use the learner's own default F"
    assert seen[-1] is torch.nn.functional, "the last case runs on torch tensors with torch's F"


# lesson 00: Value (its * and tanh), backward(root), numerical_grad(f, x), Tanh (an autograd Function)


Value = _Value  # the lesson's Value, right (course.basics builds its check graphs with it)


class MulLocalsSwapped(Value):
    def __mul__(self, other):
        return type(self)(self.data * other.data, ((self, self.data), (other, other.data)))


class MulOneParent(Value):
    def __mul__(self, other):
        return type(self)(self.data * other.data, ((self, other.data),))


class MulAsSum(Value):
    """Records the product's value but a sum's local derivatives."""

    def __mul__(self, other):
        return type(self)(self.data * other.data, ((self, 1.0), (other, 1.0)))


class TanhLocalFromInput(Value):
    def tanh(self):
        return type(self)(np.tanh(self.data), ((self, 1 - self.data * self.data),))


class TanhLocalNotSquared(Value):
    def tanh(self):
        t = np.tanh(self.data)
        return type(self)(t, ((self, 1 - t),))


class TanhLocalSech(Value):
    """1 / cosh(x), where the derivative is 1 / cosh(x)²."""

    def tanh(self):
        return type(self)(np.tanh(self.data), ((self, 1 / np.cosh(self.data)),))


class TanhValueWrong(Value):
    """Right local derivative, but the value of sin."""

    def tanh(self):
        t = np.tanh(self.data)
        return type(self)(np.sin(self.data), ((self, 1 - t * t),))


WRONG_VALUES = {
    "mul: each parent's local derivative is its own value": MulLocalsSwapped,
    "mul: only the first parent recorded": MulOneParent,
    "mul: a sum's local derivatives": MulAsSum,
    "tanh: 1 - x² from the input": TanhLocalFromInput,
    "tanh: 1 - t, not 1 - t²": TanhLocalNotSquared,
    "tanh: sech(x), not sech²(x)": TanhLocalSech,
    "tanh: the wrong value": TanhValueWrong,
}


def backward(root):
    """The lesson's solution: depth-first with a list for a stack, then users before what they use."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        v, expanded = stack.pop()
        if expanded:
            order.append(v)
        elif id(v) not in seen:
            seen.add(id(v))
            stack.append((v, True))
            stack.extend((p, False) for p, _ in v.parents)
    root.grad = 1.0
    for v in reversed(order):
        for parent, local in v.parents:
            parent.grad += local * v.grad


def topological_order_recursive(root):
    """micrograd's build_topo: right, but recursion stops at about 1,000 nested calls."""
    order, seen = [], set()

    def visit(v):
        if id(v) not in seen:
            seen.add(id(v))
            for p, _ in v.parents:
                visit(p)
            order.append(v)

    visit(root)
    return order


def backward_recursive_topo(root):
    root.grad = 1.0
    for v in reversed(topological_order_recursive(root)):
        for parent, local in v.parents:
            parent.grad += local * v.grad


def backward_recursive_topo_deep(root):
    """The same with the recursion limit raised: a right answer (Python's own stack permitting)."""
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)
    try:
        backward_recursive_topo(root)
    finally:
        sys.setrecursionlimit(limit)


def backward_preorder(root):
    """Depth-first from the root, each Value passing its gradient on the first time it is met."""
    root.grad, seen, stack = 1.0, set(), [root]
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        for parent, local in v.parents:
            parent.grad += local * v.grad
            stack.append(parent)


def backward_breadth_first(root):
    """Breadth-first from the root: a Value's place is set by its shortest path, not its last user."""
    from collections import deque

    root.grad, seen, queue = 1.0, {id(root)}, deque([root])
    while queue:
        v = queue.popleft()
        for parent, local in v.parents:
            parent.grad += local * v.grad
            if id(parent) not in seen:
                seen.add(id(parent))
                queue.append(parent)


def backward_repropagate(root):
    """Recursive, no order: each call passes a Value's whole gradient so far on again (counts early parts twice)."""
    root.grad = 1.0
    stack = [root]
    while stack:
        v = stack.pop()
        for parent, local in v.parents:
            parent.grad += local * v.grad
            stack.append(parent)


def backward_per_path(root):
    """Passes each contribution on as it arrives: right gradients, but work once per path (with a list for a stack)."""
    stack = [(root, 1.0)]
    while stack:
        v, g = stack.pop()
        v.grad += g
        stack.extend((parent, local * g) for parent, local in v.parents)


def backward_overwrite(root):
    order = topological_order_recursive_free(root)
    root.grad = 1.0
    for v in reversed(order):
        for parent, local in v.parents:
            parent.grad = local * v.grad


def backward_no_seed(root):
    for v in reversed(topological_order_recursive_free(root)):
        for parent, local in v.parents:
            parent.grad += local * v.grad


def backward_order_not_reversed(root):
    root.grad = 1.0
    for v in topological_order_recursive_free(root):
        for parent, local in v.parents:
            parent.grad += local * v.grad


def topological_order_recursive_free(root):
    """A post-order (each Value after its parents) without recursion."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        v, expanded = stack.pop()
        if expanded:
            order.append(v)
        elif id(v) not in seen:
            seen.add(id(v))
            stack.append((v, True))
            stack.extend((p, False) for p, _ in v.parents)
    return order


def backward_seen_in_a_list(root):
    """Right gradients, but `v not in seen` searches a list: the walk costs the square of the graph's size."""
    order, seen, stack = [], [], [(root, False)]
    while stack:
        v, expanded = stack.pop()
        if expanded:
            order.append(v)
        elif v not in seen:
            seen.append(v)
            stack.append((v, True))
            stack.extend((p, False) for p, _ in v.parents)
    root.grad = 1.0
    for v in reversed(order):
        for parent, local in v.parents:
            parent.grad += local * v.grad


def backward_seen_values_in_a_set(root):
    """A right answer: the Values themselves (not their ids) in a set."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        v, expanded = stack.pop()
        if expanded:
            order.append(v)
        elif v not in seen:
            seen.add(v)
            stack.append((v, True))
            stack.extend((p, False) for p, _ in v.parents)
    root.grad = 1.0
    for v in reversed(order):
        for parent, local in v.parents:
            parent.grad += local * v.grad


WRONG_BACKWARDS = {
    "Values already seen looked up in a list (right gradients, quadratic walk)": backward_seen_in_a_list,
    "depth-first, each Value passing its gradient on when first met": backward_preorder,
    "breadth-first order": backward_breadth_first,
    "no order: a Value's whole gradient passed on again at every visit": backward_repropagate,
    "each contribution passed on as it arrives (work once per path)": backward_per_path,
    "overwrites .grad instead of adding": backward_overwrite,
    "root.grad never set to 1": backward_no_seed,
    "topological order not reversed (inputs first)": backward_order_not_reversed,
    "micrograd's recursive topological sort (a chain 5,000 deep)": backward_recursive_topo,
}

OTHER_RIGHT_BACKWARDS = {
    "Kahn's order: a Value is ready when all its users are done": reference_backward,
    "recursive topological sort, recursion limit raised": backward_recursive_topo_deep,
    "the Values themselves kept in a set": backward_seen_values_in_a_set,
}


def numerical_grad(f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in range(x.size):
        original = x[i]
        x[i] = original + eps
        up = f(x)
        x[i] = original - eps
        down = f(x)
        x[i] = original
        grad[i] = (up - down) / (2 * eps)
    return grad


def numerical_grad_forward(f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    grad, base = np.zeros_like(x), f(x)
    for i in range(x.size):
        original = x[i]
        x[i] = original + eps
        grad[i] = (f(x) - base) / eps
        x[i] = original
    return grad


def numerical_grad_not_restored(f, x, eps=1e-6):
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in range(x.size):
        original = x[i]
        x[i] = original + eps
        up = f(x)
        x[i] = original - eps
        down = f(x)
        grad[i] = (up - down) / (2 * eps)
    return grad


def numerical_grad_in_place(f, x, eps=1e-6):
    """Probes the caller's own array and leaves it shifted."""
    grad = np.zeros_like(x)
    for i in range(x.size):
        x[i] += eps
        up = f(x)
        x[i] -= 2 * eps
        grad[i] = (up - f(x)) / (2 * eps)
    return grad


WRONG_NUMERICAL_GRADS = {
    "forward differences": numerical_grad_forward,
    "entries not put back": numerical_grad_not_restored,
    "divides by eps, not 2 eps": lambda f, x, eps=1e-6: numerical_grad(f, x, eps) * 2,
    "eps = 1e-2": lambda f, x, eps=1e-6: numerical_grad(f, x, 1e-2),
    "probes the caller's array in place": numerical_grad_in_place,
}


def numerical_grad_batched(f, x, eps=1e-6):
    """A right answer: each probe a fresh copy of x, none changed in place."""
    x = np.asarray(x, dtype=np.float64)
    eye = np.eye(x.size) * eps
    return np.array([(f(x + e) - f(x - e)) / (2 * eps) for e in eye])


class Tanh(ml.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x.tanh()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * (1 - y * y)


class TanhSavesInput(ml.autograd.Function):
    """A right answer: saves the input and takes a second tanh in the backward."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.tanh()

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (1 - x.tanh() ** 2)


class TanhNoUpstream(Tanh):
    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return 1 - y * y


class TanhNotSquared(Tanh):
    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * (1 - y)


class TanhInputSquared(ml.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.tanh()

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (1 - x * x)


WRONG_TANHS = {"backward ignores grad_output": TanhNoUpstream, "1 - y, not 1 - y²": TanhNotSquared,
               "1 - x² from the saved input": TanhInputSquared}


@pytest.mark.parametrize("check,right", [
    (check_value_ops, Value), (check_backward, backward),
    *[(check_backward, f) for f in OTHER_RIGHT_BACKWARDS.values()],
    (check_numerical_grad, numerical_grad), (check_numerical_grad, numerical_grad_batched),
    (check_tanh_function, Tanh), (check_tanh_function, TanhSavesInput),
], ids=["Value", "backward", *OTHER_RIGHT_BACKWARDS, "numerical_grad", "numerical_grad, fresh copies", "Tanh",
        "Tanh saving its input"])
def test_lesson_00_right_code_passes(check, right, capsys):
    check(right)
    out = capsys.readouterr().out
    assert "✓" in out and "✗" not in out


@pytest.mark.parametrize("check,wrong", [
    *[(check_value_ops, c) for c in WRONG_VALUES.values()],
    *[(check_backward, f) for f in WRONG_BACKWARDS.values()],
    *[(check_numerical_grad, f) for f in WRONG_NUMERICAL_GRADS.values()],
    *[(check_tanh_function, c) for c in WRONG_TANHS.values()],
], ids=[*[f"Value: {k}" for k in WRONG_VALUES], *[f"backward: {k}" for k in WRONG_BACKWARDS],
        *[f"numerical_grad: {k}" for k in WRONG_NUMERICAL_GRADS], *[f"Tanh: {k}" for k in WRONG_TANHS]])
def test_lesson_00_each_wrong_implementation_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)

# lesson 01: sgd_momentum_step(w, g, v, lr, momentum) -> (w, v); adamw_step(w, g, m, v, t, ...) -> (w, m, v)



def sgd_momentum_step(w, g, v, lr, momentum):
    v = momentum * v + g
    return w - lr * v, v


def sgd_old_velocity(w, g, v, lr, momentum):
    """Steps along last step's velocity, then updates it."""
    return w - lr * v, momentum * v + g


def sgd_sutskever(w, g, v, lr, momentum):
    """Sutskever et al.'s form: the same weights at a constant lr, but a velocity -lr times PyTorch's."""
    v = momentum * v - lr * g
    return w + v, v


WRONG_SGD_STEPS = {
    "steps along the old velocity": sgd_old_velocity,
    "dampened velocity (1 - momentum) g": lambda w, g, v, lr, momentum: (
        w - lr * (momentum * v + (1 - momentum) * g), momentum * v + (1 - momentum) * g),
    "no momentum (plain SGD)": lambda w, g, v, lr, momentum: (w - lr * g, g),
    "velocity not returned (the old one)": lambda w, g, v, lr, momentum: (w - lr * (momentum * v + g), v),
    "Nesterov's look-ahead": lambda w, g, v, lr, momentum: (
        w - lr * (g + momentum * (momentum * v + g)), momentum * v + g),
    "Sutskever's velocity (-lr times PyTorch's)": sgd_sutskever,
    "momentum hard-coded to 0.9": lambda w, g, v, lr, momentum: sgd_momentum_step(w, g, v, lr, 0.9),
}


def adamw_step(w, g, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, *, decay="before",
               eps_inside=False, correct=True, t_offset=0, update_state=True, swap_betas=False, sqrt=True,
               square=True):
    """The lesson's solution, with switches that each turn one of its steps wrong."""
    b1, b2 = betas[::-1] if swap_betas else betas
    if decay == "l2":
        g = g + weight_decay * w
    elif decay == "before":
        w = w * (1 - lr * weight_decay)
    elif decay == "without lr":
        w = w * (1 - weight_decay)
    m_new = b1 * m + (1 - b1) * g
    v_new = b2 * v + (1 - b2) * (g * g if square else g.abs())
    step = t + t_offset
    m_hat = m_new / (1 - b1 ** step) if correct else m_new
    v_hat = v_new / (1 - b2 ** step) if correct else v_new
    root = ((v_hat + eps).sqrt() if eps_inside else v_hat.sqrt() + eps) if sqrt else v_hat + eps
    w = w - lr * m_hat / root
    if decay == "after":
        w = w * (1 - lr * weight_decay)
    return (w, m_new, v_new) if update_state else (w, m, v)


def adamw_wrong(**switches):
    return lambda w, g, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2: adamw_step(
        w, g, m, v, t, lr, betas, eps, weight_decay, **switches)


def adamw_first_moment_corrected_only(w, g, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    b1, b2 = betas
    w = w * (1 - lr * weight_decay)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    return w - lr * (m / (1 - b1 ** t)) / (v.sqrt() + eps), m, v


def adamw_numbers_only(w, g, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """Turns lr and the decay into Python floats: fine for one model, breaks with one value per model."""
    return adamw_step(w, g, m, v, t, float(lr), betas, eps, float(weight_decay))


def adamw_minilib_sqrt(w, g, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """Takes the square root with minilib's function, which does not take torch tensors."""
    b1, b2 = betas
    w = w * (1 - lr * weight_decay)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    return w - lr * (m / (1 - b1 ** t)) / (ml.sqrt(v / (1 - b2 ** t)) + eps), m, v


WRONG_ADAMW_STEPS = {
    "eps inside the square root": adamw_wrong(eps_inside=True),
    "no bias correction": adamw_wrong(correct=False),
    "bias correction of m only": adamw_first_moment_corrected_only,
    "decay added to the gradient (Adam + L2)": adamw_wrong(decay="l2"),
    "decay not multiplied by lr": adamw_wrong(decay="without lr"),
    "decay after the Adam step": adamw_wrong(decay="after"),
    "no decay": adamw_wrong(decay="none"),
    "bias correction with t - 1": adamw_wrong(t_offset=-1),
    "bias correction with t + 1": adamw_wrong(t_offset=1),
    "m and v not returned (the old ones)": adamw_wrong(update_state=False),
    "betas swapped": adamw_wrong(swap_betas=True),
    "v without the square root": adamw_wrong(sqrt=False),
    "v from |g|, not g squared": adamw_wrong(square=False),
    "lr and decay turned into floats": adamw_numbers_only,
    "minilib's sqrt (fails on torch tensors)": adamw_minilib_sqrt,
}


def adamw_decay_in_the_step(w, g, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """A right answer written as the paper writes it: one step of lr times (Adam's direction + decay * w)."""
    b1, b2 = betas
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g ** 2
    direction = (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)) ** 0.5 + eps)
    return w - lr * (direction + weight_decay * w), m, v


@pytest.mark.parametrize("check,right", [
    (check_sgd_momentum_step, sgd_momentum_step), (check_adamw_step, adamw_step),
    (check_adamw_step, adamw_decay_in_the_step)], ids=["sgd_momentum_step", "adamw_step", "adamw, the paper's form"])
def test_lesson_01_right_code_passes(check, right, capsys):
    check(right)
    out = capsys.readouterr().out
    assert "✓" in out and "✗" not in out


@pytest.mark.parametrize("check,wrong", [
    *[(check_sgd_momentum_step, f) for f in WRONG_SGD_STEPS.values()],
    *[(check_adamw_step, f) for f in WRONG_ADAMW_STEPS.values()],
], ids=[*[f"sgd: {k}" for k in WRONG_SGD_STEPS], *[f"adamw: {k}" for k in WRONG_ADAMW_STEPS]])
def test_lesson_01_each_wrong_implementation_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)


def adamw_no_eps(w, g, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """Leaves eps out: right for ordinary gradients, off when they are tiny."""
    b1, b2 = betas
    w = w * (1 - lr * weight_decay)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    return w - lr * (m / (1 - b1 ** t)) / (v / (1 - b2 ** t)).sqrt(), m, v


def adamw_returns_corrected_state(w, g, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """Stores the bias-corrected m-hat and v-hat as the state, so the correction compounds from step to step."""
    b1, b2 = betas
    w = w * (1 - lr * weight_decay)
    m_hat = (b1 * m + (1 - b1) * g) / (1 - b1 ** t)
    v_hat = (b2 * v + (1 - b2) * g * g) / (1 - b2 ** t)
    return w - lr * m_hat / (v_hat.sqrt() + eps), m_hat, v_hat


def adamw_kingma_eps(w, g, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """Adam paper's 'more efficient' order: corrections folded into the step size, eps added to the uncorrected
    sqrt(v) (not PyTorch's rule: eps weighs sqrt(1 - b2^t) times more)."""
    b1, b2 = betas
    w = w * (1 - lr * weight_decay)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    return w - lr * (1 - b2 ** t) ** 0.5 / (1 - b1 ** t) * m / (v.sqrt() + eps), m, v


def sgd_lr_in_velocity(w, g, v, lr, momentum):
    """The velocity carries the learning rate (v <- momentum v + lr g, w <- w - v): the same weights at a constant
    lr, but not the velocity PyTorch keeps."""
    v = momentum * v + lr * g
    return w - v, v


def sgd_split(w, g, v, lr, momentum):
    """A right answer written differently: the step is the gradient plus momentum times the old velocity."""
    return w - lr * (g + momentum * v), momentum * v + g


def adamw_pow_half(w, g, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """A right answer written differently: ** 0.5 for the square root, the bias corrections as factors."""
    b1, b2 = betas
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g ** 2
    step = (m * (1 / (1 - b1 ** t))) / ((v * (1 / (1 - b2 ** t))) ** 0.5 + eps)
    return (1 - lr * weight_decay) * w - lr * step, m, v


@pytest.mark.parametrize("check,right", [(check_sgd_momentum_step, sgd_split), (check_adamw_step, adamw_pow_half)],
                         ids=["sgd, split form", "adamw, ** 0.5 and factors"])
def test_lesson_01_right_code_written_differently_passes(check, right, capsys):
    check(right)
    out = capsys.readouterr().out
    assert "✓" in out and "✗" not in out


@pytest.mark.parametrize("check,wrong", [
    (check_adamw_step, adamw_no_eps), (check_adamw_step, adamw_returns_corrected_state),
    (check_adamw_step, adamw_kingma_eps), (check_sgd_momentum_step, sgd_lr_in_velocity)],
    ids=["adamw: no eps", "adamw: bias-corrected state returned", "adamw: Kingma's eps order",
         "sgd: lr inside the velocity"])
def test_lesson_01_more_wrong_implementations_are_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)


# lesson 03: attention(q, k, v, mask=None) -> (output, weights); multi_head(x, w_qkv, w_o, heads, mask=None)


def attention(q, k, v, mask=None, scale="sqrt d", axis=-1, mask_at="scores", fill=float("-inf"), polarity=True,
              returns="both"):
    """The lesson's solution, with switches that each turn one of its steps wrong."""
    d = q.shape[-1]
    divide = {"sqrt d": math.sqrt(d), "none": 1.0, "d": d, "sqrt dv": math.sqrt(v.shape[-1]),
              "sqrt S": math.sqrt(k.shape[-2])}[scale]
    scores = q @ k.transpose(-2, -1) / divide
    hide = None if mask is None else (~mask if polarity else mask)
    if hide is not None and mask_at == "scores":
        scores = scores.masked_fill(hide, fill)
    elif hide is not None and mask_at == "times":
        scores = scores * mask
    weights = scores.softmax(axis)
    if hide is not None and mask_at == "weights":
        weights = weights.masked_fill(hide, 0.0)
    out = weights @ v
    return {"both": (out, weights), "output": out, "scores": (out, scores), "swapped": (weights, out),
            "transposed": (out, weights.transpose(-2, -1))}[returns]


def attention_wrong(**switches):
    return lambda q, k, v, mask=None: attention(q, k, v, mask, **switches)


def attention_axes_1_2(q, k, v, mask=None):
    """Transposes axes 1 and 2 of the keys: right for (B, S, d), wrong once there are heads."""
    scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(-1)
    return weights @ v, weights


def attention_minilib_softmax(q, k, v, mask=None):
    """Uses minilib's F.softmax: right on minilib tensors, breaks on torch tensors."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = F.softmax(scores, dim=-1)
    return weights @ v, weights


def attention_weights_before_mask(q, k, v, mask=None):
    """Returns the softmax of the unmasked scores as the weights (the output is masked correctly)."""
    out, _ = attention(q, k, v, mask)
    return out, attention(q, k, v)[1]


WRONG_ATTENTIONS = {
    "softmax over the queries": attention_wrong(axis=-2),
    "no 1/sqrt(d) scaling": attention_wrong(scale="none"),
    "divides by d, not sqrt(d)": attention_wrong(scale="d"),
    "scales by the values' width": attention_wrong(scale="sqrt dv"),
    "scales by the number of keys": attention_wrong(scale="sqrt S"),
    "mask applied after the softmax": attention_wrong(mask_at="weights"),
    "mask with the wrong polarity (hides the keys it may see)": attention_wrong(polarity=False),
    "masked scores set to 0, not -inf": attention_wrong(fill=0.0),
    "scores multiplied by the mask": attention_wrong(mask_at="times"),
    "mask ignored": attention_wrong(mask_at="nowhere"),
    "returns only the output": attention_wrong(returns="output"),
    "returns the scores, not the weights": attention_wrong(returns="scores"),
    "returns (weights, output)": attention_wrong(returns="swapped"),
    "returns the weights as (keys, queries)": attention_wrong(returns="transposed"),
    "transposes axes 1 and 2 of the keys": attention_axes_1_2,
    "minilib's softmax inside (breaks on torch)": attention_minilib_softmax,
    "cuts the gradient": lambda q, k, v, mask=None: tuple(t.detach() for t in attention(q, k, v, mask)),
    "masked scores set to -10, not -inf": attention_wrong(fill=-10.0),
    "returns the weights of the unmasked scores": attention_weights_before_mask,
}


def attention_renormalised(q, k, v, mask=None):
    """A right answer: zero the hidden keys after the softmax, then divide each row by what is left."""
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1)
    if mask is not None:
        weights = weights * mask
        weights = weights / weights.sum(-1, keepdim=True)
    return weights @ v, weights


def attention_keys_by_queries(q, k, v, mask=None):
    """A right answer: scores laid out (keys, queries), the softmax over the keys' axis, then transposed back."""
    scores = k @ q.transpose(-2, -1) / math.sqrt(k.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask.transpose(-2, -1), float("-inf"))
    weights = scores.softmax(-2).transpose(-2, -1)
    return weights @ v, weights


OTHER_RIGHT_ATTENTIONS = {
    "scores laid out (keys, queries)": attention_keys_by_queries,
    "a large negative number instead of -inf": attention_wrong(fill=-1e9),
    "zeroed after the softmax, then renormalised": attention_renormalised,
    "q scaled before the product": lambda q, k, v, mask=None: attention(q / math.sqrt(q.shape[-1]), k, v, mask,
                                                                        scale="none"),
}


def multi_head(x, w_qkv, w_o, heads, mask=None, split="transpose", merge="transpose", order="qkv", project=True,
               w_o_t=True, pass_mask=True, one_head=False, scale_by_e=False):
    """The lesson's solution, with switches that each turn one of its steps wrong."""
    b, t, e = x.shape
    h = 1 if one_head else heads
    chunks = dict(zip(order, (x @ w_qkv.T).chunk(3, dim=-1)))
    q, k, v = chunks["q"], chunks["k"], chunks["v"]
    if split == "transpose":
        q, k, v = (z.reshape(b, t, h, e // h).transpose(1, 2) for z in (q, k, v))
    elif split == "reshape":
        q, k, v = (z.reshape(b, h, t, e // h) for z in (q, k, v))
    else:  # "interleave": channel c goes to head c % heads
        q, k, v = (z.reshape(b, t, e // h, h).permute(0, 3, 1, 2) for z in (q, k, v))
    if scale_by_e:
        q = q * math.sqrt(e // h) / math.sqrt(e)
    out, _ = attention(q, k, v, mask if pass_mask else None)
    out = out.transpose(1, 2).reshape(b, t, e) if merge == "transpose" else out.reshape(b, t, e)
    if not project:
        return out
    return out @ (w_o.T if w_o_t else w_o)


def multi_head_untransposed(x, w_qkv, w_o, heads, mask=None):
    """Multiplies by w_qkv (3E, E) as it is stored: the shapes only fit if E were 3E."""
    b, t, e = x.shape
    q, k, v = ((x @ w_qkv).chunk(3, dim=-1))
    q, k, v = (z.reshape(b, t, heads, e // heads).transpose(1, 2) for z in (q, k, v))
    out, _ = attention(q, k, v, mask)
    return out.transpose(1, 2).reshape(b, t, e) @ w_o.T


def multi_head_wrong(**switches):
    return lambda x, w_qkv, w_o, heads, mask=None: multi_head(x, w_qkv, w_o, heads, mask, **switches)


def multi_head_qkv_per_head(x, w_qkv, w_o, heads, mask=None):
    """Reads w_qkv's rows as (heads, 3, E / heads), the layout some codebases use, not (3, heads, E / heads)."""
    b, t, e = x.shape
    qkv = (x @ w_qkv.T).reshape(b, t, heads, 3, e // heads)
    q, k, v = (qkv[:, :, :, i].transpose(1, 2) for i in range(3))
    out, _ = attention(q, k, v, mask)
    return out.transpose(1, 2).reshape(b, t, e) @ w_o.T


def multi_head_over_heads(x, w_qkv, w_o, heads, mask=None):
    """Splits into (B, T, heads, E / heads) and never moves the heads: attention runs over the heads, not time."""
    b, t, e = x.shape
    q, k, v = (z.reshape(b, t, heads, e // heads) for z in (x @ w_qkv.T).chunk(3, dim=-1))
    out, _ = attention(q, k, v)
    return out.reshape(b, t, e) @ w_o.T


def multi_head_keys_are_queries(x, w_qkv, w_o, heads, mask=None):
    """Uses the queries' chunk as the keys too."""
    b, t, e = x.shape
    q, _, v = (z.reshape(b, t, heads, e // heads).transpose(1, 2) for z in (x @ w_qkv.T).chunk(3, dim=-1))
    out, _ = attention(q, q, v, mask)
    return out.transpose(1, 2).reshape(b, t, e) @ w_o.T


WRONG_MULTI_HEADS = {
    "w_qkv read as (heads, q/k/v, channels)": multi_head_qkv_per_head,
    "attends over the heads, not time": multi_head_over_heads,
    "keys taken from the queries' chunk": multi_head_keys_are_queries,
    "heads split by a reshape without the transpose": multi_head_wrong(split="reshape"),
    "heads merged by a reshape without the transpose": multi_head_wrong(merge="reshape"),
    "channels dealt to the heads in turn": multi_head_wrong(split="interleave"),
    "queries and keys swapped": multi_head_wrong(order="kqv"),
    "values taken from the first chunk": multi_head_wrong(order="vkq"),
    "no output projection": multi_head_wrong(project=False),
    "w_o not transposed": multi_head_wrong(w_o_t=False),
    "the mask not passed on": multi_head_wrong(pass_mask=False),
    "one head whatever heads": multi_head_wrong(one_head=True),
    "scaled by sqrt(E), not sqrt(E / heads)": multi_head_wrong(scale_by_e=True),
    "w_qkv not transposed": lambda x, w_qkv, w_o, heads, mask=None: multi_head_untransposed(x, w_qkv, w_o, heads,
                                                                                            mask),
}


def multi_head_by_slices(x, w_qkv, w_o, heads, mask=None):
    """A right answer: one projection per slice of w_qkv, heads split with permute."""
    b, t, e = x.shape
    q, k, v = (x @ w_qkv[i * e:(i + 1) * e].T for i in range(3))
    q, k, v = (z.reshape(b, t, heads, e // heads).permute(0, 2, 1, 3) for z in (q, k, v))
    out, _ = attention(q, k, v, mask)
    return out.permute(0, 2, 1, 3).reshape(b, t, e) @ w_o.T


def multi_head_loop(x, w_qkv, w_o, heads, mask=None):
    """A right answer: one `attention` call per head on its slice of channels, the outputs concatenated."""
    b, t, e = x.shape
    d = e // heads
    q, k, v = (x @ w_qkv.T).chunk(3, dim=-1)
    outs = [attention(q[..., h * d:(h + 1) * d], k[..., h * d:(h + 1) * d], v[..., h * d:(h + 1) * d], mask)[0]
            for h in range(heads)]
    return ml.cat(outs, dim=-1) @ w_o.T


OTHER_RIGHT_MULTI_HEADS = {"slices of w_qkv, permute": multi_head_by_slices, "a loop over heads": multi_head_loop}


@pytest.mark.parametrize("right", [attention, *OTHER_RIGHT_ATTENTIONS.values()],
                         ids=["attention", *OTHER_RIGHT_ATTENTIONS])
def test_the_right_attention_passes(right, capsys):
    check_attention(right)
    out = capsys.readouterr().out
    assert "✓" in out and "✗" not in out


@pytest.mark.parametrize("wrong", WRONG_ATTENTIONS.values(), ids=WRONG_ATTENTIONS)
def test_each_wrong_attention_is_rejected(wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check_attention(wrong)


@pytest.mark.parametrize("right", [multi_head, *OTHER_RIGHT_MULTI_HEADS.values()],
                         ids=["multi_head", *OTHER_RIGHT_MULTI_HEADS])
def test_the_right_multi_head_passes(right, capsys):
    check_multi_head(right)
    out = capsys.readouterr().out
    assert "✓" in out and "✗" not in out


@pytest.mark.parametrize("wrong", WRONG_MULTI_HEADS.values(), ids=WRONG_MULTI_HEADS)
def test_each_wrong_multi_head_is_rejected(wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check_multi_head(wrong)


def test_the_multi_head_reference_is_torchs_multihead_attention():
    """The reference the check uses agrees with torch.nn.MultiheadAttention given the same weights (no biases)."""
    import numpy as np
    import torch

    import minilib as ml

    rng = np.random.default_rng(0)
    x, w_qkv, w_o = (rng.standard_normal(s).astype(np.float32) for s in ((2, 5, 8), (24, 8), (8, 8)))
    causal = np.tril(np.ones((5, 5), dtype=bool))
    mha = torch.nn.MultiheadAttention(8, 4, bias=False, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.from_numpy(w_qkv))
        mha.out_proj.weight.copy_(torch.from_numpy(w_o))
    xt = torch.from_numpy(x)
    expected, _ = mha(xt, xt, xt, attn_mask=torch.from_numpy(~causal), need_weights=False)  # torch: True = hidden
    mine = reference_multi_head(ml.tensor(x), ml.tensor(w_qkv), ml.tensor(w_o), 4, ml.tensor(causal))
    assert np.allclose(mine.numpy(), expected.detach().numpy(), atol=1e-5)
