"""Minibatch discrimination (Salimans et al. 2016, section 3.2) as a layer any discriminator takes
(``model.d_minibatch`` = B kernels of ``model.d_minibatch_dim`` = C dimensions).

On D's features f(x_i) in R^A: M_i = f(x_i) T with T in R^{A x B x C}; for each kernel b,
c_b(x_i, x_j) = exp(-||M_{i,b} - M_{j,b}||_1), and o(x_i)_b = sum_{j != i} c_b(x_i, x_j) (the official
code leaves the self-pair out; with it, every o would be 1 larger). o(x_i) [B] is appended to the
features that D's linear head reads: the wrapped D's logit becomes linear(f) + linear(o), the same as
one linear head on [f, o]. A batch of near-identical fakes has large o, which D learns to reject.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.nets.base import Discriminator
from gankit.nets.output import DOutput


def minibatch_features(m: torch.Tensor) -> torch.Tensor:
    """o [N, B] from M [N, B, C]: o_ib = sum_{j != i} exp(-sum_c |M_ibc - M_jbc|).

    By broadcasting ([N, N, B, C]), not ``torch.cdist(p=1)``, which is 3x faster on CPU but has no double
    backward, which the gradient penalties (WGAN-GP, DRAGAN, R1, R2) need."""
    l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(dim=3)  # [N, N, B]
    return torch.exp(-l1).sum(dim=1) - 1.0  # the self-pair (distance 0) contributes exp(0) = 1


class MinibatchDiscrimination(nn.Module):
    """f [N, A] -> o [N, kernels]; T ~ N(0, 0.05^2) as the official code's default init scale."""

    def __init__(self, in_features: int, kernels: int, dim: int = 5) -> None:
        super().__init__()
        self.kernels, self.dim = kernels, dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * dim) * 0.05)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        m = (f.flatten(1) @ self.T).view(f.shape[0], self.kernels, self.dim)  # [N, B, C]
        return minibatch_features(m)


class MinibatchDiscriminator(Discriminator):
    """inner(x, y) (x [N, *item_shape]) with the minibatch features of its ``features`` added to its logit through a linear
    head. ``features`` of the output stay the inner D's (feature matching, Q and class heads read them)."""

    def __init__(self, inner: Discriminator, item_shape: tuple, kernels: int, dim: int = 5) -> None:
        super().__init__()
        self.inner = inner
        self.pack = inner.pack
        self.num_classes = inner.num_classes
        was_training = inner.training
        inner.eval()
        with torch.no_grad():
            n = 2 * inner.pack  # two outputs (packs, with model.d_pack) of items of item_shape
            probe_y = torch.zeros(n, dtype=torch.long) if inner.num_classes else None
            features = inner(torch.zeros(n, *item_shape), probe_y).features
        inner.train(was_training)
        if features is None:
            raise GankitError(f"model.d_minibatch needs a discriminator that returns features; "
                              f"{type(inner).__name__} returns none")
        self.minibatch = MinibatchDiscrimination(features.shape[1], kernels, dim)
        self.mb_head = nn.Linear(kernels, 1)
        # o is about N - 1 per kernel for a fresh D (all M close): a zero head lets D start as the inner
        # D (model.init=dcgan then draws it N(0, 0.02), also small); the official code uses a
        # data-dependent init instead
        nn.init.zeros_(self.mb_head.weight)
        nn.init.zeros_(self.mb_head.bias)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> DOutput:
        out = self.inner(x, y)
        out.logits = out.logits + self.mb_head(self.minibatch(out.features)).squeeze(1)
        return out
