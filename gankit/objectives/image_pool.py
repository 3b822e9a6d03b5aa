"""An image history pool for D (Shrivastava et al. 2017, section 2.3; CycleGAN's ImagePool): D's step
judges a batch of fakes in which, once the pool is full, each fake is with probability ``p`` swapped
for one G made in an earlier step (which takes its place in the pool). D then keeps rejecting what G
made before, and G cannot win by oscillating between modes D has forgotten.

The pool (a tensor of up to ``size`` past fakes) is part of the checkpoint, and its draws come from
the training RNG, so a resume is exact. Only D's step sees the pool; G's step judges G's fresh fakes.
A conditional D is refused: a past fake was made for another label than the batch's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from gankit.errors import GankitError
from gankit.objectives.auxiliary import AuxTerm
from gankit.registry import TERMS


def pool_query(pool: Optional[torch.Tensor], fake: torch.Tensor, size: int, p: float,
               draws: torch.Tensor, picks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(the fakes D judges, the new pool), CycleGAN's rule, item by item in batch order: while the pool
    holds fewer than ``size`` items the fake joins it and is judged itself; after, when ``draws[i]`` < p
    the stored item ``picks[i]`` (an index in [0, size)) is judged and the fake replaces it, else the
    fake is judged. ``draws`` [B] ~ U[0, 1) and ``picks`` [B] are given, so the rule is testable."""
    fake = fake.detach()
    out = fake.clone()
    stored = list(pool) if pool is not None else []
    for i in range(fake.shape[0]):
        if len(stored) < size:
            stored.append(fake[i].clone())
        elif float(draws[i]) < p:
            j = int(picks[i])
            out[i] = stored[j]
            stored[j] = fake[i].clone()
    return out, torch.stack(stored)


@TERMS.register("image_pool")
class ImagePool(AuxTerm):
    """Logs ``pool_items``, how many past fakes the pool holds."""

    @dataclass
    class Params:
        size: int = 50  # CycleGAN's pool size
        p: float = 0.5  # chance that a fake is swapped for a past one, once the pool is full

    def __init__(self, params: Any, objective: Any) -> None:
        super().__init__(params, objective)
        if params.size < 1:
            raise GankitError(f"config key 'objective.terms.image_pool.size' = {params.size!r} must be >= 1")
        if not 0.0 < params.p <= 1.0:
            raise GankitError(f"config key 'objective.terms.image_pool.p' = {params.p!r} must be in (0, 1]")
        paired = sorted(set(objective.cfg.term_params()) & {"info", "ac"})
        if paired:
            raise GankitError(f"objective.terms.image_pool cannot be combined with objective.terms.{paired[0]}: that "
                              f"term pairs each fake with the latent or label it was made from, which a past fake "
                              f"in the pool is not")
        self.pool: Optional[torch.Tensor] = None

    def d_view(self, real: torch.Tensor, fake: torch.Tensor, y: Optional[torch.Tensor],
               step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if y is not None:
            raise GankitError("objective.terms.image_pool cannot be used with class conditioning (a past fake was "
                              "made for another label); remove the term or set model.g_cond=none")
        b = fake.shape[0]
        draws = torch.rand(b, device=fake.device)
        picks = torch.randint(self.params.size, (b,), device=fake.device)
        pool = self.pool.to(fake.device) if self.pool is not None else None
        out, self.pool = pool_query(pool, fake, self.params.size, self.params.p, draws, picks)
        return real, out

    def d_loss(self, inputs: Any) -> Optional[tuple[torch.Tensor, dict]]:
        items = 0 if self.pool is None else self.pool.shape[0]
        return inputs.fake_out.logits.new_zeros(()), {"pool_items": items}

    def state_dict(self) -> dict:
        return {"pool": self.pool} if self.pool is not None else {}

    def load_state_dict(self, state: dict) -> None:
        self.pool = state["pool"].clone() if "pool" in state else None
