"""Offline datasets: scikit-learn's digits and sample images, synthetic sets, and the repo's text corpus.

Nothing is downloaded: digits and the sample images ship inside scikit-learn, the rest is
generated from a seed or read from ``corpus.txt`` next to this file.
"""
from collections import namedtuple
from pathlib import Path

import numpy as np

from ..tensor import Tensor

Split = namedtuple("Split", ["x_train", "y_train", "x_test", "y_test"])
CORPUS_PATH = Path(__file__).with_name("corpus.txt")


def _split(x, y, test_fraction, seed):
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return Split(Tensor._wrap(x[train]), Tensor._wrap(y[train]), Tensor._wrap(x[test]), Tensor._wrap(y[test]))


def digits(test_fraction=0.25, seed=0, flatten=False, upscale=1, n_train=None):
    """scikit-learn's 1,797 8x8 digit images in [0, 1] as a seeded train/test :class:`Split`.

    Images are (N, 1, 8*upscale, 8*upscale) float32, or (N, 64*upscale**2) with ``flatten``;
    labels int64. ``n_train`` keeps only the first n training examples (small-data lessons).
    """
    from sklearn.datasets import load_digits

    raw = load_digits()
    x = (raw.images / 16.0).astype(np.float32)
    if upscale > 1:
        x = x.repeat(upscale, axis=1).repeat(upscale, axis=2)
    x = x.reshape(len(x), -1) if flatten else x[:, None]
    split = _split(x, raw.target.astype(np.int64), test_fraction, seed)
    if n_train is not None:
        split = split._replace(x_train=split.x_train[:n_train], y_train=split.y_train[:n_train])
    return split


def sample_image(name="china.jpg", gray=True, size=None):
    """One of scikit-learn's sample photos ('china.jpg', 'flower.jpg') as float32 in [0, 1].

    Gray: (H, W); colour: (3, H, W). ``size`` (h, w) block-averages it down (integer factors).
    """
    from sklearn.datasets import load_sample_image

    img = load_sample_image(name).astype(np.float32) / 255.0
    img = img.mean(axis=2, keepdims=True) if gray else img
    if size is not None:
        fh, fw = img.shape[0] // size[0], img.shape[1] // size[1]
        img = img[:size[0] * fh, :size[1] * fw].reshape(size[0], fh, size[1], fw, -1).mean(axis=(1, 3))
    img = np.ascontiguousarray(img.transpose(2, 0, 1))
    return Tensor._wrap(img[0] if gray else img)


def moons(n=400, noise=0.1, seed=0):
    """Two interleaved half-circles: x (n, 2) float32, y (n,) int64."""
    from sklearn.datasets import make_moons

    x, y = make_moons(n, noise=noise, random_state=seed)
    return Tensor._wrap(x.astype(np.float32)), Tensor._wrap(y.astype(np.int64))


def spirals(n=300, classes=3, noise=0.2, seed=0):
    """``classes`` interleaved spiral arms (CS231n style): x (n, 2) float32, y (n,) int64."""
    rng = np.random.default_rng(seed)
    per = n // classes
    r = np.tile(np.linspace(0.0, 1.0, per), classes)
    y = np.repeat(np.arange(classes), per)
    theta = y * (2 * np.pi / classes) + r * 4.0 + rng.normal(0, noise, len(r))
    x = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1)
    return Tensor._wrap(x.astype(np.float32)), Tensor._wrap(y.astype(np.int64))


def modular_arithmetic(p=97, op="+", train_fraction=0.5, seed=0):
    """All pairs (a, b) with label (a op b) mod p, split at random: the grokking task.

    x holds token ids [a, b] (int64, shape (N, 2)); y holds the answer (N,).
    """
    ops = {"+": np.add, "-": np.subtract, "*": np.multiply}
    if op not in ops:
        raise ValueError(f"modular_arithmetic: op must be one of {sorted(ops)}, got {op!r}")
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    x = np.stack([a.ravel(), b.ravel()], axis=1).astype(np.int64)
    y = (ops[op](x[:, 0], x[:, 1]) % p).astype(np.int64)
    return _split(x, y, 1 - train_fraction, seed)


def corpus():
    """The small public-domain text shipped with minilib (nursery rhymes and proverbs)."""
    return CORPUS_PATH.read_text(encoding="utf-8")


class CharTokenizer:
    """Characters <-> integer ids, built from a text's sorted set of characters."""

    def __init__(self, text):
        self.chars = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}

    @property
    def vocab_size(self):
        return len(self.chars)

    def encode(self, text):
        missing = sorted(set(text) - self.stoi.keys())
        if missing:
            raise ValueError(f"CharTokenizer.encode: characters {missing} are not in the vocabulary")
        return Tensor._wrap(np.array([self.stoi[c] for c in text], dtype=np.int64))

    def decode(self, ids):
        ids = ids.tolist() if isinstance(ids, Tensor) else list(ids)
        return "".join(self.chars[i] for i in ids)
