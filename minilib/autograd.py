"""Reverse-mode autograd: graph nodes, grad mode, version counters and the backward pass.

Every differentiable op builds its output with :func:`attach`, handing over the input
tensors and a ``backward(grad) -> tuple of input grads`` closure (numpy arrays in, numpy
arrays out). A :class:`Node` remembers, for each input, where its gradient goes next: the
input's own node, or the input itself when it is a leaf. Those edges are fixed when the node
is made, so an in-place op that later gives a tensor a new node does not rewire older uses.
:func:`run_backward` walks the nodes in reverse topological order, found iteratively so graphs
many thousands of nodes deep never touch Python's recursion limit.

Version counters (as torch's ``t._version``): every in-place write bumps a counter kept per
memory buffer, so a tensor, its ``detach()``, its views and slices share one. A node records
the versions of what its backward reads; backward refuses to run on values changed since.
"""
import functools
import threading
import weakref

import numpy as np


class _GradState(threading.local):
    """Grad mode, one per thread, as torch's: ``no_grad()`` in one thread leaves the others recording."""

    grad_enabled = True


_state = _GradState()


def is_grad_enabled():
    return _state.grad_enabled


class _GradMode:
    """Context manager and decorator that sets grad mode, restoring the previous one on exit."""

    enabled = True

    def __enter__(self):
        self._prev = _state.grad_enabled
        _state.grad_enabled = self.enabled

    def __exit__(self, *exc):
        _state.grad_enabled = self._prev

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


# --------------------------------------------------------------------- version counters
_versions = {}  # id(buffer) -> in-place writes so far; a buffer never written is at version 0
_forget_refs = {}  # id(buffer) -> weakref whose callback drops the entry when the buffer dies


def buffer_of(a):
    """The object that owns ``a``'s memory: numpy views, slices and transposes all lead to it."""
    base = a.base if type(a) is np.ndarray else getattr(a, "base", None)
    while base is not None:
        a, base = base, getattr(base, "base", None)
    return a


def version(a):
    """How many in-place writes the memory of array ``a`` has seen (torch's ``tensor._version``)."""
    return _versions.get(id(buffer_of(a)), 0)


def bump_version(a):
    """Record an in-place write into array ``a`` (every tensor sharing its memory sees the new version)."""
    owner = buffer_of(a)
    key = id(owner)
    count = _versions.get(key)
    if count is None:
        try:
            _forget_refs[key] = weakref.ref(owner, functools.partial(_forget, key))
        except TypeError:  # a buffer that takes no weak references (bytes): keep its entry
            pass
        _versions[key] = 1
    else:
        _versions[key] = count + 1


def _forget(key, _ref, versions=_versions, refs=_forget_refs):  # bound now: safe during interpreter shutdown
    versions.pop(key, None)
    refs.pop(key, None)


# --------------------------------------------------------------------- the graph
class Node:
    """One recorded op: its name (shown as ``grad_fn``), its inputs and its local backward.

    ``next``: per input, its node, the input itself (a leaf that requires grad) or None.
    ``saved``: (array, version at record time, which) for every array the backward reads;
    ``which`` is an input's position, -1 for the output, or a name.
    ``hooks``: gradient hooks of the tensor this node made; ``retain``: a weak reference to
    that tensor when it keeps its ``.grad`` (``retain_grad()``).
    ``view``: the output shares the memory of input 0 (reshape, transpose, basic slicing, …).
    """

    __slots__ = ("name", "inputs", "next", "backward", "saved", "hooks", "retain", "view")

    def __init__(self, name, inputs, backward, saved=(), view=False, next_=None):
        self.name = name
        self.inputs = inputs
        if next_ is None:
            next_ = tuple([None if t is None or not t._requires_grad else (t.grad_fn or t) for t in inputs])
        self.next = next_
        self.backward = backward
        self.saved = saved
        self.hooks = self.retain = None
        self.view = view

    def __repr__(self):
        return f"<{self.name}Backward>"

    def name_(self):
        return f"{self.name}Backward"


def attach(out, inputs, backward, name, saved=None, saves_output=False, view=False):
    """Record ``out = op(*inputs)`` in the graph if grad mode is on and some input needs a grad.

    ``saved`` says which values ``backward`` reads, so that changing them in place afterwards
    makes backward raise instead of computing with the new values: positions in ``inputs`` or
    extra tensors (a loss's target); None, the default, means every input. ``saves_output``:
    the backward also reads ``out``. Ops whose backward reads no values (add, reshape, sum, …)
    pass ``saved=()``. ``view``: ``out`` shares input 0's memory.
    """
    if not _state.grad_enabled:
        return out
    edges, needed = [], False
    for t in inputs:
        if t is None or not t._requires_grad:
            edges.append(None)
            continue
        needed, node = True, t.grad_fn
        if node is None:
            edges.append(t)
        else:
            if node.view:
                _check_view_is_current(t, name)
            edges.append(node)
    if not needed:
        return out
    records = ()
    if saved != ():
        records = []
        for i in (range(len(inputs)) if saved is None else saved):
            t = inputs[i] if isinstance(i, int) else i
            if t is not None:
                records.append((t.data, _versions.get(id(buffer_of(t.data)), 0), i if isinstance(i, int) else "a"))
    if saves_output:
        records = (*records, (out.data, _versions.get(id(buffer_of(out.data)), 0), -1))
    if view:  # a view op whose result is a copy after all (reshape of a transpose) is not a view
        view = buffer_of(out.data) is buffer_of(inputs[0].data)
    out._requires_grad = True
    out.grad_fn = Node(name, inputs, backward, tuple(records), view, tuple(edges))
    return out


def _check_view_is_current(t, op):
    """Refuse a view whose base got a new node from an in-place op after the view was taken.

    The view's values changed with its base, but its node still says "a view of the old
    base": gradients through it would be those of the old values. torch regenerates the view's
    node; minilib asks for the view to be taken again.
    """
    node = t.grad_fn
    while node is not None and node.view:
        base = node.inputs[0]
        if ((base.grad_fn or base) if base._requires_grad else None) is not node.next[0]:
            raise RuntimeError(
                f"{op}: this tensor is a view (made by {node.name}) of a tensor that an in-place op changed after "
                "the view was taken, so its recorded gradient would be that of the old values. minilib does not "
                "update views after an in-place op on their base (torch does); take the view again after the "
                "in-place op, or make the in-place op out of place (x = x * 2).")
        node = base.grad_fn


def unbroadcast(grad, shape, dtype=None):
    """Sum ``grad`` down to ``shape``, undoing numpy broadcasting (leading dims and size-1 dims).

    ``dtype``: the input's dtype, when the op promoted it (float32 + float64): its gradient is cast
    back, as torch does, so a float32 input never receives a float64 gradient.
    """
    if dtype is not None and grad.dtype != dtype:
        grad = grad.astype(dtype)
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
    """Nodes reachable from node ``root``, each before every node it feeds its gradient to.

    An iterative depth-first search; a node is marked when it is expanded, not when pushed,
    so its post-order position comes after all of its inputs (reversed: after all its users).
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for nxt in node.next:
            if type(nxt) is Node and id(nxt) not in visited:
                stack.append((nxt, False))
    order.reverse()
    return order


def _check_saved(node):
    """Raise as torch does when a value ``node``'s backward reads was changed in place after the forward."""
    for array, expected, which in node.saved:
        now = _versions.get(id(buffer_of(array)), 0)
        if now != expected:
            what = ("output 0" if which == -1 else f"input {which}" if isinstance(which, int)
                    else "a tensor it saved (such as a loss's target or indices)")
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an inplace operation: "
                f"[{array.dtype} tensor of shape {tuple(np.shape(array))}], which is {what} of {node.name_()}, "
                f"is at version {now}; expected version {expected} instead. Its backward needs the values it had "
                "in the forward pass: do the in-place update after backward(), on a clone(), or out of place "
                "(x = x + 1 instead of x += 1).")


def run_backward(root, grad, retain_graph=False):
    """Propagate ``grad`` (numpy array shaped like ``root``) to every leaf's ``.grad``."""
    from .tensor import Tensor

    if root.grad_fn is None:  # backward() on a leaf: its gradient is ``grad`` itself
        _finish_leaf(root, grad)
        return
    if root.grad_fn.view:
        _check_view_is_current(root, "backward")
    grads = {id(root.grad_fn): grad}
    leaves = {}  # id(leaf) -> [leaf, summed gradient]
    for node in _topological_order(root.grad_fn):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        for hook in node.hooks or ():
            replaced = hook(Tensor._wrap(g))
            if replaced is not None:
                g = replaced.data
        if node.retain is not None and (kept := node.retain()) is not None:
            _accumulate(kept, g)
        if node.backward is None:
            raise RuntimeError(
                f"backward: trying to backward through the graph a second time (at {node.name_()}); "
                "its saved values were freed after the first backward. "
                "Pass retain_graph=True to the first backward() if you need to call it twice.")
        _check_saved(node)
        in_grads = node.backward(g)
        if not retain_graph:
            node.backward, node.saved = None, ()
        for nxt, pg in zip(node.next, in_grads):
            if pg is None or nxt is None:
                continue
            key = id(nxt)
            if type(nxt) is Node:
                grads[key] = grads[key] + pg if key in grads else pg
            elif key in leaves:
                leaves[key][1] = leaves[key][1] + pg
            else:
                leaves[key] = [nxt, pg]
    for leaf, g in leaves.values():
        _finish_leaf(leaf, g)


def _finish_leaf(t, g):
    """Run a leaf's hooks on its total gradient ``g``, then add it into ``t.grad``."""
    from .tensor import Tensor

    for hook in t._hooks or ():
        replaced = hook(Tensor._wrap(g))
        if replaced is not None:
            g = replaced.data
    _accumulate(t, g)


def _accumulate(t, g):
    """Add ``g`` into ``t.grad`` (a new array of ``t``'s dtype the first time: never one someone else holds)."""
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

        kept = ctx.saved_tensors
        saved = [i for i, t in enumerate(tensors) if any(s is t for s in kept)]
        saved += [s for s in kept if isinstance(s, Tensor) and s is not out and all(s is not t for t in tensors)]
        return attach(Tensor._wrap(out.data), tensors, backward, cls.__name__, saved=saved,
                      saves_output=any(s is out for s in kept))
