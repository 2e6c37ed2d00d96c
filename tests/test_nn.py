"""nn modules against torch.nn: same names and shapes, copied weights, same outputs and gradients."""
import numpy as np
import pytest
import torch

import minilib as ml
from minilib.interop import copy_weights, from_torch, to_torch


def _pair(make, dtype="double"):
    """Build the module in both libraries, in float64 (or float32), with torch's weights copied into minilib's."""
    mine, ref = getattr(make(ml), dtype)(), getattr(make(torch), dtype)()
    assert [(n, tuple(p.shape)) for n, p in mine.state_dict().items()] == \
           [(n, tuple(p.shape)) for n, p in ref.state_dict().items()], "state_dict names/shapes differ from torch"
    copy_weights(ref, mine)
    return mine, ref


def _run(mine, ref, *arrays, call=lambda m, *xs: m(*xs), int_inputs=(), tol=(1e-7, 1e-9, 1e-6, 1e-8)):
    """Outputs (rtol, atol = tol[:2]) and gradients of parameters and inputs (tol[2:]) against torch."""
    ml_in = [ml.tensor(a) if i in int_inputs else ml.tensor(a, requires_grad=True) for i, a in enumerate(arrays)]
    th_in = [torch.tensor(a) if i in int_inputs else torch.tensor(a, requires_grad=True) for i, a in enumerate(arrays)]
    out_m, out_t = call(mine, *ml_in), call(ref, *th_in)
    flat_m = out_m if isinstance(out_m, (tuple, list)) else [out_m]
    flat_t = out_t if isinstance(out_t, (tuple, list)) else [out_t]
    flat_m, flat_t = _flatten(flat_m), _flatten(flat_t)
    rng = np.random.default_rng(0)
    loss_m, loss_t = 0, 0
    for m, t in zip(flat_m, flat_t):
        np.testing.assert_allclose(m.data, t.detach().numpy(), rtol=tol[0], atol=tol[1])
        assert m.data.dtype == t.detach().numpy().dtype
        up = rng.standard_normal(tuple(t.shape)).astype(m.data.dtype)
        loss_m = loss_m + (m * ml.tensor(up)).sum()
        loss_t = loss_t + (t * torch.tensor(up)).sum()
    loss_m.backward()
    loss_t.backward()
    grads_t = dict(ref.named_parameters())
    for name, p in mine.named_parameters():
        assert p.grad is not None, f"no gradient for parameter {name}"
        np.testing.assert_allclose(p.grad.data, grads_t[name].grad.numpy(), rtol=tol[2], atol=tol[3], err_msg=name)
        assert p.grad.dtype == p.dtype, name
    for i, (a, b) in enumerate(zip(ml_in, th_in)):
        if i not in int_inputs:
            np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=tol[2], atol=tol[3])


def _flatten(xs):
    out = []
    for x in xs:
        if isinstance(x, (tuple, list)):
            out += _flatten(x)
        elif x is not None:
            out.append(x)
    return out


R = np.random.default_rng(42)
MODULES = {
    "linear": (lambda L: L.nn.Linear(5, 3), [R.normal(size=(4, 5))]),
    "linear_no_bias": (lambda L: L.nn.Linear(5, 3, bias=False), [R.normal(size=(2, 4, 5))]),
    "conv2d": (lambda L: L.nn.Conv2d(3, 4, 3, stride=2, padding=1), [R.normal(size=(2, 3, 7, 7))]),
    "conv2d_groups": (lambda L: L.nn.Conv2d(4, 6, (3, 2), groups=2, bias=False), [R.normal(size=(1, 4, 5, 5))]),
    "conv1d": (lambda L: L.nn.Conv1d(3, 2, 3, padding=1), [R.normal(size=(2, 3, 6))]),
    "layer_norm": (lambda L: L.nn.LayerNorm(6), [R.normal(size=(3, 6))]),
    "batch_norm1d": (lambda L: L.nn.BatchNorm1d(4), [R.normal(size=(8, 4))]),
    "batch_norm2d": (lambda L: L.nn.BatchNorm2d(3), [R.normal(size=(4, 3, 2, 2))]),
    "group_norm": (lambda L: L.nn.GroupNorm(2, 4), [R.normal(size=(2, 4, 3))]),
    "sequential_mlp": (lambda L: L.nn.Sequential(L.nn.Linear(4, 8), L.nn.GELU(), L.nn.Linear(8, 8), L.nn.Tanh(),
                                                 L.nn.Linear(8, 2), L.nn.Sigmoid()), [R.normal(size=(5, 4))]),
    "small_cnn": (lambda L: L.nn.Sequential(L.nn.Conv2d(1, 4, 3, padding=1), L.nn.ReLU(), L.nn.MaxPool2d(2),
                                            L.nn.Conv2d(4, 4, 3), L.nn.SiLU(), L.nn.AdaptiveAvgPool2d(1),
                                            L.nn.Flatten(), L.nn.Linear(4, 3)), [R.normal(size=(2, 1, 8, 8))]),
    "dropout_eval": (lambda L: L.nn.Sequential(L.nn.Linear(3, 3), L.nn.Dropout(0.5)).eval(), [R.normal(size=(2, 3))]),
    "mha": (lambda L: L.nn.MultiheadAttention(8, 2), [R.normal(size=(5, 2, 8))] * 3),
    "mha_batch_first_cross": (lambda L: L.nn.MultiheadAttention(6, 3, batch_first=True),
                              [R.normal(size=(2, 4, 6)), R.normal(size=(2, 5, 6)), R.normal(size=(2, 5, 6))]),
    "lstm_cell": (lambda L: L.nn.LSTMCell(3, 4), [R.normal(size=(2, 3))]),
    "lstm_2_layers": (lambda L: L.nn.LSTM(3, 4, num_layers=2), [R.normal(size=(5, 2, 3))]),
    "lstm_batch_first": (lambda L: L.nn.LSTM(3, 4, batch_first=True), [R.normal(size=(2, 5, 3))]),
}


@pytest.mark.parametrize("dtype", ["double", "float"], ids=["float64", "float32"])
@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_matches_torch(name, dtype):
    make, inputs = MODULES[name]
    mine, ref = _pair(make, dtype)
    if dtype == "float":
        _run(mine, ref, *[a.astype(np.float32) for a in inputs], tol=(2e-4, 2e-5, 2e-3, 2e-4))
    else:
        _run(mine, ref, *inputs)


def test_embedding_matches_torch():
    mine, ref = _pair(lambda L: L.nn.Embedding(10, 4, padding_idx=0))
    _run(mine, ref, np.array([[1, 0, 3], [3, 3, 9]]), int_inputs=(0,))


def test_mha_masks_match_torch():
    mine, ref = _pair(lambda L: L.nn.MultiheadAttention(4, 2, batch_first=True))
    x = R.normal(size=(2, 3, 4))
    causal = np.triu(np.ones((3, 3), dtype=bool), 1)
    padding = np.array([[False, False, True], [False, False, False]])

    def call(m, q):
        lib = ml if isinstance(m, ml.nn.Module) else torch
        return m(q, q, q, attn_mask=lib.tensor(causal), key_padding_mask=lib.tensor(padding))

    _run(mine, ref, x, call=call)


def test_batch_norm_running_stats_and_eval_match_torch():
    mine, ref = _pair(lambda L: L.nn.BatchNorm2d(3, momentum=None))
    for seed in range(3):
        x = np.random.default_rng(seed).normal(size=(4, 3, 2, 2))
        mine(ml.tensor(x))
        ref(torch.tensor(x))
    for key in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(mine.state_dict()[key].data, ref.state_dict()[key].numpy(), rtol=1e-7)
    mine.eval()
    ref.eval()
    _run(mine, ref, R.normal(size=(2, 3, 2, 2)))


def test_dropout_train_mode_scales_and_eval_is_identity():
    ml.manual_seed(0)
    drop = ml.nn.Dropout(0.25)
    x = ml.ones(20000)
    y = drop(x)
    kept = (y.data != 0).mean()
    assert abs(kept - 0.75) < 0.02
    assert np.allclose(y.data[y.data != 0], 1 / 0.75)
    assert abs(y.data.mean() - 1) < 0.03
    drop.eval()
    assert drop(x) is x


def test_default_init_follows_torch_bounds():
    ml.manual_seed(0)
    lin = ml.nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)
    assert np.abs(lin.weight.data).max() <= bound and np.abs(lin.weight.data).max() > 0.95 * bound
    assert abs(lin.weight.data.std() - bound / np.sqrt(3)) < 1e-3
    conv = ml.nn.Conv2d(8, 4, 3)
    assert np.abs(conv.weight.data).max() <= 1 / np.sqrt(8 * 9)
    emb = ml.nn.Embedding(1000, 50)
    assert abs(emb.weight.data.std() - 1) < 0.02


def test_module_bookkeeping():
    model = ml.nn.Sequential(ml.nn.Linear(2, 3), ml.nn.BatchNorm1d(3), ml.nn.ModuleList([ml.nn.Linear(3, 1)]))
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias", "2.0.weight", "2.0.bias"]
    assert [n for n, _ in model.named_buffers()] == ["1.running_mean", "1.running_var", "1.num_batches_tracked"]
    assert len(list(model.children())) == 3 and len(list(model.modules())) == 5
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    out = model[0](ml.ones(4, 2)).sum()
    out.backward()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    assert "Linear(in_features=2, out_features=3, bias=True)" in repr(model)
    shared = ml.nn.Linear(2, 2)
    tied = ml.nn.Sequential(shared, shared)
    assert len(list(tied.parameters())) == 2


def test_state_dict_round_trip_and_load_from_torch():
    ref = torch.nn.Linear(3, 2)
    mine = ml.nn.Linear(3, 2)
    mine.load_state_dict(ref.state_dict())
    np.testing.assert_allclose(mine.weight.data, ref.weight.detach().numpy())
    other = ml.nn.Linear(3, 2)
    other.load_state_dict(mine.state_dict())
    np.testing.assert_array_equal(other.bias.data, mine.bias.data)


def test_forward_hook_sees_output():
    lin = ml.nn.Linear(2, 2)
    seen = []
    handle = lin.register_forward_hook(lambda m, inp, out: seen.append(out.shape))
    lin(ml.ones(3, 2))
    handle.remove()
    lin(ml.ones(3, 2))
    assert seen == [(3, 2)]


def test_interop_round_trip_keeps_values_and_dtype():
    for dtype in (ml.float32, ml.float64, ml.int64, ml.bool_):
        x = ml.tensor([[1, 0], [3, 4]], dtype=dtype)
        t = to_torch(x)
        assert str(t.dtype) == "torch." + dtype.name
        back = from_torch(t)
        assert back.dtype is dtype and back.equal(x)
    g = to_torch(ml.ones(2, requires_grad=True))
    assert g.requires_grad


def test_copy_weights_minilib_to_torch():
    mine, ref = ml.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    copy_weights(mine, ref)
    np.testing.assert_allclose(ref.weight.detach().numpy(), mine.weight.data)
    with pytest.raises(RuntimeError, match="names differ"):
        copy_weights(ml.nn.Linear(3, 2, bias=False), ref)


def test_clip_grad_norm_matches_torch():
    mine, ref = _pair(lambda L: L.nn.Linear(4, 3))
    x = R.normal(size=(5, 4))
    (mine(ml.tensor(x)) ** 2).sum().backward()
    (ref(torch.tensor(x)) ** 2).sum().backward()
    n1 = ml.nn.utils.clip_grad_norm_(mine.parameters(), 0.5)
    n2 = torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.5)
    assert n1.item() == pytest.approx(n2.item())
    np.testing.assert_allclose(mine.weight.grad.data, ref.weight.grad.numpy(), rtol=1e-6)


def test_gradcheck_agrees_with_autograd_and_catches_a_wrong_backward():
    x = ml.tensor(np.random.default_rng(0).normal(size=(3, 4)), requires_grad=True)
    assert ml.gradcheck(lambda t: (t.tanh() * t.softmax(-1)).logsumexp(1), [x])
    from minilib.ops._common import make

    def wrong_square(t):
        return make(t.data ** 2, (t,), lambda g: (g * t.data,), "WrongSquare")  # should be 2 * t

    with pytest.raises(AssertionError, match="input 0"):
        ml.gradcheck(wrong_square, [x])


def _with_buffers(L):
    class Scaled(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = L.nn.Buffer(L.tensor([2.0, 0.5]))
            self.scratch = L.nn.Buffer(L.zeros(1), persistent=False)
            self.lin = L.nn.Linear(2, 2)
            self.bn = L.nn.BatchNorm1d(2)

        def forward(self, x):
            return self.bn(self.lin(x) * self.scale)

    return Scaled()


def test_nn_buffer_registers_like_torch():
    mine, ref = _with_buffers(ml), _with_buffers(torch)
    assert [n for n, _ in mine.named_buffers()] == [n for n, _ in ref.named_buffers()]
    assert list(mine.state_dict()) == list(ref.state_dict())  # persistent buffers only, in torch's order
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert isinstance(mine.scale, ml.nn.Buffer) and not mine.scale.requires_grad
    mine.to(ml.float64)
    ref.to(torch.float64)
    for (name, a), (_, b) in zip(mine.named_buffers(), ref.named_buffers()):
        assert a.dtype.name == str(b.dtype).split(".")[1], name  # floats cast, num_batches_tracked stays int64
    mine.scale = ml.ones(2)  # assigning a tensor to a buffer's name replaces the buffer
    assert "scale" in dict(mine.named_buffers()) and mine.scale.tolist() == [1.0, 1.0]


def test_state_dict_with_buffers_round_trips_through_torch():
    from minilib.interop import to_torch_state_dict

    mine, ref = _with_buffers(ml).double(), _with_buffers(torch).double()
    x = R.normal(size=(6, 2))
    mine(ml.tensor(x))  # training mode: running statistics and num_batches_tracked move
    ref.load_state_dict(to_torch_state_dict(mine.state_dict()))  # minilib -> torch
    for name, t in ref.state_dict().items():
        mine_t = mine.state_dict()[name]
        assert str(t.dtype).split(".")[1] == mine_t.dtype.name, name
        np.testing.assert_array_equal(t.numpy(), mine_t.data, err_msg=name)
    ref(torch.tensor(x))
    ref.bn.running_mean.add_(0.25)
    mine.load_state_dict(ref.state_dict())  # torch -> minilib
    for name, t in ref.state_dict().items():
        np.testing.assert_array_equal(mine.state_dict()[name].data, t.numpy(), err_msg=name)
    assert mine.bn.num_batches_tracked.item() == 2
    mine.eval()
    ref.eval()
    _run(mine, ref, R.normal(size=(3, 2)))
