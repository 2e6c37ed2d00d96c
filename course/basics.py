"""References and checks for the basics track (lessons 00-03).

A lesson's check cell shows a call, ``check_conv2d_windows(conv2d_windows)``, not the reference: the
reference lives here, and each check is tested against plausible wrong implementations
(``tests/test_wrong_code_basics.py``). Hints name the idea, never the line of code.
"""
import minilib.nn.functional as mF

from .check import check, expect

# lesson 02


def reference_conv2d(x, weight, bias=None, stride=1, padding=0):
    """Cross-correlation of x (N, C, H, W) with weight (O, C, kh, kw): minilib's ``F.conv2d``."""
    return mF.conv2d(x, weight, bias, stride=stride, padding=padding)


# Each case is a way a convolution can be asked for: (what it tests, input shape, weight shape, bias shape or
# None, stride, padding, hint). Several channels in and out, a kernel that is not square and a frame that is
# not square make every axis distinguishable, so a mixed-up axis cannot pass by symmetry.
_CONV_CASES = [
    ("3 -> 4 channels, 3x3, stride 1, no padding", (2, 3, 7, 6), (4, 3, 3, 3), None, 1, 0,
     "each row of the matrix holds one window, its numbers in the order of a flattened kernel "
     "(channel, then kernel row, then kernel column); the output's channels go back to axis 1"),
    ("a 3x2 kernel with a bias", (2, 2, 6, 7), (5, 2, 3, 2), (5,), 1, 0,
     "the kernel's height slides along the image's height and its width along the width; "
     "one bias per output channel, the same at every position"),
    ("padding 1", (1, 3, 5, 6), (2, 3, 3, 3), (2,), 1, 1,
     "pad both the height and the width, on both sides, before taking windows: at stride 1 and padding 1 "
     "a 3x3 kernel keeps the image's size"),
    ("stride 2 with padding 1", (2, 3, 9, 8), (4, 3, 3, 3), (4,), 2, 1,
     "with stride s the windows start s pixels apart, in both directions"),
    ("a 5x5 kernel with padding 2", (1, 2, 6, 7), (3, 2, 5, 5), (3,), 1, 2,
     "pad by the amount asked for, on all four sides"),
]


def check_conv2d_windows(conv2d_windows):
    """``conv2d_windows(x, weight, bias, stride, padding, F)`` against minilib's ``F.conv2d``: values and
    gradients of the input, the weight and the bias, on five shapes (channels, a non-square kernel,
    padding 1 and 2, stride); then once on torch tensors with ``F=torch.nn.functional``."""
    __tracebackhide__ = True
    for what, x, w, b, stride, padding, hint in _CONV_CASES:
        inputs = (x, w) if b is None else (x, w, b)
        check(f"conv2d_windows, {what}", conv2d_windows, reference_conv2d, *inputs, stride=stride,
              padding=padding, hint=hint)
    _check_on_torch(conv2d_windows)


def _check_on_torch(conv2d_windows):
    """The same function on torch tensors, padding with torch's functional module, against torch's conv2d."""
    __tracebackhide__ = True
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    x, w, b = (torch.from_numpy(rng.standard_normal(s).astype(np.float32)) for s in ((2, 3, 7, 6), (4, 3, 3, 3),
                                                                                      (4,)))
    expect("conv2d_windows on torch tensors", lambda: {
        "it agrees with torch's conv2d (padding with the F it is given)": bool(torch.allclose(
            conv2d_windows(x, w, b, stride=2, padding=1, F=torch.nn.functional),
            torch.nn.functional.conv2d(x, w, b, stride=2, padding=1), atol=1e-5))},
        hint="everything inside the function must come from the tensors' own methods or the F it is given")


def reference_max_pool2d(x, k):
    return mF.max_pool2d(x, k)


def reference_avg_pool2d(x, k):
    return mF.avg_pool2d(x, k)


# (input shape, k): a frame that k does not divide leaves its last rows and columns out, as H // k says.
_POOL_CASES = [((2, 3, 8, 6), 2), ((1, 2, 9, 7), 3)]


def check_max_pool2d_windows(max_pool2d_windows):
    """``max_pool2d_windows(x, k)`` against minilib's ``F.max_pool2d(x, k)``, values and gradients, k = 2 and 3."""
    __tracebackhide__ = True
    _check_pool("max_pool2d_windows", max_pool2d_windows, reference_max_pool2d,
                "the windows do not overlap: each k x k window starts k pixels after the last, and the output "
                "keeps the channel axis; take the largest value over both of a window's axes")


def check_avg_pool2d_windows(avg_pool2d_windows):
    """``avg_pool2d_windows(x, k)`` against minilib's ``F.avg_pool2d(x, k)``, values and gradients, k = 2 and 3."""
    __tracebackhide__ = True
    _check_pool("avg_pool2d_windows", avg_pool2d_windows, reference_avg_pool2d,
                "the same non-overlapping k x k windows as max pooling, each replaced by the mean of its k * k "
                "numbers (a mean, not a sum)")


def _check_pool(name, pool, reference, hint):
    __tracebackhide__ = True
    for shape, k in _POOL_CASES:
        check(f"{name}, k = {k}", pool, reference, shape, k, hint=hint)
