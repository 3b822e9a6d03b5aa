"""Inception Score from a classifier's logits.

Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen (2016), "Improved Techniques for Training
GANs", NeurIPS:

    IS = exp( E_x KL( p(y|x) || p(y) ) ),   p(y) = E_x p(y|x)

computed on each of ``splits`` contiguous, equal parts of the samples (the split rule of the paper's
code: part i is items [i N / splits, (i+1) N / splits)), then the mean and standard deviation
(ddof=0, as ``np.std`` there) over parts. ``p(y|x)`` is the softmax of the given logits, in float64
through ``log_softmax`` so that confident predictions do not produce ``0 * log 0``.
With the shipped digit classifiers it is an "Inception-style" score: the same formula, another
classifier; values are comparable only between runs scored with the same classifier.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.metrics._arrays import as_matrix


def inception_score(logits: Any, *, splits: int = 10) -> tuple[float, float]:
    """Inception Score of class ``logits`` [N, K] (Salimans et al. 2016).

    Returns:
        ``(mean, std)`` over ``splits`` parts: 1 when every prediction is the same distribution,
        K for confident predictions spread evenly over K classes.
    """
    z = as_matrix(logits, "logits", dtype=torch.float64, min_rows=1)  # [N, K]
    n = len(z)
    if not 1 <= splits <= n:
        raise GankitError(f"Inception Score: splits must be between 1 and the sample count {n}, got {splits}")
    log_p = torch.log_softmax(z, dim=1)  # [N, K] log p(y|x)
    scores = []
    for i in range(splits):
        part = log_p[i * n // splits:(i + 1) * n // splits]  # [n_i, K]
        log_py = torch.logsumexp(part, dim=0) - np.log(len(part))  # [K] log of the mean p(y|x)
        kl = (part.exp() * (part - log_py)).sum(dim=1).mean()  # E_x KL(p(y|x) || p(y))
        scores.append(float(torch.exp(kl)))
    arr = np.asarray(scores)
    return float(arr.mean()), float(arr.std())
