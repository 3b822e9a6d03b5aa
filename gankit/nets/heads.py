"""Auxiliary heads on a discriminator's features, reusable with any discriminator.

- InfoGAN's Q head (Chen et al. 2016): Q(c | x) shares D's body; linear layers on D's penultimate
  features (after one shared hidden layer with ``model.q_hidden``, as the paper's Q) predict the
  logits of G's categorical code (``model.z_categories``) and, for its
  continuous codes (``model.z_continuous``), the mean and log-std of a factored Gaussian (or the
  mean alone, with a fixed std). The objective's ``info`` term trains them.
- ACGAN's auxiliary classifier (Odena et al. 2017): logits over the data's classes; the objective's
  ``ac`` term trains it.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.nets.base import Discriminator
from gankit.nets.conditioning import check_labels
from gankit.nets.output import DOutput


class AuxHeadsDiscriminator(Discriminator):
    """inner(x, y) plus heads on its ``features``: ``code`` [B, K] (``head``), ``code_mean`` and
    ``code_log_std`` [B, C] (``cont_head``), ``class_logits`` [B, classes] (``class_head``).

    ``d_shape`` is the per-item input shape of ``inner``: one dry forward pass (eval mode, no
    gradient, no random draw) measures the width of its features. With a class head, this D takes
    labels (the class term needs them) and hands them to ``inner`` only when it reads them itself
    (``model.d_cond``)."""

    def __init__(self, inner: Discriminator, d_shape: tuple, code: int = 0, continuous: int = 0,
                 learn_std: bool = True, classes: int = 0, q_hidden: int = 0) -> None:
        super().__init__()
        self.inner = inner
        self.pack = inner.pack
        self.num_classes = classes or inner.num_classes
        was_training = inner.training
        inner.eval()
        with torch.no_grad():
            probe_y = torch.zeros(2, dtype=torch.long) if inner.num_classes else None
            features = inner(torch.zeros(2, *d_shape), probe_y).features
        inner.train(was_training)
        if features is None:
            raise GankitError(f"the Q head (objective.info) and the class head (the ac term) need a discriminator "
                              f"that returns features; {type(inner).__name__} returns none")
        width = features.shape[1]
        # InfoGAN's Q body: a hidden layer shared by the code heads (model.q_hidden), or none
        self.q_body = None
        if q_hidden and (code or continuous):
            self.q_body = nn.Sequential(nn.Linear(width, q_hidden), nn.LeakyReLU(0.2))
            width = q_hidden
        self.head = nn.Linear(width, code) if code else None
        self.continuous = continuous
        self.cont_head = nn.Linear(width, continuous * (2 if learn_std else 1)) if continuous else None
        self.class_head = nn.Linear(features.shape[1], classes) if classes else None

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> DOutput:
        check_labels(self, y, x.shape[0])
        out = self.inner(x, y if self.inner.num_classes else None)
        q = self.q_body(out.features) if self.q_body is not None else out.features
        if self.head is not None:
            out.code = self.head(q)  # [B, K]
        if self.cont_head is not None:
            pred = self.cont_head(q)  # [B, C] or [B, 2C]
            out.code_mean = pred[:, :self.continuous]
            out.code_log_std = pred[:, self.continuous:] if pred.shape[1] > self.continuous else None
        if self.class_head is not None:
            out.class_logits = self.class_head(out.features)  # [B, classes]
        return out
