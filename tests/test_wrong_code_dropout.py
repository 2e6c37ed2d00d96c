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
