"""Seeded randomness: ``manual_seed``, ``Generator``, and ``rand/randn/randint/bernoulli/…``.

Every random op draws from a :class:`Generator` (the default one unless ``generator=`` is
given), so a seeded run repeats exactly. Streams are numpy's PCG64, not torch's Philox: the
same seed gives different numbers in torch, so comparisons copy tensors or masks across.
"""
import numpy as np

from .creation import _finish, _shape
from .dtypes import to_numpy_dtype
from .tensor import Tensor


class Generator:
    """A random stream: ``g = Generator().manual_seed(0)`` then ``randn(3, generator=g)``."""

    def __init__(self, device="cpu"):
        self._seed = 0
        self._rng = np.random.Generator(np.random.PCG64(0))

    def manual_seed(self, seed):
        self._seed = int(seed)
        self._rng = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def initial_seed(self):
        return self._seed

    def get_state(self):
        return self._rng.bit_generator.state

    def set_state(self, state):
        self._rng.bit_generator.state = state
        return self


default_generator = Generator()


def manual_seed(seed):
    """Seed the default generator (and numpy's legacy global one, for lessons that use it)."""
    np.random.seed(int(seed) % 2**32)
    return default_generator.manual_seed(seed)


def seed():
    s = int(np.random.SeedSequence().entropy % 2**63)
    default_generator.manual_seed(s)
    return s


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state):
    default_generator.set_state(state)


def _gen(generator):
    return (generator or default_generator)._rng


def _float(dtype):
    np_dtype = to_numpy_dtype(dtype) if dtype is not None else np.dtype(np.float32)
    if np_dtype.kind != "f":
        raise TypeError(f"random: expected a floating point dtype, got {np_dtype}")
    return np_dtype


def rand(*size, generator=None, dtype=None, requires_grad=False, device=None):
    """Uniform on [0, 1)."""
    dt = _float(dtype)
    arr = _gen(generator).random(_shape(size), dtype=np.float64 if dt == np.float16 else dt).astype(dt)
    return _finish(Tensor._wrap(arr), requires_grad, device)


def randn(*size, generator=None, dtype=None, requires_grad=False, device=None):
    """Standard normal."""
    dt = _float(dtype)
    arr = _gen(generator).standard_normal(_shape(size), dtype=np.float64 if dt == np.float16 else dt).astype(dt)
    return _finish(Tensor._wrap(arr), requires_grad, device)


def randint(low, high=None, size=(), generator=None, dtype=None, device=None):
    """Integers in [low, high)."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: expected low < high, got low={low}, high={high}")
    arr = _gen(generator).integers(low, high, _shape((size,)))
    return _finish(Tensor._wrap(arr.astype(to_numpy_dtype(dtype) if dtype is not None else np.int64)), False, device)


def randperm(n, generator=None, dtype=None, device=None):
    arr = _gen(generator).permutation(n)
    return _finish(Tensor._wrap(arr.astype(to_numpy_dtype(dtype) if dtype is not None else np.int64)), False, device)


def rand_like(t, generator=None, dtype=None):
    return rand(t.shape, generator=generator, dtype=dtype or t.dtype)


def randn_like(t, generator=None, dtype=None):
    return randn(t.shape, generator=generator, dtype=dtype or t.dtype)


def normal(mean, std, size=None, generator=None):
    """Samples with the given mean and std (tensors broadcast, or floats with ``size``)."""
    m = mean.data if isinstance(mean, Tensor) else mean
    s = std.data if isinstance(std, Tensor) else std
    shape = _shape((size,)) if size is not None else np.broadcast_shapes(np.shape(m), np.shape(s))
    dt = next((t.data.dtype for t in (mean, std) if isinstance(t, Tensor)), np.dtype(np.float32))
    return Tensor._wrap((m + s * _gen(generator).standard_normal(shape)).astype(dt))


def bernoulli(p, generator=None):
    """1.0 with probability ``p`` (elementwise), else 0.0; same dtype as ``p``."""
    pd = p.data if isinstance(p, Tensor) else np.asarray(p, dtype=np.float32)
    if pd.size and (pd.min() < 0 or pd.max() > 1):
        raise ValueError(f"bernoulli: probabilities must be in [0, 1], got min {pd.min()} max {pd.max()}")
    return Tensor._wrap((_gen(generator).random(pd.shape) < pd).astype(pd.dtype))


def multinomial(probs, num_samples, replacement=False, generator=None):
    """Indices drawn from each row of (unnormalised, non-negative) ``probs``: (n,) or (rows, n)."""
    w = probs.data.astype(np.float64)
    if w.ndim not in (1, 2):
        raise ValueError(f"multinomial: probs must be 1-D or 2-D, got shape {tuple(probs.shape)}")
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("multinomial: probabilities must be finite and non-negative")
    rows = w.reshape(-1, w.shape[-1])
    if (rows.sum(-1) <= 0).any():
        raise ValueError("multinomial: every row of probs needs a positive sum")
    if not replacement and num_samples > (rows > 0).sum(-1).min():
        raise RuntimeError(f"multinomial: cannot draw {num_samples} samples without replacement from a row "
                           f"with only {(rows > 0).sum(-1).min()} non-zero probabilities")
    rng = _gen(generator)
    out = np.stack([rng.choice(len(r), num_samples, replace=replacement, p=r / r.sum()) for r in rows])
    return Tensor._wrap(out.reshape(w.shape[:-1] + (num_samples,)).astype(np.int64))
