"""Exponential moving average of the generator's weights (Karras et al. 2018; Yazici et al. 2019)."""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps ``shadow``, an averaged copy of a module: p_ema <- decay * p_ema + (1 - decay) * p.

    Buffers (BatchNorm statistics) are copied, not averaged. Before ``start`` steps, the shadow
    copies the weights, so early noise does not linger in the average.
    """

    def __init__(self, module: nn.Module, decay: float, start: int = 0) -> None:
        self.decay = decay
        self.start = start
        self.shadow = copy.deepcopy(module).eval()
        self.shadow.requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        decay = self.decay if step >= self.start else 0.0
        ema_params = list(self.shadow.parameters())
        params = list(module.parameters())
        if decay == 0.0:
            torch._foreach_copy_(ema_params, params)
        else:
            torch._foreach_lerp_(ema_params, params, 1.0 - decay)
        for b_ema, b in zip(self.shadow.buffers(), module.buffers()):
            b_ema.copy_(b)
