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
    code: [B, K] logits of G's categorical code (InfoGAN's Q head), or None.
    code_mean, code_log_std: [B, C] the Q head's Gaussian over G's continuous codes (log-std None
        when the std is fixed), or None.
    recon: reconstruction of the input (autoencoder discriminators: BEGAN, EBGAN), or None.
    """

    logits: torch.Tensor
    features: Optional[torch.Tensor] = None
    class_logits: Optional[torch.Tensor] = None
    code: Optional[torch.Tensor] = None
    code_mean: Optional[torch.Tensor] = None
    code_log_std: Optional[torch.Tensor] = None
    recon: Optional[torch.Tensor] = None
