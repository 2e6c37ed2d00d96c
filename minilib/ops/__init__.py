"""Differentiable ops. Importing this package attaches them to :class:`minilib.Tensor` as methods."""
from . import arithmetic, indexing, inplace, pointwise, reduce, shape  # noqa: F401
