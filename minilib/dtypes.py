"""Tensor dtypes: thin named wrappers over numpy dtypes, printed the way torch prints them."""
import numpy as np


class dtype:
    """A minilib dtype such as ``minilib.float32``; ``np`` is the numpy dtype that stores it."""

    __slots__ = ("name", "np", "is_floating_point", "itemsize")

    def __init__(self, name, np_dtype):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = self.np.kind == "f"
        self.itemsize = self.np.itemsize

    def __repr__(self):
        return f"minilib.{self.name}"

    def __reduce__(self):
        return (_by_name, (self.name,))


float16 = dtype("float16", np.float16)
float32 = dtype("float32", np.float32)
float64 = dtype("float64", np.float64)
int32 = dtype("int32", np.int32)
int64 = dtype("int64", np.int64)
uint8 = dtype("uint8", np.uint8)
bool_ = dtype("bool", np.bool_)

half, float, double = float16, float32, float64  # noqa: A001 - torch's aliases
int, long = int32, int64  # noqa: A001
ALL = (float16, float32, float64, int32, int64, uint8, bool_)
_FROM_NP = {d.np: d for d in ALL}
_NAMES = {d.name: d for d in ALL}


def _by_name(name):
    return _NAMES[name]


def from_numpy_dtype(np_dtype):
    """The minilib dtype that stores ``np_dtype``; TypeError naming the supported ones otherwise."""
    try:
        return _FROM_NP[np.dtype(np_dtype)]
    except KeyError:
        names = ", ".join(d.name for d in ALL)
        raise TypeError(f"minilib does not support numpy dtype {np.dtype(np_dtype)}; expected one of {names}") from None


def to_numpy_dtype(d):
    """Accept a minilib dtype, a numpy dtype, or a torch dtype's name and return the numpy dtype."""
    if isinstance(d, dtype):
        return d.np
    name = str(d).replace("torch.", "").replace("minilib.", "")
    if name in _NAMES:
        return _NAMES[name].np
    return from_numpy_dtype(d).np


def promote(a, b):
    """torch's promotion for two numpy dtypes: bool < integers < floats, wider wins within a kind."""
    if a == b:
        return a
    ka, kb = _kind_rank(a), _kind_rank(b)
    if ka != kb:
        return a if ka > kb else b
    return a if a.itemsize >= b.itemsize else b


def _kind_rank(d):
    return {"b": 0, "u": 1, "i": 1, "f": 2}[d.kind]
