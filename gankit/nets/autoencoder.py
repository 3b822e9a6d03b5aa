"""Autoencoder discriminators for energy-based objectives (BEGAN, EBGAN).

D(x) = Dec(Enc(x)). The encoder is the body of the matching discriminator (MLP or DCGAN) followed by
a linear map to a code of ``code_dim`` units; the decoder is the matching generator, fed the code
instead of z. ``DOutput.recon`` is the reconstruction, ``features`` the code, and ``logits`` minus
the per-sample mean squared reconstruction error (higher = better reconstructed = "more real"),
so that plots of D(x) read the usual way. Objectives compute their own energy from ``recon``.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from gankit.nets.base import Discriminator, Generator
from gankit.nets.conditioning import check_labels
from gankit.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from gankit.nets.mlp import MLPDiscriminator, MLPGenerator
from gankit.nets.output import DOutput


class AutoencoderDiscriminator(Discriminator):
    """Enc -> linear -> code [B, code_dim] -> Dec -> recon, shaped like the input."""

    def __init__(self, encoder: nn.Module, enc_features: int, code_dim: int, decoder: Generator) -> None:
        super().__init__()
        self.encoder = encoder
        self.to_code = nn.Linear(enc_features, code_dim)
        self.decoder = decoder

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> DOutput:
        check_labels(self, y, x.shape[0])
        code = self.to_code(self.encoder(x).flatten(1))  # [B, code_dim]
        recon = self.decoder(code).view_as(x)
        error = (recon - x).pow(2).flatten(1).mean(1)  # [B]
        return DOutput(logits=-error, features=code, recon=recon)


def mlp_autoencoder(shape: tuple, kind: str, width: int, layers: int, code_dim: int,
                    norm: str = "none") -> AutoencoderDiscriminator:
    """MLP encoder (as the MLP discriminator, without its head) and MLP decoder (as the MLP generator)."""
    body = MLPDiscriminator(shape, width, layers, norm).body
    enc_features = width if layers > 0 else math.prod(shape)
    decoder = MLPGenerator(shape, kind, code_dim, width, layers, norm)
    return AutoencoderDiscriminator(nn.Sequential(nn.Flatten(), body), enc_features, code_dim, decoder)


def dcgan_autoencoder(shape: tuple, width: int, code_dim: int, norm: str = "none",
                      max_channels: int = 512) -> AutoencoderDiscriminator:
    """Strided-conv encoder (the DCGAN discriminator's body) and transposed-conv decoder (the DCGAN
    generator, tanh out), both following dcgan's resolution and channel plan."""
    encoder = DCGANDiscriminator(shape, width, norm, max_channels)
    decoder = DCGANGenerator(shape, code_dim, width, norm, max_channels)
    return AutoencoderDiscriminator(encoder.body, encoder.head.in_features, code_dim, decoder)
