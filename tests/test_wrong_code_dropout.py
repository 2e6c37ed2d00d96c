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
