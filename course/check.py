"""``check``: run a learner's function and a reference on the same seeded inputs and say what differs.

    check("softmax", softmax, F.softmax, (4, 5), dim=1)
    ✓ softmax: output and gradients match the reference

On a mismatch it raises :class:`CheckFailed` naming the first difference (type, shape, dtype,
values or a gradient), where it is, by how much, and a hint.

Random code has no single right output; :func:`expect` checks the properties it must have instead.
A property is a bool, or a measurement made with :func:`near`, :func:`at_least` or :func:`at_most`,
so that a failure prints the value measured beside the bound:

    expect("keep_mask", lambda: {"about 70% of entries kept": near(mask.mean(), 0.7, 0.01)})
    ✓ keep_mask: about 70% of entries kept

A failed check shows the learner its message, not the library's stack frames.
"""
import numpy as np

from minilib.tensor import Tensor


def _render_message_only(self):
    """IPython shows this instead of a traceback (frames inside the course package teach nothing).

    When the learner's own code raised (the exception has a cause), the normal traceback is shown,
    so they see the line in their code; the course's frames are hidden by ``__tracebackhide__``.
    """
    if self.__cause__ is not None:
        raise AttributeError("show the full traceback")
    return [f"{type(self).__name__}: {self}"]


class CheckFailed(AssertionError):
    """The learner's function disagrees with the reference; the message says how."""

    _render_traceback_ = _render_message_only


class Measured:
    """A measured value and whether it meets its bound; true or false like the comparison it stands for."""

    def __init__(self, value, holds, bound):
        self.value, self.holds, self.bound = value, bool(holds), bound

    def __bool__(self):
        return self.holds

    def __repr__(self):
        return f"measured {self.value:.4g} (wanted {self.bound})"


def _number(x):
    return float(x.item() if hasattr(x, "item") else x)


def near(value, target, tol):
    """``|value - target| <= tol``, remembering ``value`` for the failure message."""
    value = _number(value)
    return Measured(value, abs(value - target) <= tol, f"within {tol:g} of {target:g}")


def at_least(value, bound):
    value = _number(value)
    return Measured(value, value >= bound, f"at least {bound:g}")


def at_most(value, bound):
    value = _number(value)
    return Measured(value, value <= bound, f"at most {bound:g}")


def check(name, fn, reference, *inputs, grad=True, atol=1e-5, rtol=1e-4, seed=0, hint=None, grad_inputs=None,
          **kwargs):
    """Compare ``fn(*inputs, **kwargs)`` with ``reference(*inputs, **kwargs)``, forward and backward.

    ``inputs`` may be tensors, shapes (tuples of ints: seeded standard-normal float32 tensors) or any
    other argument (passed unchanged). Each side gets its own copy of the tensors, so gradients are
    compared input by input for a seeded random upstream gradient. ``grad_inputs`` (indices) limits
    that to some inputs: the others (a mask, say) are passed as constants. Prints one line on success.
    """
    __tracebackhide__ = True
    rng = np.random.default_rng(seed)
    arrays = [_materialise(x, rng) for x in inputs]
    wants = [grad and (grad_inputs is None or i in grad_inputs) for i in range(len(arrays))]
    mine_in, ref_in = _copies(arrays, wants), _copies(arrays, wants)
    try:
        mine = fn(*mine_in, **kwargs)
    except NotImplementedError as e:
        raise CheckFailed(f"✗ {name}: not written yet ({e}). Fill in the exercise, run its cell, "
                          "then run this check again.") from None
    except Exception as e:
        raise CheckFailed(f"✗ {name}: your code raised {type(e).__name__}: {e}" + _hint(hint)) from e
    expected = reference(*ref_in, **kwargs)
    _compare(name, "output", mine, expected, atol, rtol, hint)
    differentiable = [i for i, x in enumerate(ref_in) if isinstance(x, Tensor) and x.requires_grad]
    if grad and differentiable and isinstance(expected, Tensor) and expected.requires_grad:
        if not (isinstance(mine, Tensor) and mine.requires_grad):
            raise CheckFailed(f"✗ {name}: the output has no gradient path back to the inputs. Did you use "
                              ".detach(), .numpy() or .data, or build a new tensor from plain numbers?"
                              + _hint(hint))
        upstream = Tensor._wrap(rng.standard_normal(expected.data.shape).astype(expected.data.dtype))
        mine.backward(upstream)
        expected.backward(upstream)
        for i in differentiable:
            what = f"gradient of input {i}"
            if mine_in[i].grad is None:
                raise CheckFailed(f"✗ {name}: no {what}; the output does not depend on that input in your code."
                                  + _hint(hint))
            _compare(name, what, mine_in[i].grad, ref_in[i].grad, atol, rtol, hint)
    what = "output and gradients match" if grad and differentiable else "output matches"
    print(f"✓ {name}: {what} the reference")


def expect(name, probe, hint=None):
    """Run ``probe()``, which returns ``{description: bool}``; every description must hold.

    Prints one line listing what holds, or raises :class:`CheckFailed` naming the first that does not,
    with the measured value where the property is a :class:`Measured`.
    """
    __tracebackhide__ = True
    try:
        claims = probe()
    except NotImplementedError as e:
        raise CheckFailed(f"✗ {name}: not written yet ({e}). Fill in the exercise, run its cell, "
                          "then run this check again.") from None
    except Exception as e:
        raise CheckFailed(f"✗ {name}: your code raised {type(e).__name__}: {e}" + _hint(hint)) from e
    for description, holds in claims.items():
        if not holds:
            measured = f" ({holds!r})" if isinstance(holds, Measured) else ""
            raise CheckFailed(f"✗ {name}: expected {description}, but it does not hold{measured}." + _hint(hint))
    print(f"✓ {name}: " + "; ".join(claims))


def _materialise(x, rng):
    if isinstance(x, tuple) and all(isinstance(s, int) for s in x):
        return rng.standard_normal(x).astype(np.float32)
    return x


def _copies(arrays, wants_grad):
    out = []
    for a, wants in zip(arrays, wants_grad):
        if isinstance(a, Tensor):
            a = a.data
        if isinstance(a, np.ndarray):
            t = Tensor._wrap(a.copy())
            if wants and a.dtype.kind == "f":
                t.requires_grad_(True)
            out.append(t)
        else:
            out.append(a)
    return out


def _hint(hint):
    return f"\n  hint: {hint}" if hint else ""


def _compare(name, what, mine, expected, atol, rtol, hint):
    __tracebackhide__ = True
    if isinstance(expected, (tuple, list)):
        if not isinstance(mine, (tuple, list)) or len(mine) != len(expected):
            raise CheckFailed(f"✗ {name}: expected {len(expected)} results, got {type(mine).__name__}" + _hint(hint))
        for i, (m, e) in enumerate(zip(mine, expected)):
            _compare(name, f"{what}[{i}]", m, e, atol, rtol, hint)
        return
    if isinstance(expected, Tensor) and not isinstance(mine, Tensor):
        raise CheckFailed(f"✗ {name}: the {what} should be a minilib Tensor, got {type(mine).__name__}."
                          + _hint(hint))
    a = mine.data if isinstance(mine, Tensor) else np.asarray(mine)
    b = expected.data if isinstance(expected, Tensor) else np.asarray(expected)
    if a.shape != b.shape:
        raise CheckFailed(f"✗ {name}: the {what} has shape {tuple(a.shape)}, expected {tuple(b.shape)}."
                          + _hint(hint))
    if a.dtype != b.dtype:
        raise CheckFailed(f"✗ {name}: the {what} has dtype {a.dtype}, expected {b.dtype}." + _hint(hint))
    if a.dtype.kind in "biu":
        bad = a != b
    else:
        bad = ~np.isclose(a, b, atol=atol, rtol=rtol, equal_nan=True)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
        raise CheckFailed(
            f"✗ {name}: the {what} differs from the reference in {int(bad.sum())} of {bad.size} entries.\n"
            f"  first at index {where}: yours {a[where]!r}, reference {b[where]!r}; "
            f"largest |difference| {np.nanmax(diff):.3g}" + _hint(hint))
