"""Discriminator tricks against mode collapse, reusable with any architecture.

``PackedDiscriminator``: packing as in PacGAN (Lin et al. 2018). D judges ``pack`` samples at once,
concatenated along the features (vectors) or the channels (images), all real or all fake; a generator
that collapses is easier to spot in a pack than in a single sample. The wrapped discriminator is built
for the packed input shape; every field of its output is per pack (logits [B / pack], features,
and an autoencoder's reconstruction of the *packed* input), so every objective's mean over the batch
is a mean over packs. The objectives keep gradient penalties per pack (docs/objectives.md, "Tricks:
packing").
"""
from __future__ import annotations

from typing import Optional

import torch

from gankit.errors import GankitError
from gankit.nets.base import Discriminator
from gankit.nets.output import DOutput


def packed_shape(shape: tuple, pack: int) -> tuple:
    """Per-item shape that the wrapped D sees: (pack * D,) for vectors, (pack * C, H, W) for images."""
    shape = tuple(shape)
    return (pack * shape[0],) + shape[1:]


def pack_batch(x: torch.Tensor, pack: int) -> torch.Tensor:
    """[B, C, ...] -> [B / pack, pack * C, ...]: consecutive samples side by side along dim 1.

    Pack k holds samples k * pack ... k * pack + pack - 1; for images their channels are stacked in
    that order. The memory order is unchanged, so ``x.reshape(B / pack, -1)`` lists the same
    elements per pack (what per-pack gradient norms use)."""
    b = x.shape[0]
    if b % pack:
        raise GankitError(f"model.d_pack={pack} needs batches whose size is a multiple of "
                          f"{pack}, got {b}; change data.batch_size")
    return x.reshape(b // pack, pack * x.shape[1], *x.shape[2:])


class PackedDiscriminator(Discriminator):
    """D(x) on packs: x [B, *shape] -> inner([B / pack, pack * shape[0], *shape[1:]]) -> logits [B / pack].

    Consecutive samples of a batch form a pack (samples are i.i.d., so any grouping is a random one).
    Labels, if any, are taken from the first sample of each pack (no discriminator reads labels yet).
    """

    def __init__(self, inner: Discriminator, pack: int) -> None:
        super().__init__()
        if pack < 1:
            raise ValueError(f"pack must be >= 1, got {pack}")
        self.inner = inner
        self.pack = pack

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> DOutput:
        y_packed = y[:: self.pack] if y is not None else None
        return self.inner(pack_batch(x, self.pack), y_packed)
