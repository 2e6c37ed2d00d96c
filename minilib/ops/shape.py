"""Shape ops: reshape/view, permute/transpose, (un)squeeze, expand/repeat, cat/stack/split, tril."""
import numpy as np

from ..autograd import buffer_of
from ..tensor import Tensor
from ._common import as_tensor, make, method, norm_dim, norm_dims


def _sizes(args):
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike, as torch does."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


@method
def reshape(x, *shape):
    shape = _sizes(shape)
    src = x.data.shape
    try:
        out = x.data.reshape(shape)
    except ValueError:
        raise RuntimeError(f"reshape: shape {list(shape)} is invalid for input of shape {tuple(src)} "
                           f"({x.data.size} elements)") from None
    return make(out, (x,), lambda g: (g.reshape(src),), "Reshape", saved=(), view=True)


@method
def view(x, *shape):
    """The same memory with another shape (or, given a dtype, the same bits read as that dtype)."""
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int, np.integer)):
        return _view_dtype(x, shape[0])
    out = reshape(x, *shape)
    if x.data.size and buffer_of(out.data) is not buffer_of(x.data):
        raise RuntimeError(f"view: view size is not compatible with input tensor's size and stride (shape "
                           f"{tuple(x.shape)} is not contiguous); use .reshape({', '.join(map(str, _sizes(shape)))}) "
                           "instead, which copies when it must")
    return out


def _view_dtype(x, dtype):
    """torch's ``view(dtype)``: reinterpret the bits (no conversion; that is ``to(dtype)``)."""
    from ..dtypes import from_numpy_dtype, to_numpy_dtype

    new = np.dtype(to_numpy_dtype(dtype))
    d = x.data
    if new == d.dtype:
        return reshape(x, d.shape)
    if new.itemsize != d.itemsize:
        what = f"to view {x.dtype.name} as {from_numpy_dtype(new).name} (different element sizes)"
        if d.ndim == 0:
            raise RuntimeError(f"view: self.dim() cannot be 0 {what}")
        if d.strides[-1] != d.itemsize and d.shape[-1] != 1:
            raise RuntimeError(f"view: self.stride(-1) must be 1 {what}, but got {d.strides[-1] // d.itemsize}")
        if new.itemsize > d.itemsize and d.shape[-1] * d.itemsize % new.itemsize:
            raise RuntimeError(f"view: self.size(-1) must be divisible by {new.itemsize // d.itemsize} {what}, "
                               f"but got {d.shape[-1]}")
    return Tensor._wrap(d.view(new))  # not differentiable: the bits mean something else


@method
def view_as(x, other):
    return reshape(x, other.shape)


@method
def reshape_as(x, other):
    return reshape(x, other.shape)


@method
def flatten(x, start_dim=0, end_dim=-1):
    if x.data.ndim == 0:
        return reshape(x, 1)
    s = norm_dim(start_dim, x.data.ndim, "flatten")
    e = norm_dim(end_dim, x.data.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = x.data.shape
    return reshape(x, shape[:s] + (-1 if 0 not in shape else int(np.prod(shape[s:e + 1])),) + shape[e + 1:])


@method
def unflatten(x, dim, sizes):
    d = norm_dim(dim, x.data.ndim, "unflatten")
    return reshape(x, x.data.shape[:d] + tuple(sizes) + x.data.shape[d + 1:])


@method
def permute(x, *dims):
    dims = _sizes(dims)
    perm = tuple(norm_dim(d, x.data.ndim, "permute") for d in dims)
    if sorted(perm) != list(range(x.data.ndim)):
        raise RuntimeError(f"permute: dims {list(dims)} are not a permutation of the {x.data.ndim} dims of a "
                           f"tensor of shape {tuple(x.shape)}")
    inverse = tuple(perm.index(i) for i in range(len(perm)))
    return make(x.data.transpose(perm), (x,), lambda g: (g.transpose(inverse),), "Permute", saved=(), view=True)


@method
def transpose(x, dim0, dim1):
    if x.data.ndim == 0:
        return x
    a = norm_dim(dim0, x.data.ndim, "transpose")
    b = norm_dim(dim1, x.data.ndim, "transpose")
    return make(np.swapaxes(x.data, a, b), (x,), lambda g: (np.swapaxes(g, a, b),), "Transpose", saved=(), view=True)


swapaxes = transpose
Tensor.swapaxes = transpose
Tensor.T = property(lambda self: permute(self, *reversed(range(self.data.ndim))) if self.data.ndim else self)
Tensor.mT = property(lambda self: transpose(self, -2, -1))


def t(x):
    if x.data.ndim > 2:
        raise RuntimeError(f"t: expects a tensor with <= 2 dimensions, got {x.data.ndim} (shape {tuple(x.shape)})")
    return x.T


Tensor.t = t


@method
def unsqueeze(x, dim):
    d = norm_dim(dim, x.data.ndim + 1, "unsqueeze")
    return make(np.expand_dims(x.data, d), (x,), lambda g: (np.squeeze(g, d),), "Unsqueeze", saved=(), view=True)


@method
def squeeze(x, dim=None):
    """Drop size-1 dims (all of them, or ``dim`` if it has size 1; a no-op otherwise, as in torch)."""
    if dim is None:
        axes = tuple(i for i, n in enumerate(x.data.shape) if n == 1)
    else:
        axes = tuple(d for d in norm_dims(dim, x.data.ndim, "squeeze") if x.data.ndim and x.data.shape[d] == 1)
    src = x.data.shape
    return make(np.squeeze(x.data, axes), (x,), lambda g: (g.reshape(src),), "Squeeze", saved=(), view=True)


@method
def expand(x, *sizes):
    """Broadcast to ``sizes`` without copying (-1 keeps a dim); the gradient is summed back."""
    sizes = _sizes(sizes)
    src = x.data.shape
    if len(sizes) < len(src):
        raise RuntimeError(f"expand: the number of sizes {len(sizes)} must be >= the tensor's dims {len(src)}")
    lead = len(sizes) - len(src)
    target = tuple(s if s != -1 else src[i - lead] for i, s in enumerate(sizes))
    for i, n in enumerate(src):
        if n != 1 and n != target[i + lead]:
            raise RuntimeError(f"expand: the expanded size {target[i + lead]} must match the existing size {n} "
                               f"at dim {i + lead} (shape {tuple(src)} -> {list(sizes)}); only size-1 dims expand")
    from ..autograd import unbroadcast

    return make(np.broadcast_to(x.data, target), (x,), lambda g: (unbroadcast(g, src),), "Expand", saved=(),
                view=True)


@method
def expand_as(x, other):
    return expand(x, other.shape)


def broadcast_to(x, shape):
    return expand(x, shape)


Tensor.broadcast_to = broadcast_to


@method
def repeat(x, *repeats):
    """Tile ``x``: ``repeats[i]`` copies along dim i (extra leading repeats add dims)."""
    repeats = _sizes(repeats)
    if len(repeats) < x.data.ndim:
        raise RuntimeError(f"repeat: number of repeat dims {len(repeats)} can not be smaller than the tensor's "
                           f"{x.data.ndim} dims")
    src = (1,) * (len(repeats) - x.data.ndim) + x.data.shape
    out = np.tile(x.data.reshape(src), repeats)

    def backward(g):
        split = [v for r, n in zip(repeats, src) for v in (r, n)]
        return (g.reshape(split).sum(axis=tuple(range(0, 2 * len(src), 2))).reshape(x.data.shape),)

    return make(out, (x,), backward, "Repeat", saved=())


@method
def repeat_interleave(x, repeats, dim=None):
    if dim is None:
        x, dim = x.reshape(-1), 0
    d = norm_dim(dim, x.data.ndim, "repeat_interleave")
    from .indexing import index_select

    idx = np.repeat(np.arange(x.data.shape[d]), repeats)
    return index_select(x, d, Tensor._wrap(idx))


def cat(tensors, dim=0):
    """Join tensors along an existing dim; every other dim must match."""
    tensors = [as_tensor(t, "cat") for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    d = norm_dim(dim, tensors[0].data.ndim, "cat")
    ref = tensors[0].data.shape
    for i, t in enumerate(tensors):
        s = t.data.shape
        if len(s) != len(ref) or s[:d] + s[d + 1:] != ref[:d] + ref[d + 1:]:
            raise RuntimeError(f"cat: sizes of tensors must match except in dimension {dim}; tensor 0 has shape "
                               f"{tuple(ref)} but tensor {i} has shape {tuple(s)}")
    from ..dtypes import promote

    dt = tensors[0].data.dtype
    for t in tensors[1:]:
        dt = promote(dt, t.data.dtype)
    out = np.concatenate([t.data.astype(dt, copy=False) for t in tensors], axis=d)
    bounds = np.cumsum([t.data.shape[d] for t in tensors])[:-1]
    dtypes = [t.data.dtype for t in tensors]
    return make(out, tuple(tensors), lambda g: tuple(p.astype(dt, copy=False) for p, dt in
                                                      zip(np.split(g, bounds, axis=d), dtypes)), "Cat", saved=())


concat = concatenate = cat


def stack(tensors, dim=0):
    """Join same-shaped tensors along a new dim."""
    tensors = [as_tensor(t, "stack") for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if t.data.shape != tensors[0].data.shape:
            raise RuntimeError(f"stack: expects each tensor to be equal size, but got {tuple(tensors[0].shape)} "
                               f"at entry 0 and {tuple(t.shape)} at entry {i}")
    d = norm_dim(dim, tensors[0].data.ndim + 1, "stack")
    return cat([unsqueeze(t, d) for t in tensors], d)


def hstack(tensors):
    return cat(tensors, 1 if tensors[0].ndim > 1 else 0)


def vstack(tensors):
    return cat([t if t.ndim > 1 else t.reshape(1, -1) for t in tensors], 0)


@method
def split(x, split_size_or_sections, dim=0):
    """Chunks of ``split_size`` (the last may be smaller) or of the listed sizes, along ``dim``."""
    d = norm_dim(dim, x.data.ndim, "split")
    n = x.data.shape[d]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
        sizes = [split_size_or_sections] * (n // split_size_or_sections)
        if n % split_size_or_sections:
            sizes.append(n % split_size_or_sections)
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split: split sizes {sizes} sum to {sum(sizes)} but dim {dim} has size {n}")
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    return tuple(narrow(x, d, int(s), int(sz)) for s, sz in zip(starts[:-1], sizes))


@method
def chunk(x, chunks, dim=0):
    n = x.data.shape[norm_dim(dim, x.data.ndim, "chunk")]
    return split(x, max(-(-n // chunks), 1), dim)


@method
def narrow(x, dim, start, length):
    d = norm_dim(dim, x.data.ndim, "narrow")
    index = (slice(None),) * d + (slice(start, start + length),)
    shape = x.data.shape

    def backward(g):
        full = np.zeros(shape, dtype=g.dtype)
        full[index] = g
        return (full,)

    return make(x.data[index], (x,), backward, "Narrow", saved=(), view=True)


@method
def unbind(x, dim=0):
    d = norm_dim(dim, x.data.ndim, "unbind")
    return tuple(squeeze(t, d) for t in split(x, 1, d))


def _triangle(x, diagonal, keep, name):
    if x.data.ndim < 2:
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions, got shape {tuple(x.shape)}")
    rows, cols = x.data.shape[-2:]
    mask = keep(np.ones((rows, cols), dtype=bool), diagonal)
    return make(np.where(mask, x.data, 0).astype(x.data.dtype), (x,), lambda g: (np.where(mask, g, 0),),
                name.capitalize(), saved=())


@method
def tril(x, diagonal=0):
    return _triangle(x, diagonal, np.tril, "tril")


@method
def triu(x, diagonal=0):
    return _triangle(x, diagonal, np.triu, "triu")


@method
def flip(x, *dims):
    dims = norm_dims(_sizes(dims), x.data.ndim, "flip")
    out = np.flip(x.data, dims).copy()  # a copy, as in torch (numpy's flip is a view)
    return make(out, (x,), lambda g: (np.flip(g, dims),), "Flip", saved=())


@method
def roll(x, shifts, dims=None):
    if dims is None:
        src = x.data.shape
        out = np.roll(x.data, shifts)
        return make(out, (x,), lambda g: (np.roll(g, np.negative(shifts)).reshape(src),), "Roll", saved=())
    out = np.roll(x.data, shifts, dims)
    return make(out, (x,), lambda g: (np.roll(g, np.negative(shifts), dims),), "Roll", saved=())


@method
def diagonal(x, offset=0, dim1=0, dim2=1):
    a, b = norm_dim(dim1, x.data.ndim, "diagonal"), norm_dim(dim2, x.data.ndim, "diagonal")
    out = np.diagonal(x.data, offset, a, b)  # a view, as in torch: writing into it writes the diagonal of x
    if x.data.flags.writeable:
        out.flags.writeable = True

    def backward(g):
        full = np.zeros(np.moveaxis(x.data, (a, b), (-2, -1)).shape, dtype=g.dtype)
        i = np.arange(g.shape[-1])
        rows, cols = (i, i + offset) if offset >= 0 else (i - offset, i)
        full[..., rows, cols] = g
        return (np.moveaxis(full, (-2, -1), (a, b)),)

    return make(out, (x,), backward, "Diagonal", saved=(), view=True)


@method
def unfold(x, dimension, size, step):
    """Sliding windows along ``dimension``: a new last dim of ``size``, windows ``step`` apart (a view).

    (N, C, H, W).unfold(2, kh, sh).unfold(3, kw, sw) -> (N, C, Ho, Wo, kh, kw): every conv window.
    """
    d = norm_dim(dimension, x.data.ndim, "unfold")
    n = x.data.shape[d] if x.data.ndim else 1
    if size > n or size <= 0 or step <= 0:
        raise RuntimeError(f"unfold: window size {size} must be in [1, {n}] (the size of dim {dimension}) "
                           f"and step {step} positive")
    from numpy.lib.stride_tricks import sliding_window_view

    index = (slice(None),) * d + (slice(None, None, step),)
    out = sliding_window_view(x.data, size, axis=d)[index]
    count = out.shape[d]
    shape = x.data.shape

    def backward(g):
        full = np.zeros(shape, dtype=g.dtype)
        for k in range(size):  # one strided add per window offset
            target = (slice(None),) * d + (slice(k, k + step * (count - 1) + 1, step),)
            full[target] += g[..., k]
        return (full,)

    return make(out, (x,), backward, "Unfold", saved=(), view=True)
