"""Base classes shared by every architecture: latent sampling and the (x, y) signatures."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from gankit.nets.output import DOutput


class Generator(nn.Module):
    """G(z, y=None) -> x. Subclasses set ``z_dim`` and implement ``forward``."""

    def __init__(self, z_dim: int, z_dist: str = "normal") -> None:
        super().__init__()
        self.z_dim = z_dim
        self.z_dist = z_dist

    def sample_z(self, n: int, generator: Optional[torch.Generator] = None,
                 device: Optional[torch.device] = None) -> torch.Tensor:
        """Latent codes [n, z_dim] from the prior (N(0, I) or U[-1, 1])."""
        device = device or next(self.parameters()).device
        if self.z_dist == "uniform":
            z = torch.rand(n, self.z_dim, generator=generator, device="cpu" if generator else device)
            z = z * 2 - 1
        else:
            z = torch.randn(n, self.z_dim, generator=generator, device="cpu" if generator else device)
        return z.to(device)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        raise NotImplementedError


class Discriminator(nn.Module):
    """D(x, y=None) -> DOutput."""

    pack: int = 1  # samples judged together per output (PacGAN packing: nets/tricks.py)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> DOutput:
        raise NotImplementedError
