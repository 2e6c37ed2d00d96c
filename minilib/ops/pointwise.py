"""Element-wise functions (exp, log, tanh, relu, clamp, where, …) with their local derivatives."""
import math

import numpy as np

from ..autograd import unbroadcast
from ..tensor import Tensor
from ._common import as_tensor, binary_arrays, broadcast_shape, make, method, require_float, same_dtype, tensors


def logistic(x):
    """1 / (1 + exp(-x)) of a float array, computed in one buffer.

    The other common form, (1 + tanh(x / 2)) / 2, is slower: numpy's float32 tanh takes about
    1.5x its exp. For very negative x, exp(-x) overflows to inf, which rightly gives 0.
    """
    with np.errstate(over="ignore"):
        out = np.negative(x)
        np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def _unary(name, forward, derivative, needs_float=True, reads="x"):
    """Build op ``name``: ``out = forward(x)``, ``dx = g * derivative(x, out)``.

    ``reads``: what the derivative uses, "x", "y" (the output), "xy" or "" (a zero gradient).
    """
    saved, saves_output = ((0,) if "x" in reads else ()), "y" in reads

    def op(x):
        if needs_float and x.data.dtype.kind != "f":
            x = cast(x, np.float32)
        xd = x.data
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = forward(xd)

        def backward(g):
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                return (g * derivative(xd, out),)

        return make(out, (x,), backward, name.capitalize(), saved, saves_output)

    op.__name__ = name
    return method(op)


def _zero_derivative(x, y):
    return np.zeros_like(x)


_LN2 = np.log(2.0)
exp = _unary("exp", np.exp, lambda x, y: y, reads="y")
exp2 = _unary("exp2", np.exp2, lambda x, y: y * _LN2.astype(y.dtype), reads="y")
expm1 = _unary("expm1", np.expm1, lambda x, y: y + 1, reads="y")
log = _unary("log", np.log, lambda x, y: 1 / x)
log2 = _unary("log2", np.log2, lambda x, y: 1 / (x * _LN2.astype(x.dtype)))
log1p = _unary("log1p", np.log1p, lambda x, y: 1 / (1 + x))
sqrt = _unary("sqrt", np.sqrt, lambda x, y: 0.5 / y, reads="y")
rsqrt = _unary("rsqrt", lambda x: 1 / np.sqrt(x), lambda x, y: -0.5 * y / x, reads="xy")
sin = _unary("sin", np.sin, lambda x, y: np.cos(x))
cos = _unary("cos", np.cos, lambda x, y: -np.sin(x))
tanh = _unary("tanh", np.tanh, lambda x, y: 1 - y * y, reads="y")
sigmoid = _unary("sigmoid", lambda x: logistic(x), lambda x, y: y * (1 - y), reads="y")
reciprocal = _unary("reciprocal", lambda x: 1 / x, lambda x, y: -y * y, reads="y")
square = _unary("square", np.square, lambda x, y: 2 * x, needs_float=False)
abs = _unary("abs", np.abs, lambda x, y: np.sign(x), needs_float=False)  # noqa: A001
relu = _unary("relu", lambda x: np.maximum(x, 0), lambda x, y: y > 0, needs_float=False, reads="y")
sign = _unary("sign", np.sign, _zero_derivative, needs_float=False, reads="")
floor = _unary("floor", np.floor, _zero_derivative, needs_float=False, reads="")
ceil = _unary("ceil", np.ceil, _zero_derivative, needs_float=False, reads="")
trunc = _unary("trunc", np.trunc, _zero_derivative, needs_float=False, reads="")
absolute = abs


def _erf(x):
    from scipy.special import erf as scipy_erf  # imported on first use: keeps `import minilib` fast

    return scipy_erf(x).astype(x.dtype, copy=False)


erf = _unary("erf", _erf, lambda x, y: (2 / math.sqrt(math.pi)) * np.exp(-x * x))  # a Python float keeps float32


@method
def round(x, decimals=0):  # noqa: A001
    return make(np.round(x.data, decimals), (x,), lambda g: (np.zeros_like(g),), "Round", saved=())


@method
def cast(x, np_dtype):
    """``x`` as numpy dtype ``np_dtype``; the gradient flows back between float dtypes."""
    np_dtype = np.dtype(np_dtype)
    if x.data.dtype == np_dtype:
        return x
    src = x.data.dtype
    out = Tensor._wrap(x.data.astype(np_dtype))
    if np_dtype.kind != "f":
        return out
    from ..autograd import attach

    return attach(out, (x,), lambda g: (g.astype(src),), "ToCopy", saved=())


@method
def clone(x):
    return make(x.data.copy(), (x,), lambda g: (g,), "Clone", saved=())


@method
def clamp(x, min=None, max=None):  # noqa: A002 - torch's names
    """Limit values to [min, max]; the gradient passes where min <= x <= max (bounds may be tensors)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    out = x
    if min is not None:
        out = _clamp_side(out, min, np.less, "ClampMin")
    if max is not None:
        out = _clamp_side(out, max, np.greater, "ClampMax")
    return out


def _clamp_side(x, bound, beyond, name):
    if isinstance(bound, Tensor):
        return where(beyond(x.data, bound.data), bound, x)
    xd = x.data
    mask = beyond(xd, bound)
    out = np.where(mask, np.asarray(bound, dtype=xd.dtype) if xd.dtype.kind == "f" else bound, xd)
    return make(out.astype(np.result_type(xd, out), copy=False), (x,), lambda g: (g * ~mask,), name, saved=())


clip = clamp
Tensor.clip = clamp


def _minmax(a, b, pick, name):
    a = as_tensor(a, name)
    a, b, ad, bd = binary_arrays(a, as_tensor(b, name, like=a), name)
    broadcast_shape(ad.shape, bd.shape, name)
    out = pick(ad, bd)
    da, db = a.data.dtype, b.data.dtype

    def backward(g):
        wins = np.where(ad == bd, 0.5, (pick(ad, bd) == ad).astype(g.dtype))
        return unbroadcast(g * wins, ad.shape, da), unbroadcast(g * (1 - wins), bd.shape, db)

    return make(out, (a, b), backward, name.capitalize())


@method
def maximum(a, b):
    """Element-wise max; on ties the gradient is split equally, as in torch."""
    return _minmax(a, b, np.maximum, "maximum")


@method
def minimum(a, b):
    return _minmax(a, b, np.minimum, "minimum")


def where(condition, input, other):  # noqa: A002 - torch's names
    """``input`` where ``condition`` is true, else ``other``; both sides broadcast and may be scalars."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got dtype {cond.dtype}")
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError("where: at least one of input and other must be a Tensor")
    a = input if isinstance(input, Tensor) else as_tensor(input, "where", like=other)
    b = other if isinstance(other, Tensor) else as_tensor(other, "where", like=a)
    a, b, ad, bd = binary_arrays(a, b, "where")
    broadcast_shape(np.broadcast_shapes(ad.shape, bd.shape), cond.shape, "where")
    out = np.where(cond, ad, bd)
    da, db = a.data.dtype, b.data.dtype

    def backward(g):
        return (unbroadcast(np.where(cond, g, 0), ad.shape, da),
                unbroadcast(np.where(cond, 0, g), bd.shape, db))

    return make(out, (a, b), backward, "Where", saved=tensors(condition))


Tensor.where = lambda self, condition, other: where(condition, self, other)


@method
def masked_fill(x, mask, value):
    """``x`` with ``value`` wherever the bool ``mask`` (broadcast to x) is true."""
    m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got dtype {m.dtype}")
    if np.broadcast_shapes(m.shape, x.data.shape) != x.data.shape:
        raise ValueError(f"masked_fill: mask of shape {tuple(m.shape)} does not broadcast to the tensor's "
                         f"shape {tuple(x.shape)}")
    value = value.data if isinstance(value, Tensor) else value
    out = np.where(m, np.asarray(value, dtype=x.data.dtype), x.data)
    return make(out, (x,), lambda g: (np.where(m, 0, g),), "MaskedFill", saved=tensors(mask))


def _predicate(name, fn):
    def op(x):
        return Tensor._wrap(fn(x.data))

    op.__name__ = name
    return method(op)


isnan = _predicate("isnan", np.isnan)
isinf = _predicate("isinf", np.isinf)
isfinite = _predicate("isfinite", np.isfinite)


@method
def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    out = np.nan_to_num(x.data, nan=nan, posinf=posinf, neginf=neginf)
    finite = np.isfinite(x.data)
    return make(out, (x,), lambda g: (g * finite,), "NanToNum", saved=())


@method
def lerp(start, end, weight):
    require_float(start, "lerp")
    same_dtype("lerp", start, end=end, weight=weight if isinstance(weight, Tensor) else None)
    return start + (end - start) * weight
