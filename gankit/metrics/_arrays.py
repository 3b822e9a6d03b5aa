"""Input checks shared by the metric functions: arrays or tensors in, 2-d float tensors out."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from gankit.errors import GankitError

# Pairwise-distance blocks are kept under this many bytes (one [rows, N] block plus a boolean
# comparison of the same shape), so that 50,000 x 50,000 comparisons never hold an N x N matrix.
DEFAULT_CHUNK_BYTES = 256 * 2**20


_FINITE_ROWS = 4096  # rows per block of the finiteness check


def all_finite(t: torch.Tensor) -> bool:
    """Whether every value of ``t`` is finite, checked a block of rows at a time.

    ``torch.isfinite`` of a whole [50000, 2048] float32 matrix briefly needs about 1.8 times the
    matrix's memory (measured: +687 MiB for a 391 MiB matrix); blocks of rows keep that small.
    """
    return all(bool(torch.isfinite(c).all()) for c in t.split(_FINITE_ROWS))


def as_matrix(x: Any, name: str, *, dtype: Optional[torch.dtype] = None, min_rows: int = 1) -> torch.Tensor:
    """``x`` (array or tensor [N, F]) as a CPU-or-device torch tensor, checked.

    Float64 input stays float64; anything else becomes float32 unless ``dtype`` is given.

    Raises:
        GankitError if ``x`` is not 2-d, has fewer than ``min_rows`` rows, or holds NaN/inf.
    """
    if x is None:
        raise GankitError(f"{name} are missing")
    t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.dim() != 2:
        raise GankitError(f"{name} must be a 2-d array [N, F], got shape {list(t.shape)}")
    if len(t) < min_rows:
        raise GankitError(f"{name}: need at least {min_rows} rows, got {len(t)}")
    if dtype is None:
        dtype = torch.float64 if t.dtype == torch.float64 else torch.float32
    t = t.to(dtype)
    if not all_finite(t):
        bad = sum(int(c.numel() - torch.isfinite(c).count_nonzero()) for c in t.split(_FINITE_ROWS))
        raise GankitError(f"{name} contain {bad} non-finite values (NaN/inf); a diverged generator gives "
                          "these, and the metric is undefined for them")
    return t


def as_labels(y: Any, n: int, name: str) -> torch.Tensor:
    """Integer class labels [n] as an int64 tensor."""
    if y is None:
        raise GankitError(f"{name} are missing: this metric needs class labels")
    t = y.detach().cpu() if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
    t = t.reshape(-1)
    if t.is_floating_point():
        if not bool((t == t.round()).all()):
            raise GankitError(f"{name} must be integer class labels")
    t = t.long()
    if len(t) != n:
        raise GankitError(f"{name}: {len(t)} labels for {n} items")
    return t


def rows_per_chunk(n_cols: int, bytes_per_entry: int, max_bytes: int = DEFAULT_CHUNK_BYTES,
                   chunk_size: Optional[int] = None) -> int:
    """Rows of a [rows, n_cols] block that fit in ``max_bytes`` (``chunk_size`` overrides)."""
    if chunk_size is not None:
        if chunk_size < 1:
            raise GankitError(f"chunk_size must be >= 1, got {chunk_size}")
        return int(chunk_size)
    return max(1, int(max_bytes // max(1, n_cols * bytes_per_entry)))
