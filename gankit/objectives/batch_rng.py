"""Random draws for the rows of a batch, the same at any number of processes.

Under torchrun every rank holds one shared RNG stream (the same seed) and trains on its slice of the
global batch (``gankit/training/distributed.py``). A draw of one number per row made at the local
batch size would give rank r the first rows of the global draw, as every other rank, not its own
rows, and an N-process run would differ from a 1-process run in every per-sample random choice
(WGAN-GP's interpolation weights, DRAGAN's perturbations, instance noise, flipped labels, DiffAugment's
translations). These helpers draw for the global batch, ``world`` times the local rows, and return
this rank's slice, so the draw is the one a single process makes, and every rank's stream advances
alike. The loop states the shard once per run (:func:`set_shard`); alone it is (0, 1) and these are
the plain ``torch`` draws.
"""
from __future__ import annotations

from typing import Callable

import torch

_shard = (0, 1)  # (rank, world) of this process


def set_shard(rank: int, world: int) -> None:
    """This process's rank and the number of processes (the trainer calls it)."""
    global _shard
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} outside a world of {world}")
    _shard = (rank, world)


def _rows(draw: Callable[[tuple], torch.Tensor], shape: tuple) -> torch.Tensor:
    rank, world = _shard
    if world == 1 or not shape:
        return draw(shape)
    n = shape[0]
    return draw((n * world, *shape[1:]))[rank * n:(rank + 1) * n]


def rand(*shape: int, device=None) -> torch.Tensor:
    """U[0, 1) of ``shape``, whose first dimension is this rank's rows of the global batch."""
    return _rows(lambda s: torch.rand(s, device=device), tuple(shape))


def rand_like(x: torch.Tensor) -> torch.Tensor:
    return _rows(lambda s: torch.rand(s, dtype=x.dtype, device=x.device), tuple(x.shape))


def randn_like(x: torch.Tensor) -> torch.Tensor:
    return _rows(lambda s: torch.randn(s, dtype=x.dtype, device=x.device), tuple(x.shape))


def randint(low: int, high: int, n: int, device=None) -> torch.Tensor:
    """Integers in [low, high) for this rank's ``n`` rows."""
    return _rows(lambda s: torch.randint(low, high, s, device=device), (n,))
