"""Discriminator rejection sampling (DRS; Azadi et al. 2019, "Discriminator Rejection Sampling").

A logistic discriminator at its optimum has D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Goodfellow et al.
2014, Prop. 1), so its logit is l(x) = log p_data(x) / p_g(x). Rejection sampling from p_g that accepts
x with probability p_data(x) / (M p_g(x)) = exp(l(x) - log M) then draws from p_data exactly. DRS makes
this practical:

- the discriminator is first *calibrated*: trained a little longer alone against the fixed generator, so
  that it is closer to D* for this G (:func:`calibrate_discriminator`);
- log M is estimated as the largest logit seen (a burn-in of ``burn_in`` draws, then updated as sampling
  goes on);
- x is accepted with probability sigmoid(F(x)), F(x) = l - l_max - log(1 - exp(l - l_max - eps)) - gamma.
  With gamma = 0 this is the exact rule (sigmoid(F) ~ exp(l - l_max) for l well below l_max); a gamma
  from the q-th percentile of F over the burn-in centres F there, so that roughly the share of draws above
  that percentile is kept (q = 50: about half): more than the exact rule when D's logits spread widely
  (a trained D on a generator with outliers), fewer when they are nearly flat.

It only applies where D's logit is a log density ratio: objectives with ``probabilistic = True`` (the
minimax and non-saturating games, DRAGAN, R1/R2, ...), not a WGAN critic or an autoencoder energy, and
only to an unpacked discriminator (a packed D scores packs, not samples).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from gankit.errors import GankitError
from gankit.explore.theory import fit_discriminator

Sampler = Callable[[int], torch.Tensor]


@dataclass
class RejectionResult:
    x: torch.Tensor  # [n, *shape] accepted generator outputs, in draw order
    draws: int  # generator samples drawn after the burn-in (the burn-in's draws are not counted)
    accepted: int  # samples accepted (>= n: the last batch may overshoot; x keeps the first n)
    gamma: float
    log_m: float  # the final estimate of log M (the largest logit seen)
    calibration_steps: int = 0  # steps D was trained alone against the sampled G first (0 = none)
    warning: str = ""  # what the caller should tell the user (e.g. an uncalibrated D against an EMA G)

    @property
    def acceptance(self) -> float:
        """Accepted over drawn after the burn-in."""
        return self.accepted / max(self.draws, 1)


def check_applicable(objective: object, d_pack: int) -> None:
    """A clear error where D's logit is not a log density ratio of single samples."""
    name = getattr(objective, "name", type(objective).__name__)
    if not getattr(objective, "probabilistic", False):
        raise GankitError(f"rejection sampling needs a discriminator whose output is a logit of "
                          f"p_data / (p_data + p_g); objective '{name}' trains a critic or an energy")
    if d_pack != 1:
        raise GankitError(f"rejection sampling scores single samples; model.d_pack={d_pack} makes D "
                          "score packs")


def calibrate_discriminator(D: torch.nn.Module, G: torch.nn.Module, sample_real: Sampler, steps: int = 1000,
                            batch_size: int = 512, lr: float = 1e-3,
                            seed: int = 0) -> tuple[torch.nn.Module, list[float]]:
    """A copy of ``D`` trained alone (logistic loss) against the fixed ``G``; ``D`` itself is untouched."""
    D = copy.deepcopy(D).train()
    gen = torch.Generator().manual_seed(seed)
    device = next(G.parameters()).device

    @torch.no_grad()
    def sample_fake(n: int) -> torch.Tensor:
        return G(G.sample_z(n, gen).to(device))

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        losses = fit_discriminator(D, sample_real, sample_fake, steps=steps, batch_size=batch_size, lr=lr)
    return D.eval(), losses


def _f_score(logits: torch.Tensor, log_m: float, gamma: float, eps: float) -> torch.Tensor:
    """F(x) of DRS (float64): l - l_max - log(1 - exp(l - l_max - eps)) - gamma."""
    d = logits.double() - log_m
    return d - torch.log1p(-torch.exp(d - eps)) - gamma


@torch.no_grad()
def rejection_sample(G: torch.nn.Module, D: torch.nn.Module, n: int, generator: torch.Generator, *,
                     percentile: Optional[float] = None, burn_in: int = 10_000, batch_size: int = 2048,
                     eps: float = 1e-6, max_draws: Optional[int] = None,
                     propose: Optional[Callable[[int, torch.Generator], torch.Tensor]] = None) -> RejectionResult:
    """``n`` generator samples kept by discriminator rejection sampling.

    ``percentile`` None uses gamma = 0 (the exact rule); a number q in [0, 100) sets gamma to the q-th
    percentile of F over the burn-in. ``max_draws`` (default 1000 n) bounds the work: reaching it is an
    error that names the acceptance rate. ``propose(m, generator)`` draws the m candidates (default: G of
    m prior latents). A proposal that keeps a subset of G's draws, such as Jacobian truncation
    (:mod:`gankit.explore.jacobian`), has density p_G / keep on what it keeps, so D's logit is still the
    log density ratio up to a constant, which the estimate of M absorbs: the rule is unchanged.
    """
    if n < 1:
        raise GankitError(f"rejection sampling: n must be >= 1, got {n}")
    if percentile is not None and not 0 <= percentile < 100:
        raise GankitError(f"rejection sampling: percentile must be in [0, 100), got {percentile}")
    G.eval()
    D.eval()
    device = next(G.parameters()).device
    max_draws = 1000 * n if max_draws is None else max_draws

    def draw(m: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = G(G.sample_z(m, generator).to(device)) if propose is None else propose(m, generator).to(device)
        return x, D(x).logits.reshape(-1).double().cpu()

    burn = [draw(min(batch_size, burn_in - i)) for i in range(0, burn_in, batch_size)]
    log_m = max(float(l.max()) for _, l in burn) if burn else -math.inf
    gamma = 0.0
    if percentile is not None:
        f = torch.cat([_f_score(l, log_m, 0.0, eps) for _, l in burn])
        gamma = float(torch.quantile(f, percentile / 100.0))
    kept, n_kept, draws = [], 0, 0
    while n_kept < n:
        if draws >= max_draws:
            raise GankitError(f"rejection sampling accepted {n_kept} of {draws} draws (max_draws={max_draws}); "
                              "set a percentile (e.g. 50) to accept more")
        x, logits = draw(batch_size)
        draws += len(logits)
        if float(logits.max()) > log_m:  # a new largest ratio: the bound grows, as in the paper
            log_m = float(logits.max())
        p = torch.sigmoid(_f_score(logits, log_m, gamma, eps))
        accept = torch.rand(len(p), generator=generator, dtype=torch.float64) < p
        if accept.any():
            kept.append(x[accept.to(x.device)].cpu())
            n_kept += int(accept.sum())
    return RejectionResult(torch.cat(kept)[:n], draws=draws, accepted=n_kept, gamma=gamma, log_m=log_m)
