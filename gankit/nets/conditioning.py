"""Class conditioning as layers any architecture composes: labels y (int64 [B]) into G and D.

Generator side (``model.g_cond``):
- ``concat``: a one-hot code of y (or a learned embedding of ``model.embed_dim`` units) joined to z
  (Mirza & Osindero 2014).
- ``cbn``: conditional BatchNorm: BatchNorm without its own affine parameters, then a per-class gain
  (starting at 1) and bias (starting at 0) (de Vries et al. 2017; Miyato & Koyama 2018).

Discriminator side (``model.d_cond``):
- ``concat``: y as extra input units (vectors) or one constant one-hot plane per class (images).
- ``projection``: logit = linear(phi) + <embed(y), phi> on the features phi that the linear head
  reads (Miyato & Koyama 2018, eq. 3).
An auxiliary classifier head (ACGAN) is a separate head on D's features: :mod:`gankit.nets.heads`.

A net built without conditioning refuses labels (:func:`check_labels`), and a conditional one
refuses to run without them: a label is never dropped silently.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn
import torch.nn.functional as F

G_CONDITIONING = ("none", "concat", "cbn")
D_CONDITIONING = ("none", "concat", "projection")


def check_labels(module: nn.Module, y: Optional[torch.Tensor], batch: int) -> None:
    """Raise ValueError when ``y`` does not fit ``module`` (``num_classes`` = 0: unconditional)."""
    classes = getattr(module, "num_classes", 0)
    name = type(module).__name__
    if not classes:
        if y is not None:
            raise ValueError(f"{name} is unconditional but was given labels; build it with "
                             f"model.g_cond / model.d_cond to use them")
        return
    if y is None:
        raise ValueError(f"{name} is conditional on {classes} classes and needs labels y [B]")
    if y.dim() != 1 or y.shape[0] != batch:
        raise ValueError(f"{name}: labels must be int64 [{batch}], got {list(y.shape)}")


class LabelCode(nn.Module):
    """y [B] -> [B, width]: one-hot (``embed_dim`` = 0, width = classes) or a learned embedding."""

    def __init__(self, num_classes: int, embed_dim: int = 0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, embed_dim) if embed_dim > 0 else None
        self.width = embed_dim if embed_dim > 0 else num_classes

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if self.embed is not None:
            return self.embed(y)
        return F.one_hot(y, self.num_classes).float()


class ConditionalBatchNorm(nn.Module):
    """BN(x) * gain[y] + bias[y]: BatchNorm without affine parameters, per-class gain (init 1) and
    bias (init 0). ``dims`` = 1 for [B, C] inputs, 2 for [B, C, H, W]."""

    takes_labels = True

    def __init__(self, features: int, num_classes: int, dims: int = 2) -> None:
        super().__init__()
        bn = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        self.bn = bn(features, affine=False)
        self.gain = nn.Embedding(num_classes, features)
        self.bias = nn.Embedding(num_classes, features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.bn(x)
        shape = (x.shape[0], x.shape[1]) + (1,) * (x.dim() - 2)
        return h * self.gain(y).view(shape) + self.bias(y).view(shape)


class CondSequential(nn.Sequential):
    """nn.Sequential whose label-conditioned layers (``takes_labels``) also receive y."""

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:  # type: ignore[override]
        for module in self:
            x = module(x, y) if getattr(module, "takes_labels", False) else module(x)
        return x


def norm_layer(kind: str, features: int, dims: int, num_classes: int = 0) -> nn.Module:
    """BatchNorm (``kind`` = 'batch'), conditional BatchNorm when ``num_classes`` > 0, virtual BatchNorm
    (``kind`` = 'vbn', generators only: :mod:`gankit.nets.vbn`), or identity."""
    if kind == "vbn":
        from gankit.nets.vbn import VirtualBatchNorm

        return VirtualBatchNorm(features)
    if kind != "batch":
        return nn.Identity()
    if num_classes:
        return ConditionalBatchNorm(features, num_classes, dims)
    return nn.BatchNorm1d(features) if dims == 1 else nn.BatchNorm2d(features)


def concat_label_input(x: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """D's concat conditioning: vectors [B, D] -> [B, D + K]; images [B, C, H, W] -> [B, C + K, H, W]
    with one constant plane per class (1 on the plane of the item's class, 0 elsewhere)."""
    onehot = F.one_hot(y, num_classes).to(x.dtype)  # [B, K]
    if x.dim() == 2:
        return torch.cat([x, onehot], dim=1)
    planes = onehot.view(x.shape[0], num_classes, 1, 1).expand(-1, -1, x.shape[2], x.shape[3])
    return torch.cat([x, planes], dim=1)


class Projection(nn.Module):
    """The projection discriminator's class term (Miyato & Koyama 2018, eq. 3): <embed(y), phi> [B]
    on the features phi [B, F] that D's linear head reads; D's logit is linear(phi) + this. The
    embedding starts small (Xavier-uniform), so D starts close to its unconditional self."""

    def __init__(self, features: int, num_classes: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, features)
        nn.init.xavier_uniform_(self.embed.weight)

    def forward(self, phi: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (self.embed(y) * phi).sum(dim=1)
