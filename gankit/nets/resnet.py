"""ResNet architectures as plans of blocks by resolution: ``resnet`` (SNGAN, Miyato et al. 2018) and
``sagan`` (the same with self-attention, Zhang et al. 2018). Spectral norm, the hinge loss, n_critic and
TTUR are the presets' choices (``model.d_sn`` / ``model.g_sn``, objective, optimizers), not code here.

The side must be base * 2**n, base in 4..7, between 8 and 128 (8, 16, 28, 32, 64, 128, ...). G: a linear
layer from z to [C0, base, base], n up-blocks (:class:`GBlock`) halving the channels from
``width * 2**n`` (capped by ``max_channels``) to ``width``, then norm -> ReLU -> conv3x3 -> tanh. D: the
optimized block, n - 1 down-blocks doubling the channels from ``width``, one block at the lowest
resolution, ReLU, global sum pooling, a linear head (plus the projection term). Self-attention
(``attn_res``) goes after the G block and the D block whose output has that side; it must be strictly
between base and the image side (an even side: keys are 2x2 max-pooled).
"""
from __future__ import annotations

from functools import partial
from typing import Optional

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.nets.attention import SelfAttention
from gankit.nets.base import Discriminator, Generator
from gankit.nets.conditioning import norm_layer
from gankit.nets.dcgan import resolution_plan
from gankit.nets.output import DOutput
from gankit.nets.progan_layers import MinibatchStd
from gankit.nets.resblocks import DBlock, GBlock, OptimizedDBlock, sum_pool

MIN_SIDE, MAX_SIDE = 8, 128


def block_plan(shape: tuple, kind: str, arch: str) -> tuple[int, int]:
    """(base side, number of 2x stages) for square images of ``shape`` [C, H, W], or the clear error."""
    if kind != "image" or len(shape) != 3 or shape[1] != shape[2]:
        raise GankitError(f"model.arch={arch} needs square images, but the data has shape {tuple(shape)}; "
                          f"use model.arch=mlp for vector data")
    side = shape[1]
    if not MIN_SIDE <= side <= MAX_SIDE:
        raise GankitError(f"{arch} makes images of side {MIN_SIDE} to {MAX_SIDE}, not {side}x{side}; "
                          f"set data.resolution=32 or another side in that range")
    return resolution_plan(side, arch)


def channel_plan(width: int, stages: int, cap: int) -> list[int]:
    """Channels from the lowest resolution to the highest (stages + 1 of them): width * 2**stages ... width."""
    return [min(width * 2 ** (stages - i), cap) for i in range(stages + 1)]


def attention_sides(base: int, stages: int) -> list[int]:
    """Sides where self-attention may go: strictly between base and the image side."""
    return [base * 2 ** k for k in range(1, stages)]


def pick_attention(attn_res: int, base: int, stages: int, arch: str, default: bool) -> int:
    """The side of the attention block (0 = none). ``attn_res`` 0 with ``default``: the largest allowed
    side <= 16, else the smallest allowed one."""
    sides = attention_sides(base, stages)
    if attn_res == 0 and not default:
        return 0
    if not sides:
        raise GankitError(f"{arch} at {base * 2 ** stages}x{base * 2 ** stages} has no resolution between "
                          f"{base}x{base} and the image side for self-attention; use model.arch=resnet or a "
                          f"larger data.resolution (16, 28, 32, ...)")
    if attn_res == 0:
        small = [s for s in sides if s <= 16]
        return small[-1] if small else sides[0]
    if attn_res not in sides:
        raise GankitError(f"config key 'model.attn_res' = {attn_res} is not a side of {arch}'s plan for "
                          f"{base * 2 ** stages}x{base * 2 ** stages} images; valid: "
                          f"{', '.join(map(str, sides))} (or 0)")
    return attn_res


class ResNetGenerator(Generator):
    """G(z, y): linear -> [C0, b, b] -> GBlocks -> norm, ReLU, conv3x3, tanh. ``model.g_cond`` cbn makes
    every norm a conditional BatchNorm; concat joins y's code to z."""

    def __init__(self, shape: tuple, z_dim: int, width: int, norm: str = "batch", max_channels: int = 512,
                 attn_res: int = 0, z_dist: str = "normal", z_categories: int = 0, arch: str = "resnet",
                 **cond: int) -> None:
        super().__init__(z_dim, z_dist, z_categories, **cond)
        channels, side, _ = shape
        self.base, stages = resolution_plan(side, arch)
        chans = channel_plan(width, stages, max_channels)
        self.c0 = chans[0]
        make_norm = partial(norm_layer, norm, dims=2, num_classes=self.norm_classes)
        self.project = nn.Linear(self.input_dim, chans[0] * self.base * self.base)
        self.blocks = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(zip(chans[:-1], chans[1:])):
            self.blocks.append(GBlock(c_in, c_out, make_norm))
            if attn_res and self.base * 2 ** (i + 1) == attn_res:
                self.blocks.append(SelfAttention(c_out))
        self.out_norm = make_norm(chans[-1])
        self.to_image = nn.Conv2d(chans[-1], channels, 3, 1, 1)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        h = self.project(self.join_labels(z, y)).view(z.shape[0], self.c0, self.base, self.base)
        for block in self.blocks:
            h = block(h, y) if isinstance(block, GBlock) else block(h)
        h = self.out_norm(h, y) if getattr(self.out_norm, "takes_labels", False) else self.out_norm(h)
        return torch.tanh(self.to_image(torch.relu(h)))  # [B, C, H, W]


class ResNetDiscriminator(Discriminator):
    """D(x, y): optimized block, down-blocks, a block at the lowest side, ReLU, sum pooling, linear head;
    ``features`` are the pooled [B, C] (what the projection term and the heads read). ``mbstd`` > 0 adds
    a minibatch-std map (group size ``mbstd``) before the last block (StyleGAN's D)."""

    def __init__(self, shape: tuple, width: int, norm: str = "none", max_channels: int = 512,
                 attn_res: int = 0, mbstd: int = 0, cond: str = "none", num_classes: int = 0,
                 arch: str = "resnet") -> None:
        super().__init__()
        channels, side, _ = shape
        channels += self.setup_conditioning(cond, num_classes)
        base, stages = resolution_plan(side, arch)
        chans = [min(width * 2 ** i, max_channels) for i in range(stages)]  # highest side first
        make_norm = partial(norm_layer, norm, dims=2) if norm == "batch" else None
        blocks: list[nn.Module] = [OptimizedDBlock(channels, chans[0], make_norm)]
        if attn_res and side // 2 == attn_res:
            blocks.append(SelfAttention(chans[0]))
        for i, (c_in, c_out) in enumerate(zip(chans[:-1], chans[1:])):
            blocks.append(DBlock(c_in, c_out, True, make_norm))
            if attn_res and side // 2 ** (i + 2) == attn_res:
                blocks.append(SelfAttention(c_out))
        last_in = chans[-1]
        if mbstd:
            blocks.append(MinibatchStd(mbstd))
            last_in += 1
        blocks.append(DBlock(last_in, chans[-1], False, make_norm))
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(chans[-1], 1)
        self.setup_projection(chans[-1])

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> DOutput:
        h = sum_pool(self.body(self.condition_input(x, y)))  # [B, C]
        return DOutput(logits=self.head_logits(self.head, h, y), features=h)
