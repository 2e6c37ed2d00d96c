"""The GPU comparison: the same computation in PyTorch on the best device, checked and timed.

- :func:`pick_device` — CUDA, else Apple's MPS, else the CPU (with a one-line note); full float32
  precision everywhere (no TF32), so agreement checks print the same on every device.
- :func:`to_torch` — seeded CPU values moved to a device, so every device sees the same numbers.
- :func:`agree` — do two results match within float32 tolerances?
- :func:`time_it` — median wall time with warm-up, synchronising the device before reading the clock.
- :func:`compare_timings` / :func:`plot_timings` — minilib vs torch-CPU vs device across sizes;
  :func:`array_runner` builds the common runner: one function of one seeded random array.
"""
import os
import statistics
import time

import numpy as np

from minilib import interop
from minilib.interop import to_numpy


def _torch():
    import torch

    return torch


def pick_device(verbose=True):
    """The best torch device here: ``cuda``, else ``mps``, else ``cpu`` (printing why).

    It also sets full float32 precision (:func:`full_float32`), so that results agree across devices.
    """
    torch = _torch()
    full_float32(torch)
    if torch.cuda.is_available():
        device = torch.device("cuda")
        if verbose:
            print(f"Using CUDA: {torch.cuda.get_device_name(0)}")
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = torch.device("mps")
        if verbose:
            print("Using Apple's MPS device")
    else:
        device = torch.device("cpu")
        if verbose:
            print("No GPU found: the torch comparisons below run on the CPU (no GPU speed-up to see).")
    return device


def full_float32(torch):
    """Turn TensorFloat-32 off for float32 matmuls and cuDNN convolutions and RNNs.

    On recent NVIDIA GPUs cuDNN convolutions default to TF32 (10 mantissa bits, ~1e-3 relative error),
    which would turn a stored "agrees: True" into False. Torch 2.9+ has one API for this, older torch
    another; mixing the two makes torch raise, so only one is used.
    """
    if hasattr(torch.backends, "fp32_precision"):
        torch.backends.fp32_precision = "ieee"
        for backend in (torch.backends.cuda.matmul, torch.backends.cudnn.conv, torch.backends.cudnn.rnn):
            backend.fp32_precision = "ieee"
    else:  # pragma: no cover - torch < 2.9
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def to_torch(x, device=None, requires_grad=False):
    """A minilib tensor or numpy array as a torch tensor on ``device`` (values made on the CPU first).

    Unlike :func:`minilib.interop.to_torch`, which it calls, the result tracks gradients only when asked.
    """
    return interop.to_torch(x, device, requires_grad=requires_grad)


def agree(a, b, atol=1e-5, rtol=1e-4):
    """True when ``a`` and ``b`` (minilib, torch or numpy) have the same shape and float32-close values."""
    x, y = to_numpy(a), to_numpy(b)
    return x.shape == y.shape and bool(np.allclose(x, y, atol=atol, rtol=rtol))


def synchronize(device):
    torch = _torch()
    kind = getattr(device, "type", str(device))
    if kind == "cuda":
        torch.cuda.synchronize()
    elif kind == "mps":
        torch.mps.synchronize()


def time_it(fn, device="cpu", warmup=2, repeats=5):
    """Median seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs, synchronising ``device``.

    With MINILIB_QUICK_TIMING=1 (set by ``make test``, whose timing outputs nbval ignores) it runs
    ``fn`` once: the cell is still exercised, without spending the suite's time on medians.
    """
    if os.environ.get("MINILIB_QUICK_TIMING") == "1":
        warmup, repeats = 0, 1
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def array_runner(fn, lib, shape, device=None, seed=0):
    """A ``make(size)`` for :func:`compare_timings`: ``fn`` applied to one standard-normal float32 array.

    ``shape(size)`` gives the array's shape; the values come from ``seed`` on the CPU, then become a
    minilib tensor (``lib`` is minilib) or a torch tensor on ``device`` (``lib`` is torch).
    """
    def make(size):
        values = np.random.default_rng(seed).standard_normal(shape(size)).astype(np.float32)
        if getattr(lib, "__name__", "") == "torch":
            x = to_torch(values, device)
        else:
            x = lib.tensor(values)
        return lambda: fn(x)

    return make


def compare_timings(sizes, runners, warmup=2, repeats=5):
    """Time each runner at each size. ``runners``: name -> (make(size) -> zero-arg fn, device).

    Returns rows ``{"size": s, name: milliseconds, ...}``.
    """
    rows = []
    for size in sizes:
        row = {"size": size}
        for name, (make, device) in runners.items():
            row[name] = 1e3 * time_it(make(size), device, warmup, repeats)
        rows.append(row)
    return rows


def format_timings(rows, size="size"):
    """The timing rows as a small text table in milliseconds per call; ``size`` names the first column."""
    names = [k for k in rows[0] if k != "size"]
    widths = [max(len(n) + 2, 12) for n in names]
    first = max(len(size), 8)
    lines = ["milliseconds per call (median)",
             size.rjust(first) + "".join(n.rjust(w) for n, w in zip(names, widths))]
    for r in rows:
        lines.append(str(r["size"]).rjust(first) + "".join(f"{r[n]:{w}.3f}" for n, w in zip(names, widths)))
    return "\n".join(lines)


def plot_timings(rows, title="time per call"):
    """Log-log plot of milliseconds against size, one line per runner; returns the figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    sizes = [r["size"] for r in rows]
    for name in (k for k in rows[0] if k != "size"):
        ax.plot(sizes, [r[name] for r in rows], marker="o", label=name)
    ax.set(xscale="log", yscale="log", xlabel="size", ylabel="milliseconds", title=title)
    ax.legend()
    fig.tight_layout()
    return fig
