"""Helpers shared by several objectives: input gradients of D, packing, and checks on D's kind."""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.objectives import batch_rng
from gankit.nets.output import DOutput
from gankit.nets.tricks import pack_batch


def pack_of(D: Any) -> int:
    """Samples per discriminator output: ``model.d_pack`` for a packed D (PacGAN), else 1."""
    return int(getattr(D, "pack", 1))


def input_gradient(D: Any, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The gradient of each output of D with respect to its own input, with the graph kept
    (``create_graph``), so a penalty on it trains D.

    x [B, ...] -> [B, ...] for a D with one output per sample; for a packed D (p samples per
    output) -> [B / p, p * C, ...], the gradient with respect to each packed input, so that norms
    taken per row are norms per pack. All gradients come from one backward of the summed outputs:
    each output depends only on its own sample or pack (true for D without BatchNorm, which
    :func:`forbid_batchnorm` checks).
    """
    x = x.detach().requires_grad_(True)
    logits = D(x, y).logits
    # Under fp16 the loop's D carries its GradScaler's scale: the gradient of the scaled sum does not
    # underflow in fp16, and dividing it out after gives the true gradient (PyTorch's AMP recipe).
    scale = getattr(D, "grad_scale", None)
    if scale is None:
        (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    else:
        (grad,) = torch.autograd.grad(logits.sum() * scale, x, create_graph=True)
        grad = grad / scale
    pack = pack_of(D)
    if logits.shape[0] * pack != x.shape[0]:
        raise ValueError(f"D gave {logits.shape[0]} outputs for {x.shape[0]} samples in packs of {pack}")
    return pack_batch(grad, pack) if pack > 1 else grad


def penalty_eps(D: Any, n: int, device: torch.device) -> torch.Tensor:
    """Interpolation weights ~ U[0, 1] for ``n`` samples, one per discriminator input: [n] for a
    plain D, [n / p] for a packed D (each pack moves along one line between a real and a fake pack,
    the WGAN-GP construction for the packed D). ``terms.interpolate`` spreads them over the packs."""
    return batch_rng.rand(n // pack_of(D), device=device)


def forbid_batchnorm(D: nn.Module, objective: str) -> None:
    """A gradient penalty is per sample; BatchNorm in D mixes the samples of a batch, which makes
    it ill-defined (Gulrajani et al. 2017, section 4). Refuse it with a fix."""
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules()):
        raise GankitError(f"objective '{objective}' penalizes D's gradient per sample, which BatchNorm "
                          f"in the discriminator makes ill-defined: set model.d_norm=none")


def require_recon(out: DOutput, objective: str) -> torch.Tensor:
    """The reconstruction of an autoencoder discriminator, or an error that says how to get one."""
    if out.recon is None:
        raise GankitError(f"objective '{objective}' needs an autoencoder discriminator: set "
                          f"model.arch=dcgan-ae (images) or mlp-ae (vectors)")
    return out.recon


def check_param(ok: bool, key: str, value: Any, rule: str) -> None:
    """Refuse an out-of-range ``objective.params`` value, naming the key."""
    if not ok:
        raise GankitError(f"config key 'objective.params.{key}' = {value!r} {rule}")


def energy(D: Any, x: torch.Tensor, y: Optional[torch.Tensor], fn: Any,
           objective: str) -> tuple[torch.Tensor, DOutput]:
    """Reconstruction energy ``fn(x, AE(x))`` of an autoencoder D, one per output ([B], or [B / p]
    for a packed D, whose reconstruction is of the packed input), and D's output."""
    out = D(x, y)
    recon = require_recon(out, objective)
    pack = pack_of(D)
    return fn(pack_batch(x, pack) if pack > 1 else x, recon), out
