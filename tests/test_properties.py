"""Property tests (hypothesis): broadcasting and reductions agree with torch on random shapes and dims."""
import numpy as np
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minilib as ml
from oracle import check_op

dims = st.integers(1, 4)


@st.composite
def broadcastable_pair(draw):
    ndim = draw(st.integers(0, 4))
    shape = tuple(draw(dims) for _ in range(ndim))
    other = tuple(1 if draw(st.booleans()) else s for s in shape)
    other = other[draw(st.integers(0, ndim)):]
    return (shape, other) if draw(st.booleans()) else (other, shape)


@settings(max_examples=40, deadline=None)
@given(broadcastable_pair(), st.sampled_from(["add", "sub", "mul", "div", "maximum"]))
def test_broadcast_binary_ops(shapes, op):
    fns = {"add": lambda L, a, b: a + b, "sub": lambda L, a, b: a - b, "mul": lambda L, a, b: a * b,
           "div": lambda L, a, b: a / (b.abs() + 0.5), "maximum": lambda L, a, b: L.maximum(a, b)}
    check_op(fns[op], list(shapes))


@st.composite
def reduction_case(draw):
    ndim = draw(st.integers(1, 4))
    shape = tuple(draw(dims) for _ in range(ndim))
    dim = draw(st.one_of(st.integers(-ndim, ndim - 1),
                         st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple)))
    return shape, dim, draw(st.booleans())


@settings(max_examples=40, deadline=None)
@given(reduction_case(), st.sampled_from(["sum", "mean", "amax", "logsumexp", "var"]))
def test_reductions_over_random_dims(case, op):
    shape, dim, keepdim = case
    reduced = np.prod([shape[d] for d in (dim if isinstance(dim, tuple) else (dim,))])
    assume(op != "var" or reduced > 1)  # the unbiased variance of one value is undefined
    check_op(lambda L, x: getattr(x, op)(dim, keepdim=keepdim), [shape])


@settings(max_examples=30, deadline=None)
@given(st.lists(dims, min_size=1, max_size=4))
def test_reshape_permute_roundtrip(shape):
    n = int(np.prod(shape))
    x = ml.arange(n).reshape(*shape)
    perm = list(reversed(range(len(shape))))
    assert x.permute(*perm).permute(*np.argsort(perm).tolist()).equal(x)
    assert np.array_equal(x.flatten().numpy(), torch.arange(n).reshape(*shape).flatten().numpy())
