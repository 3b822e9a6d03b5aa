"""InfoGAN's mutual-information term (Chen et al. 2016) as an auxiliary term of any objective.

G's latent holds codes (``Generator.sample_z``): a categorical c of K classes (``model.z_categories``,
one-hot) and C continuous codes ~ U[-1, 1] (``model.z_continuous``), in the last K + C columns. D's Q
head predicts them from G(z, c) (:class:`gankit.nets.heads.AuxHeadsDiscriminator`). Both players
descend  weight * CE(Q_cat, c) + continuous * NLL(c_cont | Q's Gaussian); in D's step this trains the
Q head and D's body, in G's step the generator (D is frozen there), as InfoGAN does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import torch

from gankit.errors import GankitError
from gankit.objectives import terms
from gankit.objectives.auxiliary import AuxTerm, TermInputs
from gankit.registry import TERMS


@TERMS.register("info")
class InfoTerm(AuxTerm):
    """Logs ``mi_<player>`` = log K - CE (nats), the variational lower bound on I(c; G(z, c)) for the
    categorical code, and ``nll_cont_<player>``, the Gaussian negative log-likelihood of the
    continuous codes (per sample, summed over the codes)."""

    @dataclass
    class Params:
        weight: float = 1.0  # lambda of the categorical code (the paper: 1)
        continuous: float = 0.1  # lambda of the continuous codes (smaller, as the paper advises)
        fixed_std: float = 0.0  # > 0: Q's Gaussian has this fixed std; 0: Q predicts a log-std

    def __init__(self, params: Any, objective: Any) -> None:
        super().__init__(params, objective)
        for key in ("weight", "continuous"):
            if getattr(params, key) < 0:
                raise GankitError(f"config key 'objective.terms.info.{key}' = {getattr(params, key)!r} must be >= 0")
        if params.fixed_std < 0:
            raise GankitError(f"config key 'objective.terms.info.fixed_std' = {params.fixed_std!r} must be >= 0 "
                              f"(0 = Q learns the std)")

    def _loss(self, inputs: TermInputs) -> tuple[torch.Tensor, dict]:
        out, z, player = inputs.fake_out, inputs.fake_z, inputs.player
        if z is None or (out.code is None and out.code_mean is None):
            raise ValueError("the info term needs D's Q head (build_nets(..., code_head=K / code_continuous=C)) "
                             "and the fakes' latent")
        c = out.code_mean.shape[1] if out.code_mean is not None else 0
        k = out.code.shape[1] if out.code is not None else 0
        end = z.shape[1] - c
        loss = z.new_zeros(())
        stats: dict = {}
        if k:
            ce = terms.info_categorical(out.code, z[:, end - k:end].argmax(dim=1))
            loss = loss + self.params.weight * ce
            stats[f"mi_{player}"] = math.log(k) - ce.detach()
        if c:
            log_std = out.code_log_std
            if log_std is None:
                log_std = torch.full_like(out.code_mean, math.log(self.params.fixed_std or 1.0))
            nll = terms.gaussian_nll(out.code_mean, log_std, z[:, end:])
            loss = loss + self.params.continuous * nll
            stats[f"nll_cont_{player}"] = nll.detach()
        return loss, stats

    def d_loss(self, inputs: TermInputs) -> Optional[tuple[torch.Tensor, dict]]:
        return self._loss(inputs)

    def g_loss(self, inputs: TermInputs) -> Optional[tuple[torch.Tensor, dict]]:
        return self._loss(inputs)
