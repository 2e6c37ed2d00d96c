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
    # pointwise, rounding and cleaning (gradients are zero where torch's are)
    "exp2": (lambda L, a: a.exp2(), [S]),
    "exp2_function": (lambda L, a: L.exp2(a * 3), [S]),
    "log2": (lambda L, a: L.log2(a), [S], POS),
    "sign": (lambda L, a: a.sign() * a, [S]),
    "floor": (lambda L, a: L.floor(a * 3) + a, [S]),
    "ceil": (lambda L, a: L.ceil(a * 3), [S]),
    "trunc": (lambda L, a: L.trunc(a * 3), [S]),
    "round": (lambda L, a: L.round(a * 3), [S]),
    "round_decimals": (lambda L, a: a.round(decimals=1), [S]),
    "clip": (lambda L, a: L.clip(a, -0.5, 0.5), [S]),
    "nan_to_num": (lambda L, a: L.nan_to_num(a, posinf=9.0, neginf=-9.0) * 2,
                   [np.array([[1.0, np.nan, np.inf], [-np.inf, -2.5, 0.0]])]),
    "nan_to_num_defaults": (lambda L, a: a.nan_to_num(nan=0.5), [np.array([np.nan, 1.0, -3.0])]),
    "lerp_tensor_weight": (lambda L, a, b, w: L.lerp(a, b, w), [S, S, S]),
    "half_round_trip": (lambda L, a: (a.half() * 2).float() if L.__name__ == "torch" else (a.half() * 2).float(),
                        [S]),
    "type_cast": (lambda L, a: a.type(L.float64) * a, [S]),
    "contiguous": (lambda L, a: a.t().contiguous() * 2, [S]),
    # matmul spellings and arithmetic aliases
    "mm": (lambda L, a, b: L.mm(a, b), [(3, 4), (4, 2)]),
    "mm_method": (lambda L, a, b: a.mm(b), [(3, 4), (4, 2)]),
    "bmm": (lambda L, a, b: L.bmm(a, b), [(2, 3, 4), (2, 4, 5)]),
    "true_divide": (lambda L, a, b: a.true_divide(b), [S, S], POS),
    "divide": (lambda L, a, b: a.divide(b) + L.div(a, 2.0), [S, S], POS),
    "multiply_subtract": (lambda L, a, b: a.multiply(b).subtract(a), [S, S]),
    # shape spellings
    "broadcast_to": (lambda L, a: L.broadcast_to(a, (2, 3, 4)), [(3, 1)]),
    "expand_as": (lambda L, a, b: a.expand_as(b), [(3, 1), (2, 3, 4)]),
    "view_as": (lambda L, a, b: a.view_as(b), [S, (6, 2)]),
    "reshape_as": (lambda L, a, b: a.reshape_as(b), [S, (2, 6)]),
    "swapaxes": (lambda L, a: L.swapaxes(a, 0, 2), [(2, 3, 4)]),
    "unflatten": (lambda L, a: a.unflatten(1, (2, 2)), [S]),
    "hstack": (lambda L, a, b: L.hstack([a, b]), [(3, 2), (3, 4)]),
    "vstack": (lambda L, a, b: L.vstack([a, b]), [(2, 4), (4,)]),
    "concat": (lambda L, a, b: L.concat([a, b], 1), [(2, 3), (2, 1)]),
    "concatenate": (lambda L, a, b: L.concatenate([a, b]), [(2, 3), (1, 3)]),
    "masked_select": (lambda L, a: L.masked_select(a, a > 0), [S]),
    "masked_select_broadcast": (lambda L, a: a.masked_select(L.tensor([True, False, True, True])), [S]),
    # no gradient: comparisons, logic, integer arithmetic, predicates, searches
    "eq_ne": (lambda L, a, b: (L.eq(a, b.round()), a.round() != b.round(), a.eq(a), L.ne(a, b), a.ne(a)), [S, S]),
    "lt_le_gt_ge": (lambda L, a, b: (L.lt(a, b), L.le(a, 0.5), L.gt(a, b), a.ge(b), a >= 0, a < b), [S, S]),
    "logical": (lambda L, a, b: (L.logical_and(a > 0, b > 0), L.logical_or(a > 0, b > 0), L.logical_xor(a > 0, b > 0),
                                 L.logical_not(a > 0), (a > 0).logical_and(b < 0)), [S, S]),
    "bitwise": (lambda L, a, b: (a & b, a | b, a ^ b, ~a, a.bitwise_and(b), a.bitwise_or(b), a.bitwise_xor(b),
                                 a.bitwise_not()),
                [np.array([0, 3, 12, -7]), np.array([5, 6, 10, 1])]),
    "bitwise_bool": (lambda L, a: (a > 0) & (a < 1) | ~(a > -1), [S]),
    "floor_divide": (lambda L, a, b: (L.floor_divide(a, b), a // 0.7), [S, S], dict(**POS, grad=False)),
    "remainder": (lambda L, a, b: L.remainder(a, b) + a % 0.5 + a.remainder(0.3), [S, S], POS),
    "floor_divide_ints": (lambda L, a, b: (a // b, a % b, L.remainder(a, 3)),
                          [np.array([7, -7, 9, -9]), np.array([2, 2, -4, -4])]),
    "isclose_allclose": (lambda L, a, b: (L.isclose(a, a + 1e-9), L.isclose(a, b), L.allclose(a, a),
                                          L.allclose(a, b), a.isclose(a * 1.5, rtol=0.6)), [S, S]),
    "isnan_isinf_isfinite": (lambda L, a: (L.isnan(a), L.isinf(a), L.isfinite(a), a.isnan(), a.isinf()),
                             [np.array([1.0, np.nan, np.inf, -np.inf, 0.0])]),
    "any_all": (lambda L, a: (L.any(a > 0), L.all(a > -3), (a > 0).any(1), (a > 0).all(0, keepdim=True)), [S]),
    "argmin_argsort": (lambda L, a: (L.argmin(a), a.argmin(1), a.argmin(0, keepdim=True), L.argsort(a, 1),
                                     a.argsort(0, descending=True)), [S]),
    "count_nonzero_nonzero": (lambda L, a: (L.count_nonzero(a), L.nonzero(a), a.nonzero(as_tuple=True)),
                              [np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])]),
}


def _case(name):
    fn, shapes, *extra = CASES[name]
    return fn, shapes, (extra[0] if extra else {})


F32_TOLERANCE = {}  # cases whose float32 rounding needs more than oracle.FLOAT32_TOLERANCE, and why


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_torch(name, dtype):
    fn, shapes, opts = _case(name)
    if dtype == np.float32:
        opts = {**opts, **F32_TOLERANCE.get(name, {})}
    check_op(fn, shapes, dtype=dtype, **opts)


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


def test_floor_divide_has_a_zero_gradient_where_torch_has_none():
    """Deliberately not copied from torch: its floor_divide output requires grad but backward raises
    "derivative ... not implemented"; minilib's gradient is the true one, zero (a step function)."""
    import torch

    import minilib

    a = minilib.tensor([1.5, -2.5], requires_grad=True)
    (a // 0.7).sum().backward()
    assert a.grad.tolist() == [0.0, 0.0]
    with pytest.raises(RuntimeError, match="not implemented"):
        (torch.tensor([1.5, -2.5], requires_grad=True) // 0.7).sum().backward()


# Public names that are not ops compared with torch by value here, and why. Everything else that
# minilib exports must appear in a test module that compares it with torch (COMPARED below).
NOT_OPS = {
    # random streams differ from torch's (numpy's PCG64): tested for seeding and ranges in test_tensor_api
    "bernoulli", "multinomial", "rand", "randn", "randint", "randperm", "rand_like", "randn_like", "normal",
    "manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state", "Generator",
    "bernoulli_", "exponential_", "normal_", "uniform_",
    # minilib's own helpers with no torch twin
    "cast", "name_",
    # the device: minilib computes on the CPU only
    "cuda", "cpu", "device", "is_cuda",
}
COMPARED = ["test_ops", "test_functional", "test_inplace", "test_dtypes", "test_tensor_api", "test_autograd",
            "test_nn", "test_threads", "test_optim"]


def test_every_public_op_is_compared_with_torch():
    import importlib
    import inspect
    import re

    import minilib

    words = set()
    for module in COMPARED:
        words |= set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", inspect.getsource(importlib.import_module(module))))
    public = {n for n in dir(minilib) if not n.startswith("_") and callable(getattr(minilib, n))
              and not isinstance(getattr(minilib, n), type)}
    public |= {n for n in dir(minilib.Tensor) if not n.startswith("_")}
    functional = minilib.nn.functional
    public |= {n for n in dir(functional) if not n.startswith("_") and callable(getattr(functional, n))}
    missing = sorted(public - words - NOT_OPS)
    assert not missing, f"public ops with no torch comparison: {missing}"
