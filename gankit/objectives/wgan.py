"""WGAN (Arjovsky et al. 2017): a critic kept K-Lipschitz by clipping its weights to [-c, c]."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from gankit.nets.output import DOutput
from gankit.objectives import terms
from gankit.objectives.base import Objective
from gankit.objectives.common import check_param
from gankit.registry import OBJECTIVES


@OBJECTIVES.register("wgan")
class WGAN(Objective):
    """Critic descends -E[D(x)] + E[D(G(z))]; G descends -E[D(G(z))]; after every critic step each
    critic weight is clamped to [-clip, clip]. The paper's RMSProp (lr 5e-5) and 5 critic steps
    per generator step are set by the presets (``train.d_optim``, ``objective.d_steps``)."""

    @dataclass
    class Params:
        clip: float = 0.01  # c of Algorithm 1

    probabilistic = False

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        check_param(self.params.clip > 0, "clip", self.params.clip, "must be > 0")

    def d_loss(self, real: DOutput, fake: DOutput) -> torch.Tensor:
        return terms.d_wasserstein(real.logits, fake.logits)

    def g_loss(self, fake: DOutput) -> torch.Tensor:
        return terms.g_wasserstein(fake.logits)

    @torch.no_grad()
    def after_d_step(self, D: Any) -> None:
        c = self.params.clip
        for p in D.parameters():
            p.clamp_(-c, c)
