"""Small shared building blocks and initialisation."""
from __future__ import annotations

import torch
from torch import nn


def dcgan_init(module: nn.Module) -> None:
    """Radford et al. 2015: weights ~ N(0, 0.02); BatchNorm scale ~ N(1, 0.02), shift 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class OutputActivation(nn.Module):
    """tanh for images in [-1, 1]; identity for unbounded vectors."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.bounded = kind == "image"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x) if self.bounded else x


class Maxout(nn.Module):
    """Maxout units (Goodfellow et al. 2013), the original GAN paper's discriminator units: a linear map to
    ``out_features * pieces`` values, and each unit the max of its ``pieces``: [B, in] -> [B, out]."""

    def __init__(self, in_features: int, out_features: int, pieces: int) -> None:
        super().__init__()
        self.out_features, self.pieces = out_features, pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(x.shape[0], self.out_features, self.pieces).amax(dim=2)
