"""Helpers shared by several objectives: input gradients of D, and checks on D's kind."""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.nets.output import DOutput


def input_gradient(D: Any, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
    """dD(x)/dx [B, ...] with the graph kept (``create_graph``), so a penalty on it trains D.

    Per-sample gradients come from one backward of the summed logits: each logit depends only on
    its own sample (true for D without BatchNorm, which :func:`forbid_batchnorm` checks).
    """
    x = x.detach().requires_grad_(True)
    logits = D(x, y).logits
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return grad


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
    """Per-sample reconstruction energy ``fn(x, AE(x))`` [B] of an autoencoder D, and D's output."""
    out = D(x, y)
    return fn(x, require_recon(out, objective)), out
