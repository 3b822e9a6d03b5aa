"""Directions in a generator's latent space to move z along: SeFa's principal directions and random ones.

SeFa, "closed-form factorization of latent semantics" (Shen & Zhou 2021, CVPR): the first layer that z
enters maps it by an affine A z + b, so moving z by alpha n moves that layer's output by alpha A n. The unit
directions n that move it the most maximize ||A n||^2, which are the eigenvectors of A^T A (equivalently the
right singular vectors of A), in order of their eigenvalues (the squared singular values). No data, no
training, no samples: it reads the weight.

Here A is the weight columns of G's first linear layer (``Generator.latent_layer``) on the noise units of z
(the first ``z_dim``; the one-hot and continuous codes of InfoGAN-style latents, and a concatenated label
code, are left out). Directions are vectors of the full latent width, zero outside the noise units, so
``z + alpha * d`` is a valid latent. ``unit_rows`` first scales each row of A (each output unit's weights)
to unit length, as the authors' code does: with a BatchNorm right after the layer (DCGAN, MLP with
``g_norm=batch``) an output unit's scale is normalized away, and only the direction of its weights counts.

Random orthogonal directions (a QR factorization of a Gaussian matrix) are the baseline: any direction in
an isotropic latent changes something; SeFa's claim is that its directions change more, and more cleanly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from gankit.errors import GankitError

KINDS = ("sefa", "random")


@dataclass
class Directions:
    kind: str  # "sefa" or "random"
    vectors: torch.Tensor  # [k, latent_dim], orthonormal rows, zero outside the first z_dim units
    values: Optional[torch.Tensor] = None  # [k] SeFa: eigenvalues of A^T A, largest first; None for random

    def __len__(self) -> int:
        return len(self.vectors)

    def move(self, z: torch.Tensor, alphas: Any) -> torch.Tensor:
        """z [n, latent_dim] moved by sum_i alphas[i] * vectors[i]: ``alphas`` [k] (one move for every
        row) or [n, k]; fewer than k alphas move along the first ones only."""
        a = torch.as_tensor(alphas, dtype=z.dtype)
        if a.shape[-1] > len(self):
            raise GankitError(f"got {a.shape[-1]} direction amounts, but there are only {len(self)} "
                              f"{self.kind} directions")
        return z + a @ self.vectors[:a.shape[-1]].to(z.dtype)


def _generator(model: Any) -> torch.nn.Module:
    return getattr(model, "G", model)  # a LoadedGAN or a Generator


def _count(G: torch.nn.Module, k: Optional[int]) -> int:
    if k is None:
        return G.z_dim
    if not 1 <= k <= G.z_dim:
        raise GankitError(f"asked for {k} latent directions; this generator's noise has {G.z_dim} units, "
                          f"so use 1..{G.z_dim}")
    return k


def _embed(G: torch.nn.Module, rows: torch.Tensor) -> torch.Tensor:
    """[k, z_dim] -> [k, latent_dim] with zeros on the code units."""
    out = torch.zeros(rows.shape[0], G.latent_dim)
    out[:, :G.z_dim] = rows
    return out


def sefa_directions(model: Any, k: Optional[int] = None, unit_rows: bool = False) -> Directions:
    """SeFa's top ``k`` directions (default: all z_dim) of a generator (or a LoadedGAN): the eigenvectors
    of A^T A, A the first layer's weight [out, z_dim] on the noise units, largest eigenvalue first; each
    sign is fixed so that its largest entry is positive (the factorization leaves it free)."""
    G = _generator(model)
    layer = G.latent_layer() if hasattr(G, "latent_layer") else None
    if layer is None:
        raise GankitError(f"SeFa directions need the linear layer that z enters first, and "
                          f"{type(G).__name__} has none (Generator.latent_layer); use random directions")
    k = _count(G, k)
    with torch.no_grad():
        A = layer.weight.detach().float().cpu()[:, :G.z_dim]  # [out, z_dim]
        if unit_rows:
            A = A / A.norm(dim=1, keepdim=True).clamp_min(1e-12)
        values, vectors = torch.linalg.eigh(A.T.double() @ A.double())  # ascending
        values, vectors = values.flip(0)[:k].float(), vectors.flip(1)[:, :k].T.float()  # [k], [k, z_dim]
        biggest = vectors.abs().argmax(dim=1)
        vectors = vectors * vectors.gather(1, biggest[:, None]).sign()
    return Directions("sefa", _embed(G, vectors), values.clamp_min(0.0))


def random_directions(model: Any, k: Optional[int] = None, seed: int = 0) -> Directions:
    """``k`` (default: all z_dim) random orthonormal directions in the noise units, drawn with ``seed``:
    the Q of a QR factorization of a Gaussian matrix, its signs fixed by R's diagonal (so the directions
    are uniform on the orthogonal group)."""
    G = _generator(model)
    k = _count(G, k)
    gen = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(G.z_dim, k, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    return Directions("random", _embed(G, q.T.float()))


def latent_directions(model: Any, kind: str, k: Optional[int] = None, seed: int = 0) -> Directions:
    """:func:`sefa_directions` or :func:`random_directions` by name."""
    if kind == "sefa":
        return sefa_directions(model, k)
    if kind == "random":
        return random_directions(model, k, seed)
    raise GankitError(f"directions={kind} is not a kind of latent direction; use one of {', '.join(KINDS)}")
