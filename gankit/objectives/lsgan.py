"""LSGAN (Mao et al. 2017): least-squares losses on a discriminator with a linear output."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from gankit.nets.output import DOutput
from gankit.objectives import terms
from gankit.objectives.base import Objective
from gankit.registry import OBJECTIVES


@OBJECTIVES.register("lsgan")
class LSGAN(Objective):
    """D descends 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2]; G descends 1/2 E[(D(G(z)) - c)^2].
    The defaults are the paper's 0-1 coding (a = 0, b = c = 1); its eq. 9 uses a = -1, b = 1, c = 0."""

    @dataclass
    class Params:
        a: float = 0.0  # D's target for fakes
        b: float = 1.0  # D's target for real data
        c: float = 1.0  # the value G wants D to believe for fakes

    probabilistic = False  # D's output is a raw score regressed onto a and b, not a logit

    def d_loss(self, real: DOutput, fake: DOutput) -> torch.Tensor:
        return terms.d_least_squares(real.logits, fake.logits, self.params.a, self.params.b)

    def g_loss(self, fake: DOutput) -> torch.Tensor:
        return terms.g_least_squares(fake.logits, self.params.c)
