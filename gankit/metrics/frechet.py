"""Frechet distance between Gaussians fitted to two feature sets (FID).

Heusel, Ramsauer, Unterthiner, Nessler & Hochreiter (2017), "GANs Trained by a Two Time-Scale
Update Rule Converge to a Local Nash Equilibrium", NeurIPS:

    FID = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))

Everything is float64. The matrix square root is never formed: for any factors S1 = L1 L1^T and
S2 = L2 L2^T, the eigenvalues of S1 S2 are the squared singular values of L1^T L2, so

    Tr (S1 S2)^(1/2) = sum of singular values of L1^T L2   (the nuclear norm).

The factors come from a pivoted Cholesky decomposition (LAPACK ``dpstrf``), which accepts
semi-definite matrices (fewer samples than features), and singular values are real and non-negative,
so the result is always a finite real number: no complex parts to discard, no ``eps`` offsets. A set
against itself gives 0 to rounding (the singular values of L^T L are its eigenvalues, Tr S), where
``scipy.linalg.sqrtm(S1 @ S2)`` loses half the digits of the small eigenvalues.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.metrics._arrays import as_matrix, rows_per_chunk


def feature_statistics(features: Any, *, chunk_size: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, ``ddof=1``) of ``features`` [N, F], both float64.

    Two passes over row chunks (mean first, then centred products) so that 50,000 x 2,048
    float32 features never need a float64 copy of the whole matrix.

    Returns:
        ``(mu [F], sigma [F, F])`` as numpy float64 arrays.
    """
    x = as_matrix(features, "features", min_rows=2)  # [N, F]
    n, f = x.shape
    rows = rows_per_chunk(f, 8, 128 * 2**20, chunk_size=chunk_size)  # one float64 block
    mu = torch.zeros(f, dtype=torch.float64, device=x.device)
    for start in range(0, n, rows):
        mu += x[start:start + rows].sum(0, dtype=torch.float64)
    mu /= n
    cov = torch.zeros(f, f, dtype=torch.float64, device=x.device)
    for start in range(0, n, rows):
        centred = x[start:start + rows].to(torch.float64, copy=True).sub_(mu)  # [rows, F]
        cov.addmm_(centred.T, centred)
    cov /= n - 1
    return mu.cpu().numpy(), cov.cpu().numpy()


def psd_factor(sigma: np.ndarray) -> np.ndarray:
    """A factor L [F, r] with L L^T = ``sigma`` (symmetric positive semi-definite, [F, F]).

    Pivoted Cholesky (LAPACK ``dpstrf``) stops at the numerical rank r, so a singular covariance
    (fewer samples than features) is factored exactly instead of failing or needing a jitter.
    """
    from scipy.linalg.lapack import dpstrf  # scipy comes with scikit-learn; imported when first needed

    sigma = np.ascontiguousarray(sigma, dtype=np.float64)
    if not sigma.any():
        return np.zeros((len(sigma), 0))
    c, piv, rank, info = dpstrf(sigma, lower=1)
    if info < 0:
        raise ValueError(f"dpstrf: illegal argument {-info}")
    factor = np.tril(c)[:, :rank]  # [F, r] for the permuted matrix P^T sigma P
    out = np.empty_like(factor)
    out[piv - 1] = factor  # undo the permutation: sigma = (P L)(P L)^T
    return out


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr((sigma1 sigma2)^(1/2)) for covariance matrices: the nuclear norm of L1^T L2."""
    from scipy.linalg import LinAlgError, svdvals

    product = psd_factor(sigma1).T @ psd_factor(sigma2)  # [r1, r2]
    if product.size == 0:
        return 0.0
    try:
        singular = np.linalg.svd(product, compute_uv=False)
    except np.linalg.LinAlgError:  # the divide-and-conquer driver can fail to converge; QR-based is robust
        try:
            singular = svdvals(product, lapack_driver="gesvd")
        except LinAlgError as exc:
            raise GankitError(f"FID: the singular value decomposition did not converge ({exc})") from None
    return float(singular.sum())


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (Heusel et al. 2017), float64.

    Args:
        mu1, mu2: means [F].
        sigma1, sigma2: covariances [F, F] (symmetric positive semi-definite).

    Returns:
        ``||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``: a finite float >= 0.
        (Rounding can push an exact 0 to about -1e-12; such values are returned as 0.)
    """
    mu1, mu2 = (np.asarray(m, dtype=np.float64).reshape(-1) for m in (mu1, mu2))
    s1, s2 = (np.asarray(s, dtype=np.float64) for s in (sigma1, sigma2))
    f = len(mu1)
    if mu2.shape != (f,) or s1.shape != (f, f) or s2.shape != (f, f):
        raise GankitError(f"FID: statistics do not match: means {mu1.shape} and {mu2.shape}, "
                          f"covariances {s1.shape} and {s2.shape}")
    for name, a in (("mu1", mu1), ("mu2", mu2), ("sigma1", s1), ("sigma2", s2)):
        if not np.isfinite(a).all():
            raise GankitError(f"FID: {name} contains NaN or inf")
    mean_term = float(np.sum((mu1 - mu2) ** 2))
    trace_term = float(np.trace(s1) + np.trace(s2)) - 2.0 * trace_sqrt_product(s1, s2)
    return max(0.0, mean_term + trace_term)


def fid(real: Any, fake: Any, *, chunk_size: Optional[int] = None) -> float:
    """Frechet Inception Distance between two feature sets [N, F] and [M, F] (Heusel et al. 2017).

    "Inception" names the original extractor; any features work (the metric is always the
    Frechet distance of Gaussians fitted to the given features).
    """
    mu1, s1 = feature_statistics(real, chunk_size=chunk_size)
    mu2, s2 = feature_statistics(fake, chunk_size=chunk_size)
    return frechet_distance(mu1, s1, mu2, s2)
