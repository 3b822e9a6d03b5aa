"""Base classes shared by every architecture: latent sampling and the (x, y) signatures."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from gankit.nets.conditioning import LabelCode, Projection, check_labels, concat_label_input
from gankit.nets.output import DOutput


class Generator(nn.Module):
    """G(z, y=None) -> x. Subclasses implement ``forward``; the first layer reads ``input_dim`` units
    (``join_labels(z, y)``), and their BatchNorms are conditional on ``norm_classes`` classes (0: plain).

    Conditioning (``cond``, ``model.g_cond``): 'none', 'concat' (a one-hot of y, or a learned
    embedding of ``embed_dim`` units, joined to z) or 'cbn' (conditional BatchNorm). A conditional
    G needs y [B]; an unconditional one refuses it."""

    def __init__(self, z_dim: int, z_dist: str = "normal", z_categories: int = 0, z_continuous: int = 0,
                 num_classes: int = 0, cond: str = "none", embed_dim: int = 0, z_std: float = 1.0) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.z_dist = z_dist
        self.z_std = z_std
        self.z_categories = z_categories
        self.z_continuous = z_continuous
        self.cond = cond
        self.num_classes = num_classes if cond != "none" else 0
        if cond != "none" and num_classes < 2:
            raise ValueError(f"a conditional generator needs >= 2 classes, got {num_classes}")
        self.label_code = LabelCode(num_classes, embed_dim) if cond == "concat" else None

    @property
    def latent_dim(self) -> int:
        """Width of z: z_dim noise units, a one-hot code of z_categories units, z_continuous codes."""
        return self.z_dim + self.z_categories + self.z_continuous

    @property
    def input_dim(self) -> int:
        """Width of the first layer's input: z, plus the label code with concat conditioning."""
        return self.latent_dim + (self.label_code.width if self.label_code is not None else 0)

    @property
    def norm_classes(self) -> int:
        """Classes of the conditional BatchNorms (cbn conditioning), else 0."""
        return self.num_classes if self.cond == "cbn" else 0

    def join_labels(self, z: torch.Tensor, y: Optional[torch.Tensor]) -> torch.Tensor:
        """Check y against this G, and join its code to z for concat conditioning: [B, input_dim]."""
        check_labels(self, y, z.shape[0])
        if self.label_code is None:
            return z
        return torch.cat([z, self.label_code(y).to(z.dtype)], dim=1)

    def sample_y(self, n: int, generator: Optional[torch.Generator] = None,
                 device: Optional[torch.device] = None) -> Optional[torch.Tensor]:
        """Labels drawn uniformly from the classes, int64 [n]; None for an unconditional G."""
        if not self.num_classes:
            return None
        device = device or next(self.parameters()).device
        where = "cpu" if generator else device
        return torch.randint(self.num_classes, (n,), generator=generator, device=where).to(device)

    def sample_z(self, n: int, generator: Optional[torch.Generator] = None,
                 device: Optional[torch.device] = None) -> torch.Tensor:
        """Latent codes [n, latent_dim] from the prior: N(0, I) or U[-1, 1] in the first z_dim units
        (times ``z_std``, ``model.z_std``),
        then, with z_categories = K > 0, a one-hot code of a class drawn uniformly from K, then
        z_continuous codes ~ U[-1, 1]; drawn in that order, so the parts that are off change nothing.

        The discrete code lets G make K separate pieces: a continuous latent alone is connected, so G
        must stretch it across the gaps between separate modes, and the samples on those bridges are off
        the data (a mixture-of-Gaussians latent in the spirit of DeLiGAN, Gurumurthy et al. 2017; the
        categorical code of InfoGAN, Chen et al. 2016, without its mutual-information term)."""
        device = device or next(self.parameters()).device
        where = "cpu" if generator else device
        if self.z_dist == "uniform":
            z = torch.rand(n, self.z_dim, generator=generator, device=where) * 2 - 1
        else:
            z = torch.randn(n, self.z_dim, generator=generator, device=where)
        if self.z_std != 1.0:
            z = z * self.z_std
        if self.z_categories:
            c = torch.randint(self.z_categories, (n,), generator=generator, device=where)
            z = torch.cat([z, nn.functional.one_hot(c, self.z_categories).to(z.dtype)], dim=1)
        if self.z_continuous:  # InfoGAN's continuous codes, U[-1, 1] (Chen et al. 2016)
            codes = torch.rand(n, self.z_continuous, generator=generator, device=where) * 2 - 1
            z = torch.cat([z, codes], dim=1)
        return z.to(device)

    def latent_layer(self) -> Optional[nn.Linear]:
        """The linear layer that z enters first (its input is ``join_labels(z, y)``), or None when G has
        none; latent directions (explore.directions, SeFa) factorize its weight."""
        return None

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        raise NotImplementedError

    # ---- virtual batch norm (model.g_norm=vbn): a fixed reference batch run in front of every batch
    def setup_reference(self, size: int) -> None:
        """Draw the reference latents [size, latent_dim] (from the global RNG, once, when G is built),
        keep them as a buffer, and tell every VirtualBatchNorm layer how many rows they are."""
        from gankit.nets.vbn import VirtualBatchNorm

        if self.num_classes:
            raise ValueError("virtual batch norm is not combined with class conditioning yet")
        self.register_buffer("vbn_ref", self.sample_z(size))
        for m in self.modules():
            if isinstance(m, VirtualBatchNorm):
                m.ref_size = size

    def prepend_reference(self, h: torch.Tensor) -> torch.Tensor:
        """[B, D] -> [R + B, D] with the reference latents in front (unchanged without VBN)."""
        ref = getattr(self, "vbn_ref", None)
        return h if ref is None else torch.cat([ref.to(h.dtype), h])

    def drop_reference(self, x: torch.Tensor) -> torch.Tensor:
        """The outputs of the batch itself, without the reference rows."""
        ref = getattr(self, "vbn_ref", None)
        return x if ref is None else x[ref.shape[0]:]


class Discriminator(nn.Module):
    """D(x, y=None) -> DOutput. ``num_classes`` > 0 when D reads labels (``model.d_cond``, or a
    class head that the objective's class term trains); such a D needs y [B]."""

    pack: int = 1  # samples judged together per output (PacGAN packing: nets/tricks.py)
    num_classes: int = 0

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> DOutput:
        raise NotImplementedError

    def setup_conditioning(self, cond: str, num_classes: int) -> int:
        """Record ``model.d_cond`` ('none', 'concat', 'projection'); returns the extra input channels
        (or units) that concat conditioning adds. Call :meth:`setup_projection` once the width of the
        head's features is known."""
        if cond != "none" and num_classes < 2:
            raise ValueError(f"a conditional discriminator needs >= 2 classes, got {num_classes}")
        self.cond = cond
        self.num_classes = num_classes if cond != "none" else 0
        self.projection = None
        return num_classes if cond == "concat" else 0

    def setup_projection(self, features: int) -> None:
        if getattr(self, "cond", "none") == "projection":
            self.projection = Projection(features, self.num_classes)

    def condition_input(self, x: torch.Tensor, y: Optional[torch.Tensor]) -> torch.Tensor:
        """Check y against this D; concat conditioning joins its one-hot to x."""
        check_labels(self, y, x.shape[0])
        return concat_label_input(x, y, self.num_classes) if getattr(self, "cond", "none") == "concat" else x

    def head_logits(self, head: nn.Module, phi: torch.Tensor, y: Optional[torch.Tensor]) -> torch.Tensor:
        """linear(phi) [B], plus the projection term <embed(y), phi> with projection conditioning."""
        out = head(phi).squeeze(1)
        if getattr(self, "projection", None) is not None:
            out = out + self.projection(phi, y)
        return out


@torch.no_grad()
def generate_in_chunks(G: Generator, z: torch.Tensor, y: Optional[torch.Tensor], device: torch.device,
                       batch_size: int = 256) -> torch.Tensor:
    """G(z, y) on CPU tensors z [n, latent_dim] and y [n] (or None), ``batch_size`` rows at a time on
    ``device``; the outputs come back on the CPU. G's train/eval mode is the caller's."""
    out = []
    for start in range(0, len(z), batch_size):
        chunk_y = y[start:start + batch_size].to(device) if y is not None else None
        out.append(G(z[start:start + batch_size].to(device), chunk_y).cpu())
    return torch.cat(out)


def tell_step(module: nn.Module, step: int) -> None:
    """Call ``set_step(step)`` on every submodule of ``module`` that defines it: nets whose blocks are
    a function of the training step (progressive growing, ``nets/progan.py``)."""
    for m in module.modules():
        if callable(getattr(m, "set_step", None)):
            m.set_step(step)


def resets_optimizer_at(module: nn.Module, step: int) -> bool:
    """Whether a submodule of ``module`` asks for its optimizer's state to be cleared before ``step``
    (``resets_optimizer_at``: progressive growing with ``model.grow.reset_optim``)."""
    return any(callable(getattr(m, "resets_optimizer_at", None)) and m.resets_optimizer_at(step)
               for m in module.modules())
