"""References and checks for the dropout track (lessons 10-19).

A lesson's check cell shows a call, ``check_dropout(dropout)``, not the reference: the reference
lives here, and each check is tested against plausible wrong implementations
(``tests/test_wrong_code_dropout.py``). Hints name the idea, never the line of code.
"""
import minilib as ml

from .check import Measured, check, expect, near


def reference_dropout(x, keep, p):
    """Inverted dropout: the kept units of ``x`` scaled by 1 / (1 - p); ``keep`` is a 0/1 mask of x's shape."""
    return x * keep * (1.0 / (1.0 - p))


# lesson 10


def check_keep_mask(keep_mask):
    """``keep_mask(shape, p, generator)``: float 0/1, keeps 1 - p of the entries, reproducible from a seed."""
    def probe():
        def draw(p, seed):
            return keep_mask((200, 500), p, generator=ml.Generator().manual_seed(seed))

        mask, again, other = draw(0.3, 1), draw(0.3, 1), draw(0.3, 2)
        light = draw(0.8, 1)
        cube = keep_mask((4, 3, 5), 0.5, generator=ml.Generator().manual_seed(0))
        return {"the shape asked for": tuple(mask.shape) == (200, 500) and tuple(cube.shape) == (4, 3, 5),
                "float32 values": mask.dtype == ml.float32,
                "only 0.0 and 1.0": bool(((mask == 0) | (mask == 1)).all().item()),
                "70% kept at p = 0.3": near(mask.mean(), 0.7, 0.01),
                "20% kept at p = 0.8": near(light.mean(), 0.2, 0.01),
                "the same mask from the same seed": bool((mask == again).all().item()),
                "another mask from another seed": not bool((mask == other).all().item())}

    expect("keep_mask", probe, hint="p is the probability of dropping a unit; draw from the generator you are given")


def check_dropout(dropout):
    """``dropout(x, keep, p)`` against :func:`reference_dropout`, values and gradients, at two rates."""
    for p in (0.4, 0.2):
        mask = (ml.rand(6, 5, generator=ml.Generator().manual_seed(0)) >= p).float()
        check(f"dropout at p = {p}", dropout, reference_dropout, (6, 5), mask, p, grad_inputs=(0,),
              hint="what survives must keep its expected value: rescale by the probability of being kept")


def check_dropout_layer(layer_class):
    """A dropout ``nn.Module``: identity in eval mode; in training it drops about p of the units, each on
    its own (no whole row or column), keeps the mean, passes gradients through the kept units, and draws
    a fresh mask on every call from minilib's seeded generator."""
    def probe():
        ml.manual_seed(0)
        x = ml.ones(400, 250, requires_grad=True)
        half, fifth = layer_class(0.5), layer_class(0.2)
        first, second = half.train()(x), half(x)
        light = fifth.train()(x)
        light.sum().backward()
        ml.manual_seed(1)
        replay = layer_class(0.5).train()(x)
        ml.manual_seed(1)
        replay_again = layer_class(0.5).train()(x)
        dropped = (first == 0).float()
        return {"eval mode returns the input unchanged": bool((half.eval()(x) == x).all().item()),
                "half the units dropped at p = 0.5": near(dropped.mean(), 0.5, 0.02),
                "a fifth dropped at p = 0.2": near((light == 0).float().mean(), 0.2, 0.02),
                "each unit dropped on its own, no whole row or column": not bool(
                    (dropped.amin(0) == 1).any().item() or (dropped.amin(1) == 1).any().item()),
                "the mean is kept in training": near(light.mean(), 1.0, 0.03),
                "gradients flow to the kept units, scaled as they are": x.grad is not None and bool(
                    (x.grad == light.detach()).all().item()),
                "a fresh mask on every call": not bool((first == second).all().item()),
                "ml.manual_seed makes the masks reproducible": bool((replay == replay_again).all().item()),
                "another seed, another mask": not bool((replay == first).all().item())}

    expect("Dropout", probe, hint="a layer knows whether it is training; a new mask is drawn on every forward, "
                                  "from minilib's own random numbers")


# lesson 12


def reference_dropout_rate(step, p, until, mode="early"):
    """Early dropout: rate p for steps 0 .. until - 1, then 0. Late dropout: 0, then p from step ``until`` on."""
    if mode not in ("early", "late"):
        raise ValueError(f"dropout_rate: mode must be 'early' or 'late', got {mode!r}")
    on = step < until if mode == "early" else step >= until
    return p if on else 0.0


def check_dropout_rate(dropout_rate):
    """``dropout_rate(step, p, until, mode)`` against :func:`reference_dropout_rate` at every step of a few
    schedules (the switch step and its neighbours included), and an unknown mode refused."""
    def probe():
        schedules = ((0.1, 50), (0.3, 1), (0.25, 0), (0.5, 7))
        cases = [(p, until, mode) for p, until in schedules for mode in ("early", "late")]
        found = {}
        for p, until, mode in cases:
            for step in range(0, 2 * until + 3):
                mine, ref = dropout_rate(step, p, until, mode), reference_dropout_rate(step, p, until, mode)
                if not isinstance(mine, (int, float)) or abs(float(mine) - ref) > 1e-12:
                    found.setdefault(mode, f"{mode} dropout, p = {p}, until = {until}: rate {mine!r} at step {step}, "
                                           f"expected {ref}")
        default = dropout_rate(49, 0.1, 50) == 0.1 and dropout_rate(50, 0.1, 50) == 0.0
        try:
            dropout_rate(0, 0.1, 50, "middle")
            refuses = False
        except ValueError:
            refuses = True
        return {"early mode: p for the first `until` steps (0 … until − 1), 0 after them":
                    _Shown("early" not in found, found.get("early")),
                "the default mode is early": default,
                "late mode: 0 for the first `until` steps, p from step `until` on":
                    _Shown("late" not in found, found.get("late")),
                "an unknown mode raises ValueError": refuses}

    expect("dropout_rate", probe, hint="steps count from 0, so early dropout is on for exactly `until` steps; late "
                                       "dropout is its mirror image; the rate is the probability of dropping a unit")


class _Shown(Measured):
    """A property that holds or not, with the first counterexample for the failure message."""

    def __init__(self, holds, example):
        super().__init__(None, holds, None)
        self.example = example

    def __repr__(self):
        return f"for instance {self.example}"


def check_set_dropout(set_dropout):
    """``set_dropout(model, p, nn=nn)``: every Dropout in a nested minilib model (and in a torch model, with
    ``nn=torch.nn``) gets rate p, nothing else is touched, and the count of dropout layers comes back."""
    import minilib.nn as nn

    def probe():
        inner = nn.Sequential(nn.ReLU(), nn.Dropout(0.2), nn.Sequential(nn.Dropout(0.3), nn.Linear(3, 3)))
        model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5), inner, nn.Linear(3, 2))
        before = [dict(vars(m)) for m in model.modules() if not isinstance(m, nn.Dropout)]
        count = set_dropout(model, 0.05)
        rates = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
        after = [dict(vars(m)) for m in model.modules() if not isinstance(m, nn.Dropout)]
        alone = nn.Dropout(0.4)
        single = set_dropout(alone, 0.0)
        props = {"returns the number of dropout layers (3)": _Shown(count == 3, f"it returned {count!r}"),
                 "every one gets the new rate, nested ones too": rates == [0.05] * 3,
                 "other layers are left as they were": [sorted(a) for a in after] == [sorted(b) for b in before],
                 "a model that is one Dropout layer counts as one, and is set":
                     _Shown(single == 1 and alone.p == 0.0, f"it returned {single!r} and left p = {alone.p}")}
        try:
            import torch
        except ImportError:  # pragma: no cover - torch is part of the course environment
            return props
        theirs = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Dropout(0.5),
                                     torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Dropout(0.2)))
        count_t = set_dropout(theirs, 0.15, nn=torch.nn)
        props["with nn=torch.nn, the same on a torch model"] = count_t == 2 and [
            m.p for m in theirs.modules() if isinstance(m, torch.nn.Dropout)] == [0.15] * 2
        return props

    expect("set_dropout", probe, hint="walk every module, the model itself and the ones nested inside it, and change "
                                      "only those of the `nn` library's Dropout class")


def reference_direction_error(g, g_full):
    """1 - cosine similarity along the last dimension: (..., D), (..., D) -> (...)."""
    dot = (g * g_full).sum(-1)
    return 1 - dot / ((g * g).sum(-1).sqrt() * (g_full * g_full).sum(-1).sqrt())


def check_direction_error(direction_error):
    """``direction_error(g, g_full)`` against :func:`reference_direction_error`: values and gradients on one
    pair of vectors and on a batch of rows, and the three landmarks (0 same, 1 orthogonal, 2 opposite)."""
    hint = "compare directions only: the cosine is the dot product of the two vectors divided by both lengths, " \
           "taken along the last axis, and the error is how far it falls short of 1"
    check("direction_error on two vectors", direction_error, reference_direction_error, (50,), (50,), hint=hint)
    check("direction_error on rows", direction_error, reference_direction_error, (6, 40), (6, 40), seed=1, hint=hint)

    def landmarks():
        g = ml.tensor([[3.0, 4.0, 0.0], [1.0, 0.0, 0.0], [0.5, -2.0, 1.0]])
        other = ml.tensor([[6.0, 8.0, 0.0], [0.0, 5.0, 0.0], [-1.0, 4.0, -2.0]])
        errors = direction_error(g, other)
        return {"0 for the same direction at another length": near(errors[0], 0.0, 1e-6),
                "1 for orthogonal vectors": near(errors[1], 1.0, 1e-6),
                "2 for opposite vectors": near(errors[2], 2.0, 1e-6)}

    expect("direction_error", landmarks, hint=hint)
