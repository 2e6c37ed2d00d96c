"""Autograd semantics: accumulation, reuse, no_grad, detach, hooks, retain_graph, deep graphs."""
import numpy as np
import pytest
import torch

import minilib as ml
from minilib.ops._common import make


def test_gradients_accumulate_across_backward_calls():
    x = ml.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    xt = torch.tensor([1.0, 2.0], requires_grad=True)
    (xt * 3).sum().backward()
    (xt * xt).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy())


def test_non_leaf_used_several_times_gets_summed_gradient():
    x = ml.tensor([0.5, -1.5], requires_grad=True)
    h = x.tanh()
    (h * h + h.exp() + h).sum().backward()
    xt = torch.tensor([0.5, -1.5], requires_grad=True)
    ht = xt.tanh()
    (ht * ht + ht.exp() + ht).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6)


def test_diamond_graph_topological_order():
    a = ml.tensor(2.0, requires_grad=True)
    b = a * 3
    c = a + (b - a) * 0.25
    d = c * b
    d.backward()
    at = torch.tensor(2.0, requires_grad=True)
    bt = at * 3
    dt = (at + (bt - at) * 0.25) * bt
    dt.backward()
    assert a.grad.item() == pytest.approx(at.grad.item())


def test_ten_thousand_op_chain_has_no_recursion_limit():
    x = ml.tensor(1.0, dtype=ml.float64, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001 ** 10_000, rel=1e-9)


def test_no_grad_context_and_decorator():
    x = ml.ones(2, requires_grad=True)
    with ml.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None

    @ml.no_grad()
    def double(t):
        return t * 2

    assert not double(x).requires_grad
    assert ml.is_grad_enabled()
    assert (x * 2).requires_grad


def test_detach_cuts_the_graph_and_shares_memory():
    x = ml.ones(3, requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None
    y = (x * d).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 2, 2])
    base = ml.zeros(2)
    base.detach().data[0] = 5
    assert base[0].item() == 5


def test_backward_twice_needs_retain_graph():
    x = ml.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.exp([1.0, 2.0]), rtol=1e-6)
    z = (x * x).sum()
    z.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        z.backward()


def test_backward_on_non_scalar_needs_gradient():
    x = ml.ones(2, 3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"scalar outputs.*\(2, 3\)"):
        y.backward()
    y.backward(ml.ones(2, 3))
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.ones((2, 3)))
    with pytest.raises(RuntimeError, match="gradient has shape"):
        (x * 2).backward(ml.ones(3))


def test_backward_without_grad_fn_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ml.ones(2).sum().backward()


def test_int_tensor_cannot_require_grad():
    with pytest.raises(RuntimeError, match="floating point"):
        ml.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        ml.arange(3).requires_grad_()


def test_hooks_see_and_replace_gradients():
    x = ml.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.numpy().copy()))
    (x * 3).sum().backward()
    assert np.allclose(seen[0], [3, 3])
    handle.remove()
    x.grad = None
    y = x * 2
    y.register_hook(lambda g: g * 10)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [20, 20])


def test_retain_grad_keeps_non_leaf_grad():
    x = ml.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [4, 8])


def test_detach_in_place_makes_a_leaf_that_stops_gradients():
    for lib in (ml, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        assert y.detach_() is y and y.is_leaf and not y.requires_grad and y.grad_fn is None
        (x * y).sum().backward()
        assert x.grad.tolist() == [2.0, 4.0]


def test_is_leaf_and_grad_fn():
    x = ml.ones(2, requires_grad=True)
    y = x + 1
    assert x.is_leaf and not y.is_leaf
    assert "Add" in repr(y)


def test_setitem_records_gradient_for_assigned_values():
    x = ml.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = ml.zeros(5)
    out[1:4] = x * 2
    (out * ml.arange(5).float()).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 4, 6])


def test_setitem_on_non_leaf_blocks_gradient_of_overwritten_part():
    x = ml.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1.0
    y[0] = 10.0
    y.sum().backward()
    xt = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    yt = xt * 1.0
    yt[0] = 10.0
    yt.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy())


def test_inplace_on_leaf_requiring_grad_is_refused():
    w = ml.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w.add_(1)
    with ml.no_grad():
        w.add_(1)
    assert w[0].item() == 2


def test_augmented_assignment_inside_graph_keeps_gradients():
    x = ml.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y += x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3, 3])


def test_float32_default_and_promotion_rules_match_torch():
    cases = [
        (lambda L: L.tensor([1.0]) + 1),
        (lambda L: L.tensor([1, 2]) + 1.5),
        (lambda L: L.tensor([1, 2]) / 2),
        (lambda L: L.tensor([1.0]) + L.tensor([1.0], dtype=L.float64)),
        (lambda L: L.tensor([1.0]) + L.tensor(2.0, dtype=L.float64)),
        (lambda L: L.tensor([True]) + 1),
        (lambda L: L.arange(3)),
        (lambda L: L.arange(0, 1, 0.5)),
        (lambda L: L.tensor([1, 2]).sum()),
        (lambda L: L.zeros(2, dtype=L.float64) * 2.0),
    ]
    for build in cases:
        assert str(build(ml).dtype).split(".")[1] == str(build(torch).dtype).split(".")[1]


def test_custom_function_matches_torch_autograd_function():
    def make(lib):
        base = lib.autograd.Function

        class Cube(base):
            @staticmethod
            def forward(ctx, x, scale):
                ctx.save_for_backward(x)
                ctx.scale = scale
                return x * x * x * scale

            @staticmethod
            def backward(ctx, grad):
                (x,) = ctx.saved_tensors
                return 3 * x * x * ctx.scale * grad, None

        return Cube

    x_np = np.array([0.5, -1.0, 2.0])
    xm, xt = ml.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    ym, yt = make(ml).apply(xm, 2.0), make(torch).apply(xt, 2.0)
    (ym.sin().sum()).backward()
    (yt.sin().sum()).backward()
    np.testing.assert_allclose(ym.detach().numpy(), yt.detach().numpy())
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy())
    assert "Cube" in repr(ym)


def test_custom_function_with_wrong_gradient_count_is_explained():
    class Bad(ml.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, grad):
            return grad

    out = Bad.apply(ml.ones(2, requires_grad=True), ml.ones(2))
    with pytest.raises(RuntimeError, match="returned 1 gradients but forward took 2"):
        out.sum().backward()


# .grad is always a new array of its own (the first gradient is copied, see bench/grad_copy.py): it is
# edited in place (zero_grad, clip_grad_norm_), so it must never alias an array someone else holds.
def _op_returning(grad_array, x):
    """y = x, whose backward hands back ``grad_array`` itself (its closure holds it)."""
    return make(x.data.copy(), (x,), lambda g: (grad_array,), "Probe")


def test_two_leaves_given_the_same_gradient_array_get_separate_grads():
    x, y = ml.ones(3, requires_grad=True), ml.ones(3, requires_grad=True)
    both = make(x.data + y.data, (x, y), lambda g: (g * 2,) * 2, "Probe")  # one fresh array for both inputs
    both.backward(ml.ones(3))
    assert not np.shares_memory(x.grad.data, y.grad.data)
    x.grad.data *= 0
    assert y.grad.tolist() == [2.0, 2.0, 2.0]


def test_a_gradient_kept_by_a_retained_graph_is_copied():
    saved = np.full(3, 2.0, dtype=np.float32)
    x = ml.ones(3, requires_grad=True)
    y = _op_returning(saved, x)
    del saved  # only the graph's closure holds it now
    y.backward(ml.ones(3), retain_graph=True)
    x.grad.data *= 0  # an in-place edit (zero_grad, clipping) must not reach the retained graph
    y.backward(ml.ones(3))
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_a_gradient_kept_by_a_hook_is_copied():
    x, seen = ml.ones(3, requires_grad=True), []
    x.register_hook(seen.append)
    (x * 3).sum().backward()
    x.grad.data *= 0
    assert seen[0].tolist() == [3.0, 3.0, 3.0]


def test_a_fresh_unshared_gradient_is_copied_too():
    """No reference-count trick: even a gradient nothing else holds becomes a new array."""
    made = []

    def backward(g):
        fresh = g * 2
        made.append(fresh)
        return (fresh,)

    x = ml.ones(3, requires_grad=True)
    make(x.data.copy(), (x,), backward, "Probe").backward(ml.ones(3))
    assert not np.shares_memory(x.grad.data, made[0])


@pytest.mark.parametrize("lib", [ml, torch])
def test_clip_grad_norm_after_a_retained_graph_leaves_the_upstream_gradient_alone(lib):
    """Add's backward hands the upstream gradient through unchanged; clipping x.grad in place must not
    change it, nor what the retained graph hands out the second time. Same numbers in torch."""
    x = lib.ones(3, requires_grad=True)
    up = lib.full((3,), 2.0)
    y = x + 1
    y.backward(up, retain_graph=True)
    lib.nn.utils.clip_grad_norm_([x], 0.1)
    clipped = x.grad.tolist()
    y.backward(up)
    assert up.tolist() == [2.0, 2.0, 2.0]
    np.testing.assert_allclose(x.grad.tolist(), np.array(clipped) + 2.0, rtol=1e-6)
    np.testing.assert_allclose(clipped, np.full(3, 0.1 / np.sqrt(3)), rtol=1e-5)


# --------------------------------------------------------------------- edge cases, each against torch
def _both(run):
    """``run(lib)`` on minilib and torch: the same values, or the same kind of error (returned)."""
    results = []
    for lib in (ml, torch):
        try:
            results.append(("ok", [np.asarray(v.tolist() if hasattr(v, "tolist") else v, dtype=float).tolist()
                                   for v in run(lib)]))
        except RuntimeError as e:
            results.append(("error", str(e)))
    (kind_m, mine), (kind_t, ref) = results
    assert kind_m == kind_t, f"minilib: {results[0]}, torch: {results[1]}"
    if kind_m == "ok":
        for a, b in zip(mine, ref):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    return mine


def test_retain_graph_twice_then_once_more_accumulates_like_torch():
    def run(lib):
        x = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
        y = (x.exp() * x.sin() + x * x).sum()
        y.backward(retain_graph=True)
        first = x.grad.clone()
        y.backward(retain_graph=True)
        second = x.grad.clone()
        y.backward()  # the last one frees the graph
        return first, second, x.grad

    _both(run)

    def fourth(lib):
        x = lib.tensor([1.0], requires_grad=True)
        y = x.exp().sum()
        for _ in range(3):
            y.backward(retain_graph=True)
        y.backward()
        y.backward()
        return (x.grad,)

    assert "retain_graph=True" in _both(fourth)


@pytest.mark.parametrize("make", ["int_tensor", "int_cast_of_float", "argmax", "comparison"])
def test_backward_on_an_integer_tensor_raises_like_torch(make):
    def run(lib):
        x = lib.tensor([1.5, -2.0], requires_grad=True)
        y = {"int_tensor": lambda: lib.tensor([1, 2]).sum(), "int_cast_of_float": lambda: x.int().sum(),
             "argmax": lambda: x.argmax(), "comparison": lambda: (x > 0).sum()}[make]()
        y.backward()
        return (x.grad,)

    message = _both(run)
    assert "requires_grad=True" in message or "does not require grad" in message


def test_hooks_that_return_a_new_gradient_match_torch():
    def run(lib):
        x = lib.tensor([1.0, -2.0, 3.0], dtype=lib.float64, requires_grad=True)
        x.register_hook(lambda g: g + 1)  # leaf: runs before .grad is written
        h = x * x
        h.register_hook(lambda g: g * 10)  # non-leaf: changes what flows to x
        h.register_hook(lambda g: None)  # returning None keeps the gradient
        second = h.register_hook(lambda g: g - 0.5)
        out = (h.sin() + h).sum()
        out.backward(retain_graph=True)
        first = x.grad.clone()
        second.remove()
        out.backward()
        return first, x.grad

    _both(run)


def test_requires_grad_on_a_non_leaf_like_torch():
    def on(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        y.requires_grad_(True)  # already true: allowed, nothing changes
        (y * y).sum().backward()
        return x.grad, [float(y.requires_grad), float(y.is_leaf)]

    _both(on)

    def off(lib):
        y = lib.tensor([1.0, 2.0], requires_grad=True) * 2
        y.requires_grad_(False)
        return (y,)

    assert "leaf" in _both(off) and "detach()" in _both(off)
