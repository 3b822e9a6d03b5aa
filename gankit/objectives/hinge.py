"""The hinge loss (Lim & Ye 2017, "Geometric GAN"), as SAGAN and BigGAN use it."""
from __future__ import annotations

import torch

from gankit.nets.output import DOutput
from gankit.objectives import terms
from gankit.objectives.base import Objective
from gankit.registry import OBJECTIVES


@OBJECTIVES.register("hinge")
class Hinge(Objective):
    """D descends E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]; G descends -E[D(G(z))]."""

    probabilistic = False

    def d_loss(self, real: DOutput, fake: DOutput) -> torch.Tensor:
        return terms.d_hinge(real.logits, fake.logits)

    def g_loss(self, fake: DOutput) -> torch.Tensor:
        return terms.g_wasserstein(fake.logits)
