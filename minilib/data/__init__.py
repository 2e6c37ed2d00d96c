"""``minilib.data``: datasets, loaders and the offline data the lessons use."""
from .datasets import CharTokenizer, Split, corpus, digits, modular_arithmetic, moons, sample_image, spirals
from .loader import DataLoader, Dataset, TensorDataset, default_collate

__all__ = ["CharTokenizer", "Split", "corpus", "digits", "modular_arithmetic", "moons", "sample_image",
           "spirals", "DataLoader", "Dataset", "TensorDataset", "default_collate"]
