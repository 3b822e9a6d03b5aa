"""Fashion-MNIST (Xiao et al. 2017): 70,000 28x28 gray images of clothing in 10 classes, as IDX files."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from gankit.data.base import Dataset, check_split, resize_images, set_channels
from gankit.data.idx import read_idx
from gankit.errors import GankitError
from gankit.registry import DATASETS

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
SYSTEM_FOLDER = "/usr/share/datasets/fashion-mnist"  # Debian package dataset-fashion-mnist
HOW_TO_GET = ("get it with `apt-get install dataset-fashion-mnist`, or set data.path=/folder/with/idx/files "
              "or GANKIT_DATA=/folder (holding the files or a fashion-mnist/ subfolder)")


def candidate_folders(path: Optional[str]) -> list[tuple[Path, str]]:
    """Where to look, in order, each with why: data.path, else $GANKIT_DATA, else the system folder."""
    if path:
        root = Path(path).expanduser()
        return [(root, "data.path"), (root / "fashion-mnist", "data.path")]
    env = os.environ.get("GANKIT_DATA")
    places = []
    if env:
        root = Path(env).expanduser()
        places += [(root, "GANKIT_DATA"), (root / "fashion-mnist", "GANKIT_DATA")]
    places.append((Path(SYSTEM_FOLDER), "system"))
    return places


def _find_file(folder: Path, stem: str) -> Optional[Path]:
    # The usual name, gzipped or not; also the variant with a dot (train-images.idx3-ubyte).
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def find_files(path: Optional[str], split: str) -> tuple[Path, Path]:
    """(images file, labels file) of ``split``, from the first folder that holds both.

    Raises:
        GankitError listing every place it looked and how to get the data.
    """
    prefix = "train" if split == "train" else "t10k"
    image_stem, label_stem = f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"
    places = candidate_folders(path)
    for folder, _ in places:
        images, labels = _find_file(folder, image_stem), _find_file(folder, label_stem)
        if images and labels:
            return images, labels
    looked = "; ".join(f"{folder} ({why})" for folder, why in places)
    raise GankitError(f"Fashion-MNIST {split} files ({image_stem}[.gz], {label_stem}[.gz]) not found; "
                      f"looked in: {looked}; {HOW_TO_GET}")


@DATASETS.register("fashion_mnist")
def fashion_mnist(cfg: Any, split: str = "train") -> Dataset:
    """Fashion-MNIST: uint8 [N, 1, 28, 28] (60,000 train, 10,000 test), labels 0..9.

    ``data.resolution`` resizes (bilinear, antialiased); ``data.channels=3`` repeats the gray channel.
    """
    check_split(split)
    image_file, label_file = find_files(cfg.path, split)
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise GankitError(f"{image_file}: expected uint8 images [N, H, W], got {images.dtype} {list(images.shape)}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise GankitError(f"{label_file}: expected {len(images)} labels to match {image_file}, "
                          f"got shape {list(labels.shape)}")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(CLASS_NAMES)):
        raise GankitError(f"{label_file}: labels must be 0..9, found {labels.min()}..{labels.max()}")
    x = torch.from_numpy(images).unsqueeze(1)  # [N, 1, 28, 28]
    if cfg.resolution is not None and cfg.resolution != x.shape[-1]:
        x = resize_images(x, int(cfg.resolution))
    x = set_channels(x, cfg.channels)
    return Dataset(name="fashion_mnist", kind="image", x=x, y=torch.from_numpy(labels.astype(np.int64)),
                   num_classes=len(CLASS_NAMES), class_names=list(CLASS_NAMES), source=str(image_file.parent))
