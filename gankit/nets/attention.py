"""Self-attention over the positions of a feature map (SAGAN, Zhang et al. 2018).

query/key: 1x1 convs to C/8 channels; value: a 1x1 conv to C/2; keys and values are 2x2 max-pooled
(a quarter of the positions, as BigGAN-PyTorch and StudioGAN); out = x + gamma * o(attention), with o a
1x1 conv back to C and gamma a learned scalar that starts at 0, so the block starts as the identity.
Costs O((HW)^2 / 4) memory: place it at a middle resolution (16x16 or 32x32 on a CPU).
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class SelfAttention(nn.Module):
    """x [B, C, H, W] -> [B, C, H, W]; C >= 8 and H, W even."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels < 8:
            raise ValueError(f"self-attention needs >= 8 channels (C/8 query/key channels), got {channels}")
        self.channels = channels
        self.query = nn.Conv2d(channels, channels // 8, 1, bias=False)
        self.key = nn.Conv2d(channels, channels // 8, 1, bias=False)
        self.value = nn.Conv2d(channels, channels // 2, 1, bias=False)
        self.out = nn.Conv2d(channels // 2, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The attended values o(...) [B, C, H, W], before the gamma-scaled residual."""
        b, c, h, w = x.shape
        q = self.query(x).flatten(2)  # [B, C/8, HW]
        k = F.max_pool2d(self.key(x), 2).flatten(2)  # [B, C/8, HW/4]
        v = F.max_pool2d(self.value(x), 2).flatten(2)  # [B, C/2, HW/4]
        attn = torch.softmax(torch.bmm(q.transpose(1, 2), k), dim=-1)  # [B, HW, HW/4]
        o = torch.bmm(v, attn.transpose(1, 2)).view(b, c // 2, h, w)  # [B, C/2, H, W]
        return self.out(o)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gamma * self.attention(x)
