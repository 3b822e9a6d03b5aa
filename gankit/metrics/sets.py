"""The two sides of a comparison as data: :class:`SampleSet`, loaded from an ``.npz``, an image
folder, a built-in dataset (``NAME:SPLIT``) or an array, subsampled with a seed (used by
:mod:`gankit.metrics.evaluate`)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch

from gankit.errors import GankitError, closest

DEFAULT_N_VECTORS = 2_500  # the mode-coverage protocol's sample count (docs/benchmarks.md section 1)


@dataclass
class SampleSet:
    """One side of a comparison, in data space (images uint8 [N, C, H, W]; vectors float32 [N, D])."""

    x: torch.Tensor = field(repr=False)
    kind: str
    name: str  # dataset name, or 'npz' / 'folder' / 'array' / 'model'
    source: str  # a path, a checkpoint, 'built-in', ...
    split: Optional[str] = None
    y: Optional[torch.Tensor] = field(default=None, repr=False)
    num_classes: Optional[int] = None
    modes: Optional[torch.Tensor] = field(default=None, repr=False)  # toy distributions only
    std: Optional[float] = None

    @property
    def shape(self) -> tuple:
        return tuple(self.x.shape[1:])

    def spec(self) -> dict:
        return {"kind": self.kind, "shape": list(self.shape), "name": self.name}

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() / 127.5 - 1.0 if self.kind == "image" else x.float()

    def digest(self) -> str:
        """sha256 of the values (dtype, shape and bytes): what the cached statistics depend on."""
        h = hashlib.sha256(f"{self.x.dtype}|{tuple(self.x.shape)}|".encode())
        h.update(self.x.contiguous().numpy().tobytes())
        return h.hexdigest()


# --------------------------------------------------------------------------- loading sets


def load_source(source: Any, split: str = "test", n: Optional[int] = None, seed: int = 0,
                like: Optional[SampleSet] = None) -> SampleSet:
    """A set from an ``.npz`` (array ``x``, optional ``y``), an image folder, a built-in dataset
    name (``NAME:SPLIT`` picks its split, e.g. ``fashion_mnist:train``), or an array/tensor in data space (uint8 images [N, C, H, W] or [N, H, W, C]; vectors [N, D]).

    ``n`` draws that many points from a toy distribution, or keeps a seeded random subset of a
    larger finite set. ``like`` gives a folder the resolution and channels of the other set.
    """
    from gankit.config import DataConfig
    from gankit.data import load_dataset
    from gankit.registry import DATASETS

    if isinstance(source, (np.ndarray, torch.Tensor)):
        return _subset(_from_array(source), n, seed)
    text = str(source)
    name, sep, named_split = text.rpartition(":")
    if sep and name in DATASETS and name not in ("npz", "folder") and not Path(text).exists():
        from gankit.data.base import check_split

        check_split(named_split)  # e.g. fashion_mnist:train
        text, split = name, named_split
    path = Path(text).expanduser()
    if path.exists():
        path = path.resolve()  # provenance and the cache key name the file, not the working folder
    if path.is_dir():
        res = like.shape[-1] if like is not None and like.kind == "image" else None
        ch = like.shape[0] if like is not None and like.kind == "image" else None
        cfg = DataConfig(name="folder", path=str(path), resolution=res, channels=ch)
    elif text.endswith(".npz") or path.is_file():
        if not path.is_file():
            raise GankitError(f"no such file: {path}")
        if path.suffix != ".npz":
            raise GankitError(f"{path}: expected an .npz file (array x), an image folder or a dataset name")
        cfg = DataConfig(name="npz", path=str(path))
    elif text in DATASETS and text not in ("npz", "folder"):
        cfg = DataConfig(name=text)
    else:
        names = [d for d in DATASETS.names() if d not in ("npz", "folder")]
        raise GankitError(f"'{text}' is not an .npz file, an image folder or a built-in dataset"
                          f"{closest(text, names)}; datasets: {', '.join(names)}")
    data = load_dataset(cfg, split)
    return _from_data(data, split, n, seed)


def _from_data(data: Any, split: str, n: Optional[int], seed: int) -> SampleSet:
    if hasattr(data, "sample"):  # a toy distribution: a fixed sample from its own seeded generator
        count = n or DEFAULT_N_VECTORS
        x = data.sample(count, torch.Generator().manual_seed(seed))
        return SampleSet(x=x, kind="vector", name=data.name, source=data.source, split=split,
                         modes=data.modes, std=float(data.std))
    s = SampleSet(x=data.x, kind=data.kind, name=data.name, source=str(data.source), split=split, y=data.y,
                  num_classes=data.num_classes)
    return _subset(s, n, seed)


def _from_array(x: Union[np.ndarray, torch.Tensor]) -> SampleSet:
    from gankit.data.arrays import _to_nchw

    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if arr.dtype == np.uint8 and arr.ndim in (3, 4):
        images = np.ascontiguousarray(_to_nchw(arr))
        if images.shape[1] not in (1, 3):
            raise GankitError(f"images must have 1 or 3 channels, got shape {list(arr.shape)}")
        return SampleSet(x=torch.from_numpy(images), kind="image", name="array", source="array")
    if arr.ndim == 2:
        return SampleSet(x=torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)), kind="vector",
                         name="array", source="array")
    raise GankitError(f"an array to score must be uint8 images [N, H, W(, C)] / [N, C, H, W] or vectors [N, D], "
                      f"got {arr.dtype} {list(arr.shape)}")


def _subset(s: SampleSet, n: Optional[int], seed: int) -> SampleSet:
    if n is None or n >= len(s.x):
        return s
    idx = torch.randperm(len(s.x), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    s.x = s.x[idx]
    if s.y is not None:
        s.y = s.y[idx]
    return s


def _check_compatible(real: SampleSet, fake: SampleSet) -> None:
    if real.kind != fake.kind or real.shape != fake.shape:
        what = lambda s: f"{s.kind}s {list(s.shape)}"  # noqa: E731
        raise GankitError(f"the real and fake sets do not match: real {what(real)} ({real.source}), fake "
                          f"{what(fake)} ({fake.source}); both must hold items of one shape (resize one, "
                          f"e.g. save it with that resolution)")
    if len(real.x) < 2 or len(fake.x) < 2:
        raise GankitError(f"need at least 2 items per set, got {len(real.x)} real and {len(fake.x)} fake")


