"""Feature matching (Salimans et al. 2016, section 3.1): G matches the mean of D's features on real
data, ||E f(x) - E_z f(G(z))||_2^2, with f D's penultimate activations (``DOutput.features``).

The paper's squared L2 norm of the batch means is what gankit uses (its official code takes the mean
absolute difference instead; ``norm: l1`` gives that). The real batch is a fresh one, judged by the
current D in G's step (no gradient reaches D there); its features are constants for G.

``alone: true`` makes this G's whole loss, as in the paper; ``false`` adds it (times ``weight``) to
the game's G loss. D's loss is unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from gankit.errors import GankitError
from gankit.objectives.auxiliary import AuxTerm, TermInputs
from gankit.registry import TERMS


def feature_matching_loss(real_features: torch.Tensor, fake_features: torch.Tensor, norm: str = "l2") -> torch.Tensor:
    """||mean_b f_real - mean_b f_fake||_2^2 (``l2``) or mean_j |mean_b f_real - mean_b f_fake|_j (``l1``,
    the official code's), features [B, F]."""
    diff = real_features.flatten(1).mean(0) - fake_features.flatten(1).mean(0)  # [F]
    return diff.pow(2).sum() if norm == "l2" else diff.abs().mean()


@TERMS.register("feature_matching")
class FeatureMatching(AuxTerm):
    """Logs ``fm``, the unweighted distance of the batch means."""

    needs_real_in_g = True

    @dataclass
    class Params:
        weight: float = 1.0
        alone: bool = False  # true: G descends only this term (the paper's setting)
        norm: str = "l2"  # l2: the paper's squared norm | l1: the official code's mean |difference|

    def __init__(self, params: Any, objective: Any) -> None:
        super().__init__(params, objective)
        if params.weight <= 0:
            raise GankitError(f"config key 'objective.terms.feature_matching.weight' = {params.weight!r} must be > 0")
        if params.norm not in ("l2", "l1"):
            raise GankitError(f"config key 'objective.terms.feature_matching.norm' = {params.norm!r} must be l2 or l1")
        self.replaces_g_loss = bool(params.alone)

    def g_loss(self, inputs: TermInputs) -> Optional[tuple[torch.Tensor, dict]]:
        real_out, fake_out = inputs.real_out, inputs.fake_out
        if real_out is None:
            raise GankitError("objective.terms.feature_matching needs D's output on a real batch in G's step, which "
                              "this objective's G step does not pass (every built-in objective does: a custom g_step must "
                              "pass real_out=self.real_out_for_g_terms(D, real, y) to with_terms)")
        if fake_out.features is None or real_out.features is None:
            raise GankitError("objective.terms.feature_matching needs a discriminator that returns features "
                              "(DOutput.features)")
        fm = feature_matching_loss(real_out.features.detach(), fake_out.features, self.params.norm)
        return self.params.weight * fm, {"fm": fm.detach()}
