"""Discriminator optimal transport in latent space (Tanaka 2019, "Discriminator optimal transport",
NeurIPS; its Algorithm 2, "latent space DOT").

A trained discriminator knows more about the data than the generator it trained against. DOT uses it at
sampling time without rejecting anything: each draw z_y moves to a nearby latent z that D rates higher,

    z* = argmin_z  ||z - z_y||_2 - D(G(z)) / k_eff,

by a few steps of gradient descent from z = z_y (Adam, as the paper's latent-space experiments). k_eff is
the effective Lipschitz constant of D o G, max over pairs |D(G(z_i)) - D(G(z_j))| / ||z_i - z_j|| on
prior draws: it puts the distance and D's score on one scale, so a draw moves only as far as D's gain
pays for. A sample G stretched across the gap between two separate modes (where D, a log density ratio
for the probabilistic objectives, is low) slides towards the nearer mode; a sample already on a mode
barely moves. Unlike rejection sampling it keeps every draw, so every mode that the plain draws reach
keeps its samples; unlike a categorical code it is not told the number of modes.

The norm is smoothed, sqrt(||z - z_y||^2 + delta^2), so that its gradient at z = z_y is defined (the paper
adds a small delta for the same reason). Only G's noise units move (the first ``z_dim`` of the latent;
InfoGAN codes stay as drawn), and a uniform prior's draws are clamped to [-1, 1] after each step. A
conditional G keeps each draw's label y: z moves up D(G(z, y), y), and k_eff is taken with labels (and
codes) held fixed within groups of draws.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import torch
from torch import nn

from gankit.errors import GankitError

DEFAULT_STEPS = 30
DEFAULT_LR = 0.02
DELTA = 1e-3


@dataclass
class DOTResult:
    x: torch.Tensor  # [n, *shape] G(z*) in draw order
    z: torch.Tensor  # [n, latent_dim] the moved latents z*
    z0: torch.Tensor  # [n, latent_dim] the draws they started from
    k_eff: float  # the effective Lipschitz constant of D o G used
    gain: torch.Tensor  # [n] D(G(z*)) - D(G(z0)): what each move bought
    y: Optional[torch.Tensor] = None  # [n] a conditional G's labels (as given, or drawn)

    @property
    def moved(self) -> torch.Tensor:
        """||z* - z0|| per sample."""
        return (self.z - self.z0).norm(dim=1)


def _score(G: nn.Module, D: nn.Module, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
    return D(G(z, y), y).logits.reshape(-1)


def check_applicable(G: nn.Module, d_pack: int = 1) -> None:
    """A clear error where latent DOT has no meaning here."""
    if d_pack != 1:
        raise GankitError(f"DOT moves single samples by D's score; model.d_pack={d_pack} makes D score packs")


@torch.no_grad()
def effective_lipschitz(G: nn.Module, D: nn.Module, z: torch.Tensor, group: int = 50,
                        y: Optional[torch.Tensor] = None) -> float:
    """k_eff = max over pairs i != j of |D(G(z_i)) - D(G(z_j))| / ||z_i - z_j||: the steepest slope of D o G
    along G's noise units, the units DOT moves.

    Where G also takes codes (InfoGAN's, after the first ``z_dim`` units), pairs that differ in their code
    would measure the code's effect on D over a noise distance that can be tiny, and inflate k_eff (so DOT
    would hardly move anything): the draws are then taken in groups of ``group``, each group sharing its
    first draw's code, and only pairs within a group count. A conditional G's labels ``y`` [n] are held
    fixed the same way (DOT moves z for a fixed y)."""
    if z.shape[0] < 2:
        raise GankitError("DOT: k_eff needs at least 2 latents")
    zd = G.z_dim
    groups = [(z, y)]
    if z.shape[1] > zd or y is not None:  # codes, labels: within a group, every draw takes the group's first
        groups = []
        for start in range(0, z.shape[0], group):
            part = z[start:start + group].clone()
            part[:, zd:] = part[:1, zd:]
            labels = None if y is None else y[start:start + 1].expand(len(part))
            if len(part) >= 2:
                groups.append((part, labels))
        if not groups:
            raise GankitError(f"DOT: k_eff needs groups of at least 2 latents, got {z.shape[0]}")
    best = 0.0
    for part, labels in groups:
        d = _score(G, D, part, labels).double()
        noise = part[:, :zd].double()
        dist = torch.cdist(noise, noise)
        diff = (d[:, None] - d[None, :]).abs()
        off = ~torch.eye(len(d), dtype=torch.bool, device=d.device)
        best = max(best, float((diff[off] / dist[off].clamp_min(1e-12)).max()))
    return best


def dot_refine(G: nn.Module, D: nn.Module, z0: torch.Tensor, k_eff: float, *, steps: int = DEFAULT_STEPS,
               lr: float = DEFAULT_LR, batch_size: int = 1024, y: Optional[torch.Tensor] = None) -> DOTResult:
    """Move each latent of ``z0`` by ``steps`` Adam steps on ||z - z0|| - D(G(z)) / k_eff (the samples of a
    batch are independent: each one's objective depends on its own z alone). G and D must be in eval mode.
    A conditional G's labels ``y`` [n] stay as given: z moves up D(G(z, y), y)."""
    if G.training or D.training:
        raise GankitError("DOT needs G and D in eval mode (G.eval(), D.eval()): in train mode BatchNorm mixes "
                          "the batch")
    if steps < 0:
        raise GankitError(f"--dot-steps must be >= 0, got {steps}")
    if not k_eff > 0:
        raise GankitError(f"DOT: k_eff must be > 0, got {k_eff} (D rates all of G's samples alike)")
    zd = G.z_dim
    uniform = getattr(G, "z_dist", "normal") == "uniform"
    outs, gains, moved = [], [], []
    for start in range(0, z0.shape[0], batch_size):
        base = z0[start:start + batch_size]
        labels = None if y is None else y[start:start + batch_size]
        rest = base[:, zd:]
        noise = base[:, :zd].clone().requires_grad_(True)
        opt = torch.optim.Adam([noise], lr=lr)
        with torch.no_grad():
            before = _score(G, D, base, labels)
        for _ in range(steps):
            with torch.enable_grad():  # also when called under no_grad (sampling code usually is)
                dist = ((noise - base[:, :zd]).pow(2).sum(1) + DELTA ** 2).sqrt()
                loss = (dist - _score(G, D, torch.cat([noise, rest], 1), labels) / k_eff).sum()
                # the gradient for the latents alone: G's and D's parameters get none
                noise.grad = torch.autograd.grad(loss, noise)[0]
            opt.step()
            if uniform:
                with torch.no_grad():
                    noise.clamp_(-1.0, 1.0)
        z = torch.cat([noise.detach(), rest], 1)
        with torch.no_grad():
            x = G(z, labels)
            gains.append((D(x, labels).logits.reshape(-1) - before).cpu())
        outs.append(x.cpu())
        moved.append(z.cpu())
    return DOTResult(x=torch.cat(outs), z=torch.cat(moved), z0=z0.cpu(), k_eff=k_eff, gain=torch.cat(gains),
                     y=None if y is None else y.cpu())


def dot_sample(G: nn.Module, D: nn.Module, n: Union[int, torch.Tensor], generator: torch.Generator, *,
               steps: int = DEFAULT_STEPS, lr: float = DEFAULT_LR, k_eff: Optional[float] = None,
               scale: float = 1.0, k_eff_draws: int = 1000, d_pack: int = 1,
               y: Optional[torch.Tensor] = None) -> DOTResult:
    """``n`` prior draws (from ``generator``; or the given latents [n, latent_dim]), moved by latent DOT.
    ``k_eff`` None: estimated on ``k_eff_draws`` further draws of the same generator, after the n. ``scale``
    multiplies k_eff: 1 is the
    paper's rule (a draw moves only where D's slope matches its steepest); a smaller scale trusts D more
    and moves draws further up its score (on the 25-Gaussian grid, 0.1 brought the off-mode samples in on
    every seed: ``benchmarks/results/modes_notk_dot.md``). A conditional G moves z for fixed labels: ``y``
    [n], or, when None, labels drawn uniformly from ``generator`` after the latents (as
    ``LoadedGAN.latents`` draws them); k_eff's draws get uniform labels too."""
    if not isinstance(n, torch.Tensor) and n < 1:
        raise GankitError(f"--n must be >= 1, got {n}")
    if not scale > 0:
        raise GankitError(f"--dot-scale must be > 0 (it multiplies k_eff), got {scale}")
    check_applicable(G, d_pack)
    G.eval()
    D.eval()
    device = next(G.parameters()).device
    z0 = n.to(device) if isinstance(n, torch.Tensor) else G.sample_z(n, generator).to(device)
    if z0.dim() != 2 or z0.shape[1] != G.latent_dim:
        raise GankitError(f"latents must be [n, {G.latent_dim}], got {list(z0.shape)}")
    conditional = bool(getattr(G, "num_classes", 0))
    if y is not None and not conditional:
        raise GankitError("DOT: labels given for an unconditional generator")
    if conditional:
        y = (G.sample_y(len(z0), generator) if y is None else torch.as_tensor(y)).to(device)
        if y.shape != (len(z0),):
            raise GankitError(f"DOT: one label per latent expected, got {list(y.shape)} for {len(z0)} latents")
    if k_eff is None:
        zk = G.sample_z(k_eff_draws, generator).to(device)
        yk = G.sample_y(k_eff_draws, generator) if conditional else None
        k_eff = effective_lipschitz(G, D, zk, y=None if yk is None else yk.to(device))
    return dot_refine(G, D, z0, k_eff * scale, steps=steps, lr=lr, y=y)
