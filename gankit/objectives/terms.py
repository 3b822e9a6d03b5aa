"""Loss terms as small pure functions of discriminator outputs (logits), each testable by hand.

Everything works on logits: log D = -softplus(-l) and log(1 - D) = -softplus(l), with
D = sigmoid(l), so no sigmoid is ever followed by a log.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def d_logistic(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss of Goodfellow et al. 2014, to *descend*:
    -E[log D(x)] - E[log(1 - D(G(z)))] = E[softplus(-l_real)] + E[softplus(l_fake)]."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    """The saturating generator loss of the minimax game, to descend:
    E[log(1 - D(G(z)))] = -E[softplus(l_fake)]. Its gradient vanishes when D rejects the fakes."""
    return -F.softplus(fake_logits).mean()


def g_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss, to descend: -E[log D(G(z))] = E[softplus(-l_fake)]."""
    return F.softplus(-fake_logits).mean()


def game_value(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """V(D, G) = E[log D(x)] + E[log(1 - D(G(z)))]; -log 4 at the global optimum."""
    return -d_logistic(real_logits, fake_logits)
