"""Every differentiable op against PyTorch in float64: forward and input gradients (see oracle.py)."""
import numpy as np
import pytest

from oracle import check_op

S = (3, 4)
POS = dict(low=0.1, high=3.0)  # strictly positive inputs for log, sqrt, pow, ...

CASES = {
    # arithmetic and broadcasting
    "add": (lambda L, a, b: a + b, [S, S]),
    "add_broadcast_row": (lambda L, a, b: a + b, [(3, 4), (4,)]),
    "add_broadcast_col": (lambda L, a, b: a + b, [(3, 1), (1, 4)]),
    "add_scalar_tensor": (lambda L, a, b: a + b, [(), (2, 3)]),
    "add_python_scalar": (lambda L, a: 2.5 + a, [S]),
    "add_alpha": (lambda L, a, b: L.add(a, b, alpha=0.5), [S, S]),
    "sub": (lambda L, a, b: a - b, [(2, 3, 4), (3, 1)]),
    "rsub": (lambda L, a: 1.0 - a, [S]),
    "mul": (lambda L, a, b: a * b, [(2, 1, 4), (3, 1)]),
    "mul_same_tensor": (lambda L, a: a * a, [S]),
    "div": (lambda L, a, b: a / b, [S, (4,)], POS),
    "rdiv": (lambda L, a: 2.0 / a, [S], POS),
    "neg": (lambda L, a: -a, [S]),
    "pow_scalar": (lambda L, a: a ** 3, [S]),
    "pow_fractional": (lambda L, a: a ** 0.5, [S], POS),
    "pow_zero": (lambda L, a: a ** 0, [S]),
    "pow_tensor": (lambda L, a, b: a ** b, [S, S], POS),
    "rpow": (lambda L, a: 2.0 ** a, [S]),
    "matmul_2d": (lambda L, a, b: a @ b, [(3, 4), (4, 5)]),
    "matmul_batched": (lambda L, a, b: a @ b, [(2, 3, 4), (2, 4, 5)]),
    "matmul_broadcast_batch": (lambda L, a, b: a @ b, [(2, 1, 3, 4), (5, 4, 2)]),
    "matmul_vec_mat": (lambda L, a, b: a @ b, [(4,), (4, 5)]),
    "matmul_mat_vec": (lambda L, a, b: a @ b, [(3, 4), (4,)]),
    "matmul_vec_vec": (lambda L, a, b: a @ b, [(4,), (4,)]),
    "matmul_batch_vec": (lambda L, a, b: L.matmul(a, b), [(2, 3, 4), (4,)]),
    "matmul_transposed": (lambda L, a, b: a.transpose(0, 1) @ b, [(4, 3), (4, 5)]),
    # pointwise
    "exp": (lambda L, a: a.exp(), [S]),
    "log": (lambda L, a: a.log(), [S], POS),
    "log1p": (lambda L, a: a.log1p(), [S], POS),
    "expm1": (lambda L, a: a.expm1(), [S]),
    "sqrt": (lambda L, a: a.sqrt(), [S], POS),
    "rsqrt": (lambda L, a: a.rsqrt(), [S], POS),
    "abs": (lambda L, a: a.abs(), [S]),
    "sin": (lambda L, a: a.sin(), [S]),
    "cos": (lambda L, a: L.cos(a), [S]),
    "tanh": (lambda L, a: a.tanh(), [S]),
    "sigmoid": (lambda L, a: a.sigmoid(), [S]),
    "sigmoid_large": (lambda L, a: (a * 50).sigmoid(), [S]),
    "relu": (lambda L, a: a.relu(), [S]),
    "erf": (lambda L, a: L.erf(a), [S]),
    "reciprocal": (lambda L, a: a.reciprocal(), [S], POS),
    "square": (lambda L, a: a.square(), [S]),
    "clamp_both": (lambda L, a: a.clamp(-0.5, 0.7), [S]),
    "clamp_min": (lambda L, a: a.clamp(min=0.1), [S]),
    "clamp_tensor_bounds": (lambda L, a, lo: a.clamp(min=lo), [S, (4,)]),
    "maximum": (lambda L, a, b: L.maximum(a, b), [S, (4,)]),
    "minimum": (lambda L, a, b: L.minimum(a, b), [S, (3, 1)]),
    "maximum_ties": (lambda L, a: L.maximum(a, a.detach()), [S]),
    "where": (lambda L, a, b: L.where(a > 0, a, b), [S, (4,)]),
    "where_scalar": (lambda L, a: L.where(a > 0, a, 0.0), [S]),
    "masked_fill": (lambda L, a: a.masked_fill(a < 0, -1.0), [S]),
    "masked_fill_broadcast_mask": (lambda L, a, m: a.masked_fill(m > 0, 0.0), [S, (4,)]),
    "float_cast": (lambda L, a: a.float().double() * 2, [S]),
    "clone": (lambda L, a: a.clone() * 3, [S]),
    "lerp": (lambda L, a, b: L.lerp(a, b, 0.3), [S, S]),
    # reductions
    "sum_all": (lambda L, a: a.sum(), [(2, 3, 4)]),
    "sum_dim": (lambda L, a: a.sum(1), [(2, 3, 4)]),
    "sum_neg_dim_keepdim": (lambda L, a: a.sum(-1, keepdim=True), [(2, 3, 4)]),
    "sum_tuple_dims": (lambda L, a: a.sum((0, 2)), [(2, 3, 4)]),
    "sum_scalar_input": (lambda L, a: a.sum(), [()]),
    "sum_size1_dim": (lambda L, a: a.sum(1), [(3, 1, 2)]),
    "mean_all": (lambda L, a: a.mean(), [(2, 3, 4)]),
    "mean_dims_keepdim": (lambda L, a: a.mean((1, 2), keepdim=True), [(2, 3, 4)]),
    "var_unbiased": (lambda L, a: a.var(1), [(3, 5)]),
    "var_biased_keepdim": (lambda L, a: a.var(0, unbiased=False, keepdim=True), [(3, 5)]),
    "var_correction": (lambda L, a: a.var(dim=(0, 1), correction=0), [(3, 5, 2)]),
    "var_all": (lambda L, a: a.var(), [(3, 5)]),
    "std": (lambda L, a: a.std(-1), [(3, 5)]),
    "max_all": (lambda L, a: a.max(), [(3, 5)]),
    "max_dim": (lambda L, a: a.max(1), [(3, 5)]),
    "max_dim_keepdim": (lambda L, a: a.max(0, keepdim=True), [(3, 5)]),
    "min_dim": (lambda L, a: a.min(-1), [(2, 3, 5)]),
    "max_binary": (lambda L, a, b: L.max(a, b), [S, S]),
    "amax": (lambda L, a: a.amax((0, 2)), [(2, 3, 4)]),
    "amin_keepdim": (lambda L, a: a.amin(1, keepdim=True), [(2, 3, 4)]),
    "logsumexp": (lambda L, a: a.logsumexp(1), [(3, 5)]),
    "logsumexp_large": (lambda L, a: (a * 400).logsumexp(-1, keepdim=True), [(3, 5)]),
    "prod_dim": (lambda L, a: a.prod(1), [(3, 4)]),
    "prod_all": (lambda L, a: a.prod(), [(2, 3)]),
    "norm_all": (lambda L, a: a.norm(), [(3, 4)]),
    "norm_dim": (lambda L, a: a.norm(dim=1), [(3, 4)]),
    "norm_p1": (lambda L, a: a.norm(p=1, dim=0), [(3, 4)]),
    "norm_p3": (lambda L, a: a.norm(p=3), [(3, 4)]),
    "norm_inf": (lambda L, a: a.norm(p=float("inf")), [(3, 4)]),
    "sort": (lambda L, a: a.sort(1), [(3, 6)]),
    "sort_descending": (lambda L, a: a.sort(0, descending=True), [(5, 2)]),
    "topk": (lambda L, a: a.topk(3, dim=1), [(4, 7)]),
    "topk_smallest": (lambda L, a: a.topk(2, dim=0, largest=False), [(5, 3)]),
    "cumsum": (lambda L, a: a.cumsum(1), [(3, 5)]),
    # shape
    "reshape": (lambda L, a: a.reshape(4, 3), [S]),
    "reshape_infer": (lambda L, a: a.reshape(-1, 2), [(2, 3, 4)]),
    "view": (lambda L, a: a.view(2, 6), [S]),
    "flatten": (lambda L, a: a.flatten(1), [(2, 3, 4)]),
    "flatten_range": (lambda L, a: L.flatten(a, 0, 1), [(2, 3, 4)]),
    "permute": (lambda L, a: a.permute(2, 0, 1), [(2, 3, 4)]),
    "permute_neg": (lambda L, a: a.permute(-1, 0, 1) * 2, [(2, 3, 4)]),
    "transpose": (lambda L, a: a.transpose(0, 2), [(2, 3, 4)]),
    "T": (lambda L, a: a.T, [S]),
    "mT": (lambda L, a: a.mT, [(2, 3, 4)]),
    "unsqueeze": (lambda L, a: a.unsqueeze(1), [S]),
    "unsqueeze_neg": (lambda L, a: a.unsqueeze(-1), [S]),
    "squeeze": (lambda L, a: a.squeeze(), [(3, 1, 4, 1)]),
    "squeeze_dim": (lambda L, a: a.squeeze(1), [(3, 1, 4)]),
    "squeeze_noop": (lambda L, a: a.squeeze(0), [(3, 1, 4)]),
    "expand": (lambda L, a: a.expand(2, 3, 4), [(3, 1)]),
    "expand_minus1": (lambda L, a: a.expand(-1, 5), [(3, 1)]),
    "repeat": (lambda L, a: a.repeat(2, 3), [(2, 3)]),
    "repeat_new_dims": (lambda L, a: a.repeat(2, 1, 2), [(2, 3)]),
    "repeat_interleave": (lambda L, a: a.repeat_interleave(2, dim=0), [(2, 3)]),
    "cat": (lambda L, a, b: L.cat([a, b], 1), [(2, 3), (2, 5)]),
    "cat_neg": (lambda L, a, b: L.cat([a, b, a], -1), [(2, 3), (2, 1)]),
    "stack": (lambda L, a, b: L.stack([a, b], 1), [S, S]),
    "split": (lambda L, a: a.split(2, dim=1), [(3, 5)]),
    "split_sections": (lambda L, a: a.split([1, 4], dim=1), [(3, 5)]),
    "chunk": (lambda L, a: a.chunk(3, 0), [(7, 2)]),
    "unbind": (lambda L, a: a.unbind(1), [(2, 3)]),
    "tril": (lambda L, a: a.tril(), [(4, 4)]),
    "triu_offset": (lambda L, a: a.triu(1), [(2, 4, 5)]),
    "tril_negative": (lambda L, a: L.tril(a, -1), [(4, 3)]),
    "flip": (lambda L, a: a.flip(0, 1), [S]),
    "roll": (lambda L, a: a.roll(1, 1), [S]),
    "diagonal": (lambda L, a: a.diagonal(), [(4, 4)]),
    "narrow": (lambda L, a: a.narrow(1, 1, 2), [S]),
    "unfold_windows": (lambda L, a: a.unfold(1, 3, 2), [(2, 7, 3)]),
    "unfold_conv_windows": (lambda L, a: a.unfold(2, 3, 1).unfold(3, 2, 2), [(1, 2, 5, 6)]),
    # indexing
    "index_int": (lambda L, a: a[1], [S]),
    "index_slice": (lambda L, a: a[:, 1:3], [S]),
    "index_step": (lambda L, a: a[::2, ::-1] if L.__name__ == "minilib" else a[::2].flip(1), [(5, 4)]),
    "index_none_ellipsis": (lambda L, a: a[None, ..., 2], [(2, 3, 4)]),
    "index_negative": (lambda L, a: a[-1, -2], [S]),
    "index_bool_mask": (lambda L, a: a[a > 0], [S]),
    "index_int_array_repeats": (lambda L, a: a[L.tensor([0, 2, 0, 0])], [S]),
    "index_two_arrays": (lambda L, a: a[L.tensor([0, 1, 2]), L.tensor([3, 0, 3])], [S]),
    "index_mixed": (lambda L, a: a[:, L.tensor([1, 1, 3])], [S]),
    "gather": (lambda L, a: a.gather(1, L.tensor([[0, 0], [1, 3], [2, 2]])), [S]),
    "gather_dim0": (lambda L, a: L.gather(a, 0, L.tensor([[2, 1, 0, 0]])), [S]),
    "scatter_add": (lambda L, a, s: a.scatter_add(1, L.tensor([[0, 0], [1, 3], [2, 2]]), s), [S, (3, 2)]),
    "scatter_src": (lambda L, a, s: a.scatter(1, L.tensor([[0, 1], [1, 3], [2, 0]]), s), [S, (3, 2)]),
    "index_select": (lambda L, a: a.index_select(0, L.tensor([2, 0, 2])), [S]),
    "index_select_dim1": (lambda L, a: a.index_select(1, L.tensor([3, 0, 3])), [S]),
    "index_negative_array": (lambda L, a: a[L.tensor([-1, 0, -1])], [S]),
    "take_along_dim": (lambda L, a: L.take_along_dim(a, a.argmax(1, keepdim=True), 1), [S]),
}


def _case(name):
    fn, shapes, *extra = CASES[name]
    return fn, shapes, (extra[0] if extra else {})


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_torch(name):
    fn, shapes, opts = _case(name)
    check_op(fn, shapes, **opts)


def test_float_index_is_rejected():
    import minilib

    with pytest.raises(IndexError, match="long, int or bool"):
        minilib.ones(3)[minilib.tensor([0.0])]


def test_prod_gradient_with_zeros():
    inputs = [np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]])]
    check_op(lambda L, a: a.prod(1), inputs=inputs)


def test_amax_splits_gradient_among_ties():
    inputs = [np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])]
    check_op(lambda L, a: a.amax(1), inputs=inputs)
    check_op(lambda L, a: a.max(), inputs=inputs)


def test_abs_and_relu_at_zero():
    inputs = [np.array([-1.0, 0.0, 2.0])]
    check_op(lambda L, a: a.abs() + a.relu(), inputs=inputs)


def test_norm_gradient_at_zero_vector():
    check_op(lambda L, a: a.norm(dim=1), inputs=[np.zeros((2, 3))])
