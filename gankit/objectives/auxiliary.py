"""Auxiliary terms: small loss pieces added to any objective's D and G steps (``objective.terms``).

The base game stays a pure pair of losses; a term (InfoGAN's mutual information, ACGAN's class
loss, ...) is one class and one registry line. Each term says what it adds to D's step and to G's
step, from the typed discriminator outputs and the labels/latents of the batch
(:class:`TermInputs`); it may keep state for checkpoints; and it refuses, when built, a game or a
setup where it has no meaning.

Besides adding losses, a term may change what D sees and what D's targets are, through three small
hooks that the objectives call (one seam instead of an edit per objective):

- ``d_view(real, fake, y, step)``: the inputs of D in D's step (instance noise, DiffAugment, the image
  pool); ``g_view(fake, real, step)``: the inputs of D in G's step (noise and augmentation again, so D
  judges the same kind of input in both steps);
- ``targets(t_real, t_fake, step)``: D's probability targets [B] of the logistic objectives (label
  smoothing, noisy labels); a term that sets ``sets_targets`` is refused by a game without them.

``step`` is the generator step of the iteration (0-based), which the loop hands to the objective
(:meth:`Objective.begin_iteration`); schedules are pure functions of it, so a resume is exact.

Config: ``objective.terms: {NAME: {param: value, ...}}``; each term's ``Params`` dataclass checks its
parameters (unknown keys are errors, as everywhere).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

import torch

from gankit.nets.output import DOutput
from gankit.registry import TERMS


@dataclass
class TermInputs:
    """What a term sees of one step. ``player`` is 'd' or 'g'. ``fake_z``/``fake_y``: the latent and
    the labels G made the fakes from; ``real_out``/``real_y`` in D's step, and in G's step for terms that
    ask for a real batch there (``needs_real_in_g``). ``step``: the iteration's generator step; ``net``:
    the player's network (D in D's step, G in G's step) when the loop told the objective
    (:meth:`Objective.begin_iteration`), else None."""

    player: str
    fake_out: DOutput
    fake_z: Optional[torch.Tensor] = None
    fake_y: Optional[torch.Tensor] = None
    real_out: Optional[DOutput] = None
    real_y: Optional[torch.Tensor] = None
    step: int = 0
    net: Optional[torch.nn.Module] = None


@dataclass
class NoTermParams:
    """Terms without parameters."""


class AuxTerm:
    """Base of the auxiliary terms. Subclasses set ``Params`` and override ``d_loss`` / ``g_loss``,
    each returning ``(loss to add, stats for the log)`` or None when the term adds nothing there."""

    Params: type = NoTermParams
    name: str = ""
    sets_targets: bool = False  # changes D's probability targets: only for games that have them
    needs_real_in_g: bool = False  # reads D's output on a real batch in G's step (feature matching)
    replaces_g_loss: bool = False  # G descends this term alone, not the game's G loss

    def __init__(self, params: Any, objective: Any) -> None:
        self.params = params

    def d_loss(self, inputs: TermInputs) -> Optional[tuple[torch.Tensor, dict]]:
        return None

    def g_loss(self, inputs: TermInputs) -> Optional[tuple[torch.Tensor, dict]]:
        return None

    def d_view(self, real: torch.Tensor, fake: torch.Tensor, y: Optional[torch.Tensor],
               step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """What D sees in its own step: (real, fake), by default unchanged."""
        return real, fake

    def g_view(self, fake: torch.Tensor, real: Optional[torch.Tensor],
               step: int) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """What D sees in G's step: (fake, real or None), by default unchanged."""
        return fake, real

    def targets(self, t_real: torch.Tensor, t_fake: torch.Tensor,
                step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """D's probability targets [B] for the real and the fake batch (1 and 0 unless a term says)."""
        return t_real, t_fake

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def describe(self) -> dict:
        return dataclasses.asdict(self.params)


def build_terms(specs: dict, objective: Any) -> list[AuxTerm]:
    """The terms named in ``specs`` (name -> parameter mapping), in a fixed (sorted) order."""
    from gankit.config import from_dict

    out = []
    for name in sorted(specs):
        cls = TERMS.get(name)
        params = from_dict(dict(specs[name] or {}), cls.Params, f"objective.terms.{name}.")
        term = cls(params, objective)
        term.name = name
        out.append(term)
    return out
