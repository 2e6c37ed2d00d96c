"""Convolution through strided windows and one matmul (im2col), its adjoint col2im, pad/unfold/fold.

No Python loop touches an element, window or pixel: the only loops run over the kernel's
kh*kw offsets when scattering gradients back (col2im), each a whole-array strided add.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ...ops._common import make, require_float, same_dtype
from ...tensor import Tensor


def pair(v, name="value"):
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"expected an int or a pair for {name}, got {v}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def out_size(n, k, stride, pad, dilation, op, which):
    """Output length along one spatial dim; ValueError when the window exceeds the padded input."""
    span = dilation * (k - 1) + 1
    if n + 2 * pad < span:
        raise ValueError(f"{op}: kernel {which} {k} (dilated span {span}) is larger than the padded input "
                         f"{which} {n} + 2*{pad} = {n + 2 * pad}; use a smaller kernel or more padding")
    return (n + 2 * pad - span) // stride + 1


def windows(xp, kernel, stride, dilation):
    """(N, C, Hp, Wp) -> view (N, C, Ho, Wo, kh, kw) of every window, no copy."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    v = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    return v[:, :, ::sh, ::sw, ::dh, ::dw]


def offset_slices(kernel, stride, dilation, out_hw):
    """For each kernel offset (i, j), row-major, the (rows, cols) slices of the padded input it reads,
    one cell per output pixel."""
    (ho, wo), (sh, sw), (dh, dw) = out_hw, stride, dilation
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            yield slice(i * dh, i * dh + sh * (ho - 1) + 1, sh), slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)


def col2im(cols, padded_shape, kernel, stride, dilation):
    """Adjoint of :func:`windows`: sum (N, C, Ho, Wo, kh, kw) window values back into (N, C, Hp, Wp)."""
    out = np.zeros(padded_shape, dtype=cols.dtype)
    for k, (rows, cols_) in enumerate(offset_slices(kernel, stride, dilation, cols.shape[2:4])):
        out[:, :, rows, cols_] += cols[:, :, :, :, k // kernel[1], k % kernel[1]]
    return out


def _pad_spatial(xd, ph, pw, value=0.0):
    if ph == 0 and pw == 0:
        return xd
    return np.pad(xd, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _crop(a, ph, pw):
    return a[:, :, ph:a.shape[2] - ph, pw:a.shape[3] - pw]


def _resolve_padding(padding, kernel, dilation, stride, op):
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride {stride})")
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        if any(t % 2 for t in total):
            raise ValueError(f"{op}: padding='same' needs an even total padding here; kernel {kernel} with "
                             f"dilation {dilation} would need asymmetric padding")
        return tuple(t // 2 for t in total)
    return pair(padding, "padding")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """2-D cross-correlation. input (N, C, H, W) or (C, H, W); weight (O, C/groups, kh, kw) -> (N, O, Ho, Wo).

    Internally channels-last: im2col rows are (kh, kw, C) so the copy reads contiguous channel runs,
    then one matmul per group, whose per-image result lands channels-first. The input gradient is
    computed per kernel offset as a batched matmul and added back with kh*kw whole-array strided adds.
    The copies stay on one thread: splitting them across cores lost time here to BLAS's worker
    threads, which keep spinning for a while after each matmul.
    """
    if input.ndim == 3:
        return conv2d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    require_float(input, "conv2d")
    if input.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"conv2d: expected input (N, C, H, W) and weight (O, C/groups, kh, kw), got shapes "
                         f"{tuple(input.shape)} and {tuple(weight.shape)}")
    same_dtype("conv2d", input, weight=weight, bias=bias)
    x, w = input.data, weight.data
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if c % groups or o % groups:
        raise ValueError(f"conv2d: in_channels {c} and out_channels {o} must both be divisible by groups={groups}")
    if c // groups != cg:
        raise ValueError(f"conv2d: input has {c} channels, so weight of shape {tuple(w.shape)} should have "
                         f"{c // groups} input channels per group (groups={groups}), got {cg}")
    stride, dilation = pair(stride, "stride"), pair(dilation, "dilation")
    ph, pw = _resolve_padding(padding, (kh, kw), dilation, stride, "conv2d")
    ho = out_size(h, kh, stride[0], ph, dilation[0], "conv2d", "height")
    wo = out_size(wd, kw, stride[1], pw, dilation[1], "conv2d", "width")
    windows_nhwc = _im2col_nhwc(x, (kh, kw), stride, dilation, (ph, pw), (ho, wo))
    og, rows = o // groups, n * ho * wo
    cols, wmats, outs = [], [], []
    for gi in range(groups):
        cols.append(windows_nhwc[..., gi * cg:(gi + 1) * cg].reshape(rows, kh * kw * cg))
        wmats.append(w[gi * og:(gi + 1) * og].transpose(0, 2, 3, 1).reshape(og, kh * kw * cg))
        # (Og, K) @ (N, K, Ho*Wo) per image lands channels-first, so the output needs no transpose
        outs.append(wmats[-1] @ cols[-1].reshape(n, ho * wo, -1).transpose(0, 2, 1))
    out = (outs[0] if groups == 1 else np.concatenate(outs, axis=1)).reshape(n, o, ho, wo)
    if bias is not None:
        out += bias.data.reshape(1, o, 1, 1)

    def backward(gr):
        g2 = np.ascontiguousarray(gr.transpose(0, 2, 3, 1)).reshape(rows, o)
        gw = gx = gb = None
        if weight._requires_grad:
            gw = np.concatenate([(g2[:, gi * og:(gi + 1) * og].T @ cols[gi]).reshape(og, kh, kw, cg)
                                 for gi in range(groups)]).transpose(0, 3, 1, 2)
        if input._requires_grad:
            per_offset = [wm.reshape(og, kh * kw, cg).transpose(1, 0, 2) for wm in wmats]  # (kh*kw, Og, Cg)
            gcols = [(g2[None, :, gi * og:(gi + 1) * og] @ per_offset[gi]).reshape(kh * kw, n, ho, wo, cg)
                     for gi in range(groups)]
            gx = _col2im_nhwc(gcols, x.shape, (kh, kw), stride, dilation, (ph, pw))
        if bias is not None and bias._requires_grad:
            gb = gr.sum(axis=(0, 2, 3))
        return gx, gw, gb

    return make(out, (input, weight, bias), backward, "Convolution", saved=(1,))  # the input's windows are a copy


def _im2col_nhwc(x, kernel, stride, dilation, padding, out_hw):
    """(N, C, H, W) -> (N, Ho, Wo, kh, kw, C) windows of the zero-padded channels-last input (one copy)."""
    n, c, h, w = x.shape
    (ph, pw), (sh, sw), (dh, dw) = padding, stride, dilation
    padded = np.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)
    padded[:, ph:ph + h, pw:pw + w] = x.transpose(0, 2, 3, 1)
    span = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    win = sliding_window_view(padded, span, axis=(1, 2))[:, ::sh, ::sw, :, ::dh, ::dw]
    return np.ascontiguousarray(win.transpose(0, 1, 2, 4, 5, 3))


def _col2im_nhwc(gcols, x_shape, kernel, stride, dilation, padding):
    """Adjoint of :func:`_im2col_nhwc` for per-group (kh*kw, N, Ho, Wo, Cg) gradients -> (N, C, H, W).

    One whole-array strided add per kernel offset and group.
    """
    n, c, h, w = x_shape
    (ph, pw), cg = padding, c // len(gcols)
    padded = np.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=gcols[0].dtype)
    for gi, gc in enumerate(gcols):
        for k, (rows, cols) in enumerate(offset_slices(kernel, stride, dilation, gc.shape[2:4])):
            padded[:, rows, cols, gi * cg:(gi + 1) * cg] += gc[k]
    return np.ascontiguousarray(padded[:, ph:ph + h, pw:pw + w].transpose(0, 3, 1, 2))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """1-D cross-correlation: input (N, C, L) or (C, L), weight (O, C/groups, k) -> (N, O, Lo)."""
    if input.ndim == 2:
        return conv1d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    if input.ndim != 3 or weight.ndim != 3:
        raise ValueError(f"conv1d: expected input (N, C, L) and weight (O, C/groups, k), got shapes "
                         f"{tuple(input.shape)} and {tuple(weight.shape)}")
    pad = padding if isinstance(padding, str) else (0, int(padding))
    out = conv2d(input.unsqueeze(2), weight.unsqueeze(2), bias, (1, int(stride)), pad, (1, int(dilation)), groups)
    return out.squeeze(2)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002
    """Sliding local blocks: (N, C, H, W) -> (N, C*kh*kw, L), L = number of windows."""
    if input.ndim != 4:
        raise ValueError(f"unfold: expected a 4-D input (N, C, H, W), got shape {tuple(input.shape)}")
    kernel, stride, dilation = pair(kernel_size, "kernel_size"), pair(stride, "stride"), pair(dilation, "dilation")
    ph, pw = pair(padding, "padding")
    n, c, h, w = input.shape
    out_size(h, kernel[0], stride[0], ph, dilation[0], "unfold", "height")
    out_size(w, kernel[1], stride[1], pw, dilation[1], "unfold", "width")
    xp = _pad_spatial(input.data, ph, pw)
    win = windows(xp, kernel, stride, dilation)
    ho, wo = win.shape[2:4]
    out = win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kernel[0] * kernel[1], ho * wo)

    def backward(g):
        cols = g.reshape(n, c, kernel[0], kernel[1], ho, wo).transpose(0, 1, 4, 5, 2, 3)
        return (_crop(col2im(cols, xp.shape, kernel, stride, dilation), ph, pw),)

    return make(np.ascontiguousarray(out), (input,), backward, "Im2Col", saved=())


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002
    """Inverse layout of unfold, summing overlaps: (N, C*kh*kw, L) -> (N, C, H, W)."""
    kernel, stride, dilation = pair(kernel_size, "kernel_size"), pair(stride, "stride"), pair(dilation, "dilation")
    ph, pw = pair(padding, "padding")
    h, w = pair(output_size, "output_size")
    n, ckk, length = input.shape
    if ckk % (kernel[0] * kernel[1]):
        raise ValueError(f"fold: input's dim 1 ({ckk}) must be divisible by kh*kw = {kernel[0] * kernel[1]}")
    c = ckk // (kernel[0] * kernel[1])
    ho = out_size(h, kernel[0], stride[0], ph, dilation[0], "fold", "height")
    wo = out_size(w, kernel[1], stride[1], pw, dilation[1], "fold", "width")
    if ho * wo != length:
        raise ValueError(f"fold: expected {ho * wo} blocks (L) for output_size {(h, w)}, got {length}")
    padded = (n, c, h + 2 * ph, w + 2 * pw)
    cols = input.data.reshape(n, c, kernel[0], kernel[1], ho, wo).transpose(0, 1, 4, 5, 2, 3)
    out = _crop(col2im(cols, padded, kernel, stride, dilation), ph, pw)

    def backward(g):
        win = windows(_pad_spatial(g, ph, pw), kernel, stride, dilation)
        return (win.transpose(0, 1, 4, 5, 2, 3).reshape(n, ckk, length),)

    return make(np.ascontiguousarray(out), (input,), backward, "Col2Im", saved=())


_NP_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(input, pad, mode="constant", value=0.0):  # noqa: A002
    """Pad the last len(pad)//2 dims; ``pad`` = (last_lo, last_hi, prev_lo, prev_hi, ...), as in torch."""
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: padding {tuple(pad)} must have an even length of at most 2*{input.ndim}")
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if mode == "constant":
        crops = tuple(slice(max(-lo, 0), n + min(hi, 0) if hi < 0 else None)
                      for (lo, hi), n in zip(widths, input.shape))
        grow = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
        out = np.pad(input.data[crops], grow, constant_values=value)
        inner = tuple(slice(lo, lo + s) for (lo, _), s in zip(grow, input.data[crops].shape))

        def backward(g):
            full = np.zeros(input.data.shape, dtype=g.dtype)
            full[crops] = g[inner]
            return (full,)

        return make(out, (input,), backward, "ConstantPad", saved=())
    if mode not in _NP_MODES:
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    for (lo, hi), n in zip(widths, input.shape):
        if mode == "reflect" and max(lo, hi) >= n:
            raise ValueError(f"pad: reflect padding ({lo}, {hi}) must be smaller than the dim's size {n}")
    index = np.ix_(*[np.pad(np.arange(n), w, mode=_NP_MODES[mode]) for w, n in zip(widths, input.shape)])
    return input[tuple(Tensor._wrap(i) for i in index)]
