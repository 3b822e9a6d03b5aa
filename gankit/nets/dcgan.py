"""DCGAN (Radford et al. 2015), parameterized by resolution, channels and width.

G: project z, then fractionally-strided convolutions that double the side until the resolution,
BatchNorm + ReLU inside, tanh out. D: strided convolutions that halve it, LeakyReLU(0.2),
BatchNorm after the first layer, then a linear head. The resolution must be ``base * 2**n`` with
``base`` in 4..7 and ``n >= 1`` (8, 28 = 7*4, 32, 48, 64, 128, ...).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.nets.base import Discriminator, Generator
from gankit.nets.conditioning import CondSequential, norm_layer
from gankit.nets.output import DOutput


def resolution_plan(resolution: int, arch: str = "dcgan") -> tuple[int, int]:
    """(base side, number of 2x stages) for a square image side; ``arch`` names the error's architecture."""
    for n in range(1, 8):
        base, rem = divmod(resolution, 2**n)
        if rem == 0 and 4 <= base <= 7:
            return base, n
    raise GankitError(
        f"{arch} cannot make {resolution}x{resolution} images: the side must be 4..7 times a power "
        f"of two (8, 16, 28, 32, 48, 64, 128, ...); set data.resolution=32 or another such size"
    )


def _channels(width: int, stages: int, cap: int) -> list[int]:
    """Channels from the lowest resolution to the highest: width * 2^(stages-1) ... width."""
    return [min(width * 2 ** (stages - 1 - i), cap) for i in range(stages)]


class DCGANGenerator(Generator):
    def __init__(self, shape: tuple, z_dim: int, width: int, norm: str = "batch",
                 max_channels: int = 512, z_dist: str = "normal", z_categories: int = 0, vbn_ref: int = 64,
                 **cond: int) -> None:
        super().__init__(z_dim, z_dist, z_categories, **cond)
        channels, side, _ = shape
        self.base, stages = resolution_plan(side)
        chans = _channels(width, stages, max_channels)
        self.c0 = chans[0]
        k = self.norm_classes
        self.project = CondSequential(
            nn.Linear(self.input_dim, chans[0] * self.base * self.base, bias=False),
            norm_layer(norm, chans[0] * self.base * self.base, 1, k),
            nn.ReLU(inplace=True),
        )
        blocks: list[nn.Module] = []
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            blocks += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), norm_layer(norm, c_out, 2, k),
                       nn.ReLU(inplace=True)]
        blocks += [nn.ConvTranspose2d(chans[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = CondSequential(*blocks)
        if norm == "vbn":
            self.setup_reference(vbn_ref)

    def latent_layer(self) -> nn.Linear:
        return self.project[0]

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = self.prepend_reference(self.join_labels(z, y))  # the VBN reference rows first, if any
        h = self.project(h, y).view(h.shape[0], self.c0, self.base, self.base)  # [B, C0, b, b]
        return self.drop_reference(self.net(h, y))  # [B, C, H, W]


class DCGANDiscriminator(Discriminator):
    def __init__(self, shape: tuple, width: int, norm: str = "batch", max_channels: int = 512,
                 cond: str = "none", num_classes: int = 0) -> None:
        super().__init__()
        channels, side, _ = shape
        channels += self.setup_conditioning(cond, num_classes)
        base, stages = resolution_plan(side)
        chans = list(reversed(_channels(width, stages, max_channels)))  # highest resolution first
        blocks: list[nn.Module] = [nn.Conv2d(channels, chans[0], 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            blocks += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), norm_layer(norm, c_out, 2),
                       nn.LeakyReLU(0.2, inplace=True)]
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(chans[-1] * base * base, 1)
        self.setup_projection(chans[-1] * base * base)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> DOutput:
        h = self.body(self.condition_input(x, y)).flatten(1)  # [B, C * b * b]
        return DOutput(logits=self.head_logits(self.head, h, y), features=h)
