"""Making tensors: ``tensor``, ``zeros``, ``arange``, ``eye``, the ``*_like`` family, …"""
import numpy as np

from .dtypes import to_numpy_dtype
from .tensor import Tensor


def _to_array(data, dtype):
    """``data`` (nested lists, scalars, numpy arrays, tensors) as a numpy array with torch's default dtypes."""
    if isinstance(data, Tensor):
        arr = data.data
    elif isinstance(data, (list, tuple)) and data and any(isinstance(d, Tensor) for d in _flat(data)):
        arr = np.array([_to_array(d, None) for d in data])
    else:
        arr = np.asarray(data)
    if dtype is not None:
        return np.array(arr, dtype=to_numpy_dtype(dtype))
    if arr.dtype == np.float64 and not isinstance(data, (np.ndarray, np.generic, Tensor)):
        arr = arr.astype(np.float32)  # Python floats become float32, as in torch
    elif arr.dtype.kind in "iu" and arr.dtype not in (np.int64, np.int32, np.uint8):
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "fiub":
        raise TypeError(f"tensor: can't build a tensor from {type(data).__name__} with numpy dtype {arr.dtype}; "
                        "expected numbers, bools, nested lists of them, or a numpy array")
    from .dtypes import from_numpy_dtype

    from_numpy_dtype(arr.dtype)
    return arr


def _flat(data):
    for d in data:
        if isinstance(d, (list, tuple)):
            yield from _flat(d)
        else:
            yield d


def tensor(data, dtype=None, requires_grad=False, device=None):
    """A new tensor holding a copy of ``data``; floats default to float32, ints to int64."""
    t = Tensor._wrap(np.array(_to_array(data, dtype), copy=True))
    return _finish(t, requires_grad, device)


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but shares memory with a numpy array when the dtype allows."""
    if isinstance(data, Tensor) and dtype is None:
        return data
    return _finish(Tensor._wrap(_to_array(data, dtype)), False, device)


def from_numpy(array):
    """A tensor sharing memory with ``array`` and keeping its dtype."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    from .dtypes import from_numpy_dtype

    from_numpy_dtype(array.dtype)
    return Tensor._wrap(array)


def _finish(t, requires_grad, device):
    if device is not None:
        from .tensor import device as _device

        _device(device)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"size: expected non-negative integer sizes, got {list(size)}")
    return tuple(int(s) for s in size)


def _filled(fn, size, dtype, requires_grad, device=None):
    np_dtype = to_numpy_dtype(dtype) if dtype is not None else np.float32
    return _finish(Tensor._wrap(fn(_shape(size), dtype=np_dtype)), requires_grad, device)


def zeros(*size, dtype=None, requires_grad=False, device=None):
    return _filled(np.zeros, size, dtype, requires_grad, device)


def ones(*size, dtype=None, requires_grad=False, device=None):
    return _filled(np.ones, size, dtype, requires_grad, device)


def empty(*size, dtype=None, requires_grad=False, device=None):
    return _filled(np.zeros, size, dtype, requires_grad, device)


def full(size, fill_value, dtype=None, requires_grad=False, device=None):
    if dtype is None:
        dtype = np.asarray(_to_array(fill_value, None)).dtype
    return _finish(Tensor._wrap(np.full(_shape((size,)), fill_value, dtype=to_numpy_dtype(dtype))),
                   requires_grad, device)


def _like(fn):
    def like(t, dtype=None, requires_grad=False, device=None):
        return fn(t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad, device=device)

    return like


zeros_like, ones_like, empty_like = _like(zeros), _like(ones), _like(empty)


def full_like(t, fill_value, dtype=None, requires_grad=False):
    return full(t.shape, fill_value, dtype=dtype or t.dtype, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False, device=None):
    """[start, end) in steps; int64 for integer arguments, float32 otherwise (as in torch)."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if ints else np.float32
    return _finish(Tensor._wrap(np.arange(start, end, step).astype(to_numpy_dtype(dtype))), requires_grad, device)


def linspace(start, end, steps, dtype=None, requires_grad=False, device=None):
    arr = np.linspace(start, end, steps).astype(to_numpy_dtype(dtype) if dtype is not None else np.float32)
    return _finish(Tensor._wrap(arr), requires_grad, device)


def eye(n, m=None, dtype=None, requires_grad=False, device=None):
    arr = np.eye(n, m, dtype=to_numpy_dtype(dtype) if dtype is not None else np.float32)
    return _finish(Tensor._wrap(arr), requires_grad, device)


def is_tensor(x):
    return isinstance(x, Tensor)


def numel(x):
    return x.numel()
