"""References and checks for the dropout track (lessons 10-19).

A lesson's check cell shows a call, ``check_dropout(dropout)``, not the reference: the reference
lives here, and each check is tested against plausible wrong implementations
(``tests/test_wrong_code_dropout.py``). Hints name the idea, never the line of code.
"""
import numpy as np

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
