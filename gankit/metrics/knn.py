"""k-nearest-neighbour manifold metrics: precision/recall and density/coverage, chunked.

- Precision and recall, Kynkaanniemi, Karras, Laine, Lehtinen & Aila (2019), "Improved Precision
  and Recall Metric for Assessing Generative Models", NeurIPS. Each real point r gets a ball of
  radius NND_k(r), the distance to its k-th nearest *other* real point (k = 3); likewise each fake
  point among the fakes. precision = share of fakes inside at least one real ball,
  ``||f - r|| <= NND_k(r)`` (the paper's inequality, and its code's ``dist <= radii``); recall = share
  of reals inside at least one fake ball.
- Density and coverage, Naeem, Oh, Uh, Choi & Yoo (2020), "Reliable Fidelity and Diversity Metrics
  for Generative Models", ICML, with k = 5 and the strict inequality of the authors' code:
  density = 1/(k M) sum_fakes #{r : ||f - r|| < NND_k(r)}; coverage = share of reals r whose nearest
  fake satisfies ||f - r|| < NND_k(r).

"Excludes the point itself" is done by position (the diagonal is set to +inf), so a duplicate of a
point still counts as its neighbour at distance 0. Distances are compared squared, computed as
|a|^2 + |b|^2 - 2 a.b in row blocks of at most ``max_chunk_bytes`` (256 MiB by default): memory is
O(rows x N), never N x N. float64 input is computed in float64, anything else in float32.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional

import torch

from gankit.errors import GankitError
from gankit.metrics._arrays import DEFAULT_CHUNK_BYTES, as_matrix, rows_per_chunk

PR_K = 3
DC_K = 5
_BOOL_TEMPS = 2  # bytes per entry for the boolean comparisons alive beside a distance block


def squared_distances(a: torch.Tensor, b: torch.Tensor, b_sq: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Squared Euclidean distances between rows of ``a`` [r, F] and ``b`` [N, F] -> [r, N] (>= 0).

    ``b_sq`` [N] is the precomputed ``(b * b).sum(1)``. One [r, N] buffer, updated in place, as
    (|a|^2 + |b|^2) - 2 a.b: the first sum is symmetric, so swapping ``a`` and ``b`` gives the same
    bits wherever the matrix product does.
    """
    if b_sq is None:
        b_sq = (b * b).sum(1)
    d2 = (a * a).sum(1, keepdim=True) + b_sq.unsqueeze(0)  # [r, N]
    d2.addmm_(a, b.T, beta=1.0, alpha=-2.0)
    return d2.clamp_(min=0.0)


def _blocks(n: int, rows: int) -> Iterable[tuple[int, int]]:
    for start in range(0, n, rows):
        yield start, min(n, start + rows)


def _kth_sq_radii(x: torch.Tensor, x_sq: torch.Tensor, ks: list[int], rows: int) -> torch.Tensor:
    """Squared distance from each row of ``x`` to its k-th nearest other row, for each k -> [N, len(ks)]."""
    n = len(x)
    kmax = max(ks)
    if kmax > n - 1:
        raise GankitError(f"k-NN metrics: k = {kmax} needs at least {kmax + 1} points, got {n}")
    out = torch.empty(n, len(ks), dtype=x.dtype, device=x.device)
    cols = torch.tensor([k - 1 for k in ks], device=x.device)
    for start, stop in _blocks(n, rows):
        d2 = squared_distances(x[start:stop], x, x_sq)  # [r, N]
        idx = torch.arange(stop - start, device=x.device)
        d2[idx, idx + start] = float("inf")  # exclude the point itself
        nearest = d2.topk(kmax, dim=1, largest=False, sorted=True).values  # [r, kmax]
        out[start:stop] = nearest[:, cols]
    return out


def knn_radii(x: Any, k: int = PR_K, *, chunk_size: Optional[int] = None,
              max_chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> torch.Tensor:
    """Distance from each row of ``x`` [N, F] to its k-th nearest neighbour among the other rows -> [N]."""
    t = as_matrix(x, "features")
    rows = rows_per_chunk(len(t), t.element_size() + _BOOL_TEMPS, max_chunk_bytes, chunk_size)
    return _kth_sq_radii(t, (t * t).sum(1), [k], rows)[:, 0].sqrt()


def manifold_metrics(real: Any, fake: Any, *, metrics: Iterable[str] = ("precision", "recall", "density",
                     "coverage"), pr_k: int = PR_K, dc_k: int = DC_K, chunk_size: Optional[int] = None,
                     max_chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> dict[str, float]:
    """Any of precision, recall (Kynkaanniemi et al. 2019) and density, coverage (Naeem et al. 2020)
    of ``fake`` [M, F] against ``real`` [N, F], sharing the distance passes between them.

    Args:
        metrics: which values to compute.
        pr_k, dc_k: the neighbourhood sizes (3 and 5 by default, as in the papers).
        chunk_size: rows per distance block (overrides ``max_chunk_bytes``); results do not depend on it.
        max_chunk_bytes: memory bound of one block of distances and its comparisons.

    Returns:
        ``{name: float}`` for the requested names, each in [0, 1] except density (in [0, N/k]).
    """
    wanted = set(metrics)
    unknown = wanted - {"precision", "recall", "density", "coverage"}
    if unknown:
        raise GankitError(f"unknown k-NN metric(s) {sorted(unknown)}; valid: precision, recall, density, coverage")
    want_pr = bool(wanted & {"precision", "recall"})
    want_dc = bool(wanted & {"density", "coverage"})
    for name, k in (("pr_k", pr_k), ("dc_k", dc_k)):
        if k < 1:
            raise GankitError(f"{name} must be >= 1, got {k}")
    x = as_matrix(real, "real features")  # [N, F]
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    y = as_matrix(fake, "fake features", dtype=dtype).to(x.device)  # [M, F]
    x = x.to(dtype)
    if x.shape[1] != y.shape[1]:
        raise GankitError(f"k-NN metrics: real features have {x.shape[1]} dimensions, fake {y.shape[1]}")
    n, m = len(x), len(y)
    entry = x.element_size() + _BOOL_TEMPS
    x_sq, y_sq = (x * x).sum(1), (y * y).sum(1)

    ks = ([pr_k] if want_pr else []) + ([dc_k] if want_dc else [])
    real_r2 = _kth_sq_radii(x, x_sq, ks, rows_per_chunk(n, entry, max_chunk_bytes, chunk_size))  # [N, len(ks)]
    r_pr = real_r2[:, 0] if want_pr else None
    r_dc = real_r2[:, -1] if want_dc else None
    f_pr = _kth_sq_radii(y, y_sq, [pr_k], rows_per_chunk(m, entry, max_chunk_bytes, chunk_size))[:, 0] \
        if want_pr else None

    # One pass over blocks of real rows against all fakes. Real rows as the left operand, as in the
    # real radii pass: a set scored against itself then compares bit-identical distances, so a
    # point's k-th neighbour sits exactly on its ball's edge and the strict inequality leaves it out.
    fake_in_real = torch.zeros(m, dtype=torch.bool, device=x.device)  # precision hits
    real_in_fake = torch.zeros(n, dtype=torch.bool, device=x.device)  # recall hits
    density_count = torch.zeros(m, dtype=torch.int64, device=x.device)
    covered = torch.zeros(n, dtype=torch.bool, device=x.device)
    for start, stop in _blocks(n, rows_per_chunk(m, entry, max_chunk_bytes, chunk_size)):
        d2 = squared_distances(x[start:stop], y, y_sq)  # [r, M] real rows against all fakes
        if want_pr:
            fake_in_real |= (d2 <= r_pr[start:stop].unsqueeze(1)).any(0)
            real_in_fake[start:stop] = (d2 <= f_pr.unsqueeze(0)).any(1)
        if want_dc:
            covered[start:stop] = d2.min(1).values < r_dc[start:stop]
            # Counting in place: summing a bool mask would materialize an int64 copy of the block.
            density_count += d2.lt_(r_dc[start:stop].unsqueeze(1)).sum(0).long()  # d2 is 1.0 / 0.0 now
    out: dict[str, float] = {}
    if "precision" in wanted:
        out["precision"] = float(fake_in_real.double().mean())
    if "recall" in wanted:
        out["recall"] = float(real_in_fake.double().mean())
    if "density" in wanted:
        out["density"] = float(density_count.sum()) / (dc_k * m)
    if "coverage" in wanted:
        out["coverage"] = float(covered.double().mean())
    return out


def precision_recall(real: Any, fake: Any, *, k: int = PR_K, chunk_size: Optional[int] = None,
                     max_chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> dict[str, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) with k = 3: ``{"precision", "recall"}``."""
    return manifold_metrics(real, fake, metrics=("precision", "recall"), pr_k=k, chunk_size=chunk_size,
                            max_chunk_bytes=max_chunk_bytes)


def density_coverage(real: Any, fake: Any, *, k: int = DC_K, chunk_size: Optional[int] = None,
                     max_chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> dict[str, float]:
    """Density and coverage (Naeem et al. 2020) with k = 5: ``{"density", "coverage"}``."""
    return manifold_metrics(real, fake, metrics=("density", "coverage"), dc_k=k, chunk_size=chunk_size,
                            max_chunk_bytes=max_chunk_bytes)
