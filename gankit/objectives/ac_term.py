"""ACGAN's auxiliary classifier term (Odena et al. 2017) as an auxiliary term of any objective.

D has a class head (:class:`gankit.nets.heads.AuxHeadsDiscriminator`); G is conditional and makes
G(z, y) for the labels y it is asked for. D descends weight * (CE(class(x), y_real) + CE(class(G(z, y)),
y)), G descends weight * CE(class(G(z, y)), y): both want the fakes classified as their label.
``d_fake: false`` drops the fake term from D's loss (D's classifier learns from real data only), the
variant StudioGAN (Kang et al.) found stronger: a D that must classify G's early, poor fakes as their
label rewards G for class-typical artefacts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F

from gankit.errors import GankitError
from gankit.objectives.auxiliary import AuxTerm, TermInputs
from gankit.registry import TERMS


def _class_logits(out: Any) -> torch.Tensor:
    if out.class_logits is None:
        raise ValueError("the ac term needs D's class head (build_nets(..., class_head=True))")
    return out.class_logits


@TERMS.register("ac")
class ClassTerm(AuxTerm):
    """Logs ``ac_d`` / ``ac_g`` (the term's cross-entropies) and ``ac_acc_real``, the class head's
    accuracy on the real batch, and ``ac_acc_fake``, on the fakes (their asked-for labels)."""

    @dataclass
    class Params:
        weight: float = 1.0
        d_fake: bool = True  # D's class loss includes the fakes (Odena et al.); false: real only

    def __init__(self, params: Any, objective: Any) -> None:
        super().__init__(params, objective)
        if params.weight <= 0:
            raise GankitError(f"config key 'objective.terms.ac.weight' = {params.weight!r} must be > 0 "
                              f"(remove the term to turn it off)")

    def d_loss(self, inputs: TermInputs) -> Optional[tuple[torch.Tensor, dict]]:
        real_logits = _class_logits(inputs.real_out)
        ce = F.cross_entropy(real_logits, inputs.real_y)
        stats = {"ac_acc_real": (real_logits.detach().argmax(1) == inputs.real_y).float().mean()}
        if self.params.d_fake:
            ce = ce + F.cross_entropy(_class_logits(inputs.fake_out), inputs.fake_y)
        stats["ac_d"] = ce.detach()
        return self.params.weight * ce, stats

    def g_loss(self, inputs: TermInputs) -> Optional[tuple[torch.Tensor, dict]]:
        logits = _class_logits(inputs.fake_out)
        ce = F.cross_entropy(logits, inputs.fake_y)
        stats = {"ac_g": ce.detach(), "ac_acc_fake": (logits.detach().argmax(1) == inputs.fake_y).float().mean()}
        return self.params.weight * ce, stats
