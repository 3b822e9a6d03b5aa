"""Virtual batch normalization (Salimans et al. 2016, section 3.4), a normalization choice of G
(``model.g_norm: vbn``).

A reference batch of latents is drawn once, when G is built, and kept as a buffer (so it is in every
checkpoint and every saved model). G runs it in front of every batch: at each VBN layer the first
``ref_size`` rows are the reference batch, whose statistics (per channel, over the reference rows and
the spatial positions) are computed and **detached** (no gradient flows into them, as decided in
REFERENCES.md 1.12). Each example x is then normalized with its own statistics blended with the
reference ones, with weight 1/(N + 1) for its own (the official code's ``new_coeff``):

    mu = c m(x) + (1 - c) mu_ref,   s = c m(x^2) + (1 - c) s_ref,   c = 1 / (N + 1)
    VBN(x) = gamma (x - mu) / sqrt(s - mu^2 + eps) + beta

with m the mean over x's own spatial positions (x itself for feature vectors). The reference rows are
normalized with the reference statistics alone. An example's output therefore depends on itself and
the fixed reference batch only, never on the other examples of its batch.
"""
from __future__ import annotations

import torch
from torch import nn


def vbn_normalize(x: torch.Tensor, ref_mean: torch.Tensor, ref_meansq: torch.Tensor, n_ref: int,
                  eps: float = 1e-5) -> torch.Tensor:
    """The blended normalization of examples x [B, C, ...] with reference statistics [1, C, 1...]."""
    spatial = tuple(range(2, x.dim()))
    own_mean = x.mean(dim=spatial, keepdim=True) if spatial else x
    own_meansq = x.pow(2).mean(dim=spatial, keepdim=True) if spatial else x.pow(2)
    c = 1.0 / (n_ref + 1)
    mean = c * own_mean + (1 - c) * ref_mean
    meansq = c * own_meansq + (1 - c) * ref_meansq
    return (x - mean) / torch.sqrt((meansq - mean.pow(2)).clamp_min(0) + eps)


class VirtualBatchNorm(nn.Module):
    """VBN over a batch whose first ``ref_size`` rows are the reference batch ([R + B, C] or
    [R + B, C, H, W]); ``ref_size`` is set by the generator that owns the layer."""

    def __init__(self, features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(features))  # gamma
        self.bias = nn.Parameter(torch.zeros(features))  # beta
        self.eps = eps
        self.ref_size = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.ref_size
        if r < 1 or x.shape[0] <= r:
            raise ValueError(f"VirtualBatchNorm expects the {r}-row reference batch in front of the batch, "
                             f"got {x.shape[0]} rows (the generator prepends it)")
        dims = (0,) + tuple(range(2, x.dim()))
        ref = x[:r].detach()
        ref_mean = ref.mean(dim=dims, keepdim=True)  # [1, C, 1...]
        ref_meansq = ref.pow(2).mean(dim=dims, keepdim=True)
        ref_out = (x[:r] - ref_mean) / torch.sqrt((ref_meansq - ref_mean.pow(2)).clamp_min(0) + self.eps)
        out = torch.cat([ref_out, vbn_normalize(x[r:], ref_mean, ref_meansq, r, self.eps)])
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return out * self.weight.view(shape) + self.bias.view(shape)
