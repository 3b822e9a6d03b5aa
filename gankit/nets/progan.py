"""``progan``: progressive growing of GANs (Karras et al. 2018) as a plan of blocks by resolution.

Both nets are built once at the data's full side, so every parameter exists from step 0 and the
optimizers never change; the step (told by the loop through :func:`gankit.nets.base.tell_step`, kept in
a ``grow_step`` buffer, so it is in every checkpoint and in the EMA copy) chooses which blocks run.
:func:`grow_state` is the schedule, a pure function of the step: ``every`` stable steps at the start
side, then per new side ``fade`` steps of linear fade-in (alpha 0 -> 1) and ``every`` stable steps.

The interface stays at full size (as the official code's "linear" structure): G makes images at the
current side and upsamples them (nearest) to the data's side; D avg-pools its full-size input to the
current side. So the data is fed at the current resolution in one place (D's input), and nearest-up
followed by avg-pool is the identity, so D sees G's images exactly at the side G made them.

G: pixel-normed z -> equalized linear to [C0, b, b] -> conv3x3 (the first block), then per side x2
nearest upsample, two conv3x3; every conv is followed by LeakyReLU(0.2) and pixel norm. toRGB is a 1x1
conv per side; in a fade, rgb = alpha toRGB_new(h) + (1 - alpha) up(toRGB_old(h_prev)); tanh out (the
paper's output is linear: tanh keeps gankit's [-1, 1] contract and commutes with nearest upsampling).
D mirrors it: fromRGB (1x1 conv, LeakyReLU) per side, per side two conv3x3 and a 2x2 avg-pool, in a
fade alpha block(fromRGB_new(x)) + (1 - alpha) fromRGB_old(pool(x)); at the base side minibatch std
(group ``model.mbstd_group``; under DDP each rank's std is over its own slice of the batch),
conv3x3, an equalized linear to C features, and the head. All convs and linears use equalized lr.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn
import torch.nn.functional as F

from gankit.errors import GankitError
from gankit.nets.base import Discriminator, Generator
from gankit.nets.dcgan import resolution_plan
from gankit.nets.output import DOutput
from gankit.nets.progan_layers import EqualConv2d, EqualLinear, MinibatchStd, PixelNorm
from gankit.nets.resnet import channel_plan


def grow_sides(side: int, start: int, arch: str = "progan") -> list[int]:
    """The sides the nets pass through, from ``start`` (0: the plan's base) to ``side``, or the clear error."""
    base, stages = resolution_plan(side, arch)
    sides = [base * 2 ** k for k in range(stages + 1)]
    if start == 0:
        return sides
    if start not in sides:
        raise GankitError(f"config key 'model.grow.start' = {start} is not a side on the way to {side}x{side} "
                          f"(each side doubles); valid: {', '.join(map(str, sides[:-1]))} (or 0 = {base})")
    return sides[sides.index(start):]


def grow_changes_at(step: int, levels: int, every: int, fade: int) -> bool:
    """True when ``step`` begins a fade or ends one (the first step at alpha 1): where ProGAN's official
    code resets the optimizers' state (``reset_opt_for_new_lod``: the level of detail's floor or ceiling changed)."""
    if step == 0:
        return False
    now = grow_state(step, levels, every, fade)
    return now != grow_state(step - 1, levels, every, fade) and now[1] in (0.0, 1.0)


def grow_state(step: int, levels: int, every: int, fade: int) -> tuple[int, float]:
    """(level, alpha) at ``step`` (0-based) for nets of ``levels`` sides: level 0 is the start side;
    alpha in [0, 1] is how far level's new blocks are faded in. ``every`` = 0: no growing (the last
    level, alpha 1). Level k >= 1 begins at step every + (k - 1) (fade + every) and fades for ``fade`` steps."""
    last = levels - 1
    if every == 0 or last == 0:
        return last, 1.0
    if step < every:
        return 0, 1.0
    period = fade + every
    level, into = divmod(step - every, period)
    level += 1
    if level > last:
        return last, 1.0
    alpha = 1.0 if fade == 0 or into >= fade else into / fade
    return level, alpha


class _Growing:
    """What G and D share: the step buffer, the schedule and the current (level, alpha)."""

    sides: list[int]
    every: int
    fade: int
    grow_step: torch.Tensor

    def _setup_growth(self, sides: list[int], every: int, fade: int, reset_optim: bool = False) -> None:
        self.sides, self.every, self.fade, self.reset_optim = sides, every, fade, reset_optim
        self.register_buffer("grow_step", torch.zeros((), dtype=torch.int64))  # what checkpoints keep
        self._step = 0  # the same as a Python int: the blocks that run are chosen without reading a tensor,
        # so torch.export / ONNX and torch.compile see plain control flow

    def set_step(self, step: int) -> None:
        """Set the training step that picks the blocks that run (the loop calls it every iteration)."""
        self.grow_step.fill_(step)
        self._step = int(step)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args)  # type: ignore[misc]
        if prefix + "grow_step" in state_dict:
            self._step = int(state_dict[prefix + "grow_step"])

    def resets_optimizer_at(self, step: int) -> bool:
        """Whether the optimizer of this net's parameters is cleared before ``step`` (``model.grow.reset_optim``)."""
        return self.reset_optim and grow_changes_at(step, len(self.sides), self.every, self.fade)

    def growth(self) -> tuple[int, float]:
        """(level, alpha) now: level indexes ``sides``."""
        return grow_state(self._step, len(self.sides), self.every, self.fade)

    @property
    def current_side(self) -> int:
        return self.sides[self.growth()[0]]


def _conv(c_in: int, c_out: int, kernel: int) -> EqualConv2d:
    return EqualConv2d(c_in, c_out, kernel, padding=kernel // 2)


class ProGANGenerator(_Growing, Generator):
    def __init__(self, shape: tuple, z_dim: int, width: int, max_channels: int = 512, start: int = 0,
                 every: int = 0, fade: int = 0, z_dist: str = "normal", z_categories: int = 0,
                 arch: str = "progan", reset_optim: bool = False, **cond: int) -> None:
        Generator.__init__(self, z_dim, z_dist, z_categories, **cond)
        channels, side, _ = shape
        all_sides = grow_sides(side, 0, arch)
        self._setup_growth(grow_sides(side, start, arch), every, fade, reset_optim)
        chans = channel_plan(width, len(all_sides) - 1, max_channels)
        self.skip = len(all_sides) - len(self.sides)  # sides below the start: their blocks run, never alone
        self.base, self.c0 = all_sides[0], chans[0]
        act = nn.LeakyReLU(0.2)
        self.norm_z = PixelNorm()
        self.project = EqualLinear(self.input_dim, chans[0] * self.base * self.base)
        self.blocks = nn.ModuleList([nn.Sequential(_conv(chans[0], chans[0], 3), act, PixelNorm())])
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            self.blocks.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _conv(c_in, c_out, 3),
                                             act, PixelNorm(), _conv(c_out, c_out, 3), act, PixelNorm()))
        self.to_rgb = nn.ModuleList([_conv(c, channels, 1) for c in chans[self.skip:]])  # one per grow side
        self.side = side

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        level, alpha = self.growth()
        top = self.skip + level  # the last block that runs
        h = self.project(self.norm_z(self.join_labels(z, y))).view(z.shape[0], self.c0, self.base, self.base)
        h = self.blocks[0](self.norm_z(F.leaky_relu(h, 0.2)))  # pixel norm over channels, as on z
        prev = h
        for block in self.blocks[1:top + 1]:
            prev, h = h, block(h)
        rgb = self.to_rgb[level](h)  # [B, C, s, s]
        if alpha < 1.0 and level > 0:
            old = F.interpolate(self.to_rgb[level - 1](prev), scale_factor=2, mode="nearest")
            rgb = torch.lerp(old, rgb, alpha)
        factor = self.side // rgb.shape[-1]
        if factor > 1:
            rgb = F.interpolate(rgb, scale_factor=factor, mode="nearest")
        return torch.tanh(rgb)  # [B, C, H, W] at the data's side


class ProGANDiscriminator(_Growing, Discriminator):
    """``features`` are the [B, C] of the last equalized linear before the head."""

    def __init__(self, shape: tuple, width: int, max_channels: int = 512, start: int = 0, every: int = 0,
                 fade: int = 0, mbstd: int = 4, cond: str = "none", num_classes: int = 0,
                 arch: str = "progan", reset_optim: bool = False) -> None:
        Discriminator.__init__(self)
        channels, side, _ = shape
        channels += self.setup_conditioning(cond, num_classes)
        all_sides = grow_sides(side, 0, arch)
        self._setup_growth(grow_sides(side, start, arch), every, fade, reset_optim)
        chans = channel_plan(width, len(all_sides) - 1, max_channels)  # lowest side first
        self.skip = len(all_sides) - len(self.sides)
        self.base, self.side = all_sides[0], side
        act = nn.LeakyReLU(0.2)
        self.from_rgb = nn.ModuleList([nn.Sequential(_conv(channels, c, 1), act) for c in chans[self.skip:]])
        # blocks[k] takes side all_sides[k] to all_sides[k - 1]; blocks[0] is the final block at the base
        final: list[nn.Module] = [MinibatchStd(mbstd)] if mbstd else []
        self.blocks = nn.ModuleList([nn.Sequential(*final, _conv(chans[0] + bool(mbstd), chans[0], 3), act)])
        for c_low, c_high in zip(chans[:-1], chans[1:]):
            self.blocks.append(nn.Sequential(_conv(c_high, c_high, 3), act, _conv(c_high, c_low, 3), act,
                                             nn.AvgPool2d(2)))
        self.features = nn.Sequential(nn.Flatten(), EqualLinear(chans[0] * self.base * self.base, chans[0]), act)
        self.head = EqualLinear(chans[0], 1)
        self.setup_projection(chans[0])

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> DOutput:
        level, alpha = self.growth()
        top = self.skip + level
        x = self.condition_input(x, y)  # [B, C (+ classes), H, W]
        factor = self.side // self.sides[level]
        if factor > 1:
            x = F.avg_pool2d(x, factor)  # the current side: the one place the data is downsampled
        h = self.from_rgb[level](x)
        if top > 0:
            h = self.blocks[top](h)
            if alpha < 1.0 and level > 0:
                h = torch.lerp(self.from_rgb[level - 1](F.avg_pool2d(x, 2)), h, alpha)
        for block in reversed(self.blocks[1:top]):
            h = block(h)
        phi = self.features(self.blocks[0](h))  # [B, C]
        return DOutput(logits=self.head_logits(self.head, phi, y), features=phi)


def crossfade_reals(x: torch.Tensor, net: _Growing) -> torch.Tensor:
    """Real images [B, C, H, W] at the data's side as ``net`` (a growing G or D) should see them now:
    during a fade, at the current side s, alpha x_s + (1 - alpha) up2(avgpool2(x_s)), the official
    code's ``process_reals``, so the reals fade in like G's images do; upsampled (nearest) back to the
    data's side, which D's avg-pool undoes exactly. Outside a fade ``x`` is returned as it is."""
    level, alpha = net.growth()
    if alpha >= 1.0 or level == 0:
        return x
    factor = net.side // net.sides[level]
    x_s = F.avg_pool2d(x, factor) if factor > 1 else x
    low = F.interpolate(F.avg_pool2d(x_s, 2), scale_factor=2, mode="nearest")
    out = torch.lerp(low, x_s, alpha)
    return F.interpolate(out, scale_factor=factor, mode="nearest") if factor > 1 else out
