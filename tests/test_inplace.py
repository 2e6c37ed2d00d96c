"""In-place semantics against torch: version counters, in-place ops that mutate, refusals with advice.

Each case runs the same function on minilib and on torch and compares: the same values (and
gradients), or the same kind of error; minilib's message must also say what to do instead.
"""
import numpy as np
import pytest
import torch

import minilib as ml


def outcome(fn, lib):
    """("ok", values as nested lists) or ("error", exception type, message)."""
    try:
        out = fn(lib)
    except (RuntimeError, TypeError, ValueError, IndexError) as e:
        return ("error", type(e), str(e))
    return ("ok", _plain(out))


def _plain(x):
    if isinstance(x, (ml.Tensor, torch.Tensor)):
        return np.asarray(x.detach().tolist() if isinstance(x, torch.Tensor) else x.tolist(), dtype=float).tolist()
    if isinstance(x, (tuple, list)):
        return [_plain(v) for v in x]
    return x


def same_outcome(fn, error_match=None):
    """Run ``fn`` on both libraries; values must agree, or both must raise the same exception type."""
    mine, ref = outcome(fn, ml), outcome(fn, torch)
    assert mine[0] == ref[0], f"minilib: {mine}, torch: {ref}"
    if mine[0] == "ok":
        a, b = _flat(mine[1]), _flat(ref[1])
        assert [v for v in a if isinstance(v, str)] == [v for v in b if isinstance(v, str)]
        np.testing.assert_allclose([v for v in a if not isinstance(v, str)],
                                   [v for v in b if not isinstance(v, str)], rtol=1e-6, atol=1e-7)
    else:
        assert mine[1] is ref[1], f"minilib raised {mine[1].__name__}, torch {ref[1].__name__}: {mine[2]}"
        if error_match:
            assert any(w in mine[2] for w in error_match), f"minilib's message lacks {error_match}: {mine[2]}"
    return mine


def _flat(v):
    if isinstance(v, list):
        return [y for x in v for y in _flat(x)]
    return [v if isinstance(v, str) else float(v)]


def leaf(lib, values=(1.0, 2.0, 3.0), dtype=None):
    return lib.tensor(list(values), dtype=dtype or lib.float64, requires_grad=True)


# --------------------------------------------------------------------- version counters
def test_review_case_modified_input_of_log_raises_naming_the_op():
    def run(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x.log().sum()
        with lib.no_grad():
            x.add_(1)
        y.backward()
        return x.grad

    _, _, message = same_outcome(run)
    assert "modified by an inplace operation" in message and "LogBackward" in message
    assert "is at version 1; expected version 0" in message


@pytest.mark.parametrize("alias", ["detach", "view", "slice", "transpose", "reshape", "itself", "setitem",
                                   "data_ptr_view_of_view"])
def test_version_is_shared_by_views_and_detach(alias):
    """Writing through any alias of x bumps x's version, as in torch, so a saved x is caught."""
    def run(lib):
        x = lib.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=lib.float64, requires_grad=True)
        h = x * 1.0
        y = (h * h).sum()  # saves h
        with lib.no_grad():
            if alias == "detach":
                h.detach().add_(1)
            elif alias == "view":
                h.view(4).mul_(2)
            elif alias == "slice":
                h[0].zero_()
            elif alias == "transpose":
                h.t().add_(1)
            elif alias == "reshape":
                h.reshape(4).sub_(1)
            elif alias == "itself":
                h += 1
            elif alias == "setitem":
                h[1, 1] = 7.0
            else:
                h[0:2].view(4)[1:3].fill_(0)
        versions = (x._version, h._version, h.detach()._version)
        try:
            y.backward()
        except RuntimeError as e:
            return versions, "raised" if "modified by an inplace operation" in str(e) else str(e)
        return versions, "no error"

    mine, ref = run(ml), run(torch)
    assert mine == ref


def test_version_counts_every_in_place_write_like_torch():
    def run(lib):
        x = lib.zeros(2, 3)
        seen = [x._version]
        for step in (lambda: x.add_(1), lambda: x.__setitem__(0, 2.0), lambda: x.detach().mul_(2),
                     lambda: x.view(6).zero_(), lambda: x.copy_(lib.ones(3)), lambda: x.fill_(3.0),
                     lambda: x.clamp_(0, 1), lambda: x.__iadd__(1), lambda: x.__imul__(2)):
            step()
            seen.append(x._version)
        return seen

    assert run(ml) == run(torch)


# Ops whose backward needs no input values must not raise when an input is changed after the forward.
VALUE_FREE = {
    "add": lambda L, h, w: h + w, "sub": lambda L, h, w: h - w, "neg": lambda L, h, w: -h,
    "add_scalar": lambda L, h, w: h + 2.0, "mul_scalar": lambda L, h, w: h * 3.0,
    "sum": lambda L, h, w: h.sum(0), "mean": lambda L, h, w: h.mean(1), "reshape": lambda L, h, w: h.reshape(6),
    "view": lambda L, h, w: h.view(3, 2), "transpose": lambda L, h, w: h.transpose(0, 1),
    "permute": lambda L, h, w: h.permute(1, 0), "expand": lambda L, h, w: h[:1].expand(4, 3),
    "cat": lambda L, h, w: L.cat([h, w]), "stack": lambda L, h, w: L.stack([h, w]),
    "index_int": lambda L, h, w: h[1], "index_slice": lambda L, h, w: h[:, 1:],
    "index_array": lambda L, h, w: h[L.tensor([1, 0, 1])], "index_mask": lambda L, h, w: h[L.tensor([True, False])],
    "unsqueeze": lambda L, h, w: h.unsqueeze(0), "squeeze": lambda L, h, w: h[None].squeeze(0),
    "flatten": lambda L, h, w: h.flatten(), "narrow": lambda L, h, w: h.narrow(1, 0, 2),
    "split": lambda L, h, w: h.split(1)[0], "clone": lambda L, h, w: h.clone(),
    "gather": lambda L, h, w: h.gather(1, L.tensor([[0], [2]])),
    "index_select": lambda L, h, w: h.index_select(1, L.tensor([2, 0])),
    "mul_by_constant_tensor": lambda L, h, w: h * w.detach(),
    "masked_fill": lambda L, h, w: h.masked_fill(L.tensor([[True, False, True], [False, False, True]]), 0.0),
    "where": lambda L, h, w: L.where(L.tensor([[True, False, True], [False, False, True]]), h, w),
    "cumsum": lambda L, h, w: h.cumsum(1), "flip": lambda L, h, w: h.flip(0), "tril": lambda L, h, w: h.tril(),
    "float_cast": lambda L, h, w: h.float(),
}


def _grads_after_change(op, changed):
    """A run of ``op`` where ``changed`` ("input", "output" or None) is modified in place after the forward."""
    def run(lib):
        x = leaf(lib, (1.0, 2.0, 3.0, 0.5, 1.5, 4.0))
        w = leaf(lib, (0.3, 0.1, -0.2, 2.0, 1.0, 0.4))
        h = (x * 1.0).reshape(2, 3)
        out = op(lib, h, w.reshape(2, 3))
        if changed:
            with lib.no_grad():
                (h if changed == "input" else out).mul_(1.5)
        g = lib.tensor(np.linspace(-1, 1, out.numel()).reshape(tuple(out.shape)).tolist(), dtype=out.dtype)
        out.backward(g)
        return [t.grad if t.grad is not None else lib.zeros(6, dtype=lib.float64) for t in (x, w)]

    return run


@pytest.mark.parametrize("name", sorted(VALUE_FREE))
def test_ops_that_need_no_input_values_allow_changing_them_after_the_forward(name):
    """minilib never raises here, and its gradients are those of the values at forward time (torch's own
    gather and split refuse, since they save more than they need)."""
    run = _grads_after_change(VALUE_FREE[name], "input")
    mine = outcome(run, ml)
    assert mine[0] == "ok", mine
    np.testing.assert_allclose(_flat(mine[1]), _flat(outcome(_grads_after_change(VALUE_FREE[name], None),
                                                             torch)[1]), rtol=1e-12)
    ref = outcome(run, torch)
    assert ref[0] == "ok" or name in ("gather", "split"), ref


NEED_VALUES = {
    "log": lambda L, h, w: h.log(), "exp_output": lambda L, h, w: h.exp(), "mul": lambda L, h, w: h * w,
    "div_by": lambda L, h, w: w / h, "pow": lambda L, h, w: h ** 2, "matmul": lambda L, h, w: h @ w.T,
    "sigmoid": lambda L, h, w: h.sigmoid(), "tanh": lambda L, h, w: h.tanh(), "sqrt": lambda L, h, w: h.sqrt(),
    "softmax": lambda L, h, w: L.nn.functional.softmax(h, -1), "sin": lambda L, h, w: h.sin(),
    "prod": lambda L, h, w: h.prod(1), "norm": lambda L, h, w: h.norm(dim=1),
    "linear": lambda L, h, w: L.nn.functional.linear(w, h), "relu_output": lambda L, h, w: h.relu(),
}


@pytest.mark.parametrize("name", sorted(NEED_VALUES))
@pytest.mark.parametrize("changed", ["input", "output"])
def test_changing_a_value_a_backward_needs_raises_as_in_torch(name, changed):
    """Where torch raises, minilib raises too (a RuntimeError with advice) unless its backward does not read
    that value (then its gradient is the right one); where torch computes, minilib's gradient is the same."""
    mine, ref = outcome(_grads_after_change(NEED_VALUES[name], changed), ml), \
        outcome(_grads_after_change(NEED_VALUES[name], changed), torch)
    right = _flat(outcome(_grads_after_change(NEED_VALUES[name], None), torch)[1])
    if mine[0] == "error":
        assert mine[1] is RuntimeError and "in-place" in mine[2] and ref[0] == "error", (mine, ref)
    else:
        np.testing.assert_allclose(_flat(mine[1]), right, rtol=1e-12)
        if ref[0] == "ok":
            np.testing.assert_allclose(_flat(mine[1]), _flat(ref[1]), rtol=1e-12)
    if changed == "input" and name in ("log", "mul", "pow", "sin", "matmul", "prod", "norm", "linear"):
        assert mine[0] == "error", "the backward reads the input: the change must be caught"
    if changed == "output" and name in ("exp_output", "sigmoid", "tanh", "sqrt", "softmax", "relu_output", "norm"):
        assert mine[0] == "error", "the backward reads the output: the change must be caught"


INDEX_USERS = {  # op(lib, x, index or mask) whose backward reads the index or mask tensor
    "getitem": lambda L, x, i: x[i], "getitem_bool": lambda L, x, m: x[m], "gather": lambda L, x, i: x.gather(0, i),
    "index_select": lambda L, x, i: x.index_select(0, i), "masked_select": lambda L, x, m: x.masked_select(m),
    "where": lambda L, x, m: L.where(m, x * 2, x * 0), "masked_fill": lambda L, x, m: x.masked_fill(m, 0.0),
    "scatter": lambda L, x, i: x.scatter(0, i, x[:3] * 2), "scatter_add": lambda L, x, i: x.scatter_add(0, i, x[:3]),
}


@pytest.mark.parametrize("name", sorted(INDEX_USERS))
def test_changing_an_index_or_mask_a_backward_reads_raises_as_in_torch(name):
    """The backward of indexing, gather, where, masked_fill, … reads its index or mask: changing that tensor
    in place before backward must raise (torch saves it too), not send the gradient to the new positions."""
    def run(lib):
        x = leaf(lib, (1.0, 2.0, 3.0, 4.0))
        mask = name in ("getitem_bool", "masked_select", "where", "masked_fill")
        i = lib.tensor([True, False, True, False]) if mask else lib.tensor([0, 0, 2])
        out = INDEX_USERS[name](lib, x, i)
        i.fill_(False if mask else 3)
        out.backward(lib.ones_like(out))
        return x.grad

    same_outcome(run, error_match=["modified by an inplace operation"])


def test_changing_the_index_of_an_in_graph_setitem_raises_as_in_torch():
    def run(lib):
        x = leaf(lib)
        h, i = x * 1, lib.tensor([0, 1])
        h[i] = x[:2] * 5
        i.fill_(2)
        h.sum().backward()
        return x.grad

    same_outcome(run, error_match=["modified by an inplace operation"])


def test_optimizer_step_bumps_versions_so_a_stale_graph_cannot_backward():
    def run(lib):
        w = leaf(lib)
        loss = (w ** 2).sum()
        opt = lib.optim.SGD([w], lr=0.1)
        loss.backward(retain_graph=True)
        opt.step()
        loss.backward()
        return w.grad

    same_outcome(run, error_match=["modified by an inplace operation"])


def test_a_tensor_feeding_many_ops_modified_after_backward():
    """After backward the graph is gone: changing x is fine and a new forward sees the new values.
    Backward again through a retained graph that saved x raises, in both."""
    def run(lib):
        x = leaf(lib)
        y = (x.exp() + x * 2 + x.sin() + x.sum()).sum()
        y.backward(retain_graph=True)
        first = x.grad.clone()
        with lib.no_grad():
            x.mul_(0.5)
            x.grad.zero_()
        (x.exp() + x * 2 + x.sin()).sum().backward()
        second = x.grad.clone()
        try:
            y.backward()
            third = "no error"
        except RuntimeError as e:
            third = "modified by an inplace operation" in str(e)
        return first, second, third

    mine, ref = run(ml), run(torch)
    np.testing.assert_allclose(mine[0].tolist(), ref[0].tolist(), rtol=1e-12)
    np.testing.assert_allclose(mine[1].tolist(), ref[1].tolist(), rtol=1e-12)
    assert mine[2] is True and ref[2] is True


# --------------------------------------------------------------------- in-place ops mutate in place
def test_hand_written_sgd_outside_no_grad_raises_with_advice():
    def run(lib):
        p = leaf(lib)
        (p * p).sum().backward()
        p -= 0.1 * p.grad
        return p

    _, _, message = same_outcome(run)
    assert "no_grad" in message and "p -= lr * p.grad" in message


@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/=", "add_", "sub_", "mul_", "div_", "zero_", "fill_", "copy_",
                                "clamp_", "setitem", "uniform_", "addcmul_", "lerp_"])
def test_every_in_place_op_on_a_leaf_that_requires_grad_is_refused_outside_no_grad(op):
    def run(lib):
        p = leaf(lib)
        other = lib.ones(3, dtype=lib.float64)
        {"+=": lambda: p.__iadd__(1.0), "-=": lambda: p.__isub__(other), "*=": lambda: p.__imul__(2.0),
         "/=": lambda: p.__itruediv__(2.0), "add_": lambda: p.add_(other), "sub_": lambda: p.sub_(1.0),
         "mul_": lambda: p.mul_(other), "div_": lambda: p.div_(2.0), "zero_": lambda: p.zero_(),
         "fill_": lambda: p.fill_(1.0), "copy_": lambda: p.copy_(other), "clamp_": lambda: p.clamp_(0, 1),
         "setitem": lambda: p.__setitem__(0, 5.0), "uniform_": lambda: p.uniform_(),
         "addcmul_": lambda: p.addcmul_(other, other), "lerp_": lambda: p.lerp_(other, 0.5)}[op]()
        return p

    _, _, message = same_outcome(run)
    assert "no_grad" in message


def test_hand_written_sgd_under_no_grad_trains_like_torch():
    """The update changes the parameter object itself (the optimizer's list sees it)."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 1))

    def run(lib):
        w = lib.tensor(np.full((3, 1), 0.1).tolist(), dtype=lib.float64, requires_grad=True)
        b = lib.zeros(1, dtype=lib.float64, requires_grad=True)
        params = [w, b]
        xs, ys = lib.tensor(x.tolist(), dtype=lib.float64), lib.tensor(y.tolist(), dtype=lib.float64)
        for _ in range(20):
            loss = ((xs @ w + b - ys) ** 2).mean()
            loss.backward()
            with lib.no_grad():
                for p in params:
                    p -= 0.1 * p.grad
                    p.grad.zero_()
        assert params[0] is w and params[1] is b
        return w, b, loss

    same_outcome(run)


def test_in_place_ops_keep_the_object_and_the_memory():
    for lib in (ml, torch):
        y = lib.zeros(3)
        alias, before = y, y.detach()
        y += 1
        y *= 3
        y.sub_(1)
        y[0] = 10.0
        assert alias is y and before.tolist() == [10.0, 2.0, 2.0]


@pytest.mark.parametrize("case", ["int += float", "int *= float", "int /= int", "bool += int", "int += float tensor",
                                  "f32 += f64", "i32 += i64", "f64 += f32", "int clamp_ float", "int copy_ float",
                                  "int fill_ float", "int setitem float"])
def test_in_place_ops_that_would_change_dtype_raise_as_in_torch(case):
    def run(lib):
        t = {"int": lambda: lib.tensor([1, 2, 3]), "bool": lambda: lib.tensor([True, False, True]),
             "f32": lambda: lib.ones(3), "i32": lambda: lib.ones(3, dtype=lib.int32),
             "f64": lambda: lib.ones(3, dtype=lib.float64)}[case.split()[0]]()
        {"int += float": lambda: t.__iadd__(0.5), "int *= float": lambda: t.__imul__(2.0),
         "int /= int": lambda: t.__itruediv__(2), "bool += int": lambda: t.__iadd__(1),
         "int += float tensor": lambda: t.__iadd__(lib.ones(3)),
         "f32 += f64": lambda: t.__iadd__(lib.ones(3, dtype=lib.float64) / 3),
         "i32 += i64": lambda: t.__iadd__(lib.tensor([1, 2, 3])), "f64 += f32": lambda: t.__iadd__(lib.ones(3) / 3),
         "int clamp_ float": lambda: t.clamp_(0.5, 2), "int copy_ float": lambda: t.copy_(lib.tensor([1.7, -1.7, 2.0])),
         "int fill_ float": lambda: t.fill_(1.5), "int setitem float": lambda: t.__setitem__(0, 2.5)}[case]()
        return t, str(t.dtype).split(".")[-1]

    mine = same_outcome(run, error_match=["can't be cast", "out of place"])
    if mine[0] == "ok":  # the dtype stays the tensor's own
        assert mine[1][1] == outcome(run, torch)[1][1]


def test_in_place_op_cannot_change_the_shape():
    same_outcome(lambda L: L.ones(3).__iadd__(L.ones(2, 3)), error_match=["broadcast shape"])
    same_outcome(lambda L: L.ones(2, 3).__iadd__(L.ones(3)))


def test_writing_into_expanded_memory_is_refused():
    same_outcome(lambda L: L.ones(1, 3).expand(2, 3).add_(1), error_match=["clone()"])


def test_views_see_in_place_writes_both_ways():
    def run(lib):
        base = lib.zeros(2, 3)
        row, col, diag = base[0], base[:, 1], base[:, :2].diagonal()
        base.add_(1)
        row.mul_(5)
        col[1] = 7.0
        diag.fill_(-1.0)
        flipped = base.flip(0)  # flip copies, in torch too
        base.zero_()
        return base, row, col, flipped

    same_outcome(run)


# --------------------------------------------------------------------- in-place ops inside the graph
GRAPH_CASES = {
    "add_leaf": lambda L, x, w: (lambda y: (y.__iadd__(w), y)[1])(x * 2),
    "mul_by_leaf_needs_the_old_value": lambda L, x, w: (lambda y: (y.mul_(w), y)[1])(x * 2),
    "div_by_leaf": lambda L, x, w: (lambda y: (y.div_(w + 3), y)[1])(x * 2),
    "exp_output_then_div_": lambda L, x, w: (lambda y: (y.div_(w + 3), y)[1])(x.exp()),  # both raise
    "earlier_use_keeps_the_old_value": lambda L, x, w: (lambda y: (lambda z: (y.mul_(2), z + y)[1])(y * 3))(x * w),
    "setitem_value_requires_grad": lambda L, x, w: (lambda y: (y.__setitem__(slice(1, 3), w[:2] * 4), y)[1])(x * 1),
    "setitem_into_plain": lambda L, x, w: (lambda o: (o.__setitem__(slice(0, 3), x * w), o)[1])(
        L.zeros(4, dtype=L.float64)),
    "copy_into_plain": lambda L, x, w: (lambda o: (o.copy_(x * 3), o * w)[1])(L.zeros(3, dtype=L.float64)),
    "fill_non_leaf": lambda L, x, w: (lambda y: (y.fill_(2.0), y * w)[1])(x * 2),
    "zero_non_leaf_then_add": lambda L, x, w: (lambda y: (y.zero_(), y.add_(w), y * x)[2])(x * 2),
    "clamp_": lambda L, x, w: (lambda y: (y.clamp_(-0.5, 1.5), y)[1])(x * w),
    "addcmul_": lambda L, x, w: (lambda y: (y.addcmul_(x, w, value=0.5), y)[1])(x * 1),
    "lerp_": lambda L, x, w: (lambda y: (y.lerp_(w, 0.25), y)[1])(x * 2),
    "sub_alpha": lambda L, x, w: (lambda y: (y.sub_(w, alpha=3), y)[1])(x.sin()),
    "chain_of_in_place": lambda L, x, w: (lambda y: (y.add_(1), y.mul_(w), y.div_(2), y.__isub__(x), y)[4])(x * 1),
}


@pytest.mark.parametrize("name", sorted(GRAPH_CASES))
def test_in_place_ops_inside_the_graph_match_torch(name):
    """Forward values and gradients, with the tensor modified in place while recorded."""
    build = GRAPH_CASES[name]

    def run(lib):
        x = leaf(lib, (0.5, -1.0, 2.0))
        w = leaf(lib, (1.5, 0.25, -0.75))
        out = build(lib, x, w)
        out.backward(lib.tensor([1.0, -2.0, 0.5, 3.0][:out.numel()], dtype=lib.float64).reshape(tuple(out.shape)))
        return out, x.grad if x.grad is not None else lib.zeros(3), w.grad if w.grad is not None else lib.zeros(3)

    same_outcome(run, error_match=["modified by an inplace operation"])


def test_x_mul_x_in_place_inside_the_graph_gets_the_right_gradient():
    """Deliberately not copied from torch: there y.mul_(y) saves y, overwrites it, and backward raises;
    minilib records the product against a copy of the old y and gives the gradient of y * y."""
    x = ml.tensor([0.5, -1.0, 2.0], dtype=ml.float64, requires_grad=True)
    y = x * 3
    y.mul_(y)
    y.sum().backward()
    xt = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    ((xt * 3) * (xt * 3)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy())
    yt = xt * 3
    yt.mul_(yt)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        yt.sum().backward()


def test_in_place_on_a_view_of_a_leaf_is_refused_as_in_torch():
    same_outcome(lambda L: leaf(L).view(3).add_(1), error_match=["no_grad"])
    same_outcome(lambda L: leaf(L)[0:2].mul_(2), error_match=["no_grad"])


def test_in_place_on_a_view_of_a_graph_tensor_is_refused_where_torch_would_rebase_the_base():
    """Deliberately not copied from torch: torch rewrites the viewed tensor's gradient; minilib refuses."""
    def run(lib):
        x = leaf(lib)
        h = x * 2
        h[0:2].mul_(3)
        h.sum().backward()
        return x.grad

    assert outcome(run, torch)[0] == "ok"
    mine = outcome(run, ml)
    assert mine[0] == "error" and mine[1] is RuntimeError and "out-of-place" in mine[2]


def test_a_view_taken_before_its_base_was_changed_in_the_graph_is_refused():
    """Deliberately not copied from torch (which regenerates the view's node): the view's recorded gradient
    is that of the old base, so minilib refuses to use it instead of differentiating the wrong function."""
    x = ml.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 2
    v = h[0:2]
    early = v.sum()  # used before the change: fine
    h.mul_(3)
    with pytest.raises(RuntimeError, match="take the view again"):
        v * 1
    early.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 0.0])


def test_retain_grad_follows_the_tensor_and_hooks_stay_with_the_old_value():
    def run(lib):
        x = leaf(lib, (1.0, 2.0))
        y = x * 2
        seen = []
        y.register_hook(lambda g: seen.append(g.clone()))
        y.retain_grad()
        y.mul_(3)
        assert y.retains_grad and not x.retains_grad
        (y * y).sum().backward()
        return y.grad, seen[0], x.grad

    same_outcome(run)


def test_in_place_under_no_grad_on_parameters_and_buffers_still_works():
    """What optimizers, init functions and load_state_dict do."""
    lin = ml.nn.Linear(3, 2)
    with ml.no_grad():
        lin.weight.zero_()
        lin.bias.fill_(1.0)
        lin.weight.copy_(ml.ones(2, 3))
        lin.weight += 1
    assert lin.weight.data.tolist() == [[2.0] * 3] * 2 and lin.weight.is_leaf and lin.weight.requires_grad
    ml.nn.init.kaiming_uniform_(lin.weight)
    ref = torch.nn.Linear(3, 2)
    lin.load_state_dict(ref.state_dict())
    np.testing.assert_allclose(lin.weight.data, ref.weight.detach().numpy())
    assert lin.weight.grad_fn is None and lin.weight._version > 0
