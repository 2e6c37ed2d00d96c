"""MultiheadAttention with torch's parameter layout (in_proj_weight, out_proj) and mask conventions."""
import numpy as np

from ...creation import empty, zeros
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter
from .linear import Linear


class MultiheadAttention(Module):
    """Attention over ``num_heads`` heads of size embed_dim // num_heads.

    Inputs are (L, N, E), or (N, L, E) with ``batch_first=True``. As in torch, a bool
    ``attn_mask``/``key_padding_mask`` marks positions that may NOT be attended (True = masked).
    Returns (output, attention weights averaged over heads or None).
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, batch_first=False, dtype=None):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} must be divisible by num_heads {num_heads}")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.head_dim, self.batch_first = embed_dim // num_heads, batch_first
        self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim, dtype=dtype))
        self.in_proj_bias = Parameter(zeros(3 * embed_dim, dtype=dtype)) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        init.xavier_uniform_(self.in_proj_weight)
        if bias:
            init.zeros_(self.out_proj.bias)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        if not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        n, length, e = query.shape
        if e != self.embed_dim:
            raise ValueError(f"MultiheadAttention: query's embedding dim {e} != embed_dim {self.embed_dim}")
        w, b = self.in_proj_weight, self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else b.chunk(3)
        wq, wk, wv = w.chunk(3)
        q, k, v = (self._heads(F.linear(t, wt, bt)) for t, wt, bt in ((query, wq, bq), (key, wk, bk),
                                                                       (value, wv, bv)))
        scores = q @ k.transpose(-2, -1) * (1.0 / np.sqrt(self.head_dim))
        scores = scores + self._additive_mask(attn_mask, key_padding_mask, is_causal, length, k.shape[-2],
                                              scores.data.dtype)
        weights = F.softmax(scores, dim=-1)
        out = F.dropout(weights, self.dropout, self.training) @ v
        out = out.transpose(1, 2).reshape(n, length, e)
        out = self.out_proj(out)
        if not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        return out, (weights.mean(1) if average_attn_weights else weights)

    def _heads(self, t):
        n, s, _ = t.shape
        return t.reshape(n, s, self.num_heads, self.head_dim).transpose(1, 2)

    @staticmethod
    def _additive_mask(attn_mask, key_padding_mask, is_causal, length, source, dtype):
        """Combine the masks into one float mask of shape (N or 1, 1, L, S): 0 keep, -inf masked."""
        total = np.zeros((1, 1, length, source), dtype=dtype)
        if is_causal and attn_mask is None:
            total = total + np.triu(np.full((length, source), -np.inf, dtype=dtype), 1)
        for mask, shape in ((attn_mask, (1, 1, length, source)), (key_padding_mask, (-1, 1, 1, source))):
            if mask is None:
                continue
            m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
            if m.dtype != np.bool_ and m.dtype != dtype:  # a float mask is added: no silent cast, as in torch
                raise RuntimeError(f"MultiheadAttention: a float mask must have the input's dtype {np.dtype(dtype)}, "
                                   f"got {m.dtype}; pass a bool mask or convert it with .to(...)")
            m = np.where(m, -np.inf, 0).astype(dtype) if m.dtype == np.bool_ else m
            total = total + m.reshape(shape if m.ndim <= 2 else m.shape)
        return Tensor._wrap(total)

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"
