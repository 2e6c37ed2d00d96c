"""Helpers every op module shares: turning arguments into arrays, dims, and building outputs."""
import numpy as np

from ..autograd import attach
from ..tensor import Tensor

SCALARS = (bool, int, float, np.generic)


def make(data, inputs, backward, name, saved=None, saves_output=False, view=False):
    """Wrap ``data`` as the output of op ``name`` with ``backward`` recorded against ``inputs``.

    ``saved``/``saves_output``: what ``backward`` reads (see :func:`minilib.autograd.attach`);
    by default every input, which is safe. ``view``: ``data`` is a view of input 0's memory.
    """
    return attach(Tensor._wrap(data), inputs, backward, name, saved, saves_output, view)


def tensors(*items):
    """The items that are Tensors: an op's index or mask arguments, for ``make``'s ``saved``.

    Its backward reads them, so changing one in place before backward must raise (as in torch)
    rather than send gradients to the new positions.
    """
    return tuple(t for t in items if isinstance(t, Tensor))


def as_tensor(x, op, like=None):
    """``x`` as a Tensor: tensors pass through; scalars/arrays/lists are wrapped (no graph)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, SCALARS) and like is not None:
        return Tensor._wrap(_scalar_array(x, like.data.dtype))
    try:
        from ..creation import _to_array

        return Tensor._wrap(_to_array(x, None))
    except (TypeError, ValueError) as e:
        raise TypeError(f"{op}: expected a Tensor or a number, got {type(x).__name__}") from e


def _scalar_array(x, dtype):
    """A Python scalar as an array of the tensor's dtype, or of torch's promoted one."""
    if isinstance(x, (float, np.floating)) and dtype.kind != "f":
        return np.array(x, dtype=np.float32)
    if dtype.kind == "b" and not isinstance(x, (bool, np.bool_)):
        return np.array(x, dtype=np.int64)
    return np.array(x, dtype=dtype)


def binary_arrays(a, b, op):
    """Operands of a binary op as numpy arrays with torch's result dtype; ``b`` may be a scalar.

    Returns (a_tensor, b_tensor_or_None, a_array, b_array).
    """
    ad = a.data
    if isinstance(b, Tensor):
        bd = b.data
        if ad.dtype != bd.dtype:
            dt = result_dtype(ad, bd)
            ad, bd = ad.astype(dt, copy=False), bd.astype(dt, copy=False)
        return a, b, ad, bd
    if isinstance(b, SCALARS):
        if isinstance(b, (float, np.floating)) and ad.dtype.kind != "f":
            ad = ad.astype(np.float32)
            return a, None, ad, np.float32(b)
        if isinstance(b, np.generic):
            b = b.item()
        return a, None, ad, b
    b = as_tensor(b, op)
    return binary_arrays(a, b, op)


def result_dtype(ad, bd):
    """torch promotion: a 0-d tensor does not widen a dimensioned one of the same kind."""
    from ..dtypes import _kind_rank, promote

    if (ad.ndim == 0) != (bd.ndim == 0) and _kind_rank(ad.dtype) == _kind_rank(bd.dtype):
        return bd.dtype if ad.ndim == 0 else ad.dtype
    return promote(ad.dtype, bd.dtype)


def broadcast_shape(sa, sb, op):
    try:
        return np.broadcast_shapes(sa, sb)
    except ValueError:
        raise ValueError(f"{op}: shapes {tuple(sa)} and {tuple(sb)} cannot be broadcast together; "
                         "each dim must match or be 1 (aligned from the right)") from None


def norm_dim(dim, ndim, op):
    """A dim in [-ndim, ndim) as a non-negative int; IndexError naming the range otherwise."""
    n = max(ndim, 1)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    if not -n <= dim < n:
        raise IndexError(f"{op}: dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return int(dim) % n


def norm_dims(dim, ndim, op):
    """``dim`` (None, int, or tuple/list) as a sorted tuple of non-negative dims; None means all."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (tuple, list)):
        dims = tuple(sorted({norm_dim(d, ndim, op) for d in dim}))
        if len(dims) != len(dim):
            raise RuntimeError(f"{op}: dim {tuple(dim)} appears more than once in the list of dims")
        return dims
    return (norm_dim(dim, ndim, op),)


def expand_reduced(g, shape, dims, keepdim):
    """Broadcast a reduction's gradient ``g`` back to the input ``shape``."""
    if not keepdim and dims and np.ndim(g):  # a 0-d gradient (a full reduction) broadcasts as it is
        g = np.expand_dims(g, dims)
    return np.broadcast_to(g, shape)


def same_dtype(op, first, **others):
    """Raise, as torch does, when tensors an op combines without promotion have different dtypes.

    ``first`` is the reference (the input); ``others`` name the rest (None ones are skipped).
    Nothing is cast silently: a float64 weight with a float32 input is an error, not a float32 weight.
    """
    dt = first.data.dtype
    for name, t in others.items():
        if t is not None and t.data.dtype != dt:
            raise RuntimeError(
                f"{op}: expected {name} to have the input's dtype {first.dtype.name}, but got {t.dtype.name} "
                f"(torch refuses mixed dtypes here too); convert one of them, e.g. {name}.to({first.dtype.name}) "
                "or model.to(dtype)")


def require_float(t, op):
    if t.data.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point tensor, got dtype {t.dtype}; convert with .float()")


def method(fn):
    """Also make ``fn`` a Tensor method of the same name (``minilib.exp(x)`` and ``x.exp()``)."""
    setattr(Tensor, fn.__name__, fn)
    return fn


_ADD_AT_MAX = 2048  # elements; measured: np.add.at ~23 ns each, the sparse product ~50 us + 0.4 ns each


def add_rows(n_rows, index, values):
    """Sum the rows of ``values`` (len(index), ...) into an (n_rows, ...) array at ``index`` (non-negative).

    The scatter-add behind embedding and index backward. Small ones use ``np.add.at``; big ones
    multiply by a sparse (n_rows, len(index)) 0/1 matrix, built directly in CSC form (one
    entry per column), which is far faster than ``np.add.at`` once rows repeat.
    """
    flat = values.reshape(len(index), -1)
    if values.dtype.kind != "f" or flat.size <= _ADD_AT_MAX:
        out = np.zeros((n_rows, flat.shape[1]), dtype=values.dtype)
        np.add.at(out, index, flat)
        return out.reshape((n_rows,) + values.shape[1:])
    from scipy import sparse  # imported on first use: keeps `import minilib` fast

    scatter = sparse.csc_matrix((np.ones(len(index), dtype=values.dtype), index, np.arange(len(index) + 1)),
                                shape=(n_rows, len(index)))
    return np.asarray(scatter @ flat, dtype=values.dtype).reshape((n_rows,) + values.shape[1:])
