"""D's targets: one-sided label smoothing and noisy labels (Salimans et al. 2016; "GAN hacks").

Both change the probability targets of the logistic objectives (``Objective.d_targets``), never the
fakes' loss of G:

- ``label_smoothing``: the real target is ``real`` (0.9 by default) instead of 1; the fakes' target
  stays 0. Salimans et al. smooth only the positives: smoothing the negatives (a target beta > 0 for
  fakes) rewards D for keeping G's samples where they are, wherever the data is absent.
- ``noisy_labels``: each of D's targets is flipped (t -> 1 - t) with probability ``flip``, drawn anew
  every D step from the training RNG (so a resume is exact).

A game without probability targets (WGAN, hinge, LSGAN, the f-GANs, ...) refuses both at build time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from gankit.errors import GankitError
from gankit.objectives import batch_rng
from gankit.objectives.auxiliary import AuxTerm
from gankit.registry import TERMS


def smooth_real_targets(t_real: torch.Tensor, real: float) -> torch.Tensor:
    """One-sided smoothing: every real target t becomes ``real`` * t (1 -> 0.9; a flipped 0 stays 0)."""
    return t_real * real


def flip_targets(t: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """t where ``mask`` is False, 1 - t where it is True (both [B])."""
    return torch.where(mask, 1 - t, t)


def refuse_without_targets(term: str, objective: Any) -> None:
    """A one-line error when ``objective`` has no probability targets for ``term`` to change."""
    if not getattr(objective, "takes_targets", False):
        raise GankitError(no_targets_message(term, objective.cfg.name))


def check_takes_targets(term: str, objective_name: str) -> None:
    """The same refusal from the config alone (``load_config`` says it before anything is built)."""
    from gankit.registry import OBJECTIVES

    if not getattr(OBJECTIVES.get(objective_name), "takes_targets", False):
        raise GankitError(no_targets_message(term, objective_name))


def no_targets_message(term: str, objective_name: str) -> str:
    from gankit.registry import OBJECTIVES

    have = ", ".join(n for n in OBJECTIVES.names() if getattr(OBJECTIVES.get(n), "takes_targets", False))
    return (f"config key 'objective.terms.{term}' has no meaning for objective.name={objective_name}: its D "
            f"is not a classifier with probability targets; use it with {have}, or remove the term")


@TERMS.register("label_smoothing")
class LabelSmoothing(AuxTerm):
    """Real targets ``real`` (default 0.9, the paper's value in its text), fakes' targets 0."""

    sets_targets = True

    @dataclass
    class Params:
        real: float = 0.9  # D's target for real data (1 = off)

    def __init__(self, params: Any, objective: Any) -> None:
        super().__init__(params, objective)
        if not 0.5 < params.real <= 1.0:
            raise GankitError(f"config key 'objective.terms.label_smoothing.real' = {params.real!r} must be in "
                              f"(0.5, 1] (the real target; the paper uses 0.9)")
        refuse_without_targets("label_smoothing", objective)

    def targets(self, t_real: torch.Tensor, t_fake: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return smooth_real_targets(t_real, self.params.real), t_fake


@TERMS.register("noisy_labels")
class NoisyLabels(AuxTerm):
    """Each real and fake target flipped with probability ``flip`` (default 0.05)."""

    sets_targets = True

    @dataclass
    class Params:
        flip: float = 0.05  # fraction of D's targets flipped per step

    def __init__(self, params: Any, objective: Any) -> None:
        super().__init__(params, objective)
        if not 0.0 < params.flip < 0.5:
            raise GankitError(f"config key 'objective.terms.noisy_labels.flip' = {params.flip!r} must be in "
                              f"(0, 0.5) (the fraction of targets flipped)")
        refuse_without_targets("noisy_labels", objective)

    def targets(self, t_real: torch.Tensor, t_fake: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.params.flip
        return (flip_targets(t_real, batch_rng.rand_like(t_real) < p),
                flip_targets(t_fake, batch_rng.rand_like(t_fake) < p))
