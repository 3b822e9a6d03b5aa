"""StyleGAN's layers (Karras et al. 2019, 2020), pure PyTorch: nothing compiled, nothing at import.

- :class:`MappingNetwork`: pixel norm on z, then ``layers`` equalized-lr linear layers with leaky ReLU
  (lr multiplier 0.01): z -> w.
- :func:`modulated_conv2d`: the weight scaled per sample and input channel by the style s, then
  (optionally) demodulated, d = rsqrt(sum over in, kh, kw of (w s)^2 + 1e-8). Two paths that compute
  the same thing (tested): ``fused`` as one grouped convolution with per-sample weights (groups = B),
  and the non-fused one, x * s -> an ordinary conv with the shared weight -> * d, whose weights are
  static (what export uses, and the default in training).
- :class:`NoiseInjection`: x + strength[c] * noise, a learned strength per channel starting at 0;
  ``noise_mode`` 'random' (a fresh N(0, 1) map per sample), 'const' (a fixed map stored as a buffer:
  deterministic export) or 'none'.
- :class:`AdaIN`: StyleGAN 1's adaptive instance norm, y_s * (x - mu(x)) / sigma(x) + y_b, with
  (y_s, y_b) an affine map of w (y_s starts at 1).
- :class:`StyledConv` and :class:`ToRGB`: a conv layer of the synthesis network in either style
  (``style_norm`` 'demod' or 'adain'), and the 1x1 modulated conv without demodulation to the image.
Upsampling is bilinear before the 3x3 conv (not StyleGAN2's transposed conv + FIR blur).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn
import torch.nn.functional as F

from gankit.nets.progan_layers import EqualConv2d, EqualLinear, PixelNorm

NOISE_MODES = ("random", "const", "none")


def lrelu_gain(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU (0.2) times sqrt(2), which keeps the second moment of a standard normal input."""
    return F.leaky_relu(x, 0.2) * math.sqrt(2.0)


class MappingNetwork(nn.Module):
    """z [B, in_dim] -> w [B, w_dim]: PixelNorm, then ``layers`` EqualLinear + leaky ReLU."""

    def __init__(self, in_dim: int, w_dim: int, layers: int = 8, lr_mul: float = 0.01) -> None:
        super().__init__()
        self.norm = PixelNorm()
        dims = [in_dim] + [w_dim] * layers
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_mul=lr_mul) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.norm(z)
        for layer in self.layers:
            h = lrelu_gain(layer(h))
        return h


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     padding: int = 0, fused: bool = False) -> torch.Tensor:
    """x [B, I, H, W], weight [O, I, k, k] (already scaled), styles [B, I] -> [B, O, H', W']."""
    b, i, h, w = x.shape
    o = weight.shape[0]
    if fused:
        wts = weight[None] * styles[:, None, :, None, None]  # [B, O, I, k, k]
        if demodulate:
            wts = wts * torch.rsqrt(wts.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        out = F.conv2d(x.reshape(1, b * i, h, w), wts.reshape(b * o, i, *weight.shape[2:]), padding=padding,
                       groups=b)
        return out.reshape(b, o, *out.shape[2:])
    out = F.conv2d(x * styles[:, :, None, None], weight, padding=padding)
    if demodulate:
        # sum over I, kh, kw of (w s)^2 = (s^2) @ (sum over kh, kw of w^2)^T
        d = torch.rsqrt(styles.pow(2) @ weight.pow(2).sum(dim=(2, 3)).t() + 1e-8)  # [B, O]
        out = out * d[:, :, None, None]
    return out


class ModulatedConv2d(nn.Module):
    """A k x k conv modulated by w: the style s = affine(w) [B, I] starts at 1 (bias init 1).
    ``fused``: False (default) = the non-fused path (static weights: training and export); True = one grouped
    conv with per-sample weights (batch-1 inference); None = grouped in eval mode, non-fused in training."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, w_dim: int, demodulate: bool = True,
                 upsample: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.scale = 1.0 / math.sqrt(in_ch * kernel * kernel)
        self.modulation = EqualLinear(w_dim, in_ch, bias_init=1.0)
        self.demodulate, self.upsample, self.padding = demodulate, upsample, kernel // 2
        self.fused: Optional[bool] = False

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        fused = (not self.training) if self.fused is None else self.fused
        return modulated_conv2d(x, self.weight * self.scale, self.modulation(w), self.demodulate, self.padding,
                                fused)


class NoiseInjection(nn.Module):
    """x [B, C, H, W] + strength [C] * noise [B, 1, H, W]; strength starts at 0. ``side`` sizes the
    fixed map of 'const' mode (a buffer, so it is in checkpoints)."""

    def __init__(self, channels: int, side: int) -> None:
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(channels))
        self.register_buffer("const_noise", torch.randn(1, 1, side, side))

    def forward(self, x: torch.Tensor, noise_mode: str = "random",
                noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        if noise is None:
            if noise_mode == "none":
                return x
            if noise_mode == "const":
                noise = self.const_noise
            else:
                noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        return x + self.strength.view(1, -1, 1, 1) * noise


class AdaIN(nn.Module):
    """StyleGAN 1's AdaIN: y_s * (x - mu(x)) / sigma(x) + y_b, per sample and channel (instance norm,
    eps 1e-8 as the paper's code), with [y_s, y_b] = affine(w); y_s starts at 1, y_b at 0."""

    def __init__(self, channels: int, w_dim: int) -> None:
        super().__init__()
        self.channels = channels
        self.style = EqualLinear(w_dim, 2 * channels)
        with torch.no_grad():
            self.style.bias[:channels] = 1.0 / self.style.lr_mul

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = self.style(w)  # [B, 2C]
        y_s, y_b = s[:, :self.channels, None, None], s[:, self.channels:, None, None]
        mu = x.mean(dim=(2, 3), keepdim=True)
        sigma = (x.var(dim=(2, 3), unbiased=False, keepdim=True) + 1e-8).sqrt()
        return y_s * (x - mu) / sigma + y_b


class StyledConv(nn.Module):
    """One 3x3 conv of the synthesis network at side ``side`` (after the optional 2x upsampling):
    'demod': modulated conv -> noise -> bias, leaky ReLU; 'adain': conv -> noise -> bias, leaky ReLU -> AdaIN."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, side: int, upsample: bool = False,
                 style_norm: str = "demod") -> None:
        super().__init__()
        self.style_norm = style_norm
        self.upsample = upsample
        if style_norm == "demod":
            self.conv = ModulatedConv2d(in_ch, out_ch, 3, w_dim, demodulate=True, upsample=upsample)
        else:
            self.conv = EqualConv2d(in_ch, out_ch, 3, padding=1, bias=False)
            self.adain = AdaIN(out_ch, w_dim)
        self.noise = NoiseInjection(out_ch, side)
        self.bias = nn.Parameter(torch.zeros(out_ch))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        if self.style_norm == "demod":
            h = self.conv(x, w)
        else:
            if self.upsample:
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            h = self.conv(x)
        h = lrelu_gain(self.noise(h, noise_mode) + self.bias.view(1, -1, 1, 1))
        return self.adain(h, w) if self.style_norm == "adain" else h


class ToRGB(nn.Module):
    """features [B, C, H, W] -> image channels, a modulated 1x1 conv without demodulation, plus a bias."""

    def __init__(self, in_ch: int, channels: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias.view(1, -1, 1, 1)
