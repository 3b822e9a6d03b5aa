"""Parzen-window (Gaussian kernel density) log-likelihood, with the warning that belongs to it.

Goodfellow et al. (2014), "Generative Adversarial Nets", NeurIPS, section 5 (after Breuleux, Bengio
& Vincent 2011): fit an isotropic Gaussian KDE on the generated samples and report the mean
log-likelihood of real test data under it, the bandwidth sigma chosen by log-likelihood on a
separate validation set:

    log p(x) = logsumexp_i( -||x - g_i||^2 / (2 sigma^2) ) - log n - (D/2) log(2 pi sigma^2)

Theis, van den Oord & Bethge (2016), "A note on the evaluation of generative models", ICLR, show why
this misleads: in high dimensions the estimate is far from the true log-likelihood even with
millions of samples, and it can rank models wrongly. It is offered for completeness only, and every
result carries :data:`PARZEN_WARNING`.

Computed in float64 with a stable logsumexp, in blocks of test points.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.metrics._arrays import DEFAULT_CHUNK_BYTES, as_matrix, rows_per_chunk
from gankit.metrics.knn import squared_distances

PARZEN_WARNING = ("Parzen-window log-likelihood is offered for completeness only: Theis, van den Oord & Bethge "
                  "(2016), 'A note on the evaluation of generative models', show that in high dimensions it is "
                  "far from the true log-likelihood and can rank models wrongly; prefer FID/KID and "
                  "precision/recall.")


def default_sigmas(samples: Any) -> np.ndarray:
    """The bandwidth grid: 36 values, log-spaced from 1e-3 to 10^0.5 times the samples' RMS spread
    (the square root of the mean per-dimension variance), so one grid fits pixels and toy points."""
    x = as_matrix(samples, "samples", dtype=torch.float64, min_rows=2)
    scale = float(x.var(0).mean().sqrt())
    if not scale > 0:
        scale = 1.0
    return scale * np.logspace(-3.0, 0.5, 36)


def parzen_log_densities(points: Any, samples: Any, sigmas: Sequence[float], *, chunk_size: Optional[int] = None,
                         max_chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> torch.Tensor:
    """log p(x) of each of ``points`` [P, D] under the Gaussian KDE on ``samples`` [n, D], for each
    bandwidth -> float64 [P, len(sigmas)]."""
    x = as_matrix(points, "points", dtype=torch.float64)
    g = as_matrix(samples, "samples", dtype=torch.float64).to(x.device)
    if x.shape[1] != g.shape[1]:
        raise GankitError(f"Parzen: points have {x.shape[1]} dimensions, samples {g.shape[1]}")
    sig = torch.as_tensor(np.asarray(sigmas, dtype=np.float64), device=x.device).reshape(-1)  # [S]
    if len(sig) == 0 or not bool((sig > 0).all()):
        raise GankitError(f"Parzen: sigmas must be positive, got {sig.tolist()}")
    n, d = g.shape
    log_norm = -math.log(n) - 0.5 * d * torch.log(2 * math.pi * sig ** 2)  # [S]
    g_sq = (g * g).sum(1)
    out = torch.empty(len(x), len(sig), dtype=torch.float64, device=x.device)
    rows = rows_per_chunk(n, 16, max_chunk_bytes, chunk_size)  # distances and one scaled copy
    for start in range(0, len(x), rows):
        d2 = squared_distances(x[start:start + rows], g, g_sq)  # [r, n]
        for j, s in enumerate(sig.tolist()):
            out[start:start + rows, j] = torch.logsumexp(d2 * (-0.5 / s ** 2), dim=1)
    return out + log_norm


def parzen_log_likelihood(samples: Any, test: Any, *, validation: Any = None, sigmas: Optional[Sequence[float]] = None,
                          validation_fraction: float = 0.5, seed: int = 0, chunk_size: Optional[int] = None,
                          max_chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> dict[str, Any]:
    """Mean Parzen-window log-likelihood (nats per item) of real ``test`` [P, D] under a Gaussian KDE
    on generated ``samples`` [n, D] (Goodfellow et al. 2014; misleading, Theis et al. 2016).

    Args:
        validation: real points [V, D] that choose sigma. None: a seeded random ``validation_fraction``
            of ``test`` is set aside for it and the rest is the test set.
        sigmas: the bandwidth grid (default :func:`default_sigmas`); the one with the highest mean
            validation log-likelihood is used.

    Returns:
        ``{"value": mean test log-likelihood, "se": its standard error, "sigma": chosen bandwidth,
        "n_validation", "n_test", "warning": PARZEN_WARNING}``.
    """
    if validation is None:
        t = as_matrix(test, "test points", dtype=torch.float64, min_rows=2)
        if not 0.0 < validation_fraction < 1.0:
            raise GankitError(f"Parzen: validation_fraction must be in (0, 1), got {validation_fraction}")
        perm = torch.from_numpy(np.random.default_rng(seed).permutation(len(t)))
        n_val = min(len(t) - 1, max(1, int(round(validation_fraction * len(t)))))
        validation, test = t[perm[:n_val]], t[perm[n_val:]]
    grid = default_sigmas(samples) if sigmas is None else np.asarray(sigmas, dtype=np.float64).reshape(-1)
    kw = dict(chunk_size=chunk_size, max_chunk_bytes=max_chunk_bytes)
    val_ll = parzen_log_densities(validation, samples, grid, **kw).mean(0)  # [S]
    best = int(torch.argmax(val_ll))
    sigma = float(grid[best])
    ll = parzen_log_densities(test, samples, [sigma], **kw)[:, 0]  # [P]
    se = float(ll.std() / math.sqrt(len(ll))) if len(ll) > 1 else 0.0
    return {"value": float(ll.mean()), "se": se, "sigma": sigma, "n_validation": len(validation),
            "n_test": len(ll), "warning": PARZEN_WARNING}
