"""``minilib.nn``: Module, Parameter, layers, ``init`` and ``functional`` (as in ``torch.nn``)."""
from . import functional, init, utils  # noqa: F401
from .module import Module
from .modules import *  # noqa: F401,F403
from .parameter import Buffer, Parameter

__all__ = ["Module", "Parameter", "Buffer", "functional", "init", "utils"]
