"""Toy distributions: the 1D Gaussian of the original GAN paper and the 2D mixtures of the
mode-collapse benchmark (docs/benchmarks.md section 1; PacGAN, Lin et al. 2018; VEEGAN, Srivastava et al. 2017).

Every split is the same distribution: each batch is a fresh sample.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from gankit.data.base import Distribution, check_split
from gankit.registry import DATASETS


def _std(cfg: Any, default: float) -> float:
    return float(default if cfg.std is None else cfg.std)


@DATASETS.register("gaussian1d")
def gaussian1d(cfg: Any, split: str = "train") -> Distribution:
    """N(mean, std) in 1D; mean ``data.mean`` (default 4.0), std ``data.std`` (default 0.5)."""
    check_split(split)
    mean = 4.0 if cfg.mean is None else float(cfg.mean)
    return Distribution(name="gaussian1d", dim=1, modes=torch.tensor([[mean]], dtype=torch.float32),
                        std=_std(cfg, 0.5))


def ring_modes(n: int = 8, radius: float = 1.0) -> torch.Tensor:
    """Means [n, 2] on a circle at angles 2*pi*i/n, i = 0..n-1.

    Not ``linspace(0, 2*pi, n)``: that repeats the first point and leaves n - 1 distinct modes.
    """
    angles = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_modes(values: tuple[float, ...] = (-4.0, -2.0, 0.0, 2.0, 4.0)) -> torch.Tensor:
    """Means [len(values)^2, 2] at every point of values x values."""
    v = torch.tensor(values, dtype=torch.float32)
    gx, gy = torch.meshgrid(v, v, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


@DATASETS.register("ring")
def ring(cfg: Any, split: str = "train") -> Distribution:
    """8 Gaussians on a circle of radius ``data.radius`` (default 1), std ``data.std`` (default 0.01)."""
    check_split(split)
    return Distribution(name="ring", dim=2, modes=ring_modes(8, float(cfg.radius)), std=_std(cfg, 0.01),
                        num_classes=8, class_names=[f"mode {i}" for i in range(8)])


@DATASETS.register("grid")
def grid(cfg: Any, split: str = "train") -> Distribution:
    """25 Gaussians at {-4, -2, 0, 2, 4}^2, std ``data.std`` (default 0.05)."""
    check_split(split)
    return Distribution(name="grid", dim=2, modes=grid_modes(), std=_std(cfg, 0.05),
                        num_classes=25, class_names=[f"mode {i}" for i in range(25)])
