"""References and checks for the dropout track (lessons 10-19).

A lesson's check cell shows a call, ``check_dropout(dropout)``, not the reference: the reference
lives here, and each check is tested against plausible wrong implementations
(``tests/test_wrong_code_dropout.py``). Hints name the idea, never the line of code.
"""
import numpy as np

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F

from .check import Measured, at_most, check, expect, near


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


# lesson 13


def reference_multi_sample_logits(h, head, masks, p):
    """Logits (M, B, C): ``head`` on each of the M inverted-dropout copies of h (B, d), masks (M, B, d),
    one sample at a time."""
    return ml.stack([head(reference_dropout(h, masks[i], p)) for i in range(masks.shape[0])])


def reference_multi_sample_loss(logits, y):
    """The mean over the M samples of the cross-entropy of logits[i] (B, C) against the labels y (B,)."""
    cross_entropy = ml.nn.functional.cross_entropy
    return ml.stack([cross_entropy(logits[i], y) for i in range(logits.shape[0])]).mean()


def check_multi_sample_logits(multi_sample_logits):
    """``multi_sample_logits(h, head, masks, p)`` against one sample at a time: values, and gradients to h and to
    an affine head's weight and bias, at two rates, with M, B, d and C all different so mixed-up axes show."""
    for p, (m, b, d, c) in ((0.3, (4, 5, 6, 3)), (0.6, (3, 7, 5, 4))):
        masks = (ml.rand(m, b, d, generator=ml.Generator().manual_seed(1)) >= p).float()

        def with_head(fn, masks=masks, p=p):
            return lambda h, weight, bias: fn(h, lambda x: x @ weight + bias, masks, p)

        check(f"multi_sample_logits at p = {p}, M = {m}", with_head(multi_sample_logits),
              with_head(reference_multi_sample_logits), (b, d), (d, c), (c,),
              hint="each sample has its own mask; the features, not the logits, are rescaled by the chance of "
                   "being kept; the samples stay in the first dimension")


def check_multi_sample_loss(multi_sample_loss):
    """``multi_sample_loss(logits, y)`` against the mean of the M cross-entropies, values and gradients."""
    for m, b, c in ((4, 5, 3), (3, 6, 4)):
        y = ml.tensor([(2 * i + 1) % c for i in range(b)])
        check(f"multi_sample_loss, M = {m}, B = {b}", lambda z, y=y: multi_sample_loss(z, y),
              lambda z, y=y: reference_multi_sample_loss(z, y), (m, b, c),
              hint="one loss per dropout sample, each against the same B labels, then the average of those losses")


def _affine(x):
    """An elementwise head: a dropped feature gives exactly 1.0 and a kept one 2x/(1 - p) + 1, so masks show."""
    return x * 2.0 + 1.0


def check_multi_sample_dropout(layer_class):
    """A multi-sample dropout ``nn.Module`` ``layer_class(head, m, p)``: in training, M dropped-out copies of
    h (B, d), each under its own fresh mask from minilib's seeded generator, through the head: (M, B, C); in eval
    mode the head on h unchanged, as one sample (1, B, C)."""
    def probe():
        ml.manual_seed(0)
        h = ml.randn(20, 50, requires_grad=True)
        layer = layer_class(_affine, m=5, p=0.3)
        first, second = layer.train()(h), layer(h)
        features = (first - 1.0) / 2.0  # the dropped-out copies the head saw
        dropped = (features == 0).float()
        kept = features[features != 0]
        first.sum().backward()
        ml.manual_seed(1)
        replay = layer_class(_affine, m=5, p=0.3).train()(h)
        ml.manual_seed(1)
        replay_again = layer_class(_affine, m=5, p=0.3).train()(h)
        plain = layer.eval()(h)
        return {"M samples in training, shape (M, B, C)": tuple(first.shape) == (5, 20, 50),
                "eval mode: one sample, shape (1, B, C)": tuple(plain.shape) == (1, 20, 50),
                "eval mode: the head on h, no dropout": bool((plain[0] == _affine(h)).all().item()),
                "the dropout comes before the head, about 30% of features dropped at p = 0.3":
                    near(dropped.mean(), 0.3, 0.03),
                "kept features scaled by 1 / (1 - p)": near((kept - (h.detach().expand(5, 20, 50)[features != 0]
                                                                     / 0.7)).abs().amax(), 0.0, 1e-5),
                "each sample has its own mask": not bool((dropped[0] == dropped[1]).all().item()),
                "each unit dropped on its own, no whole column of the batch": not bool(
                    (dropped.amin(1) == 1).any().item()),
                "each unit dropped on its own, no whole example (row) at once": not bool(
                    (dropped.amin(2) == 1).any().item()),
                "gradients flow to h through the kept features": h.grad is not None and near(
                    (h.grad - 2.0 * (1 - dropped).sum(0) / 0.7).abs().amax(), 0.0, 1e-4),
                "a fresh mask on every call": not bool((first == second).all().item()),
                "ml.manual_seed makes the masks reproducible": bool((replay == replay_again).all().item()),
                "another seed, other masks": not bool((replay == first).all().item())}

    expect("MultiSampleDropout", probe,
           hint="a layer knows whether it is training; in training draw M new masks on every call, from minilib's "
                "own random numbers, and reuse your multi_sample_logits")


# lesson 14


def reference_dropblock_gamma(p, block, size):
    """DropBlock's centre rate: p / b² times the map's area over the area where a whole block fits."""
    return p / block ** 2 * size ** 2 / (size - block + 1) ** 2


def reference_block_keep_mask(centers, block):
    """(N, C, H, W) 0/1 centres -> 0/1 keep mask: a ``block`` x ``block`` square of zeros around each centre,
    clipped at the border; painted square by square in numpy, independent of any pooling."""
    c, r = np.asarray(centers.data if isinstance(centers, ml.Tensor) else centers), block // 2
    keep = np.ones_like(c)
    for n, ch, i, j in zip(*np.nonzero(c)):
        keep[n, ch, max(i - r, 0):i + r + 1, max(j - r, 0):j + r + 1] = 0
    return ml.tensor(keep)


def reference_apply_keep_mask(x, keep):
    """``x * keep`` rescaled by (units in the mask) / (units kept): the total is kept in expectation."""
    return x * keep * (keep.numel() / keep.sum().item())


def reference_grid_keep_mask(h, w, d, ratio, dy=0, dx=0):
    """(h, w) GridMask keep mask, painted pixel by pixel: (i, j) is dropped when (i + dy) mod d < l and
    (j + dx) mod d < l, with l = round(ratio * d)."""
    keep, side = np.ones((h, w), np.float32), round(ratio * d)
    for i in range(h):
        for j in range(w):
            if (i + dy) % d < side and (j + dx) % d < side:
                keep[i, j] = 0
    return ml.tensor(keep)


def check_dropblock_gamma(dropblock_gamma):
    """``dropblock_gamma(p, block, size)`` against the formula, on block sizes 1 to 7 and maps of 8 to 28."""
    cases = [(0.1, 7, 28), (0.2, 3, 8), (0.15, 5, 16), (0.3, 1, 10), (0.05, 3, 12)]
    expect("dropblock_gamma",
           lambda: {f"γ({p}, {b}, {f}) = {reference_dropblock_gamma(p, b, f):.5f}":
                    near(dropblock_gamma(p, b, f), reference_dropblock_gamma(p, b, f),
                         1e-6 * reference_dropblock_gamma(p, b, f)) for p, b, f in cases},
           hint="a centre drops block² units, and centres fall only where a whole block fits, which is "
                "less than the whole map")


def _some_centers(shape, rate, seed):
    """0/1 centres anywhere on the map, corners and borders included (a keep mask must handle them all)."""
    centers = ml.bernoulli(ml.full(shape, rate), generator=ml.Generator().manual_seed(seed))
    centers[0, 0, 0, 0] = centers[0, 0, -1, -1] = centers[-1, -1, 0, -1] = 1.0
    return centers


def check_block_keep_mask(block_keep_mask):
    """``block_keep_mask(centers, block)`` against a mask painted square by square, for blocks 1, 3 and 5,
    centres on the border included."""
    for block, shape, rate in ((5, (2, 3, 12, 12), 0.03), (3, (1, 2, 9, 11), 0.05), (1, (2, 2, 6, 6), 0.2)):
        centers = _some_centers(shape, rate, block)
        check(f"block_keep_mask, block {block}", block_keep_mask, reference_block_keep_mask, centers, block,
              grad=False, hint="a keep mask: 1 where a unit survives; every unit within block // 2 of a centre, "
                               "across and down, on either side, is dropped, and the mask keeps the map's size")


def check_apply_keep_mask(apply_keep_mask):
    """``apply_keep_mask(x, keep)``: the kept units rescaled by (units) / (units kept), on two shapes."""
    for shape, seed in (((2, 3, 12, 12), 5), ((3, 2, 7, 5), 3)):
        keep = reference_block_keep_mask(_some_centers(shape, 0.04, seed), 3)
        check(f"apply_keep_mask on {shape}", apply_keep_mask, reference_apply_keep_mask, shape, keep,
              grad_inputs=(0,), hint="the total must be kept in expectation: rescale by how many units there "
                                     "are over how many this mask kept, counted on the mask you are given")


def _dropped_fraction(centers, block):
    """The fraction of units dropped once every centre has grown its block (minilib's max-pool)."""
    return F.max_pool2d(centers, block, stride=1, padding=block // 2).mean().item()


def check_sample_centers(sample_centers):
    """``sample_centers(shape, p, block, generator)``: Bernoulli(γ) centres, none within block // 2 of any
    border, right up to that margin, at rate γ; the blocks they grow drop about p of the map; at block 1
    (dropout) centres everywhere, borders included, at rate p (``valid[r:-r]`` is empty when r = 0).

    Rates are measured on 4,000 maps of 28x28, so that the seed moves them by under 1%; the bounds sit
    5 or more of those away from what the right code gives on average.
    """
    def draw(p, block, seed, shape=(4000, 1, 28, 28)):
        return sample_centers(shape, p, block, generator=ml.Generator().manual_seed(seed))

    def probe():
        centers, small = draw(0.2, 7, 0), draw(0.3, 3, 2, shape=(300, 2, 9, 9))
        inside = centers[:, :, 3:25, 3:25]  # where a 7x7 block fits
        small_edges = sum(e.sum().item() for e in (small[:, :, 0], small[:, :, -1], small[:, :, :, 0],
                                                     small[:, :, :, -1]))
        dropped = {p: _dropped_fraction(draw(p, 7, 1), 7) for p in (0.05, 0.1, 0.3)}
        units = draw(0.3, 1, 3, shape=(500, 1, 8, 8))  # block 1 is dropout: no margin at all
        units_border = (units[:, :, 0].mean().item() + units[:, :, -1].mean().item()
                        + units[:, :, :, 0].mean().item() + units[:, :, :, -1].mean().item()) / 4
        return {"the shape asked for": tuple(centers.shape) == (4000, 1, 28, 28)
                and tuple(small.shape) == (300, 2, 9, 9),
                "only 0.0 and 1.0": bool(((centers == 0) | (centers == 1)).all().item()),
                "no centre within block // 2 of any border": centers.sum().item() == inside.sum().item()
                and small_edges == 0,
                "centres on every row and column where a block fits": bool(
                    (inside.sum((0, 1, 3)) > 0).all().item() and (inside.sum((0, 1, 2)) > 0).all().item()),
                "rate γ there, within 5% (rate / γ)":
                    near(inside.mean().item() / reference_dropblock_gamma(0.2, 7, 28), 1, 0.05),
                **{f"the blocks drop p = {p} within 10% (dropped / p)": near(dropped[p] / p, 1, 0.1)
                   for p in (0.05, 0.1)},
                "less than p at p = 0.3, where blocks overlap more (dropped / p)": at_most(dropped[0.3] / 0.3, 0.95),
                "block 1 (dropout): rate p over the map (rate / p)": near(units.mean().item() / 0.3, 1, 0.05),
                "block 1 (dropout): rate p on the border rows and columns too (rate / p)":
                    near(units_border / 0.3, 1, 0.1),
                "the same centres from the same seed": bool((centers == draw(0.2, 7, 0)).all().item()),
                "other centres from another seed": not bool((centers == draw(0.2, 7, 1)).all().item())}

    expect("sample_centers", probe, hint="draw every unit with probability γ, then keep only the centres whose "
                                         "whole block lies inside the map, on all four sides; use the generator")


def check_grid_keep_mask(grid_keep_mask):
    """``grid_keep_mask(h, w, d, ratio, dy, dx)`` against a mask painted pixel by pixel, on four grids (in the
    last, ratio·d = 2.1, so that rounding up or not rounding at all differs from rounding)."""
    for args in ((13, 17, 6, 0.5, 2, 1), (16, 12, 6, 0.6, 0, 4), (10, 10, 5, 0.4, 3, 0), (11, 15, 7, 0.3, 1, 5)):
        check(f"grid_keep_mask{args}", grid_keep_mask, reference_grid_keep_mask, *args, grad=False,
              hint="a hole is where the row AND the column both fall inside the first l of their cell, "
                   "counted after shifting by the offset; l is ratio·d rounded to the nearest integer")


# lesson 11


def reference_predicted_shift(p, mean, var):
    """Var_test / Var_train of a unit with this ``mean`` and ``var`` behind inverted dropout with drop rate ``p``."""
    keep = 1 - p
    return var / ((mean * mean + var) / keep - mean * mean)


def check_predicted_shift(predicted_shift):
    """``predicted_shift(p, mean, var)`` against :func:`reference_predicted_shift`, values and gradients, at two
    drop rates, on units with zero, positive and negative means."""
    means, variances = ml.tensor([0.0, 1.0, -2.0, 0.5, 3.0]), ml.tensor([1.0, 1.0, 0.5, 2.0, 0.25])
    for p in (0.3, 0.6):
        check(f"predicted_shift at p = {p}", predicted_shift, reference_predicted_shift, p, means, variances,
              hint="at test time the unit keeps its own variance; in training dropout leaves its mean alone and "
                   "divides its mean square by the probability of being kept")


def batch_norms(model):
    """The layers of ``model`` (minilib or torch) that keep running statistics, in order."""
    return [m for m in model.modules() if getattr(m, "running_var", None) is not None]


def _recompute_bn(model, x, dropout_on):
    """Set every BatchNorm's running mean and (unbiased) variance to those of its input over all of ``x``, as one
    batch, with the rest of the model in train mode (``dropout_on``) or eval mode; weights unchanged, the model
    left in eval mode."""
    norms = batch_norms(model)
    momenta = [bn.momentum for bn in norms]
    model.train(dropout_on)
    for bn in norms:
        bn.train()
        bn.momentum = 1.0  # the running statistics become this one batch's
    with ml.no_grad():
        model(x)
    for bn, momentum in zip(norms, momenta):
        bn.momentum = momentum
    return model.eval()


def reference_recalibrate_bn(model, x):
    """Set every BatchNorm's running mean and (unbiased) variance to those of its input over all of ``x``, as one
    batch, with dropout off; the weights stay as they are and the model is left in eval mode."""
    return _recompute_bn(model, x, dropout_on=False)


def _net_trained_with_dropout():
    """A small net with dropout before each of its two BatchNorms, whose running statistics were gathered with
    dropout on (as in training), and inputs with a non-zero mean (so that the c² term matters)."""
    ml.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.5), nn.BatchNorm1d(8), nn.ReLU(),
                        nn.Linear(8, 8), nn.Dropout(0.5), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    net.train()
    with ml.no_grad():
        for _ in range(30):
            net(ml.randn(64, 5) + 1.0)
    return net.eval()


def _statistics(model):
    return [(bn.running_mean.numpy().copy(), bn.running_var.numpy().copy()) for bn in batch_norms(model)]


def _worst_mean_error(mine, ref):
    """Largest |running mean - reference| over every BatchNorm, in units of the reference standard deviation."""
    return max(float(np.max(np.abs(m - r) / np.sqrt(rv))) for (m, _), (r, rv) in zip(mine, ref))


def _worst_var_error(mine, ref, first_only=False):
    """Largest |running var / reference - 1| over every BatchNorm (or the first only)."""
    pairs = list(zip(mine, ref))[:1 if first_only else None]
    return max(float(np.max(np.abs(v / rv - 1))) for (_, v), (_, rv) in pairs)


def _dropout_rates(model):
    return [m.p for m in model.modules() if isinstance(m, nn.Dropout)]


def check_recalibrate_bn(recalibrate_bn):
    """``recalibrate_bn(model, x)``: every BatchNorm's running statistics become the mean and unbiased variance of
    its input over all of x with dropout off (the exact values, not a running average); the weights, the
    momenta and the drop rates stay; the model is left in eval mode."""
    def probe():
        ml.manual_seed(1)
        many, few = ml.randn(3000, 5) + 1.0, ml.randn(30, 5) + 1.0
        mine, other = _net_trained_with_dropout(), _net_trained_with_dropout()
        weights = [p.detach().numpy().copy() for p in mine.parameters()]
        momenta = [bn.momentum for bn in batch_norms(mine)]
        rates = _dropout_rates(mine)
        ml.manual_seed(2)
        recalibrate_bn(mine, many)
        ml.manual_seed(3)
        recalibrate_bn(other, many)
        small = _net_trained_with_dropout()
        recalibrate_bn(small, few)
        ref, ref_small = (_statistics(reference_recalibrate_bn(_net_trained_with_dropout(), x)) for x in (many, few))
        got = _statistics(mine)
        return {
            "the same statistics whatever the random seed (dropout is off)":
                all(np.array_equal(a, b) for s, t in zip(got, _statistics(other)) for a, b in zip(s, t)),
            "every BatchNorm's running mean is its input's mean over all of x":
                at_most(_worst_mean_error(got, ref), 1e-3),
            "every BatchNorm's running variance is its input's variance over all of x":
                at_most(_worst_var_error(got, ref), 2e-3),
            "the unbiased variance (divided by n - 1, as BatchNorm keeps it), measured on 30 rows":
                at_most(_worst_var_error(_statistics(small), ref_small, first_only=True), 1e-3),
            "the weights unchanged":
                all(np.array_equal(w, p.detach().numpy()) for w, p in zip(weights, mine.parameters())),
            "each BatchNorm keeps its momentum": [bn.momentum for bn in batch_norms(mine)] == momenta,
            "each Dropout keeps its drop rate": _dropout_rates(mine) == rates,
            "every layer back in eval mode": not any(m.training for m in mine.modules())}

    expect("recalibrate_bn", probe,
           hint="dropout must be off while batch norm measures; the new statistics replace the old ones entirely; "
                "each BatchNorm must see its input as the layers before it will produce it at test time")


def recalibrate_bn_dropout_on(model, x):
    """The placebo for :func:`reference_recalibrate_bn`: the same exact recomputation over ``x``, but with dropout
    left on (as ``torch.optim.swa_utils.update_bn`` does: it runs the whole model in train mode). It recomputes
    the statistics without removing the variance shift."""
    return _recompute_bn(model, x, dropout_on=True)


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


# lesson 17

BPE_END = "</w>"  # the end-of-word marker of lesson 17
_TOY_WORDS = {"low": 5, "lower": 2, "newest": 6, "widest": 3}  # Sennrich et al.'s toy vocabulary


def reference_learn_bpe(word_counts, n_merges):
    """The first ``n_merges`` BPE merges for {word: count}, written independently: words as space-separated
    strings of symbols, pairs counted and merged by splitting those strings. Ties go to the smaller pair."""
    words = {" ".join([*w, BPE_END]): n for w, n in word_counts.items()}
    merges = []
    for _ in range(n_merges):
        counts = {}
        for w, n in words.items():
            s = w.split(" ")
            for a, b in zip(s, s[1:]):
                counts[a, b] = counts.get((a, b), 0) + n
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        new = {}
        for w, n in words.items():
            s, out, i = w.split(" "), [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out, i = out + [s[i] + s[i + 1]], i + 2
                else:
                    out, i = out + [s[i]], i + 1
            new[" ".join(out)] = n
        words = new
    return merges


def reference_bpe_segment(word, merges):
    """Classic BPE encoding of ``word``: each merge, in the order learned, applied left to right to the whole word."""
    symbols = [*word, BPE_END]
    for a, b in merges:
        out, i = [], 0
        while i < len(symbols):
            if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
                out, i = out + [a + b], i + 2
            else:
                out, i = out + [symbols[i]], i + 1
        symbols = out
    return tuple(symbols)


def reference_bpe_dropout_segment(word, ranks, p, rng):
    """BPE-dropout as in subword-nmt: each round, every applicable merge occurrence survives with probability
    1 - p; all surviving occurrences of the best-ranked pair are merged, left to right."""
    symbols = [*word, BPE_END]
    while len(symbols) > 1:
        pairs = [(ranks[pair], i, pair) for i, pair in enumerate(zip(symbols, symbols[1:]))
                 if pair in ranks and rng.random() >= p]
        if not pairs:
            break
        best = min(pairs)[2]
        positions, out, i = [j for _, j, pair in pairs if pair == best], [], 0
        for j in positions:
            if j < i:
                continue
            out, i = out + symbols[i:j] + [best[0] + best[1]], j + 2
        symbols = out + symbols[i:]
    return tuple(symbols)


def _learn_bpe_with(pair_counts, merge_pair, word_counts, n_merges):
    """The lesson's ``learn_bpe``, built from the learner's two functions."""
    words = {(*w, BPE_END): n for w, n in word_counts.items()}
    merges = []
    for _ in range(n_merges):
        counts = pair_counts(words)
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        words = {merge_pair(symbols, best): n for symbols, n in words.items()}
    return merges


def _corpus_words():
    import re
    from collections import Counter
    return Counter(re.findall("[a-z']+", ml.data.corpus().lower()))


def check_bpe_merges(pair_counts, merge_pair):
    """``pair_counts(words)`` and ``merge_pair(symbols, pair)``: weighted counts, merges left to right without
    overlap, and, through the lesson's ``learn_bpe``, the same merges as an independent reference."""
    def probe():
        corpus = _corpus_words()
        counts = pair_counts({("a", "b", "a", "b"): 3, ("b", "a"): 2})
        return {"pair counts weighted by word frequency": counts.get(("a", "b"), 0) == 6,
                "...and added up across words": counts.get(("b", "a"), 0) == 5,
                "...for every adjacent pair, the last one included": dict(counts) == {("a", "b"): 6, ("b", "a"): 5},
                "merges left to right without overlap": merge_pair(("a", "a", "a"), ("a", "a")) == ("aa", "a"),
                "merges every occurrence, the last pair included":
                    merge_pair(("x", "y", "z", "x", "y"), ("x", "y")) == ("xy", "z", "xy"),
                "leaves a tuple without the pair unchanged": merge_pair(("a", "b"), ("b", "a")) == ("a", "b"),
                "returns a tuple": isinstance(merge_pair(("a", "b"), ("a", "b")), tuple),
                "the same 10 merges as the reference on Sennrich's toy vocabulary":
                    _learn_bpe_with(pair_counts, merge_pair, _TOY_WORDS, 10) == reference_learn_bpe(_TOY_WORDS, 10),
                "...whose first merges are e+s, es+t, est+</w>":
                    _learn_bpe_with(pair_counts, merge_pair, _TOY_WORDS, 3) == [("e", "s"), ("es", "t"),
                                                                                 ("est", BPE_END)],
                "the same 60 merges as the reference on the course corpus":
                    _learn_bpe_with(pair_counts, merge_pair, corpus, 60) == reference_learn_bpe(corpus, 60)}

    expect("pair_counts and merge_pair", probe,
           hint="a pair seen in a word counts as often as the word occurs; after a merge, the next pair starts "
                "after the two symbols just joined")


def check_segment(segment):
    """``segment(word, ranks, p, rng)``: plain BPE at p = 0, characters at p = 1, reproducible from ``rng``, and,
    at p = 0.1 and 0.3, as many tokens per corpus word on average as the reference BPE-dropout gives."""
    import numpy as np

    def probe():
        corpus = sorted(_corpus_words())
        merges = reference_learn_bpe(_corpus_words(), 300)
        ranks = {pair: i for i, pair in enumerate(merges)}

        def tokens_per_word(fn, p):
            rng = np.random.default_rng(0)
            return np.mean([len(fn(w, ranks, p, rng)) for w in corpus for _ in range(4)])

        def draws(seed):
            rng = np.random.default_rng(seed)
            return [segment(w, ranks, 0.3, rng) for w in corpus[:40]]

        aa = {segment("aaaa", {("a", "a"): 0}, 0.5, np.random.default_rng(s)) for s in range(60)}
        props = {"p = 0 gives classic BPE on every corpus word and 'lowest'":
                     all(segment(w, ranks) == reference_bpe_segment(w, merges) for w in [*corpus, "lowest"]),
                 "p = 1 leaves the characters":
                     segment("newest", ranks, 1.0, np.random.default_rng(0)) == (*"newest", BPE_END),
                 "the same segmentations from the same rng seed, others from another": draws(1) == draws(1)
                 and draws(1) != draws(2),
                 "each merge occurrence dropped anew at every round ('aaaa' with the merge a+a sometimes gives "
                 "a|aa|a)": ("a", "aa", "a", BPE_END) in aa}
        for p in (0.1, 0.3):
            props[f"tokens per word at p = {p} as with the reference"] = near(
                tokens_per_word(segment, p), tokens_per_word(reference_bpe_dropout_segment, p), 0.05)
        return props

    expect("segment", probe, hint="at every round, collect the applicable pairs that survive dropout, each with its "
                                  "own draw from rng; merge the best-ranked one; stop when none survives")


def reference_tlm_mask(chosen, mode):
    """(T, T) bool mask, True where attention is allowed, built loop by loop from the chosen tokens (T,)."""
    import numpy as np
    c = np.asarray(chosen.data if hasattr(chosen, "data") else chosen).astype(bool)
    allowed = np.ones((len(c), len(c)), bool)
    for j in np.nonzero(c)[0]:
        if mode == "siblings":
            allowed[:, j] = allowed[j, :] = False
            allowed[j, j] = True
        else:
            allowed[j, j] = False
    return ml.tensor(allowed)


def check_tlm_mask(tlm_mask):
    """``tlm_mask(chosen, mode)`` against :func:`reference_tlm_mask`, in both modes, on two draws of chosen tokens."""
    for chosen in ([False, True, False, False, True, False], [True, False, False, True, True, False, False]):
        chosen = ml.tensor(chosen)
        for mode, hint in (("siblings", "a chosen token and every other token stop seeing each other, both ways; "
                                        "each token still sees itself"),
                           ("self", "a chosen token loses only its view of itself")):
            check(f"tlm_mask ({mode}, {int(chosen.sum().item())} of {chosen.shape[0]} chosen)", tlm_mask,
                  reference_tlm_mask, chosen, mode, grad=False, hint=hint)


def check_masked_attention(masked_attention):
    """``masked_attention(q, k, v, allowed)`` against minilib's ``scaled_dot_product_attention`` with the same
    boolean mask: values and gradients to q, k and v, for TLM masks of both kinds and a causal one."""
    sdpa = ml.nn.functional.scaled_dot_product_attention
    chosen = ml.tensor([False, True, False, False, True, False])
    masks = {mode: reference_tlm_mask(chosen, mode) for mode in ("siblings", "self")}
    masks["causal"] = ml.tril(ml.ones(6, 6)).bool()  # not symmetric: which axis is the query shows
    for mode, allowed in masks.items():
        check(f"masked_attention ({mode} mask)", lambda q, k, v, a=allowed: masked_attention(q, k, v, a),
              lambda q, k, v, a=allowed: sdpa(q, k, v, attn_mask=a), (2, 6, 4), (2, 6, 4), (2, 6, 4),
              hint="scaled dot-product scores; a disallowed pair must get exactly zero weight while each row "
                   "still sums to one over the pairs that are allowed")


# lesson 19


def reference_entropy(p):
    """Entropy in nats of the distributions along the last dim, (..., C) -> (...); 0 log 0 counts as 0."""
    return -(p * p.clamp(min=1e-12).log()).sum(-1)


def reference_mutual_information(samples):
    """H(mean over samples) - mean over samples of H, for samples (S, N, C) -> (N,)."""
    return reference_entropy(samples.mean(0)) - reference_entropy(samples).mean(0)


def reference_in_rashomon_set(losses, base_loss, eps):
    """Which losses (M,) are at most (1 + eps) times the base model's loss (a Python float): bool (M,)."""
    return losses <= (1.0 + float(eps)) * float(base_loss)


def reference_ambiguity(base, others):
    """Fraction of points on which some row of others (M, N) differs from base (N,); 0.0 for M = 0."""
    return (others != base).any(0).float().mean().item() if others.shape[0] else 0.0


def reference_discrepancy(base, others):
    """Largest fraction of points on which a single row of others (M, N) differs from base (N,); 0.0 for M = 0."""
    return (others != base).float().mean(1).max().item() if others.shape[0] else 0.0


def check_mc_predict(mc_predict):
    """``mc_predict(model, x, samples)``: (samples, N, classes) distributions from passes with dropout on, each pass
    its own masks, no graph kept, the model left in eval mode."""
    def probe():
        ml.manual_seed(0)
        model = ml.nn.Sequential(ml.nn.Linear(5, 16), ml.nn.ReLU(), ml.nn.Dropout(0.5), ml.nn.Linear(16, 3))
        x = ml.randn(4, 5)
        probs = mc_predict(model, x, samples=7)
        plain = model(x).softmax(-1).detach()
        distinct = len({tuple(probs[s].numpy().round(6).ravel()) for s in range(7)})
        return {"shape (samples, N, classes)": tuple(probs.shape) == (7, 4, 3),
                "each row a distribution over the classes": near((probs.sum(-1) - 1).abs().amax(), 0.0, 1e-5)
                and bool((probs >= 0).all().item()),
                "dropout on: every sample differs from the others": distinct == 7,
                "dropout on: the mean is not the eval-mode prediction":
                    not near((probs.mean(0) - plain).abs().amax(), 0.0, 1e-6),
                "no autograd graph kept": not probs.requires_grad,
                "the model is back in eval mode": not model.training and not model[2].training}

    expect("mc_predict", probe, hint="each pass must be a different thinned network, and a pass is a prediction, "
                                     "not a training step; say what mode the model ends in")


def check_entropy(entropy):
    """``entropy(p)`` against :func:`reference_entropy`, on (S, N, C) distributions, some with exact zeros and some
    with tiny probabilities (a guard that clamps far above 0 changes those)."""
    p = ml.randn(6, 5, 4, generator=ml.Generator().manual_seed(0)).softmax(-1)
    sharp = (12 * ml.randn(6, 2, 4, generator=ml.Generator().manual_seed(2))).softmax(-1)
    one_hot = ml.eye(4)[ml.tensor([0, 2, 3, 1, 1])]
    mixed = ml.cat([p[:, :3], sharp, ml.stack([one_hot[:2]] * 6)], 1)
    check("entropy", entropy, reference_entropy, mixed, grad=False, atol=1e-5,
          hint="in nats, over the classes (the last dim); a class with probability 0 contributes nothing")


def check_mutual_information(mutual_information):
    """``mutual_information(samples)`` against :func:`reference_mutual_information`, with S, N, C all different."""
    g = ml.Generator().manual_seed(1)
    samples = (3 * ml.randn(7, 5, 4, generator=g)).softmax(-1)
    agreeing = ml.stack([samples[0]] * 7)
    check("mutual_information", mutual_information, reference_mutual_information, samples, grad=False, atol=1e-5,
          hint="the uncertainty of the average prediction minus the average uncertainty of each; the samples are "
               "the first dim")
    check("mutual_information when every sample agrees", mutual_information, reference_mutual_information, agreeing,
          grad=False, atol=1e-5, hint="samples that all agree leave no uncertainty about the model")


def check_in_rashomon_set(in_rashomon_set):
    """``in_rashomon_set(losses, base_loss, eps)``: ε is relative to the base loss, the bound is included, and models
    better than the base are in."""
    cases = ((ml.tensor([0.3, 0.5, 0.55, 0.625, 0.63, 0.75, 1.2]), 0.5, 0.25),  # 0.625 sits exactly on the edge
             (ml.tensor([0.01, 0.05, 0.07, 0.08, 0.2, 0.6]), 0.05, 0.5))
    for losses, base_loss, eps in cases:
        check(f"in_rashomon_set, base loss {base_loss}, eps {eps}", in_rashomon_set, reference_in_rashomon_set,
              losses, base_loss, eps, grad=False,
              hint="ε is a fraction of the base model's loss, the set includes its edge, and a model that fits "
                   "better than the base is in it")


def _labels():
    base = ml.randint(0, 3, (40,), generator=ml.Generator().manual_seed(0))
    changed = ml.rand(5, 40, generator=ml.Generator().manual_seed(1)) < ml.tensor([[0.05], [0.1], [0.3], [0.1], [0.0]])
    others = ml.where(changed, (base + 1) % 3, base)
    return base, others


def check_ambiguity(ambiguity):
    """``ambiguity(base, others)`` against :func:`reference_ambiguity`: a Python float, 0.0 for no models."""
    base, others = _labels()
    hint = "a point counts once as soon as any one model disagrees with the base; return a Python float"
    check("ambiguity", ambiguity, reference_ambiguity, base, others, grad=False, hint=hint)
    check("ambiguity of one model", ambiguity, reference_ambiguity, base, others[2:3], grad=False, hint=hint)
    check("ambiguity of no models", ambiguity, reference_ambiguity, base, others[:0], grad=False, hint=hint)


def check_discrepancy(discrepancy):
    """``discrepancy(base, others)`` against :func:`reference_discrepancy`: a Python float, 0.0 for no models."""
    base, others = _labels()
    hint = "score each model on its own by the fraction of points it changes, then take the worst model"
    check("discrepancy", discrepancy, reference_discrepancy, base, others, grad=False, hint=hint)
    check("discrepancy of no models", discrepancy, reference_discrepancy, base, others[:0], grad=False, hint=hint)


# lesson 18


def reference_nested_mask(batch, units, rho, rng, lib=ml):
    """(batch, units) float32 mask of library ``lib``: row i keeps units 0..b_i-1, b_i ~ Geometric(rho) drawn from
    the numpy generator ``rng`` (one draw per row), capped at ``units``."""
    cutoffs = lib.tensor(np.minimum(rng.geometric(rho, batch), units))
    return (lib.arange(units).reshape(1, units) < cutoffs.reshape(batch, 1)).float()


def check_nested_mask(nested_mask):
    """``nested_mask(batch, units, rho, rng, lib=ml)``: ones then zeros in every row, unit k kept with probability
    (1 - rho)^k, a cut-off per example drawn from ``rng`` (the same draws as the reference), any library."""
    def probe():
        import torch

        mask = nested_mask(20000, 8, 0.25, np.random.default_rng(0))
        kept = mask.mean(0).numpy()
        wide = nested_mask(3000, 40, 0.1, np.random.default_rng(1))
        same = reference_nested_mask(20000, 8, 0.25, np.random.default_rng(0))
        again = nested_mask(20000, 8, 0.25, np.random.default_rng(0))
        in_torch = nested_mask(500, 8, 0.25, np.random.default_rng(2), lib=torch)
        torch_ref = reference_nested_mask(500, 8, 0.25, np.random.default_rng(2), lib=torch)
        return {"a minilib tensor of shape (batch, units)": isinstance(mask, ml.Tensor)
                and tuple(mask.shape) == (20000, 8) and tuple(wide.shape) == (3000, 40),
                "float32 values 0.0 and 1.0": mask.dtype == ml.float32
                and bool(((mask == 0) | (mask == 1)).all().item()),
                "every row is ones, then zeros": bool((mask[:, 1:] <= mask[:, :-1]).all().item())
                and bool((wide[:, 1:] <= wide[:, :-1]).all().item()),
                "unit 0 always kept": bool((mask[:, 0] == 1).all().item()),
                "unit k kept with probability (1 - rho)^k": near(np.abs(kept - 0.75 ** np.arange(8)).max(), 0, 0.01),
                "the example's units kept up to its cut-off, one cut-off drawn from rng per example":
                    bool((mask == same).all().item()),
                "the same mask from the same generator state": bool((mask == again).all().item()),
                "with lib=torch, a torch tensor with the same mask": isinstance(in_torch, torch.Tensor)
                and in_torch.dtype == torch.float32 and bool((in_torch == torch_ref).all().item())}

    expect("nested_mask", probe, hint="draw one cut-off per example from the generator you are given; a unit is "
                                      "kept when its index is below its example's cut-off; build the mask with `lib`")


def reference_reconstruct_first_k(encoder, decoder, x, k):
    """``decoder`` applied to ``encoder(x)`` (N, units) with units k, k+1, ... set to zero."""
    code = encoder(x)
    return decoder(code * (ml.arange(code.shape[1]) < k).float())


def check_reconstruct_first_k(reconstruct_first_k):
    """``reconstruct_first_k(encoder, decoder, x, k)`` against the reference, values and gradients to x, for
    encoders and decoders with biases (so that slicing the weights alone is not enough), at k = 1, 3 and all units;
    the modules must be left unchanged."""
    import minilib.nn as nn

    ml.manual_seed(0)
    encoder, decoder = nn.Linear(6, 5), nn.Linear(5, 7)
    before = [p.detach().numpy().copy() for p in (*encoder.parameters(), *decoder.parameters())]
    for k in (1, 3, 5):
        check(f"reconstruct_first_k, k = {k}", lambda x, k=k: reconstruct_first_k(encoder, decoder, x, k),
              lambda x, k=k: reference_reconstruct_first_k(encoder, decoder, x, k), (4, 6),
              hint="encode, set the code's units from k on to zero (keep the first k), then decode; "
                   "the encoder's and decoder's weights stay as they are")
    after = [p.detach().numpy() for p in (*encoder.parameters(), *decoder.parameters())]
    expect("reconstruct_first_k", lambda: {"the encoder's and decoder's weights left unchanged": all(
        np.array_equal(b, a) for b, a in zip(before, after))}, hint="zero the code, not the weights")


def reference_pca_errors(x, n):
    """For k = 1..n, the mean over rows of x (N, D), centred, of the squared error summed over columns of the best
    rank-k reconstruction: the sum of the squared singular values left out, divided by N. Returns (n,) float64."""
    s = np.linalg.svd(np.asarray(x.numpy() if hasattr(x, "numpy") else x, np.float64), compute_uv=False)
    return np.array([(s[k:] ** 2).sum() for k in range(1, n + 1)]) / x.shape[0]


def check_pca_errors(pca_errors):
    """``pca_errors(x, n)``: PCA's reconstruction error with k = 1..n components, on two centred data sets whose
    columns have different scales, against the reference (rtol 1e-4)."""
    rng = np.random.default_rng(0)
    for n_rows, d, n in ((60, 8, 5), (40, 12, 12)):
        raw = rng.standard_normal((n_rows, d)) * np.linspace(3.0, 0.2, d) @ np.linalg.qr(rng.standard_normal((d, d)))[0]
        x = ml.tensor((raw - raw.mean(0)).astype(np.float32))
        check(f"pca_errors, N = {n_rows}, D = {d}, n = {n}",
              lambda x, n=n: np.asarray(pca_errors(x, n), np.float64).reshape(-1),
              lambda x, n=n: reference_pca_errors(x, n), x, grad=False, rtol=1e-4, atol=1e-6,
              hint="the best rank-k code keeps the k directions of largest variance; what is left is the variance "
                   "along the others: the squared singular values left out, averaged over the rows")


# lesson 15


def reference_drop_path(h, branch, keep, p):
    """h + branch, the branch of example i kept and scaled by 1 / (1 - p) where keep[i] == 1. h, branch: (B, d)."""
    return h + branch * keep.reshape(-1, 1) * (1.0 / (1.0 - p))


def reference_layers_to_keep(n, k):
    """k of n layers spread evenly from the first: every (n/k)-th layer when k divides n."""
    return [round(i * n / k) for i in range(k)]


def check_drop_path(drop_path):
    """``drop_path(h, branch, keep, p)`` against :func:`reference_drop_path`, values and gradients to h and
    the branch, at two rates, with B != d so that a mask along the wrong axis shows."""
    for p, keep in ((0.4, [1.0, 0.0, 1.0, 1.0, 0.0]), (0.25, [0.0, 1.0, 1.0, 0.0, 1.0])):
        rows = ml.tensor(keep)
        check(f"drop_path at p = {p}", lambda h, f, rows=rows, p=p: drop_path(h, f, rows, p),
              lambda h, f, rows=rows, p=p: reference_drop_path(h, f, rows, p), (5, 3), (5, 3),
              hint="the mask belongs to examples (rows), it acts on the branch only, and what is kept must keep "
                   "its expected value")


def check_layers_to_keep(layers_to_keep):
    """``layers_to_keep(n, k)``: k distinct sorted indices below n, the first layer always kept, gaps that differ
    by at most one; every (n/k)-th layer from the first when k divides n."""
    def probe():
        def spread(n, k):
            idx = list(layers_to_keep(n, k))
            gaps = [b - a for a, b in zip(idx, [*idx[1:], n])]
            return (len(idx) == k and idx == sorted(set(idx)) and idx[0] == 0 and idx[-1] < n
                    and max(gaps) - min(gaps) <= 1)

        return {"every layer when k = n": list(layers_to_keep(8, 8)) == list(range(8)),
                "every other layer, from the first, for 4 of 8": list(layers_to_keep(8, 4)) == [0, 2, 4, 6],
                "every third layer for 4 of 12, a single layer for 1 of 6": list(layers_to_keep(12, 4)) == [0, 3, 6, 9]
                and list(layers_to_keep(6, 1)) == [0],
                "k distinct, sorted, evenly spread indices below n for every k <= n <= 12": all(
                    spread(n, k) for n in range(1, 13) for k in range(1, n + 1))}

    expect("layers_to_keep", probe, hint="spread the k kept layers over the whole depth, starting at the first, "
                                         "with (nearly) equal gaps; never an index past the last layer")


def _subset_outputs(net, x):
    """{blocks kept: output} for every subset of ``net``'s blocks, run in eval mode, no dropping."""
    import itertools
    n = len(net.blocks)
    net.eval()
    with ml.no_grad():
        return {s: net(x, keep=list(s)).numpy() for r in range(n + 1) for s in itertools.combinations(range(n), r)}


def _manual(net, x, gates):
    """head(h) after h <- h + gate_i * block_i(h) for each block i; gates: list of (B, 1) tensors or floats."""
    with ml.no_grad():
        h = net.embed(x)
        for block, g in zip(net.blocks, gates):
            h = h + block(h) * g
        return net.head(h).numpy()


def _match_rows(out, candidates, tol=1e-4):
    """For each row of out, the key of a candidate whose same row it equals, or None."""
    import numpy as np
    out = out.numpy() if hasattr(out, "numpy") else out
    found = []
    for i in range(out.shape[0]):
        hit = [key for key, c in candidates.items() if np.allclose(out[i], c[i], atol=tol)]
        found.append(hit[0] if hit else None)
    return found


def check_residual_stack(model_class):
    """``model_class(depth, width, d_in, classes, mode, p)`` with ``forward(x, keep=None)``: in eval mode all blocks
    (or the listed ones, in order) and no dropping in either mode; in training LayerDrop skips whole blocks for the
    whole batch, unscaled, each block on its own with probability p; drop-path keeps each example's branch with
    probability 1 - p, scaled by 1 / (1 - p), drawn per example and per block."""
    def probe():
        import numpy as np
        ml.manual_seed(0)
        x = ml.randn(6, 5)
        ld = model_class(depth=4, width=8, d_in=5, classes=3, mode="layerdrop", p=0.25)
        subsets = _subset_outputs(ld, x)
        with ml.no_grad():
            e = ld.eval().embed(x)
            h = e + ld.blocks[0](e)
            two = ld.head(h + ld.blocks[2](h)).numpy()
            everything = _manual(ld, x, [1.0] * 4)
            eval_out = ld.eval()(x).numpy()
            ld.train()
            draws = [ld(x).numpy() for _ in range(300)]
        seen = [_match_rows(d, subsets) for d in draws]
        whole_batch = all(len(set(s)) == 1 and s[0] is not None for s in seen)
        kept = [len(s[0]) for s in seen if s[0] is not None]
        per_block = [np.mean([i in s[0] for s in seen if s[0] is not None]) for i in range(4)] if kept else [0]

        dp = model_class(depth=2, width=8, d_in=5, classes=3, mode="droppath", p=0.25)
        combos = {(a, b): _manual(dp, x, [a / 0.75, b / 0.75]) for a in (0, 1) for b in (0, 1)}
        with ml.no_grad():
            dp_eval = dp.eval()(x).numpy()
            dp_all = _manual(dp, x, [1.0, 1.0])
            dp.train()
            dp_draws = [dp(x).numpy() for _ in range(40)]
        dp_seen = [_match_rows(d, combos) for d in dp_draws]
        rows = [r for s in dp_seen for r in s]
        per_example = sum(len(set(s)) > 1 for s in dp_seen)
        share_kept = np.mean([sum(r) for r in rows if r is not None]) / 2 if any(r is not None for r in rows) else 0.0
        return {"eval mode runs every block in order": np.allclose(eval_out, everything, atol=1e-5),
                "keep=[] skips every block": np.allclose(subsets[()], _manual(ld, x, [0.0] * 4), atol=1e-5),
                "keep=[0, 2] runs blocks 0 and 2 in order": np.allclose(subsets[(0, 2)], two, atol=1e-5),
                "layerdrop in training skips whole blocks for the whole batch, without rescaling": whole_batch,
                "layerdrop drops each block on its own, a quarter of them at p = 0.25": len(set(map(tuple, (
                    s[0] for s in seen if s[0] is not None)))) >= 8 and near(np.mean(kept) if kept else 0, 3.0, 0.3),
                "layerdrop keeps each block about 3 times in 4 at p = 0.25": all(0.62 < f < 0.88 for f in per_block),
                "drop-path in eval mode runs every branch, unscaled": np.allclose(dp_eval, dp_all, atol=1e-5),
                "drop-path in training keeps or drops each example's branch, kept ones scaled by 1 / (1 - p)": all(
                    r is not None for r in rows),
                "drop-path draws per example (rows of one batch differ)": per_example >= 20,
                "drop-path keeps about 1 - p of the branches": near(share_kept, 0.75, 0.08)}

    expect("ResidualMLP", probe, hint="in eval mode nothing is dropped; LayerDrop decides once per block for the "
                                      "whole batch; drop-path decides per example, through your drop_path")


# lesson 16


def reference_lstm_step(x, h, c, w_ih, w_hh, b):
    """One LSTM step in torch's layout: x (..., B, I), h and c (..., B, H), w_ih (..., 4H, I), w_hh (..., 4H, H),
    b (..., 1, 4H) or (4H,) -> (h', c'); the gates are chunks (input, forget, cell, output) of one pre-activation."""
    gates = x @ w_ih.transpose(-1, -2) + h @ w_hh.transpose(-1, -2) + b
    i, f, g, o = gates.chunk(4, dim=-1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def reference_dropped_lstm(xs, w_ih, w_hh, b, keep_in, keep_rec, keep_out, p):
    """The LSTM unrolled over the list ``xs`` of T inputs (..., B, I), with inverted dropout at step t on the
    input (``keep_in[t]``), on the hidden state fed back into the recurrence (``keep_rec[t]``) and on the output
    (``keep_out[t]``); h and c start at zero. Returns the list of the T outputs (..., B, H)."""
    h = c = 0 * keep_rec[0]
    outputs = []
    for t, x in enumerate(xs):
        h, c = reference_lstm_step(reference_dropout(x, keep_in[t], p), reference_dropout(h, keep_rec[t], p), c,
                                   w_ih, w_hh, b)
        outputs.append(reference_dropout(h, keep_out[t], p))
    return outputs


def check_lstm_step(lstm_step):
    """``lstm_step(x, h, c, w_ih, w_hh, b)`` against the reference, values and gradients, for one model and for
    a stack of 3 models (a leading model dimension), with I, H and B all different."""
    for shapes in (((5, 3), (5, 4), (5, 4), (16, 3), (16, 4), (16,)),
                   ((3, 5, 6), (3, 5, 4), (3, 5, 4), (3, 16, 6), (3, 16, 4), (3, 1, 16))):
        check(f"lstm_step, x of shape {shapes[0]}", lstm_step, reference_lstm_step, *shapes,
              hint="the gates are four equal chunks of one pre-activation, in the order input, forget, cell, output; "
                   "weights are stored (out, in) as in torch, with any leading model dimensions in front")


def check_time_masks(time_masks):
    """``time_masks(steps, batch, units, p, locked, generator)``: 0/1 float masks (steps, batch, units) keeping
    1 - p; locked: one mask per sequence, the same at every step; not locked: a fresh mask at every step."""
    def probe():
        def draw(locked, seed=0, p=0.3):
            return time_masks(40, 50, 60, p, locked, ml.Generator().manual_seed(seed))

        locked, fresh = draw(True), draw(False)
        return {"the shape (steps, batch, units)": tuple(locked.shape) == (40, 50, 60) == tuple(fresh.shape),
                "float32 values, only 0.0 and 1.0": locked.dtype == ml.float32 and fresh.dtype == ml.float32
                and bool(((locked == 0) | (locked == 1)).all().item() and ((fresh == 0) | (fresh == 1)).all().item()),
                # what the masks are before how many they keep: a wrong structure is named as such
                "locked: the same mask at every step": bool((locked == locked[:1]).all().item()),
                "locked: each sequence its own mask": not bool((locked[0] == locked[0, :1]).all().item()),
                "fresh: each sequence its own mask": not bool((fresh[0] == fresh[0, :1]).all().item()),
                "fresh: the mask changes from step to step": near((fresh[1:] != fresh[:-1]).float().mean(), 0.42, 0.02),
                "70% kept at p = 0.3, locked": near(locked.mean(), 0.7, 0.02),
                "70% kept at p = 0.3, fresh": near(fresh.mean(), 0.7, 0.01),
                "40% kept at p = 0.6": near(draw(True, p=0.6).mean(), 0.4, 0.02)
                and near(draw(False, p=0.6).mean(), 0.4, 0.01),
                "the same masks from the same seed": bool((draw(True) == locked).all().item())
                and bool((draw(False) == fresh).all().item()),
                "other masks from another seed": not bool((draw(True, 1) == locked).all().item())
                and not bool((draw(False, 1) == fresh).all().item())}

    expect("time_masks", probe, hint="p is the chance of dropping; a locked mask is drawn once per sequence and "
                                     "repeated over the steps, a fresh one is drawn for every step")


def _masks(kind, steps, batch, units, p, seed):
    """Keep masks (steps, batch, units) of one kind: fresh, locked, or all ones (no dropout there)."""
    g = ml.Generator().manual_seed(seed)
    if kind == "ones":
        return ml.ones(steps, batch, units)
    if kind == "locked":
        return (ml.rand(1, batch, units, generator=g) >= p).float().expand(steps, batch, units)
    return (ml.rand(steps, batch, units, generator=g) >= p).float()


def check_dropped_lstm(dropped_lstm):
    """``dropped_lstm(xs, w_ih, w_hh, b, keep_in, keep_rec, keep_out, p)`` against the reference, values and
    gradients, for each way of dropping: fresh masks on the recurrent state (naive), locked masks everywhere
    (variational), fresh masks only on input and output (Zaremba); T, B, I and H all different."""
    steps, batch, inputs, hidden = 6, 3, 5, 4
    for name, kinds, p in (("naive (fresh masks everywhere)", ("fresh", "fresh", "fresh"), 0.4),
                           ("variational (locked masks)", ("locked", "locked", "locked"), 0.3),
                           ("Zaremba (no recurrent dropout)", ("fresh", "ones", "fresh"), 0.5)):
        keeps = [_masks(k, steps, batch, n, p, seed) for k, n, seed in zip(kinds, (inputs, hidden, hidden), (1, 2, 3))]

        def unrolled(fn, keeps=keeps, p=p):
            return lambda x, w_ih, w_hh, b: ml.stack(fn(list(x.unbind(0)), w_ih, w_hh, b, *keeps, p))

        check(f"dropped_lstm, {name}", unrolled(dropped_lstm), unrolled(reference_dropped_lstm),
              (steps, batch, inputs), (4 * hidden, inputs), (4 * hidden, hidden), (4 * hidden,),
              hint="at step t: the step's input, and the hidden state fed back into the next step, each through "
                   "their own mask at t; the output through its own; the cell state is never dropped")
