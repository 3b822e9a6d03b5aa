"""ResNet blocks (SNGAN, Miyato et al. 2018; Gulrajani et al. 2017), parameterized by channels.

- :class:`GBlock`: norm -> ReLU -> 2x nearest upsampling -> conv3x3 -> norm -> ReLU -> conv3x3, plus
  a shortcut (upsampling, then a 1x1 conv where the channels change). Its norms may read a condition
  ``c`` (class labels for conditional BatchNorm, BigGAN's [shared embedding, z chunk] vector):
  those with ``takes_labels`` are called as norm(x, c).
- :class:`DBlock`: ReLU -> conv3x3 -> ReLU -> conv3x3 -> 2x2 average pooling, plus a shortcut (1x1
  conv where the channels change or the side halves, then the pooling).
- :class:`OptimizedDBlock`: D's first block, on the image itself: conv3x3 -> ReLU -> conv3x3 -> pooling,
  no activation before the first conv; shortcut pooling -> 1x1 conv.
- :func:`sum_pool`: D's global *sum* pooling over positions (SNGAN), after a last ReLU.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import nn
import torch.nn.functional as F


def _norm(module: nn.Module, x: torch.Tensor, c: Any) -> torch.Tensor:
    return module(x, c) if getattr(module, "takes_labels", False) else module(x)


class GBlock(nn.Module):
    """x [B, C_in, H, W] (, c) -> [B, C_out, 2H, 2W] (or [B, C_out, H, W] with ``upsample`` False).

    ``norm(features)`` makes each of the two norms (BatchNorm, a conditional one, or Identity)."""

    def __init__(self, in_ch: int, out_ch: int, norm: Callable[[int], nn.Module], upsample: bool = True) -> None:
        super().__init__()
        self.upsample = upsample
        self.norm1, self.norm2 = norm(in_ch), norm(out_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else None

    def _up(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest") if self.upsample else x

    def forward(self, x: torch.Tensor, c: Any = None) -> torch.Tensor:
        h = self.conv1(self._up(F.relu(_norm(self.norm1, x, c))))
        h = self.conv2(F.relu(_norm(self.norm2, h, c)))
        sc = self._up(x)
        if self.shortcut is not None:
            sc = self.shortcut(sc)
        return h + sc


class DBlock(nn.Module):
    """x [B, C_in, H, W] -> [B, C_out, H/2, W/2] (or the same side with ``downsample`` False).
    ``norm`` (optional): a norm after each conv's input activation (BatchNorm without SN; default none)."""

    def __init__(self, in_ch: int, out_ch: int, downsample: bool = True,
                 norm: Optional[Callable[[int], nn.Module]] = None) -> None:
        super().__init__()
        self.downsample = downsample
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.norm1 = norm(in_ch) if norm else nn.Identity()
        self.norm2 = norm(out_ch) if norm else nn.Identity()
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1) if (in_ch != out_ch or downsample) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.relu(self.norm1(x)))
        h = self.conv2(F.relu(self.norm2(h)))
        sc = self.shortcut(x) if self.shortcut is not None else x
        if self.downsample:
            h, sc = F.avg_pool2d(h, 2), F.avg_pool2d(sc, 2)
        return h + sc


class OptimizedDBlock(nn.Module):
    """D's first block: x [B, C_in, H, W] -> [B, C_out, H/2, W/2], no activation on the input image."""

    def __init__(self, in_ch: int, out_ch: int, norm: Optional[Callable[[int], nn.Module]] = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.norm = norm(out_ch) if norm else nn.Identity()
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(self.conv2(F.relu(self.norm(self.conv1(x)))), 2)
        return h + self.shortcut(F.avg_pool2d(x, 2))


def sum_pool(h: torch.Tensor) -> torch.Tensor:
    """ReLU, then the sum over positions: [B, C, H, W] -> [B, C] (SNGAN's global sum pooling)."""
    return F.relu(h).sum(dim=(2, 3))
