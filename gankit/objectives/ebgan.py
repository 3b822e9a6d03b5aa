"""EBGAN (Zhao et al. 2016): an autoencoder discriminator as an energy, a margin loss, and the
pull-away term that spreads the generator's samples in D's code space."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from gankit.objectives import terms
from gankit.objectives.base import Objective, StepResult
from gankit.objectives.common import check_param, energy
from gankit.registry import OBJECTIVES


@OBJECTIVES.register("ebgan")
class EBGAN(Objective):
    """With the energy E(v) = mean (v - Dec(Enc(v)))^2 (per sample, over elements): D descends
    E[E(x)] + E[max(0, margin - E(G(z)))]; G descends E[E(G(z))] + pt_weight * PT(Enc(G(z))).
    ``d_real``/``d_fake`` in the log are the mean energies; ``pt`` is the pull-away term."""

    @dataclass
    class Params:
        margin: float = 1.0  # m; the energy is a per-element mean, so m does not scale with size
        pt_weight: float = 0.1  # lambda_PT of the paper (EBGAN-PT)

    probabilistic = False

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        check_param(self.params.margin > 0, "margin", self.params.margin, "must be > 0")
        check_param(self.params.pt_weight >= 0, "pt_weight", self.params.pt_weight, "must be >= 0")

    def d_step(self, G: Any, D: Any, real: torch.Tensor, y: Optional[torch.Tensor],
               z: torch.Tensor, last: bool) -> StepResult:
        fake = self.fake_for_d(G, z, y, last)
        real, fake = self.view_for_d(real, fake, y)
        e_real, real_out = energy(D, real, y, terms.mse_reconstruction, self.cfg.name)
        e_fake, fake_out = energy(D, fake, y, terms.mse_reconstruction, self.cfg.name)
        loss = terms.d_energy_margin(e_real, e_fake, self.params.margin)
        return self.with_terms(StepResult(loss, {"loss_d": loss.detach(), "d_real": e_real.mean().detach(),
                                                 "d_fake": e_fake.mean().detach()}), "d", fake_out, z, y, real_out, y)

    def g_step(self, G: Any, D: Any, real: Optional[torch.Tensor], y: Optional[torch.Tensor],
               z: torch.Tensor) -> StepResult:
        fake = self.fake_for_g(G, z, y)
        fake, real = self.view_for_g(fake, real)
        e_fake, out = energy(D, fake, self.fake_y, terms.mse_reconstruction, self.cfg.name)
        if out.features is None:
            raise ValueError("EBGAN's pull-away term needs the encoder's code in DOutput.features")
        pt = terms.pullaway(out.features)
        loss = e_fake.mean() + self.params.pt_weight * pt
        result = StepResult(loss, {"loss_g": loss.detach(), "pt": pt.detach()})
        return self.with_terms(result, "g", out, real_out=self.real_out_for_g_terms(D, real, y), real_y=y)
