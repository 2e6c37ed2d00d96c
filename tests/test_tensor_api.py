"""The Tensor API surface around the ops: creation, dtypes, conversions, printing, in-place updates."""
import numpy as np
import pytest
import torch

import minilib as ml


def same(a, b):
    return np.array_equal(np.asarray(a.data if isinstance(a, ml.Tensor) else a), b.numpy())


@pytest.mark.parametrize("make", [
    lambda L: L.zeros(2, 3), lambda L: L.ones((2, 3), dtype=L.float64), lambda L: L.full((2, 2), 7),
    lambda L: L.full((2,), 1.5), lambda L: L.eye(3), lambda L: L.eye(2, 3), lambda L: L.arange(5),
    lambda L: L.arange(1, 7, 2), lambda L: L.linspace(0, 1, 5), lambda L: L.tensor([[1, 2], [3, 4]]),
    lambda L: L.tensor([True, False]), lambda L: L.zeros_like(L.ones(2, dtype=L.int64)),
    lambda L: L.ones_like(L.zeros(3)), lambda L: L.full_like(L.zeros(2), 3.0), lambda L: L.empty(2).zero_(),
    lambda L: L.empty_like(L.ones(2, 3, dtype=L.float64)).zero_(),
    lambda L: L.tensor(np.arange(3, dtype=np.int32)), lambda L: L.as_tensor([1.0, 2.0]),
    lambda L: L.from_numpy(np.ones(2)), lambda L: L.tensor([L.tensor(1.0), L.tensor(2.0)]),
])
def test_creation_matches_torch(make):
    a, b = make(ml), make(torch)
    assert tuple(a.shape) == tuple(b.shape) and a.dtype.name == str(b.dtype).split(".")[1]
    assert same(a, b)


def test_from_numpy_and_as_tensor_share_memory():
    arr = np.zeros(3)
    t = ml.from_numpy(arr)
    arr[0] = 4
    assert t[0].item() == 4 and t.dtype is ml.float64
    with pytest.raises(TypeError, match="numpy.ndarray"):
        ml.from_numpy([1, 2])


def test_conversions_and_properties():
    x = ml.tensor([[1.5, -2.0], [3.0, 4.0]])
    assert x.dim() == x.ndim == 2 and x.numel() == 4 and x.size() == (2, 2) and x.size(-1) == 2
    assert x.shape.numel() == 4 and repr(x.shape) == "minilib.Size([2, 2])"
    assert x.long().dtype is ml.int64 and x.int().dtype is ml.int32 and x.half().dtype is ml.float16
    assert x.bool().dtype is ml.bool_ and x.double().float().dtype is ml.float32
    assert x.to(ml.float64).dtype is ml.float64 and x.to("cpu") is x and x.to(x) is x
    assert x.type(ml.float64).dtype is ml.float64 and x.type() == "minilib.Float32Tensor"
    assert x.tolist() == [[1.5, -2.0], [3.0, 4.0]] and x[0, 0].item() == 1.5
    assert float(x[1, 1]) == 4.0 and int(x[1, 0]) == 3 and len(x) == 2
    assert [r.tolist() for r in x] == x.tolist()
    assert str(x.device) == "cpu" and x.device == "cpu" and not x.is_cuda and x.is_floating_point()
    assert x.cpu() is x and x.contiguous() is x and x.is_contiguous() and x.element_size() == 4
    assert np.asarray(x).shape == (2, 2) and np.asarray(x, dtype=np.float64).dtype == np.float64
    assert [0, 1, 2][ml.tensor(1)] == 1
    assert ml.is_tensor(x) == torch.is_tensor(torch.ones(1)) and ml.is_tensor([1.0]) == torch.is_tensor([1.0])
    with pytest.raises(TypeError):
        len(ml.tensor(1.0))
    with pytest.raises(RuntimeError, match="requires grad"):
        ml.ones(2, requires_grad=True).numpy()
    with pytest.raises(RuntimeError, match="CPU only"):
        x.cuda()


def test_repr_shows_dtype_and_grad_fn():
    for values in ([1.0, 2.5], [[1.0, 2.0], [-3.0, 4.0]], [0.1234567]):
        assert repr(ml.tensor(values)) == repr(torch.tensor(values))
    assert "dtype=minilib.float64" in repr(ml.zeros(2, dtype=ml.float64))
    assert "requires_grad=True" in repr(ml.ones(1, requires_grad=True))
    assert "grad_fn=<MulBackward>" in repr(ml.ones(1, requires_grad=True) * 2)
    assert repr(ml.float32) == "minilib.float32"
    assert repr(ml.nn.Parameter(ml.ones(1))).startswith("Parameter containing:")


def test_inplace_updates_match_torch():
    for L in (ml, torch):
        x = L.ones(3)
        x.add_(L.tensor([1.0, 2.0, 3.0]), alpha=2).sub_(1).mul_(2).div_(4)
        x.addcmul_(L.ones(3), L.ones(3), value=0.5).addcdiv_(L.ones(3), L.full((3,), 2.0)).clamp_(max=3.0)
        x.lerp_(L.zeros(3), 0.5)
        if L is ml:
            mine = x
        else:
            assert same(mine, x)
    y = ml.zeros(2)
    y.fill_(3).copy_(ml.tensor([1.0, 2.0]))
    y += 1
    y -= 0.5
    y *= 2
    y /= 3
    assert np.allclose(y.numpy(), [1.0, 5 / 3])


def test_random_inplace_fills_are_seeded():
    vals = []
    for _ in range(2):
        ml.manual_seed(3)
        t = ml.empty(4)
        vals.append((t.uniform_(-1, 1).clone(), t.normal_(2, 0.1).clone(), t.bernoulli_(0.5).clone(),
                     t.exponential_(2.0).clone()))
    assert all(a.equal(b) for a, b in zip(*vals))
    assert ml.initial_seed() == 3
    state = ml.get_rng_state()
    a = ml.rand(2)
    ml.set_rng_state(state)
    assert ml.rand(2).equal(a)
    assert ml.randn_like(ml.zeros(2, dtype=ml.float64)).dtype is ml.float64 and ml.rand_like(a).shape == (2,)
    assert ml.normal(ml.zeros(3), 1.0).shape == (3,) and ml.normal(0.0, 1.0, size=(2, 2)).shape == (2, 2)
    assert isinstance(ml.seed(), int)


def test_comparisons_and_logic_match_torch():
    a_np, b_np = np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])
    for op in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"):
        assert same(getattr(ml.tensor(a_np), op)(ml.tensor(b_np)), getattr(torch.tensor(a_np), op)(torch.tensor(b_np)))
    m, t = ml.tensor([True, False, True]), torch.tensor([True, False, True])
    n, u = ml.tensor([False, False, True]), torch.tensor([False, False, True])
    assert same(m & n, t & u) and same(m | n, t | u) and same(m ^ n, t ^ u) and same(~m, ~t)
    assert same(ml.logical_not(m), torch.logical_not(t)) and same(ml.logical_or(m, n), torch.logical_or(t, u))
    assert same(ml.tensor([7, -7]) // 2, torch.tensor([7, -7]) // 2)
    assert same(ml.tensor([7, -7]) % 3, torch.tensor([7, -7]) % 3)
    x = ml.tensor([1.0, float("nan"), float("inf")])
    assert x.isnan().tolist() == [False, True, False] and x.isinf().tolist() == [False, False, True]
    assert x.isfinite().tolist() == [True, False, False] and x.nan_to_num(posinf=9.0).tolist() == [1.0, 0.0, 9.0]
    assert ml.tensor([0, 1, 1]).any().item() and not ml.tensor([0, 1, 1]).all().item()
    assert ml.tensor([[0, 1], [1, 1]]).all(dim=1).tolist() == [False, True]
    assert ml.allclose(ml.ones(2), ml.ones(2) + 1e-9) and ml.isclose(ml.ones(2), ml.zeros(2)).tolist() == [False] * 2
    assert ml.count_nonzero(ml.tensor([0, 2, 3])).item() == 2
    assert ml.tensor([0, 3, 0, 5]).nonzero().tolist() == [[1], [3]]
    assert ml.tensor([[1.0, 5.0], [7.0, 2.0]]).argmax().item() == 2 and ml.tensor([3, 1, 2]).argmin().item() == 1
    assert ml.tensor([3.0, 1.0, 2.0]).argsort().tolist() == [1, 2, 0]
    assert ml.tensor([2.6, -1.4]).round().tolist() == [3.0, -1.0] and ml.tensor([2.6]).floor().item() == 2.0
    assert ml.tensor([2.1]).ceil().item() == 3.0 and ml.tensor([-2.7]).trunc().item() == -2.0
    assert ml.tensor([-2.0, 0.0, 3.0]).sign().tolist() == [-1.0, 0.0, 1.0]
    assert ml.masked_select(ml.arange(4), ml.tensor([True, False, True, False])).tolist() == [0, 2]


def test_extra_shape_helpers():
    x = ml.arange(6).reshape(2, 3)
    assert ml.hstack([x, x]).shape == (2, 6) and ml.vstack([x, ml.arange(3)]).shape == (3, 3)
    assert x.unflatten(1, (3, 1)).shape == (2, 3, 1) and x.view_as(ml.zeros(3, 2)).shape == (3, 2)
    assert x.reshape_as(ml.zeros(6)).shape == (6,) and x.expand_as(ml.zeros(2, 2, 3)).shape == (2, 2, 3)
    assert x.broadcast_to((2, 2, 3)).shape == (2, 2, 3) and x.t().shape == (3, 2) and x.swapaxes(0, 1).shape == (3, 2)
    assert ml.flatten(ml.tensor(3.0)).shape == (1,)
    bits, ref = x.view(ml.float32), torch.arange(6).reshape(2, 3).view(torch.float32)  # reinterpreted, not converted
    assert bits.dtype is ml.float32 and tuple(bits.shape) == tuple(ref.shape) == (2, 6)
    assert bits.numpy().tobytes() == ref.numpy().tobytes()
    assert x.roll(1).tolist() == [[5, 0, 1], [2, 3, 4]]
    assert ml.tensor(1.0).transpose(0, 0).shape == ()
    with pytest.raises(RuntimeError, match="t: expects"):
        ml.zeros(2, 2, 2).t()


def test_module_containers_and_loss_modules_match_torch():
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(4, 3)), rng.integers(0, 3, 4)
    probs, y = 1 / (1 + np.exp(-x)), (rng.random((4, 3)) > 0.5).astype(float)
    cases = [
        ("CrossEntropyLoss", dict(label_smoothing=0.1), x, t),
        ("NLLLoss", {}, np.log(probs / probs.sum(1, keepdims=True)), t),
        ("MSELoss", {}, x, y), ("L1Loss", dict(reduction="sum"), x, y), ("BCELoss", {}, probs, y),
        ("BCEWithLogitsLoss", {}, x, y), ("KLDivLoss", dict(reduction="batchmean"), np.log(probs / 2), probs / 2),
    ]
    for name, kw, a, b in cases:
        mine = getattr(ml.nn, name)(**kw)(ml.tensor(a), ml.tensor(b))
        ref = getattr(torch.nn, name)(**kw)(torch.tensor(a), torch.tensor(b))
        assert mine.item() == pytest.approx(ref.item(), rel=1e-9), name
    for name, kw in [("ReLU", {}), ("GELU", dict(approximate="tanh")), ("Tanh", {}), ("Sigmoid", {}), ("SiLU", {}),
                     ("LeakyReLU", dict(negative_slope=0.2)), ("Softmax", dict(dim=1)), ("LogSoftmax", dict(dim=1)),
                     ("Identity", {}), ("Flatten", dict(start_dim=0))]:
        assert np.allclose(getattr(ml.nn, name)(**kw)(ml.tensor(x)).data,
                           getattr(torch.nn, name)(**kw)(torch.tensor(x)).numpy()), name
    seq = ml.nn.Sequential(ml.nn.Linear(2, 2), ml.nn.ReLU())
    seq.append(ml.nn.Tanh())
    assert len(seq) == 3 and isinstance(seq[1:], ml.nn.Sequential) and isinstance(list(seq)[2], ml.nn.Tanh)
    named = ml.nn.Sequential({"fc": ml.nn.Linear(2, 2)})
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]
    lst = ml.nn.ModuleList([ml.nn.Linear(1, 1)]).extend([ml.nn.Linear(1, 1)])
    assert len(lst) == 2 and len(lst[:1]) == 1 and len(list(iter(lst))) == 2
    d = ml.nn.ModuleDict({"a": ml.nn.Linear(1, 1)})
    d["b"] = ml.nn.ReLU()
    assert "b" in d and len(d) == 2 and list(d.keys()) == ["a", "b"] and len(list(d.values())) == len(list(d.items()))
    assert list(iter(d)) == ["a", "b"] and isinstance(d["a"], ml.nn.Linear)


def test_module_utilities():
    m = ml.nn.Sequential(ml.nn.Linear(2, 2), ml.nn.Dropout2d(0.5))
    assert m.get_submodule("0") is m[0]
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    m.requires_grad_(True)
    m.to(ml.float64)
    assert m[0].weight.dtype is ml.float64 and m.float()[0].weight.dtype is ml.float32 and m.cpu() is m
    m.apply(lambda mod: ml.nn.init.zeros_(mod.bias) if isinstance(mod, ml.nn.Linear) else None)
    assert m[0].bias.data.tolist() == [0.0, 0.0]
    m.register_buffer("scale", ml.ones(1), persistent=False)
    assert "scale" not in m.state_dict() and "scale" in dict(m.named_buffers())
    del m.scale
    m.extra = ml.nn.Parameter(ml.ones(1))
    m.extra = None
    assert dict(m.named_parameters()).get("extra") is None
    with pytest.raises(TypeError, match="expected nn.Parameter"):
        m.lin_weight = ml.nn.Parameter(ml.ones(1))
        m.lin_weight = ml.ones(1)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = m.nope
    with pytest.raises(NotImplementedError, match="forward"):
        ml.nn.Module()(1)
    m[0].weight.grad = ml.ones(2, 2, dtype=ml.float32)
    m.zero_grad(set_to_none=False)
    assert m[0].weight.grad.sum().item() == 0
    ml.manual_seed(0)
    out = ml.nn.functional.dropout2d(ml.ones(2, 8, 3, 3), 0.5)
    per_channel = out.data.reshape(2, 8, 9)
    assert set(np.unique(per_channel.std(axis=2))) == {0.0} and set(np.unique(out.data)) <= {0.0, 2.0}
    assert ml.nn.functional.dropout(ml.ones(3), 1.0).sum().item() == 0
    assert ml.nn.functional.dropout(ml.ones(3), 0.5, training=False).sum().item() == 3


def test_init_functions_follow_torch_formulas():
    ml.manual_seed(0)
    w = ml.empty(200, 300)
    assert np.abs(ml.nn.init.xavier_uniform_(w).data).max() <= np.sqrt(6 / 500)
    assert abs(ml.nn.init.xavier_normal_(w).data.std() - np.sqrt(2 / 500)) < 2e-3
    assert abs(ml.nn.init.kaiming_normal_(w, nonlinearity="relu").data.std() - np.sqrt(2 / 300)) < 2e-3
    assert np.abs(ml.nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu").data).max() <= np.sqrt(6 / 200)
    t = ml.nn.init.trunc_normal_(ml.empty(1000), std=1.0, a=-1.0, b=1.0)
    assert t.data.min() >= -1 and t.data.max() <= 1
    q = ml.nn.init.orthogonal_(ml.empty(4, 6)).data
    assert np.allclose(q @ q.T, np.eye(4), atol=1e-5)
    assert ml.nn.init.eye_(ml.empty(2, 2)).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert ml.nn.init.ones_(ml.empty(2)).tolist() == [1.0, 1.0] and ml.nn.init.constant_(ml.empty(1), 3).item() == 3
    for name, param in [("tanh", None), ("relu", None), ("leaky_relu", 0.2), ("linear", None)]:
        assert ml.nn.init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        ml.nn.init.calculate_gain("swish")
    with pytest.raises(ValueError, match="fewer than 2 dims"):
        ml.nn.init.xavier_uniform_(ml.empty(3))


def test_malloc_tuning_is_applied_on_linux_and_can_be_switched_off():
    import os
    import subprocess
    import sys

    import minilib

    code = "import minilib; print(minilib._malloc.MALLOC_TUNED)"
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "MINILIB_MALLOC_TUNING": "0"})
    assert off.stdout.strip() == "False"
    if sys.platform.startswith("linux") and "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        assert minilib._malloc.MALLOC_TUNED


@pytest.mark.parametrize("convert, shares", [(np.array, False), (np.asarray, True)])
def test_numpy_conversion_copies_like_torch(convert, shares):
    """np.array copies a tensor and np.asarray shares it, as with torch CPU tensors."""
    for tensor in (ml.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])):
        out = convert(tensor)
        out[0] = 5.0
        assert (float(tensor[0]) == 5.0) == shares, type(tensor)


def test_numpy_conversion_without_copy_shares_or_refuses():
    """copy=False shares the data (torch 2.x does not take the keyword); a cast would need a copy."""
    t = ml.tensor([1.0, 2.0])
    np.array(t, copy=False)[0] = 5.0
    assert float(t[0]) == 5.0
    with pytest.raises(ValueError, match="without a copy"):
        np.array(ml.tensor([1.0]), dtype=np.float64, copy=False)
