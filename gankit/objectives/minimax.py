"""The original game (Goodfellow et al. 2014) and its non-saturating generator loss."""
from __future__ import annotations

import torch

from gankit.nets.output import DOutput
from gankit.objectives import terms
from gankit.objectives.base import Objective
from gankit.registry import OBJECTIVES


@OBJECTIVES.register("minimax")
class Minimax(Objective):
    """D ascends log D(x) + log(1 - D(G(z))); G descends log(1 - D(G(z))) (saturating)."""

    takes_targets = True

    def d_loss(self, real: DOutput, fake: DOutput) -> torch.Tensor:
        return terms.d_logistic(real.logits, fake.logits, *self.d_targets(real.logits, fake.logits))

    def g_loss(self, fake: DOutput) -> torch.Tensor:
        return terms.g_minimax(fake.logits)


@OBJECTIVES.register("ns")
class NonSaturating(Minimax):
    """Same D; G descends -log D(G(z)), whose gradient is strong exactly when D wins."""

    def g_loss(self, fake: DOutput) -> torch.Tensor:
        return terms.g_nonsaturating(fake.logits)
