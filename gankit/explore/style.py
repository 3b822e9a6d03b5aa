"""Figures of a StyleGAN-style generator (``model.arch=stylegan``): truncation in W and style mixing
(Karras et al. 2019, Figures 3 and 8).

- :func:`psi_rows`: one row per psi (1, 0.7, 0.5, 0.25, 0) for the same 8 latents: w_avg + psi (w - w_avg),
  so the last row is the average w's image for every column.
- :func:`style_mixing`: a 6 x 6 grid; row i takes the coarse styles (the first half of the ws, the low
  resolutions) of latent A_i, column j the fine styles of latent B_j.
Both draw their latents from their own generator (``seed``): nothing comes from the training RNG.
"""
from __future__ import annotations

from typing import Any

import torch

PSI = (1.0, 0.7, 0.5, 0.25, 0.0)


def is_style_generator(G: Any) -> bool:
    return all(callable(getattr(G, name, None)) for name in ("mapping_w", "synthesis", "truncated"))


@torch.no_grad()
def psi_rows(G: Any, seed: int = 0, n: int = 8, psis: tuple = PSI) -> tuple[torch.Tensor, list[str]]:
    """Images [len(psis) * n, C, H, W] in [-1, 1], row r = psi ``psis[r]``, and the row labels."""
    gen = torch.Generator().manual_seed(seed)
    z = G.sample_z(n, gen)
    y = G.sample_y(n, gen)
    device = next(G.parameters()).device
    z, y = z.to(device), (y.to(device) if y is not None else None)
    return torch.cat([G.truncated(z, psi, y) for psi in psis]).cpu(), [f"psi {p:g}" for p in psis]


@torch.no_grad()
def style_mixing(G: Any, seed: int = 0, n: int = 6) -> tuple[torch.Tensor, int]:
    """Images [n * n, C, H, W] (row i: coarse styles ws[:, :cutoff] of latent A_i; column j: the rest from
    latent B_j) and the cutoff; a conditional G mixes two latents of the same labels."""
    gen = torch.Generator().manual_seed(seed)
    za = G.sample_z(n, gen)
    y = G.sample_y(n, gen)
    zb = G.sample_z(n, gen)
    device = next(G.parameters()).device
    y = y.to(device) if y is not None else None
    wa, wb = G.mapping_w(za.to(device), y), G.mapping_w(zb.to(device), y)
    cutoff = G.num_ws // 2
    images = []
    for i in range(n):
        ws = wb.unsqueeze(1).repeat(1, G.num_ws, 1)  # [n, num_ws, w_dim]: column j = latent B_j
        ws[:, :cutoff] = wa[i]
        images.append(G.synthesis(ws))
    return torch.cat(images).cpu(), cutoff
