"""minilib: a small tensor library with reverse-mode autograd and a PyTorch-shaped API.

    import minilib as ml
    x = ml.randn(3, 4, requires_grad=True)
    (x.relu() ** 2).sum().backward()
    x.grad

Tensors are numpy arrays underneath; every op records its local backward next to its
forward (``minilib/ops/``). ``minilib.nn``, ``minilib.optim`` and ``minilib.data`` mirror
their torch namesakes so a lesson's function runs unchanged on minilib and torch tensors.
"""
from . import (  # noqa: F401  (minilib.nn, minilib.optim as in torch)
    _malloc,  # noqa: F401  (first: keeps freed memory for reuse, see _malloc.py)
    nn,
    ops,  # noqa: F401  (attaches Tensor methods)
    optim,
)
from .autograd import enable_grad, gradcheck, is_grad_enabled, no_grad, set_grad_enabled
from .creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    is_tensor,
    linspace,
    numel,
    ones,
    ones_like,
    tensor,
    zeros,
    zeros_like,
)
from .dtypes import bool_, double, dtype, float16, float32, float64, half, int32, int64, long, uint8
from .ops.arithmetic import (
    add,
    allclose,
    bmm,
    div,
    eq,
    equal,
    floor_divide,
    ge,
    gt,
    isclose,
    le,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    matmul,
    mm,
    mul,
    ne,
    neg,
    pow,
    remainder,
    sub,
)
from .ops.indexing import (
    gather,
    index_select,
    masked_select,
    nonzero,
    one_hot,  # noqa: F401  (also minilib.nn.functional.one_hot)
    scatter,
    scatter_add,
    take_along_dim,
)
from .ops.pointwise import (
    abs,
    ceil,
    clamp,
    clip,
    clone,
    cos,
    erf,
    exp,
    exp2,
    expm1,
    floor,
    isfinite,
    isinf,
    isnan,
    lerp,
    log,
    log1p,
    log2,
    masked_fill,
    maximum,
    minimum,
    nan_to_num,
    reciprocal,
    relu,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    tanh,
    trunc,
    where,
)
from .ops.reduce import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    argsort,
    count_nonzero,
    cumsum,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    sort,
    std,
    sum,
    topk,
    var,
)
from .ops.shape import (
    broadcast_to,
    cat,
    chunk,
    concat,
    concatenate,
    diagonal,
    expand,
    flatten,
    flip,
    hstack,
    narrow,
    permute,
    repeat_interleave,
    reshape,
    roll,
    split,
    squeeze,
    stack,
    swapaxes,
    t,
    transpose,
    tril,
    triu,
    unbind,
    unflatten,
    unsqueeze,
    vstack,
)
from .random import (
    Generator,
    bernoulli,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    multinomial,
    normal,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    seed,
    set_rng_state,
)
from .tensor import Size, Tensor, device

bool = bool_  # noqa: A001 - torch's name
float = float32  # noqa: A001
__version__ = "0.1.0"


def __getattr__(name):
    """``minilib.data`` and ``minilib.interop`` load on first use (they pull in scikit-learn / torch)."""
    if name in ("data", "interop"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'minilib' has no attribute {name!r}")
