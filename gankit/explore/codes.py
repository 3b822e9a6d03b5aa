"""What an InfoGAN generator's latent codes control, and whether its categorical code found the classes.

- :func:`code_sweep`: the picture of Chen et al. (2016), Figure 2: one continuous code swept from
  -2 to 2 along the columns (beyond its training range U[-1, 1], as the paper does), one row per
  value of the categorical code, the noise and the other codes fixed.
- :func:`category_sweep`: each column one value of the categorical code, each row one noise draw.
- :func:`code_cluster_accuracy`: Q's categorical prediction on real labelled data, mapped one-to-one
  to the classes by the best assignment (the Hungarian method): the paper's "5% error" on MNIST.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from gankit.errors import GankitError


def _layout(G: Any) -> tuple[int, int, int]:
    """(start of the one-hot code, K, start of the continuous codes) in G's latent."""
    k = G.z_categories
    return G.z_dim, k, G.z_dim + k


@torch.no_grad()
def _run(G: Any, z: torch.Tensor, y: Optional[torch.Tensor]) -> torch.Tensor:
    was = G.training
    G.eval()
    try:
        device = next(G.parameters()).device
        return G(z.to(device), y.to(device) if y is not None else None).cpu()
    finally:
        G.train(was)


def _labels(G: Any, rows: int, per_row: int, by_row: bool) -> Optional[torch.Tensor]:
    if not G.num_classes:
        return None
    row_class = torch.arange(rows) % G.num_classes if by_row else torch.zeros(rows, dtype=torch.long)
    return row_class.repeat_interleave(per_row)


def code_sweep(G: Any, code: int = 0, columns: int = 9, low: float = -2.0, high: float = 2.0,
               seed: int = 0, rows: int = 8) -> tuple[torch.Tensor, list[str], list[str]]:
    """G's outputs [R * columns, ...] with continuous code ``code`` from ``low`` to ``high`` along the
    columns; rows: the categorical code's values (one shared noise draw), or, without one, ``rows``
    noise draws (a conditional G: one class per row). Returns (images, row labels, column labels)."""
    start, k, cont = _layout(G)
    if not 0 <= code < G.z_continuous:
        raise GankitError(f"continuous code {code} does not exist: the model has {G.z_continuous} (model.z_continuous)")
    n_rows = k if k else rows
    base = G.sample_z(1 if k else n_rows, torch.Generator().manual_seed(seed)).cpu()
    base = base.expand(n_rows, -1).clone() if k else base
    base[:, cont:] = 0.0  # the other continuous codes at the middle of their range
    if k:
        base[:, start:start + k] = torch.eye(k)
    z = base.repeat_interleave(columns, dim=0)  # [R * columns, latent]
    values = torch.linspace(low, high, columns)
    z[:, cont + code] = values.repeat(n_rows)
    x = _run(G, z, _labels(G, n_rows, columns, by_row=not k))
    row_labels = [f"c={i}" for i in range(k)] if k else [f"z{i}" for i in range(n_rows)]
    return x, row_labels, [f"{v:+.1f}" for v in values.tolist()]


def category_sweep(G: Any, rows: int = 8, seed: int = 0) -> tuple[torch.Tensor, list[str], list[str]]:
    """G's outputs [rows * K, ...]: column j sets the categorical code to j; each row one noise draw
    (and continuous codes) held fixed across it."""
    start, k, _ = _layout(G)
    if not k:
        raise GankitError("the model has no categorical code (model.z_categories)")
    base = G.sample_z(rows, torch.Generator().manual_seed(seed)).cpu()
    z = base.repeat_interleave(k, dim=0)
    z[:, start:start + k] = torch.eye(k).repeat(rows, 1)
    x = _run(G, z, _labels(G, rows, k, by_row=True))
    return x, [f"z{i}" for i in range(rows)], [f"c={j}" for j in range(k)]


def best_mapping_accuracy(predicted: Any, labels: Any) -> tuple[float, dict[int, int]]:
    """Accuracy of ``predicted`` clusters [N] against ``labels`` [N] under the best one-to-one map of
    clusters to labels (linear_sum_assignment on the contingency table). Returns (accuracy, map)."""
    from scipy.optimize import linear_sum_assignment

    p = np.asarray(predicted).astype(np.int64).reshape(-1)
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    if len(p) != len(y) or not len(p):
        raise GankitError(f"need as many predictions as labels (got {len(p)} and {len(y)})")
    table = np.zeros((p.max() + 1, y.max() + 1), dtype=np.int64)
    np.add.at(table, (p, y), 1)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / len(p)), {int(r): int(c) for r, c in zip(rows, cols)}


@torch.no_grad()
def code_cluster_accuracy(model: Any, split: str = "test", batch_size: int = 500) -> dict:
    """InfoGAN's categorical code as a classifier of real data: Q(c | x) on the ``split`` of the
    model's (labelled) dataset, mapped to the classes one-to-one. ``model``: a LoadedGAN whose D has
    the Q head. Returns {"accuracy", "mapping", "n"}."""
    from gankit.data import load_dataset

    data = load_dataset(model.config.data, split)
    if getattr(data, "y", None) is None:
        raise GankitError(f"'{data.name}' has no labels to compare the code with")
    if not model.G.z_categories or getattr(model.D, "head", None) is None:
        raise GankitError("the model has no categorical code with a Q head (model.z_categories and the info term)")
    preds = []
    for start in range(0, len(data), batch_size):
        x = data.to_model(data.x[start:start + batch_size]).to(model.device)
        preds.append(model.D(x).code.argmax(1).cpu())
    acc, mapping = best_mapping_accuracy(torch.cat(preds).numpy(), data.y.numpy())
    return {"accuracy": acc, "mapping": mapping, "n": len(data)}
