"""Fully connected G and D: the original paper's setting and the toy problems."""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from gankit.nets.base import Discriminator, Generator
from gankit.nets.conditioning import CondSequential, norm_layer
from gankit.nets.layers import Maxout, OutputActivation
from gankit.nets.output import DOutput


class MLPGenerator(Generator):
    def __init__(self, shape: tuple, kind: str, z_dim: int, width: int, layers: int,
                 norm: str = "batch", z_dist: str = "normal", z_categories: int = 0, vbn_ref: int = 64,
                 **cond: int) -> None:
        super().__init__(z_dim, z_dist, z_categories, **cond)
        self.shape = tuple(shape)
        blocks: list[nn.Module] = []
        fan_in = self.input_dim
        for _ in range(layers):
            blocks += [nn.Linear(fan_in, width), norm_layer(norm, width, 1, self.norm_classes),
                       nn.ReLU(inplace=True)]
            fan_in = width
        blocks += [nn.Linear(fan_in, math.prod(self.shape)), OutputActivation(kind)]
        self.net = CondSequential(*blocks)
        if norm == "vbn":
            self.setup_reference(vbn_ref)

    def latent_layer(self) -> nn.Linear:
        return self.net[0]

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = self.prepend_reference(self.join_labels(z, y))
        return self.drop_reference(self.net(h, y)).view(z.shape[0], *self.shape)  # [B, *shape]


class MLPDiscriminator(Discriminator):
    def __init__(self, shape: tuple, width: int, layers: int, norm: str = "none",
                 dropout: float = 0.0, cond: str = "none", num_classes: int = 0, maxout: int = 0) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        fan_in = math.prod(shape) + self.setup_conditioning(cond, num_classes)
        for _ in range(layers):
            if maxout:  # maxout units (the original paper's D), else linear + LeakyReLU(0.2)
                blocks += [Maxout(fan_in, width, maxout), norm_layer(norm, width, 1)]
            else:
                blocks += [nn.Linear(fan_in, width), norm_layer(norm, width, 1), nn.LeakyReLU(0.2, inplace=True)]
            if dropout > 0:
                blocks.append(nn.Dropout(dropout))
            fan_in = width
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(fan_in, 1)
        self.setup_projection(fan_in)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> DOutput:
        h = self.body(self.condition_input(x.flatten(1), y))  # [B, width]
        return DOutput(logits=self.head_logits(self.head, h, y), features=h)
