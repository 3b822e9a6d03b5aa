"""DiffAugment (Zhao et al. 2020): the same differentiable augmentations on real and fake images
before D, in D's step and in G's step, so that D cannot memorize a small dataset and G's gradient
flows through the augmentation. Policies (each drawn per image from the training RNG):

- ``color``: brightness + U[-0.5, 0.5); saturation: (x - channel mean) * U[0, 2) + channel mean;
  contrast: (x - image mean) * U[0.5, 1.5) + image mean;
- ``translation``: a shift of up to ``translation`` (1/8) of the side in each direction, zero-filled;
- ``cutout``: a zeroed square of ``cutout`` (1/2) of the side at a uniform position (clipped at the
  borders).

Images only ([B, C, H, W] in [-1, 1]); vector data is refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F

from gankit.errors import GankitError
from gankit.objectives import batch_rng
from gankit.objectives.auxiliary import AuxTerm
from gankit.registry import TERMS

POLICIES = ("color", "translation", "cutout")


def augment_color(x: torch.Tensor, brightness: torch.Tensor, saturation: torch.Tensor,
                  contrast: torch.Tensor) -> torch.Tensor:
    """x [B, C, H, W] with per-image factors [B]: brightness shift, saturation and contrast scale."""
    view = (-1, 1, 1, 1)
    x = x + brightness.view(view)
    mean_c = x.mean(dim=1, keepdim=True)
    x = (x - mean_c) * saturation.view(view) + mean_c
    mean_all = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean_all) * contrast.view(view) + mean_all


def augment_translation(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, pad: int) -> torch.Tensor:
    """x shifted by (dy, dx) [B] integer pixels in [-pad, pad] (down / right positive), zero-filled."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad)).permute(0, 2, 3, 1)  # [B, H + 2p, W + 2p, C]
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + pad - dy.view(b, 1, 1)).expand(b, h, w)
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + pad - dx.view(b, 1, 1)).expand(b, h, w)
    batch = torch.arange(b, device=x.device).view(b, 1, 1).expand(b, h, w)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)  # [B, C, H, W]


def cutout_mask(shape: tuple, y0: torch.Tensor, x0: torch.Tensor, size: int, device: Any = None) -> torch.Tensor:
    """[B, 1, H, W] float mask: 0 in the square [y0, y0 + size) x [x0, x0 + size) of each image, 1 elsewhere."""
    b, _, h, w = shape
    rows = torch.arange(h, device=device).view(1, h, 1)
    cols = torch.arange(w, device=device).view(1, 1, w)
    y0, x0 = y0.view(b, 1, 1), x0.view(b, 1, 1)
    inside = (rows >= y0) & (rows < y0 + size) & (cols >= x0) & (cols < x0 + size)
    return (~inside).unsqueeze(1).float()


def diff_augment(x: torch.Tensor, policies: tuple, translation: float = 0.125, cutout: float = 0.5) -> torch.Tensor:
    """x [B, C, H, W] through each policy in order, with random parameters drawn per image."""
    b, _, h, w = x.shape
    dev = x.device
    for policy in policies:
        if policy == "color":
            x = augment_color(x, batch_rng.rand(b, device=dev) - 0.5, batch_rng.rand(b, device=dev) * 2,
                              batch_rng.rand(b, device=dev) + 0.5)
        elif policy == "translation":
            pad = int(h * translation + 0.5)
            if pad > 0:
                dy = batch_rng.randint(-pad, pad + 1, b, device=dev)
                dx = batch_rng.randint(-pad, pad + 1, b, device=dev)
                x = augment_translation(x, dy, dx, pad)
        elif policy == "cutout":
            size = int(h * cutout + 0.5)
            if size > 0:
                y0 = batch_rng.randint(-(size // 2), h - size // 2, b, device=dev)
                x0 = batch_rng.randint(-(size // 2), w - size // 2, b, device=dev)
                x = x * cutout_mask(x.shape, y0, x0, size, dev).to(x.dtype)
    return x


@TERMS.register("diffaugment")
class DiffAugment(AuxTerm):
    @dataclass
    class Params:
        policy: str = "color,translation,cutout"  # a comma-separated list of POLICIES, applied in order
        translation: float = 0.125  # largest shift, as a fraction of the side
        cutout: float = 0.5  # side of the cut-out square, as a fraction of the side

    def __init__(self, params: Any, objective: Any) -> None:
        super().__init__(params, objective)
        names = tuple(p.strip() for p in str(params.policy).split(",") if p.strip())
        bad = [p for p in names if p not in POLICIES]
        if not names or bad:
            raise GankitError(f"config key 'objective.terms.diffaugment.policy' = {params.policy!r} must be a "
                              f"comma-separated list of {', '.join(POLICIES)}")
        for key in ("translation", "cutout"):
            if not 0.0 <= getattr(params, key) < 1.0:
                raise GankitError(f"config key 'objective.terms.diffaugment.{key}' = {getattr(params, key)!r} "
                                  f"must be in [0, 1) (a fraction of the image side)")
        self.policies = names

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise GankitError(f"objective.terms.diffaugment augments images [B, C, H, W], but D's inputs have shape "
                              f"{list(x.shape)}; remove the term for vector data")
        return diff_augment(x, self.policies, self.params.translation, self.params.cutout)

    def d_view(self, real: torch.Tensor, fake: torch.Tensor, y: Optional[torch.Tensor],
               step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._augment(real), self._augment(fake)

    def g_view(self, fake: torch.Tensor, real: Optional[torch.Tensor],
               step: int) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        return self._augment(fake), (self._augment(real) if real is not None else None)
