"""The crossfade of the real images during a progressive-growing fade (Karras et al. 2018; the official
code's ``process_reals``): while a new side fades in, G's images are alpha new + (1 - alpha) upsampled
old, so D is shown reals blended the same way (``gankit.nets.progan.crossfade_reals``) instead of reals
sharper than anything G can make yet. alpha is the growing D's, a pure function of the step, so a
resumed run repeats it. Needs ``model.arch=progan`` (checked at config time)."""
from __future__ import annotations

from typing import Any, Optional

import torch

from gankit.errors import GankitError
from gankit.nets.progan import crossfade_reals
from gankit.objectives.auxiliary import AuxTerm
from gankit.registry import TERMS


@TERMS.register("fade_reals")
class FadeReals(AuxTerm):
    """Blends D's real inputs (D's step, and G's step when it reads reals) by the growth's alpha."""

    def __init__(self, params: Any, objective: Any) -> None:
        super().__init__(params, objective)
        self.objective = objective

    def _growing_d(self) -> Any:
        D = self.objective._nets.get("d")
        for m in (D.modules() if D is not None else ()):
            if callable(getattr(m, "growth", None)):
                return m
        raise GankitError("objective.terms.fade_reals crossfades the reals of a growing discriminator, but "
                          "this D does not grow; use model.arch=progan or remove the term")

    def d_view(self, real: torch.Tensor, fake: torch.Tensor, y: Optional[torch.Tensor],
               step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return crossfade_reals(real, self._growing_d()), fake

    def g_view(self, fake: torch.Tensor, real: Optional[torch.Tensor],
               step: int) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        return fake, (crossfade_reals(real, self._growing_d()) if real is not None else None)
