"""Fully connected G and D: the original paper's setting and the toy problems."""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from gankit.nets.base import Discriminator, Generator
from gankit.nets.layers import OutputActivation, norm_1d
from gankit.nets.output import DOutput


class MLPGenerator(Generator):
    def __init__(self, shape: tuple, kind: str, z_dim: int, width: int, layers: int,
                 norm: str = "batch", z_dist: str = "normal", z_categories: int = 0) -> None:
        super().__init__(z_dim, z_dist, z_categories)
        self.shape = tuple(shape)
        blocks: list[nn.Module] = []
        fan_in = self.latent_dim
        for _ in range(layers):
            blocks += [nn.Linear(fan_in, width), norm_1d(norm, width), nn.ReLU(inplace=True)]
            fan_in = width
        blocks += [nn.Linear(fan_in, math.prod(self.shape)), OutputActivation(kind)]
        self.net = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.shape)  # [B, *shape]


class MLPDiscriminator(Discriminator):
    def __init__(self, shape: tuple, width: int, layers: int, norm: str = "none",
                 dropout: float = 0.0) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        fan_in = math.prod(shape)
        for _ in range(layers):
            blocks += [nn.Linear(fan_in, width), norm_1d(norm, width), nn.LeakyReLU(0.2, inplace=True)]
            if dropout > 0:
                blocks.append(nn.Dropout(dropout))
            fan_in = width
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(fan_in, 1)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> DOutput:
        h = self.body(x.flatten(1))  # [B, width]
        return DOutput(logits=self.head(h).squeeze(1), features=h)
