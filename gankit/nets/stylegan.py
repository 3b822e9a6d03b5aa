"""``stylegan``: a StyleGAN2-style generator (Karras et al. 2020) as a plan of styled blocks by
resolution, with a ResNet discriminator plus minibatch std (StyleGAN2's D shape). R1, EMA and the
non-saturating loss are the preset's choices.

G: z (joined to y's code with ``model.g_cond=concat``: StyleGAN2-ADA's conditioning) -> mapping ->
w; a learned constant [C0, base, base]; per resolution two :class:`StyledConv` (the first upsamples)
and a :class:`ToRGB` whose images are summed over resolutions (skip architecture), tanh out.
Each conv and ToRGB reads its own w from ``ws`` [B, num_ws, w_dim].

In training, with probability ``style_mixing`` a batch mixes two latents: ws[:, cutoff:] come from a
second z, cutoff uniform in [1, num_ws) (style mixing regularization); ``w_avg`` tracks the mean w
(decay 0.995, training only, not from the mixing latents) for truncation in W:
``G(z, y, psi=0.7)`` or ``G.truncated(z, psi, y)`` make w_avg + psi (w - w_avg) (psi 1 = none).
``G.noise_mode`` ('random' | 'const' | 'none') picks the noise inputs; None (the default) is 'random' in
training and 'const' in eval mode, as NVlabs' generate.py samples: sampling, snapshots and export are then
deterministic and draw nothing from the training RNG (so a resumed run stays exact).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn
import torch.nn.functional as F

from gankit.nets.base import Generator
from gankit.nets.dcgan import resolution_plan
from gankit.nets.resnet import channel_plan
from gankit.nets.style import NOISE_MODES, MappingNetwork, StyledConv, ToRGB

W_AVG_BETA = 0.995


class StyleGenerator(Generator):
    def __init__(self, shape: tuple, z_dim: int, width: int, max_channels: int = 512, mapping_layers: int = 8,
                 mapping_lr_mul: float = 0.01, style_mixing: float = 0.9, style_norm: str = "demod",
                 z_dist: str = "normal", z_categories: int = 0, arch: str = "stylegan", **cond: int) -> None:
        super().__init__(z_dim, z_dist, z_categories, **cond)
        channels, side, _ = shape
        self.base, stages = resolution_plan(side, arch)
        chans = channel_plan(width, stages, max_channels)
        self.w_dim = z_dim
        self.style_mixing = style_mixing
        self.noise_mode: Optional[str] = None  # None: random in training, const in eval
        self.mapping = MappingNetwork(self.input_dim, self.w_dim, mapping_layers, mapping_lr_mul)
        self.register_buffer("w_avg", torch.zeros(self.w_dim))
        self.const = nn.Parameter(torch.randn(1, chans[0], self.base, self.base))
        self.convs = nn.ModuleList([StyledConv(chans[0], chans[0], self.w_dim, self.base, False, style_norm)])
        self.to_rgbs = nn.ModuleList([ToRGB(chans[0], channels, self.w_dim)])
        for i, (c_in, c_out) in enumerate(zip(chans[:-1], chans[1:])):
            s = self.base * 2 ** (i + 1)
            self.convs.append(StyledConv(c_in, c_out, self.w_dim, s, True, style_norm))
            self.convs.append(StyledConv(c_out, c_out, self.w_dim, s, False, style_norm))
            self.to_rgbs.append(ToRGB(c_out, channels, self.w_dim))
        self.num_ws = len(self.convs) + 1  # conv k reads ws[k]; ToRGB at stage i reads the w after its convs

    # ---- the two halves, for exploration (style mixing figures, truncation)
    def mapping_w(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """w [B, w_dim] of latents z [B, latent_dim] (and labels y with concat conditioning)."""
        return self.mapping(self.join_labels(z, y))

    def synthesis(self, ws: torch.Tensor, noise_mode: Optional[str] = None) -> torch.Tensor:
        """ws [B, num_ws, w_dim] -> images [B, C, H, W] in [-1, 1]."""
        mode = noise_mode or self.noise_mode or ("random" if self.training else "const")
        if mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, got {mode!r}")
        h = self.const.expand(ws.shape[0], -1, -1, -1)
        h = self.convs[0](h, ws[:, 0], mode)
        rgb = self.to_rgbs[0](h, ws[:, 1])
        for i, to_rgb in enumerate(self.to_rgbs[1:]):
            h = self.convs[1 + 2 * i](h, ws[:, 1 + 2 * i], mode)
            h = self.convs[2 + 2 * i](h, ws[:, 2 + 2 * i], mode)
            rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False) + to_rgb(h, ws[:, 3 + 2 * i])
        return torch.tanh(rgb)

    def truncate(self, w: torch.Tensor, psi: float) -> torch.Tensor:
        """w_avg + psi (w - w_avg): psi 1 leaves w, psi 0 gives the average w."""
        return w if psi == 1.0 else self.w_avg.lerp(w, psi)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None, psi: float = 1.0) -> torch.Tensor:
        w = self.mapping_w(z, y)  # [B, w_dim]
        if self.training:
            with torch.no_grad():
                self.w_avg.lerp_(w.detach().mean(dim=0), 1.0 - W_AVG_BETA)
        ws = self.truncate(w, psi).unsqueeze(1).repeat(1, self.num_ws, 1)  # [B, num_ws, w_dim]
        if self.training and self.style_mixing > 0 and torch.rand(()) < self.style_mixing:
            cutoff = int(torch.randint(1, self.num_ws, ()))
            z2 = self.sample_z(z.shape[0], device=z.device)
            ws[:, cutoff:] = self.mapping_w(z2, y).unsqueeze(1)
        return self.synthesis(ws)

    def truncated(self, z: torch.Tensor, psi: float, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """G(z, y) with the truncation trick in W (Karras et al. 2019): psi in [0, 1]."""
        return self.forward(z, y, psi=psi)
