"""Mode coverage on mixtures of Gaussians: modes captured, high-quality samples, KL to uniform.

The protocol of the classic mode-collapse test (docs/benchmarks.md section 1) as defined by
VEEGAN (Srivastava et al. 2017, section 5.1) and used by PacGAN (Lin et al. 2018, Table 1):

- a sample is *high quality* if it lies within ``threshold`` (3) standard deviations of its nearest
  mixture mean (Euclidean distance);
- a mode is *captured* if it is the nearest mean of at least one high-quality sample;
- ``kl`` is KL(p || uniform) between the histogram p of the nearest modes of the high-quality samples
  and the uniform distribution over the M modes: sum_i p_i log(p_i M) over p_i > 0 (0 = perfectly
  balanced, log M = everything in one mode).

Even a perfect sampler scores below 100% high quality: in 2D the 3-std disc holds 1 - exp(-4.5), about
98.9% of a Gaussian's mass. A generator can score more by making its modes tighter than the data's, which
the protocol does not penalize; ``spread`` shows it: the root-mean-square offset of the high-quality samples
from their nearest mean, per coordinate, in units of ``std`` (a perfect sampler: :func:`perfect_spread`,
about 0.974 in 2D; 0 = every sample on a mean).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

import numpy as np
import torch


def _as_float64(x: Any, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x),
                        dtype=torch.float64)
    if t.dim() != 2:
        raise ValueError(f"{name} must be a 2-d array [N, D], got shape {list(t.shape)}")
    return t


def mode_metrics(samples: Any, modes: Any, std: float, threshold: float = 3.0) -> dict:
    """Mode coverage of ``samples`` on a mixture with means ``modes`` and per-mode std ``std``.

    Args:
        samples: generated points, array or tensor [N, D].
        modes: the mixture's means, array or tensor [M, D].
        std: the per-component standard deviation of the mixture.
        threshold: a sample is high quality within ``threshold * std`` of its nearest mean.

    Returns:
        ``{"modes": captured modes (int), "n_modes": M, "high_quality": fraction of samples in [0, 1],
        "kl": KL(histogram of HQ samples' nearest modes || uniform) or None without an HQ sample,
        "counts": HQ samples per mode (list of M ints), "spread": RMS per-coordinate offset of the HQ
        samples from their nearest mean over ``std`` (None without an HQ sample), "n": N,
        "threshold": threshold, "std": std}``. Computed in float64.
    """
    x = _as_float64(samples, "samples")  # [N, D]
    mu = _as_float64(modes, "modes")  # [M, D]
    if x.shape[1] != mu.shape[1]:
        raise ValueError(f"samples have dimension {x.shape[1]} but modes have {mu.shape[1]}")
    if std <= 0 or threshold <= 0:
        raise ValueError(f"std and threshold must be > 0, got std={std}, threshold={threshold}")
    n, m = x.shape[0], mu.shape[0]
    if n == 0:
        return {"modes": 0, "n_modes": m, "high_quality": 0.0, "kl": None, "counts": [0] * m,
                "spread": None, "n": 0, "threshold": threshold, "std": float(std)}
    # Non-finite samples (a diverged G) are never high quality.
    finite = torch.isfinite(x).all(dim=1)  # [N]
    dist = torch.cdist(torch.where(finite[:, None], x, torch.zeros_like(x)), mu)  # [N, M]
    nearest_dist, nearest = dist.min(dim=1)  # [N], [N]
    hq = finite & (nearest_dist <= threshold * std)  # [N]
    counts = torch.bincount(nearest[hq], minlength=m)  # [M]
    n_hq = int(hq.sum())
    kl: Optional[float] = None
    spread: Optional[float] = None
    if n_hq > 0:
        p = counts[counts > 0].double() / n_hq
        kl = float((p * torch.log(p * m)).sum())
        spread = float(nearest_dist[hq].pow(2).mean().div(x.shape[1]).sqrt()) / std
    return {"modes": int((counts > 0).sum()), "n_modes": m, "high_quality": n_hq / n, "kl": kl,
            "counts": [int(c) for c in counts], "spread": spread, "n": n, "threshold": threshold,
            "std": float(std)}


@torch.no_grad()
def evaluate_modes(sample_fn: Callable[[int, torch.Generator], Any], distribution: Any,
                   n: int = 2500, seed: int = 0, threshold: float = 3.0) -> dict:
    """Draw ``n`` points from ``sample_fn(n, generator)`` and score them against ``distribution``.

    Args:
        sample_fn: called once as ``sample_fn(n, torch.Generator().manual_seed(seed))``; returns
            points [n, D]. For a trained generator in eval mode:
            ``lambda n, g: G(G.sample_z(n, g))``.
        distribution: a :class:`gankit.data.base.Distribution` (``.modes`` [M, D] and ``.std``).
        n: number of samples (the protocol: 2,500).
        seed: seed of the latent draw.
    """
    if distribution.modes is None:
        raise ValueError(f"distribution '{distribution.name}' has no mixture means to score against")
    samples = sample_fn(n, torch.Generator().manual_seed(seed))
    out = mode_metrics(samples, distribution.modes, float(distribution.std), threshold)
    out["seed"] = seed
    return out


def _gamma_p(a: float, x: float) -> float:
    """The regularized lower incomplete gamma function P(a, x), by its series (for the small a of a
    dimension / 2; beyond x = 600 the series would overflow, and P is 1 to double precision there)."""
    if x > 600 and a < 100:
        return 1.0
    term = total = 1.0 / a
    k = 1
    while term > 1e-16 * total:
        term *= x / (a + k)
        total += term
        k += 1
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def perfect_high_quality(dim: int = 2, threshold: float = 3.0) -> float:
    """The high-quality fraction of a perfect sampler when modes are far apart: P(chi_dim <= threshold).

    In 2D this is 1 - exp(-threshold^2 / 2), about 0.989 for threshold 3.
    """
    if dim == 2:
        return 1.0 - math.exp(-threshold ** 2 / 2)
    return _gamma_p(dim / 2, threshold ** 2 / 2)


def perfect_spread(dim: int = 2, threshold: float = 3.0) -> float:
    """The ``spread`` of a perfect sampler when modes are far apart: sqrt(E[chi2_dim | chi_dim <= t] / dim).

    E[chi2_d | chi2_d <= c] = d P(d/2 + 1, c/2) / P(d/2, c/2); about 0.974 in 2D for threshold 3.
    """
    c = threshold ** 2 / 2
    return math.sqrt(_gamma_p(dim / 2 + 1, c) / _gamma_p(dim / 2, c))


@torch.no_grad()
def worst_over_seeds(sample_fn: Callable[[int, torch.Generator], Any], distribution: Any, seeds: list,
                     n: int = 2500, threshold: float = 3.0) -> dict:
    """:func:`evaluate_modes` on each latent seed of ``seeds``, and the worst of them: a coverage claim
    must hold for any sampling seed. ``modes`` and ``high_quality`` are the minimum over the seeds,
    ``kl`` the maximum (None if every seed's is); ``counts`` and the rest are those of the seed with
    the fewest modes (then the lowest high-quality share); ``per_sample_seed`` holds each seed's
    modes, high_quality and kl."""
    if not seeds:
        raise ValueError("worst_over_seeds needs at least one sampling seed")
    runs = [evaluate_modes(sample_fn, distribution, n, int(s), threshold) for s in seeds]
    worst = dict(min(runs, key=lambda r: (r["modes"], r["high_quality"])))
    worst["modes"] = min(r["modes"] for r in runs)
    worst["high_quality"] = min(r["high_quality"] for r in runs)
    kls = [r["kl"] for r in runs if r["kl"] is not None]
    worst["kl"] = max(kls) if kls else None
    worst["per_sample_seed"] = [{"sample_seed": r["seed"], "modes": r["modes"], "high_quality": r["high_quality"],
                                 "kl": r["kl"]} for r in runs]
    worst.pop("seed", None)
    return worst
