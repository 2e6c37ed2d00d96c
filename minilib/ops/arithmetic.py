"""Arithmetic with broadcasting: + - * / ** @, their reflected forms, comparisons and logic.

Each op's backward sits beside its forward and sums gradients back over broadcast dims.
"""
import numpy as np

from ..autograd import unbroadcast
from ..tensor import Tensor
from ._common import as_tensor, binary_arrays, broadcast_shape, make, method, same_dtype


def _bin(a, b, op):
    a = as_tensor(a, op)
    a, b, ad, bd = binary_arrays(a, b, op)
    if b is not None and ad.shape != bd.shape:
        broadcast_shape(ad.shape, bd.shape, op)
    return a, b, ad, bd


def _dtypes(a, b):
    """The inputs' own dtypes, for casting gradients back after promotion (None for a Python number)."""
    return a.data.dtype, (b.data.dtype if b is not None else None)


@method
def add(a, b, alpha=1):
    a, b, ad, bd = _bin(a, b, "add")
    if alpha != 1:
        bd = bd * alpha
    sa, sb = ad.shape, np.shape(bd)
    da, db = _dtypes(a, b)

    def backward(g):
        return unbroadcast(g, sa, da), (unbroadcast(g * alpha if alpha != 1 else g, sb, db) if b is not None else None)

    return make(ad + bd, (a, b), backward, "Add", saved=())


@method
def sub(a, b, alpha=1):
    a, b, ad, bd = _bin(a, b, "sub")
    if alpha != 1:
        bd = bd * alpha
    sa, sb = ad.shape, np.shape(bd)
    da, db = _dtypes(a, b)

    def backward(g):
        gb = unbroadcast(-g * alpha if alpha != 1 else -g, sb, db) if b is not None else None
        return unbroadcast(g, sa, da), gb

    return make(ad - bd, (a, b), backward, "Sub", saved=())


def _needs(a, b):
    """What a product's backward reads: ``b`` for ``a``'s gradient, ``a`` for ``b``'s."""
    if b is None:
        return ()
    return ((1,) if a._requires_grad else ()) + ((0,) if b._requires_grad else ())


@method
def mul(a, b):
    a, b, ad, bd = _bin(a, b, "mul")
    da, db = _dtypes(a, b)

    def backward(g):
        ga = unbroadcast(g * bd, ad.shape, da) if a._requires_grad else None
        gb = unbroadcast(g * ad, np.shape(bd), db) if b is not None and b._requires_grad else None
        return ga, gb

    return make(ad * bd, (a, b), backward, "Mul", saved=_needs(a, b))


@method
def div(a, b):
    a, b, ad, bd = _bin(a, b, "div")
    if ad.dtype.kind != "f":  # torch's / is true division: integers give float32
        ad = ad.astype(np.float32)
        bd = np.asarray(bd, dtype=np.float32)
    out = ad / bd
    da, db = _dtypes(a, b)

    def backward(g):
        ga = unbroadcast(g / bd, ad.shape, da) if a._requires_grad else None
        gb = unbroadcast(-g * ad / (bd * bd), np.shape(bd), db) if b is not None and b._requires_grad else None
        return ga, gb

    saved = () if b is None else (0, 1) if b._requires_grad else (1,)
    return make(out, (a, b), backward, "Div", saved=saved)


@method
def pow(a, b):  # noqa: A001 - torch's name
    a, b, ad, bd = _bin(a, b, "pow")
    if ad.dtype.kind != "f" and np.any(np.asarray(bd) < 0):
        raise ValueError("pow: integers to negative integer powers are not allowed; use a float tensor")
    out = ad ** bd
    da, db = _dtypes(a, b)

    def backward(g):
        ga = gb = None
        if a._requires_grad:
            if b is None and bd == 0:
                ga = np.zeros_like(ad)
            else:
                ga = unbroadcast(g * bd * ad ** (bd - 1), ad.shape, da)
        if b is not None and b._requires_grad:
            with np.errstate(divide="ignore", invalid="ignore"):
                logs = np.where(ad > 0, np.log(np.where(ad > 0, ad, 1)), np.where(ad == 0, 0, np.nan)).astype(
                    out.dtype, copy=False)
            gb = unbroadcast(g * out * logs, bd.shape, db)
        return ga, gb

    b_grad = b is not None and b._requires_grad
    return make(out, (a, b), backward, "Pow", saved=(0, 1) if b is not None else (0,), saves_output=b_grad)


def _rpow(b, a):
    """``scalar ** tensor``: the exponent is the tensor."""
    a = as_tensor(a, "pow", like=b)
    return pow(a, b)


@method
def neg(a):
    return make(-a.data, (a,), lambda g: (-g,), "Neg", saved=())


@method
def matmul(a, b):
    """(..., n, k) @ (..., k, m) -> (..., n, m), batch dims broadcast; 1-D operands as in torch."""
    a, b = as_tensor(a, "matmul"), as_tensor(b, "matmul")
    same_dtype("matmul", a, other=b)
    ad, bd = a.data, b.data
    if ad.ndim == 0 or bd.ndim == 0:
        raise RuntimeError(f"matmul: both arguments need at least 1 dimension, got shapes "
                           f"{tuple(ad.shape)} and {tuple(bd.shape)}")
    k_b = bd.shape[0] if bd.ndim == 1 else bd.shape[-2]
    if ad.shape[-1] != k_b:
        raise RuntimeError(f"matmul: shapes {tuple(ad.shape)} and {tuple(bd.shape)} cannot be multiplied "
                           f"({ad.shape[-1]} columns in the first vs {k_b} rows in the second)")
    if ad.ndim > 2 and bd.ndim > 2:
        broadcast_shape(ad.shape[:-2], bd.shape[:-2], "matmul (batch dims)")
    out = ad @ bd

    def backward(g):
        if ad.ndim == 1 and bd.ndim == 1:  # dot product
            return g * bd, g * ad
        a2 = ad if ad.ndim > 1 else ad[None, :]
        b2 = bd if bd.ndim > 1 else bd[:, None]
        g2 = g
        if ad.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if bd.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        ga = gb = None
        if a._requires_grad:
            ga = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(ad.shape)
        if b._requires_grad:
            gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(bd.shape)
        return ga, gb

    return make(out, (a, b), backward, "Mm", saved=_needs(a, b))


mm = bmm = matmul


# --------------------------------------------------------------------- no-gradient arithmetic
def _nograd(fn, name):
    def op(a, b):
        a = as_tensor(a, name)
        a, b, ad, bd = binary_arrays(a, b, name)
        if b is not None and ad.shape != bd.shape:
            broadcast_shape(ad.shape, bd.shape, name)
        return Tensor._wrap(np.asarray(fn(ad, bd)))

    op.__name__ = name
    return method(op)


@method
def floor_divide(a, b):
    """floor(a / b); its gradient is zero (torch records it too, so float results require grad)."""
    a, b, ad, bd = _bin(a, b, "floor_divide")
    sa, sb = ad.shape, np.shape(bd)
    da, db = _dtypes(a, b)

    def backward(g):
        return np.zeros(sa, da), (np.zeros(sb, db) if b is not None else None)

    return make(np.asarray(np.floor_divide(ad, bd)), (a, b), backward, "FloorDivide", saved=())


@method
def remainder(a, b):
    """a - floor(a / b) * b, with b's sign (Python's %); d/da = 1, d/db = -floor(a / b)."""
    a, b, ad, bd = _bin(a, b, "remainder")
    da, db = _dtypes(a, b)

    def backward(g):
        gb = None
        if b is not None and b._requires_grad:
            gb = unbroadcast(-g * np.floor_divide(ad, bd), np.shape(bd), db)
        return unbroadcast(g, ad.shape, da), gb

    return make(np.asarray(np.mod(ad, bd)), (a, b), backward, "Remainder", saved=(0, 1) if b is not None else ())


eq = _nograd(np.equal, "eq")
ne = _nograd(np.not_equal, "ne")
lt = _nograd(np.less, "lt")
le = _nograd(np.less_equal, "le")
gt = _nograd(np.greater, "gt")
ge = _nograd(np.greater_equal, "ge")
logical_and = _nograd(np.logical_and, "logical_and")
logical_or = _nograd(np.logical_or, "logical_or")
logical_xor = _nograd(np.logical_xor, "logical_xor")
bitwise_and = _nograd(np.bitwise_and, "bitwise_and")
bitwise_or = _nograd(np.bitwise_or, "bitwise_or")
bitwise_xor = _nograd(np.bitwise_xor, "bitwise_xor")
greater, less, greater_equal, less_equal, not_equal = gt, lt, ge, le, ne


@method
def logical_not(a):
    return Tensor._wrap(np.logical_not(a.data))


@method
def bitwise_not(a):
    return Tensor._wrap(np.invert(a.data))


@method
def equal(a, b):
    """True when both tensors have the same shape and values."""
    return a.shape == b.shape and bool(np.array_equal(a.data, b.data))


@method
def allclose(a, b, rtol=1e-5, atol=1e-8, equal_nan=False):
    b = as_tensor(b, "allclose")
    return bool(np.allclose(a.data, b.data, rtol=rtol, atol=atol, equal_nan=equal_nan))


@method
def isclose(a, b, rtol=1e-5, atol=1e-8, equal_nan=False):
    b = as_tensor(b, "isclose")
    return Tensor._wrap(np.isclose(a.data, b.data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def _reflect(fn):
    return lambda self, other: fn(as_tensor(other, fn.__name__, like=self), self)


Tensor.__add__ = add
Tensor.__radd__ = add
Tensor.__sub__ = sub
Tensor.__rsub__ = _reflect(sub)
Tensor.__mul__ = mul
Tensor.__rmul__ = mul
Tensor.__truediv__ = div
Tensor.__rtruediv__ = _reflect(div)
Tensor.__pow__ = pow
Tensor.__rpow__ = _rpow
Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = _reflect(matmul)
Tensor.__neg__ = neg
Tensor.__pos__ = lambda self: self
Tensor.__floordiv__ = floor_divide
Tensor.__rfloordiv__ = _reflect(floor_divide)
Tensor.__mod__ = remainder
Tensor.__eq__ = eq
Tensor.__ne__ = ne
Tensor.__lt__ = lt
Tensor.__le__ = le
Tensor.__gt__ = gt
Tensor.__ge__ = ge
Tensor.__and__ = Tensor.__rand__ = bitwise_and
Tensor.__or__ = Tensor.__ror__ = bitwise_or
Tensor.__xor__ = Tensor.__rxor__ = bitwise_xor
Tensor.__invert__ = bitwise_not
Tensor.mm = Tensor.bmm = matmul
Tensor.true_divide = Tensor.divide = div
Tensor.multiply, Tensor.subtract = mul, sub
