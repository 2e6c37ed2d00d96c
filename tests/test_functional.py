"""nn.functional against torch.nn.functional in float64: forward and gradients of every float input."""
import numpy as np
import pytest
import torch

import minilib as ml
from oracle import check_op


def F(L):
    return L.nn.functional


IMG = (2, 3, 7, 6)
CASES = {
    "relu": (lambda L, x: F(L).relu(x), [(3, 5)]),
    "gelu": (lambda L, x: F(L).gelu(x), [(3, 5)]),
    "gelu_tanh": (lambda L, x: F(L).gelu(x, approximate="tanh"), [(3, 5)]),
    "silu": (lambda L, x: F(L).silu(x), [(3, 5)]),
    "leaky_relu": (lambda L, x: F(L).leaky_relu(x, 0.1), [(3, 5)]),
    "softplus": (lambda L, x: F(L).softplus(x * 15, beta=2), [(3, 5)]),
    "logsigmoid": (lambda L, x: F(L).logsigmoid(x), [(3, 5)]),
    "elu": (lambda L, x: F(L).elu(x), [(3, 5)]),
    "glu": (lambda L, x: F(L).glu(x), [(3, 6)]),
    "glu_dim0": (lambda L, x: F(L).glu(x, dim=0), [(4, 3)]),
    "hardtanh": (lambda L, x: F(L).hardtanh(x), [(3, 5)]),
    "hardtanh_bounds": (lambda L, x: F(L).hardtanh(x, -0.5, 1.5), [(3, 5)]),
    "softmin": (lambda L, x: F(L).softmin(x, dim=1), [(3, 5)]),
    "softmin_dim0": (lambda L, x: F(L).softmin(x, dim=0), [(3, 4, 2)]),
    "dropout_eval": (lambda L, x: F(L).dropout(x, 0.5, training=False), [(3, 5)]),
    "dropout_p0": (lambda L, x: F(L).dropout(x, 0.0), [(3, 5)]),
    "dropout_p1": (lambda L, x: F(L).dropout(x, 1.0), [(3, 5)]),
    "dropout2d_eval": (lambda L, x: F(L).dropout2d(x, 0.3, training=False), [(2, 3, 4, 4)]),
    "dropout2d_p1": (lambda L, x: F(L).dropout2d(x, 1.0), [(2, 3, 4, 4)]),
    "softmax": (lambda L, x: F(L).softmax(x, dim=1), [(3, 5)]),
    "softmax_dim0_3d": (lambda L, x: F(L).softmax(x, dim=0), [(3, 4, 2)]),
    "softmax_large_logits": (lambda L, x: F(L).softmax(x * 1000, dim=-1), [(3, 5)]),
    "softmax_method": (lambda L, x: x.softmax(-1), [(3, 5)]),
    "log_softmax": (lambda L, x: F(L).log_softmax(x, dim=-1), [(3, 5)]),
    "log_softmax_large": (lambda L, x: F(L).log_softmax(x * 1000, dim=1), [(3, 5)]),
    "linear": (lambda L, x, w, b: F(L).linear(x, w, b), [(4, 3), (5, 3), (5,)]),
    "linear_3d_no_bias": (lambda L, x, w: F(L).linear(x, w), [(2, 4, 3), (5, 3)]),
    "linear_3d": (lambda L, x, w, b: F(L).linear(x, w, b), [(2, 4, 3), (5, 3), (5,)]),
    "linear_1d": (lambda L, x, w, b: F(L).linear(x, w, b), [(3,), (5, 3), (5,)]),
    "mse_loss": (lambda L, x, y: F(L).mse_loss(x, y), [(4, 3), (4, 3)]),
    "mse_loss_sum": (lambda L, x, y: F(L).mse_loss(x, y, reduction="sum"), [(4, 3), (4, 3)]),
    "l1_loss": (lambda L, x, y: F(L).l1_loss(x, y), [(4, 3), (4, 3)]),
    "bce": (lambda L, p, t: F(L).binary_cross_entropy(p, t), [(4, 3), (4, 3)], dict(low=0.05, high=0.95)),
    "bce_with_logits": (lambda L, x, t: F(L).binary_cross_entropy_with_logits(x * 5, (t + 2) / 4), [(4, 3), (4, 3)]),
    "bce_with_logits_pos_weight": (lambda L, x, t, w: F(L).binary_cross_entropy_with_logits(
        x, (t + 2) / 4, pos_weight=w.detach() + 3), [(4, 3), (4, 3), (3,)]),
    "kl_div_batchmean": (lambda L, x, t: F(L).kl_div(F(L).log_softmax(x, 1), F(L).softmax(t, 1),
                                                     reduction="batchmean"), [(4, 5), (4, 5)]),
    "kl_div_log_target": (lambda L, x, t: F(L).kl_div(F(L).log_softmax(x, 1), F(L).log_softmax(t, 1),
                                                      reduction="sum", log_target=True), [(4, 5), (4, 5)]),
    "cosine_similarity": (lambda L, a, b: F(L).cosine_similarity(a, b, dim=1), [(4, 5), (4, 5)]),
    "normalize": (lambda L, a: F(L).normalize(a, dim=1), [(4, 5)]),
    "layer_norm": (lambda L, x, w, b: F(L).layer_norm(x, (5,), w, b), [(3, 4, 5), (5,), (5,)]),
    "layer_norm_2dims_no_affine": (lambda L, x: F(L).layer_norm(x, (4, 5)), [(3, 4, 5)]),
    "group_norm": (lambda L, x, w, b: F(L).group_norm(x, 2, w, b), [(2, 4, 3, 3), (4,), (4,)]),
    "batch_norm_train_2d": (lambda L, x, w, b: F(L).batch_norm(x, None, None, w, b, training=True),
                            [(6, 3), (3,), (3,)]),
    "batch_norm_train_4d": (lambda L, x, w, b: F(L).batch_norm(x, None, None, w, b, training=True),
                            [(4, 3, 2, 2), (3,), (3,)]),
    "batch_norm_eval": (lambda L, x, m, v, w, b: F(L).batch_norm(x, m.detach(), v.detach() + 3, w, b, training=False),
                        [(4, 3, 2, 2), (3,), (3,), (3,), (3,)]),
    "conv2d": (lambda L, x, w, b: F(L).conv2d(x, w, b), [IMG, (4, 3, 3, 3), (4,)]),
    "conv2d_stride_pad": (lambda L, x, w: F(L).conv2d(x, w, stride=2, padding=1), [IMG, (4, 3, 3, 2)]),
    "conv2d_dilation": (lambda L, x, w: F(L).conv2d(x, w, dilation=2, padding=(2, 1)), [IMG, (2, 3, 3, 3)]),
    "conv2d_groups": (lambda L, x, w, b: F(L).conv2d(x, w, b, groups=3), [(2, 6, 5, 5), (9, 2, 3, 3), (9,)]),
    "conv2d_depthwise": (lambda L, x, w: F(L).conv2d(x, w, groups=3, padding="same"), [IMG, (3, 1, 3, 3)]),
    "conv2d_unbatched": (lambda L, x, w: F(L).conv2d(x, w), [(3, 5, 5), (2, 3, 2, 2)]),
    "conv2d_1x1": (lambda L, x, w: F(L).conv2d(x, w), [IMG, (5, 3, 1, 1)]),
    "conv1d": (lambda L, x, w, b: F(L).conv1d(x, w, b, stride=2, padding=1), [(2, 3, 9), (4, 3, 3), (4,)]),
    "unfold": (lambda L, x: F(L).unfold(x, 3, padding=1, stride=2), [IMG]),
    "unfold_dilation": (lambda L, x: F(L).unfold(x, (2, 3), dilation=2), [IMG]),
    "fold": (lambda L, x: F(L).fold(x, (5, 6), 3, padding=1, stride=2), [(2, 18, 9)]),
    "max_pool2d": (lambda L, x: F(L).max_pool2d(x, 2), [(2, 3, 6, 6)]),
    "max_pool2d_overlap": (lambda L, x: F(L).max_pool2d(x, 3, stride=2, padding=1), [IMG]),
    "max_pool2d_dilation": (lambda L, x: F(L).max_pool2d(x, 2, stride=1, dilation=2), [IMG]),
    "max_pool2d_ceil": (lambda L, x: F(L).max_pool2d(x, 2, ceil_mode=True), [(1, 2, 5, 7)]),
    "max_pool2d_indices": (lambda L, x: F(L).max_pool2d(x, 2, return_indices=True), [(1, 2, 4, 6)]),
    "max_pool2d_unbatched": (lambda L, x: F(L).max_pool2d(x, 2), [(3, 4, 4)]),
    "avg_pool2d": (lambda L, x: F(L).avg_pool2d(x, 2), [(2, 3, 6, 6)]),
    "avg_pool2d_pad_include": (lambda L, x: F(L).avg_pool2d(x, 3, stride=2, padding=1), [IMG]),
    "avg_pool2d_pad_exclude": (lambda L, x: F(L).avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False),
                               [IMG]),
    "avg_pool2d_ceil": (lambda L, x: F(L).avg_pool2d(x, 2, ceil_mode=True), [(1, 2, 5, 7)]),
    "avg_pool2d_divisor": (lambda L, x: F(L).avg_pool2d(x, 2, divisor_override=3), [(1, 2, 4, 4)]),
    "adaptive_avg_pool2d_even": (lambda L, x: F(L).adaptive_avg_pool2d(x, 2), [(2, 3, 6, 4)]),
    "adaptive_avg_pool2d_uneven": (lambda L, x: F(L).adaptive_avg_pool2d(x, (3, 4)), [IMG]),
    "adaptive_avg_pool2d_global": (lambda L, x: F(L).adaptive_avg_pool2d(x, 1), [IMG]),
    "max_pool1d": (lambda L, x: F(L).max_pool1d(x, 2), [(2, 3, 8)]),
    "avg_pool1d": (lambda L, x: F(L).avg_pool1d(x, 3, stride=1, padding=1), [(2, 3, 8)]),
    "pad_constant": (lambda L, x: F(L).pad(x, (1, 2, 0, 1), value=0.5), [IMG]),
    "pad_negative": (lambda L, x: F(L).pad(x, (-1, 2)), [(3, 5)]),
    "pad_reflect": (lambda L, x: F(L).pad(x, (2, 1, 1, 2), mode="reflect"), [IMG]),
    "pad_replicate": (lambda L, x: F(L).pad(x, (2, 1, 1, 2), mode="replicate"), [IMG]),
    "pad_circular": (lambda L, x: F(L).pad(x, (2, 1, 1, 2), mode="circular"), [IMG]),
    "sdpa": (lambda L, q, k, v: F(L).scaled_dot_product_attention(q, k, v), [(2, 3, 5, 4), (2, 3, 6, 4),
                                                                             (2, 3, 6, 2)]),
    "sdpa_causal": (lambda L, q, k, v: F(L).scaled_dot_product_attention(q, k, v, is_causal=True),
                    [(2, 5, 4), (2, 5, 4), (2, 5, 3)]),
    "sdpa_float_mask_scale": (lambda L, q, k, v, m: F(L).scaled_dot_product_attention(q, k, v, attn_mask=m,
                                                                                      scale=0.3),
                              [(2, 5, 4), (2, 6, 4), (2, 6, 3), (5, 6)]),
    "sdpa_bool_mask": (lambda L, q, k, v: F(L).scaled_dot_product_attention(
        q, k, v, attn_mask=L.tensor([[True, False, True], [True, True, False]])), [(2, 4), (3, 4), (3, 2)]),
}


F32_TOLERANCE = {}  # cases whose float32 rounding needs more than oracle.FLOAT32_TOLERANCE, and why


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_functional_matches_torch(name, dtype):
    fn, shapes, *extra = CASES[name]
    opts = extra[0] if extra else {}
    if dtype == np.float32:
        opts = {**opts, **F32_TOLERANCE.get(name, {})}
    check_op(fn, shapes, dtype=dtype, **opts)


def _targets(shape, classes, seed=0, ignore=None):
    t = np.random.default_rng(seed).integers(0, classes, shape)
    if ignore is not None:
        t.flat[::3] = ignore
    return t.astype(np.int64)


CE = {
    "indices": dict(),
    "sum": dict(reduction="sum"),
    "none": dict(reduction="none"),
    "smoothing": dict(label_smoothing=0.1),
    "ignore_index": dict(ignore_index=-100),
    "ignore_smoothing": dict(ignore_index=2, label_smoothing=0.2),
}


DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])


@DTYPES
@pytest.mark.parametrize("case", sorted(CE))
def test_cross_entropy_indices(case, dtype):
    kw = CE[case]
    t = _targets((6,), 5, ignore=kw.get("ignore_index"))
    x = np.random.default_rng(1).normal(size=(6, 5))
    check_op(lambda L, x, t: F(L).cross_entropy(x * 3, t, **kw), inputs=[x, t], dtype=dtype)


@DTYPES
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
def test_cross_entropy_class_weights(smoothing, dtype):
    x = np.random.default_rng(2).normal(size=(7, 4))
    w = np.array([0.5, 2.0, 1.0, 3.0])
    check_op(lambda L, x, w: F(L).cross_entropy(x, L.tensor(_targets((7,), 4)), weight=w.detach(),
                                                label_smoothing=smoothing), inputs=[x, w], dtype=dtype)


@DTYPES
def test_cross_entropy_spatial_targets(dtype):
    x = np.random.default_rng(3).normal(size=(2, 4, 3, 3))
    check_op(lambda L, x, t: F(L).cross_entropy(x, t, label_smoothing=0.1), inputs=[x, _targets((2, 3, 3), 4)],
             dtype=dtype)


@DTYPES
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_probability_targets(smoothing, dtype):
    rng = np.random.default_rng(4)
    x, p = rng.normal(size=(5, 4)), rng.dirichlet(np.ones(4), size=5)
    check_op(lambda L, x, p: F(L).cross_entropy(x, p, label_smoothing=smoothing), inputs=[x, p], dtype=dtype)


@DTYPES
def test_cross_entropy_unbatched(dtype):
    check_op(lambda L, x: F(L).cross_entropy(x, L.tensor(2)), inputs=[np.random.default_rng(5).normal(size=(4,))],
             dtype=dtype)


@DTYPES
@pytest.mark.parametrize("kw", [dict(), dict(reduction="sum"), dict(ignore_index=1), dict(reduction="none")])
def test_nll_loss(kw, dtype):
    x = np.random.default_rng(6).normal(size=(6, 3))
    check_op(lambda L, x, t: F(L).nll_loss(F(L).log_softmax(x, 1), t, **kw), inputs=[x, _targets((6,), 3)],
             dtype=dtype)


@DTYPES
def test_nll_loss_class_weights(dtype):
    x, w = np.random.default_rng(9).normal(size=(6, 3)), np.array([0.5, 2.0, 1.5])
    check_op(lambda L, x, w: F(L).nll_loss(F(L).log_softmax(x, 1), L.tensor(_targets((6,), 3)), weight=w.detach()),
             inputs=[x, w], dtype=dtype)


@DTYPES
def test_embedding_with_repeats_and_padding_idx(dtype):
    idx = np.array([[0, 2, 2], [3, 0, 1]])
    check_op(lambda L, w: F(L).embedding(L.tensor(idx), w, padding_idx=0), shapes=[(5, 4)], dtype=dtype)


@DTYPES
@pytest.mark.parametrize("n_idx", [20, 3000])  # both scatter-add paths: np.add.at and the sparse product
def test_embedding_gradient_sums_repeated_rows(n_idx, dtype):
    idx = np.random.default_rng(8).integers(0, 50, (n_idx,))
    check_op(lambda L, w: F(L).embedding(L.tensor(idx), w), shapes=[(50, 4)], dtype=dtype)


def test_one_hot():
    check_op(lambda L, t: F(L).one_hot(t, 5), inputs=[np.array([0, 4, 2])])


@DTYPES
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=2, stride=1, dilation=2), dict(kernel_size=2, ceil_mode=True)])
def test_max_pool2d_ties_send_the_gradient_to_the_first_max(kw, dtype):
    """Values drawn from {0, 1, 2}: most windows hold several equal maxima, and torch picks the first."""
    x = np.random.default_rng(7).integers(0, 3, (2, 3, 7, 6)).astype(np.float64)
    check_op(lambda L, x: F(L).max_pool2d(x, return_indices=True, **kw), inputs=[x], dtype=dtype)


@pytest.mark.parametrize("margin", [5.0, 10.0, 12.0, 15.0, 20.0])
def test_float32_log_probabilities_near_zero_keep_their_digits(margin):
    """One logit ahead by ``margin``: log p of the winner is -tiny, and must be computed as
    (x - max) - log(sum exp(x - max)), not x - logsumexp(x), which cancels to ulp(max) noise
    (1.6 and 2.9 float32 eps off at margins 5 and 10). The truth is torch in float64; torch's own
    float32 result is not the yardstick, since its vectorised exp/log differ between CPUs (4 eps off here)."""
    z = np.zeros((2, 10), dtype=np.float32)
    z[:, 0] = margin
    t = np.array([0, 0])
    exact = torch.log_softmax(torch.tensor(z, dtype=torch.float64), -1).numpy()[:, 0]
    mine = [F(ml).log_softmax(ml.tensor(z), -1).numpy()[:, 0],
            -F(ml).cross_entropy(ml.tensor(z), ml.tensor(t), reduction="none").numpy()]
    for m in mine:
        assert m.dtype == np.float32
        np.testing.assert_allclose(m, exact, rtol=0, atol=1.25 * np.finfo(np.float32).eps)
