"""``Parameter``: a tensor that a Module registers as learnable."""
import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor with ``requires_grad=True`` that Modules collect in ``parameters()``."""

    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        arr = np.zeros(0, dtype=np.float32) if data is None else (data.data if isinstance(data, Tensor) else data)
        super().__init__(arr)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a Module attribute."""

    __slots__ = ()
