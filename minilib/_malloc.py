"""Let freed memory be reused instead of returned to the OS, so big temporaries cost no page faults.

numpy allocates every intermediate array afresh. With glibc's defaults, arrays above the mmap
threshold (128 KiB at first) are mapped from the OS and unmapped when freed, so the next array of
the same size faults in every 4 KiB page again. On this course's sizes that made a softmax
forward+backward about 3x slower than the arithmetic itself (measured in a small VM: 8.1 ms vs 2.5 ms).
torch avoids it with its own caching allocator; minilib asks glibc to keep freed blocks below
64 MiB on its heap and not to trim the heap until 256 MiB lie free.

Skipped when MINILIB_MALLOC_TUNING=0, when the user already set glibc's MALLOC_* variables, and
off Linux/glibc. The cost is memory: up to a few hundred MiB may stay reserved by the process.
"""
import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD, TRIM_THRESHOLD = 64 << 20, 256 << 20


def tune_malloc():
    """Apply the thresholds above; returns True when glibc accepted them."""
    if os.environ.get("MINILIB_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    if any(name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # pragma: no cover - musl or another libc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


MALLOC_TUNED = tune_malloc()
