"""Moving values between minilib and PyTorch: tensors (values and dtype) and module weights."""
import numpy as np

from .autograd import bump_version
from .tensor import Tensor


def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - torch is a lesson/test dependency
        raise ImportError("minilib.interop needs PyTorch: pip install 'minilib-course[lessons]'") from e
    return torch


def to_torch(t, device=None, requires_grad=None):
    """A torch tensor with the values and dtype of ``t`` (a minilib tensor or an array), copied.

    The copy is made on the CPU and then moved to ``device``, so every device sees the same values.
    ``requires_grad`` defaults to ``t``'s own flag (False for an array).
    """
    torch = _torch()
    values = t.data if isinstance(t, Tensor) else np.asarray(t)
    out = torch.from_numpy(np.array(values, copy=True))
    if device is not None:
        out = out.to(device)
    if requires_grad if requires_grad is not None else getattr(t, "requires_grad", False):
        out.requires_grad_(True)
    return out


def to_numpy(x):
    """The values of a minilib tensor, a torch tensor (on any device) or an array, as a numpy array."""
    if isinstance(x, Tensor):
        return x.data
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def from_torch(t, requires_grad=None):
    """A minilib tensor with a torch tensor's values and dtype (copied to the CPU)."""
    out = Tensor._wrap(t.detach().cpu().numpy().copy())
    if requires_grad if requires_grad is not None else t.requires_grad:
        out.requires_grad_(True)
    return out


def to_torch_state_dict(state_dict, device=None):
    """A minilib ``state_dict()`` as torch tensors (copied, same names and dtypes), for torch's ``load_state_dict``.

    The other way needs no helper: minilib's ``load_state_dict`` takes torch tensors as they are.
    """
    return type(state_dict)((name, to_torch(t, device=device, requires_grad=False)) for name, t in state_dict.items())


def copy_weights(src, dst):
    """Copy every parameter and buffer from module ``src`` into ``dst`` (minilib<->torch, either way).

    Names and shapes must match; a RuntimeError lists what does not.
    """
    src_state = src.state_dict()
    dst_state = dst.state_dict()
    missing = sorted(set(dst_state) - set(src_state))
    extra = sorted(set(src_state) - set(dst_state))
    if missing or extra:
        raise RuntimeError(f"copy_weights: parameter names differ; missing in source {missing}, "
                           f"not in destination {extra}")
    torch = _torch()
    for name, target in dst_state.items():
        value = src_state[name]
        value = value.data if isinstance(value, Tensor) else value.detach().cpu().numpy()
        if tuple(value.shape) != tuple(target.shape):
            raise RuntimeError(f"copy_weights: {name} has shape {tuple(value.shape)} in the source but "
                               f"{tuple(target.shape)} in the destination")
        if isinstance(target, Tensor):
            target.data[...] = value
            bump_version(target.data)
        else:
            with torch.no_grad():
                target.copy_(torch.from_numpy(np.array(value, copy=True)))
    return dst
