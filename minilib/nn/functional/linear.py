"""linear: x @ W^T + b as one graph node, the layer every model in the course is built from."""
from ...ops._common import make, same_dtype
from ...tensor import Tensor


def linear(input, weight, bias=None):  # noqa: A002
    """x @ W^T + b for x (..., in), W (out, in), b (out,) -> (..., out).

    One fused node (as torch's addmm): no transposed-weight node, no separate bias add. Inputs
    of mixed dtypes are refused, as in torch (no silent cast).
    """
    if input.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input's last dim {input.shape[-1]} (shape {tuple(input.shape)}) must equal "
                         f"the weight's in_features {weight.shape[-1]} (weight shape {tuple(weight.shape)})")
    same_dtype("linear", input, weight=weight, bias=bias)
    if not _fusable(input, weight, bias):
        out = input @ weight.T
        return out if bias is None else out + bias
    x, w = input.data, weight.data
    out = x @ w.T
    if bias is not None:
        out += bias.data

    def backward(g):
        g2 = g.reshape(-1, w.shape[0])  # every leading dim is a batch dim for W and b
        gx = g @ w if input._requires_grad else None
        gw = g2.T @ x.reshape(-1, w.shape[1]) if weight._requires_grad else None
        gb = g2.sum(axis=0) if bias is not None and bias._requires_grad else None
        return gx, gw, gb

    saved = ((1,) if input._requires_grad else ()) + ((0,) if weight._requires_grad else ())
    return make(out, (input, weight, bias), backward, "Linear", saved=saved)


def _fusable(x, w, b):
    """Same float dtype everywhere, a 2-D weight and a 1-D bias: the shapes the fused node handles."""
    tensors = (x, w) if b is None else (x, w, b)
    if not all(isinstance(t, Tensor) for t in tensors) or x.data.ndim == 0:
        return False
    same_float = all(t.data.dtype == x.data.dtype for t in tensors) and x.data.dtype.kind == "f"
    return same_float and w.data.ndim == 2 and (b is None or b.data.ndim == 1)
