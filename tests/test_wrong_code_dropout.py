"""The dropout track's checks against plausible wrong code: each must raise CheckFailed, the right code must pass.

One entry per mistake a learner makes (the lesson review lists them); a check that lets one through is
a check that teaches nothing.
"""
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

import math  # noqa: E402

import numpy as np  # noqa: E402

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
