"""In-place ops (``add_``, ``+=``, ``copy_``, ``x[i] = v``, …) with torch's semantics.

An in-place op writes into the tensor's own array, so every view and ``detach()`` of it sees
the new values, and bumps the array's version counter, so a backward that still needs the old
values raises instead of using the new ones. Inside a graph (grad mode on and something
requires grad) the op is recorded like its out-of-place twin and the tensor gets the new node:
its earlier uses keep their own nodes, since a node's edges are fixed when it is made.

Refused, as in torch: a leaf that requires grad outside ``no_grad()`` (``p -= lr * p.grad``
would otherwise leave the parameter unchanged or cut it from the graph), results that do not
fit the tensor's dtype (``int_t += 0.5``) or shape, and writes into broadcast memory.
Refused by minilib only (torch rebases views onto their base; minilib does not): an in-place
op recorded in the graph on a view of another tensor.
"""
import numpy as np

from ..autograd import attach, buffer_of, bump_version, is_grad_enabled
from ..dtypes import _kind_rank, from_numpy_dtype
from ..tensor import Tensor
from ._common import make


def apply_inplace(t, op, fn, *args, any_dtype=False):
    """``t <- fn(t, *args)`` in place; ``fn`` is the out-of-place op (it records the graph, if any)."""
    tracked = is_grad_enabled() and (t._requires_grad or any(isinstance(a, Tensor) and a._requires_grad
                                                             for a in args))
    if not tracked:
        write(t, op, fn(t, *args).data, any_dtype)
        return t
    check_tracked_target(t, op)
    old = _ghost(t, t.data)
    out = fn(old, *(old if a is t else a for a in args))
    if out.grad_fn is not None and _reads(out.grad_fn, t.data):
        # The backward needs values this write would overwrite (x *= w, w requiring grad, needs the old x):
        # record it against private copies of them instead.
        old = _ghost(t, t.data.copy())
        out = fn(old, *(old if a is t else _private(a, t.data) for a in args))
    write(t, op, out.data, any_dtype)
    rebase(t, out)
    return t


def check_tracked_target(t, op):
    """Raise for in-place ops that the graph cannot record on ``t`` (see the module docstring)."""
    if t.grad_fn is None:
        if t._requires_grad:
            raise RuntimeError(
                f"{op}: a leaf tensor that requires grad is being used in an in-place operation (torch refuses it "
                "too). To update a parameter by hand, do it under `with minilib.no_grad():`, as optimizers do: "
                "`with ml.no_grad(): p -= lr * p.grad`. (`p = p - lr * p.grad` would make a new tensor and leave "
                "the parameter itself unchanged.)")
        if t.data.base is not None:
            raise RuntimeError(
                f"{op}: writing a value that requires grad into a view of another tensor is not supported by "
                "minilib (torch also rebases the viewed tensor; minilib cannot). Write into the tensor itself "
                "(big[0, 1:3] = x rather than row = big[0]; row[1:3] = x), or clone() the view first.")
        return
    node = t.grad_fn
    while node is not None and node.view:
        base = node.inputs[0]
        if base.grad_fn is None:
            if base._requires_grad:
                raise RuntimeError(
                    f"{op}: a view of a leaf tensor that requires grad is being used in an in-place operation "
                    "(torch refuses it too); update the leaf under `with minilib.no_grad():`.")
            break
        node = base.grad_fn
    if t.grad_fn.view:
        raise RuntimeError(
            f"{op}: in-place ops recorded in the graph on a view (made by {t.grad_fn.name}) of another tensor are "
            "not supported by minilib: torch would also rewrite the gradient of the viewed tensor, minilib "
            "cannot. Use the out-of-place op (v = v * 2), or clone() before taking the view.")


def write(t, op, values, any_dtype=False, index=None):
    """Store ``values`` into ``t.data`` (or its ``index`` region) and bump its version; check dtype and shape."""
    values = np.asarray(values)
    d = t.data
    if not any_dtype and _kind_rank(values.dtype) > _kind_rank(d.dtype):
        raise RuntimeError(
            f"{op}: result type {from_numpy_dtype(values.dtype).name} can't be cast to the desired output type "
            f"{t.dtype.name} (torch refuses it too); do it out of place (x = x + 0.5 makes a new tensor of the "
            "promoted dtype) or convert first (x = x.float()).")
    if index is None and values.shape != d.shape:
        raise RuntimeError(f"{op}: output with shape {list(d.shape)} doesn't match the broadcast shape "
                           f"{list(values.shape)}; an in-place op cannot change the tensor's shape")
    if not d.flags.writeable:
        if d.base is not None or any(s == 0 and n > 1 for s, n in zip(d.strides, d.shape)):
            raise RuntimeError(
                f"{op}: unsupported operation: more than one element of the written-to tensor refers to a single "
                "memory location (an expand()ed or unfold()ed view). Please clone() the tensor before performing "
                "the operation.")
        t.data = d = d.copy()  # a read-only array of its own (from_numpy of a read-only array): write a copy
    if index is None:
        d[...] = values
    else:
        d[index] = values
    bump_version(d)


def rebase(t, out):
    """Make ``t`` the output of ``out``'s node: later uses of ``t`` differentiate through the in-place op."""
    old_node = t.grad_fn
    t.grad_fn, t._requires_grad = out.grad_fn, out._requires_grad
    if old_node is not None and old_node.retain is not None:  # retain_grad() follows the tensor, as in torch
        if out.grad_fn is not None:
            out.grad_fn.retain = old_node.retain
        old_node.retain = None


def _ghost(t, data):
    """A stand-in for ``t`` before the write: same place in the graph, given values."""
    g = Tensor._wrap(data)
    g._requires_grad, g.grad_fn = t._requires_grad, t.grad_fn
    return g


def _private(a, data):
    """``a``, or a private copy of it (same place in the graph) when it shares memory with ``data``."""
    if not isinstance(a, Tensor) or buffer_of(a.data) is not buffer_of(data) or (a.grad_fn is None and a.requires_grad):
        return a  # a leaf's gradient must reach the leaf itself: its version check catches the overwrite instead
    return _ghost(a, a.data.copy())


def _reads(node, data):
    owner = buffer_of(data)
    return any(buffer_of(array) is owner for array, _, _ in node.saved)


# --------------------------------------------------------------------- out-of-place twins of the fills
def _filled(t, values, name):
    """``values`` shaped like ``t``: an op whose result does not depend on ``t`` (its gradient is zero)."""
    out = np.empty(t.data.shape, dtype=np.asarray(values).dtype if np.ndim(values) else t.data.dtype)
    out[...] = values
    return make(out, (t,), lambda g: (np.zeros_like(g),), name, saved=())


def _copy_from(t, src):
    if not isinstance(src, Tensor):
        return _filled(t, np.asarray(src), "Copy")
    try:
        fits = np.broadcast_shapes(src.data.shape, t.data.shape) == t.data.shape
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(f"copy_: the source of shape {tuple(src.shape)} must be broadcastable to the tensor's "
                           f"shape {tuple(t.shape)}")
    from ..autograd import unbroadcast

    shape, src_dtype = src.data.shape, src.data.dtype
    return attach(Tensor._wrap(np.array(np.broadcast_to(src.data, t.data.shape))), (t, src),
                  lambda g: (np.zeros_like(g), unbroadcast(g, shape).astype(src_dtype, copy=False)), "Copy", saved=())


def _untracked(t, *args):
    return not (is_grad_enabled() and (t._requires_grad or any(isinstance(a, Tensor) and a._requires_grad
                                                               for a in args)))


def copy_(self, src):
    """Copy ``src``'s values (broadcast, cast to this dtype) into this tensor; differentiable w.r.t. ``src``."""
    if _untracked(self, src):  # optimizers, init functions, load_state_dict: one copy, no graph
        values = src.data if isinstance(src, Tensor) else np.asarray(src)
        try:
            values = np.broadcast_to(values, self.data.shape)
        except ValueError:
            raise RuntimeError(f"copy_: the source of shape {tuple(np.shape(values))} must be broadcastable to the "
                               f"tensor's shape {tuple(self.shape)}") from None
        write(self, "copy_", values, any_dtype=True)
        return self
    return apply_inplace(self, "copy_", _copy_from, src, any_dtype=True)


def zero_(self):
    if _untracked(self):
        write(self, "zero_", 0, any_dtype=True, index=Ellipsis)
        return self
    return apply_inplace(self, "zero_", lambda t: _filled(t, 0, "Zero"), any_dtype=True)


def fill_(self, value):
    if isinstance(value, Tensor):
        if value.data.ndim:
            raise RuntimeError(f"fill_: only supports 0-dimension value tensor but got tensor with "
                               f"{value.data.ndim} dimensions")
        return copy_(self, value) if _untracked(self, value) else apply_inplace(self, "fill_", _copy_from, value,
                                                                                 any_dtype=True)
    if _untracked(self):
        write(self, "fill_", value, any_dtype=True, index=Ellipsis)
        return self
    return apply_inplace(self, "fill_", lambda t: _filled(t, value, "Fill"), any_dtype=True)


def _random_fill(name, draw):
    def fill(self, *args, generator=None):
        from ..random import _gen

        values = draw(_gen(generator), self.data.shape, *args)
        return apply_inplace(self, name, lambda t: _filled(t, values.astype(t.data.dtype), name.capitalize()[:-1]),
                             any_dtype=True)

    fill.__name__ = name
    return fill


uniform_ = _random_fill("uniform_", lambda rng, shape, a=0.0, b=1.0: rng.uniform(a, b, shape))
normal_ = _random_fill("normal_", lambda rng, shape, mean=0.0, std=1.0: rng.normal(mean, std, shape))
bernoulli_ = _random_fill("bernoulli_", lambda rng, shape, p=0.5: rng.random(shape) < p)
exponential_ = _random_fill("exponential_", lambda rng, shape, lambd=1.0: rng.exponential(1.0 / lambd, shape))


# --------------------------------------------------------------------- arithmetic
def add_(self, other, alpha=1):
    from .arithmetic import add

    return apply_inplace(self, "add_", lambda t, o: add(t, o, alpha=alpha), other)


def sub_(self, other, alpha=1):
    from .arithmetic import sub

    return apply_inplace(self, "sub_", lambda t, o: sub(t, o, alpha=alpha), other)


def mul_(self, other):
    from .arithmetic import mul

    return apply_inplace(self, "mul_", mul, other)


def div_(self, other):
    from .arithmetic import div

    return apply_inplace(self, "div_", div, other)


def addcmul_(self, t1, t2, value=1):
    return apply_inplace(self, "addcmul_", lambda t, a, b: t + value * a * b if value != 1 else t + a * b, t1, t2)


def addcdiv_(self, t1, t2, value=1):
    return apply_inplace(self, "addcdiv_", lambda t, a, b: t + value * a / b if value != 1 else t + a / b, t1, t2)


def clamp_(self, min=None, max=None):  # noqa: A002 - torch's names
    from .pointwise import clamp

    return apply_inplace(self, "clamp_", lambda t: clamp(t, min, max))


def lerp_(self, end, weight):
    from .pointwise import lerp

    return apply_inplace(self, "lerp_", lambda t, e, w: lerp(t, e, w), end, weight)


for _fn in (copy_, zero_, fill_, uniform_, normal_, bernoulli_, exponential_, add_, sub_, mul_, div_, addcmul_,
            addcdiv_, clamp_, lerp_):
    setattr(Tensor, _fn.__name__, _fn)


def _augmented(name, method):
    """``x += y`` and friends: the in-place method (never a silent rebinding to a new tensor)."""
    def op(self, other):
        from . import arithmetic

        return apply_inplace(self, name, getattr(arithmetic, method), other)

    op.__name__ = f"__i{method}__"
    return op


Tensor.__iadd__ = _augmented("+=", "add")
Tensor.__isub__ = _augmented("-=", "sub")
Tensor.__imul__ = _augmented("*=", "mul")
Tensor.__itruediv__ = _augmented("/=", "div")
