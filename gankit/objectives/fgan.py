"""f-GAN (Nowozin et al. 2016): variational divergence minimization. For an f-divergence D_f(P || Q),
D's raw output v = V(x) passes an output activation T = g_f(v) that keeps it in the domain of f's
convex conjugate f*, and the game is F(G, V) = E_P[g_f(V(x))] - E_Q[f*(g_f(V(G(z))))] (eq. 6),
which V ascends and G descends (saturating, ``g_loss: minimax``), or G ascends E_Q[g_f(V(G(z)))]
(the paper's section 3.2 alternative, ``g_loss: ns``, the default).

Table 2 of the paper, as implemented here (each f*(g_f(v)) in closed form; the exponentials are not
clamped, so kl, hellinger and reverse-kl overflow float32 past |v| ~ 88, which the loop's non-finite
check stops; docs/tricks.md):

=================  ======================  ======================  ==========================
divergence         g_f(v)                  f*(t)                   f*(g_f(v))
=================  ======================  ======================  ==========================
kl                 v                       exp(t - 1)              exp(v - 1)
reverse-kl         -exp(-v)                -1 - log(-t)            v - 1
pearson            v                       t^2 / 4 + t             v^2 / 4 + v
hellinger          1 - exp(-v)             t / (1 - t)             exp(v) - 1
js                 log 2 - log(1 + e^-v)   -log(2 - exp(t))        softplus(v) - log 2
=================  ======================  ======================  ==========================

(hellinger is the squared Hellinger distance; js is the Jensen-Shannon divergence, the paper's
convention, without the original GAN's factor 2 and -log 4.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from gankit.nets.output import DOutput
from gankit.objectives.base import Objective
from gankit.objectives.common import check_param
from gankit.registry import OBJECTIVES

LOG2 = math.log(2.0)

#: divergence -> (g_f(v), f*(g_f(v))), both elementwise on D's raw output v
F_DIVERGENCES: dict[str, tuple[Callable, Callable]] = {
    "kl": (lambda v: v, lambda v: torch.exp(v - 1.0)),
    "reverse-kl": (lambda v: -torch.exp(-v), lambda v: v - 1.0),
    "pearson": (lambda v: v, lambda v: 0.25 * v * v + v),
    "hellinger": (lambda v: 1.0 - torch.exp(-v), lambda v: torch.expm1(v)),
    "js": (lambda v: LOG2 - F.softplus(-v), lambda v: F.softplus(v) - LOG2),
}


def fgan_d_loss(divergence: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """V's loss, to descend: -F = -E_P[g_f(v_real)] + E_Q[f*(g_f(v_fake))]."""
    activation, conjugate = F_DIVERGENCES[divergence]
    return -activation(real).mean() + conjugate(fake).mean()


def fgan_g_loss(divergence: str, fake: torch.Tensor, saturating: bool = False) -> torch.Tensor:
    """G's loss, to descend: -E_Q[f*(g_f(v))] (saturating) or -E_Q[g_f(v)] (the paper's alternative)."""
    activation, conjugate = F_DIVERGENCES[divergence]
    return -(conjugate(fake) if saturating else activation(fake)).mean()


class FGAN(Objective):
    """An f-GAN of one divergence (``divergence``); logs F's estimate as ``f_div`` (V's lower bound
    on D_f(P || Q) at the current V)."""

    divergence = ""
    probabilistic = False

    @dataclass
    class Params:
        g_loss: str = "ns"  # ns: G ascends E_Q[g_f(V)] (the paper's choice) | minimax: G descends F

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        check_param(self.params.g_loss in ("ns", "minimax"), "g_loss", self.params.g_loss,
                    "must be 'ns' or 'minimax'")

    def d_loss(self, real: DOutput, fake: DOutput) -> torch.Tensor:
        return fgan_d_loss(self.divergence, real.logits, fake.logits)

    def g_loss(self, fake: DOutput) -> torch.Tensor:
        return fgan_g_loss(self.divergence, fake.logits, self.params.g_loss == "minimax")

    def d_step(self, *args: Any, **kwargs: Any):
        result = super().d_step(*args, **kwargs)
        result.stats["f_div"] = -result.stats["loss_d"]  # loss_d is the game's, before any term's addition
        return result


def _fgan(divergence: str) -> type:
    return type(f"FGAN_{divergence.replace('-', '_')}", (FGAN,), {
        "divergence": divergence, "__doc__": f"f-GAN, {divergence} divergence (Nowozin et al. 2016, Table 2)."})


OBJECTIVES.register("fgan-kl")(_fgan("kl"))
OBJECTIVES.register("fgan-reverse-kl")(_fgan("reverse-kl"))
OBJECTIVES.register("fgan-js")(_fgan("js"))
OBJECTIVES.register("fgan-pearson")(_fgan("pearson"))
OBJECTIVES.register("fgan-hellinger")(_fgan("hellinger"))
