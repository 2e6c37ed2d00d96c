"""The dropout track's checks against plausible wrong code: each must raise CheckFailed, the right code must pass.

One entry per mistake a learner makes (the lesson review lists them); a check that lets one through is
a check that teaches nothing.
"""
import math

import numpy as np
import pytest

import minilib as ml
import minilib.nn as nn
from course import CheckFailed
from course.dropout import check_dropout, check_dropout_layer, check_keep_mask

# lesson 10: keep_mask(shape, p, generator)


def keep_mask(shape, p, generator=None):
    return (ml.rand(*shape, generator=generator) >= p).float()


WRONG_KEEP_MASKS = {
    "keeps with probability p (p for 1 - p)": lambda shape, p, generator=None:
        (ml.rand(*shape, generator=generator) < p).float(),
    "ignores the generator": lambda shape, p, generator=None: (ml.rand(*shape) >= p).float(),
    "returns booleans": lambda shape, p, generator=None: ml.rand(*shape, generator=generator) >= p,
    "a fixed half, whatever p": lambda shape, p, generator=None: (ml.rand(*shape, generator=generator) >= 0.5).float(),
    "the same mask for every seed": lambda shape, p, generator=None:
        (ml.rand(*shape, generator=ml.Generator().manual_seed(0)) >= p).float(),
    "only the first and last dimensions": lambda shape, p, generator=None:
        (ml.rand(shape[0], shape[-1], generator=generator) >= p).float(),
}

# lesson 10: dropout(x, keep, p)


def dropout(x, keep, p):
    return x * keep / (1 - p)


WRONG_DROPOUTS = {
    "divides by p": lambda x, keep, p: x * keep / p,
    "no rescaling": lambda x, keep, p: x * keep,
    "multiplies by 1 - p (the 2012 test-time rule, applied in training)": lambda x, keep, p: x * keep * (1 - p),
    "drops the kept units": lambda x, keep, p: x * (1 - keep) / (1 - p),
    "cuts the gradient": lambda x, keep, p: (x * keep / (1 - p)).detach(),
}

# Right answers written differently: the check must accept them (the mask is a constant, not an input
# whose gradient is compared).
OTHER_RIGHT_DROPOUTS = {
    "a detached mask": lambda x, keep, p: x * keep.detach() / (1 - p),
    "where": lambda x, keep, p: ml.where(keep > 0, x / (1 - p), 0 * x),
    "masked_fill": lambda x, keep, p: x.masked_fill(keep == 0, 0) / (1 - p),
}

# lesson 10: the Dropout layer


class Dropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        return dropout(x, keep_mask(x.shape, self.p), self.p)


class DropsOneMinusP(Dropout):
    def forward(self, x):
        if not self.training:
            return x
        return dropout(x, keep_mask(x.shape, 1 - self.p), 1 - self.p)


class AlwaysDrops(Dropout):
    def forward(self, x):
        return dropout(x, keep_mask(x.shape, self.p), self.p)


class MaskDrawnOnce(Dropout):
    def forward(self, x):
        if not self.training:
            return x
        if not hasattr(self, "mask"):
            self.mask = keep_mask(x.shape, self.p)
        return dropout(x, self.mask, self.p)


class NoRescale(Dropout):
    def forward(self, x):
        return x * keep_mask(x.shape, self.p) if self.training else x


class ScalesInEval(Dropout):
    """The 2012 recipe half-done: no rescaling in training, yet scaled by 1 - p at test time."""

    def forward(self, x):
        return x * keep_mask(x.shape, self.p) if self.training else x * (1 - self.p)


class CutsTheGradient(Dropout):
    def forward(self, x):
        return super().forward(x.detach()) if self.training else x


class OwnGenerator(Dropout):
    """Seeded once in __init__: every layer draws the same masks, and ml.manual_seed changes nothing."""

    def __init__(self, p=0.5):
        super().__init__(p)
        self.generator = ml.Generator().manual_seed(0)

    def forward(self, x):
        if not self.training:
            return x
        return dropout(x, keep_mask(x.shape, self.p, generator=self.generator), self.p)


class OneMaskPerFeature(Dropout):
    """Shares one mask across the batch: whole columns vanish."""

    def forward(self, x):
        if not self.training:
            return x
        return dropout(x, keep_mask((1, x.shape[-1]), self.p), self.p)


class OneMaskPerExample(Dropout):
    def forward(self, x):
        if not self.training:
            return x
        return dropout(x, keep_mask((x.shape[0], 1), self.p), self.p)


WRONG_LAYERS = {c.__name__: c for c in (DropsOneMinusP, AlwaysDrops, MaskDrawnOnce, NoRescale, ScalesInEval,
                                        CutsTheGradient, OwnGenerator, OneMaskPerFeature, OneMaskPerExample)}


@pytest.mark.parametrize("check,right", [(check_keep_mask, keep_mask), (check_dropout, dropout),
                                         (check_dropout_layer, Dropout),
                                         *[(check_dropout, f) for f in OTHER_RIGHT_DROPOUTS.values()]],
                         ids=["keep_mask", "dropout", "Dropout", *OTHER_RIGHT_DROPOUTS])
def test_the_right_code_passes(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", [
    *[(check_keep_mask, f) for f in WRONG_KEEP_MASKS.values()],
    *[(check_dropout, f) for f in WRONG_DROPOUTS.values()],
    *[(check_dropout_layer, c) for c in WRONG_LAYERS.values()],
], ids=[*WRONG_KEEP_MASKS, *WRONG_DROPOUTS, *WRONG_LAYERS])
def test_each_wrong_implementation_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)


# lesson 13: multi_sample_logits(h, head, masks, p), multi_sample_loss(logits, y), MultiSampleDropout(head, m, p)

from course.dropout import (  # noqa: E402
    check_multi_sample_dropout,
    check_multi_sample_logits,
    check_multi_sample_loss,
)


def multi_sample_logits(h, head, masks, p):
    m, b, d = masks.shape
    return head((h * masks / (1 - p)).reshape(m * b, d)).reshape(m, b, -1)


def multi_sample_loss(logits, y):
    m, b, c = logits.shape
    return ml.nn.functional.cross_entropy(logits.reshape(m * b, c), y.repeat(m))


def _first_mask_for_all(h, head, masks, p):
    return ml.stack([head(h * masks[0] / (1 - p))] * masks.shape[0])


def _samples_mixed_up(h, head, masks, p):
    """Flattens batch-major, then reads the result back sample-major."""
    m, b, d = masks.shape
    return head((h * masks / (1 - p)).transpose(0, 1).reshape(b * m, d)).reshape(m, b, -1)


def _rescales_logits(h, head, masks, p):
    """Divides the head's output, bias included, instead of the features."""
    m, b, d = masks.shape
    return head((h * masks).reshape(m * b, d)).reshape(m, b, -1) / (1 - p)


WRONG_MULTI_SAMPLE_LOGITS = {
    "one mask for all samples": _first_mask_for_all,
    "no rescaling": lambda h, head, masks, p: multi_sample_logits(h, head, masks, 0.0),
    "divides by p": lambda h, head, masks, p: multi_sample_logits(h, head, masks, 1 - p),
    "samples and batch mixed up": _samples_mixed_up,
    "rescales the logits, bias included": _rescales_logits,
    "cuts the gradient to the trunk": lambda h, head, masks, p: multi_sample_logits(h.detach(), head, masks, p),
    "drops the kept features": lambda h, head, masks, p: multi_sample_logits(h, head, 1 - masks, p),
}

WRONG_MULTI_SAMPLE_LOSSES = {
    "sums the M losses": lambda z, y: multi_sample_loss(z, y) * z.shape[0],
    "averages the logits before the loss": lambda z, y: ml.nn.functional.cross_entropy(z.mean(0), y),
    "labels repeated element by element": lambda z, y: ml.nn.functional.cross_entropy(
        z.reshape(-1, z.shape[-1]), y.repeat_interleave(z.shape[0])),
    "only the first sample": lambda z, y: ml.nn.functional.cross_entropy(z[0], y),
    "averages the probabilities (an ensemble), then the log": lambda z, y: ml.nn.functional.nll_loss(
        ml.nn.functional.softmax(z, -1).mean(0).log(), y),
}


class MultiSampleDropout(nn.Module):
    def __init__(self, head, m=8, p=0.5):
        super().__init__()
        self.head, self.m, self.p = head, m, p

    def forward(self, h):
        if not self.training:
            return self.head(h).unsqueeze(0)
        return multi_sample_logits(h, self.head, (ml.rand(self.m, *h.shape) >= self.p).float(), self.p)


class DropsInEval(MultiSampleDropout):
    def forward(self, h):
        return multi_sample_logits(h, self.head, (ml.rand(self.m, *h.shape) >= self.p).float(), self.p)


class DropsInEvalOneSample(MultiSampleDropout):
    """The right shape in eval mode, but still under a dropout mask."""

    def forward(self, h):
        m = self.m if self.training else 1
        return multi_sample_logits(h, self.head, (ml.rand(m, *h.shape) >= self.p).float(), self.p)


class EvalWithoutSampleAxis(MultiSampleDropout):
    def forward(self, h):
        return super().forward(h) if self.training else self.head(h)


class OneMaskForAllSamples(MultiSampleDropout):
    def forward(self, h):
        if not self.training:
            return self.head(h).unsqueeze(0)
        mask = (ml.rand(1, *h.shape) >= self.p).float()
        return multi_sample_logits(h, self.head, mask.repeat(self.m, 1, 1), self.p)


class MasksDrawnOnce(MultiSampleDropout):
    def forward(self, h):
        if not self.training:
            return self.head(h).unsqueeze(0)
        if not hasattr(self, "masks"):
            self.masks = (ml.rand(self.m, *h.shape) >= self.p).float()
        return multi_sample_logits(h, self.head, self.masks, self.p)


class KeepsWithProbabilityP(MultiSampleDropout):
    def forward(self, h):
        if not self.training:
            return self.head(h).unsqueeze(0)
        return multi_sample_logits(h, self.head, (ml.rand(self.m, *h.shape) < self.p).float(), self.p)


class OneMaskPerSampleForTheBatch(MultiSampleDropout):
    """Each sample drops the same features for every example: whole columns vanish."""

    def forward(self, h):
        if not self.training:
            return self.head(h).unsqueeze(0)
        masks = (ml.rand(self.m, 1, h.shape[1]) >= self.p).float().repeat(1, h.shape[0], 1)
        return multi_sample_logits(h, self.head, masks, self.p)


class DropsWholeExamples(MultiSampleDropout):
    """Each sample drops whole examples (all their features at once), not units: masks of shape (M, B, 1)."""

    def forward(self, h):
        if not self.training:
            return self.head(h).unsqueeze(0)
        masks = (ml.rand(self.m, h.shape[0], 1) >= self.p).float().repeat(1, 1, h.shape[1])
        return multi_sample_logits(h, self.head, masks, self.p)


class DropsAfterTheHead(MultiSampleDropout):
    def forward(self, h):
        if not self.training:
            return self.head(h).unsqueeze(0)
        out = self.head(h)
        return out * (ml.rand(self.m, *out.shape) >= self.p).float() / (1 - self.p)


class SeededOnceGenerator(MultiSampleDropout):
    """Seeded in __init__: ml.manual_seed changes nothing, every layer draws the same masks."""

    def __init__(self, head, m=8, p=0.5):
        super().__init__(head, m, p)
        self.generator = ml.Generator().manual_seed(0)

    def forward(self, h):
        if not self.training:
            return self.head(h).unsqueeze(0)
        masks = (ml.rand(self.m, *h.shape, generator=self.generator) >= self.p).float()
        return multi_sample_logits(h, self.head, masks, self.p)


WRONG_MULTI_SAMPLE_LAYERS = {c.__name__: c for c in (
    DropsInEval, DropsInEvalOneSample, EvalWithoutSampleAxis, OneMaskForAllSamples, MasksDrawnOnce,
    KeepsWithProbabilityP, OneMaskPerSampleForTheBatch, DropsWholeExamples, DropsAfterTheHead, SeededOnceGenerator)}


@pytest.mark.parametrize("check,right", [(check_multi_sample_logits, multi_sample_logits),
                                         (check_multi_sample_loss, multi_sample_loss),
                                         (check_multi_sample_dropout, MultiSampleDropout)],
                         ids=["multi_sample_logits", "multi_sample_loss", "MultiSampleDropout"])
def test_lesson_13_right_code_passes(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", [
    *[(check_multi_sample_logits, f) for f in WRONG_MULTI_SAMPLE_LOGITS.values()],
    *[(check_multi_sample_loss, f) for f in WRONG_MULTI_SAMPLE_LOSSES.values()],
    *[(check_multi_sample_dropout, c) for c in WRONG_MULTI_SAMPLE_LAYERS.values()],
], ids=[*WRONG_MULTI_SAMPLE_LOGITS, *WRONG_MULTI_SAMPLE_LOSSES, *WRONG_MULTI_SAMPLE_LAYERS])
def test_lesson_13_wrong_implementation_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)

# lesson 14: DropBlock and GridMask

import minilib.nn.functional as F  # noqa: E402
from course.dropout import (  # noqa: E402
    check_apply_keep_mask,
    check_block_keep_mask,
    check_dropblock_gamma,
    check_grid_keep_mask,
    check_sample_centers,
)


def dropblock_gamma(p, block, size):
    return p / block ** 2 * size ** 2 / (size - block + 1) ** 2


WRONG_GAMMAS = {
    "no valid-region factor (p / b²)": lambda p, block, size: p / block ** 2,
    "divides by b, not b²": lambda p, block, size: p / block * size ** 2 / (size - block + 1) ** 2,
    "valid side f - b, not f - b + 1": lambda p, block, size: p / block ** 2 * size ** 2 / (size - block) ** 2,
    "area ratio not squared (sides only)": lambda p, block, size: p / block ** 2 * size / (size - block + 1),
    "the ratio upside down": lambda p, block, size: p / block ** 2 * (size - block + 1) ** 2 / size ** 2,
}


def block_keep_mask(centers, block, F=F):
    return 1 - F.max_pool2d(centers, block, stride=1, padding=block // 2)


def _corner_blocks(centers, block, F=F):
    """Treats each centre as the top-left corner of its block: the blocks shift down and right."""
    padded = F.pad(centers, (block - 1, 0, block - 1, 0))
    return 1 - F.max_pool2d(padded, block, stride=1)


WRONG_BLOCK_MASKS = {
    "inverted (a drop mask)": lambda centers, block, F=F: F.max_pool2d(centers, block, stride=1, padding=block // 2),
    "average pooling (fractions, not 0/1)": lambda centers, block, F=F:
        1 - F.avg_pool2d(centers, block, stride=1, padding=block // 2),
    "centres as top-left corners (blocks shifted)": _corner_blocks,
    "padding block - 1 (the map grows)": lambda centers, block, F=F:
        1 - F.max_pool2d(centers, block, stride=1, padding=block - 1),
    "stride left at the kernel size": lambda centers, block, F=F:
        1 - F.max_pool2d(centers, block, padding=block // 2),
    "no padding, cropped back to size (blocks shifted)": lambda centers, block, F=F:
        1 - F.pad(F.max_pool2d(centers, block, stride=1), (0, block - 1, 0, block - 1)),
    "kernel 2·block + 1 (blocks too big)": lambda centers, block, F=F:
        1 - F.max_pool2d(centers, 2 * block + 1, stride=1, padding=block),
}


def apply_keep_mask(x, keep):
    return x * keep * (keep.numel() / keep.sum())


WRONG_APPLY_MASKS = {
    "no rescaling": lambda x, keep: x * keep,
    "rescaled by kept / total (upside down)": lambda x, keep: x * keep * (keep.sum() / keep.numel()),
    "drops the kept units": lambda x, keep: x * (1 - keep) * (keep.numel() / keep.sum()),
    "numel hard-coded for one shape (864)": lambda x, keep: x * keep * (864 / keep.sum()),
    "rescaled by the dropped fraction": lambda x, keep: x * keep / (1 - keep).mean(),
    "cuts the gradient": lambda x, keep: (x * keep * (keep.numel() / keep.sum())).detach(),
}

OTHER_RIGHT_APPLY_MASKS = {
    "divides by the mean of the mask": lambda x, keep: x * keep / keep.mean(),
    "where": lambda x, keep: ml.where(keep > 0, x, 0 * x) * (keep.numel() / keep.sum()),
}


def _centers(valid_rows, valid_cols, rate_of=dropblock_gamma):
    """A sample_centers whose valid region is rows valid_rows(h, r), columns valid_cols(w, r)."""
    def sample_centers(shape, p, block, generator=None):
        n, c, h, w = shape
        r = block // 2
        valid = ml.zeros(h, w)
        valid[valid_rows(h, r), valid_cols(w, r)] = 1.0
        return ml.bernoulli(ml.full(shape, rate_of(p, block, h)) * valid, generator=generator)

    return sample_centers


sample_centers = _centers(lambda h, r: slice(r, h - r), lambda w, r: slice(r, w - r))


def _no_generator(shape, p, block, generator=None):
    return sample_centers(shape, p, block)


def _anywhere(shape, p, block, generator=None):
    return ml.bernoulli(ml.full(shape, dropblock_gamma(p, block, shape[2])), generator=generator)


WRONG_SAMPLE_CENTERS = {
    "centres anywhere, blocks spill over the border": _anywhere,
    "only the top and left borders kept free": _centers(lambda h, r: slice(r, None), lambda w, r: slice(r, None)),
    "only the bottom and right borders kept free": _centers(lambda h, r: slice(0, h - 2 * r),
                                                            lambda w, r: slice(0, w - 2 * r)),
    "margin of block, not block // 2": _centers(lambda h, r: slice(2 * r, h - 2 * r),
                                                lambda w, r: slice(2 * r, w - 2 * r)),
    "rows kept free, columns not": _centers(lambda h, r: slice(r, h - r), lambda w, r: slice(None)),
    "rate p, not γ": _centers(lambda h, r: slice(r, h - r), lambda w, r: slice(r, w - r),
                              rate_of=lambda p, block, size: p),
    "γ without the valid-region factor": _centers(lambda h, r: slice(r, h - r), lambda w, r: slice(r, w - r),
                                                  rate_of=lambda p, block, size: p / block ** 2),
    "ignores the generator": _no_generator,
    "valid[r:-r] (no centres at all at block 1, dropout)": _centers(lambda h, r: slice(r, -r),
                                                                    lambda w, r: slice(r, -r)),
}


def grid_keep_mask(h, w, d, ratio, dy=0, dx=0):
    side = round(ratio * d)
    rows = ((ml.arange(h) + dy) % d < side).float().reshape(h, 1)
    cols = ((ml.arange(w) + dx) % d < side).float().reshape(1, w)
    return 1 - rows * cols


def _grid(rule, side_of=round, sign=1, swap=False):
    def grid(h, w, d, ratio, dy=0, dx=0):
        if swap:
            dy, dx = dx, dy
        side = side_of(ratio * d)
        rows = ((ml.arange(h) + sign * dy) % d < side).float().reshape(h, 1)
        cols = ((ml.arange(w) + sign * dx) % d < side).float().reshape(1, w)
        return rule(rows, cols)

    return grid


WRONG_GRIDS = {
    "inverted (holes kept, the rest dropped)": _grid(lambda rows, cols: rows * cols),
    "row OR column (a grid of lines)": _grid(lambda rows, cols: 1 - (rows + cols).clamp(max=1)),
    "l = int(ratio * d), truncated": _grid(lambda rows, cols: 1 - rows * cols, side_of=int),
    "offsets subtracted": _grid(lambda rows, cols: 1 - rows * cols, sign=-1),
    "dy and dx swapped": _grid(lambda rows, cols: 1 - rows * cols, swap=True),
    "l = ratio * d, not rounded (compares with 2.1)": _grid(lambda rows, cols: 1 - rows * cols, side_of=lambda s: s),
    "l = ceil(ratio * d)": _grid(lambda rows, cols: 1 - rows * cols, side_of=lambda s: -int(-s // 1)),
}

LESSON_14_RIGHT = [(check_dropblock_gamma, dropblock_gamma), (check_block_keep_mask, block_keep_mask),
                   (check_apply_keep_mask, apply_keep_mask), (check_sample_centers, sample_centers),
                   (check_grid_keep_mask, grid_keep_mask),
                   *[(check_apply_keep_mask, f) for f in OTHER_RIGHT_APPLY_MASKS.values()]]
LESSON_14_WRONG = {**{k: (check_dropblock_gamma, f) for k, f in WRONG_GAMMAS.items()},
                   **{k: (check_block_keep_mask, f) for k, f in WRONG_BLOCK_MASKS.items()},
                   **{k: (check_apply_keep_mask, f) for k, f in WRONG_APPLY_MASKS.items()},
                   **{k: (check_sample_centers, f) for k, f in WRONG_SAMPLE_CENTERS.items()},
                   **{k: (check_grid_keep_mask, f) for k, f in WRONG_GRIDS.items()}}


@pytest.mark.parametrize("check,right", LESSON_14_RIGHT,
                         ids=["dropblock_gamma", "block_keep_mask", "apply_keep_mask", "sample_centers",
                              "grid_keep_mask", *OTHER_RIGHT_APPLY_MASKS])
def test_lesson_14_right_code_passes(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", LESSON_14_WRONG.values(), ids=list(LESSON_14_WRONG))
def test_lesson_14_wrong_code_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)


# lesson 11: predicted_shift(p, mean, var) and recalibrate_bn(model, x)
from course.dropout import batch_norms, check_predicted_shift, check_recalibrate_bn  # noqa: E402


def predicted_shift(p, mean, var):
    q = 1 - p
    return var / ((mean * mean + var) / q - mean * mean)


WRONG_SHIFTS = {
    "p for 1 - p": lambda p, c, v: v / ((c * c + v) / p - c * c),
    "forgets the mean term c^2": lambda p, c, v: v / (v / (1 - p)),
    "forgets to subtract c^2 (the mean square, not the variance)": lambda p, c, v: v / ((c * c + v) / (1 - p)),
    "train over test, the ratio upside down": lambda p, c, v: ((c * c + v) / (1 - p) - c * c) / v,
    "multiplies by the keep probability": lambda p, c, v: v / ((c * c + v) * (1 - p) - c * c),
    "the mean where its square belongs": lambda p, c, v: v / ((c + v) / (1 - p) - c),
    "adds c^2 where it should add c^2 (1/q - 1)": lambda p, c, v: v / (v / (1 - p) + c * c),
    "the ratio of standard deviations": lambda p, c, v: (v / ((c * c + v) / (1 - p) - c * c)) ** 0.5,
}
RIGHT_SHIFTS = {"predicted_shift": predicted_shift,
                "q v / (v + p c^2), the same ratio rearranged": lambda p, c, v: (1 - p) * v / (v + p * c * c)}


def recalibrate_bn(model, x):
    norms = batch_norms(model)
    momenta = [bn.momentum for bn in norms]
    model.eval()
    for bn in norms:
        bn.train()
        bn.momentum = 1.0
    model(x)
    for bn, m in zip(norms, momenta):
        bn.momentum = m
    model.eval()


def recalibrate_layer_by_layer(model, x):
    """Right too: each BatchNorm gets its input's mean and unbiased variance, layer by layer, in eval mode."""
    model.eval()
    h = x
    with ml.no_grad():
        for layer in model:
            if layer in batch_norms(model):
                layer.running_mean.copy_(h.mean(0))
                layer.running_var.copy_(h.var(0))
            h = layer(h)


def recalibrate_reset_then_cumulative(model, x):
    """Right too: torch's recipe (reset, momentum None) with the whole of x as the one batch."""
    model.eval()
    for bn in batch_norms(model):
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
        bn.num_batches_tracked.zero_()
        bn.momentum, bn.saved = None, bn.momentum
        bn.train()
    model(x)
    for bn in batch_norms(model):
        bn.momentum = bn.saved
    model.eval()


def _momentum_kept(recompute):
    """Wraps a recomputation that sets BatchNorms to train mode and a momentum, then restores both."""
    def wrapped(model, x):
        momenta = [bn.momentum for bn in batch_norms(model)]
        recompute(model, x)
        for bn, m in zip(batch_norms(model), momenta):
            bn.momentum = m
        model.eval()
    return wrapped


def _dropout_left_on(model, x):
    model.train()
    for bn in batch_norms(model):
        bn.momentum = 1.0
    model(x)


def _default_momentum(model, x):
    model.eval()
    for bn in batch_norms(model):
        bn.train()
    model(x)


def _cumulative_without_reset(model, x):
    model.eval()
    for bn in batch_norms(model):
        bn.train()
        bn.momentum = None
    model(x)


def _average_over_mini_batches(model, x):
    model.eval()
    for bn in batch_norms(model):
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
        bn.num_batches_tracked.zero_()
        bn.momentum = None
        bn.train()
    for start in range(0, len(x), 100):
        model(x[start:start + 100])


def _only_the_first(model, x):
    model.eval()
    bn = batch_norms(model)[0]
    bn.train()
    bn.momentum = 1.0
    model(x)


def _layer_by_layer(variance=lambda h: h.var(0), after=False, all_at_once=False):
    def recompute(model, x):
        model.eval()
        inputs, h = {}, x
        with ml.no_grad():
            for layer in model:
                if after:
                    h = layer(h)
                inputs[id(layer)] = h
                if layer in batch_norms(model) and not all_at_once:
                    layer.running_mean.copy_(h.mean(0))
                    layer.running_var.copy_(variance(h))
                if not after:
                    h = layer(h)
            for bn in batch_norms(model):
                if all_at_once:
                    bn.running_mean.copy_(inputs[id(bn)].mean(0))
                    bn.running_var.copy_(variance(inputs[id(bn)]))
    return recompute


def _dropout_rate_set_to_zero(restore):
    def recompute(model, x):
        rates = {m: m.p for m in model.modules() if isinstance(m, nn.Dropout)}
        for m in rates:
            m.p = 0.0
        model.train()
        for bn in batch_norms(model):
            bn.momentum = 1.0
        model(x)
        if restore:
            for m, p in rates.items():
                m.p = p
    return recompute


def _dropout_layers_to_eval(model, x):
    model.train()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    for bn in batch_norms(model):
        bn.momentum = 1.0
    model(x)


def _mini_batches_at_momentum_one(model, x):
    model.eval()
    for bn in batch_norms(model):
        bn.train()
        bn.momentum = 1.0
    for start in range(0, len(x), 128):
        model(x[start:start + 128])


def _left_in_train_mode(model, x):
    recalibrate_bn(model, x)
    for bn in batch_norms(model):
        bn.train()


def _momentum_not_restored(model, x):
    model.eval()
    for bn in batch_norms(model):
        bn.train()
        bn.momentum = 1.0
    model(x)
    model.eval()


WRONG_RECALIBRATIONS = {
    "dropout left on while measuring": _momentum_kept(_dropout_left_on),
    "the default momentum: a step of a running average, not a replacement": _momentum_kept(_default_momentum),
    "a cumulative average that keeps the old statistics": _momentum_kept(_cumulative_without_reset),
    "an average over mini-batches of 100 rows instead of the exact statistics":
        _momentum_kept(_average_over_mini_batches),
    "only the first BatchNorm": _momentum_kept(_only_the_first),
    "the biased variance (divided by n)": _layer_by_layer(variance=lambda h: h.var(0, unbiased=False)),
    "the statistics of each BatchNorm's output": _layer_by_layer(after=True),
    "every input taken in one pass with the old statistics, then all replaced": _layer_by_layer(all_at_once=True),
    "BatchNorms left in train mode": _left_in_train_mode,
    "the momentum left at 1": _momentum_not_restored,
    "dropout switched off by setting its rate to 0, never restored": _momentum_kept(_dropout_rate_set_to_zero(False)),
    "mini-batches of 128 at momentum 1: the last batch's statistics": _momentum_kept(_mini_batches_at_momentum_one),
}
RIGHT_RECALIBRATIONS = {"one batch in train mode": recalibrate_bn, "layer by layer": recalibrate_layer_by_layer,
                        "reset, then a cumulative average of one batch": recalibrate_reset_then_cumulative,
                        "dropout rate set to 0, then restored": _momentum_kept(_dropout_rate_set_to_zero(True)),
                        "whole model in train mode, then each Dropout in eval": _momentum_kept(_dropout_layers_to_eval)}


@pytest.mark.parametrize("check,right", [*[(check_predicted_shift, f) for f in RIGHT_SHIFTS.values()],
                                         *[(check_recalibrate_bn, f) for f in RIGHT_RECALIBRATIONS.values()]],
                         ids=[*RIGHT_SHIFTS, *RIGHT_RECALIBRATIONS])
def test_the_right_code_passes_lesson_11(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", [*[(check_predicted_shift, f) for f in WRONG_SHIFTS.values()],
                                         *[(check_recalibrate_bn, f) for f in WRONG_RECALIBRATIONS.values()]],
                         ids=[*WRONG_SHIFTS, *WRONG_RECALIBRATIONS])
def test_each_wrong_implementation_is_rejected_lesson_11(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)


# lesson 12: dropout_rate(step, p, until, mode), set_dropout(model, p, nn), direction_error(g, g_full)

from course.dropout import check_direction_error, check_dropout_rate, check_set_dropout  # noqa: E402


def dropout_rate(step, p, until, mode="early"):
    if mode not in ("early", "late"):
        raise ValueError(f"unknown mode {mode!r}")
    on = step < until if mode == "early" else step >= until
    return p if on else 0.0


def _modes(early, late):
    """A dropout_rate from two rules, refusing unknown modes (so only the rules are wrong)."""
    def rate(step, p, until, mode="early"):
        if mode not in ("early", "late"):
            raise ValueError(mode)
        return early(step, p, until) if mode == "early" else late(step, p, until)

    return rate


WRONG_DROPOUT_RATES = {
    "one step too many (step <= until)": _modes(lambda s, p, u: p if s <= u else 0.0,
                                                lambda s, p, u: p if s > u else 0.0),
    "steps counted from 1 (step + 1 < until)": _modes(lambda s, p, u: p if s + 1 < u else 0.0,
                                                       lambda s, p, u: p if s + 1 >= u else 0.0),
    "dropout late in early mode (the two swapped)": _modes(lambda s, p, u: p if s >= u else 0.0,
                                                           lambda s, p, u: p if s < u else 0.0),
    "the keep probability 1 - p": _modes(lambda s, p, u: 1 - p if s < u else 1.0,
                                         lambda s, p, u: 1.0 if s < u else 1 - p),
    "late mode off by one (step > until)": _modes(lambda s, p, u: p if s < u else 0.0,
                                                  lambda s, p, u: p if s > u else 0.0),
    "mode ignored (always early)": lambda step, p, until, mode="early": p if step < until else 0.0,
    "unknown modes treated as late": lambda step, p, until, mode="early":
        (p if step < until else 0.0) if mode == "early" else (p if step >= until else 0.0),
    "never switches off": _modes(lambda s, p, u: p, lambda s, p, u: p),
    "a boolean instead of a rate": _modes(lambda s, p, u: s < u, lambda s, p, u: s >= u),
    "no return after the dropout phase (None)": _modes(lambda s, p, u: p if s < u else None,
                                                       lambda s, p, u: p if s >= u else None),
    "a linear decay in early mode": _modes(lambda s, p, u: p * max(0.0, 1 - s / u) if u else 0.0,
                                           lambda s, p, u: p if s >= u else 0.0),
}


def set_dropout(model, p, nn=nn):
    layers = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    for layer in layers:
        layer.p = p
    return len(layers)


def _set_children_only(model, p, nn=nn):
    layers = [m for m in getattr(model, "_modules", {}).values() if isinstance(m, nn.Dropout)]
    if not layers:
        layers = [m for m in model.children() if isinstance(m, nn.Dropout)]
    for layer in layers:
        layer.p = p
    return len(layers)


def _set_first_only(model, p, nn=nn):
    layers = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    layers[0].p = p
    return len(layers)


def _set_every_module(model, p, nn=nn):
    for m in model.modules():
        m.p = p
    return sum(isinstance(m, nn.Dropout) for m in model.modules())


def _minilib_class_always(model, p, nn=nn):
    return set_dropout(model, p)  # ignores the nn argument: a torch model's layers are never found


def _returns_nothing(model, p, nn=nn):
    set_dropout(model, p, nn)


def _counts_every_module(model, p, nn=nn):
    set_dropout(model, p, nn)
    return len(list(model.modules()))


def _new_layers(model, p, nn=nn):
    """Builds fresh Dropout layers instead of changing the model's own."""
    layers = [nn.Dropout(p) for m in model.modules() if isinstance(m, nn.Dropout)]
    return len(layers)


def _keep_probability(model, p, nn=nn):
    return set_dropout(model, 1 - p, nn)


def _sets_a_new_attribute(model, p, nn=nn):
    """Writes `rate`, which Dropout never reads, instead of `p`."""
    layers = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    for layer in layers:
        layer.rate = p
    return len(layers)


def _skips_the_model_itself(model, p, nn=nn):
    layers = [m for m in list(model.modules())[1:] if isinstance(m, nn.Dropout)]
    for layer in layers:
        layer.p = p
    return len(layers)


def _recursive(model, p, nn=nn):
    """Right, written as a recursion over children."""
    count = 0
    if isinstance(model, nn.Dropout):
        model.p, count = p, 1
    return count + sum(_recursive(child, p, nn) for child in model.children())


WRONG_SET_DROPOUTS = {f.__name__.strip("_"): f for f in (
    _set_children_only, _set_first_only, _set_every_module, _minilib_class_always, _returns_nothing,
    _counts_every_module, _new_layers, _keep_probability, _sets_a_new_attribute, _skips_the_model_itself)}


def direction_error(g, g_full):
    return 1 - (g * g_full).sum(-1) / (g.norm(dim=-1) * g_full.norm(dim=-1))


WRONG_DIRECTION_ERRORS = {
    "the cosine itself, not 1 - cosine": lambda g, h: (g * h).sum(-1) / (g.norm(dim=-1) * h.norm(dim=-1)),
    "1 - dot product, no lengths": lambda g, h: 1 - (g * h).sum(-1),
    "squared lengths": lambda g, h: 1 - (g * h).sum(-1) / ((g * g).sum(-1) * (h * h).sum(-1)),
    "one vector's length twice": lambda g, h: 1 - (g * h).sum(-1) / (g.norm(dim=-1) * g.norm(dim=-1)),
    "summed over every axis, not the last": lambda g, h: 1 - (g * h).sum() / (g.norm() * h.norm()),
    "1 - |cosine| (direction without sign)": lambda g, h:
        1 - ((g * h).sum(-1) / (g.norm(dim=-1) * h.norm(dim=-1))).abs(),
    "detached (no gradient)": lambda g, h: direction_error(g.detach(), h.detach()),
    "the first axis (rows and columns swapped)": lambda g, h: 1 - (g * h).sum(0) / (g.norm(dim=0) * h.norm(dim=0)),
    "dot product per row, lengths of the whole tensors": lambda g, h: 1 - (g * h).sum(-1) / (g.norm() * h.norm()),
    "keepdim (one column, not one value per row)": lambda g, h:
        1 - (g * h).sum(-1, keepdim=True) / (g.norm(dim=-1, keepdim=True) * h.norm(dim=-1, keepdim=True)),
    "squared distance of the unit vectors (twice the error)": lambda g, h:
        ((g / g.norm(dim=-1, keepdim=True) - h / h.norm(dim=-1, keepdim=True)) ** 2).sum(-1),
}

OTHER_RIGHT_DIRECTION_ERRORS = {
    "normalise first": lambda g, h:
        1 - ((g / g.norm(dim=-1, keepdim=True)) * (h / h.norm(dim=-1, keepdim=True))).sum(-1),
    "square roots of sums of squares": lambda g, h:
        1 - (g * h).sum(-1) / ((g * g).sum(-1) * (h * h).sum(-1)).sqrt(),
    "half the squared distance of the unit vectors": lambda g, h:
        0.5 * ((g / g.norm(dim=-1, keepdim=True) - h / h.norm(dim=-1, keepdim=True)) ** 2).sum(-1),
    "a small epsilon under the lengths": lambda g, h: 1 - (g * h).sum(-1) / (g.norm(dim=-1) * h.norm(dim=-1) + 1e-12),
}


@pytest.mark.parametrize("check,right", [(check_dropout_rate, dropout_rate), (check_set_dropout, set_dropout),
                                         (check_set_dropout, _recursive), (check_direction_error, direction_error),
                                         *[(check_direction_error, f) for f in OTHER_RIGHT_DIRECTION_ERRORS.values()]],
                         ids=["dropout_rate", "set_dropout", "set_dropout recursive", "direction_error",
                              *OTHER_RIGHT_DIRECTION_ERRORS])
def test_lesson_12_right_code_passes(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", [
    *[(check_dropout_rate, f) for f in WRONG_DROPOUT_RATES.values()],
    *[(check_set_dropout, f) for f in WRONG_SET_DROPOUTS.values()],
    *[(check_direction_error, f) for f in WRONG_DIRECTION_ERRORS.values()],
], ids=[*WRONG_DROPOUT_RATES, *WRONG_SET_DROPOUTS, *WRONG_DIRECTION_ERRORS])
def test_lesson_12_each_wrong_implementation_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)


# lesson 17: pair_counts(words), merge_pair(symbols, pair), segment(word, ranks, p, rng), tlm_mask(chosen, mode),
# masked_attention(q, k, v, allowed)

from collections import Counter  # noqa: E402

from course.dropout import (  # noqa: E402
    check_bpe_merges,
    check_masked_attention,
    check_segment,
    check_tlm_mask,
    reference_bpe_dropout_segment,
)

END = "</w>"


def pair_counts(words):
    counts = Counter()
    for symbols, n in words.items():
        for pair in zip(symbols, symbols[1:]):
            counts[pair] += n
    return counts


def merge_pair(symbols, pair):
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def _counts_unweighted(words):
    return Counter(pair for symbols in words for pair in zip(symbols, symbols[1:]))


def _counts_skip_last(words):
    counts = Counter()
    for symbols, n in words.items():
        for i in range(len(symbols) - 2):
            counts[symbols[i], symbols[i + 1]] += n
    return counts


def _counts_once_per_word(words):
    counts = Counter()
    for symbols, n in words.items():
        for pair in set(zip(symbols, symbols[1:])):
            counts[pair] += n
    return counts


def _merge_overlapping(symbols, pair):
    """Steps one symbol after a merge: 'a a a' becomes 'aa aa'."""
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
        elif i == 0 or (symbols[i - 1], symbols[i]) != pair:
            out.append(symbols[i])
        i += 1
    return tuple(out)


def _merge_first_only(symbols, pair):
    for i in range(len(symbols) - 1):
        if (symbols[i], symbols[i + 1]) == pair:
            return symbols[:i] + (symbols[i] + symbols[i + 1],) + symbols[i + 2:]
    return symbols




WRONG_BPE_MERGES = {
    "counts pairs once per distinct word, not weighted": (_counts_unweighted, merge_pair),
    "misses the last pair of every word": (_counts_skip_last, merge_pair),
    "counts a pair once per word however often it occurs in it": (_counts_once_per_word, merge_pair),
    "merges overlapping pairs": (pair_counts, _merge_overlapping),
    "merges only the first occurrence": (pair_counts, _merge_first_only),
    "returns a list": (pair_counts, lambda symbols, pair: list(merge_pair(symbols, pair))),
}


def segment(word, ranks, p=0.0, rng=None):
    symbols = tuple(word) + (END,)
    while True:
        candidates = [(ranks[pair], i) for i, pair in enumerate(zip(symbols, symbols[1:]))
                      if pair in ranks and (p == 0 or rng.random() >= p)]
        if not candidates:
            return symbols
        _, i = min(candidates)
        symbols = symbols[:i] + (symbols[i] + symbols[i + 1],) + symbols[i + 2:]


def _segment_keeps_with_p(word, ranks, p=0.0, rng=None):
    return segment(word, ranks, 1 - p, rng or np.random.default_rng(0))


def _segment_by_position(word, ranks, p=0.0, rng=None):
    """Merges the leftmost applicable pair instead of the best-ranked one."""
    symbols = tuple(word) + (END,)
    while True:
        candidates = [i for i, pair in enumerate(zip(symbols, symbols[1:]))
                      if pair in ranks and (p == 0 or rng.random() >= p)]
        if not candidates:
            return symbols
        i = candidates[0]
        symbols = symbols[:i] + (symbols[i] + symbols[i + 1],) + symbols[i + 2:]


def _segment_global_random(word, ranks, p=0.0, rng=None):
    """Ignores the rng it is given and draws from numpy's global generator."""
    return segment(word, ranks, p, np.random)


def _segment_drops_merges_once_per_word(word, ranks, p=0.0, rng=None):
    """Drops merge types once for the whole word, then runs plain BPE with what is left."""
    kept = {pair: r for pair, r in ranks.items() if p == 0 or rng.random() >= p}
    return segment(word, kept)


def _segment_stops_at_first_drop(word, ranks, p=0.0, rng=None):
    """Skips the best merge with probability p and then stops: the result is always a prefix of BPE's merges."""
    symbols = tuple(word) + (END,)
    while True:
        candidates = [(ranks[pair], i) for i, pair in enumerate(zip(symbols, symbols[1:])) if pair in ranks]
        if not candidates or (p > 0 and rng.random() < p):
            return symbols
        _, i = min(candidates)
        symbols = symbols[:i] + (symbols[i] + symbols[i + 1],) + symbols[i + 2:]


def _segment_drops_tokens(word, ranks, p=0.0, rng=None):
    """Plain BPE, then splits each final token back into characters with probability p."""
    out = []
    for t in segment(word, ranks):
        if p > 0 and t != END and rng.random() < p:
            out += [*t.removesuffix(END)] + ([END] if t.endswith(END) else [])
        else:
            out.append(t)
    return tuple(out)


WRONG_SEGMENTS = {
    "keeps a merge with probability p": _segment_keeps_with_p,
    "merges the leftmost pair, not the best-ranked": _segment_by_position,
    "ignores the rng it is given": _segment_global_random,
    "drops merge types once per word": _segment_drops_merges_once_per_word,
    "stops at the first dropped merge": _segment_stops_at_first_drop,
    "splits finished tokens instead of dropping merges": _segment_drops_tokens,
}


def tlm_mask(chosen, mode="siblings"):
    t = chosen.shape[0]
    eye = ml.eye(t).bool()
    if mode == "siblings":
        return ~(chosen.reshape(t, 1) | chosen.reshape(1, t)) | eye
    return ~(eye & chosen.reshape(t, 1))


def _tlm_siblings_no_diagonal(chosen, mode="siblings"):
    t = chosen.shape[0]
    if mode == "siblings":
        return ~(chosen.reshape(t, 1) | chosen.reshape(1, t))
    return tlm_mask(chosen, mode)


def _tlm_columns_only(chosen, mode="siblings"):
    """Others stop attending to a chosen token, but it still attends to them."""
    t = chosen.shape[0]
    if mode == "siblings":
        return ~chosen.reshape(1, t).expand(t, t) | ml.eye(t).bool()
    return tlm_mask(chosen, mode)


def _tlm_rows_only(chosen, mode="siblings"):
    t = chosen.shape[0]
    if mode == "siblings":
        return ~chosen.reshape(t, 1).expand(t, t) | ml.eye(t).bool()
    return tlm_mask(chosen, mode)


def _tlm_self_whole_row(chosen, mode="siblings"):
    """Self mode cuts the chosen token's whole row, not only its diagonal entry."""
    t = chosen.shape[0]
    if mode == "self":
        return ~chosen.reshape(t, 1).expand(t, t)
    return tlm_mask(chosen, mode)


def _tlm_inverted(chosen, mode="siblings"):
    """Returns the disallowed pairs (True where attention is cut)."""
    return ~tlm_mask(chosen, mode)


WRONG_TLM_MASKS = {
    "siblings: the chosen token loses itself too": _tlm_siblings_no_diagonal,
    "siblings: only the chosen token's column is cut": _tlm_columns_only,
    "siblings: only the chosen token's row is cut": _tlm_rows_only,
    "self: the whole row is cut": _tlm_self_whole_row,
    "True where attention is cut": _tlm_inverted,
}


def masked_attention(q, k, v, allowed):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v


def _attention_fill_zero(q, k, v, allowed):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.masked_fill(~allowed, 0.0).softmax(-1) @ v


def _attention_mask_after_softmax(q, k, v, allowed):
    """Zeroes the disallowed weights after the softmax: rows no longer sum to one."""
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1)
    return (weights * allowed.float()) @ v


def _attention_no_scale(q, k, v, allowed):
    return (q @ k.transpose(-2, -1)).masked_fill(~allowed, float("-inf")).softmax(-1) @ v


def _attention_wrong_axis(q, k, v, allowed):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.masked_fill(~allowed, float("-inf")).softmax(-2) @ v


def _attention_mask_not_negated(q, k, v, allowed):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.masked_fill(allowed, -1e9).softmax(-1) @ v


WRONG_MASKED_ATTENTIONS = {
    "fills disallowed scores with 0": _attention_fill_zero,
    "zeroes the weights after the softmax": _attention_mask_after_softmax,
    "no 1/sqrt(d) scale": _attention_no_scale,
    "softmax over the queries": _attention_wrong_axis,
    "masks the allowed pairs": _attention_mask_not_negated,
    "masks the transposed pairs": lambda q, k, v, allowed: masked_attention(q, k, v, allowed.transpose(0, 1)),
}

OTHER_RIGHT_MASKED_ATTENTIONS = {
    "a large negative fill": lambda q, k, v, allowed: (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(
        ~allowed, -1e9).softmax(-1) @ v,
    "where": lambda q, k, v, allowed: ml.where(allowed, q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5,
                                               ml.tensor(float("-inf"))).softmax(-1) @ v,
}


@pytest.mark.parametrize("check,right", [
    (check_bpe_merges, (pair_counts, merge_pair)), (check_segment, segment),
    (check_segment, lambda word, ranks, p=0.0, rng=None: reference_bpe_dropout_segment(
        word, ranks, p, rng or np.random.default_rng(0))),
    (check_tlm_mask, tlm_mask), (check_masked_attention, masked_attention),
    *[(check_masked_attention, f) for f in OTHER_RIGHT_MASKED_ATTENTIONS.values()]],
    ids=["bpe_merges", "segment", "segment, all occurrences of the best pair per round (subword-nmt)", "tlm_mask",
         "masked_attention", *OTHER_RIGHT_MASKED_ATTENTIONS])
def test_lesson_17_right_code_passes(check, right, capsys):
    if check is check_bpe_merges:
        check(*right)
    else:
        check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", [
    *[(check_bpe_merges, f) for f in WRONG_BPE_MERGES.values()],
    *[(check_segment, f) for f in WRONG_SEGMENTS.values()],
    *[(check_tlm_mask, f) for f in WRONG_TLM_MASKS.values()],
    *[(check_masked_attention, f) for f in WRONG_MASKED_ATTENTIONS.values()],
], ids=[*WRONG_BPE_MERGES, *WRONG_SEGMENTS, *WRONG_TLM_MASKS, *WRONG_MASKED_ATTENTIONS])
def test_lesson_17_wrong_implementation_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        if check is check_bpe_merges:
            check(*wrong)
        else:
            check(wrong)


# lesson 17, added in review: more segmentations and merges a learner would write

def _merge_by_string_replace(symbols, pair):
    """Joins the symbols with spaces and replaces 'a b' by 'ab': a match can straddle symbol boundaries."""
    return tuple(" ".join(symbols).replace(" ".join(pair), "".join(pair)).split(" "))


def _merge_right_to_left(symbols, pair):
    out, i = [], len(symbols) - 1
    while i >= 0:
        if i > 0 and (symbols[i - 1], symbols[i]) == pair:
            out, i = [symbols[i - 1] + symbols[i], *out], i - 2
        else:
            out, i = [symbols[i], *out], i - 1
    return tuple(out)


def _merge_by_regex(symbols, pair):
    """Sennrich et al.'s merge: a regular expression that only matches whole symbols."""
    import re
    pattern = re.compile(r"(?<!\S)" + re.escape(" ".join(pair)) + r"(?!\S)")
    return tuple(pattern.sub("".join(pair), " ".join(symbols)).split(" "))


def _segment_with(choose):
    """A segment() whose round is `choose(symbols, ranks, p, rng)` -> the index of the pair to merge, or None."""
    def seg(word, ranks, p=0.0, rng=None):
        symbols = (*word, END)
        while (i := choose(symbols, ranks, p, rng)) is not None:
            symbols = symbols[:i] + (symbols[i] + symbols[i + 1],) + symbols[i + 2:]
        return symbols
    return seg


def _round_in_rank_order(symbols, ranks, p, rng):
    """Right, written otherwise: tries the applicable pairs best first, each surviving with probability 1 - p."""
    for _, i in sorted((ranks[pair], i) for i, pair in enumerate(zip(symbols, symbols[1:])) if pair in ranks):
        if p == 0 or rng.random() >= p:
            return i
    return None


def _round_one_draw_per_pair(symbols, ranks, p, rng):
    """Right, written otherwise: one vector of draws per round, over every adjacent pair."""
    pairs = list(zip(symbols, symbols[1:]))
    keep = rng.random(len(pairs)) >= p if p > 0 else [True] * len(pairs)
    candidates = [(ranks[pair], i) for i, pair in enumerate(pairs) if pair in ranks and keep[i]]
    return min(candidates)[1] if candidates else None


def _round_drops_only_the_best(symbols, ranks, p, rng):
    """Drops the best pair with probability p, and then takes the second best without a draw."""
    candidates = sorted((ranks[pair], i) for i, pair in enumerate(zip(symbols, symbols[1:])) if pair in ranks)
    if not candidates:
        return None
    if p > 0 and rng.random() < p:
        return candidates[1][1] if len(candidates) > 1 else None
    return candidates[0][1]


def _round_one_draw_per_merge_type(symbols, ranks, p, rng):
    """One draw per distinct pair per round: two occurrences of a pair are kept or dropped together."""
    pairs = list(zip(symbols, symbols[1:]))
    keep = {pair: p == 0 or rng.random() >= p for pair in sorted(set(pairs)) if pair in ranks}
    candidates = [(ranks[pair], i) for i, pair in enumerate(pairs) if keep.get(pair)]
    return min(candidates)[1] if candidates else None


def _segment_whole_word_dropout(word, ranks, p=0.0, rng=None):
    """Leaves the whole word as characters with probability p, else plain BPE."""
    return (*word, END) if p > 0 and rng.random() < p else segment(word, ranks)


def _segment_drop_is_permanent(word, ranks, p=0.0, rng=None):
    """A merge dropped once is gone for the rest of the word."""
    ranks, symbols = dict(ranks), (*word, END)
    while True:
        candidates = []
        for i, pair in enumerate(zip(symbols, symbols[1:])):
            if pair in ranks:
                if p == 0 or rng.random() >= p:
                    candidates.append((ranks[pair], i))
                else:
                    ranks.pop(pair)
        if not candidates:
            return symbols
        _, i = min(candidates)
        symbols = symbols[:i] + (symbols[i] + symbols[i + 1],) + symbols[i + 2:]


def _segment_two_draws_per_pair(word, ranks, p=0.0, rng=None):
    """Draws twice per pair and drops it if either draw says so: the rate is 1 - (1 - p)^2, not p."""
    return segment(word, ranks, 1 - (1 - p) ** 2, rng)


WRONG_BPE_MERGES_2 = {
    "merges by string replace across symbol boundaries": (pair_counts, _merge_by_string_replace),
    "merges right to left": (pair_counts, _merge_right_to_left),
}
WRONG_SEGMENTS_2 = {
    "drops only the best pair, then takes the second without a draw": _segment_with(_round_drops_only_the_best),
    "one draw per merge type per round": _segment_with(_round_one_draw_per_merge_type),
    "drops the whole word to characters with probability p": _segment_whole_word_dropout,
    "a dropped merge stays dropped for the word": _segment_drop_is_permanent,
    "two draws per pair (rate 1 - (1 - p)^2)": _segment_two_draws_per_pair,
}
OTHER_RIGHT_SEGMENTS = {
    "tries pairs in rank order, each with its own draw": _segment_with(_round_in_rank_order),
    "one vector of draws per round": _segment_with(_round_one_draw_per_pair),
}


@pytest.mark.parametrize("check,right", [(check_bpe_merges, (pair_counts, _merge_by_regex)),
                                         *[(check_segment, f) for f in OTHER_RIGHT_SEGMENTS.values()]],
                         ids=["merge_pair by regex (Sennrich)", *OTHER_RIGHT_SEGMENTS])
def test_lesson_17_other_right_code_passes(check, right, capsys):
    check(*right) if check is check_bpe_merges else check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", [*[(check_bpe_merges, f) for f in WRONG_BPE_MERGES_2.values()],
                                         *[(check_segment, f) for f in WRONG_SEGMENTS_2.values()]],
                         ids=[*WRONG_BPE_MERGES_2, *WRONG_SEGMENTS_2])
def test_lesson_17_more_wrong_implementations_are_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(*wrong) if check is check_bpe_merges else check(wrong)


# lesson 19: mc_predict, entropy, mutual_information, in_rashomon_set, ambiguity, discrepancy

from course.dropout import (  # noqa: E402
    check_ambiguity,
    check_discrepancy,
    check_entropy,
    check_in_rashomon_set,
    check_mc_predict,
    check_mutual_information,
)


def mc_predict(model, x, samples=50):
    model.train()
    with ml.no_grad():
        out = ml.stack([model(x).softmax(-1) for _ in range(samples)])
    model.eval()
    return out


def _mc_in_eval_mode(model, x, samples=50):
    model.eval()
    with ml.no_grad():
        return ml.stack([model(x).softmax(-1) for _ in range(samples)])


def _mc_left_in_training(model, x, samples=50):
    model.train()
    with ml.no_grad():
        return ml.stack([model(x).softmax(-1) for _ in range(samples)])


def _mc_reseeded_every_pass(model, x, samples=50):
    """The same masks on every pass: one thinned network S times."""
    model.train()
    outs = []
    with ml.no_grad():
        for _ in range(samples):
            ml.manual_seed(0)
            outs.append(model(x).softmax(-1))
    model.eval()
    return ml.stack(outs)


def _mc_logits(model, x, samples=50):
    model.train()
    with ml.no_grad():
        out = ml.stack([model(x) for _ in range(samples)])
    model.eval()
    return out


def _mc_softmax_over_inputs(model, x, samples=50):
    model.train()
    with ml.no_grad():
        out = ml.stack([model(x).softmax(0) for _ in range(samples)])
    model.eval()
    return out


def _mc_samples_second(model, x, samples=50):
    model.train()
    with ml.no_grad():
        out = ml.stack([model(x).softmax(-1) for _ in range(samples)], 1)
    model.eval()
    return out


def _mc_keeps_the_graph(model, x, samples=50):
    model.train()
    out = ml.stack([model(x).softmax(-1) for _ in range(samples)])
    model.eval()
    return out


WRONG_MC_PREDICTS = {
    "dropout off (eval mode)": _mc_in_eval_mode,
    "leaves the model in training mode": _mc_left_in_training,
    "reseeds before every pass": _mc_reseeded_every_pass,
    "logits, not distributions": _mc_logits,
    "softmax over the inputs": _mc_softmax_over_inputs,
    "samples in the second dim": _mc_samples_second,
    "keeps the autograd graph": _mc_keeps_the_graph,
}


def entropy(p):
    return -(p * p.clamp(min=1e-12).log()).sum(-1)


def mutual_information(samples):
    return entropy(samples.mean(0)) - entropy(samples).mean(0)


WRONG_ENTROPIES = {
    "no guard for p = 0 (0 log 0 is nan)": lambda p: -(p * p.log()).sum(-1),
    "in bits": lambda p: -(p * p.clamp(min=1e-12).log()).sum(-1) / 0.6931472,
    "no minus sign": lambda p: (p * p.clamp(min=1e-12).log()).sum(-1),
    "over the first dim": lambda p: -(p * p.clamp(min=1e-12).log()).sum(0),
    "log of the sum": lambda p: -(p * p.sum(-1, keepdim=True).clamp(min=1e-12).log()).sum(-1),
    "guard clamps far above 0": lambda p: -(p * p.clamp(min=1e-3).log()).sum(-1),
    "mean over the classes, not the sum": lambda p: -(p * p.clamp(min=1e-12).log()).mean(-1),
}

WRONG_MUTUAL_INFORMATIONS = {
    "the other way round": lambda s: entropy(s).mean(0) - entropy(s.mean(0)),
    "predictive entropy only": lambda s: entropy(s.mean(0)),
    "mean over the inputs": lambda s: entropy(s.mean(1)) - entropy(s).mean(1),
    "expected entropy only": lambda s: entropy(s).mean(0),
    "entropy of the first sample, not the mean": lambda s: entropy(s[0]) - entropy(s).mean(0),
}

WRONG_RASHOMON_FILTERS = {
    "ε absolute, not relative to the base loss": lambda losses, base, eps: losses <= base + eps,
    "the edge left out": lambda losses, base, eps: losses < (1 + eps) * base,
    "models better than the base left out": lambda losses, base, eps: (losses - base).abs() <= eps * base,
    "ε times the base loss, without the base": lambda losses, base, eps: losses <= eps * base,
}


def ambiguity(base, others):
    return (others != base).any(0).float().mean().item() if others.shape[0] else 0.0


def discrepancy(base, others):
    return (others != base).float().mean(1).max().item() if others.shape[0] else 0.0


WRONG_AMBIGUITIES = {
    "every model must disagree": lambda b, o: (o != b).all(0).float().mean().item() if o.shape[0] else 0.0,
    "the mean disagreement": lambda b, o: (o != b).float().mean().item() if o.shape[0] else 0.0,
    "the worst single model (discrepancy)": discrepancy,
    "a tensor, not a float": lambda b, o: (o != b).any(0).float().mean(),
    "counts points, not a fraction": lambda b, o: float((o != b).any(0).float().sum().item()),
}

WRONG_DISCREPANCIES = {
    "the mean over models": lambda b, o: (o != b).float().mean(1).mean().item() if o.shape[0] else 0.0,
    "the worst point, not the worst model": lambda b, o: (o != b).float().mean(0).max().item() if o.shape[0] else 0.0,
    "any model (ambiguity)": ambiguity,
    "crashes on no models": lambda b, o: (o != b).float().mean(1).max().item(),
}


@pytest.mark.parametrize("check,right", [(check_mc_predict, mc_predict), (check_entropy, entropy),
                                         (check_mutual_information, mutual_information),
                                         (check_in_rashomon_set, lambda losses, base, eps: losses <= (1 + eps) * base),
                                         (check_ambiguity, ambiguity), (check_discrepancy, discrepancy)],
                         ids=["mc_predict", "entropy", "mutual_information", "in_rashomon_set", "ambiguity",
                              "discrepancy"])
def test_lesson_19_right_code_passes(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", [
    *[(check_mc_predict, f) for f in WRONG_MC_PREDICTS.values()],
    *[(check_entropy, f) for f in WRONG_ENTROPIES.values()],
    *[(check_mutual_information, f) for f in WRONG_MUTUAL_INFORMATIONS.values()],
    *[(check_in_rashomon_set, f) for f in WRONG_RASHOMON_FILTERS.values()],
    *[(check_ambiguity, f) for f in WRONG_AMBIGUITIES.values()],
    *[(check_discrepancy, f) for f in WRONG_DISCREPANCIES.values()],
], ids=[*WRONG_MC_PREDICTS, *WRONG_ENTROPIES, *WRONG_MUTUAL_INFORMATIONS, *WRONG_RASHOMON_FILTERS,
        *WRONG_AMBIGUITIES, *WRONG_DISCREPANCIES])
def test_lesson_19_wrong_implementation_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)


# lesson 18: nested_mask(batch, units, rho, rng, lib), reconstruct_first_k(encoder, decoder, x, k), pca_errors(x, n)
from course.dropout import check_nested_mask, check_pca_errors, check_reconstruct_first_k  # noqa: E402


def nested_mask(batch, units, rho, rng, lib=ml):
    cutoffs = lib.tensor(np.minimum(rng.geometric(rho, batch), units))
    return (lib.arange(units).reshape(1, units) < cutoffs.reshape(batch, 1)).float()


def _ones_then_zeros(cutoffs, units, lib):
    return (lib.arange(units).reshape(1, units) < lib.tensor(cutoffs).reshape(-1, 1)).float()


WRONG_NESTED_MASKS = {
    "keeps units 0..b (<= for <)": lambda batch, units, rho, rng, lib=ml:
        (lib.arange(units).reshape(1, units) <= lib.tensor(rng.geometric(rho, batch)).reshape(batch, 1)).float(),
    "geometric with 1 - rho": lambda batch, units, rho, rng, lib=ml:
        _ones_then_zeros(rng.geometric(1 - rho, batch), units, lib),
    "one cut-off for the whole batch": lambda batch, units, rho, rng, lib=ml:
        _ones_then_zeros(np.full(batch, rng.geometric(rho)), units, lib),
    "keeps the units after the cut-off": lambda batch, units, rho, rng, lib=ml:
        1.0 - _ones_then_zeros(rng.geometric(rho, batch), units, lib),
    "each unit dropped on its own with the right marginal (1 - rho)^k": lambda batch, units, rho, rng, lib=ml:
        lib.tensor((rng.random((batch, units)) < (1 - rho) ** np.arange(units)).astype(np.float32)),
    "ignores rng (numpy's global generator)": lambda batch, units, rho, rng, lib=ml:
        _ones_then_zeros(np.random.geometric(rho, batch), units, lib),
    "booleans, not floats": lambda batch, units, rho, rng, lib=ml:
        lib.arange(units).reshape(1, units) < lib.tensor(rng.geometric(rho, batch)).reshape(batch, 1),
    "always a minilib tensor, whatever lib": lambda batch, units, rho, rng, lib=ml:
        _ones_then_zeros(rng.geometric(rho, batch), units, ml),
    "rescaled like inverted dropout": lambda batch, units, rho, rng, lib=ml:
        _ones_then_zeros(rng.geometric(rho, batch), units, lib) / (1 - rho),
    "one unit too many (b + 1)": lambda batch, units, rho, rng, lib=ml:
        _ones_then_zeros(rng.geometric(rho, batch) + 1, units, lib),
    "one cut-off per unit, repeated over the batch": lambda batch, units, rho, rng, lib=ml:
        _ones_then_zeros(np.resize(rng.geometric(rho, units), batch), units, lib),
}


def reconstruct_first_k(encoder, decoder, x, k):
    code = encoder(x)
    return decoder(code * (ml.arange(code.shape[1]) < k).float())


def _first_k_weights(encoder, decoder, x, k):
    """Slices the weights: right for bias-free layers, wrong when the layers have biases."""
    return (x @ encoder.weight[:k].T) @ decoder.weight[:, :k].T


def _zeroes_the_weights(encoder, decoder, x, k):
    encoder.weight.data[k:] = 0
    return decoder(encoder(x))


WRONG_RECONSTRUCTIONS = {
    "keeps k + 1 units (<= for <)": lambda encoder, decoder, x, k:
        decoder(encoder(x) * (ml.arange(encoder(x).shape[1]) <= k).float()),
    "zeroes the first k units": lambda encoder, decoder, x, k:
        decoder(encoder(x) * (ml.arange(encoder(x).shape[1]) >= k).float()),
    "keeps the last k units": lambda encoder, decoder, x, k:
        decoder(encoder(x) * (ml.arange(encoder(x).shape[1]) >= encoder(x).shape[1] - k).float()),
    "slices the weights, forgetting the biases": _first_k_weights,
    "zeroes the encoder's weights in place": _zeroes_the_weights,
    "cuts the gradient (detach)": lambda encoder, decoder, x, k: reconstruct_first_k(
        encoder, decoder, x.detach(), k).detach(),
    "a random nested mask instead of a fixed prefix": lambda encoder, decoder, x, k:
        decoder(encoder(x) * nested_mask(x.shape[0], encoder(x).shape[1], 0.5, np.random.default_rng(0))),
    "masks the code before the encoder's bias": lambda encoder, decoder, x, k:
        decoder((x @ encoder.weight.T) * (ml.arange(encoder.weight.shape[0]) < k).float() + encoder.bias),
}


def pca_errors(x, n):
    s = np.linalg.svd(x.numpy(), compute_uv=False)
    return np.array([(s[k:] ** 2).sum() for k in range(1, n + 1)]) / x.shape[0]


def _eigh_errors(x, n):
    variances = np.linalg.eigvalsh(np.cov(x.numpy().T, bias=True))[::-1]
    return [variances[k:].sum() for k in range(1, n + 1)]


def _projection_errors(x, n):
    a = x.numpy().astype(np.float64)
    directions = np.linalg.svd(a, full_matrices=False)[2]
    return [((a - a @ directions[:k].T @ directions[:k]) ** 2).sum(1).mean() for k in range(1, n + 1)]


OTHER_RIGHT_PCA_ERRORS = {"eigenvalues of the covariance": _eigh_errors, "projection": _projection_errors}

WRONG_PCA_ERRORS = {
    "sums the kept components": lambda x, n: [
        (np.linalg.svd(x.numpy(), compute_uv=False)[:k] ** 2).sum() / x.shape[0] for k in range(1, n + 1)],
    "singular values, not squared": lambda x, n: [
        np.linalg.svd(x.numpy(), compute_uv=False)[k:].sum() / x.shape[0] for k in range(1, n + 1)],
    "divides by N - 1": lambda x, n: pca_errors(x, n) * x.shape[0] / (x.shape[0] - 1),
    "k from 0 (off by one)": lambda x, n: [
        (np.linalg.svd(x.numpy(), compute_uv=False)[k:] ** 2).sum() / x.shape[0] for k in range(n)],
    "total, not mean over rows": lambda x, n: pca_errors(x, n) * x.shape[0],
    "mean over pixels too": lambda x, n: pca_errors(x, n) / x.shape[1],
    "the first k columns, not the first k principal directions": lambda x, n: [
        (x.numpy()[:, k:] ** 2).sum(1).mean() for k in range(1, n + 1)],
    "the largest column variances, not the principal directions": lambda x, n: [
        np.sort(x.numpy().var(0))[::-1][k:].sum() for k in range(1, n + 1)],
    "eigenvalues in eigvalsh's ascending order": lambda x, n: [
        np.linalg.eigvalsh(np.cov(x.numpy().T, bias=True))[k:].sum() for k in range(1, n + 1)],
}


@pytest.mark.parametrize("check,right", [(check_nested_mask, nested_mask),
                                         (check_reconstruct_first_k, reconstruct_first_k),
                                         (check_pca_errors, pca_errors),
                                         *[(check_pca_errors, f) for f in OTHER_RIGHT_PCA_ERRORS.values()]],
                         ids=["nested_mask", "reconstruct_first_k", "pca_errors", *OTHER_RIGHT_PCA_ERRORS])
def test_lesson_18_right_code_passes(check, right, capsys):
    check(right)
    out = capsys.readouterr().out
    assert "✓" in out and "✗" not in out


@pytest.mark.parametrize("check,wrong", [
    *[(check_nested_mask, f) for f in WRONG_NESTED_MASKS.values()],
    *[(check_reconstruct_first_k, f) for f in WRONG_RECONSTRUCTIONS.values()],
    *[(check_pca_errors, f) for f in WRONG_PCA_ERRORS.values()],
], ids=[*WRONG_NESTED_MASKS, *WRONG_RECONSTRUCTIONS, *WRONG_PCA_ERRORS])
def test_lesson_18_wrong_implementation_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)


# lesson 15: drop_path(h, branch, keep, p), layers_to_keep(n, k), ResidualMLP(depth, width, d_in, classes, mode, p)

from course.dropout import check_drop_path, check_layers_to_keep, check_residual_stack  # noqa: E402


def drop_path(h, branch, keep, p):
    return h + branch * keep.reshape(-1, 1) / (1 - p)


WRONG_DROP_PATHS = {
    "no rescaling": lambda h, f, keep, p: h + f * keep.reshape(-1, 1),
    "divides by p": lambda h, f, keep, p: h + f * keep.reshape(-1, 1) / p,
    "drops the skip path too": lambda h, f, keep, p: (h + f) * keep.reshape(-1, 1) / (1 - p),
    "masks h instead of the branch": lambda h, f, keep, p: h * keep.reshape(-1, 1) / (1 - p) + f,
    "keep along the features, not the examples": lambda h, f, keep, p: h + f * keep[:h.shape[1]] / (1 - p),
    "drops the kept examples": lambda h, f, keep, p: h + f * (1 - keep).reshape(-1, 1) / (1 - p),
    "returns only the branch": lambda h, f, keep, p: f * keep.reshape(-1, 1) / (1 - p),
}


def layers_to_keep(n, k):
    return [round(i * n / k) for i in range(k)]


WRONG_LAYERS_TO_KEEP = {
    "the first k layers": lambda n, k: list(range(k)),
    "the last k layers": lambda n, k: list(range(n - k, n)),
    "a step of n // k, too many layers": lambda n, k: list(range(0, n, n // k)),
    "starts at the step, past the last layer": lambda n, k: [(i + 1) * n // k for i in range(k)],
    "spread from first to last (linspace)": lambda n, k: [round(i * (n - 1) / max(k - 1, 1)) for i in range(k)],
    "k for n - k (the layers dropped)": lambda n, k: [i for i in range(n) if i not in layers_to_keep(n, k)],
}


class ResidualMLP(nn.Module):
    def __init__(self, depth=8, width=32, d_in=2, classes=2, mode="none", p=0.5):
        super().__init__()
        self.mode, self.p = mode, p
        self.embed = nn.Linear(d_in, width)
        self.blocks = nn.ModuleList([nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.ReLU(),
                                                   nn.Linear(width, width)) for _ in range(depth)])
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, classes))

    def run(self, i, block, h):
        """One block in the right way; subclasses change it."""
        if self.training and self.mode == "layerdrop":
            return h if ml.rand(1).item() < self.p else h + block(h)
        if self.training and self.mode == "droppath":
            return drop_path(h, block(h), (ml.rand(h.shape[0]) >= self.p).float(), self.p)
        return h + block(h)

    def forward(self, x, keep=None):
        h = self.embed(x)
        for i, block in enumerate(self.blocks):
            if keep is None or i in keep:
                h = self.run(i, block, h)
        return self.head(h)


class IgnoresKeep(ResidualMLP):
    def forward(self, x, keep=None):
        return super().forward(x)


class KeepMeansSkip(ResidualMLP):
    def forward(self, x, keep=None):
        return super().forward(x, None if keep is None else [i for i in range(len(self.blocks)) if i not in keep])


class DropsInEval(ResidualMLP):
    def run(self, i, block, h):
        if self.mode == "layerdrop":
            return h if ml.rand(1).item() < self.p else h + block(h)
        if self.mode == "droppath":
            return drop_path(h, block(h), (ml.rand(h.shape[0]) >= self.p).float(), self.p)
        return h + block(h)


class LayerDropRescales(ResidualMLP):
    def run(self, i, block, h):
        if self.training and self.mode == "layerdrop":
            return h if ml.rand(1).item() < self.p else h + block(h) / (1 - self.p)
        return super().run(i, block, h)


class LayerDropPerExample(ResidualMLP):
    """LayerDrop written as drop-path: each example skips its own blocks."""

    def run(self, i, block, h):
        if self.training and self.mode == "layerdrop":
            return h + block(h) * (ml.rand(h.shape[0], 1) >= self.p).float()
        return super().run(i, block, h)


class LayerDropOnceForAllBlocks(ResidualMLP):
    """One draw per forward: all blocks or none."""

    def forward(self, x, keep=None):
        if self.training and self.mode == "layerdrop":
            h = self.embed(x)
            if ml.rand(1).item() >= self.p:
                for block in self.blocks:
                    h = h + block(h)
            return self.head(h)
        return super().forward(x, keep)


class LayerDropKeepsWithP(ResidualMLP):
    def run(self, i, block, h):
        if self.training and self.mode == "layerdrop":
            return h if ml.rand(1).item() >= self.p else h + block(h)
        return super().run(i, block, h)


class DropPathOneMaskForTheBatch(ResidualMLP):
    def run(self, i, block, h):
        if self.training and self.mode == "droppath":
            keep = (ml.rand(1) >= self.p).float().expand(h.shape[0])
            return drop_path(h, block(h), keep, self.p)
        return super().run(i, block, h)


class DropPathUnscaled(ResidualMLP):
    def run(self, i, block, h):
        if self.training and self.mode == "droppath":
            return drop_path(h, block(h), (ml.rand(h.shape[0]) >= self.p).float(), 0.0)
        return super().run(i, block, h)


class DropPathKeepsWithP(ResidualMLP):
    def run(self, i, block, h):
        if self.training and self.mode == "droppath":
            return drop_path(h, block(h), (ml.rand(h.shape[0]) < self.p).float(), self.p)
        return super().run(i, block, h)


class DropPathIgnored(ResidualMLP):
    """Only LayerDrop written; drop-path mode trains like the plain network."""

    def run(self, i, block, h):
        if self.training and self.mode == "droppath":
            return h + block(h)
        return super().run(i, block, h)


WRONG_STACKS = {c.__name__: c for c in (
    IgnoresKeep, KeepMeansSkip, DropsInEval, LayerDropRescales, LayerDropPerExample, LayerDropOnceForAllBlocks,
    LayerDropKeepsWithP, DropPathOneMaskForTheBatch, DropPathUnscaled, DropPathKeepsWithP, DropPathIgnored)}


@pytest.mark.parametrize("check,right", [(check_drop_path, drop_path), (check_layers_to_keep, layers_to_keep),
                                         (check_layers_to_keep, lambda n, k: [i * n // k for i in range(k)]),
                                         (check_residual_stack, ResidualMLP)],
                         ids=["drop_path", "layers_to_keep", "layers_to_keep, floor", "ResidualMLP"])
def test_lesson_15_right_code_passes(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", [
    *[(check_drop_path, f) for f in WRONG_DROP_PATHS.values()],
    *[(check_layers_to_keep, f) for f in WRONG_LAYERS_TO_KEEP.values()],
    *[(check_residual_stack, c) for c in WRONG_STACKS.values()],
], ids=[*WRONG_DROP_PATHS, *WRONG_LAYERS_TO_KEEP, *WRONG_STACKS])
def test_lesson_15_wrong_implementation_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)


# lesson 15, review: more wrong code a learner writes, and right code written differently

WRONG_DROP_PATHS_2 = {
    "multiplies by 1 - p": lambda h, f, keep, p: h + f * keep.reshape(-1, 1) * (1 - p),
    "keep not reshaped to a column": lambda h, f, keep, p: h + f * keep / (1 - p),
    "rescales h too": lambda h, f, keep, p: (h + f * keep.reshape(-1, 1)) / (1 - p),
}
WRONG_LAYERS_TO_KEEP_2 = {
    "linspace to the last layer, floored": lambda n, k: [int(v) for v in np.linspace(0, n - 1, k)],
    "a step of n // k, cut to k": lambda n, k: list(range(0, n, n // k))[:k],
    "counts layers from 1": lambda n, k: [round(i * n / k) + 1 for i in range(k)],
}


class DropPathPerElement(ResidualMLP):
    """Ordinary dropout on the branch: a mask per element, not per example."""

    def run(self, i, block, h):
        if self.training and self.mode == "droppath":
            return h + block(h) * (ml.rand(*h.shape) >= self.p).float() / (1 - self.p)
        return super().run(i, block, h)


class LayerDropInBothModes(ResidualMLP):
    """Drops whole blocks in drop-path mode too."""

    def run(self, i, block, h):
        if self.training and self.mode in ("layerdrop", "droppath"):
            return h if ml.rand(1).item() < self.p else h + block(h)
        return super().run(i, block, h)


class LayerDropOneDrawPerForward(ResidualMLP):
    """One uniform draw per forward, compared with p at every block."""

    def forward(self, x, keep=None):
        self.u = ml.rand(1).item()
        return super().forward(x, keep)

    def run(self, i, block, h):
        if self.training and self.mode == "layerdrop":
            return h if self.u < self.p else h + block(h)
        return super().run(i, block, h)


class KeepIterated(ResidualMLP):
    """Right: runs the blocks listed in keep by iterating over keep."""

    def forward(self, x, keep=None):
        h = self.embed(x)
        for i in range(len(self.blocks)) if keep is None else keep:
            h = self.run(i, self.blocks[i], h)
        return self.head(h)


WRONG_STACKS_2 = {c.__name__: c for c in (DropPathPerElement, LayerDropInBothModes, LayerDropOneDrawPerForward)}


@pytest.mark.parametrize("check,right", [
    (check_layers_to_keep, lambda n, k: [math.ceil(i * n / k) for i in range(k)]),
    (check_layers_to_keep, lambda n, k: list(np.arange(k) * n // k)),
    (check_residual_stack, KeepIterated)], ids=["layers_to_keep, ceil", "layers_to_keep, numpy", "ResidualMLP, keep"])
def test_lesson_15_right_code_written_differently_passes(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", [
    *[(check_drop_path, f) for f in WRONG_DROP_PATHS_2.values()],
    *[(check_layers_to_keep, f) for f in WRONG_LAYERS_TO_KEEP_2.values()],
    *[(check_residual_stack, c) for c in WRONG_STACKS_2.values()],
], ids=[*WRONG_DROP_PATHS_2, *WRONG_LAYERS_TO_KEEP_2, *WRONG_STACKS_2])
def test_lesson_15_more_wrong_implementations_are_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)


# lesson 16: lstm_step(x, h, c, w_ih, w_hh, b), time_masks(steps, batch, units, p, locked, generator),
# dropped_lstm(xs, w_ih, w_hh, b, keep_in, keep_rec, keep_out, p)

from course.dropout import check_dropped_lstm, check_lstm_step, check_time_masks  # noqa: E402


def _gates(x, h, w_ih, w_hh, b):
    return (x @ w_ih.transpose(-1, -2) + h @ w_hh.transpose(-1, -2) + b).chunk(4, dim=-1)


def lstm_step(x, h, c, w_ih, w_hh, b):
    i, f, g, o = _gates(x, h, w_ih, w_hh, b)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def _step_ifog_as_ifgo(x, h, c, w_ih, w_hh, b):
    i, f, o, g = _gates(x, h, w_ih, w_hh, b)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def _step_output_from_old_cell(x, h, c, w_ih, w_hh, b):
    i, f, g, o = _gates(x, h, w_ih, w_hh, b)
    return o.sigmoid() * c.tanh(), f.sigmoid() * c + i.sigmoid() * g.tanh()


def _step_no_tanh_on_cell(x, h, c, w_ih, w_hh, b):
    i, f, g, o = _gates(x, h, w_ih, w_hh, b)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c, c


def _step_sigmoid_candidate(x, h, c, w_ih, w_hh, b):
    i, f, g, o = _gates(x, h, w_ih, w_hh, b)
    c = f.sigmoid() * c + i.sigmoid() * g.sigmoid()
    return o.sigmoid() * c.tanh(), c


def _step_untransposed(x, h, c, w_ih, w_hh, b):
    """Weights used as (in, out): wrong shapes unless square, and wrong values."""
    i, f, g, o = (x @ w_ih.T + h @ w_hh.T + b).chunk(4, dim=-1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


WRONG_LSTM_STEPS = {"gates in the order i, f, o, g": _step_ifog_as_ifgo,
                    "output from the old cell state": _step_output_from_old_cell,
                    "no tanh on the cell state": _step_no_tanh_on_cell,
                    "sigmoid on the candidate": _step_sigmoid_candidate,
                    ".T, which reverses every dimension of a stack of models": _step_untransposed}


def time_masks(steps, batch, units, p, locked, generator=None):
    if locked:
        return (ml.rand(1, batch, units, generator=generator) >= p).float().expand(steps, batch, units)
    return (ml.rand(steps, batch, units, generator=generator) >= p).float()


WRONG_TIME_MASKS = {
    "locked ignored: always fresh": lambda steps, batch, units, p, locked, generator=None:
        time_masks(steps, batch, units, p, False, generator),
    "locked: one mask for the whole batch": lambda steps, batch, units, p, locked, generator=None:
        (ml.rand(1, 1, units, generator=generator) >= p).float().expand(steps, batch, units) if locked
        else time_masks(steps, batch, units, p, False, generator),
    "fresh: one mask for the whole batch at each step": lambda steps, batch, units, p, locked, generator=None:
        time_masks(steps, batch, units, p, True, generator) if locked
        else (ml.rand(steps, 1, units, generator=generator) >= p).float().expand(steps, batch, units),
    "keeps with probability p": lambda steps, batch, units, p, locked, generator=None:
        time_masks(steps, batch, units, 1 - p, locked, generator),
    "ignores the generator": lambda steps, batch, units, p, locked, generator=None:
        time_masks(steps, batch, units, p, locked, None),
    "locked: drops whole units at every step and in every sequence": lambda steps, batch, units, p, locked,
        generator=None: (ml.rand(1, 1, units, generator=generator) >= p).float().expand(steps, batch, units)
        if locked else time_masks(steps, batch, units, p, locked, generator),
}


def _drop(x, keep, p):
    return x * keep / (1 - p)


def dropped_lstm(xs, w_ih, w_hh, b, keep_in, keep_rec, keep_out, p):
    h = c = 0 * keep_rec[0]
    outputs = []
    for t, x in enumerate(xs):
        h, c = lstm_step(_drop(x, keep_in[t], p), _drop(h, keep_rec[t], p), c, w_ih, w_hh, b)
        outputs.append(_drop(h, keep_out[t], p))
    return outputs


def _lstm_dropped_output_fed_back(xs, w_ih, w_hh, b, keep_in, keep_rec, keep_out, p):
    """The output mask also cuts the state that goes on to the next step."""
    h = c = 0 * keep_rec[0]
    outputs = []
    for t, x in enumerate(xs):
        h, c = lstm_step(_drop(x, keep_in[t], p), _drop(h, keep_rec[t], p), c, w_ih, w_hh, b)
        h = _drop(h, keep_out[t], p)
        outputs.append(h)
    return outputs


def _lstm_drops_the_cell(xs, w_ih, w_hh, b, keep_in, keep_rec, keep_out, p):
    h = c = 0 * keep_rec[0]
    outputs = []
    for t, x in enumerate(xs):
        h, c = lstm_step(_drop(x, keep_in[t], p), h, _drop(c, keep_rec[t], p), w_ih, w_hh, b)
        outputs.append(_drop(h, keep_out[t], p))
    return outputs


def _lstm_first_mask_only(xs, w_ih, w_hh, b, keep_in, keep_rec, keep_out, p):
    """keep[0] at every step: locks even the masks that should be fresh."""
    h = c = 0 * keep_rec[0]
    outputs = []
    for x in xs:
        h, c = lstm_step(_drop(x, keep_in[0], p), _drop(h, keep_rec[0], p), c, w_ih, w_hh, b)
        outputs.append(_drop(h, keep_out[0], p))
    return outputs


def _lstm_no_rescale(xs, w_ih, w_hh, b, keep_in, keep_rec, keep_out, p):
    return dropped_lstm(xs, w_ih, w_hh, b, keep_in, keep_rec, keep_out, 0.0)


def _lstm_no_recurrent_dropout(xs, w_ih, w_hh, b, keep_in, keep_rec, keep_out, p):
    return dropped_lstm(xs, w_ih, w_hh, b, keep_in, 1 + 0 * keep_rec, keep_out, p)


def _lstm_no_input_dropout(xs, w_ih, w_hh, b, keep_in, keep_rec, keep_out, p):
    return dropped_lstm(xs, w_ih, w_hh, b, 1 + 0 * keep_in, keep_rec, keep_out, p)


WRONG_DROPPED_LSTMS = {"the output mask also cuts the state fed back": _lstm_dropped_output_fed_back,
                       "drops the cell state instead of h": _lstm_drops_the_cell,
                       "the first step's masks at every step": _lstm_first_mask_only,
                       "no rescaling": _lstm_no_rescale,
                       "no recurrent dropout": _lstm_no_recurrent_dropout,
                       "no input dropout": _lstm_no_input_dropout}


@pytest.mark.parametrize("check,right", [(check_lstm_step, lstm_step), (check_time_masks, time_masks),
                                         (check_dropped_lstm, dropped_lstm)],
                         ids=["lstm_step", "time_masks", "dropped_lstm"])
def test_lesson_16_right_code_passes(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", [
    *[(check_lstm_step, f) for f in WRONG_LSTM_STEPS.values()],
    *[(check_time_masks, f) for f in WRONG_TIME_MASKS.values()],
    *[(check_dropped_lstm, f) for f in WRONG_DROPPED_LSTMS.values()],
], ids=[*WRONG_LSTM_STEPS, *WRONG_TIME_MASKS, *WRONG_DROPPED_LSTMS])
def test_lesson_16_wrong_implementation_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)


# lesson 16, review: more wrong versions a learner writes, and right ones written differently


def _step_gates_fiog(x, h, c, w_ih, w_hh, b):
    f, i, g, o = _gates(x, h, w_ih, w_hh, b)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def _step_returns_c_h(x, h, c, w_ih, w_hh, b):
    h, c = lstm_step(x, h, c, w_ih, w_hh, b)
    return c, h


def _step_sliced(x, h, c, w_ih, w_hh, b):
    """Right: the gates sliced by hand instead of chunk."""
    n = h.shape[-1]
    z = x @ w_ih.transpose(-1, -2) + h @ w_hh.transpose(-1, -2) + b
    i, f, g, o = z[..., :n], z[..., n:2 * n], z[..., 2 * n:3 * n], z[..., 3 * n:]
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def _masks_locked_fresh_swapped(steps, batch, units, p, locked, generator=None):
    return time_masks(steps, batch, units, p, not locked, generator)


def _masks_rescaled(steps, batch, units, p, locked, generator=None):
    """Folds the 1/(1 - p) into the mask, which must stay 0/1."""
    return time_masks(steps, batch, units, p, locked, generator) / (1 - p)


def _masks_repeat(steps, batch, units, p, locked, generator=None):
    """Right: > instead of >=, and a copy by repeat instead of expand."""
    if locked:
        return (ml.rand(batch, units, generator=generator) > p).float().unsqueeze(0).repeat(steps, 1, 1)
    return (ml.rand(steps, batch, units, generator=generator) > p).float()


def _lstm_recurrent_mask_one_step_late(xs, w_ih, w_hh, b, keep_in, keep_rec, keep_out, p):
    """Masks h right after computing it at step t with keep_rec[t], i.e. step t+1 reads keep_rec[t]."""
    h = c = 0 * keep_rec[0]
    outputs = []
    for t, x in enumerate(xs):
        h, c = lstm_step(_drop(x, keep_in[t], p), h, c, w_ih, w_hh, b)
        outputs.append(_drop(h, keep_out[t], p))
        h = _drop(h, keep_rec[t], p)
    return outputs


def _lstm_no_output_dropout(xs, w_ih, w_hh, b, keep_in, keep_rec, keep_out, p):
    return dropped_lstm(xs, w_ih, w_hh, b, keep_in, keep_rec, 1 + 0 * keep_out, p)


def _lstm_divides_by_p(xs, w_ih, w_hh, b, keep_in, keep_rec, keep_out, p):
    return dropped_lstm(xs, w_ih, w_hh, b, keep_in, keep_rec, keep_out, 1 - p)


MORE_WRONG_16 = {"lstm_step: gates in the order f, i, g, o": (check_lstm_step, _step_gates_fiog),
                 "lstm_step: returns (c, h)": (check_lstm_step, _step_returns_c_h),
                 "time_masks: locked and fresh swapped": (check_time_masks, _masks_locked_fresh_swapped),
                 "time_masks: masks rescaled by 1/(1 - p)": (check_time_masks, _masks_rescaled),
                 "dropped_lstm: recurrent mask one step late": (check_dropped_lstm, _lstm_recurrent_mask_one_step_late),
                 "dropped_lstm: no output dropout": (check_dropped_lstm, _lstm_no_output_dropout),
                 "dropped_lstm: divides by p": (check_dropped_lstm, _lstm_divides_by_p)}


@pytest.mark.parametrize("check,right", [(check_lstm_step, _step_sliced), (check_time_masks, _masks_repeat)],
                         ids=["lstm_step sliced by hand", "time_masks with > and repeat"])
def test_lesson_16_right_code_written_otherwise_passes(check, right, capsys):
    check(right)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("check,wrong", MORE_WRONG_16.values(), ids=list(MORE_WRONG_16))
def test_lesson_16_more_wrong_implementations_are_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)


def test_lesson_16_time_masks_names_the_structure():
    """Swapping locked and fresh is reported as a wrong structure, not as a rate slightly off."""
    with pytest.raises(CheckFailed, match="locked: the same mask at every step"):
        check_time_masks(_masks_locked_fresh_swapped)
