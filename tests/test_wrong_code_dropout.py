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


# lesson 18: nested_mask(batch, units, rho, rng, lib), reconstruct_first_k(encoder, decoder, x, k), pca_errors(x, n)
import numpy as np  # noqa: E402

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
