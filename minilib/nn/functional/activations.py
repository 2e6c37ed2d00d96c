"""Activations and the softmax family, each with a fused backward."""
import functools
import math

import numpy as np

from ..._threads import over_rows
from ...ops import pointwise
from ...ops._common import make, norm_dim, require_float

relu = pointwise.relu
sigmoid = pointwise.sigmoid
tanh = pointwise.tanh

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)  # a Python float: a numpy float64 scalar would make float32 results float64


def gelu(x, approximate="none"):
    """x * Phi(x) (exact, erf-based) or its tanh approximation (``approximate='tanh'``)."""
    require_float(x, "gelu")
    xd = x.data
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (xd + 0.044715 * xd ** 3)
        th = np.tanh(inner)
        out = 0.5 * xd * (1 + th)

        def backward(g):
            d_inner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * xd * xd)
            return (g * (0.5 * (1 + th) + 0.5 * xd * (1 - th * th) * d_inner),)
    elif approximate == "none":
        from scipy.special import ndtr

        cdf = ndtr(xd).astype(xd.dtype, copy=False)
        out = xd * cdf

        def backward(g):
            pdf = np.exp(-0.5 * xd * xd) / np.sqrt(2 * np.pi)
            return (g * (cdf + xd * pdf.astype(xd.dtype, copy=False)),)
    else:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return make(out, (x,), backward, "Gelu", saved=(0,))


def silu(x):
    """x * sigmoid(x) (a.k.a. swish)."""
    require_float(x, "silu")
    xd = x.data
    s = pointwise.logistic(xd)
    return make(xd * s, (x,), lambda g: (g * s * (1 + xd * (1 - s)),), "Silu", saved=(0,))


def leaky_relu(x, negative_slope=0.01):
    xd = x.data
    slope = np.where(xd > 0, 1, negative_slope).astype(xd.dtype)
    return make(xd * slope, (x,), lambda g: (g * slope,), "LeakyRelu", saved=())


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold (as torch)."""
    require_float(x, "softplus")
    xd = x.data
    bx = beta * xd
    linear = bx > threshold
    with np.errstate(over="ignore"):
        out = np.where(linear, xd, np.logaddexp(0, bx) / beta)
    s = pointwise.logistic(bx)
    return make(out.astype(xd.dtype), (x,), lambda g: (g * np.where(linear, 1, s),), "Softplus", saved=())


def logsigmoid(x):
    return -softplus(-x)


def softmax(x, dim=None, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``, shifted by the max so large logits cannot overflow."""
    if dtype is not None:
        x = x.to(dtype)
    require_float(x, "softmax")
    d = _softmax_dim(x, dim, "softmax")
    rows, shape = _rows_along(np.ascontiguousarray(x.data), d)
    y = np.empty_like(rows)

    def forward(a, b):
        out = y[a:b]
        out /= exp_rows(rows[a:b], out)

    over_rows(forward, len(rows), rows.size)

    def backward(g):
        g2, gx = _rows_along(g, d)[0], np.empty_like(y)

        def kernel(a, b):  # dx = y * (g - sum(g * y))
            dot = np.einsum("ij,ij->i", g2[a:b], y[a:b])[:, None]
            np.subtract(g2[a:b], dot, out=gx[a:b])
            gx[a:b] *= y[a:b]

        over_rows(kernel, len(y), y.size)
        return (_unrows(gx, shape, d),)

    return make(_unrows(y, shape, d), (x,), backward, "Softmax", saved=(), saves_output=True)


def log_softmax(x, dim=None, dtype=None):
    """x - logsumexp(x) along ``dim``, computed stably; the softmax is kept for the backward."""
    if dtype is not None:
        x = x.to(dtype)
    require_float(x, "log_softmax")
    d = _softmax_dim(x, dim, "log_softmax")
    rows, shape = _rows_along(np.ascontiguousarray(x.data), d)
    y, p = np.empty_like(rows), np.empty_like(rows)

    def forward(a, b):  # always shifted: (x - m) - log(sum) keeps log-probabilities near 0 exact
        out, prob = y[a:b], p[a:b]
        np.subtract(rows[a:b], rows[a:b].max(axis=1, keepdims=True), out=out)
        np.exp(out, out=prob)
        total = prob.sum(axis=1, keepdims=True)
        out -= np.log(total)
        prob /= total

    over_rows(forward, len(rows), rows.size)

    def backward(g):
        g2, gx = _rows_along(g, d)[0], np.empty_like(y)

        def kernel(a, b):  # dx = g - softmax * sum(g)
            np.multiply(p[a:b], g2[a:b].sum(axis=1, keepdims=True), out=gx[a:b])
            np.subtract(g2[a:b], gx[a:b], out=gx[a:b])

        over_rows(kernel, len(y), y.size)
        return (_unrows(gx, shape, d),)

    return make(_unrows(y, shape, d), (x,), backward, "LogSoftmax", saved=())


def exp_rows(rows, out):
    """Fill ``out`` with exp(rows - shift) for (R, C) float rows and return its row sums, (R, 1): softmax's numerator.

    Softmax is unchanged by a per-row shift, and the safe shift is each row's max m: no term can
    overflow, and the largest is exactly 1. A row whose m already lies in [0, log(max float / C))
    needs no shift: exp cannot overflow and its sum is at least 1. When every row is like that,
    the subtraction pass over the whole array is skipped. Each row gets the same bits either way
    (x - 0 is x), so results do not depend on how rows are split across threads.
    Only for probabilities: log-probabilities near 0 need (x - m) - log(sum exp(x - m)), so
    log_softmax and cross_entropy always shift.
    """
    top = rows.max(axis=1, keepdims=True)
    ceiling = _log_max(rows.dtype) - math.log(max(rows.shape[1], 1)) - 1
    fine = (top >= 0) & (top < ceiling)  # a NaN max is not fine, and takes the shift
    if fine.all():
        np.exp(rows, out=out)
    else:
        np.subtract(rows, np.where(fine, 0, top).astype(rows.dtype, copy=False), out=out)
        np.exp(out, out=out)
    return out.sum(axis=1, keepdims=True)


@functools.cache
def _log_max(dtype):
    return math.log(float(np.finfo(dtype).max))


def _rows_along(a, d):
    """``a`` as (rows, n) with dim ``d`` last, and the moved shape.

    A view when the layout allows, a C-ordered copy otherwise. Zero strides survive, so the
    broadcast ones of ``y.sum().backward()`` are read in place instead of being materialised.
    """
    if a.ndim == 0:
        return a.reshape(1, 1), ()
    moved = a if d == a.ndim - 1 else np.moveaxis(a, d, -1)
    return moved.reshape(-1, moved.shape[-1]), moved.shape


def _unrows(a, moved_shape, d):
    out = a.reshape(moved_shape)
    return out if out.ndim in (0, d + 1) else np.moveaxis(out, -1, d)


def _softmax_dim(x, dim, op):
    if dim is None:
        if x.data.ndim in (0, 1, 3):
            dim = 0
        else:
            dim = 1
    return norm_dim(dim, x.data.ndim, op)


def softmin(x, dim=None):
    return softmax(-x, dim)


def glu(x, dim=-1):
    a, b = x.chunk(2, dim)
    return a * b.sigmoid()


def hardtanh(x, min_val=-1.0, max_val=1.0):
    return x.clamp(min_val, max_val)


def elu(x, alpha=1.0):
    xd = x.data
    neg = alpha * np.expm1(np.minimum(xd, 0))
    out = np.where(xd > 0, xd, neg)
    return make(out, (x,), lambda g: (g * np.where(xd > 0, 1, neg + alpha),), "Elu", saved=(0,))
