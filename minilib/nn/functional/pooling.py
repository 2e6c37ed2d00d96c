"""Max and average pooling over strided windows, and adaptive average pooling as two matmuls."""
import numpy as np

from ...ops._common import make, require_float
from ...tensor import Tensor
from .conv import offset_slices, pair, windows


def _geometry(x, kernel_size, stride, padding, dilation, ceil_mode, op):
    """Kernel/stride/padding/dilation pairs, output size and the extra right/bottom pad for ceil_mode."""
    kernel = pair(kernel_size, "kernel_size")
    stride = pair(stride if stride not in (None, []) else kernel, "stride")
    padding, dilation = pair(padding, "padding"), pair(dilation, "dilation")
    sizes, extra = [], []
    for n, k, s, p, d, which in zip(x.shape[-2:], kernel, stride, padding, dilation, ("height", "width")):
        span = d * (k - 1) + 1
        if p > span // 2:
            raise ValueError(f"{op}: padding {p} should be at most half of the effective kernel size {span}")
        if n + 2 * p < span:
            raise ValueError(f"{op}: kernel {which} {k} (dilated span {span}) is larger than the padded input "
                             f"{which} {n} + 2*{p} = {n + 2 * p}")
        o = (n + 2 * p - span + ((s - 1) if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= n + p:
            o -= 1  # the last window must start inside the input or the left padding
        sizes.append(o)
        extra.append(max((o - 1) * s + span - (n + 2 * p), 0))
    return kernel, stride, padding, dilation, tuple(sizes), tuple(extra)


def _padded(xd, padding, extra, value):
    (ph, pw), (eh, ew) = padding, extra
    if not (ph or pw or eh or ew):
        return xd
    return np.pad(xd, ((0, 0), (0, 0), (ph, ph + eh), (pw, pw + ew)), constant_values=value)


def _as_batched(x, fn, *args):
    if x.ndim == 3:
        out = fn(x.unsqueeze(0), *args)
        return tuple(o.squeeze(0) for o in out) if isinstance(out, tuple) else out.squeeze(0)
    if x.ndim != 4:
        raise ValueError(f"{fn.__name__}: expected input (N, C, H, W) or (C, H, W), got shape {tuple(x.shape)}")
    return None


def _offsets(kernel, stride, dilation, out_hw):
    """For each kernel offset, the (N, C, rows, cols) index of the padded input its window cells read."""
    return [(slice(None), slice(None)) + rc for rc in offset_slices(kernel, stride, dilation, out_hw)]


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    """Max over each window: (N, C, H, W) -> (N, C, Ho, Wo); the gradient goes to each window's first max.

    One pass per kernel offset keeps a running max and a boolean "this offset is strictly bigger" mask;
    the backward turns the masks into "holds the first max" masks, latest offset first.
    """
    batched = _as_batched(input, max_pool2d, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    if batched is not None:
        return batched
    require_float(input, "max_pool2d")
    kernel, stride, padding, dilation, out_hw, extra = _geometry(
        input, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d")
    xp = _padded(input.data, padding, extra, -np.inf)
    slices = _offsets(kernel, stride, dilation, out_hw)
    out = xp[slices[0]].copy()
    bigger = []  # bigger[k - 1]: offset k beats every earlier offset of its window
    for sl in slices[1:]:
        candidate = xp[sl]
        bigger.append(np.greater(candidate, out))
        np.maximum(out, candidate, out=out)
    h, w = input.shape[-2:]
    tiles = _tiles_exactly(xp.shape, kernel, stride, dilation, padding, extra)

    def backward(g):
        full = np.empty(xp.shape, dtype=g.dtype) if tiles else np.zeros(xp.shape, dtype=g.dtype)
        for sl, holds in zip(slices, _first_max_masks(bigger, out.shape)):
            if tiles:  # each input cell is in exactly one window: write, no read-modify-write
                np.multiply(g, holds, out=full[sl])
            else:
                full[sl] += g * holds
        return (full[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w],)

    values = make(out, (input,), backward, "MaxPool2D", saved=())
    if not return_indices:
        return values
    arg = np.zeros(out.shape, dtype=np.int64)
    for k, holds in enumerate(_first_max_masks(bigger, out.shape)):
        arg[holds] = k
    ki, kj = np.divmod(arg, kernel[1])
    ho, wo = out_hw
    rows = np.arange(ho)[:, None] * stride[0] + ki * dilation[0] - padding[0]
    cols = np.arange(wo)[None, :] * stride[1] + kj * dilation[1] - padding[1]
    return values, Tensor._wrap(rows * w + cols)


def _first_max_masks(bigger, shape):
    """Per kernel offset, where it holds the window's max: the last offset that beat all before it."""
    taken = np.zeros(shape, dtype=bool)
    masks = []
    for b in reversed(bigger):
        masks.append(b & ~taken)
        taken |= b
    masks.append(~taken)
    return masks[::-1]


def _tiles_exactly(padded_shape, kernel, stride, dilation, padding, extra):
    """True when the windows cover the padded input once each: no overlap, no gaps, no padding."""
    no_pad = not any(padding) and not any(extra)
    dense = stride == kernel and dilation == (1, 1)
    return no_pad and dense and padded_shape[2] % kernel[0] == 0 and padded_shape[3] % kernel[1] == 0


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,  # noqa: A002
               count_include_pad=True, divisor_override=None):
    """Mean over each window; padding counts toward the divisor when ``count_include_pad``."""
    batched = _as_batched(input, avg_pool2d, kernel_size, stride, padding, ceil_mode, count_include_pad,
                          divisor_override)
    if batched is not None:
        return batched
    require_float(input, "avg_pool2d")
    kernel, stride, padding, dilation, out_hw, extra = _geometry(
        input, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
    xp = _padded(input.data, padding, extra, 0.0)
    slices = _offsets(kernel, stride, dilation, out_hw)
    sums = xp[slices[0]].copy()
    for sl in slices[1:]:
        sums += xp[sl]
    divisor = _divisor(input.shape[-2:], kernel, stride, padding, extra, count_include_pad, divisor_override)
    divisor = divisor.astype(input.data.dtype)
    h, w = input.shape[-2:]

    tiles = _tiles_exactly(xp.shape, kernel, stride, dilation, padding, extra)

    def backward(g):
        share = g / divisor
        full = np.empty(xp.shape, dtype=g.dtype) if tiles else np.zeros(xp.shape, dtype=g.dtype)
        for sl in slices:
            if tiles:
                full[sl] = share
            else:
                full[sl] += share
        return (full[:, :, padding[0]:padding[0] + h, padding[1]:padding[1] + w],)

    return make(sums / divisor, (input,), backward, "AvgPool2D", saved=())


def _divisor(hw, kernel, stride, padding, extra, count_include_pad, divisor_override):
    """How many cells each window averages over, as torch counts them."""
    if divisor_override:
        return np.asarray(float(divisor_override))
    counted = np.ones((1, 1) + tuple(hw))
    pad_value = 1.0 if count_include_pad else 0.0
    counted = np.pad(counted, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])),
                     constant_values=pad_value)
    counted = np.pad(counted, ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])))
    return windows(counted, kernel, stride, (1, 1)).sum(axis=(-2, -1))


def _bin_matrix(n_in, n_out, dtype):
    """(n_out, n_in) averaging matrix with torch's adaptive bins [floor(i*n/o), ceil((i+1)*n/o))."""
    i = np.arange(n_out)
    start = (i * n_in) // n_out
    end = -((-(i + 1) * n_in) // n_out)
    cols = np.arange(n_in)
    inside = (cols >= start[:, None]) & (cols < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    """Average into a fixed (Ho, Wo) grid: out = A_h @ x @ A_w^T with torch's bin edges."""
    require_float(input, "adaptive_avg_pool2d")
    if input.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: expected (N, C, H, W) or (C, H, W), got shape {tuple(input.shape)}")
    ho, wo = pair(output_size, "output_size")
    h, w = input.shape[-2:]
    ho, wo = ho or h, wo or w
    a_h = Tensor._wrap(_bin_matrix(h, ho, input.data.dtype))
    a_w = Tensor._wrap(_bin_matrix(w, wo, input.data.dtype).T.copy())
    return a_h @ input @ a_w


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):  # noqa: A002
    s = kernel_size if stride is None else stride
    out = max_pool2d(input.unsqueeze(-2), (1, kernel_size), (1, s), (0, padding), (1, dilation), ceil_mode)
    return out.squeeze(-2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):  # noqa: A002
    s = kernel_size if stride is None else stride
    out = avg_pool2d(input.unsqueeze(-2), (1, kernel_size), (1, s), (0, padding), ceil_mode, count_include_pad)
    return out.squeeze(-2)
