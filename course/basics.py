"""References and checks for the basics track (lessons 00-03).

A lesson's check cell shows a call, ``check_conv2d_windows(conv2d_windows)``, not the reference: the
reference lives here, and each check is tested against plausible wrong implementations
(``tests/test_wrong_code_basics.py``). Hints name the idea, never the line of code.
"""
import math

import numpy as np

import minilib as ml
import minilib.nn.functional as mF

from .check import CheckFailed, _compare, _hint, check, expect

# lesson 02


def reference_conv2d(x, weight, bias=None, stride=1, padding=0):
    """Cross-correlation of x (N, C, H, W) with weight (O, C, kh, kw): minilib's ``F.conv2d``."""
    return mF.conv2d(x, weight, bias, stride=stride, padding=padding)


# Each case is a way a convolution can be asked for: (what it tests, input shape, weight shape, bias shape or
# None, stride, padding, hint). Several channels in and out, a kernel that is not square and a frame that is
# not square make every axis distinguishable, so a mixed-up axis cannot pass by symmetry.
_CONV_CASES = [
    ("3 -> 4 channels, 3x3, stride 1, no padding", (2, 3, 7, 6), (4, 3, 3, 3), None, 1, 0,
     "each row of the matrix holds one window, its numbers in the order of a flattened kernel "
     "(channel, then kernel row, then kernel column); the output's channels go back to axis 1"),
    ("a 3x2 kernel with a bias", (2, 2, 6, 7), (5, 2, 3, 2), (5,), 1, 0,
     "the kernel's height slides along the image's height and its width along the width; "
     "one bias per output channel, the same at every position"),
    ("padding 1", (1, 3, 5, 6), (2, 3, 3, 3), (2,), 1, 1,
     "pad both the height and the width, on both sides, before taking windows: at stride 1 and padding 1 "
     "a 3x3 kernel keeps the image's size"),
    ("stride 2 with padding 1", (2, 3, 9, 8), (4, 3, 3, 3), (4,), 2, 1,
     "with stride s the windows start s pixels apart, in both directions"),
    ("a 5x5 kernel with padding 2", (1, 2, 6, 7), (3, 2, 5, 5), (3,), 1, 2,
     "pad by the amount asked for, on all four sides"),
]


def check_conv2d_windows(conv2d_windows):
    """``conv2d_windows(x, weight, bias, stride, padding, F)`` against minilib's ``F.conv2d``: values and
    gradients of the input, the weight and the bias, on five shapes (channels, a non-square kernel,
    padding 1 and 2, stride); then once on torch tensors with ``F=torch.nn.functional``."""
    __tracebackhide__ = True
    for what, x, w, b, stride, padding, hint in _CONV_CASES:
        inputs = (x, w) if b is None else (x, w, b)
        check(f"conv2d_windows, {what}", conv2d_windows, reference_conv2d, *inputs, stride=stride,
              padding=padding, hint=hint)
    _check_on_torch(conv2d_windows)


def _check_on_torch(conv2d_windows):
    """The same function on torch tensors, padding with torch's functional module, against torch's conv2d."""
    __tracebackhide__ = True
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    x, w, b = (torch.from_numpy(rng.standard_normal(s).astype(np.float32)) for s in ((2, 3, 7, 6), (4, 3, 3, 3),
                                                                                      (4,)))
    expect("conv2d_windows on torch tensors", lambda: {
        "it agrees with torch's conv2d (padding with the F it is given)": bool(torch.allclose(
            conv2d_windows(x, w, b, stride=2, padding=1, F=torch.nn.functional),
            torch.nn.functional.conv2d(x, w, b, stride=2, padding=1), atol=1e-5))},
        hint="everything inside the function must come from the tensors' own methods or the F it is given")


def reference_max_pool2d(x, k):
    return mF.max_pool2d(x, k)


def reference_avg_pool2d(x, k):
    return mF.avg_pool2d(x, k)


# (input shape, k): a frame that k does not divide leaves its last rows and columns out, as H // k says.
_POOL_CASES = [((2, 3, 8, 6), 2), ((1, 2, 9, 7), 3)]


def check_max_pool2d_windows(max_pool2d_windows):
    """``max_pool2d_windows(x, k)`` against minilib's ``F.max_pool2d(x, k)``, values and gradients, k = 2 and 3."""
    __tracebackhide__ = True
    _check_pool("max_pool2d_windows", max_pool2d_windows, reference_max_pool2d,
                "the windows do not overlap: each k x k window starts k pixels after the last, and the output "
                "keeps the channel axis; take the largest value over both of a window's axes")


def check_avg_pool2d_windows(avg_pool2d_windows):
    """``avg_pool2d_windows(x, k)`` against minilib's ``F.avg_pool2d(x, k)``, values and gradients, k = 2 and 3."""
    __tracebackhide__ = True
    _check_pool("avg_pool2d_windows", avg_pool2d_windows, reference_avg_pool2d,
                "the same non-overlapping k x k windows as max pooling, each replaced by the mean of its k * k "
                "numbers (a mean, not a sum)")


def _check_pool(name, pool, reference, hint):
    __tracebackhide__ = True
    for shape, k in _POOL_CASES:
        check(f"{name}, k = {k}", pool, reference, shape, k, hint=hint)


# lesson 00


class Counted:
    """A number (or a numpy array of numbers) that counts the arithmetic done with it.

    ``Counted(2.0) * 3.0`` is ``Counted(6.0)`` and adds 1 to ``Counted.ops``; on an array of 100 numbers an
    operation counts 100. ``+ - *`` (either side), unary minus, and ``np.tanh``, ``np.sin``, ``np.cos`` (numpy
    calls the method of that name on an object it does not know) are counted; ``float(c)`` reads the number.
    Lesson 00 measures what computing a gradient costs with it, in operations instead of seconds, so its
    tables come out the same on every machine.
    """

    __slots__ = ("number",)
    ops = 0

    def __init__(self, number):
        self.number = number

    @staticmethod
    def _made(number):
        Counted.ops += np.size(number)
        return Counted(number)

    def __add__(self, other):
        return Counted._made(self.number + _number_of(other))

    def __radd__(self, other):
        return Counted._made(_number_of(other) + self.number)

    def __sub__(self, other):
        return Counted._made(self.number - _number_of(other))

    def __rsub__(self, other):
        return Counted._made(_number_of(other) - self.number)

    def __mul__(self, other):
        return Counted._made(self.number * _number_of(other))

    def __rmul__(self, other):
        return Counted._made(_number_of(other) * self.number)

    def __neg__(self):
        return Counted._made(-self.number)

    def tanh(self):
        return Counted._made(np.tanh(self.number))

    def sin(self):
        return Counted._made(np.sin(self.number))

    def cos(self):
        return Counted._made(np.cos(self.number))

    def __float__(self):
        return float(self.number)

    def __repr__(self):
        return f"Counted({self.number!r})"


def _number_of(x):
    return x.number if isinstance(x, Counted) else x


def count_ops(fn, *args):
    """``(fn(*args), operations counted while it ran)``: the arithmetic done on :class:`Counted` numbers."""
    before = Counted.ops
    result = fn(*args)
    return result, Counted.ops - before


def _graph(root):
    """Every Value ``root`` depends on (through ``.parents``), found with a list for a stack."""
    seen, stack, found = set(), [root], []
    while stack:
        v = stack.pop()
        if id(v) not in seen:
            seen.add(id(v))
            found.append(v)
            stack.extend(p for p, _ in v.parents)
    return found


def count_local_products(root):
    """Make each local derivative in ``root``'s graph a :class:`Counted` number, so that every
    ``local * grad`` a backward pass does is counted, also where the local derivative is the plain 1.0
    of a sum (no operation is counted here)."""
    for v in _graph(root):
        v.parents = tuple((p, d if isinstance(d, Counted) else Counted(d)) for p, d in v.parents)
    return root


class _Value:
    """The course's scalar Value (the lesson's, written out): the checks build their graphs with it."""

    def __init__(self, data, parents=()):
        self.data, self.grad, self.parents = data, 0.0, parents

    def __add__(self, other):
        return type(self)(self.data + other.data, ((self, 1.0), (other, 1.0)))

    def __mul__(self, other):
        return type(self)(self.data * other.data, ((self, other.data), (other, self.data)))

    def tanh(self):
        t = np.tanh(self.data)
        return type(self)(t, ((self, 1 - t * t),))

    def sin(self):
        return type(self)(np.sin(self.data), ((self, np.cos(self.data)),))


def reference_backward(root):
    """d root / d v into every v's ``.grad``: users before what they use (Kahn's order), gradients added."""
    users = {}
    for v in _graph(root):
        for p, _ in v.parents:
            users[id(p)] = users.get(id(p), 0) + 1
    root.grad, ready = 1.0, [root]
    while ready:
        v = ready.pop()
        for p, local in v.parents:
            p.grad += local * v.grad
            users[id(p)] -= 1
            if users[id(p)] == 0:
                ready.append(p)


def _small_program(n, depth, seed):
    """A random f of n inputs, as in lesson 00: layers of n values, each a random + or x of two earlier values
    followed by tanh or sin. Returns (a, b, mul, sin) per layer."""
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, k * n, n), rng.integers(0, k * n, n), rng.random(n) < 0.5, rng.random(n) < 0.5)
            for k in range(1, depth + 1)]


def _run_small_program(program, xs):
    """The program on anything with + * .tanh() .sin() (Values, torch scalars); the sum of its last layer."""
    values = list(xs)
    for a, b, mul, sin in program:
        layer = []
        for i, j, m, s in zip(a, b, mul, sin):
            z = values[i] * values[j] if m else values[i] + values[j]
            layer.append(z.sin() if s else z.tanh())
        values += layer
    out = layer[0]
    for v in layer[1:]:
        out = out + v
    return out


def _chain(xs, length=5000):
    """A chain ``length`` Values deep, as an RNN unrolled over that many steps: v <- tanh(v * a + b)."""
    a, b = xs
    v = b
    for _ in range(length):
        v = (v * a + b).tanh()
    return v


# (what it tests, inputs, build(inputs) -> root, hint): each case builds the same expression on the course's
# Values and on torch float64 scalars, whose autograd gives the expected gradients.
_BACKWARD_CASES = [
    ("one Value used twice: x * x + x", [0.7], lambda v: v[0] * v[0] + v[0],
     "a Value used twice gets a gradient from each use: add each contribution into .grad, never replace it"),
    ("a diamond: b = x * y feeds tanh(b) and the sum tanh(b) + b", [0.8, -1.3],
     lambda v: _diamond(v, tanh_first=True),
     "a Value may pass its gradient on only when every Value that uses it has given it theirs: walk the graph "
     "in a topological order (each Value after all the Values that use it)"),
    ("the same diamond, its sum written the other way round: b + tanh(b)", [0.8, -1.3],
     lambda v: _diamond(v, tanh_first=False),
     "a Value may pass its gradient on only when every Value that uses it has given it theirs: walk the graph "
     "in a topological order (each Value after all the Values that use it), whatever order the parents are in"),
    ("a diamond whose two paths differ in length: sin(tanh(tanh(b))) * b", [0.9, 0.6],
     lambda v: _long_diamond(v),
     "a Value reached by a short path and a long one must wait for the long one: a topological order, "
     "not the order in which a search from the root first meets each Value"),
    ("a random f of 12 inputs, 4 layers (Values used several times, many diamonds)", list(np.random.default_rng(7)
     .standard_normal(12)), lambda v: _run_small_program(_small_program(12, 4, seed=3), v),
     "every Value after all its users, and gradients added, not replaced"),
    ("a chain 5,000 Values deep (an RNN unrolled over 5,000 steps)", [0.9, 0.3], _chain,
     "a graph thousands of Values deep must be walked with a list as your own stack, not by recursion "
     "(Python stops at about 1,000 nested calls)"),
]


def _diamond(v, tanh_first):
    b = v[0] * v[1]
    return b.tanh() + b if tanh_first else b + b.tanh()


def _long_diamond(v):
    b = v[0] * v[1]
    return b.tanh().tanh().sin() * b


def _torch_gradient(build, inputs):
    import torch

    xs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    build(xs).backward()
    return np.array([0.0 if x.grad is None else x.grad.item() for x in xs])


def _compare_gradients(name, what, mine, expected, hint, atol=1e-9, rtol=1e-7):
    __tracebackhide__ = True
    bad = ~np.isclose(mine, expected, atol=atol, rtol=rtol)
    if bad.any():
        i = int(np.argmax(bad))
        raise CheckFailed(f"✗ {name}, {what}: the gradient of input {i} is {mine[i]:.10g}, expected {expected[i]:.10g} "
                          f"(off by {abs(mine[i] - expected[i]):.2g}; {int(bad.sum())} of {bad.size} inputs differ)"
                          + _hint(hint))


def _run_learner(name, fn, hint, *args):
    __tracebackhide__ = True
    try:
        return fn(*args)
    except NotImplementedError as e:
        raise CheckFailed(f"✗ {name}: not written yet ({e}). Fill in the exercise, run its cell, "
                          "then run this check again.") from None
    except Exception as e:
        raise CheckFailed(f"✗ {name}: your code raised {type(e).__name__}: {e}" + _hint(hint)) from e


def _diamonds(v, k=12):
    """k diamonds in a row, v <- tanh(v) + sin(v): 2^k paths from the root to the input, 4k (parent, local) pairs."""
    (v,) = v
    for _ in range(k):
        v = v.tanh() + v.sin()
    return v


def check_backward(backward):
    """``backward(root)`` fills every Value's ``.grad`` with d root / d value: on a Value used twice, two diamonds
    (both orders of a sum), a diamond with paths of different lengths, a random f of 12 inputs and a chain 5,000
    deep, against torch's autograd; and on 12 diamonds in a row (4,096 paths) it uses each (parent, local
    derivative) pair once. The graphs are built with the course's Value (the lesson's class)."""
    __tracebackhide__ = True
    *small, chain = _BACKWARD_CASES
    for what, inputs, build, hint in small:
        _check_backward_case(backward, what, inputs, build, hint, _Value)
    _check_lookups(backward)  # before the chain, where a lookup in a list would take minutes
    _check_backward_case(backward, *chain, _Value)
    what = "12 diamonds in a row, v <- tanh(v) + sin(v) (4,096 paths from the root to the input)"
    hint = ("a Value passes its gradient on once, when every contribution has arrived; passing each contribution "
            "on as it arrives repeats the work once per path, and paths multiply at every diamond")
    xs = [_Value(0.4)]
    root = count_local_products(_diamonds(xs))
    pairs = sum(len(v.parents) for v in _graph(root))
    _, ops = _run_learner(f"backward, {what}", count_ops, hint, backward, root)
    _compare_gradients("backward", what, np.array([float(xs[0].grad)]), _torch_gradient(_diamonds, [0.4]), hint)
    if ops > 4 * pairs:
        raise CheckFailed(f"✗ backward, {what}: it did {ops:,} multiplications and additions for a graph of {pairs} "
                          "(parent, local derivative) pairs; one multiply and one add per pair is enough" + _hint(hint))
    print(f"✓ backward: matches torch's gradients on {len(_BACKWARD_CASES) + 2} graphs (a Value used twice, "
          "four diamonds, two random f, a chain 5,000 deep), uses each (parent, local derivative) pair once and "
          "finds Values already seen without searching a list")


def _check_backward_case(backward, what, inputs, build, hint, value_class):
    __tracebackhide__ = True
    xs = [value_class(x) for x in inputs]
    root = build(xs)
    _run_learner(f"backward, {what}", backward, hint, root)
    mine = np.array([float(x.grad) for x in xs])
    _compare_gradients("backward", what, mine, _torch_gradient(build, inputs), hint)


class _ComparedValue(_Value):
    """The course's Value, counting how often two Values are compared with ``==`` (which ``v in a_list``,
    ``a_list.index(v)`` and ``a_list.remove(v)`` do once per element they pass; a set or a dict of Values, or of
    their ids, does not). Equal means the same Value, as without this class."""

    comparisons = 0

    def __eq__(self, other):
        _ComparedValue.comparisons += 1
        return self is other

    __hash__ = _Value.__hash__


def _check_lookups(backward):
    """On a random f of 40 inputs (about 400 Values) the engine must not compare Values one by one: looking a Value
    up in a list of those seen costs one comparison per Value in it, so the walk would cost the square of the graph."""
    __tracebackhide__ = True
    what = "a random f of 40 inputs, 4 layers"
    hint = ("a Value found by searching a list is compared with every Value stored before it: the walk then costs the "
            "square of the graph's size. Keep what you have seen where a lookup does not depend on how much it holds")
    inputs = list(np.random.default_rng(8).standard_normal(40))
    program = _small_program(40, 4, seed=5)
    _ComparedValue.comparisons = 0
    _check_backward_case(backward, what, inputs, lambda v: _run_small_program(program, v), hint, _ComparedValue)
    values = len(_graph(_run_small_program(program, [_Value(x) for x in inputs])))
    compared = _ComparedValue.comparisons
    if compared > values:
        raise CheckFailed(f"✗ backward, {what}: it compared Values with each other {compared:,} times in a graph of "
                          f"{values} Values; finding out whether a Value was seen needs no comparison with the others"
                          + _hint(hint))


# (what, build(Value, inputs) -> root, inputs, hint)
_VALUE_CASES = [
    ("a * b", lambda v: v[0] * v[1], [1.5, -0.7],
     "d(a·b)/da is b and d(a·b)/db is a: each parent's local derivative is the other factor"),
    ("x * x (one Value on both sides)", lambda v: v[0] * v[0], [0.6],
     "record both parents, even when they are the same Value"),
    ("tanh(a)", lambda v: v[0].tanh(), [0.8],
     "tanh'(a) = 1 - tanh(a)², written with the output t = tanh(a): no second tanh needed"),
    ("tanh(a * b) + sin(b)", lambda v: (v[0] * v[1]).tanh() + v[1].sin(), [-0.4, 1.1],
     "each op stores (parent, local derivative) pairs; the chain rule multiplies them along the way"),
]


def check_value_ops(value_class):
    """``Value``'s ``*`` and ``tanh``: the value each computes, and the (parent, local derivative) pairs it records,
    read through the course's engine, against torch's gradients."""
    __tracebackhide__ = True
    for what, build, inputs, hint in _VALUE_CASES:
        xs = [value_class(x) for x in inputs]
        root = _run_learner(f"Value, {what}", build, hint, xs)
        expected = _torch_value_and_gradient(build, inputs)
        if not np.isclose(float(root.data), expected[0], atol=1e-12):
            raise CheckFailed(f"✗ Value, {what}: the value is {float(root.data):.6g}, expected {expected[0]:.6g}"
                              + _hint(hint))
        try:
            reference_backward(root)
        except (TypeError, ValueError, AttributeError) as e:
            raise CheckFailed(f"✗ Value, {what}: .parents must hold (parent Value, local derivative) pairs; "
                              f"reading them raised {type(e).__name__}: {e}" + _hint(hint)) from None
        _compare_gradients("Value", what, np.array([float(x.grad) for x in xs]), expected[1], hint)
    print("✓ Value: * and tanh compute the right values and record the right local derivatives")


def _torch_value_and_gradient(build, inputs):
    import torch

    xs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in inputs]
    out = build(xs)
    out.backward()
    return out.item(), np.array([0.0 if x.grad is None else x.grad.item() for x in xs])


def _coupled(x):
    """A scalar f of a float64 array in which every entry interacts with others (sums of products, a square)."""
    return float(np.sin(x[:-1] * x[1:]).sum() + 0.5 * x.sum() ** 2 + x[0] * np.tanh(x[-1]))


def _coupled_gradient(x):
    import torch

    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ((t[:-1] * t[1:]).sin().sum() + 0.5 * t.sum() ** 2 + t[0] * t[-1].tanh()).backward()
    return t.grad.numpy()


def check_numerical_grad(numerical_grad):
    """``numerical_grad(f, x)`` against the exact gradient of a coupled f of 8 float64 numbers, to 1e-8: central
    differences, each entry put back before the next; the caller's x must come back unchanged."""
    __tracebackhide__ = True
    hint = ("(f(x + eps·e_i) − f(x − eps·e_i)) / 2eps for one entry at a time, the entry put back to its value "
            "before the next: central differences are exact to about eps², one-sided ones only to eps")
    x = np.random.default_rng(0).standard_normal(8)
    before = x.copy()
    mine = _run_learner("numerical_grad", numerical_grad, hint, _coupled, x)
    if not np.array_equal(x, before):
        raise CheckFailed("✗ numerical_grad: it changed the caller's x; probe a copy" + _hint(hint))
    mine = np.asarray(mine, dtype=np.float64)
    if mine.shape != x.shape:
        raise CheckFailed(f"✗ numerical_grad: the result has shape {mine.shape}, expected {x.shape}" + _hint(hint))
    _compare_gradients("numerical_grad", "a coupled f of 8 numbers", mine, _coupled_gradient(x), hint,
                       atol=1e-8, rtol=1e-8)
    print("✓ numerical_grad: central differences match the exact gradient to 1e-8")


def check_tanh_function(tanh_function):
    """``Tanh.apply`` (a ``minilib.autograd.Function``) against minilib's ``tanh``: values and gradients, in
    float32 and float64."""
    __tracebackhide__ = True
    import minilib as ml

    hint = "backward returns grad_output times tanh's local derivative 1 - y², y the output saved in forward"
    check("Tanh", tanh_function.apply, ml.tanh, (4, 5), hint=hint)
    x = np.random.default_rng(1).standard_normal((3, 7)) * 2
    check("Tanh, float64", tanh_function.apply, ml.tanh, x, atol=1e-12, rtol=1e-10, hint=hint)


def replay_backward(backward, root):
    """Run ``backward(root)`` and record each change of a ``.grad``, in order, as (value, new grad, user): the user is
    the Value whose gradient was read just before and that uses ``value`` (None for the root's seed). For the
    lesson's widget, which steps through the learner's own backward pass."""
    nodes = _graph(root)
    events, reads = [], []
    originals = {}

    class Traced(type(root)):
        @property
        def grad(self):
            reads.append(self)
            return self._traced_grad

        @grad.setter
        def grad(self, g):
            users = [r for r in reversed(reads) if any(p is self for p, _ in r.parents)]
            events.append((self, float(g), users[0] if users else None))
            reads.clear()
            self._traced_grad = g

    for v in nodes:
        originals[id(v)] = type(v)
        g = v.__dict__.pop("grad", 0.0)
        v.__class__ = Traced
        v.__dict__["_traced_grad"] = g
    try:
        backward(root)
    finally:
        for v in nodes:
            g = v.__dict__.pop("_traced_grad")
            v.__class__ = originals[id(v)]
            v.grad = g
    return events


def cpu_seconds(fn, *args, repeat=3, block=0.003):
    """CPU seconds of one call of ``fn(*args)``: the least over ``repeat`` blocks of calls, each block at least
    ``block`` seconds long (the calls in a block are averaged). CPU time (``time.process_time``) leaves out the time
    the process waits for a core on a busy machine; the least of a few blocks leaves out most interruptions.
    Lesson 00 times gradients with it; unlike ``gpu.time_it`` it never shortens itself for tests, since a claim
    rests on it."""
    import time

    loops = 1
    while True:
        start = time.process_time()
        for _ in range(loops):
            fn(*args)
        seconds = time.process_time() - start
        if seconds >= block or loops >= 4096:
            break
        loops *= 4
    best = seconds / loops
    for _ in range(repeat - 1):
        start = time.process_time()
        for _ in range(loops):
            fn(*args)
        best = min(best, (time.process_time() - start) / loops)
    return best


# lesson 01


def reference_sgd_momentum_step(w, g, v, lr, momentum):
    """PyTorch's SGD with momentum: v <- momentum v + g, w <- w - lr v; returns (w, v)."""
    v = momentum * v + g
    return w - lr * v, v


def reference_adamw_step(w, g, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    """PyTorch's AdamW, one step t (from 1): decay w by lr * weight_decay, then the bias-corrected Adam step.

    ``lr`` and ``weight_decay`` may be numbers or tensors that broadcast against ``w`` (one per model).
    Returns (w, m, v).
    """
    b1, b2 = betas
    w = w * (1 - lr * weight_decay)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    return w - lr * m_hat / (v_hat.sqrt() + eps), m, v


# Each case: (what it tests, shape of w, size of the gradients, number of steps, hyper-parameters, hint). The
# rule starts from zero state at t = 1 and is fed its own returned state, one seeded gradient per step.
_SGD_CASES = [
    ("lr 0.1, momentum 0.9, 4 steps", (4, 3), 1.0, 4, {"lr": 0.1, "momentum": 0.9},
     "the velocity is a running sum of gradients (each old one multiplied by the momentum, the new one as it "
     "is), and the weights step along the velocity after it has taken in this step's gradient"),
    ("lr 0.3, momentum 0.5, 3 steps", (2, 5), 1.0, 3, {"lr": 0.3, "momentum": 0.5},
     "use the learning rate and the momentum you are given, and return the velocity you stepped along"),
]

_ADAMW_CASES = [
    ("lr 0.05, weight decay 0.1, 5 steps", (4, 3), 1.0, 5, {"lr": 0.05, "weight_decay": 0.1},
     "the decay multiplies every weight by one factor, set by lr and weight_decay, before the Adam step and "
     "apart from the gradient (it never enters m or v); m and v start at zero, so both are bias-corrected with "
     "the step number t; return the new m and v"),
    ("betas (0.8, 0.99), 6 steps", (3, 4), 1.0, 6, {"lr": 0.02, "betas": (0.8, 0.99), "weight_decay": 0.3},
     "use the betas you are given: the first for the mean of the gradients, the second for the mean of their "
     "squares, and each one's power t in its bias correction"),
    ("gradients of size 1e-4, eps left at 1e-8", (4, 3), 1e-4, 4, {"lr": 0.05, "weight_decay": 0.1},
     "eps keeps the division safe: it is added to the square root of v-hat, not under it, so with tiny "
     "gradients the step is still about lr"),
    ("one model per row: lr and weight_decay as (3, 1) tensors", (3, 4), 1.0, 3, {"lr": "rows", "weight_decay": "rows"},
     "lr and weight_decay may be tensors, one value per model: keep to tensor arithmetic, which broadcasts"),
]


def _hyper(hyper):
    """The case's hyper-parameters, with "rows" replaced by one value per row of a (3, 4) w."""
    rows = {"lr": ml.tensor([[0.01], [0.03], [0.1]]), "weight_decay": ml.tensor([[0.0], [0.3], [1.0]])}
    return {k: rows[k] if v == "rows" else v for k, v in hyper.items()}


def _trajectory(rule, n_state, shape, scale, steps, hyper, with_t, seed=0):
    """What ``rule`` returns at each step, from seeded weights and zero state, fed one seeded gradient a step."""
    gen = ml.Generator().manual_seed(seed)
    w = ml.randn(*shape, generator=gen)
    state = [ml.zeros(*shape) for _ in range(n_state)]
    out = []
    for t in range(1, steps + 1):
        g = ml.randn(*shape, generator=gen) * scale
        returned = rule(w, g, *state, **({"t": t} if with_t else {}), **_hyper(hyper))
        if not isinstance(returned, (tuple, list)) or len(returned) != 1 + n_state:
            raise TypeError(f"it returned {type(returned).__name__}"
                            f"{f' of length {len(returned)}' if isinstance(returned, (tuple, list)) else ''}, "
                            f"expected a tuple of {1 + n_state} tensors")
        w, *state = returned
        out.append(tuple(returned))
    return out


def _check_rule(name, rule, reference, names, cases, with_t):
    """Run ``rule`` and ``reference`` through each case; the first returned value that differs fails the check."""
    __tracebackhide__ = True
    for what, shape, scale, steps, hyper, hint in cases:
        try:
            mine = _trajectory(rule, len(names) - 1, shape, scale, steps, hyper, with_t)
        except NotImplementedError as e:
            raise CheckFailed(f"✗ {name}: not written yet ({e}). Fill in the exercise, run its cell, "
                              "then run this check again.") from None
        except Exception as e:
            raise CheckFailed(f"✗ {name}, {what}: your code raised {type(e).__name__}: {e}" + _hint(hint)) from e
        expected = _trajectory(reference, len(names) - 1, shape, scale, steps, hyper, with_t)
        for t, (got, want) in enumerate(zip(mine, expected), start=1):
            for label, a, b in zip(names, got, want):
                _compare(f"{name}, {what}", f"returned {label} after step {t}", a, b, 1e-6, 1e-4, hint)
        print(f"✓ {name}, {what}: every returned value matches the reference")


def _on_torch(name, rule, torch_optimizer, n_state, with_t, hint, **hyper):
    """The rule on torch tensors, 3 steps, against torch's own optimizer from the same start and gradients."""
    __tracebackhide__ = True
    import numpy as np
    import torch

    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((5, 4)).astype(np.float32)
    grads = [torch.from_numpy(rng.standard_normal((5, 4)).astype(np.float32)) for _ in range(3)]

    def probe():
        w, state = torch.from_numpy(w0.copy()), [torch.zeros(5, 4) for _ in range(n_state)]
        builtin = torch.nn.Parameter(torch.from_numpy(w0.copy()))
        opt = torch_optimizer([builtin], **hyper)
        for t, g in enumerate(grads, start=1):
            w, *state = rule(w, g, *state, **({"t": t} if with_t else {}), **hyper)
            builtin.grad = g.clone()
            opt.step()
        return {f"it agrees with torch.optim.{torch_optimizer.__name__} from the same start and gradients":
                bool(torch.allclose(w, builtin.detach(), atol=1e-5))}

    expect(f"{name} on torch tensors", probe, hint=hint)


def check_sgd_momentum_step(sgd_momentum_step):
    """``sgd_momentum_step(w, g, v, lr, momentum) -> (w, v)`` against PyTorch's SGD with momentum: the returned
    weights and velocity at every step of two runs, then on torch tensors against ``torch.optim.SGD``."""
    __tracebackhide__ = True
    import torch

    _check_rule("sgd_momentum_step", sgd_momentum_step, reference_sgd_momentum_step, ("w", "v"), _SGD_CASES,
                with_t=False)
    _on_torch("sgd_momentum_step", sgd_momentum_step, torch.optim.SGD, 1, False,
              "only tensor arithmetic, so that the same lines run on torch tensors", lr=0.1, momentum=0.9)


def check_adamw_step(adamw_step):
    """``adamw_step(w, g, m, v, t, lr, betas, eps, weight_decay) -> (w, m, v)`` against PyTorch's AdamW: every
    returned value at every step of four runs (default hyper-parameters, other betas, tiny gradients, one lr and
    weight decay per row), then on torch tensors against ``torch.optim.AdamW``."""
    __tracebackhide__ = True
    import torch

    _check_rule("adamw_step", adamw_step, reference_adamw_step, ("w", "m", "v"), _ADAMW_CASES, with_t=True)
    _on_torch("adamw_step", adamw_step, torch.optim.AdamW, 2, True,
              "only tensor arithmetic (a tensor's own .sqrt(), not a library's), so the same lines run on torch "
              "tensors", lr=0.05, weight_decay=0.1)


# lesson 03


def reference_attention(q, k, v, mask=None):
    """softmax(q kᵀ / √d, hidden keys at −∞) over the keys, then the weighted sum of the values.

    q (..., L, d), k (..., S, d), v (..., S, dv); mask bool, broadcastable to (..., L, S), True where a
    query may look at a key. Returns (output (..., L, dv), weights (..., L, S)); the output is minilib's
    ``F.scaled_dot_product_attention``.
    """
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return mF.scaled_dot_product_attention(q, k, v, attn_mask=mask), mF.softmax(scores, dim=-1)


def _mask(rows):
    """A bool minilib tensor from nested lists of 0/1."""
    return ml.tensor(np.array(rows, dtype=bool))


# Each case: (what it tests, q, k, v shapes, mask or None). Queries and keys of different lengths (L != S) and
# values of another width than the keys (dv != d) make every axis and the scale's d distinguishable.
_ATTENTION_CASES = [
    ("no mask, 5 queries, 6 keys", (2, 5, 4), (2, 6, 4), (2, 6, 3), None),
    ("a causal mask over 2 heads", (2, 2, 5, 8), (2, 2, 5, 8), (2, 2, 5, 6),
     _mask(np.tril(np.ones((5, 5))))),
    ("a mask per sequence (its last keys hidden)", (2, 4, 4), (2, 6, 4), (2, 6, 3),
     _mask([[[1, 1, 1, 1, 1, 1]], [[1, 1, 1, 1, 0, 0]]])),
]

_ATTENTION_HINT = ("the scores compare each query with each key, divided by the square root of the length d of "
                   "a query (and key) vector; the softmax runs over the keys, so each query's weights sum to 1")
_MASK_HINT = ("a hidden key must end with weight exactly 0 while each query's weights over the keys it may see "
              "still sum to 1: hide it before the softmax, where the mask is False (True means 'may look')")


def check_attention(attention):
    """``attention(q, k, v, mask=None) -> (output, weights)`` against :func:`reference_attention`: both results,
    values and gradients, without a mask, with a causal mask over heads and with a mask per sequence (L != S,
    dv != d); then on torch tensors against torch's ``scaled_dot_product_attention``."""
    __tracebackhide__ = True

    def probe():
        q = ml.tensor(np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32))
        result = attention(q, q, q)
        return {"a pair (output, weights)": isinstance(result, (tuple, list)) and len(result) == 2}

    expect("attention returns", probe, hint="return the output and the attention weights, in that order")
    for what, q, k, v, mask in _ATTENTION_CASES:
        inputs = (q, k, v) if mask is None else (q, k, v, mask)
        hint = _ATTENTION_HINT if mask is None else _MASK_HINT
        check(f"attention's output, {what}", lambda *a: attention(*a)[0], lambda *a: reference_attention(*a)[0],
              *inputs, hint=hint, grad_inputs=(0, 1, 2))
        check(f"attention's weights, {what}", lambda *a: attention(*a)[1], lambda *a: reference_attention(*a)[1],
              *inputs, hint=hint, grad_inputs=(0, 1))  # the weights do not depend on the values
    _check_attention_on_torch(attention)


def _check_attention_on_torch(attention):
    """The same function on torch tensors with a causal mask, against torch's fused kernel and softmax."""
    __tracebackhide__ = True
    import torch

    rng = np.random.default_rng(1)
    q, k, v = (torch.from_numpy(rng.standard_normal((2, 3, 6, 4)).astype(np.float32)) for _ in range(3))
    mask = torch.tril(torch.ones(6, 6, dtype=torch.bool))

    def probe():
        out, weights = attention(q, k, v, mask)
        scores = (q @ k.transpose(-2, -1) / 2.0).masked_fill(~mask, float("-inf"))
        return {"the output agrees with torch's scaled_dot_product_attention": bool(torch.allclose(
                    out, torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-5)),
                "the weights agree with torch's softmax of the masked scores": bool(torch.allclose(
                    weights, torch.softmax(scores, dim=-1), atol=1e-6))}

    expect("attention on torch tensors", probe,
           hint="everything inside the function must come from the tensors' own methods")


def reference_multi_head(x, w_qkv, w_o, heads, mask=None):
    """Multi-head self-attention of x (B, T, E) with w_qkv (3E, E) and w_o (E, E): minilib's scaled dot-product
    attention on each of ``heads`` groups of E / heads channels; ``mask`` as in :func:`reference_attention`."""
    b, t, e = x.shape
    q, k, v = (z.reshape(b, t, heads, e // heads).permute(0, 2, 1, 3)
               for z in mF.linear(x, w_qkv).chunk(3, dim=-1))
    out = mF.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, heads, T, E / heads)
    return mF.linear(out.permute(0, 2, 1, 3).reshape(b, t, e), w_o)


# (what it tests, x shape, E, heads, mask or None)
_MULTI_HEAD_CASES = [
    ("2 heads", (2, 6, 8), 8, 2, None),
    ("4 heads with a causal mask", (2, 5, 8), 8, 4, _mask(np.tril(np.ones((5, 5))))),
]


def check_multi_head(multi_head):
    """``multi_head(x, w_qkv, w_o, heads, mask=None)`` against :func:`reference_multi_head`: values and gradients
    of x and both weight matrices, for 2 heads without a mask and 4 heads with a causal mask."""
    __tracebackhide__ = True
    for what, x, e, heads, mask in _MULTI_HEAD_CASES:
        extra = () if mask is None else (mask,)
        check(f"multi_head, {what}", multi_head, reference_multi_head, x, (3 * e, e), (e, e), heads, *extra,
              grad_inputs=(0, 1, 2),
              hint="the first E / heads channels of each query, key and value belong to head 0, the next to head 1, "
                   "...; each head attends over the time axis on its own, so the heads must sit before the time "
                   "axis; the merge undoes the split exactly, then w_o mixes the heads; the mask goes to every head")
