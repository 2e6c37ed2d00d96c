"""References and checks for the dropout track (lessons 10-19).

A lesson's check cell shows a call, ``check_dropout(dropout)``, not the reference: the reference
lives here, and each check is tested against plausible wrong implementations
(``tests/test_wrong_code_dropout.py``). Hints name the idea, never the line of code.
"""
import minilib as ml

from .check import check, expect, near


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
