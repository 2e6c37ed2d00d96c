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
