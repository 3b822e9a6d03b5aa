"""Arrays the user saved with numpy: ``np.savez(path, x=..., y=...)``."""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from gankit.data.base import Dataset, check_split, resize_images, set_channels
from gankit.errors import GankitError
from gankit.registry import DATASETS


def _to_nchw(x: np.ndarray) -> np.ndarray:
    """uint8 images [N, H, W], [N, H, W, C] or [N, C, H, W] -> [N, C, H, W]."""
    if x.ndim == 3:
        return x[:, None]
    if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):  # NHWC
        return x.transpose(0, 3, 1, 2)
    return x


def _labels(y: Optional[np.ndarray], n: int, path: Path, key: str) -> Optional[torch.Tensor]:
    if y is None:
        return None
    if y.ndim != 1 or len(y) != n or not np.issubdtype(y.dtype, np.integer):
        raise GankitError(f"{path}: '{key}' must be integer class labels [N={n}], got {y.dtype} {list(y.shape)}")
    if n and y.min() < 0:
        raise GankitError(f"{path}: '{key}' has negative labels; use 0..num_classes-1")
    return torch.from_numpy(y.astype(np.int64))


@DATASETS.register("npz")
def npz(cfg: Any, split: str = "train") -> Dataset:
    """A ``.npz`` file at ``data.path`` holding ``x`` and optionally ``y``.

    ``x``: uint8 images [N, H, W], [N, H, W, C] or [N, C, H, W] (C = 1 or 3), or numeric vectors
    [N, D] (stored as float32). ``y``: integer labels [N]. The 'test' split reads ``x_test`` /
    ``y_test`` when the file has them, else the same arrays as 'train'.
    """
    check_split(split)
    if not cfg.path:
        raise GankitError("data.path=FILE.npz is required for the npz dataset")
    path = Path(cfg.path).expanduser()
    if not path.is_file():
        raise GankitError(f"data.path: no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except AttributeError:  # a plain .npy: np.load returned an array, which has no .files
        raise GankitError(f"{path} is a single array (.npy); save it with np.savez(path, x=images, y=labels)") from None
    except ValueError as exc:
        raise GankitError(f"{path}: cannot load without pickle ({exc}); store plain numeric arrays") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise GankitError(f"{path} is not a readable .npz file: {exc}") from None
    x_key, y_key = ("x_test", "y_test") if split == "test" and "x_test" in arrays else ("x", "y")
    if x_key not in arrays:
        raise GankitError(f"{path} has no array '{x_key}'; it holds: {', '.join(sorted(arrays)) or 'nothing'} "
                          "(save with np.savez(path, x=images, y=labels))")
    x = arrays[x_key]
    y = _labels(arrays.get(y_key), len(x), path, y_key)
    num_classes = None if y is None else int(y.max()) + 1 if len(y) else 0
    if x.dtype == np.uint8 and x.ndim in (3, 4):
        images = _to_nchw(x)
        if images.shape[1] not in (1, 3):
            raise GankitError(f"{path}: images must have 1 or 3 channels, got shape {list(x.shape)}")
        data = torch.from_numpy(np.ascontiguousarray(images))  # [N, C, H, W]
        if cfg.resolution is not None and data.shape[-2:] != (cfg.resolution, cfg.resolution):
            data = resize_images(data, int(cfg.resolution))
        data = set_channels(data, cfg.channels)
        return Dataset(name="npz", kind="image", x=data, y=y, num_classes=num_classes, source=str(path))
    if x.ndim == 2 and (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        data = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))  # [N, D]
        return Dataset(name="npz", kind="vector", x=data, y=y, num_classes=num_classes, source=str(path))
    raise GankitError(f"{path}: '{x_key}' is {x.dtype} {list(x.shape)}; expected uint8 images [N, H, W(, C)] "
                      "or [N, C, H, W] (0..255), or numeric vectors [N, D]")
