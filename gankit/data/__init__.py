"""Training data: toy distributions, digits, Fashion-MNIST, image folders and numpy arrays.

Every dataset is registered in :data:`gankit.registry.DATASETS` as ``fn(cfg, split) -> Dataset |
Distribution``; importing this package registers them all (the registry imports it lazily).
"""
from __future__ import annotations

from typing import Any, Union

from gankit.data import arrays, digits, fashion, folder, toy  # noqa: F401  (they register datasets)
from gankit.data.base import Dataset, Distribution, check_split
from gankit.data.sampler import BatchSampler
from gankit.registry import DATASETS

__all__ = ["Dataset", "Distribution", "BatchSampler", "load_dataset"]


def load_dataset(cfg: Any, split: str = "train") -> Union[Dataset, Distribution]:
    """Load the dataset ``cfg.name`` (a DataConfig) for ``split`` ('train' or 'test').

    Raises:
        GankitError for an unknown name or split, or data that is missing or corrupt.
    """
    check_split(split)
    return DATASETS.get(cfg.name)(cfg, split)
