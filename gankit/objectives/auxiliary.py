"""Auxiliary terms: small loss pieces added to any objective's D and G steps (``objective.terms``).

The base game stays a pure pair of losses; a term (InfoGAN's mutual information, ACGAN's class
loss, ...) is one class and one registry line. Each term says what it adds to D's step and to G's
step, from the typed discriminator outputs and the labels/latents of the batch
(:class:`TermInputs`); it may keep state for checkpoints; and it refuses, when built, a game or a
setup where it has no meaning.

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
    the labels G made the fakes from; ``real_out``/``real_y`` only in D's step; ``g_net``/``d_net``: G and D
    (None where an objective does not hand them over)."""

    player: str
    fake_out: DOutput
    fake_z: Optional[torch.Tensor] = None
    fake_y: Optional[torch.Tensor] = None
    real_out: Optional[DOutput] = None
    real_y: Optional[torch.Tensor] = None
    g_net: Optional[torch.nn.Module] = None  # the players, for terms on their weights (orthogonal regularization)
    d_net: Optional[torch.nn.Module] = None


@dataclass
class NoTermParams:
    """Terms without parameters."""


class AuxTerm:
    """Base of the auxiliary terms. Subclasses set ``Params`` and override ``d_loss`` / ``g_loss``,
    each returning ``(loss to add, stats for the log)`` or None when the term adds nothing there."""

    Params: type = NoTermParams
    name: str = ""

    def __init__(self, params: Any, objective: Any) -> None:
        self.params = params

    def d_loss(self, inputs: TermInputs) -> Optional[tuple[torch.Tensor, dict]]:
        return None

    def g_loss(self, inputs: TermInputs) -> Optional[tuple[torch.Tensor, dict]]:
        return None

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
