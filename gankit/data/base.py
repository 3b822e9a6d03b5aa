"""The two kinds of training data: a finite in-memory :class:`Dataset` and an infinite toy
:class:`Distribution`, plus the small tensor helpers the loaders share.

Model space is what networks see: images as float32 in [-1, 1] (a ``tanh`` generator's range),
vectors as float32 unchanged. Data space is how data is stored: images as uint8 [N, C, H, W].
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F

from gankit.errors import GankitError

SPLITS = ("train", "test")


def check_split(split: str) -> None:
    """Raise a GankitError unless ``split`` is 'train' or 'test'."""
    if split not in SPLITS:
        raise GankitError(f"unknown data split '{split}'; valid: {', '.join(SPLITS)}")


@dataclass
class Dataset:
    """An in-memory dataset.

    Attributes:
        name: the registered dataset name.
        kind: ``"image"`` or ``"vector"``.
        x: images uint8 [N, C, H, W], or vectors float32 [N, D].
        y: int64 [N] class labels, or None.
        num_classes: number of classes when labelled, else None.
        class_names: a name per class, or None.
        source: where the data came from (a path or 'scikit-learn'), for provenance.
    """

    name: str
    kind: str
    x: torch.Tensor = field(repr=False)
    y: Optional[torch.Tensor] = field(default=None, repr=False)
    num_classes: Optional[int] = None
    class_names: Optional[list[str]] = None
    source: str = ""

    def __post_init__(self) -> None:
        # A wrong dtype or shape here is a loader bug, not a user mistake: ValueError, not GankitError.
        if self.kind == "image":
            if self.x.dtype != torch.uint8 or self.x.dim() != 4:
                raise ValueError(f"image data must be uint8 [N, C, H, W], got {self.x.dtype} {list(self.x.shape)}")
        elif self.kind == "vector":
            if self.x.dtype != torch.float32 or self.x.dim() != 2:
                raise ValueError(f"vector data must be float32 [N, D], got {self.x.dtype} {list(self.x.shape)}")
        else:
            raise ValueError(f"unknown data kind '{self.kind}'")
        if self.y is not None and (self.y.dtype != torch.int64 or self.y.shape != (len(self.x),)):
            raise ValueError(f"labels must be int64 [N], got {self.y.dtype} {list(self.y.shape)}")

    @property
    def shape(self) -> tuple[int, ...]:
        """Per-item shape, e.g. (1, 28, 28) or (2,)."""
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return self.x.shape[0]

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Data space -> model space: uint8 images to float32 in [-1, 1]; vectors to float32."""
        if self.kind == "image":
            return x.float() / 127.5 - 1.0
        return x.float()

    def from_model(self, x: torch.Tensor) -> torch.Tensor:
        """Model space -> data space: images in [-1, 1] to uint8 (rounded, clamped); vectors float32."""
        if self.kind == "image":
            return ((x.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
        return x.float()


@dataclass
class Distribution:
    """A toy distribution sampled fresh for every batch (an infinite dataset).

    An isotropic Gaussian mixture with equal weights: component means ``modes`` [M, D] and one
    per-component standard deviation ``std``.
    """

    name: str
    dim: int
    modes: Optional[torch.Tensor] = field(repr=False)  # [M, D] means of the mixture
    std: float
    kind: str = "vector"
    num_classes: Optional[int] = None
    class_names: Optional[list[str]] = None
    y: Optional[torch.Tensor] = field(default=None, repr=False)
    source: str = "built-in"

    @property
    def shape(self) -> tuple[int, ...]:
        """Per-item shape: (dim,)."""
        return (self.dim,)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Draw ``n`` points, float32 [n, D]: a component uniformly, then mean + std * N(0, I)."""
        return self.sample_labelled(n, generator)[0]

    def sample_labelled(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(points float32 [n, D], the index of each point's component int64 [n]): the mode index is
        the label of a labelled toy mixture (``num_classes`` = the number of modes)."""
        if self.modes is None:
            raise NotImplementedError(f"distribution '{self.name}' does not define sample()")
        comp = torch.randint(len(self.modes), (n,), generator=generator)  # [n]
        noise = torch.randn(n, self.dim, generator=generator)  # [n, D]
        return (self.modes[comp] + self.std * noise).float(), comp

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log-density of the mixture at ``x`` [n, D] -> [n] (same dtype as ``x``).

        Used to plot the data density and to compute the optimal discriminator
        D*(x) = p_data(x) / (p_data(x) + p_g(x)). Computed in float64: with std 0.01 the
        exponents reach -1e4, which logsumexp handles but float32 rounding would blur.
        """
        if self.modes is None:
            raise NotImplementedError(f"distribution '{self.name}' does not define log_prob()")
        x64 = x.double().reshape(-1, self.dim)
        modes = self.modes.double()
        d2 = torch.cdist(x64, modes).square()  # [n, M] squared distances to each mean
        log_norm = -self.dim * (math.log(self.std) + 0.5 * math.log(2 * math.pi))
        log_comp = -d2 / (2 * self.std**2) + log_norm  # [n, M]
        out = torch.logsumexp(log_comp, dim=1) - math.log(len(modes))
        return out.to(x.dtype if x.is_floating_point() else torch.float32)

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Identity (float32): toy data lives in model space."""
        return x.float()

    def from_model(self, x: torch.Tensor) -> torch.Tensor:
        """Identity (float32)."""
        return x.float()

    def as_dataset(self, n: int, generator: torch.Generator) -> Dataset:
        """A fixed finite sample of ``n`` points, e.g. as the reference set of a metric."""
        return Dataset(name=self.name, kind="vector", x=self.sample(n, generator), y=None,
                       num_classes=None, class_names=None, source=self.source)


# --------------------------------------------------------------------------- helpers for loaders


def resize_images(x: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """Resize uint8 images [N, C, H, W] to [N, C, size, size] (bilinear, antialiased).

    Works in chunks so that 60,000 images upsampled to 64x64 do not need a 1 GB float copy.
    """
    if x.shape[-2:] == (size, size):
        return x
    out = torch.empty(x.shape[0], x.shape[1], size, size, dtype=torch.uint8)
    for start in range(0, x.shape[0], chunk):
        batch = x[start:start + chunk].float()
        resized = F.interpolate(batch, size=(size, size), mode="bilinear", align_corners=False,
                                antialias=True)
        out[start:start + chunk] = resized.round().clamp(0, 255).to(torch.uint8)
    return out


def set_channels(x: torch.Tensor, channels: Optional[int]) -> torch.Tensor:
    """Convert uint8 images [N, C, H, W] to ``channels`` (1 or 3; None keeps them).

    Gray -> RGB repeats the channel; RGB -> gray uses the ITU-R 601-2 luma weights, as PIL's "L".
    """
    if channels is None or x.shape[1] == channels:
        return x
    if channels == 3 and x.shape[1] == 1:
        return x.repeat(1, 3, 1, 1)
    if channels == 1 and x.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (x.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    raise GankitError(f"data.channels={channels}: cannot convert images with {x.shape[1]} channels; "
                      "use data.channels=1 or 3")
