"""R1 and R2 zero-centred gradient penalties (Mescheder et al. 2018) on the non-saturating GAN,
applied lazily every k iterations as StyleGAN2 does (Karras et al. 2020)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from gankit.objectives import terms
from gankit.objectives.base import Phase, StepResult
from gankit.objectives.common import check_param, forbid_batchnorm, input_gradient
from gankit.objectives.minimax import NonSaturating
from gankit.registry import OBJECTIVES


@OBJECTIVES.register("r1")
class R1(NonSaturating):
    """The NS losses; D also descends gamma/2 E[||grad D(x)||^2] at real points x.

    With ``every`` = k > 1 the penalty is its own phase ``Dreg``, run on every k-th iteration on a
    fresh real batch and multiplied by k, so that on average it weighs what it would each step;
    with k = 1 it is added to every D step's loss."""

    @dataclass
    class Params:
        gamma: float = 10.0
        every: int = 16  # lazy regularization interval k (1 = every D step)

    stat = "r1"  # the log's key for the bare E||grad||^2

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        check_param(self.params.gamma >= 0, "gamma", self.params.gamma, "must be >= 0")
        check_param(self.params.every >= 1, "every", self.params.every, "must be >= 1")
        self._last: Optional[torch.Tensor] = None  # the latest E||grad||^2, for the log

    def schedule(self) -> list[Phase]:
        if self.params.every == 1:
            return super().schedule()
        return [Phase("D", self.cfg.d_steps), Phase("Dreg", 1, every=self.params.every), Phase("G", 1)]

    def penalty_points(self, G: Any, real: torch.Tensor, fake: Optional[torch.Tensor],
                       z: torch.Tensor, y: Optional[torch.Tensor]) -> torch.Tensor:
        return real

    def _penalty(self, D: Any, points: torch.Tensor, y: Optional[torch.Tensor]) -> torch.Tensor:
        forbid_batchnorm(D, self.cfg.name)
        grad = input_gradient(D, points, y)
        self._last = terms.r1_penalty(grad, 2.0).detach()  # gamma = 2: the bare E||grad||^2
        return terms.r1_penalty(grad, self.params.gamma)

    def d_penalty(self, D: Any, real: torch.Tensor, fake: torch.Tensor,
                  y: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        if self.params.every > 1:
            return None
        return self._penalty(D, self.penalty_points(None, real, fake, None, y), y)

    def d_step(self, *args: Any, **kwargs: Any) -> StepResult:
        result = super().d_step(*args, **kwargs)
        if self._last is not None:  # the latest value; lazily it changes every k-th iteration
            result.stats[self.stat] = self._last
        return result

    def dreg_step(self, G: Any, D: Any, real: torch.Tensor, y: Optional[torch.Tensor],
                  z: torch.Tensor, last: bool) -> StepResult:
        points = self.penalty_points(G, real, None, z, y)
        loss = self._penalty(D, points, y) * self.params.every
        return StepResult(loss, {self.stat: self._last})


@OBJECTIVES.register("r2")
class R2(R1):
    """The NS losses; D also descends gamma/2 E[||grad D(G(z))||^2] at generated points."""

    stat = "r2"

    def penalty_points(self, G: Any, real: torch.Tensor, fake: Optional[torch.Tensor],
                       z: torch.Tensor, y: Optional[torch.Tensor]) -> torch.Tensor:
        if fake is not None:
            return fake
        if self._fake is not None:  # the last D step's fakes, kept for the G step
            return self._fake.detach()
        with torch.no_grad():
            return G(z, y)
