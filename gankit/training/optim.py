"""Optimizers with separate settings for G and D (two time-scale update rule, TTUR)."""
from __future__ import annotations

from typing import Any, Iterable

import torch


def build_optimizer(cfg: Any, params: Iterable[torch.nn.Parameter], impl: str = "default") -> torch.optim.Optimizer:
    """Adam, RMSProp or SGD from an OptimConfig; ``impl`` (``train.optim_impl``) picks torch's
    for-loop default, the multi-tensor ``foreach`` or the ``fused`` kernel (Adam and SGD)."""
    params = list(params)
    kind = {} if impl == "default" else {impl: True}
    if impl == "fused" and cfg.name == "rmsprop":
        from gankit.errors import GankitError

        raise GankitError("train.optim_impl=fused: torch has no fused RMSprop; use train.optim_impl=foreach")
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
                                weight_decay=cfg.weight_decay, **kind)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps,
                                   momentum=cfg.momentum, weight_decay=cfg.weight_decay, **kind)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **kind)


def lr_factor(step: int, steps: int, decay: str, start: float) -> float:
    """The multiplier of the configured learning rates for the generator step after ``step``.

    ``linear`` keeps 1 for the first ``start`` (a fraction) of the ``steps``, then falls linearly so that
    the last step (``steps - 1``) uses ``1 / (steps - s0)`` of the rate, s0 = floor(start * steps): a
    function of the step alone, so a resumed run repeats it.
    """
    s0 = int(start * steps + 1e-9)  # 0.57 * 100 is 56.999...: the step the user meant
    if decay == "none" or step < s0:
        return 1.0
    return (steps - step) / (steps - s0)


def set_lr(optimizer: torch.optim.Optimizer, base: float, factor: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = base * factor
