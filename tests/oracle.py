"""PyTorch as the oracle: run one op on minilib and on torch with the same inputs and compare.

``check_op(fn, shapes)`` calls ``fn(lib, *inputs)`` once with ``lib=minilib`` and minilib
tensors, once with ``lib=torch`` and torch tensors (float64 by default, or ``dtype=np.float32``
with looser tolerances), compares the forward outputs (values and dtypes), then back-propagates
the same random upstream gradient through both and compares the gradient of every input: its
values, the dtype of ``.grad`` and the dtype of the gradient the op's backward hands to the
input before any conversion (seen by a hook), which must be the input's own. Because minilib
mirrors torch's names, one lambda describes the op for both libraries, so adding an op's test is
one line.
"""
import numpy as np
import torch

import minilib


def _to_numpy(x):
    if isinstance(x, minilib.Tensor):
        return x.data
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def _outputs(out):
    """The tensors an op returns: one, or the tensors inside a tuple/namedtuple."""
    if isinstance(out, (tuple, list)):
        return [o for o in out if isinstance(o, (minilib.Tensor, torch.Tensor))]
    return [out]


def assert_close(mine, ref, what, atol, rtol):
    a, b = _to_numpy(mine), _to_numpy(ref)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != torch's {b.shape}"
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != torch's {b.dtype}"
    if a.dtype == np.bool_ or a.dtype.kind in "iu":
        assert np.array_equal(a, b), f"{what}: values differ from torch's"
        return
    diff = np.nanmax(np.abs(a - b)) if a.size else 0.0
    assert np.allclose(a, b, atol=atol, rtol=rtol, equal_nan=True), f"{what}: max abs diff {diff:.3g} vs torch"


def make_inputs(shapes, seed=0, low=-2.0, high=2.0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.uniform(low, high, s).astype(dtype) if isinstance(s, tuple) else s for s in shapes]


FLOAT32_TOLERANCE = dict(atol=2e-5, rtol=2e-4)  # float32 rounding, not a looser check of the maths


def check_op(fn, shapes=None, inputs=None, grad=True, atol=1e-9, rtol=1e-7, seed=0, low=-2.0, high=2.0,
             dtype=np.float64):
    """Compare ``fn(minilib, *xs)`` with ``fn(torch, *xs)``: forward, then the gradient of every float input.

    ``shapes``: a list of shapes (random uniform inputs in [low, high)) or ready arrays.
    ``inputs``: explicit numpy arrays instead. Non-array items (ints, tuples) pass through unchanged.
    ``dtype``: float inputs are cast to it; with float32 the tolerances are at least FLOAT32_TOLERANCE.
    """
    arrays = inputs if inputs is not None else make_inputs(shapes, seed, low, high)
    if np.dtype(dtype) != np.float64:
        arrays = [a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in arrays]
        atol, rtol = max(atol, FLOAT32_TOLERANCE["atol"]), max(rtol, FLOAT32_TOLERANCE["rtol"])
    diff_me = [isinstance(a, np.ndarray) and a.dtype.kind == "f" and grad for a in arrays]
    ml_in = [minilib.tensor(a, requires_grad=d) if isinstance(a, np.ndarray) else a for a, d in zip(arrays, diff_me)]
    th_in = [torch.tensor(a, requires_grad=d) if isinstance(a, np.ndarray) else a for a, d in zip(arrays, diff_me)]
    handed = {}  # input position -> dtypes of the gradients minilib's backward handed to it
    for i, (m, d) in enumerate(zip(ml_in, diff_me)):
        if d:
            m.register_hook(lambda g, i=i: handed.setdefault(i, []).append(g.data.dtype))
    ml_out, th_out = _outputs(fn(minilib, *ml_in)), _outputs(fn(torch, *th_in))
    assert len(ml_out) == len(th_out), f"op returned {len(ml_out)} tensors, torch {len(th_out)}"
    for i, (m, t) in enumerate(zip(ml_out, th_out)):
        assert_close(m, t, f"forward output {i}", atol, rtol)
    if not any(diff_me):
        return
    rng = np.random.default_rng(seed + 1)
    ml_loss, th_loss = 0, 0
    for m, t in zip(ml_out, th_out):
        if t.requires_grad:
            up = rng.standard_normal(tuple(t.shape)).astype(_to_numpy(t).dtype)  # the output's own dtype
            ml_loss = ml_loss + (m * minilib.tensor(up)).sum()
            th_loss = th_loss + (t * torch.tensor(up)).sum()
    if not isinstance(th_loss, torch.Tensor):
        return
    ml_loss.backward()
    th_loss.backward()
    for i, (m, t, d) in enumerate(zip(ml_in, th_in, diff_me)):
        if not d:
            continue
        if t.grad is None:
            assert m.grad is None or not np.any(m.grad.data), f"grad of input {i}: torch has none, minilib non-zero"
            continue
        assert m.grad is not None, f"grad of input {i}: minilib computed no gradient, torch did"
        assert_close(m.grad, t.grad, f"grad of input {i}", atol * 10, rtol * 10)
        assert set(handed.get(i, [])) <= {m.data.dtype}, \
            f"grad of input {i}: the backward handed a {handed[i]} gradient to a {m.data.dtype} input"
