"""BEGAN (Berthelot et al. 2017): an autoencoder discriminator and a proportional controller k_t
that keeps E[L(G(z))] = gamma E[L(x)]."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from gankit.nets.output import DOutput
from gankit.objectives import terms
from gankit.objectives.base import Objective, StepResult
from gankit.objectives.common import check_param, energy
from gankit.registry import OBJECTIVES


@OBJECTIVES.register("began")
class BEGAN(Objective):
    """With L(v) = mean |v - AE(v)| (per sample, over pixels): D descends L(x) - k_t L(G(z)),
    G descends L(G(z)); after each iteration k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)
    with L(x) from the last D step and L(G(z)) from the G step. Logs ``k_t`` (the value the
    iteration's D loss used) and the convergence measure ``m_global`` = L(x) + |gamma L(x) - L(G(z))|.
    ``d_real`` and ``d_fake`` in the log are L(x) and L(G(z)) as D's step saw them.
    k_t is part of the checkpointed state."""

    @dataclass
    class Params:
        gamma: float = 0.5  # diversity ratio E[L(G(z))] / E[L(x)] at equilibrium
        lambda_k: float = 0.001  # the controller's gain
        k_init: float = 0.0

    probabilistic = False

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        p = self.params
        check_param(0 <= p.gamma <= 1, "gamma", p.gamma, "must be in [0, 1]")
        check_param(p.lambda_k >= 0, "lambda_k", p.lambda_k, "must be >= 0")
        check_param(0 <= p.k_init <= 1, "k_init", p.k_init, "must be in [0, 1]")
        self.k = float(p.k_init)
        self._l_real: Optional[float] = None

    def _loss_l1(self, D: Any, x: torch.Tensor, y: Optional[torch.Tensor]) -> tuple[torch.Tensor, DOutput]:
        return energy(D, x, y, terms.l1_reconstruction, self.cfg.name)  # L(v) [B], and D's output

    def d_step(self, G: Any, D: Any, real: torch.Tensor, y: Optional[torch.Tensor],
               z: torch.Tensor, last: bool) -> StepResult:
        fake = self.fake_for_d(G, z, y, last)
        real, fake = self.view_for_d(real, fake, y)
        e_real, real_out = self._loss_l1(D, real, y)
        l_real = e_real.mean()
        e_fake, fake_out = self._loss_l1(D, fake, y)
        l_fake = e_fake.mean()
        loss = terms.d_began(l_real, l_fake, self.k)
        self._l_real = float(l_real.detach())
        return self.with_terms(StepResult(loss, {"loss_d": loss.detach(), "d_real": l_real.detach(),
                                                 "d_fake": l_fake.detach(), "k_t": self.k}),
                               "d", fake_out, z, y, real_out, y)

    def g_step(self, G: Any, D: Any, real: Optional[torch.Tensor], y: Optional[torch.Tensor],
               z: torch.Tensor) -> StepResult:
        fake = self.fake_for_g(G, z, y)
        fake, real = self.view_for_g(fake, real)
        e_fake, fake_out = self._loss_l1(D, fake, self.fake_y)
        loss = e_fake.mean()
        stats = {"loss_g": loss.detach()}
        if self._l_real is not None:
            l_fake = float(loss.detach())
            stats["m_global"] = terms.began_convergence(self._l_real, l_fake, self.params.gamma)
        return self.with_terms(StepResult(loss, stats), "g", fake_out,
                               real_out=self.real_out_for_g_terms(D, real, y), real_y=y)

    def after_g_step(self, stats: dict) -> None:
        # L(x) of the iteration's last D step, L(G(z)) of its G step (the paper's L(G(z_G))).
        self.k = terms.began_k_update(self.k, float(stats["d_real"]), float(stats["loss_g"]),
                                      self.params.gamma, self.params.lambda_k)

    def state_dict(self) -> dict:
        return {"k_t": self.k}

    def load_state_dict(self, state: dict) -> None:
        if "k_t" in state:
            self.k = float(state["k_t"])
