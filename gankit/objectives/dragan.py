"""DRAGAN (Kodali et al. 2017): the standard GAN with a gradient penalty near the real data."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from gankit.nets.output import DOutput
from gankit.objectives import batch_rng, terms
from gankit.objectives.base import Objective, StepResult
from gankit.objectives.common import check_param, forbid_batchnorm, input_gradient, penalty_eps
from gankit.registry import OBJECTIVES


@OBJECTIVES.register("dragan")
class DRAGAN(Objective):
    """D descends the logistic loss plus lambda E[(||grad D(x_hat)||_2 - 1)^2] at points
    x_hat = x + alpha (x_p - x) between a real batch and its perturbation
    x_p = x + perturb * std(x) * u, u ~ U[0, 1] elementwise, alpha ~ U[0, 1] per sample (as the
    authors' code; per pack, and the norm per pack, with ``model.d_pack``). G descends the non-saturating loss (``g_loss: minimax`` for the saturating one)."""

    @dataclass
    class Params:
        gp_weight: float = 10.0  # lambda
        perturb: float = 0.5  # scale of the noise, in units of the batch's std
        g_loss: str = "ns"  # ns | minimax

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        p = self.params
        check_param(p.gp_weight >= 0, "gp_weight", p.gp_weight, "must be >= 0")
        check_param(p.perturb >= 0, "perturb", p.perturb, "must be >= 0")
        check_param(p.g_loss in ("ns", "minimax"), "g_loss", p.g_loss, "must be 'ns' or 'minimax'")
        self._gp = torch.zeros(())

    takes_targets = True

    def d_loss(self, real: DOutput, fake: DOutput) -> torch.Tensor:
        return terms.d_logistic(real.logits, fake.logits, *self.d_targets(real.logits, fake.logits))

    def g_loss(self, fake: DOutput) -> torch.Tensor:
        if self.params.g_loss == "minimax":
            return terms.g_minimax(fake.logits)
        return terms.g_nonsaturating(fake.logits)

    def d_penalty(self, D: Any, real: torch.Tensor, fake: torch.Tensor,
                  y: Optional[torch.Tensor]) -> torch.Tensor:
        forbid_batchnorm(D, self.cfg.name)
        perturbed = terms.dragan_perturb(real, batch_rng.rand_like(real), self.params.perturb)
        alpha = penalty_eps(D, real.shape[0], real.device)  # [B], or [B / p]: one per pack
        grad = input_gradient(D, terms.interpolate(perturbed, real, alpha), y)
        gp = terms.gradient_penalty(grad)
        self._gp = gp.detach()
        return self.params.gp_weight * gp

    def d_step(self, *args: Any, **kwargs: Any) -> StepResult:
        result = super().d_step(*args, **kwargs)
        result.stats["gp"] = self._gp
        return result
