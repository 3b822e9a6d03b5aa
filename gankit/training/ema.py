"""Exponential moving average of the generator's weights (Karras et al. 2018; Yazici et al. 2019)."""
from __future__ import annotations

import copy
import math

import torch
from torch import nn


class EMA:
    """Keeps ``shadow``, an averaged copy of a module: p_ema <- decay * p_ema + (1 - decay) * p.

    Buffers (BatchNorm statistics) are copied, not averaged. Before ``start`` steps, the shadow
    copies the weights, and ``rampup`` shortens the average early on (:meth:`decay_at`), so early
    noise does not linger in it.
    """

    def __init__(self, module: nn.Module, decay: float, start: int = 0, rampup: float = 0.0) -> None:
        self.decay = decay
        self.start = start
        self.rampup = rampup
        self.shadow = copy.deepcopy(module).eval()
        self.shadow.requires_grad_(False)

    def decay_at(self, step: int) -> float:
        """The decay used at ``step``: 0 (a copy) before ``start``; then, with ``rampup`` > 0, the ramp
        of StyleGAN2-ADA (Karras et al. 2020): the average's half-life, ln 0.5 / ln decay steps at full
        decay, is at most ``rampup`` x the steps averaged so far. So a short run's average is not stuck
        near the initial weights (decay 0.999 forgets them only after thousands of steps), and a long
        run ends with the plain ``decay``: the ramp is over after half-life / rampup steps."""
        if step < self.start:
            return 0.0
        if self.rampup <= 0:
            return self.decay
        ramped_half_life = self.rampup * (step - self.start + 1)
        if ramped_half_life >= math.log(0.5) / math.log(self.decay):
            return self.decay
        return 0.5 ** (1.0 / ramped_half_life)

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        decay = self.decay_at(step)
        ema_params = list(self.shadow.parameters())
        params = list(module.parameters())
        if decay == 0.0:
            torch._foreach_copy_(ema_params, params)
        else:
            torch._foreach_lerp_(ema_params, params, 1.0 - decay)
        for b_ema, b in zip(self.shadow.buffers(), module.buffers()):
            b_ema.copy_(b)
