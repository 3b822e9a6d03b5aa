"""Spectral normalization (Miyato et al. 2018) of every conv, linear and embedding of a network.

Each weight W is divided by an estimate of its largest singular value, kept by one power iteration
per training forward pass. The library does the work (``torch.nn.utils.parametrizations.spectral_norm``):
its power-iteration vectors ``u`` and ``v`` are buffers (``...parametrizations.weight.0._u`` / ``_v``),
so they are in every state dict, hence in checkpoints, and a resumed run continues bitwise exactly.
They are updated only in training mode and without gradient, so an EMA copy or an eval-mode
network uses the stored estimate. The library's version clones u and v before each use, which keeps
D(real), D(fake), one backward() correct (PyTorch issues 55368, 66363, 68327; tested).

Apply it after initialising the weights: an initialiser writing to a parametrized ``m.weight``
writes to a computed tensor and changes nothing (``build_nets`` does init, then SN).
"""
from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

SN_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)


def apply_spectral_norm(module: nn.Module, eps: float = 1e-6) -> nn.Module:
    """Spectrally normalize, in place, the weight of every Conv2d, ConvTranspose2d, Linear and
    Embedding inside ``module`` (the projection embedding and heads too, as in SNGAN and BigGAN).
    BatchNorm, the tables of a conditional BatchNorm, and other layers are left as they are. Returns ``module``. Layers already normalized are
    skipped, so calling it twice is harmless. ``eps`` as StudioGAN (1e-6)."""
    from gankit.nets.conditioning import ConditionalBatchNorm

    # a conditional BatchNorm's per-class gain (1) and bias (0) tables are not weights to normalize: a
    # zero table has no singular value, and dividing the gains by theirs would undo the "starts at 1"
    skip = {id(c) for m in module.modules() if isinstance(m, ConditionalBatchNorm) for c in m.modules()}
    for m in list(module.modules()):
        if isinstance(m, SN_LAYERS) and id(m) not in skip and not parametrize.is_parametrized(m, "weight"):
            # ConvTranspose2d's output channels are dim 1 of its weight
            dim = 1 if isinstance(m, nn.ConvTranspose2d) else 0
            spectral_norm(m, eps=eps, dim=dim)
    return module


def count_spectral_norms(module: nn.Module) -> int:
    """How many weights in ``module`` are spectrally normalized."""
    return sum(1 for m in module.modules() if parametrize.is_parametrized(m, "weight"))
