"""No silent casts: ops given mixed float dtypes raise where torch raises, and otherwise give torch's dtypes.

Every case builds float32 and float64 tensors, runs the op forward and backward, and compares with
torch: both raise the same kind of error (minilib's message says how to convert), or both return
the same output dtype and the same gradient dtype for every input.
"""
import numpy as np
import pytest
import torch

import minilib as ml


def F(L):
    return L.nn.functional


def _t(L, shape, dtype, seed, grad=True, low=-1.0, high=1.0):
    a = np.random.default_rng(seed).uniform(low, high, shape)
    return L.tensor(a.tolist(), dtype=getattr(L, dtype), requires_grad=grad)


def f32(L, *shape, seed=0, **kw):
    return _t(L, shape, "float32", seed, **kw)


def f64(L, *shape, seed=1, **kw):
    return _t(L, shape, "float64", seed, **kw)


def idx(L, values):
    return L.tensor(values)


CASES = {
    "add": lambda L: (f32(L, 3), f64(L, 3), lambda a, b: a + b),
    "mul_0d_f64": lambda L: (f32(L, 3), f64(L), lambda a, b: a * b),
    "matmul": lambda L: (f32(L, 2, 3), f64(L, 3, 2), lambda a, b: a @ b),
    "matmul_vec": lambda L: (f32(L, 3), f64(L, 3), lambda a, b: a @ b),
    "bmm": lambda L: (f32(L, 2, 2, 3), f64(L, 2, 3, 2), lambda a, b: L.bmm(a, b)),
    "linear_weight": lambda L: (f32(L, 2, 3), f64(L, 4, 3), lambda a, b: F(L).linear(a, b)),
    "linear_bias": lambda L: (f32(L, 2, 3), f32(L, 4, 3, seed=2), f64(L, 4), lambda a, w, b: F(L).linear(a, w, b)),
    "conv2d_weight": lambda L: (f32(L, 1, 1, 4, 4), f64(L, 1, 1, 2, 2), lambda a, w: F(L).conv2d(a, w)),
    "conv2d_bias": lambda L: (f32(L, 1, 1, 4, 4), f32(L, 1, 1, 2, 2, seed=2), f64(L, 1),
                              lambda a, w, b: F(L).conv2d(a, w, b)),
    "conv1d": lambda L: (f32(L, 1, 1, 4), f64(L, 1, 1, 2), lambda a, w: F(L).conv1d(a, w)),
    "layer_norm_weight": lambda L: (f32(L, 2, 3), f64(L, 3), lambda a, w: F(L).layer_norm(a, (3,), w)),
    "layer_norm_bias": lambda L: (f32(L, 2, 3), f32(L, 3, seed=2), f64(L, 3),
                                  lambda a, w, b: F(L).layer_norm(a, (3,), w, b)),
    "batch_norm_weight": lambda L: (f32(L, 4, 3), f64(L, 3),
                                    lambda a, w: F(L).batch_norm(a, None, None, w, None, training=True)),
    "batch_norm_running": lambda L: (f32(L, 4, 3), lambda a: F(L).batch_norm(
        a, L.zeros(3, dtype=L.float64), L.ones(3, dtype=L.float64), training=True)),
    "batch_norm_eval": lambda L: (f32(L, 4, 3), lambda a: F(L).batch_norm(
        a, L.zeros(3, dtype=L.float64), L.ones(3, dtype=L.float64), training=False)),
    "group_norm": lambda L: (f32(L, 2, 4, 3), f64(L, 4), lambda a, w: F(L).group_norm(a, 2, w)),
    "cross_entropy_weight": lambda L: (f32(L, 4, 3), lambda a: F(L).cross_entropy(
        a, idx(L, [0, 1, 2, 0]), weight=L.ones(3, dtype=L.float64))),
    "cross_entropy_f64_probs": lambda L: (f32(L, 4, 3), f64(L, 4, 3, grad=False, low=0.0),
                                          lambda a, p: F(L).cross_entropy(a, p)),
    "nll_loss_weight": lambda L: (f32(L, 4, 3), lambda a: F(L).nll_loss(
        a, idx(L, [0, 1, 2, 0]), weight=L.ones(3, dtype=L.float64))),
    "mse_loss": lambda L: (f32(L, 3), f64(L, 3), lambda a, b: F(L).mse_loss(a, b)),
    "l1_loss": lambda L: (f32(L, 3), f64(L, 3, grad=False), lambda a, b: F(L).l1_loss(a, b)),
    "bce_target": lambda L: (f32(L, 3, low=0.1, high=0.9), f64(L, 3, grad=False, low=0.0),
                             lambda a, t: F(L).binary_cross_entropy(a, t)),
    "bce_weight": lambda L: (f32(L, 3, low=0.1, high=0.9), f32(L, 3, grad=False, low=0.0, seed=3),
                             f64(L, 3, grad=False, low=0.0), lambda a, t, w: F(L).binary_cross_entropy(a, t, w)),
    "bce_with_logits": lambda L: (f32(L, 3), f64(L, 3, grad=False, low=0.0),
                                  lambda a, t: F(L).binary_cross_entropy_with_logits(a, t)),
    "kl_div": lambda L: (f32(L, 3), f64(L, 3, grad=False, low=0.1), lambda a, t: F(L).kl_div(a, t, reduction="sum")),
    "embedding_f64_weight": lambda L: (f64(L, 3, 2), lambda w: F(L).embedding(idx(L, [0, 2]), w)),
    "sdpa": lambda L: (f32(L, 1, 2, 3), f64(L, 1, 2, 3), f32(L, 1, 2, 3, seed=4),
                       lambda q, k, v: F(L).scaled_dot_product_attention(q, k, v)),
    "sdpa_f64_mask": lambda L: (f32(L, 1, 2, 3), lambda q: F(L).scaled_dot_product_attention(
        q, q, q, attn_mask=L.zeros(2, 2, dtype=L.float64))),
    "mha_f64_mask": lambda L: (f32(L, 2, 1, 4), lambda a: L.nn.MultiheadAttention(4, 2)(
        a, a, a, attn_mask=L.zeros(2, 2, dtype=L.float64))[0]),
    "gather": lambda L: (f32(L, 3, 3), lambda a: a.gather(1, idx(L, [[0], [1], [2]]))),
    "scatter": lambda L: (f32(L, 3, 3), f64(L, 3, 1), lambda a, s: a.scatter(1, idx(L, [[0], [1], [2]]), s)),
    "scatter_add": lambda L: (f32(L, 3, 3), f64(L, 3, 1), lambda a, s: a.scatter_add(1, idx(L, [[0], [1], [2]]), s)),
    "where": lambda L: (f32(L, 3), f64(L, 3), lambda a, b: L.where(idx(L, [True, False, True]), a, b)),
    "masked_fill_f64_value": lambda L: (f32(L, 3), lambda a: a.masked_fill(
        idx(L, [True, False, True]), L.tensor(2.0, dtype=L.float64))),
    "clamp_f64_bound": lambda L: (f32(L, 3), lambda a: a.clamp(min=L.zeros(3, dtype=L.float64))),
    "maximum": lambda L: (f32(L, 3), f64(L, 3), lambda a, b: L.maximum(a, b)),
    "lerp": lambda L: (f32(L, 3), f64(L, 3), lambda a, b: L.lerp(a, b, 0.5)),
    "cat": lambda L: (f32(L, 3), f64(L, 3), lambda a, b: L.cat([a, b])),
    "stack": lambda L: (f32(L, 3), f64(L, 3), lambda a, b: L.stack([a, b])),
    "pow": lambda L: (f32(L, 3, low=0.5), f64(L, 3), lambda a, b: a ** b),
    "cosine_similarity": lambda L: (f32(L, 2, 3), f64(L, 2, 3), lambda a, b: F(L).cosine_similarity(a, b)),
    "softmax_dtype": lambda L: (f32(L, 3), lambda a: F(L).softmax(a, 0, dtype=L.float64)),
    "to_float64": lambda L: (f32(L, 3), lambda a: a.to(L.float64) * 2),
    "setitem_slice_f64": lambda L: (f32(L, 3, grad=False), f64(L, 2),
                                    lambda a, v: (a.__setitem__(slice(0, 2), v), a)[1]),
    "setitem_array_f64": lambda L: (f32(L, 3, grad=False), f64(L, 2),
                                    lambda a, v: (a.__setitem__(idx(L, [0, 1]), v), a)[1]),
    "copy_f64_into_f32": lambda L: (f32(L, 3, grad=False), f64(L, 3), lambda a, v: a.copy_(v) * 1),
    "mlp_float64_input": lambda L: (f64(L, 2, 3), lambda a: L.nn.Linear(3, 2)(a)),
    "mha_float64_input": lambda L: (f64(L, 2, 1, 4), lambda a: L.nn.MultiheadAttention(4, 2)(a, a, a)[0]),
}


def _run(L, name):
    L.manual_seed(0)
    *tensors, op = CASES[name](L)
    try:
        out = op(*tensors)
        if out.requires_grad:
            out.sum().backward()
    except (RuntimeError, TypeError, ValueError) as e:
        return ("error", type(e), str(e))
    dtype = lambda t: str(t.dtype).split(".")[-1]  # noqa: E731
    return ("ok", dtype(out), [dtype(t.grad) if t.grad is not None else None for t in tensors])


@pytest.mark.parametrize("name", sorted(CASES))
def test_mixed_float_dtypes_as_in_torch(name):
    mine, ref = _run(ml, name), _run(torch, name)
    assert mine[0] == ref[0], f"minilib: {mine}, torch: {ref}"
    if mine[0] == "error":
        assert mine[1] is ref[1], f"minilib raised {mine[1].__name__}, torch {ref[1].__name__}"
        assert "dtype" in mine[2] and ("to(" in mine[2] or ".float()" in mine[2]), mine[2]
    else:
        assert mine[1:] == ref[1:], f"dtypes: minilib {mine[1:]}, torch {ref[1:]}"


def test_view_dtype_reinterprets_bits_as_torch():
    x = np.array([[1.5, -2.0, 0.0, 3.25], [7.0, 1e-3, -0.5, 2.0]], dtype=np.float32)
    for dtype, shape in (("int32", (2, 4)), ("float64", (2, 2)), ("float16", (2, 8)), ("uint8", (2, 16)),
                         ("float32", (2, 4))):
        mine, ref = ml.tensor(x).view(getattr(ml, dtype)), torch.tensor(x).view(getattr(torch, dtype))
        assert mine.dtype.name == dtype and tuple(mine.shape) == tuple(ref.shape) == shape
        assert mine.numpy().tobytes() == ref.numpy().tobytes()
    shared = ml.tensor(x)
    bits = shared.view(ml.int32)
    bits[0, 0] = 0  # a view: the float's bits change too, as in torch
    assert shared[0, 0].item() == 0.0
    transposed = ml.tensor(np.ones((4, 2), dtype=np.float32)).t()
    assert tuple(transposed.view(ml.int32).shape) == (2, 4)  # same element size: any layout
    for bad in (lambda L: L.ones(2, 3).view(L.float64), lambda L: L.tensor(1.0).view(L.float64),
                lambda L: L.ones(4, 2).t().view(L.float64)):
        with pytest.raises(RuntimeError) as mine:
            bad(ml)
        with pytest.raises(RuntimeError) as ref:
            bad(torch)
        assert str(ref.value).split(" to view")[0].split(" must")[0] in str(mine.value)


def test_view_dtype_is_not_differentiable_and_view_shape_needs_viewable_memory():
    x = ml.ones(2, 4, requires_grad=True)
    assert not x.view(ml.int32).requires_grad and not x.view(ml.float64).requires_grad
    assert not torch.ones(2, 4, requires_grad=True).view(torch.float64).requires_grad
    for L in (ml, torch):
        with pytest.raises(RuntimeError, match="reshape"):
            L.ones(2, 3).t().view(6)
        assert L.ones(2, 3).t().reshape(6).shape == (6,)
