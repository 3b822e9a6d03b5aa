"""The original game (Goodfellow et al. 2014) and its non-saturating generator loss."""
from __future__ import annotations

from typing import Any

import torch

from gankit.nets.output import DOutput
from gankit.objectives import terms
from gankit.objectives.base import Objective, StepResult
from gankit.registry import OBJECTIVES


@OBJECTIVES.register("minimax")
class Minimax(Objective):
    """D ascends log D(x) + log(1 - D(G(z))); G descends log(1 - D(G(z))) (saturating)."""

    takes_targets = True
    saturating = True  # G's loss log(1 - D(G(z))) has gradient -D(G(z)) in D's logit: it vanishes when D wins
    _value = None

    def d_loss(self, real: DOutput, fake: DOutput) -> torch.Tensor:
        # V(D, G) of the batch, for the log (the report plots it against -log 4); with label smoothing or
        # noisy labels D's loss is no longer -V, so V is computed from the logits with the hard targets
        self._value = terms.game_value(real.logits.detach(), fake.logits.detach())
        return terms.d_logistic(real.logits, fake.logits, *self.d_targets(real.logits, fake.logits))

    def d_step(self, *args: Any, **kwargs: Any) -> StepResult:
        result = super().d_step(*args, **kwargs)
        if self._value is not None:
            result.stats["game_value"] = self._value
        return result

    def g_loss(self, fake: DOutput) -> torch.Tensor:
        return terms.g_minimax(fake.logits)


@OBJECTIVES.register("ns")
class NonSaturating(Minimax):
    """Same D; G descends -log D(G(z)), whose gradient is strong exactly when D wins."""

    saturating = False

    def g_loss(self, fake: DOutput) -> torch.Tensor:
        return terms.g_nonsaturating(fake.logits)
