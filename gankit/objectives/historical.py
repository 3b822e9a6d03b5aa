"""Historical averaging (Salimans et al. 2016, section 3.3): each player descends
lambda ||theta - (1/t) sum_{i<t} theta_i||^2, the distance of its parameters from their running mean
over its past steps.

The running mean (one flat vector per player, the parameters in ``named_parameters`` order) and the
number of steps it averages are part of the checkpoint, so a resumed run penalizes the same mean.
At a player's first step the mean is just stored (the penalty is 0), as torchgan does. Each call of
the term is one step of that player: the mean is updated with the parameters the step starts from,
after the penalty is taken against the mean of the steps before.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from gankit.errors import GankitError
from gankit.objectives.auxiliary import AuxTerm, TermInputs
from gankit.registry import TERMS


def flat_params(net: torch.nn.Module) -> torch.Tensor:
    """All parameters of ``net`` as one vector [P], with their graph (the penalty trains them)."""
    return torch.cat([p.reshape(-1) for p in net.parameters()])


def historical_penalty(theta: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """||theta - mean||_2^2 over the flat parameter vector."""
    return (theta - mean).pow(2).sum()


@TERMS.register("historical")
class HistoricalAveraging(AuxTerm):
    """Logs ``hist_d`` / ``hist_g``, the unweighted squared distance from the running mean."""

    @dataclass
    class Params:
        weight: float = 1e-3  # lambda, for both players unless d_weight / g_weight say otherwise
        d_weight: Optional[float] = None
        g_weight: Optional[float] = None

    def __init__(self, params: Any, objective: Any) -> None:
        super().__init__(params, objective)
        for key in ("weight", "d_weight", "g_weight"):
            value = getattr(params, key)
            if value is not None and value < 0:
                raise GankitError(f"config key 'objective.terms.historical.{key}' = {value!r} must be >= 0")
        self.mean: dict[str, torch.Tensor] = {}
        self.count: dict[str, int] = {}

    def _weight(self, player: str) -> float:
        own = getattr(self.params, f"{player}_weight")
        return self.params.weight if own is None else own

    def _loss(self, inputs: TermInputs) -> Optional[tuple[torch.Tensor, dict]]:
        player, net = inputs.player, inputs.net
        if self._weight(player) == 0:
            return None
        if net is None:
            raise ValueError("the historical term needs the players' networks: call objective.begin_iteration "
                             "(the training loop does)")
        theta = flat_params(net)
        now = theta.detach()
        if player not in self.mean:
            self.mean[player], self.count[player] = now.clone(), 1
            return theta.new_zeros(()), {f"hist_{player}": 0.0}
        mean = self.mean[player].to(now.device)
        if mean.shape != now.shape:
            raise GankitError(f"objective.terms.historical: the {player.upper()} network has {now.numel()} parameters, "
                              f"its running mean {mean.numel()}; the checkpoint is of another model")
        penalty = historical_penalty(theta, mean)
        n = self.count[player]
        self.mean[player] = mean + (now - mean) / (n + 1)
        self.count[player] = n + 1
        return self._weight(player) * penalty, {f"hist_{player}": penalty.detach()}

    def d_loss(self, inputs: TermInputs) -> Optional[tuple[torch.Tensor, dict]]:
        return self._loss(inputs)

    def g_loss(self, inputs: TermInputs) -> Optional[tuple[torch.Tensor, dict]]:
        return self._loss(inputs)

    def state_dict(self) -> dict:
        return {p: {"mean": self.mean[p], "count": self.count[p]} for p in sorted(self.mean)}

    def load_state_dict(self, state: dict) -> None:
        self.mean = {p: s["mean"].clone() for p, s in state.items()}
        self.count = {p: int(s["count"]) for p, s in state.items()}
