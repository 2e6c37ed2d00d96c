"""Reductions (sum, mean, var, max, logsumexp, prod, norm, …), sorting and scans, with backward."""
import math
from collections import namedtuple

import numpy as np

from ..tensor import Tensor
from ._common import expand_reduced, make, method, norm_dim, norm_dims, require_float

values_indices = namedtuple("values_indices", ["values", "indices"])


def _axes(x, dim, op):
    """(dims, numpy axis) for a reduction; an empty tuple of dims means all of them, as in torch."""
    dims = norm_dims(dim, x.data.ndim, op) or tuple(range(x.data.ndim))
    return dims, dims


@method
def sum(x, dim=None, keepdim=False, dtype=None):  # noqa: A001 - torch's name
    """Sum over ``dim`` (int, tuple, or None for all); integer and bool tensors sum to int64."""
    dims, axis = _axes(x, dim, "sum")
    xd = x.data
    if dtype is not None:
        from ..dtypes import to_numpy_dtype

        xd = xd.astype(to_numpy_dtype(dtype))
    elif xd.dtype.kind in "biu":
        xd = xd.astype(np.int64)
    out = np.asarray(xd.sum(axis=axis, keepdims=keepdim))
    shape = x.data.shape
    return make(out, (x,), lambda g: (expand_reduced(g, shape, dims, keepdim),), "Sum", saved=())


@method
def mean(x, dim=None, keepdim=False):
    require_float(x, "mean")
    dims, axis = _axes(x, dim, "mean")
    n = math.prod(x.data.shape[d] for d in dims)
    out = np.asarray(x.data.mean(axis=axis, keepdims=keepdim))
    shape = x.data.shape
    return make(out, (x,), lambda g: (expand_reduced(g / n, shape, dims, keepdim),), "Mean", saved=())


@method
def var(x, dim=None, unbiased=None, keepdim=False, correction=None):
    """Variance over ``dim`` with Bessel's ``correction`` (default 1; ``unbiased=False`` means 0)."""
    require_float(x, "var")
    if correction is None:
        correction = 0 if unbiased is False else 1
    dims, axis = _axes(x, dim, "var")
    n = math.prod(x.data.shape[d] for d in dims)
    centered = x.data - x.data.mean(axis=axis, keepdims=True)
    denom = n - correction if n > correction else 0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray((centered * centered).sum(axis=axis, keepdims=keepdim) / denom)
    shape = x.data.shape

    def backward(g):
        with np.errstate(divide="ignore", invalid="ignore"):
            return (expand_reduced(g, shape, dims, keepdim) * (2 / denom) * centered,)

    return make(out.astype(x.data.dtype, copy=False), (x,), backward, "Var", saved=())


@method
def std(x, dim=None, unbiased=None, keepdim=False, correction=None):
    return var(x, dim, unbiased, keepdim, correction).sqrt()


def _even_split_reduce(x, dim, keepdim, pick, name):
    """amax/amin: the gradient is shared equally among tied extremes, as in torch."""
    dims, axis = _axes(x, dim, name)
    if x.data.size == 0:
        raise RuntimeError(f"{name}: cannot reduce an empty tensor (shape {tuple(x.shape)}); "
                           "the operation has no identity")
    xd = x.data
    out = np.asarray(pick(xd, axis=axis, keepdims=keepdim))
    shape = xd.shape

    def backward(g):
        hit = xd == expand_reduced(out, shape, dims, keepdim)
        count = hit.sum(axis=axis, keepdims=True).astype(g.dtype)  # int counts would make a float32 grad float64
        return (expand_reduced(g, shape, dims, keepdim) * hit / count,)

    return make(out, (x,), backward, name.capitalize(), saves_output=True)


@method
def amax(x, dim=None, keepdim=False):
    return _even_split_reduce(x, dim, keepdim, np.max, "amax")


@method
def amin(x, dim=None, keepdim=False):
    return _even_split_reduce(x, dim, keepdim, np.min, "amin")


def _extreme(x, dim, keepdim, arg, name):
    if dim is None:
        return _even_split_reduce(x, None, False, np.max if name == "max" else np.min, name)
    if isinstance(dim, Tensor):
        from .pointwise import maximum, minimum

        return (maximum if name == "max" else minimum)(x, dim)
    d = norm_dim(dim, x.data.ndim, name)
    if x.data.ndim and x.data.shape[d] == 0:
        raise IndexError(f"{name}: cannot take the {name} over dim {dim} of size 0 (shape {tuple(x.shape)})")
    idx = np.expand_dims(arg(x.data, axis=d), d) if x.data.ndim else np.array(0)
    vals = np.take_along_axis(x.data, idx, d) if x.data.ndim else x.data
    shape = x.data.shape

    def backward(g):
        if not x.data.ndim:
            return (g,)
        full = np.zeros(shape, dtype=g.dtype)
        np.put_along_axis(full, idx, g if keepdim else np.expand_dims(g, d), d)
        return (full,)

    values = make(vals if keepdim or not x.data.ndim else vals.squeeze(d), (x,), backward, name.capitalize(),
                  saved=())
    indices = Tensor._wrap(idx if keepdim or not x.data.ndim else idx.squeeze(d))
    return values_indices(values, indices)


@method
def max(x, dim=None, keepdim=False):  # noqa: A001
    """``max()`` -> the largest value; ``max(dim)`` -> (values, indices); ``max(other)`` -> maximum."""
    return _extreme(x, dim, keepdim, np.argmax, "max")


@method
def min(x, dim=None, keepdim=False):  # noqa: A001
    return _extreme(x, dim, keepdim, np.argmin, "min")


def _arg(x, dim, keepdim, fn, name):
    if dim is None:
        return Tensor._wrap(np.asarray(fn(x.data), dtype=np.int64))
    d = norm_dim(dim, x.data.ndim, name)
    return Tensor._wrap(np.asarray(fn(x.data, axis=d, keepdims=keepdim), dtype=np.int64))


@method
def argmax(x, dim=None, keepdim=False):
    return _arg(x, dim, keepdim, np.argmax, "argmax")


@method
def argmin(x, dim=None, keepdim=False):
    return _arg(x, dim, keepdim, np.argmin, "argmin")


@method
def logsumexp(x, dim, keepdim=False):
    """log(sum(exp(x))) over ``dim``, computed stably by shifting by the max."""
    require_float(x, "logsumexp")
    dims, axis = _axes(x, dim, "logsumexp")
    m = np.max(x.data, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    e = np.exp(x.data - m)
    s = e.sum(axis=axis, keepdims=True)
    out_k = np.log(s) + m
    out = out_k if keepdim else np.squeeze(out_k, axis=dims)
    shape = x.data.shape
    return make(out, (x,), lambda g: (expand_reduced(g, shape, dims, keepdim) * (e / s),), "Logsumexp", saved=())


@method
def prod(x, dim=None, keepdim=False):
    """Product over one dim (or all); the gradient is exact even where inputs are zero."""
    xd = x.data
    if dim is None:
        flat = make(xd.reshape(-1), (x,), lambda g: (g.reshape(xd.shape),), "Reshape", saved=(), view=True)
        return prod(flat, 0, keepdim=False)
    d = norm_dim(dim, xd.ndim, "prod")
    out = np.prod(xd, axis=d, keepdims=keepdim)

    def backward(g):
        moved = np.moveaxis(xd, d, -1)
        ones = np.ones_like(moved[..., :1])
        left = np.cumprod(np.concatenate([ones, moved[..., :-1]], -1), -1)
        right = np.cumprod(np.concatenate([ones, moved[..., :0:-1]], -1), -1)[..., ::-1]
        others = np.moveaxis(left * right, -1, d)
        return (expand_reduced(g, xd.shape, (d,), keepdim) * others,)

    return make(np.asarray(out), (x,), backward, "Prod")


@method
def norm(x, p="fro", dim=None, keepdim=False):
    """Vector p-norm over ``dim`` (all elements by default); p in {2/'fro', 1, inf, any float}."""
    require_float(x, "norm")
    if p in ("fro", 2, 2.0):
        dims, axis = _axes(x, dim, "norm")
        xd = x.data
        out = np.asarray(np.sqrt((xd * xd).sum(axis=axis, keepdims=keepdim)))
        shape = xd.shape

        def backward(g):
            full = expand_reduced(out, shape, dims, keepdim)
            with np.errstate(divide="ignore", invalid="ignore"):
                scale = np.where(full == 0, 0, xd / full)
            return (expand_reduced(g, shape, dims, keepdim) * scale,)

        return make(out, (x,), backward, "Norm", saves_output=True)
    if p in (float("inf"), "inf"):
        return x.abs().amax(dim, keepdim)
    if p == 1:
        return x.abs().sum(dim, keepdim)
    return (x.abs() ** p).sum(dim, keepdim) ** (1.0 / p)


@method
def sort(x, dim=-1, descending=False, stable=False):
    """(values, indices) sorted along ``dim``; values carry the gradient back to their positions."""
    d = norm_dim(dim, x.data.ndim, "sort")
    key = -x.data if descending and x.data.dtype != np.bool_ else x.data
    idx = np.argsort(key, axis=d, kind="stable")
    return _gather_sorted(x, idx, d, "Sort")


@method
def topk(x, k, dim=-1, largest=True, sorted=True):  # noqa: A002
    """The ``k`` largest (or smallest) entries along ``dim`` as (values, indices)."""
    d = norm_dim(dim, x.data.ndim, "topk")
    n = x.data.shape[d] if x.data.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: k={k} is out of range for dimension {dim} of size {n}; expected 0 <= k <= {n}")
    key = -x.data if largest else x.data
    idx = np.take(np.argsort(key, axis=d, kind="stable"), np.arange(k), axis=d)
    return _gather_sorted(x, idx, d, "Topk")


def _gather_sorted(x, idx, d, name):
    shape = x.data.shape

    def backward(g):
        full = np.zeros(shape, dtype=g.dtype)
        np.put_along_axis(full, idx, g, d)
        return (full,)

    values = make(np.take_along_axis(x.data, idx, d), (x,), backward, name, saved=())
    return values_indices(values, Tensor._wrap(idx.astype(np.int64)))


@method
def argsort(x, dim=-1, descending=False):
    return sort(x, dim, descending).indices


@method
def cumsum(x, dim):
    d = norm_dim(dim, x.data.ndim, "cumsum")
    xd = x.data.astype(np.int64) if x.data.dtype.kind in "biu" else x.data
    out = np.cumsum(xd, axis=d)
    return make(out, (x,), lambda g: (np.flip(np.cumsum(np.flip(g, d), axis=d), d),), "Cumsum", saved=())


@method
def any(x, dim=None, keepdim=False):  # noqa: A001
    axis = None if dim is None else norm_dim(dim, x.data.ndim, "any")
    return Tensor._wrap(np.asarray(np.any(x.data, axis=axis, keepdims=keepdim)))


@method
def all(x, dim=None, keepdim=False):  # noqa: A001
    axis = None if dim is None else norm_dim(dim, x.data.ndim, "all")
    return Tensor._wrap(np.asarray(np.all(x.data, axis=axis, keepdims=keepdim)))


@method
def count_nonzero(x, dim=None):
    return Tensor._wrap(np.asarray(np.count_nonzero(x.data, axis=dim), dtype=np.int64))
