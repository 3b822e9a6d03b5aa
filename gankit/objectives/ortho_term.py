"""BigGAN's off-diagonal orthogonal regularization (Brock et al. 2019, eq. 3) as an auxiliary term of any
objective, on any net.

For every weight W with >= 2 dimensions (a conv's [O, I, k, k] flattened to [O, I k k]), except
embeddings (the shared class embedding, conditional-BatchNorm and projection embeddings, as BigGAN
excludes its shared embedding), the net's step adds

    weight / 2 * sum_W || (W W^T) * (1 - I) ||_F^2,

whose gradient, weight * 2 ((W W^T) * (1 - I)) W, is the one BigGAN-PyTorch adds to each parameter's
gradient (``utils.ortho``, strength 1e-4): it pushes the rows of W towards orthogonality without
constraining their norms. With spectral norm, the term acts on the stored (unnormalized) weight.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Optional

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.objectives.auxiliary import AuxTerm, TermInputs
from gankit.registry import TERMS


def ortho_weights(net: nn.Module) -> Iterator[torch.Tensor]:
    """The parameters the term acts on: >= 2 dimensions, not an nn.Embedding's."""
    skip = set()
    for m in net.modules():
        if isinstance(m, nn.Embedding):  # all its parameters: an SN-parametrized one keeps its weight in a child
            skip.update(id(p) for p in m.parameters())
    for p in net.parameters():
        if p.dim() >= 2 and id(p) not in skip and p.requires_grad:
            yield p


def off_diagonal_ortho(net: nn.Module) -> torch.Tensor:
    """sum over W of ||(W W^T) * (1 - I)||_F^2 (a 0-dim tensor)."""
    total = None
    for p in ortho_weights(net):
        w = p.flatten(1)  # [O, rest]
        if w.shape[0] > w.shape[1]:
            # ||W W^T||_F^2 = ||W^T W||_F^2, a smaller Gram (the first linear of G is [C b b, z chunk]);
            # the diagonal of W W^T holds the squared row norms
            term = (w.t() @ w).pow(2).sum() - w.pow(2).sum(dim=1).pow(2).sum()
        else:
            gram = w @ w.t()
            term = (gram - torch.diag_embed(torch.diagonal(gram))).pow(2).sum()
        total = term if total is None else total + term
    if total is None:
        raise GankitError(f"the ortho term found no weight matrices in {type(net).__name__}")
    return total


@TERMS.register("ortho")
class OrthoTerm(AuxTerm):
    """Logs ``ortho_g`` / ``ortho_d``: the unweighted sum of squared off-diagonal Gram entries."""

    @dataclass
    class Params:
        weight: float = 1e-4  # BigGAN's strength
        nets: str = "g"  # g | d | both: whose weights (BigGAN: G)

    def __init__(self, params: Any, objective: Any) -> None:
        super().__init__(params, objective)
        if params.weight <= 0:
            raise GankitError(f"config key 'objective.terms.ortho.weight' = {params.weight!r} must be > 0 "
                              f"(remove the term to turn it off)")
        if params.nets not in ("g", "d", "both"):
            raise GankitError(f"config key 'objective.terms.ortho.nets' = {params.nets!r} must be g, d or both")

    def _loss(self, net: Optional[nn.Module], who: str) -> tuple[torch.Tensor, dict]:
        if net is None:
            raise GankitError(f"the ortho term needs {who.upper()} (TermInputs.net), which the loop hands over "
                              f"through Objective.begin_iteration; call it before the step")
        value = off_diagonal_ortho(net)
        return 0.5 * self.params.weight * value, {f"ortho_{who}": value.detach()}

    def d_loss(self, inputs: TermInputs) -> Optional[tuple[torch.Tensor, dict]]:
        return self._loss(inputs.net, "d") if self.params.nets in ("d", "both") else None

    def g_loss(self, inputs: TermInputs) -> Optional[tuple[torch.Tensor, dict]]:
        return self._loss(inputs.net, "g") if self.params.nets in ("g", "both") else None
