"""References and checks for the basics track (lessons 00-03).

A lesson's check cell shows a call, ``check_conv2d_windows(conv2d_windows)``, not the reference: the
reference lives here, and each check is tested against plausible wrong implementations
(``tests/test_wrong_code_basics.py``). Hints name the idea, never the line of code.
"""
import math

import numpy as np

import minilib as ml
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


# lesson 03


def reference_attention(q, k, v, mask=None):
    """softmax(q kᵀ / √d, hidden keys at −∞) over the keys, then the weighted sum of the values.

    q (..., L, d), k (..., S, d), v (..., S, dv); mask bool, broadcastable to (..., L, S), True where a
    query may look at a key. Returns (output (..., L, dv), weights (..., L, S)); the output is minilib's
    ``F.scaled_dot_product_attention``.
    """
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return mF.scaled_dot_product_attention(q, k, v, attn_mask=mask), mF.softmax(scores, dim=-1)


def _mask(rows):
    """A bool minilib tensor from nested lists of 0/1."""
    return ml.tensor(np.array(rows, dtype=bool))


# Each case: (what it tests, q, k, v shapes, mask or None). Queries and keys of different lengths (L != S) and
# values of another width than the keys (dv != d) make every axis and the scale's d distinguishable.
_ATTENTION_CASES = [
    ("no mask, 5 queries, 6 keys", (2, 5, 4), (2, 6, 4), (2, 6, 3), None),
    ("a causal mask over 2 heads", (2, 2, 5, 8), (2, 2, 5, 8), (2, 2, 5, 6),
     _mask(np.tril(np.ones((5, 5))))),
    ("a mask per sequence (its last keys hidden)", (2, 4, 4), (2, 6, 4), (2, 6, 3),
     _mask([[[1, 1, 1, 1, 1, 1]], [[1, 1, 1, 1, 0, 0]]])),
]

_ATTENTION_HINT = ("the scores compare each query with each key, divided by the square root of the length d of "
                   "a query (and key) vector; the softmax runs over the keys, so each query's weights sum to 1")
_MASK_HINT = ("a hidden key must end with weight exactly 0 while each query's weights over the keys it may see "
              "still sum to 1: hide it before the softmax, where the mask is False (True means 'may look')")


def check_attention(attention):
    """``attention(q, k, v, mask=None) -> (output, weights)`` against :func:`reference_attention`: both results,
    values and gradients, without a mask, with a causal mask over heads and with a mask per sequence (L != S,
    dv != d); then on torch tensors against torch's ``scaled_dot_product_attention``."""
    __tracebackhide__ = True

    def probe():
        q = ml.tensor(np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32))
        result = attention(q, q, q)
        return {"a pair (output, weights)": isinstance(result, (tuple, list)) and len(result) == 2}

    expect("attention returns", probe, hint="return the output and the attention weights, in that order")
    for what, q, k, v, mask in _ATTENTION_CASES:
        inputs = (q, k, v) if mask is None else (q, k, v, mask)
        hint = _ATTENTION_HINT if mask is None else _MASK_HINT
        check(f"attention's output, {what}", lambda *a: attention(*a)[0], lambda *a: reference_attention(*a)[0],
              *inputs, hint=hint, grad_inputs=(0, 1, 2))
        check(f"attention's weights, {what}", lambda *a: attention(*a)[1], lambda *a: reference_attention(*a)[1],
              *inputs, hint=hint, grad_inputs=(0, 1))  # the weights do not depend on the values
    _check_attention_on_torch(attention)


def _check_attention_on_torch(attention):
    """The same function on torch tensors with a causal mask, against torch's fused kernel and softmax."""
    __tracebackhide__ = True
    import torch

    rng = np.random.default_rng(1)
    q, k, v = (torch.from_numpy(rng.standard_normal((2, 3, 6, 4)).astype(np.float32)) for _ in range(3))
    mask = torch.tril(torch.ones(6, 6, dtype=torch.bool))

    def probe():
        out, weights = attention(q, k, v, mask)
        scores = (q @ k.transpose(-2, -1) / 2.0).masked_fill(~mask, float("-inf"))
        return {"the output agrees with torch's scaled_dot_product_attention": bool(torch.allclose(
                    out, torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-5)),
                "the weights agree with torch's softmax of the masked scores": bool(torch.allclose(
                    weights, torch.softmax(scores, dim=-1), atol=1e-6))}

    expect("attention on torch tensors", probe,
           hint="everything inside the function must come from the tensors' own methods")


def reference_multi_head(x, w_qkv, w_o, heads, mask=None):
    """Multi-head self-attention of x (B, T, E) with w_qkv (3E, E) and w_o (E, E): minilib's scaled dot-product
    attention on each of ``heads`` groups of E / heads channels; ``mask`` as in :func:`reference_attention`."""
    b, t, e = x.shape
    q, k, v = (z.reshape(b, t, heads, e // heads).permute(0, 2, 1, 3)
               for z in mF.linear(x, w_qkv).chunk(3, dim=-1))
    out = mF.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, heads, T, E / heads)
    return mF.linear(out.permute(0, 2, 1, 3).reshape(b, t, e), w_o)


# (what it tests, x shape, E, heads, mask or None)
_MULTI_HEAD_CASES = [
    ("2 heads", (2, 6, 8), 8, 2, None),
    ("4 heads with a causal mask", (2, 5, 8), 8, 4, _mask(np.tril(np.ones((5, 5))))),
]


def check_multi_head(multi_head):
    """``multi_head(x, w_qkv, w_o, heads, mask=None)`` against :func:`reference_multi_head`: values and gradients
    of x and both weight matrices, for 2 heads without a mask and 4 heads with a causal mask."""
    __tracebackhide__ = True
    for what, x, e, heads, mask in _MULTI_HEAD_CASES:
        extra = () if mask is None else (mask,)
        check(f"multi_head, {what}", multi_head, reference_multi_head, x, (3 * e, e), (e, e), heads, *extra,
              grad_inputs=(0, 1, 2),
              hint="the first E / heads channels of each query, key and value belong to head 0, the next to head 1, "
                   "...; each head attends over the time axis on its own, so the heads must sit before the time "
                   "axis; the merge undoes the split exactly, then w_o mixes the heads; the mask goes to every head")
