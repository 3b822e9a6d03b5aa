"""Instance noise (Sonderby et al. 2016; Arjovsky & Bottou 2017): D judges x + N(0, sigma^2) for real
and fake inputs alike, with sigma annealed to 0, so that early on the two distributions overlap and D's
gradient carries information about where the data is.

sigma is a pure function of the generator step (:func:`noise_std`), so a resumed run draws the same
noise: the noise itself comes from the training RNG, which checkpoints hold. The noise is added in D's
step and in G's step (D must judge G's samples as it was trained to: noisy).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import torch

from gankit.errors import GankitError
from gankit.objectives import batch_rng
from gankit.objectives.auxiliary import AuxTerm
from gankit.registry import TERMS

SCHEDULES = ("linear", "cosine", "constant")


def noise_std(step: int, std: float, steps: int, schedule: str = "linear") -> float:
    """sigma at generator ``step``: from ``std`` at step 0 to 0 at ``steps`` (and after).

    linear: std (1 - step / steps); cosine: std (1 + cos(pi step / steps)) / 2; constant: std until
    ``steps``, then 0."""
    if step >= steps:
        return 0.0
    frac = step / steps
    if schedule == "linear":
        return std * (1.0 - frac)
    if schedule == "cosine":
        return std * 0.5 * (1.0 + math.cos(math.pi * frac))
    return std


@TERMS.register("instance_noise")
class InstanceNoise(AuxTerm):
    """Gaussian noise of the same std on D's real and fake inputs, annealed by ``schedule``."""

    @dataclass
    class Params:
        std: float = 0.1  # sigma at step 0, in the data's units (images in [-1, 1])
        steps: int = 1000  # generator step at which sigma reaches 0
        schedule: str = "linear"  # linear | cosine | constant

    def __init__(self, params: Any, objective: Any) -> None:
        super().__init__(params, objective)
        if params.std <= 0:
            raise GankitError(f"config key 'objective.terms.instance_noise.std' = {params.std!r} must be > 0")
        if params.steps < 1:
            raise GankitError(f"config key 'objective.terms.instance_noise.steps' = {params.steps!r} must be >= 1 "
                              f"(the step at which the noise reaches 0)")
        if params.schedule not in SCHEDULES:
            raise GankitError(f"config key 'objective.terms.instance_noise.schedule' = {params.schedule!r} must be "
                              f"one of {', '.join(SCHEDULES)}")

    def sigma(self, step: int) -> float:
        return noise_std(step, self.params.std, self.params.steps, self.params.schedule)

    def _noisy(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        return x + sigma * batch_rng.randn_like(x) if sigma > 0 else x

    def d_view(self, real: torch.Tensor, fake: torch.Tensor, y: Optional[torch.Tensor],
               step: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.sigma(step)
        return self._noisy(real, s), self._noisy(fake, s)

    def g_view(self, fake: torch.Tensor, real: Optional[torch.Tensor],
               step: int) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        s = self.sigma(step)
        return self._noisy(fake, s), (self._noisy(real, s) if real is not None else None)

    def d_loss(self, inputs: Any) -> Optional[tuple[torch.Tensor, dict]]:
        return inputs.fake_out.logits.new_zeros(()), {"noise_std": self.sigma(inputs.step)}
