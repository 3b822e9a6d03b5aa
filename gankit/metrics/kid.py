"""Kernel Inception Distance (KID): unbiased MMD^2 with a cubic polynomial kernel.

Binkowski, Sutherland, Arbel & Gretton (2018), "Demystifying MMD GANs", ICLR:

    k(x, y) = (x . y / d + 1)^3
    MMD^2_u = 1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(n(n-1)) sum_{i != j} k(y_i, y_j)
              - 2/(mn) sum_{i, j} k(x_i, y_j)

averaged over ``subsets`` random subsets (default 100 of 1,000 from each set, drawn without
replacement within a subset, as the paper's code does); the spread over subsets is reported too.
Dot products are computed in the features' precision (float32 for float32 features), the kernel
values and all sums in float64.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.metrics._arrays import as_matrix


def polynomial_kernel(a: torch.Tensor, b: torch.Tensor, *, degree: int = 3, gamma: Optional[float] = None,
                      coef: float = 1.0) -> torch.Tensor:
    """(gamma a . b + coef)^degree for rows of ``a`` [m, d] and ``b`` [n, d] -> float64 [m, n];
    ``gamma`` defaults to 1/d."""
    if gamma is None:
        gamma = 1.0 / a.shape[1]
    return (a @ b.T).double().mul_(gamma).add_(coef).pow_(degree)


def mmd2_unbiased(k_xx: torch.Tensor, k_yy: torch.Tensor, k_xy: torch.Tensor) -> float:
    """The unbiased MMD^2 estimate from kernel matrices [m, m], [n, n], [m, n] (Gretton et al. 2012)."""
    m, n = k_xx.shape[0], k_yy.shape[0]
    if m < 2 or n < 2:
        raise GankitError(f"KID needs at least 2 samples per set and subset, got {m} and {n}")
    xx = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    yy = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    xy = k_xy.sum() / (m * n)
    return float(xx + yy - 2 * xy)


def kernel_inception_distance(real: Any, fake: Any, *, subsets: int = 100, subset_size: int = 1000,
                              degree: int = 3, gamma: Optional[float] = None, coef: float = 1.0,
                              seed: int = 0) -> tuple[float, float]:
    """KID between feature sets ``real`` [N, F] and ``fake`` [M, F] (Binkowski et al. 2018).

    Args:
        subsets: how many random subset pairs to average over.
        subset_size: items per subset, capped at min(N, M) (a smaller set uses all its items).
        degree, gamma, coef: the kernel (gamma x . y + coef)^degree; gamma defaults to 1/F.
        seed: seeds the subset draws (numpy ``default_rng``): the same inputs and seed give the same value.

    Returns:
        ``(mean, std)`` of the per-subset unbiased MMD^2 (``std`` with ddof=0; 0 for one subset).
    """
    x = as_matrix(real, "real features", min_rows=2)
    y = as_matrix(fake, "fake features", min_rows=2)
    if x.shape[1] != y.shape[1]:
        raise GankitError(f"KID: real features have {x.shape[1]} dimensions, fake {y.shape[1]}")
    if subsets < 1:
        raise GankitError(f"KID: subsets must be >= 1, got {subsets}")
    m = min(int(subset_size), len(x), len(y))
    if m < 2:
        raise GankitError(f"KID: subset_size must be >= 2, got {subset_size}")
    rng = np.random.default_rng(seed)
    if m == len(x) == len(y):
        subsets = 1  # every "subset" is both whole sets: the same value each time
    values = []
    for _ in range(subsets):
        xs = x[torch.from_numpy(rng.choice(len(x), m, replace=False)).to(x.device)]  # [m, F]
        ys = y[torch.from_numpy(rng.choice(len(y), m, replace=False)).to(y.device)]  # [m, F]
        kw = dict(degree=degree, gamma=gamma, coef=coef)
        values.append(mmd2_unbiased(polynomial_kernel(xs, xs, **kw), polynomial_kernel(ys, ys, **kw),
                                    polynomial_kernel(xs, ys, **kw)))
    arr = np.asarray(values)
    return float(arr.mean()), float(arr.std())
