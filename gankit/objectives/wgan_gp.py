"""WGAN-GP (Gulrajani et al. 2017): the WGAN losses with a gradient penalty instead of clipping."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from gankit.nets.output import DOutput
from gankit.objectives import terms
from gankit.objectives.base import Objective, StepResult
from gankit.objectives.common import check_param, forbid_batchnorm, input_gradient, penalty_eps
from gankit.registry import OBJECTIVES


@OBJECTIVES.register("wgan-gp")
class WGANGP(Objective):
    """Critic descends -E[D(x)] + E[D(G(z))] + lambda E[(||grad D(x_hat)||_2 - 1)^2] with
    x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per sample (Algorithm 1; per pack, and the norm per
    pack, with ``model.d_pack``); G descends -E[D(G(z))]. ``drift`` = epsilon > 0 adds ProGAN's drift
    term epsilon E[D(x)^2] to the critic's loss (Karras et al. 2018 use 0.001).
    The paper's Adam (lr 1e-4, betas (0, 0.9)) and 5 critic steps are set by the presets."""

    @dataclass
    class Params:
        gp_weight: float = 10.0  # lambda
        target: float = 1.0  # the norm the penalty pulls toward (1 = 1-Lipschitz)
        drift: float = 0.0  # epsilon of ProGAN's drift term epsilon E[D(x)^2] (0 = off; ProGAN: 0.001)

    probabilistic = False

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        check_param(self.params.gp_weight >= 0, "gp_weight", self.params.gp_weight, "must be >= 0")
        check_param(self.params.drift >= 0, "drift", self.params.drift, "must be >= 0 (0 = no drift term)")
        self._gp = torch.zeros(())

    def d_loss(self, real: DOutput, fake: DOutput) -> torch.Tensor:
        loss = terms.d_wasserstein(real.logits, fake.logits)
        if self.params.drift:
            loss = loss + self.params.drift * terms.drift_penalty(real.logits)
        return loss

    def g_loss(self, fake: DOutput) -> torch.Tensor:
        return terms.g_wasserstein(fake.logits)

    def d_penalty(self, D: Any, real: torch.Tensor, fake: torch.Tensor,
                  y: Optional[torch.Tensor]) -> torch.Tensor:
        forbid_batchnorm(D, self.cfg.name)
        eps = penalty_eps(D, real.shape[0], real.device)  # [B], or [B / p]: one per pack
        grad = input_gradient(D, terms.interpolate(real, fake, eps), y)
        gp = terms.gradient_penalty(grad, self.params.target)
        self._gp = gp.detach()
        return self.params.gp_weight * gp

    def d_step(self, *args: Any, **kwargs: Any) -> StepResult:
        result = super().d_step(*args, **kwargs)
        result.stats["gp"] = self._gp  # E[(||grad|| - 1)^2], before the weight
        return result
