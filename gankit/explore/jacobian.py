"""Jacobian-based truncation (Tanielian et al. 2020, "Learning disconnected manifolds: a no GAN's land",
ICML; their "JBTopK"): keep the samples where G's Jacobian is smallest.

A generator is continuous and its latent space connected, so a G that covers separate modes must stretch
parts of the latent space across the gaps between them; there G changes fast with z, and its Jacobian
dG/dz is large. Ranking draws by the Frobenius norm ||J_G(z)||_F and keeping the fraction ``keep`` with
the smallest norms removes those bridge samples. Unlike discriminator rejection sampling it needs no D and
no data, and unlike a categorical latent code it is not told the number of modes.

The norm is taken over G's noise units (the first ``z_dim`` of z; not InfoGAN codes or labels):
exactly, one forward-mode product per noise unit, when ``z_dim`` <= ``EXACT_MAX_DIM``; else by
Hutchinson's estimate ||J||_F^2 = E_v ||J v||^2, v ~ N(0, I), with ``probes`` draws.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from gankit.errors import GankitError

EXACT_MAX_DIM = 16
DEFAULT_PROBES = 8


@dataclass
class JacobianTruncation:
    x: torch.Tensor  # [n, *shape] kept generator outputs, in draw order
    z: torch.Tensor  # [n, latent_dim] their latents
    draws: int  # latents drawn (ceil(n / keep))
    threshold: float  # the largest Jacobian norm kept


def jacobian_norms(G: nn.Module, z: torch.Tensor, y: Optional[torch.Tensor] = None, *,
                   probes: Optional[int] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """||dG(z, y)/dz_noise||_F per sample: float [n] for z [n, latent_dim] (on G's device).

    ``probes`` None: exact for z_dim <= ``EXACT_MAX_DIM``, else ``DEFAULT_PROBES`` random probes. G must be
    in eval mode (with BatchNorm in train mode the samples of a batch depend on each other)."""
    return _norms_and_outputs(G, z, y, probes, generator)[0]


def _norms_and_outputs(G: nn.Module, z: torch.Tensor, y: Optional[torch.Tensor], probes: Optional[int],
                       generator: Optional[torch.Generator]) -> tuple[torch.Tensor, torch.Tensor]:
    """(the norms of :func:`jacobian_norms`, G(z, y)): the outputs are the forward-mode products' primal."""
    if G.training:
        raise GankitError("jacobian_norms needs G in eval mode (G.eval()): in train mode BatchNorm mixes the batch")
    z_dim = G.z_dim
    exact = probes is None and z_dim <= EXACT_MAX_DIM
    if exact:
        directions = []
        for i in range(z_dim):
            v = torch.zeros_like(z)
            v[:, i] = 1.0
            directions.append(v)
    else:
        k = probes or DEFAULT_PROBES
        if k < 1:
            raise GankitError(f"jacobian probes must be >= 1, got {k}")
        directions = []
        for _ in range(k):
            v = torch.zeros_like(z)
            v[:, :z_dim] = torch.randn(z.shape[0], z_dim, generator=generator).to(z.device, z.dtype)
            directions.append(v)
    total = torch.zeros(z.shape[0], dtype=torch.float64, device=z.device)
    out = None
    with torch.no_grad():
        for v in directions:
            out, jv = torch.func.jvp(lambda zz: G(zz, y), (z,), (v,))  # G(z) and J v, per sample
            total += jv.reshape(jv.shape[0], -1).double().pow(2).sum(1)
    if not exact:
        total /= len(directions)
    return total.sqrt().float(), out


def jacobian_truncate(G: nn.Module, n: int, generator: torch.Generator, keep: float = 0.9, *,
                      probes: Optional[int] = None, batch_size: int = 512) -> JacobianTruncation:
    """Draw ceil(n / keep) latents with ``generator`` and keep the n whose Jacobian norm is smallest
    (an unconditional G: which draws survive would change the class balance of a conditional one)."""
    if getattr(G, "num_classes", 0):
        raise GankitError("Jacobian truncation is not available for conditional models yet (keeping draws "
                          "by their Jacobian would change the classes' shares); sample without it")
    if not 0 < keep <= 1:
        raise GankitError(f"--jacobian-keep must be in (0, 1] (the fraction of draws kept), got {keep}")
    if n < 1:
        raise GankitError(f"--n must be >= 1, got {n}")
    device = next(G.parameters()).device
    m = math.ceil(n / keep)
    z = G.sample_z(m, generator).to(device)
    parts = [_norms_and_outputs(G, z[start:start + batch_size], None, probes, generator)
             for start in range(0, m, batch_size)]
    norms_all, x = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    kept = torch.sort(torch.argsort(norms_all, stable=True)[:n]).values  # the n smallest, in draw order
    return JacobianTruncation(x=x[kept].cpu(), z=z[kept].cpu(), draws=m, threshold=float(norms_all[kept].max()))
