"""Walks through the latent space: interpolation between latents (lerp and slerp) and label walks.

Spherical interpolation (slerp; Shoemake 1985, recommended for GAN latents by White 2016, "Sampling
Generative Networks") follows the great circle between two points, so the intermediate latents keep
the norm that a high-dimensional Gaussian concentrates on (about sqrt(d)); a straight line (lerp)
passes near the origin, where the prior has almost no mass, and its middle frames look washed out.
Only G's noise units are walked spherically; the InfoGAN/categorical codes that follow them are
interpolated linearly (they are not Gaussian).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch

from gankit.errors import GankitError

METHODS = ("slerp", "lerp")
FORMATS = (".png", ".gif", ".mp4")


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Rows a + t (b - a) for t [T]: [T, d] from a, b [d]."""
    return a[None] + t[:, None] * (b - a)[None]


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation [T, d] from a to b [d] at t [T]: the angle between a and b is swept
    uniformly and the norm goes linearly from |a| to |b|; (anti)parallel vectors fall back to lerp."""
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        return lerp(a, b, t)
    ua, ub = a / na, b / nb
    omega = torch.arccos((ua * ub).sum().clamp(-1.0, 1.0))
    if omega.abs() < 1e-6 or (torch.pi - omega).abs() < 1e-6:
        return lerp(a, b, t)
    so = torch.sin(omega)
    direction = (torch.sin((1 - t) * omega)[:, None] * ua + torch.sin(t * omega)[:, None] * ub) / so
    return direction * ((1 - t) * na + t * nb)[:, None]


def between(a: torch.Tensor, b: torch.Tensor, t: float, z_dim: Optional[int] = None,
            method: str = "slerp") -> torch.Tensor:
    """Rows [n, d] a fraction ``t`` of the way from rows a to rows b [n, d]: the first ``z_dim`` units
    (default all) by ``method``, the rest linearly, as one frame of :func:`interpolate`."""
    k = a.shape[1] if z_dim is None else z_dim
    walk = slerp if method == "slerp" else lerp
    tt = torch.tensor([float(t)], dtype=a.dtype)
    rows = [torch.cat([walk(ra[:k], rb[:k], tt), lerp(ra[k:], rb[k:], tt)], dim=1) for ra, rb in zip(a, b)]
    return torch.cat(rows)


def interpolate(points: torch.Tensor, frames: int, method: str = "slerp", z_dim: Optional[int] = None,
                closed: bool = False) -> torch.Tensor:
    """Latents [(K-1) * (frames - 1) + 1, d] along the path through ``points`` [K, d], ``frames`` per
    leg (endpoints included once). The first ``z_dim`` units (default all) follow ``method``; the
    rest are interpolated linearly. ``closed`` returns to the first point (a loop for an animation)."""
    if method not in METHODS:
        raise GankitError(f"--method {method!r} is not one of {', '.join(METHODS)}")
    if frames < 2:
        raise GankitError(f"--frames must be >= 2 (frames per leg, endpoints included), got {frames}")
    if points.dim() != 2 or len(points) < 2:
        raise GankitError(f"interpolation needs at least two latents, got {len(points)}")
    if closed:
        points = torch.cat([points, points[:1]])
    k = points.shape[1] if z_dim is None else z_dim
    t = torch.linspace(0, 1, frames, dtype=points.dtype)
    walk = slerp if method == "slerp" else lerp
    legs = []
    for i in range(len(points) - 1):
        a, b = points[i], points[i + 1]
        leg = torch.cat([walk(a[:k], b[:k], t), lerp(a[k:], b[k:], t)], dim=1)
        legs.append(leg if i == 0 else leg[1:])
    out = torch.cat(legs)
    return out[:-1] if closed else out


def parse_seeds(text: Union[str, Sequence[int]], flag: str = "--seeds", at_least: int = 1) -> list[int]:
    """``"3,17,42"`` -> [3, 17, 42], with a one-line error naming ``flag``."""
    if not isinstance(text, str):
        seeds = [int(s) for s in text]
    else:
        try:
            seeds = [int(s) for s in text.replace(" ", "").split(",") if s]
        except ValueError:
            raise GankitError(f"{flag} {text!r}: give comma-separated integer seeds, e.g. 3,17,42") from None
    if len(seeds) < at_least:
        raise GankitError(f"{flag} needs at least {at_least} seed{'s' if at_least > 1 else ''}, got {len(seeds)}")
    return seeds


def seed_latents(model: Any, seeds: Sequence[int], label: Any = None,
                 truncation: Optional[float] = None) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """One latent per seed, the same one ``gankit sample --seed S --n 1`` draws: z [K, d], y [K] or None."""
    zs, ys = [], []
    for s in seeds:
        z, y = model.latents(1, seed=int(s), label=label, truncation=truncation)
        zs.append(z)
        ys.append(y)
    return torch.cat(zs), (torch.cat(ys) if ys[0] is not None else None)


def latent_walk(model: Any, seeds: Sequence[int], frames: int = 16, method: str = "slerp", label: Any = None,
                closed: bool = False) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """(z, y) of a walk through the latents of ``seeds``; a conditional model holds one class
    (``label``, default the first seed's drawn class) along the walk."""
    points, y = seed_latents(model, seeds, label)
    z = interpolate(points, frames, method, z_dim=model.G.z_dim, closed=closed)
    if y is not None:
        y = torch.full((len(z),), int(y[0]), dtype=torch.long)
    return z, y


def label_walk(model: Any, seed: int, labels: Optional[Sequence[Any]] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(z, y): one latent held fixed while the class steps through ``labels`` (default every class)."""
    if not model.conditional:
        raise GankitError("--walk-labels needs a conditional model (model.g_cond); this one is unconditional")
    classes = [model.label_index(v) for v in labels] if labels else list(range(model.G.num_classes))
    z, _ = model.latents(1, seed=seed, label=classes[0])
    return z.repeat(len(classes), 1), torch.tensor(classes, dtype=torch.long)


def frames_to_uint8(model: Any, x: torch.Tensor) -> np.ndarray:
    """Generator outputs as uint8 frames [T, H, W, C] (C = 1 or 3)."""
    if model.kind != "image":
        raise GankitError("interpolation pictures need an image model; for vectors write --out FILE.npz")
    return model.to_data(x)


def write_walk(frames: np.ndarray, out: Union[str, Path], fps: int = 8, scale: int = 0,
               nrow: Optional[int] = None) -> Path:
    """Write frames [T, H, W, C] as a strip/grid ``.png``, an animated ``.gif`` (Pillow) or an ``.mp4``
    (imageio with its ffmpeg plugin, the ``explore`` extra). ``scale`` enlarges small images
    (0: to about 128 pixels per side); ``nrow`` frames per row of the PNG (default: all in one row)."""
    from PIL import Image

    out = Path(out)
    if out.suffix not in FORMATS and out.suffix != ".npz":
        raise GankitError(f"--out {out}: the file must end in {', '.join(FORMATS)} or .npz")
    out.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames.shape[1:3]
    scale = scale or max(1, 128 // max(h, w))
    frames = np.repeat(np.repeat(frames, scale, axis=1), scale, axis=2)
    if frames.shape[3] == 1:
        frames = np.repeat(frames, 3, axis=3)
    if out.suffix == ".png":
        from gankit.report.grid import make_grid

        Image.fromarray(make_grid(frames.transpose(0, 3, 1, 2), nrow=nrow or len(frames))).save(out)
    elif out.suffix == ".gif":
        images = [Image.fromarray(f) for f in frames]
        images[0].save(out, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    else:
        try:
            import imageio.v2 as imageio
        except ImportError:
            raise GankitError("writing .mp4 needs imageio and imageio-ffmpeg: pip install 'gankit[explore]' "
                              "(or write a .gif)") from None
        # H.264 wants even sides: pad by one pixel where needed
        H, W = frames.shape[1:3]
        frames = np.pad(frames, ((0, 0), (0, H % 2), (0, W % 2), (0, 0)), mode="edge")
        try:
            imageio.mimwrite(out, list(frames), fps=fps, codec="libx264", quality=8, macro_block_size=1)
        except Exception as exc:  # the ffmpeg plugin missing or failing: say which
            raise GankitError(f"could not write {out} with imageio's ffmpeg plugin ({exc}); "
                              "pip install imageio-ffmpeg, or write a .gif") from None
    return out
