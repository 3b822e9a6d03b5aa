"""The typed result of a discriminator, so every objective fits one seam."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


@dataclass
class DOutput:
    """What a discriminator returns.

    logits: [B] real/fake score (a logit for classic GANs, a critic value for WGAN).
    features: [B, F] the penultimate activations (feature matching, metrics), or None.
    class_logits: [B, K] auxiliary classifier head (ACGAN), or None.
    code: [B, C] latent-code predictions (InfoGAN's Q head), or None.
    recon: reconstruction of the input (autoencoder discriminators: BEGAN, EBGAN), or None.
    """

    logits: torch.Tensor
    features: Optional[torch.Tensor] = None
    class_logits: Optional[torch.Tensor] = None
    code: Optional[torch.Tensor] = None
    recon: Optional[torch.Tensor] = None
