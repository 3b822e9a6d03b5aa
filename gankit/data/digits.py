"""The 8x8 handwritten digits that ship with scikit-learn (1,797 images, no download)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gankit.data.base import Dataset, check_split, resize_images, set_channels
from gankit.registry import DATASETS


@DATASETS.register("digits")
def digits(cfg: Any, split: str = "train") -> Dataset:
    """scikit-learn's ``load_digits``: uint8 [N, 1, 8, 8], labels 0..9.

    The split is fixed: test = every 5th image (index % 5 == 0, 360 images), train = the other 1,437.
    ``data.resolution`` resizes (bilinear, antialiased); ``data.channels=3`` repeats the gray channel.
    """
    check_split(split)
    from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

    bunch = load_digits()
    pixels = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # [N, 8, 8], 0..16 -> 0..255
    keep = (np.arange(len(pixels)) % 5 == 0) == (split == "test")
    x = torch.from_numpy(pixels[keep]).unsqueeze(1)  # [N, 1, 8, 8]
    y = torch.from_numpy(bunch.target[keep].astype(np.int64))
    if cfg.resolution is not None and cfg.resolution != 8:
        x = resize_images(x, int(cfg.resolution))
    x = set_channels(x, cfg.channels)
    return Dataset(name="digits", kind="image", x=x, y=y, num_classes=10,
                   class_names=[str(i) for i in range(10)], source="scikit-learn")
