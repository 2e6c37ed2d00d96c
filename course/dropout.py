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
