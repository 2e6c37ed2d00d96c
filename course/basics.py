"""References and checks for the basics track (lessons 00-03).

A lesson's check cell shows a call, ``check_conv2d_windows(conv2d_windows)``, not the reference: the
reference lives here, and each check is tested against plausible wrong implementations
(``tests/test_wrong_code_basics.py``). Hints name the idea, never the line of code.
"""
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
