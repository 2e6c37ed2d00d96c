"""Indexing: ``x[...]`` (ints, slices, None, ..., bool masks, integer arrays), gather and scatter.

Backward of advanced indexing scatter-adds (``np.add.at``) so repeated indices sum their gradients.
"""
import numpy as np

from ..autograd import attach, is_grad_enabled, unbroadcast
from ..tensor import Tensor
from ._common import add_rows, make, method, norm_dim, same_dtype, tensors


def _convert_index(index):
    """Turn tensors/lists inside an index into numpy arrays; report whether it is basic indexing."""
    items = index if isinstance(index, tuple) else (index,)
    out, basic = [], True
    for i in items:
        if isinstance(i, Tensor):
            i = i.data
        elif isinstance(i, list):
            i = np.asarray(i)
        if isinstance(i, np.ndarray):
            if i.dtype.kind == "f":
                raise IndexError(f"index: tensors used as indices must be long, int or bool, got dtype {i.dtype}")
            if i.ndim == 0 and i.dtype.kind in "iu":
                i = int(i)
            else:
                basic = False
        elif isinstance(i, float):
            raise IndexError(f"index: got a float {i}; indices must be ints, slices, None, ... or tensors")
        out.append(i)
    return tuple(out), basic


def _index_error(shape, index, err):
    return IndexError(f"index: {err} (indexing a tensor of shape {tuple(shape)} with {_describe(index)})")


def _describe(index):
    items = index if isinstance(index, tuple) else (index,)
    parts = []
    for i in items:
        if isinstance(i, np.ndarray):
            parts.append(f"array(shape={i.shape}, dtype={i.dtype})")
        else:
            parts.append(repr(i))
    return "[" + ", ".join(parts) + "]"


def getitem(x, index):
    idx, basic = _convert_index(index)
    try:
        out = x.data[idx]
    except IndexError as e:
        raise _index_error(x.data.shape, idx, e) from None
    shape = x.data.shape

    def backward(g):
        if not basic and len(idx) == 1 and isinstance(idx[0], np.ndarray) and idx[0].dtype.kind in "iu":
            rows = idx[0].reshape(-1) % shape[0] if shape else idx[0].reshape(-1)
            return (add_rows(shape[0], rows, g.reshape((rows.size,) + shape[1:])),)  # x[int_array]
        full = np.zeros(shape, dtype=g.dtype)
        if basic:
            full[idx] = g
        else:
            np.add.at(full, idx, g)
        return (full,)

    return make(np.asarray(out) if basic else out, (x,), backward, "Index", saved=_index_tensors(index, idx),
                view=basic)


def _index_tensors(index, converted):
    """The tensors in ``index`` that a backward reads as arrays (not 0-dim ints, which became Python ints)."""
    items = index if isinstance(index, tuple) else (index,)
    return tuple(i for i, c in zip(items, converted) if isinstance(i, Tensor) and isinstance(c, np.ndarray))


def setitem(x, index, value):
    """``x[index] = value``, written into ``x``'s own array (its views see it), as in torch.

    Inside a graph it is recorded (torch's CopySlices): the overwritten region gets no gradient
    from ``x``'s later uses, and ``value`` (a tensor) gets the gradient of the region it filled.
    """
    from .inplace import check_tracked_target, rebase, write

    idx, basic = _convert_index(index)
    v = value.data if isinstance(value, Tensor) else value
    if not basic and isinstance(value, Tensor) and value.data.dtype != x.data.dtype:
        raise RuntimeError(f"setitem: Index put requires the source and destination dtypes match, got "
                           f"{x.dtype.name} for the destination and {value.dtype.name} for the source; "
                           f"convert the value with .to({x.dtype.name})")
    tracked = is_grad_enabled() and (x._requires_grad or getattr(value, "_requires_grad", False))
    if tracked:
        check_tracked_target(x, "setitem")
    try:
        write(x, "setitem", v, any_dtype=True, index=idx)
    except IndexError as e:
        raise _index_error(x.data.shape, idx, e) from None
    except ValueError as e:
        raise ValueError(f"setitem: cannot assign a value of shape {np.shape(v)} to the indexed region "
                         f"({e})") from None
    if not tracked:
        return
    region_shape = np.shape(x.data[idx])
    vshape = np.shape(v)

    def backward(g):
        g_old = g.copy()
        g_old[idx] = 0
        if not isinstance(value, Tensor):
            return g_old, None
        return g_old, unbroadcast(np.broadcast_to(g[idx], region_shape), vshape).astype(value.data.dtype, copy=False)

    old = Tensor._wrap(x.data)
    old._requires_grad, old.grad_fn = x._requires_grad, x.grad_fn
    out = attach(Tensor._wrap(x.data), (old, value if isinstance(value, Tensor) else None), backward, "CopySlices",
                 saved=_index_tensors(index, idx))
    rebase(x, out)


Tensor.__getitem__ = getitem
Tensor.__setitem__ = setitem


def _along_dim_index(index, dim):
    """Full numpy index that picks ``index[i, j, ...]`` along ``dim`` at every other coordinate."""
    grids = list(np.ogrid[tuple(slice(n) for n in index.shape)])
    grids[dim] = index
    return tuple(grids)


def _check_index(op, x, dim, index):
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must be an integer tensor, got dtype {index.dtype}")
    if index.ndim != x.data.ndim:
        raise RuntimeError(f"{op}: index has {index.ndim} dims but the tensor has {x.data.ndim} "
                           f"(shape {tuple(x.shape)}); they must match")
    n = x.data.shape[dim]
    if index.size and (index.min() < -n or index.max() >= n):
        bad = index.max() if index.max() >= n else index.min()
        raise IndexError(f"{op}: index {bad} is out of range for dimension {dim} with size {n}")
    for d, (i, s) in enumerate(zip(index.shape, x.data.shape)):
        if d != dim and i > s:
            raise RuntimeError(f"{op}: index size {i} exceeds the tensor's size {s} at dim {d}")


@method
def gather(x, dim, index):
    """out[i][j] = x[i][index[i][j]] for dim=1 (and likewise for any dim)."""
    d = norm_dim(dim, x.data.ndim, "gather")
    ind = index.data if isinstance(index, Tensor) else np.asarray(index)
    _check_index("gather", x, d, ind)
    full_idx = _along_dim_index(ind, d)
    shape = x.data.shape

    def backward(g):
        out = np.zeros(shape, dtype=g.dtype)
        np.add.at(out, full_idx, g)
        return (out,)

    return make(x.data[full_idx], (x,), backward, "Gather", saved=tensors(index))


def take_along_dim(x, indices, dim):
    return gather(x, dim, indices)


@method
def scatter_add(x, dim, index, src):
    """A copy of ``x`` with ``src[i][j]`` added at ``[i][index[i][j]]`` (dim=1); repeats accumulate."""
    d = norm_dim(dim, x.data.ndim, "scatter_add")
    ind = index.data if isinstance(index, Tensor) else np.asarray(index)
    _check_index("scatter_add", x, d, ind)
    same_dtype("scatter_add", x, src=src)
    full_idx = _along_dim_index(ind, d)
    src_region = tuple(slice(n) for n in ind.shape)
    out = x.data.copy()
    np.add.at(out, full_idx, src.data[src_region])
    src_shape = src.data.shape

    def backward(g):
        g_src = np.zeros(src_shape, dtype=g.dtype)
        g_src[src_region] = g[full_idx]
        return g, g_src

    return make(out, (x, src), backward, "ScatterAdd", saved=tensors(index))


@method
def scatter(x, dim, index, src=None, value=None):
    """A copy of ``x`` with ``src`` (or the scalar ``value``) written at ``index`` along ``dim``."""
    d = norm_dim(dim, x.data.ndim, "scatter")
    ind = index.data if isinstance(index, Tensor) else np.asarray(index)
    _check_index("scatter", x, d, ind)
    full_idx = _along_dim_index(ind, d)
    out = x.data.copy()
    if isinstance(src, Tensor):
        same_dtype("scatter", x, src=src)
    else:
        out[full_idx] = src if value is None else value
        return make(out, (x,), lambda g: (_zero_at(g, full_idx),), "Scatter", saved=tensors(index))
    src_region = tuple(slice(n) for n in ind.shape)
    out[full_idx] = src.data[src_region]
    src_shape = src.data.shape

    def backward(g):
        g_src = np.zeros(src_shape, dtype=g.dtype)
        g_src[src_region] = g[full_idx]
        return _zero_at(g, full_idx), g_src

    return make(out, (x, src), backward, "Scatter", saved=tensors(index))


def _zero_at(g, idx):
    g = g.copy()
    g[idx] = 0
    return g


@method
def index_select(x, dim, index):
    d = norm_dim(dim, x.data.ndim, "index_select")
    ind = index.data if isinstance(index, Tensor) else np.asarray(index)
    if ind.dtype.kind not in "iu":
        raise TypeError(f"index_select: index must be an integer tensor, got dtype {ind.dtype}")
    n = x.data.shape[d]
    if ind.size and (ind.min() < 0 or ind.max() >= n):  # torch accepts no negative indices here
        raise IndexError(f"index_select: index {ind.max() if ind.max() >= n else ind.min()} is out of range "
                         f"for dimension {dim} with size {n}; expected 0 <= index < {n}")
    shape = x.data.shape

    def backward(g):
        moved = np.moveaxis(g, d, 0)
        summed = add_rows(shape[d], ind.reshape(-1), moved.reshape((ind.size,) + moved.shape[ind.ndim:]))
        return (np.moveaxis(summed, 0, d),)

    return make(np.take(x.data, ind, axis=d), (x,), backward, "IndexSelect", saved=tensors(index))


@method
def masked_select(x, mask):
    m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    return getitem(x, Tensor._wrap(np.broadcast_to(m, x.data.shape)))


def one_hot(tensor, num_classes=-1):
    """Integer class indices (...,) -> int64 one-hot (..., num_classes)."""
    d = tensor.data
    if d.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expects an integer tensor of class indices, got dtype {d.dtype}")
    if num_classes < 0:
        num_classes = int(d.max()) + 1 if d.size else 0
    if d.size and (d.min() < 0 or d.max() >= num_classes):
        raise RuntimeError(f"one_hot: class values must be in [0, {num_classes}), got min {d.min()} max {d.max()}")
    return Tensor._wrap((d[..., None] == np.arange(num_classes)).astype(np.int64))


@method
def nonzero(x, as_tuple=False):
    nz = np.nonzero(x.data)
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(np.int64)) for i in nz)
    return Tensor._wrap(np.stack(nz, axis=1).astype(np.int64))
