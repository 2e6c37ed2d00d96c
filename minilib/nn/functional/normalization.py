"""layer_norm and batch_norm with fused backward passes (one node each)."""
import math

import numpy as np

from ..._threads import over_rows
from ...autograd import bump_version
from ...ops._common import make, require_float, same_dtype


def _normalize_backward(g, xhat, rstd, w, axes):
    """dL/dx for y = xhat * w + b, xhat = (x - mean) * rstd, statistics over ``axes``."""
    gx = g if w is None else g * w
    n = math.prod(xhat.shape[a] for a in axes)
    mean_gx = gx.sum(axis=axes, keepdims=True) / n
    mean_gx_xhat = (gx * xhat).sum(axis=axes, keepdims=True) / n
    return rstd * (gx - mean_gx - xhat * mean_gx_xhat)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """Normalise over the trailing ``normalized_shape`` dims, then scale by ``weight`` and shift by ``bias``.

    Rows (everything before the normalised dims) are independent, so they are split across cores.
    """
    require_float(input, "layer_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[input.ndim - len(shape):]) != shape:
        raise ValueError(f"layer_norm: normalized_shape {list(shape)} must match the trailing dims of the input "
                         f"of shape {tuple(input.shape)}")
    same_dtype("layer_norm", input, weight=weight, bias=bias)
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != shape:
            raise ValueError(f"layer_norm: {name} has shape {tuple(p.shape)}, expected {shape}")
    x = np.ascontiguousarray(input.data)
    n = math.prod(shape)
    rows = x.reshape(-1, n)
    w = None if weight is None else weight.data.reshape(n)
    b = None if bias is None else bias.data.reshape(n)
    xhat, out = np.empty_like(rows), np.empty_like(rows)
    rstd = np.empty((len(rows), 1), dtype=x.dtype)

    def forward(lo, hi):
        xh = xhat[lo:hi]
        mean = rows[lo:hi].sum(axis=1, keepdims=True) / n  # np.mean's result without its Python overhead
        np.subtract(rows[lo:hi], mean, out=xh)
        rstd[lo:hi, 0] = 1.0 / np.sqrt(np.einsum("ij,ij->i", xh, xh) / n + eps)
        xh *= rstd[lo:hi]
        if w is None:
            out[lo:hi] = xh
        else:
            np.multiply(xh, w, out=out[lo:hi])
        if b is not None:
            out[lo:hi] += b

    over_rows(forward, len(rows), rows.size)

    def backward(g):
        g2 = g.reshape(rows.shape)  # a view even of broadcast ones
        gw = np.einsum("ij,ij->j", g2, xhat).reshape(shape) if weight is not None and weight._requires_grad else None
        gb = g2.sum(axis=0).reshape(shape) if bias is not None and bias._requires_grad else None
        gx = None
        if input._requires_grad:
            gx = np.empty_like(rows)

            def kernel(lo, hi):  # dx = rstd * (gx - mean(gx) - xhat * mean(gx * xhat)), gx = g * w
                d = gx[lo:hi]
                if w is None:
                    d[...] = g2[lo:hi]
                else:
                    np.multiply(g2[lo:hi], w, out=d)
                proj = np.einsum("ij,ij->i", d, xhat[lo:hi])[:, None] / n
                d -= d.sum(axis=1, keepdims=True) / n
                d -= xhat[lo:hi] * proj
                d *= rstd[lo:hi]

            over_rows(kernel, len(rows), rows.size)
            gx = gx.reshape(x.shape)
        return gx, gw, gb

    return make(out.reshape(x.shape), (input, weight, bias), backward, "NativeLayerNorm",
                saved=() if weight is None else (1,))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,  # noqa: A002
               momentum=0.1, eps=1e-5):
    """Normalise each channel (dim 1) over batch and spatial dims.

    Training: batch statistics, and the running ones updated in place (unbiased variance, as torch).
    Eval: the running statistics.
    """
    require_float(input, "batch_norm")
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input (N, C, ...), got shape {tuple(input.shape)}")
    same_dtype("batch_norm", input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    x = input.data
    c = x.shape[1]
    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, c) + (1,) * (x.ndim - 2)
    for name, p in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if p is not None and tuple(p.shape) != (c,):
            raise ValueError(f"batch_norm: {name} has shape {tuple(p.shape)}, expected ({c},) for {c} channels")
    if training:
        n = x.size // c
        if n <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input "
                             f"of shape {tuple(input.shape)}")
        mean = x.mean(axis=axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
        if running_mean is not None:
            running_mean.data[...] = (1 - momentum) * running_mean.data + momentum * mean.reshape(c)
            bump_version(running_mean.data)
        if running_var is not None:
            running_var.data[...] = (1 - momentum) * running_var.data + momentum * var.reshape(c) * n / (n - 1)
            bump_version(running_var.data)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when training=False")
        mean = running_mean.data.reshape(bshape)
        var = running_var.data.reshape(bshape)
    rstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
    xhat = (x - mean) * rstd
    w = None if weight is None else weight.data.reshape(bshape)
    out = xhat if w is None else xhat * w
    if bias is not None:
        out = out + bias.data.reshape(bshape)

    def backward(g):
        gw = (g * xhat).sum(axis=axes) if weight is not None and weight._requires_grad else None
        gb = g.sum(axis=axes) if bias is not None and bias._requires_grad else None
        gx = None
        if input._requires_grad:
            if training:
                gx = _normalize_backward(g, xhat, rstd, w, axes)
            else:
                gx = g * rstd if w is None else g * rstd * w
        return gx, gw, gb

    return make(out.astype(x.dtype, copy=False), (input, weight, bias), backward, "NativeBatchNorm",
                saved=() if weight is None else (1,))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):  # noqa: A002
    same_dtype("group_norm", input, weight=weight, bias=bias)
    n, c = input.shape[:2]
    if c % num_groups:
        raise ValueError(f"group_norm: {c} channels are not divisible into {num_groups} groups")
    grouped = input.reshape(n, num_groups, -1)
    normed = layer_norm(grouped, grouped.shape[-1:], eps=eps).reshape(input.shape)
    bshape = (1, c) + (1,) * (input.ndim - 2)
    if weight is not None:
        normed = normed * weight.reshape(bshape)
    if bias is not None:
        normed = normed + bias.reshape(bshape)
    return normed
