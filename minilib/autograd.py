"""Reverse-mode autograd: graph nodes, grad mode, and the backward pass.

Every differentiable op builds its output with :func:`attach`, handing over the input
tensors and a ``backward(grad) -> tuple of input grads`` closure (numpy arrays in, numpy
arrays out). :func:`run_backward` walks the graph in reverse topological order, found
iteratively so graphs many thousands of nodes deep never touch Python's recursion limit.
"""
import functools

import numpy as np

_state = {"grad_enabled": True}


def is_grad_enabled():
    return _state["grad_enabled"]


class _GradMode:
    """Context manager and decorator that sets grad mode, restoring the previous one on exit."""

    enabled = True

    def __enter__(self):
        self._prev = _state["grad_enabled"]
        _state["grad_enabled"] = self.enabled

    def __exit__(self, *exc):
        _state["grad_enabled"] = self._prev

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Ops inside record no graph: ``with minilib.no_grad(): ...`` or ``@minilib.no_grad()``."""

    enabled = False


class enable_grad(_GradMode):
    enabled = True


class set_grad_enabled(_GradMode):
    def __init__(self, mode):
        self.enabled = bool(mode)

    def __call__(self, fn):  # pragma: no cover - torch allows it, lessons do not need it
        raise TypeError("set_grad_enabled is a context manager here; use no_grad() as a decorator")


class Node:
    """One recorded op: its name (shown as ``grad_fn``), its inputs and its local backward."""

    __slots__ = ("name", "inputs", "backward")

    def __init__(self, name, inputs, backward):
        self.name = name
        self.inputs = inputs
        self.backward = backward

    def __repr__(self):
        return f"<{self.name}Backward>"

    def name_(self):
        return f"{self.name}Backward"


def attach(out, inputs, backward, name):
    """Record ``out = op(*inputs)`` in the graph if grad mode is on and some input needs a grad."""
    if _state["grad_enabled"]:
        for t in inputs:
            if t is not None and t._requires_grad:
                out._requires_grad = True
                out.grad_fn = Node(name, inputs, backward)
                break
    return out


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``, undoing numpy broadcasting (leading dims and size-1 dims)."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


def _topological_order(root):
    """Tensors reachable from ``root`` that need grads, each before every tensor it depends on.

    An iterative depth-first search; a tensor is marked when it is expanded, not when pushed,
    so its post-order position comes after all of its inputs (reversed: after all its users).
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        if t.grad_fn is not None:
            for p in t.grad_fn.inputs:
                if p is not None and p._requires_grad and id(p) not in visited:
                    stack.append((p, False))
    order.reverse()
    return order


def run_backward(root, grad, retain_graph=False):
    """Propagate ``grad`` (numpy array shaped like ``root``) to every leaf's ``.grad``."""
    from .tensor import Tensor

    grads = {id(root): grad}
    for t in _topological_order(root):
        g = grads.pop(id(t), None)
        if g is None:
            continue
        for hook in t._hooks or ():
            replaced = hook(Tensor._wrap(g))
            if replaced is not None:
                g = replaced.data
        node = t.grad_fn
        if node is None:
            _accumulate_leaf(t, g)
            continue
        if t._retains_grad:
            _accumulate_leaf(t, g)
        if node.backward is None:
            raise RuntimeError(
                f"backward: trying to backward through the graph a second time (at {node.name_()}); "
                "its saved values were freed after the first backward. "
                "Pass retain_graph=True to the first backward() if you need to call it twice.")
        in_grads = node.backward(g)
        if not retain_graph:
            node.backward = None
        for p, pg in zip(node.inputs, in_grads):
            if pg is None or p is None or not p._requires_grad:
                continue
            key = id(p)
            grads[key] = grads[key] + pg if key in grads else pg


def _accumulate_leaf(t, g):
    """Add ``g`` into ``t.grad``. The first gradient is copied, always: the array may be held elsewhere
    (a retained graph, a hook, the ``gradient`` passed to backward, another leaf), and ``.grad`` is
    edited in place (``zero_grad``, ``clip_grad_norm_``). Measured, the copy costs about 1% of a
    lesson's training step (bench/grad_copy.py), so there is no trick to avoid it."""
    g = np.asarray(g)
    if g.shape != t.data.shape:
        g = np.broadcast_to(g, t.data.shape)
    if t.grad is None:
        from .tensor import Tensor

        t.grad = Tensor._wrap(np.array(g, dtype=t.data.dtype, copy=True))
    else:
        t.grad.data = t.grad.data + g.astype(t.data.dtype, copy=False)


def numerical_grad(fn, inputs, eps=1e-6):
    """Central differences of the scalar ``fn(*inputs)`` with respect to every input (float64 arrays)."""
    grads = []
    for x in inputs:
        g = np.zeros_like(x.data, dtype=np.float64)
        flat, gflat = x.data.reshape(-1), g.reshape(-1)
        for i in range(flat.size):  # one probe per element: a checking tool, not a hot path
            orig = flat[i]
            flat[i] = orig + eps
            up = float(fn(*inputs).data.sum())
            flat[i] = orig - eps
            down = float(fn(*inputs).data.sum())
            flat[i] = orig
            gflat[i] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3):
    """True when autograd's gradients of ``fn(*inputs).sum()`` match central differences.

    ``inputs`` must be float64 tensors with ``requires_grad=True``. Raises AssertionError
    naming the input and the largest difference otherwise, as ``torch.autograd.gradcheck``.
    """
    for x in inputs:
        if x.data.dtype != np.float64:
            raise TypeError(f"gradcheck: inputs must be float64 for accurate differences, got {x.dtype}")
        x.grad = None
    with no_grad():
        numeric = numerical_grad(fn, inputs, eps)
    fn(*inputs).sum().backward()
    for i, (x, n) in enumerate(zip(inputs, numeric)):
        analytic = np.zeros_like(n) if x.grad is None else x.grad.data
        if not np.allclose(analytic, n, atol=atol, rtol=rtol):
            raise AssertionError(f"gradcheck: input {i}: autograd and central differences differ by up to "
                                 f"{np.abs(analytic - n).max():.3g}")
    return True


class FunctionCtx:
    """What ``Function.forward`` hands to ``backward``: saved tensors and which inputs need grads."""

    def __init__(self):
        self.saved_tensors = ()
        self.needs_input_grad = ()

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors


class Function:
    """A custom differentiable op, written as in PyTorch::

        class Square(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, grad):
                (x,) = ctx.saved_tensors
                return 2 * x * grad

        y = Square.apply(x)

    ``forward`` runs without recording a graph; ``backward`` returns one gradient per
    ``forward`` argument (None for non-tensors).
    """

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError("Function subclasses must define forward(ctx, *inputs)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("Function subclasses must define backward(ctx, grad_output)")

    @classmethod
    def apply(cls, *args):
        from .tensor import Tensor

        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with no_grad():
            out = cls.forward(ctx, *args)
        if not isinstance(out, Tensor):
            raise TypeError(f"{cls.__name__}.forward must return a Tensor, got {type(out).__name__}")
        tensors = tuple(a for a in args if isinstance(a, Tensor))

        def backward(g):
            with no_grad():
                grads = cls.backward(ctx, Tensor._wrap(g))
            grads = grads if isinstance(grads, tuple) else (grads,)
            if len(grads) != len(args):
                raise RuntimeError(f"{cls.__name__}.backward returned {len(grads)} gradients but forward took "
                                   f"{len(args)} inputs; return one per input (None where there is none)")
            result = []
            for a, gr in zip(args, grads):
                if not isinstance(a, Tensor):
                    continue
                gd = None if gr is None else (gr.data if isinstance(gr, Tensor) else np.asarray(gr))
                if gd is not None and gd.shape != a.data.shape:
                    raise RuntimeError(f"{cls.__name__}.backward returned a gradient of shape {gd.shape} for an "
                                       f"input of shape {a.data.shape}; they must match")
                result.append(gd)
            return result

        return attach(Tensor._wrap(out.data), tensors, backward, cls.__name__)
