"""Intra-class FID: the FID of each class's samples against that class's real data, averaged.

Miyato & Koyama (2018), "cGANs with Projection Discriminator", ICLR: for a class-conditional
model, FID_c between {real x : y = c} and {generated x : y = c}, and intra-FID = mean over the
classes c of the real labels. It sees what the overall FID hides: a class drawn from the wrong
class's images, or one class collapsed while the mixture still looks right.
"""
from __future__ import annotations

from typing import Any

from gankit.errors import GankitError
from gankit.metrics._arrays import as_labels, as_matrix
from gankit.metrics.frechet import feature_statistics, frechet_distance


def intra_fid(real: Any, real_labels: Any, fake: Any, fake_labels: Any) -> tuple[float, dict[int, float]]:
    """Mean over real classes of the per-class FID (Miyato & Koyama 2018).

    Args:
        real, fake: features [N, F] and [M, F].
        real_labels, fake_labels: integer classes [N] and [M]. Fake items of a class the real set
            does not have are ignored.

    Returns:
        ``(mean, {class: fid})``.

    Raises:
        GankitError if a class has fewer than 2 real or generated items (its covariance is undefined).
    """
    x = as_matrix(real, "real features", min_rows=2)
    y = as_matrix(fake, "fake features", min_rows=2)
    yr = as_labels(real_labels, len(x), "real labels").to(x.device)
    yf = as_labels(fake_labels, len(y), "fake labels").to(y.device)
    per_class: dict[int, float] = {}
    for c in sorted(int(v) for v in yr.unique()):
        n_real, n_fake = int((yr == c).sum()), int((yf == c).sum())
        if n_real < 2 or n_fake < 2:
            raise GankitError(f"intra-FID needs at least 2 items of every class: class {c} has {n_real} real and "
                              f"{n_fake} generated; generate more samples or drop intra_fid")
        per_class[c] = frechet_distance(*feature_statistics(x[yr == c]), *feature_statistics(y[yf == c]))
    return sum(per_class.values()) / len(per_class), per_class
