"""ProGAN's layers (Karras et al. 2018), usable by any architecture: minibatch standard deviation,
pixel norm, and equalized learning rate (also StyleGAN's, with a learning-rate multiplier).

Equalized learning rate: the weight is stored as N(0, 1) / lr_mul and scaled at run time by
``lr_mul / sqrt(fan_in)``; the bias is stored / lr_mul and scaled by lr_mul. Every weight then moves at
the same relative speed under Adam whatever its fan-in, and ``lr_mul`` < 1 slows a whole layer (StyleGAN's
mapping network: 0.01).
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F


class PixelNorm(nn.Module):
    """x / sqrt(mean over channels of x^2 + eps): each position's feature vector to unit RMS (dim 1)."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


class MinibatchStd(nn.Module):
    """Appends one feature map: the std over groups of ``group_size`` samples, averaged over channels
    and positions (ProGAN's ``minibatch_stddev_layer``). [B, C, H, W] -> [B, C + 1, H, W]. The group is
    min(group_size, B); B must be a multiple of it. D sees how varied its batch is, so a collapsed
    generator is easier to tell apart."""

    def __init__(self, group_size: int = 4, eps: float = 1e-8) -> None:
        super().__init__()
        self.group_size = group_size
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        g = min(self.group_size, b)
        if b % g:
            g = 1 if b < 2 else math.gcd(b, g)
        y = x.view(g, b // g, c, h, w)  # group k holds samples k, k + B/g, ...
        std = (y.var(dim=0, unbiased=False) + self.eps).sqrt()  # [B/g, C, H, W]
        stat = std.mean(dim=(1, 2, 3)).view(b // g, 1, 1, 1).repeat(g, 1, h, w)  # [B, 1, H, W]
        return torch.cat([x, stat], dim=1)


class EqualLinear(nn.Module):
    """Linear with equalized learning rate: y = x (W * lr_mul / sqrt(in))^T + b * lr_mul."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), bias_init / lr_mul)) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return F.linear(x, self.weight * self.scale, bias)


class EqualConv2d(nn.Module):
    """Conv2d with equalized learning rate: weight scaled by lr_mul / sqrt(in * k * k) at run time."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0,
                 bias: bool = True, lr_mul: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = lr_mul / math.sqrt(in_ch * kernel * kernel)
        self.lr_mul = lr_mul
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return F.conv2d(x, self.weight * self.scale, bias, self.stride, self.padding)
