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
