"""Embedding lookup and one-hot encoding."""
import numpy as np

from ...ops._common import add_rows, make
from ...ops.indexing import one_hot  # noqa: F401  (re-exported as F.one_hot)
from ...tensor import Tensor


def embedding(input, weight, padding_idx=None):  # noqa: A002
    """Rows of ``weight`` (V, D) picked by integer ``input`` (...) -> (..., D); repeats sum their grads."""
    idx = input.data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be an integer tensor (int64), got dtype {idx.dtype}; "
                        "use .long()")
    v = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= v):
        bad = idx.max() if idx.max() >= v else idx.min()
        raise IndexError(f"embedding: index {bad} is out of range for an embedding table of {v} rows")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += v
    w = weight.data

    def backward(g):
        flat = idx.reshape(-1)
        grad = add_rows(len(w), flat, g.reshape(len(flat), -1))
        if padding_idx is not None:
            grad[padding_idx] = 0
        return (grad,)

    return make(w[idx], (weight,), backward, "Embedding", saved=(input,) if isinstance(input, Tensor) else ())
