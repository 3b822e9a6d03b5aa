"""The theory of the original GAN, made checkable (Goodfellow et al. 2014, section 4).

- For a fixed G, the optimal discriminator is D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Prop. 1).
- At p_g = p_data, D* = 1/2 everywhere and the value of the game is -log 4 (Theorem 1).
``fit_discriminator`` trains a discriminator alone against a fixed generator, so its output can be
compared with D*.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from gankit.objectives import terms

LogDensity = Callable[[torch.Tensor], torch.Tensor]  # [N, D] -> [N]
Sampler = Callable[[int], torch.Tensor]  # n -> [n, D]


def optimal_discriminator(log_p_data: LogDensity, log_p_g: LogDensity, x: torch.Tensor) -> torch.Tensor:
    """D*(x) = p_data / (p_data + p_g) = sigmoid(log p_data - log p_g), stable in the tails. [N]"""
    return torch.sigmoid(log_p_data(x) - log_p_g(x))


def value_at_equilibrium() -> float:
    """-log 4: the value of the game V(D*, G) at p_g = p_data."""
    return -math.log(4.0)


def fit_discriminator(D: torch.nn.Module, sample_real: Sampler, sample_fake: Sampler, steps: int = 2000,
                      batch_size: int = 512, lr: float = 1e-2) -> list[float]:
    """Train D alone to maximise V(D, G) for a fixed G (given by ``sample_fake``); returns the losses."""
    opt = torch.optim.Adam(D.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    losses = []
    for _ in range(steps):
        real, fake = sample_real(batch_size), sample_fake(batch_size)
        loss = terms.d_logistic(D(real).logits, D(fake).logits)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    return losses
