"""Datasets and loaders: shapes, seeding, and the offline data the lessons use."""
import numpy as np
import pytest

import minilib as ml
from minilib import data


def test_dataloader_batches_shuffle_reproducibly_and_drop_last():
    ds = data.TensorDataset(ml.arange(10), ml.arange(10) * 2)
    loader = data.DataLoader(ds, batch_size=4, shuffle=True, generator=ml.Generator().manual_seed(1))
    first = [b[0].tolist() for b in loader]
    again = [b[0].tolist() for b in data.DataLoader(ds, batch_size=4, shuffle=True,
                                                    generator=ml.Generator().manual_seed(1))]
    assert first == again and sorted(sum(first, [])) == list(range(10))
    assert [len(b) for b in first] == [4, 4, 2] and len(loader) == 3
    xb, yb = next(iter(loader))
    assert (yb == xb * 2).all()
    dropped = data.DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [b[0].tolist() for b in dropped] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_dataloader_over_a_plain_dataset_collates():
    class Squares(data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return ml.tensor([float(i)]), i * i

    xb, yb = next(iter(data.DataLoader(Squares(), batch_size=3)))
    assert xb.shape == (3, 1) and yb.tolist() == [0, 1, 4]


def test_tensor_dataset_checks_lengths():
    with pytest.raises(ValueError, match="size mismatch"):
        data.TensorDataset(ml.ones(3), ml.ones(4))


def test_digits_split_is_seeded_and_normalised():
    a, b = data.digits(seed=3), data.digits(seed=3)
    assert a.x_train.shape == (1348, 1, 8, 8) and a.x_test.shape == (449, 1, 8, 8)
    assert a.x_train.equal(b.x_train) and a.y_test.equal(b.y_test)
    assert 0.0 <= a.x_train.min().item() and a.x_train.max().item() <= 1.0
    assert data.digits(flatten=True, upscale=2).x_train.shape == (1348, 256)
    assert data.digits(n_train=100).x_train.shape[0] == 100


def test_sample_image_and_synthetic_sets():
    img = data.sample_image(size=(60, 80))
    assert img.shape == (60, 80) and img.dtype is ml.float32
    assert data.sample_image("flower.jpg", gray=False, size=(30, 40)).shape == (3, 30, 40)
    x, y = data.moons(100)
    assert x.shape == (100, 2) and set(y.tolist()) == {0, 1}
    x, y = data.spirals(90, classes=3)
    assert x.shape == (90, 2) and np.bincount(y.numpy()).tolist() == [30, 30, 30]


def test_modular_arithmetic_labels():
    split = data.modular_arithmetic(p=7, op="*", train_fraction=0.5)
    x = ml.cat([split.x_train, split.x_test])
    y = ml.cat([split.y_train, split.y_test])
    assert x.shape == (49, 2)
    assert ((x[:, 0] * x[:, 1]) % 7).equal(y)


def test_corpus_and_char_tokenizer_round_trip():
    text = data.corpus()
    tok = data.CharTokenizer(text)
    assert len(text) > 3000 and tok.vocab_size < 80
    ids = tok.encode("Twinkle, twinkle")
    assert ids.dtype is ml.int64 and tok.decode(ids) == "Twinkle, twinkle"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.encode("~")


def test_random_functions_are_seeded():
    ml.manual_seed(5)
    a = (ml.rand(3), ml.randn(2, 2), ml.randint(0, 10, (4,)), ml.randperm(5), ml.bernoulli(ml.full((3,), 0.5)),
         ml.multinomial(ml.tensor([0.2, 0.3, 0.5]), 4, replacement=True))
    ml.manual_seed(5)
    b = (ml.rand(3), ml.randn(2, 2), ml.randint(0, 10, (4,)), ml.randperm(5), ml.bernoulli(ml.full((3,), 0.5)),
         ml.multinomial(ml.tensor([0.2, 0.3, 0.5]), 4, replacement=True))
    assert all(x.equal(y) for x, y in zip(a, b))
    assert sorted(ml.randperm(6).tolist()) == list(range(6))
    g = ml.Generator().manual_seed(1)
    assert ml.randn(3, generator=g).dtype is ml.float32
    counts = np.bincount(ml.multinomial(ml.tensor([[1.0, 3.0]]), 4000, replacement=True).numpy().ravel())
    assert abs(counts[1] / 4000 - 0.75) < 0.03
