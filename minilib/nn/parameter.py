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
    """A tensor that a Module registers as a buffer when assigned to one of its attributes (as torch's).

    Buffers are saved in ``state_dict()`` (unless ``persistent=False``), listed by ``named_buffers()``
    and cast by ``module.to(dtype)``, but are not parameters: optimizers never see them.
    ``Buffer(t)`` shares ``t``'s memory, as torch's does.
    """

    __slots__ = ("persistent",)

    def __init__(self, data=None, *, persistent=True):
        arr = np.zeros(0, dtype=np.float32) if data is None else (data.data if isinstance(data, Tensor) else data)
        super().__init__(arr)
        if isinstance(data, Tensor) and data.requires_grad:
            self.requires_grad_(True)
        self.persistent = persistent
