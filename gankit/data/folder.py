"""A folder of the user's own images, loaded once into memory at one square resolution."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from gankit.data.base import Dataset, check_split
from gankit.errors import GankitError
from gankit.registry import DATASETS

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
DEFAULT_RESOLUTION = 64
_PROGRESS_FROM = 2000  # show a progress bar from this many files


def list_images(root: Path) -> list[Path]:
    """Image files under ``root``, recursively, sorted for determinism.

    Hidden files and folders (name starting with '.') are skipped: they are not the user's
    pictures (e.g. macOS '._photo.jpg' resource forks, '.ipynb_checkpoints').
    """
    files = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix.lower() in EXTENSIONS and path.is_file():
            files.append(path)
    return sorted(files)


def class_labels(root: Path, files: list[Path]) -> tuple[Optional[np.ndarray], Optional[list[str]]]:
    """Labels from first-level subfolders: when every image lies in one and there are at least two.

    Returns (int64 labels [N] = index of the sorted subfolder name, subfolder names), or (None, None).
    """
    rels = [f.relative_to(root).parts for f in files]
    if any(len(parts) < 2 for parts in rels):
        return None, None
    names = sorted({parts[0] for parts in rels})
    if len(names) < 2:
        return None, None
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[parts[0]] for parts in rels], dtype=np.int64), names


def load_image(path: Path, resolution: int, mode: str) -> np.ndarray:
    """One image as uint8 [resolution, resolution, C]: shorter side resized, then center-cropped.

    Raises:
        GankitError naming the file if it cannot be opened or decoded.
    """
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            # JPEG can decode at 1/2, 1/4 or 1/8 scale directly: much faster for large photos.
            w, h = im.size
            scale = resolution / max(1, min(w, h))
            im.draft(mode, (max(resolution, round(w * scale)), max(resolution, round(h * scale))))
            im.load()
            im = ImageOps.exif_transpose(im)  # phone photos store their rotation in EXIF
            im = im.convert(mode)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise GankitError(f"cannot read image {path}: {reason}") from None
    w, h = im.size
    scale = resolution / min(w, h)
    size = (max(resolution, round(w * scale)), max(resolution, round(h * scale)))
    if size != (w, h):
        im = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    left, top = (size[0] - resolution) // 2, (size[1] - resolution) // 2
    im = im.crop((left, top, left + resolution, top + resolution))
    arr = np.asarray(im, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr  # [H, W, C]


@DATASETS.register("folder")
def folder(cfg: Any, split: str = "train") -> Dataset:
    """Every image under ``data.path`` (recursive; .png .jpg .jpeg .bmp .webp, any case), sorted.

    Each image's shorter side is resized to ``data.resolution`` (default 64, Lanczos) and the
    center square cropped; ``data.channels`` 1 gives gray, 3 (default) RGB. If every image lies
    in a first-level subfolder and there are at least two, the subfolder is the class label.
    There is no held-out part: the 'test' split is the same images as 'train'.
    """
    check_split(split)
    if not cfg.path:
        raise GankitError("data.path=... is required for the folder dataset (a folder of images)")
    root = Path(cfg.path).expanduser()
    if not root.is_dir():
        raise GankitError(f"data.path: no such folder: {root}")
    files = list_images(root)
    if not files:
        raise GankitError(f"no images found in {root} (looked recursively for {' '.join(EXTENSIONS)})")
    resolution = int(cfg.resolution or DEFAULT_RESOLUTION)
    channels = int(cfg.channels or 3)
    mode = "L" if channels == 1 else "RGB"

    from tqdm import tqdm

    out = np.empty((len(files), resolution, resolution, channels), dtype=np.uint8)  # [N, H, W, C]
    show = len(files) > _PROGRESS_FROM and sys.stderr.isatty()
    for i, path in enumerate(tqdm(files, desc=f"loading {root.name}", unit="img", disable=not show)):
        out[i] = load_image(path, resolution, mode)
    labels, names = class_labels(root, files)
    x = torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()  # [N, C, H, W]
    return Dataset(name="folder", kind="image", x=x,
                   y=None if labels is None else torch.from_numpy(labels),
                   num_classes=None if names is None else len(names), class_names=names,
                   source=str(root.resolve()))
