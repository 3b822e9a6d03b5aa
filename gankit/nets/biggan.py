"""``biggan``: a BigGAN-style generator (Brock et al. 2019) on the ResNet plan, with the ResNet
discriminator (projection with ``model.d_cond=projection``). Spectral norm in both nets, the hinge
loss, orthogonal regularization (``objective.terms.ortho``) and EMA are the preset's choices.

- Hierarchical z: z's ``z_dim`` noise units split into n + 1 equal chunks (n = up-blocks); the first
  (with any code units of z, and y's code under ``model.g_cond=concat``) feeds the first linear layer,
  chunk i + 1 conditions block i's BatchNorms.
- Shared class embedding (``model.g_cond=cbn``): one ``nn.Embedding(classes, model.shared_dim)``,
  concatenated with each block's chunk into that block's :class:`ProjectedBatchNorm`s.
- :class:`ProjectedBatchNorm`: BatchNorm without affine parameters, then gain = 1 + Linear(c) and
  bias = Linear(c), both bias-free linears (BigGAN's ccbn): the gain starts near 1.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.nets.attention import SelfAttention
from gankit.nets.base import Generator
from gankit.nets.conditioning import check_labels
from gankit.nets.dcgan import resolution_plan
from gankit.nets.resblocks import GBlock
from gankit.nets.resnet import channel_plan


class ProjectedBatchNorm(nn.Module):
    """BN(x) * (1 + W_g c) + W_b c for a condition vector c [B, cond_dim]; x [B, C, H, W]."""

    takes_labels = True

    def __init__(self, features: int, cond_dim: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(features, affine=False)
        self.gain = nn.Linear(cond_dim, features, bias=False)
        self.bias = nn.Linear(cond_dim, features, bias=False)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shape = (x.shape[0], x.shape[1], 1, 1)
        return self.bn(x) * (1 + self.gain(c)).view(shape) + self.bias(c).view(shape)


class BigGANGenerator(Generator):
    def __init__(self, shape: tuple, z_dim: int, width: int, max_channels: int = 512, attn_res: int = 0,
                 shared_dim: int = 64, z_dist: str = "normal", z_categories: int = 0, arch: str = "biggan",
                 **cond: int) -> None:
        super().__init__(z_dim, z_dist, z_categories, **cond)
        channels, side, _ = shape
        self.base, stages = resolution_plan(side, arch)
        slots = stages + 1
        if z_dim % slots:
            raise GankitError(f"config key 'model.z_dim' = {z_dim} must be a multiple of {slots} for {arch} at "
                              f"{side}x{side} (one z chunk per block, {stages}, plus one for the first layer); "
                              f"set model.z_dim={slots * max(1, round(z_dim / slots))}")
        self.chunk = z_dim // slots
        chans = channel_plan(width, stages, max_channels)
        self.c0 = chans[0]
        self.shared = nn.Embedding(self.num_classes, shared_dim) if self.cond == "cbn" else None
        cond_dim = self.chunk + (shared_dim if self.shared is not None else 0)
        self.project = nn.Linear(self.input_dim - z_dim + self.chunk, chans[0] * self.base * self.base)
        self.blocks = nn.ModuleList()
        self.attention = nn.ModuleDict()
        for i, (c_in, c_out) in enumerate(zip(chans[:-1], chans[1:])):
            self.blocks.append(GBlock(c_in, c_out, lambda f: ProjectedBatchNorm(f, cond_dim)))
            if attn_res and self.base * 2 ** (i + 1) == attn_res:
                self.attention[str(i)] = SelfAttention(c_out)
        self.out_norm = nn.BatchNorm2d(chans[-1])
        self.to_image = nn.Conv2d(chans[-1], channels, 3, 1, 1)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        check_labels(self, y, z.shape[0])
        chunks = z[:, :self.z_dim].split(self.chunk, dim=1)
        first = self.join_labels(torch.cat([chunks[0], z[:, self.z_dim:]], dim=1), y)
        h = self.project(first).view(z.shape[0], self.c0, self.base, self.base)
        shared = self.shared(y) if self.shared is not None else None
        for i, block in enumerate(self.blocks):
            c = chunks[i + 1] if shared is None else torch.cat([shared, chunks[i + 1]], dim=1)
            h = block(h, c)
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        return torch.tanh(self.to_image(torch.relu(self.out_norm(h))))  # [B, C, H, W]
