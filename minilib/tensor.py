"""The Tensor: a numpy array plus what autograd needs (requires_grad, grad, grad_fn, hooks).

Only the core lives here: construction, properties, backward and conversions. Differentiable
ops live in ``minilib/ops/`` and attach themselves as methods, each with its backward written
beside its forward; in-place ops (``add_``, ``+=``, ``copy_``, ``x[i] = v``, …) are in
``ops/inplace.py`` and ``ops/indexing.py``.
"""
import weakref

import numpy as np

from . import autograd
from .dtypes import float32, from_numpy_dtype, to_numpy_dtype


class Size(tuple):
    """A tensor's shape: a tuple that prints like ``torch.Size`` and knows ``numel()``."""

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self):
        return f"minilib.Size({list(self)})"


class device:
    """Where a tensor lives. minilib computes on the CPU only; torch is the GPU path."""

    type = "cpu"

    def __init__(self, kind="cpu"):
        if str(kind).split(":")[0] != "cpu":
            raise RuntimeError(f"minilib runs on the CPU only, got device {kind!r}; "
                               "use minilib.interop.to_torch(t).to(device) for the GPU comparison")

    def __eq__(self, other):
        return str(other) == "cpu" or isinstance(other, device)

    def __hash__(self):
        return hash("cpu")

    def __str__(self):
        return "cpu"

    def __repr__(self):
        return "device(type='cpu')"


_CPU = device()


class _HookHandle:
    def __init__(self, hooks, fn):
        self._hooks, self._fn = hooks, fn

    def remove(self):
        if self._fn in self._hooks:
            self._hooks.remove(self._fn)


class Tensor:
    """An n-dimensional array with reverse-mode autograd and a PyTorch-shaped API.

    Build tensors with ``minilib.tensor``/``zeros``/``randn``…; ``Tensor(data)`` also works.
    ``data`` is the numpy array holding the values.
    """

    __slots__ = ("data", "_requires_grad", "grad", "grad_fn", "_hooks", "_retains_grad", "__weakref__")
    __array_ufunc__ = None  # numpy defers to our reflected operators: np.float32(2) * t is a Tensor

    def __init__(self, data, dtype=None, requires_grad=False):
        from .creation import _to_array

        self.data = _to_array(data, dtype)
        self._requires_grad = False
        self.grad = self.grad_fn = self._hooks = None
        self._retains_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _wrap(data):
        """A Tensor around an existing numpy array, without copying or checks (internal)."""
        t = Tensor.__new__(Tensor)
        t.data = data
        t._requires_grad = False
        t.grad = t.grad_fn = t._hooks = None
        t._retains_grad = False
        return t

    # ----------------------------------------------------------------- properties
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.data.dtype.kind != "f":
            raise RuntimeError(f"requires_grad: only tensors of floating point dtype can require gradients, "
                               f"got dtype {self.dtype}; convert with .float() first")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad: you can only change requires_grad of leaf tensors; "
                               "use .detach() to get a tensor outside the graph")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def shape(self):
        return Size(self.data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self.data.shape)
        from .ops._common import norm_dim

        return self.data.shape[norm_dim(dim, self.data.ndim, "size")]

    @property
    def ndim(self):
        return self.data.ndim

    def dim(self):
        return self.data.ndim

    def numel(self):
        return int(self.data.size)

    @property
    def dtype(self):
        return from_numpy_dtype(self.data.dtype)

    @property
    def device(self):
        return _CPU

    @property
    def is_cuda(self):
        return False

    def is_floating_point(self):
        return self.data.dtype.kind == "f"

    def element_size(self):
        return self.data.itemsize

    # ----------------------------------------------------------------- autograd
    def backward(self, gradient=None, retain_graph=None):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``; ``gradient`` is dL/d(self)."""
        if not self._requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no grad_fn; "
                               "create the inputs with requires_grad=True (outside no_grad())")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward: grad can be implicitly created only for scalar outputs, "
                                   f"got a tensor of shape {tuple(self.shape)}; "
                                   "reduce it (e.g. .sum()) or pass gradient= of the same shape")
            g = np.ones_like(self.data)
        else:
            g = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient, dtype=self.data.dtype)
            if g.shape != self.data.shape:
                raise RuntimeError(f"backward: gradient has shape {tuple(g.shape)} but the tensor has shape "
                                   f"{tuple(self.shape)}; they must match")
        autograd.run_backward(self, g, retain_graph=bool(retain_graph))

    def detach(self):
        """The same values (shared memory), cut from the graph."""
        return Tensor._wrap(self.data)

    def detach_(self):
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward (it follows the tensor through in-place ops)."""
        if self.grad_fn is not None:
            self._retains_grad = True
            self.grad_fn.retain = weakref.ref(self)

    @property
    def retains_grad(self):
        return self._retains_grad and self.grad_fn is not None and self.grad_fn.retain is not None

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces it.

        On a non-leaf the hook belongs to the node that made the tensor (as in torch): after an
        in-place op it still sees the gradient of the value the tensor had when it was registered.
        """
        if not self._requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that doesn't require gradient")
        hooks = self._hooks if self.grad_fn is None else self.grad_fn.hooks
        if hooks is None:
            hooks = []
            if self.grad_fn is None:
                self._hooks = hooks
            else:
                self.grad_fn.hooks = hooks
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    # ----------------------------------------------------------------- conversions
    def item(self):
        if self.data.size != 1:
            raise RuntimeError(f"item: a Tensor with {self.data.size} elements cannot be converted to a "
                               "Python scalar; expected exactly one element")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.data.tolist()

    def numpy(self):
        if self._requires_grad:
            raise RuntimeError("numpy: can't call numpy() on a tensor that requires grad; "
                               "use tensor.detach().numpy() instead")
        return self.data

    def __array__(self, dtype=None, copy=None):
        """NumPy's array protocol: ``np.array(t)`` copies (``copy=True``), ``np.asarray(t)`` may share."""
        if copy is False and dtype is not None and np.dtype(dtype) != self.data.dtype:
            raise ValueError(f"cannot convert a {self.data.dtype} tensor to {np.dtype(dtype)} without a copy")
        if dtype is not None:
            return self.data.astype(dtype, copy=bool(copy))
        return self.data.copy() if copy else self.data

    def to(self, *args, dtype=None, **kwargs):
        """``to(dtype)``, ``to("cpu")`` or ``to(other_tensor)``; differentiable between float dtypes."""
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, (str, device)):
                device(a)
            elif a is not None:
                dtype = a
        if "device" in kwargs:
            device(kwargs["device"])
        if dtype is None:
            return self
        from .ops.pointwise import cast

        return cast(self, to_numpy_dtype(dtype))

    def type(self, dtype=None):
        if dtype is None:
            return f"minilib.{self.dtype.name.capitalize()}Tensor"
        return self.to(dtype)

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(np.float64)

    def half(self):
        return self.to(np.float16)

    def long(self):
        return self.to(np.int64)

    def int(self):
        return self.to(np.int32)

    def bool(self):
        return self.to(np.bool_)

    def cpu(self):
        return self

    def cuda(self, *args, **kwargs):
        device("cuda")

    def contiguous(self):
        """This tensor if its memory is C-contiguous, else a contiguous copy (as in torch)."""
        if self.data.flags["C_CONTIGUOUS"]:
            return self
        from .ops.pointwise import clone

        return clone(self)

    def is_contiguous(self):
        return bool(self.data.flags["C_CONTIGUOUS"])

    # ----------------------------------------------------------------- in-place updates
    # copy_, zero_, fill_, add_, +=, x[i] = v, … live in ops/inplace.py and ops/indexing.py.
    @property
    def _version(self):
        """In-place writes so far into this tensor's memory (shared with its views), as torch's ``_version``."""
        return autograd.version(self.data)

    # ----------------------------------------------------------------- python protocol
    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"bool: a tensor with {self.data.size} elements is ambiguous; "
                               "use .any() or .all()")
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.data.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    __hash__ = object.__hash__

    def __repr__(self):
        return _format(self)


def _format(t):
    data = t.data
    if data.dtype.kind == "f":
        finite = data[np.isfinite(data)]
        integral = finite.size == 0 or bool(np.all(finite == np.round(finite)))
        body = np.array2string(data, separator=", ", precision=4, suppress_small=True, prefix="tensor(",
                               floatmode="maxprec" if integral else "fixed")  # torch: 1., 2. vs 1.0000, 2.5000
    else:
        body = np.array2string(data, separator=", ", prefix="tensor(")
    extras = []
    if data.dtype not in (np.float32, np.int64, np.bool_) or (data.size == 0 and data.dtype != np.float32):
        extras.append(f"dtype={t.dtype!r}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name_()}>")
    elif t._requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"
