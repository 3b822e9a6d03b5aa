"""StyleGAN2's path-length regularization (Karras et al. 2020, section 3.2) as a G-side term.

For w = mapping(z) and images x = synthesis(ws), with y ~ N(0, I) / sqrt(H W) an image-shaped random
direction, the Jacobian-vector length a = || J_w^T y ||_2 (the gradient of <x, y> with respect to ws,
squared and summed over w's units, averaged over the num_ws copies, then the square root) should be the
same for every w: G descends  weight * E[(a - mu)^2],  where mu is a running mean of a (decay 0.01,
kept in the checkpoint so a resumed run goes on bitwise). Lazy, as the paper: computed every ``every``
G steps on ``1 / batch_shrink`` of the batch, its weight multiplied by ``every``. The default weight 2
is the paper's. Only for generators with a mapping network (``model.arch: stylegan``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import torch

from gankit.errors import GankitError
from gankit.objectives.auxiliary import AuxTerm, TermInputs
from gankit.registry import TERMS


def path_lengths(G: torch.nn.Module, z: torch.Tensor, y: Optional[torch.Tensor],
                 noise: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(a [B], the noise used): the Jacobian-vector lengths || J_w^T y || of ``G`` at latents ``z``,
    differentiable with respect to G's parameters (create_graph)."""
    w = G.mapping_w(z, y)
    ws = w.unsqueeze(1).repeat(1, G.num_ws, 1)  # [B, num_ws, w_dim]
    x = G.synthesis(ws)
    if noise is None:
        noise = torch.randn_like(x)
    noise = noise / math.sqrt(x.shape[2] * x.shape[3])
    (grad,) = torch.autograd.grad((x * noise).sum(), ws, create_graph=True)
    return grad.square().sum(dim=2).mean(dim=1).sqrt(), noise


@TERMS.register("path_length")
class PathLengthTerm(AuxTerm):
    """Logs ``pl_length`` (mean a of the step) and ``pl_penalty`` on the steps it runs."""

    @dataclass
    class Params:
        weight: float = 2.0  # the paper's
        every: int = 4  # lazy regularization: every k-th G step, the weight times k
        batch_shrink: int = 2  # on batch / batch_shrink samples
        decay: float = 0.01  # of the running mean mu

    def __init__(self, params: Any, objective: Any) -> None:
        super().__init__(params, objective)
        for key, ok, what in (("weight", params.weight >= 0, ">= 0"), ("every", params.every >= 1, ">= 1"),
                              ("batch_shrink", params.batch_shrink >= 1, ">= 1"),
                              ("decay", 0 < params.decay <= 1, "in (0, 1]")):
            if not ok:
                raise GankitError(f"config key 'objective.terms.path_length.{key}' = {getattr(params, key)!r} "
                                  f"must be {what}")
        self.mean = torch.zeros(())  # mu; 0 until the first step, as the paper's pl_mean

    def g_loss(self, inputs: TermInputs) -> Optional[tuple[torch.Tensor, dict]]:
        p = self.params
        if p.weight == 0 or inputs.step % p.every:
            return None
        G = getattr(inputs.net, "module", inputs.net)  # the module under a DDP wrapper
        if G is None or not callable(getattr(G, "mapping_w", None)):
            raise GankitError("objective.terms.path_length needs a generator with a mapping network "
                              "(model.arch=stylegan)")
        z = inputs.fake_z
        if z is None:
            raise ValueError("the path_length term needs the fakes' latent")
        b = max(1, z.shape[0] // p.batch_shrink)
        y = inputs.fake_y[:b] if inputs.fake_y is not None else None
        a, _ = path_lengths(G, z[:b].detach(), y)
        mean = self.mean.to(a.device)
        self.mean = mean = mean + p.decay * (a.detach().mean() - mean)  # stays on a's device: no sync per step
        penalty = (a - mean).square().mean()
        return p.weight * p.every * penalty, {"pl_length": a.detach().mean(), "pl_penalty": penalty.detach()}

    def state_dict(self) -> dict:
        return {"mean": self.mean.clone()}

    def load_state_dict(self, state: dict) -> None:
        if "mean" in state:
            self.mean = state["mean"].clone().float()
