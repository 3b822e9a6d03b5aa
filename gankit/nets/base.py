"""Base classes shared by every architecture: latent sampling and the (x, y) signatures."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from gankit.nets.output import DOutput


class Generator(nn.Module):
    """G(z, y=None) -> x. Subclasses set ``z_dim`` and implement ``forward``."""

    def __init__(self, z_dim: int, z_dist: str = "normal", z_categories: int = 0) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.z_dist = z_dist
        self.z_categories = z_categories

    @property
    def latent_dim(self) -> int:
        """Width of G's input: z_dim continuous units, then a one-hot code of z_categories units."""
        return self.z_dim + self.z_categories

    def sample_z(self, n: int, generator: Optional[torch.Generator] = None,
                 device: Optional[torch.device] = None) -> torch.Tensor:
        """Latent codes [n, latent_dim] from the prior: N(0, I) or U[-1, 1] in the first z_dim units,
        then, with z_categories = K > 0, a one-hot code of a class drawn uniformly from K.

        The discrete code lets G make K separate pieces: a continuous latent alone is connected, so G
        must stretch it across the gaps between separate modes, and the samples on those bridges are off
        the data (a mixture-of-Gaussians latent in the spirit of DeLiGAN, Gurumurthy et al. 2017; the
        categorical code of InfoGAN, Chen et al. 2016, without its mutual-information term)."""
        device = device or next(self.parameters()).device
        where = "cpu" if generator else device
        if self.z_dist == "uniform":
            z = torch.rand(n, self.z_dim, generator=generator, device=where) * 2 - 1
        else:
            z = torch.randn(n, self.z_dim, generator=generator, device=where)
        if self.z_categories:
            c = torch.randint(self.z_categories, (n,), generator=generator, device=where)
            z = torch.cat([z, nn.functional.one_hot(c, self.z_categories).to(z.dtype)], dim=1)
        return z.to(device)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        raise NotImplementedError


class Discriminator(nn.Module):
    """D(x, y=None) -> DOutput."""

    pack: int = 1  # samples judged together per output (PacGAN packing: nets/tricks.py)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> DOutput:
        raise NotImplementedError
