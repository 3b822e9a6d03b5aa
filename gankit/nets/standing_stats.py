"""Standing statistics (BigGAN, Brock et al. 2019, appendix C.1): re-estimate every BatchNorm of a
generator from many batches of its own samples before sampling.

A BatchNorm's running mean and variance are an exponential average over the last training batches of
the *trained* G; an EMA generator (``train.ema``) never ran in train mode with its own averaged weights,
so its running statistics are those the EMA copied, not its own. ``standing_stats`` resets each
BatchNorm's running statistics, runs G in train mode on ``batches`` batches of latents (and labels)
from ``generator``, with ``momentum=None`` (PyTorch's cumulative average: after k batches, the plain
mean of the k batch statistics), then puts G back in eval mode. It changes G's buffers in place and
nothing else (no gradient, no parameter). Virtual BatchNorm keeps its reference batch and has no
running statistics, so it is left alone.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from gankit.errors import GankitError


def batch_norms(module: nn.Module) -> list:
    """The BatchNorm layers of ``module`` that keep running statistics (those eval mode uses)."""
    return [m for m in module.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def standing_stats(G: nn.Module, batches: int = 16, batch_size: int = 64,
                   generator: Optional[torch.Generator] = None) -> int:
    """Re-estimate G's BatchNorm running statistics from ``batches`` batches of ``batch_size`` samples
    (BigGAN-PyTorch accumulates 16). Returns the number of BatchNorm layers re-estimated (0: G has
    none and is unchanged). G is left in eval mode."""
    if batches < 1 or batch_size < 2:
        raise GankitError(f"standing statistics need >= 1 batch of >= 2 samples, got {batches} x {batch_size}")
    norms = batch_norms(G)
    if not norms:
        return 0
    device = next(G.parameters()).device
    saved = [m.momentum for m in norms]
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches below
        G.train()
        for _ in range(batches):
            z = G.sample_z(batch_size, generator).to(device)
            y = G.sample_y(batch_size, generator)
            G(z, y.to(device) if y is not None else None)
    finally:
        for m, momentum in zip(norms, saved):
            m.momentum = momentum
        G.eval()
    return len(norms)
