"""What a newcomer would misread in a set of scores, said beside them.

Each caveat is one sentence that names the metric, the number that triggered it and what to do; the
scorer puts them in the result's ``provenance["warnings"]`` (the JSON) and the CLI prints them.
"""
from __future__ import annotations

from typing import Optional

#: Below this many items per set, FID's upward bias (it shrinks like 1/n) and the k-NN metrics'
#: dependence on n dominate differences between models; published scores use 10,000 or 50,000.
SMALL_N = 2_000
#: The metrics whose value depends on the sample counts, not only on the two distributions.
COUNT_SENSITIVE = ("fid", "precision", "recall", "density", "coverage", "intra_fid")


def caveats(values: dict, *, n_real: int, n_fake: int, extractor: str, kind: str,
            feature_dim: Optional[int] = None) -> list[str]:
    """Caveats for ``values`` (metric key -> number or None) scored on ``n_real`` real and ``n_fake``
    fake items with features from ``extractor`` on data of ``kind`` ('image' | 'vector')."""
    out = []
    scored = {k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    kid = scored.get("kid")
    if kid is not None and kid < 0:
        out.append(f"kid is negative ({kid:.3g}): KID is an unbiased estimate of MMD^2, which is >= 0, so for "
                   f"sets this alike it falls below 0 by chance; read it as 0 within kid_std")
    sensitive = [k for k in COUNT_SENSITIVE if k in scored]
    if sensitive and min(n_real, n_fake) < SMALL_N:
        out.append(f"{', '.join(sensitive)} from only {n_real:,} real and {n_fake:,} fake items (under "
                   f"{SMALL_N:,}): at this n they depend on the counts as much as on the model (FID is biased "
                   f"upward, more so the smaller n), so compare them only with scores of the same counts")
    if "fid" in scored and feature_dim and min(n_real, n_fake) <= feature_dim:
        out.append(f"fid: {min(n_real, n_fake):,} items for {feature_dim}-dimensional features: a covariance "
                   f"of fewer samples than dimensions is singular, and FID is then mostly noise; use more items")
    if extractor == "raw" and kind == "image" and "fid" in scored:
        out.append("fid on raw pixels, not on Inception or classifier features: not comparable with any "
                   "published FID, and dominated by pixel-level noise; use --features classifier or inception")
    return out
