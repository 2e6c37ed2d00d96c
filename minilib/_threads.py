"""Row-parallel kernels: numpy releases the GIL inside large ufuncs, so splitting a fused kernel's
rows across a small thread pool uses every core, as torch's intra-op parallelism does.

Results are identical to a serial run: each row is computed by exactly one thread, the same way.
"""
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

MIN_ELEMENTS = 1 << 16  # below this, thread hand-off costs more than it saves
_pool = None  # (helper threads, executor); replaced when MINILIB_NUM_THREADS changes
_pool_lock = threading.Lock()


def _workers():
    """Threads to use: MINILIB_NUM_THREADS if set (the test suite sets 1), else the usable cores."""
    wanted = os.environ.get("MINILIB_NUM_THREADS")
    if wanted:
        if not wanted.isdigit() or int(wanted) < 1:
            raise ValueError(f"MINILIB_NUM_THREADS must be a positive integer, got {wanted!r}")
        return int(wanted)
    return _usable_cores()


@functools.cache
def _usable_cores():
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - macOS/Windows
        return os.cpu_count() or 1


def _helpers(count):
    """The executor with ``count`` helper threads, made (or re-sized) under a lock: two threads asking at
    once get one pool, and a changed MINILIB_NUM_THREADS takes effect on the next call. A replaced pool
    is not shut down under a caller still using it; its idle threads exit once it is garbage."""
    global _pool
    pool = _pool
    if pool is None or pool[0] != count:
        with _pool_lock:
            pool = _pool
            if pool is None or pool[0] != count:
                pool = _pool = (count, ThreadPoolExecutor(max_workers=count, thread_name_prefix="minilib"))
    return pool[1]


def over_rows(kernel, n_rows, n_elements):
    """Call ``kernel(start, stop)`` on contiguous row ranges covering [0, n_rows), in parallel when big."""
    if n_elements < MIN_ELEMENTS or n_rows < 2 or (workers := _workers()) == 1:
        kernel(0, n_rows)
        return
    pool = _helpers(workers - 1)
    parts = min(workers, n_rows)
    bounds = [n_rows * i // parts for i in range(parts + 1)]
    futures = [pool.submit(kernel, a, b) for a, b in zip(bounds[:-2], bounds[1:-1])]
    kernel(bounds[-2], bounds[-1])  # the caller takes the last part instead of waiting idle
    for f in futures:
        f.result()
