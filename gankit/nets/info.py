"""InfoGAN's Q head (Chen et al. 2016), reusable with any discriminator.

Q(c | x) shares D's body: one linear layer on D's penultimate features predicts the logits of the
generator's categorical code c (``model.z_categories`` classes, drawn by ``Generator.sample_z``). The
objective trains it with InfoGAN's mutual-information term (``objective.info``; terms.info_categorical).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.nets.base import Discriminator
from gankit.nets.output import DOutput


class CodeHeadDiscriminator(Discriminator):
    """inner(x) with ``code`` [B, classes] = Linear(features) added to its output.

    ``d_shape`` is the per-item input shape of ``inner``: one dry forward pass (eval mode, no
    gradient, no random draw) measures the width of its features."""

    def __init__(self, inner: Discriminator, d_shape: tuple, classes: int) -> None:
        super().__init__()
        self.inner = inner
        was_training = inner.training
        inner.eval()
        with torch.no_grad():
            features = inner(torch.zeros(2, *d_shape)).features
        inner.train(was_training)
        if features is None:
            raise GankitError(f"objective.info needs a discriminator that returns features for the Q head; "
                              f"{type(inner).__name__} returns none")
        self.head = nn.Linear(features.shape[1], classes)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> DOutput:
        out = self.inner(x, y)
        out.code = self.head(out.features)  # [B, classes]
        return out
