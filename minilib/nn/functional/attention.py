"""Scaled dot-product attention, composed from differentiable ops."""
import math

import numpy as np

from ...ops._common import same_dtype
from ...tensor import Tensor
from .activations import softmax
from .dropout import dropout


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                                 scale=None):
    """softmax(q k^T * scale + mask) v for q (..., L, E), k (..., S, E), v (..., S, Ev) -> (..., L, Ev).

    ``attn_mask``: bool (True = may attend) or float (added to the scores), broadcast to (..., L, S).
    ``is_causal``: position i attends to positions <= i.
    """
    same_dtype("scaled_dot_product_attention", query, key=key, value=value)
    if attn_mask is not None and attn_mask.dtype.name != "bool":
        same_dtype("scaled_dot_product_attention", query, attn_mask=attn_mask)
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: query {tuple(query.shape)}, key {tuple(key.shape)} and "
                         f"value {tuple(value.shape)} need matching embedding dims (q, k) and lengths (k, v)")
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: pass either attn_mask or is_causal, not both")
    length, source = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ key.transpose(-2, -1)) * scale
    if is_causal:
        attn_mask = Tensor._wrap(np.tril(np.ones((length, source), dtype=bool)))
    if attn_mask is not None:
        if attn_mask.dtype.name == "bool":
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    weights = softmax(scores, dim=-1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p)
    return weights @ value
