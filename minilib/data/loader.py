"""TensorDataset and DataLoader (batching, seeded shuffling, drop_last)."""
import numpy as np

from ..ops.shape import stack
from ..random import _gen
from ..tensor import Tensor


class Dataset:
    def __getitem__(self, i):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError


class TensorDataset(Dataset):
    """Samples are the i-th rows of each tensor; all tensors must share their first dim."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        n = tensors[0].shape[0]
        for t in tensors:
            if t.shape[0] != n:
                raise ValueError(f"TensorDataset: size mismatch between tensors: first dims "
                                 f"{[t.shape[0] for t in tensors]}; they must all be equal")
        self.tensors = tensors

    def __getitem__(self, i):
        return tuple(t[i] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


def default_collate(samples):
    first = samples[0]
    if isinstance(first, Tensor):
        return stack(samples)
    if isinstance(first, (tuple, list)):
        return type(first)(default_collate(list(s)) for s in zip(*samples))
    return Tensor._wrap(np.asarray(samples))


class DataLoader:
    """Iterate over ``dataset`` in mini-batches; ``shuffle`` draws a new order each epoch from ``generator``."""

    def __init__(self, dataset, batch_size=1, shuffle=False, generator=None, drop_last=False, collate_fn=None):
        if batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size}")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.generator, self.drop_last = generator, drop_last
        self.collate_fn = collate_fn or default_collate

    def _batches(self):
        n = len(self.dataset)
        order = _gen(self.generator).permutation(n) if self.shuffle else np.arange(n)
        stop = n - n % self.batch_size if self.drop_last else n
        return [order[i:i + self.batch_size] for i in range(0, stop, self.batch_size)]

    def __iter__(self):
        for idx in self._batches():
            if isinstance(self.dataset, TensorDataset):  # one vectorised gather per tensor
                yield tuple(Tensor._wrap(t.data[idx]) for t in self.dataset.tensors)
            else:
                yield self.collate_fn([self.dataset[int(i)] for i in idx])

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
