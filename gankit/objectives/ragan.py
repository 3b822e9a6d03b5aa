"""Relativistic average GAN (Jolicoeur-Martineau 2018), the standard (RaSGAN) form."""
from __future__ import annotations

from typing import Any, Optional

import torch

from gankit.nets.output import DOutput
from gankit.objectives import terms
from gankit.objectives.base import Objective, StepResult
from gankit.registry import OBJECTIVES


@OBJECTIVES.register("ragan")
class RaGAN(Objective):
    """D estimates the probability that real data is more realistic than the average fake:
    D descends E[softplus(-(C(x) - E C(G(z))))] + E[softplus(C(G(z)) - E C(x))], G the same
    with real and fake swapped. G's step therefore needs a real batch (``g_uses_real``)."""

    probabilistic = False  # C(x) is a critic; the probability is relative to the other batch
    g_uses_real = True

    def d_loss(self, real: DOutput, fake: DOutput) -> torch.Tensor:
        return terms.d_relativistic_average(real.logits, fake.logits)

    def g_step(self, G: Any, D: Any, real: Optional[torch.Tensor], y: Optional[torch.Tensor],
               z: torch.Tensor) -> StepResult:
        fake = self.fake_for_g(G, z, y)
        fake, real = self.view_for_g(fake, real)
        real_out = D(real, y)  # D is frozen in G's step: no gradient reaches it
        fake_out = D(fake, self.fake_y)  # the labels the fakes were made for (y is the real batch's)
        loss = terms.g_relativistic_average(real_out.logits, fake_out.logits)
        return self.with_terms(StepResult(loss, {"loss_g": loss.detach()}), "g", fake_out,
                               real_out=real_out, real_y=y)
