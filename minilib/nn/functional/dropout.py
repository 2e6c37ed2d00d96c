"""Dropout: zero units at random during training and rescale the rest by 1/(1-p)."""
import numpy as np

from ... import random as _random
from ...tensor import Tensor


def _check_p(p, op):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p=0.5, training=True, inplace=False, generator=None):  # noqa: A002
    """Inverted dropout: each element kept with probability 1-p and scaled by 1/(1-p); identity in eval."""
    _check_p(p, "dropout")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    keep = _random.bernoulli(Tensor._wrap(np.full(input.data.shape, 1.0 - p, input.data.dtype)), generator=generator)
    return input * keep * (1.0 / (1.0 - p))


def dropout2d(input, p=0.5, training=True, inplace=False, generator=None):  # noqa: A002
    """Channel dropout: zero whole feature maps of (N, C, H, W) (or (C, H, W)) input."""
    _check_p(p, "dropout2d")
    if not training or p == 0.0:
        return input
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected (N, C, H, W) or (C, H, W), got shape {tuple(input.shape)}")
    mask_shape = tuple(input.shape[:-2]) + (1, 1)
    keep = _random.bernoulli(Tensor._wrap(np.full(mask_shape, 1.0 - p, input.data.dtype)), generator=generator)
    return input * keep * (1.0 / (1.0 - p)) if p < 1 else input * 0.0

