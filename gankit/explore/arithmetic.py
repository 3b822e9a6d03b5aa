"""Latent arithmetic with exemplar averaging (Radford et al. 2016, section 6.3, Figure 7).

A single latent is a noisy stand-in for a concept; the DCGAN paper averages the latents of three
exemplars per concept and computes mean(a) - mean(b) + mean(c) ("smiling woman - neutral woman +
neutral man = smiling man"). The result is shown with a few neighbours, the result plus small
Gaussian noise (std 0.25 in the paper), to show it is a region and not a lucky point.

An exemplar list is either seeds (the latent ``gankit sample --seed S --n 1`` draws) or
``class:NAME`` (the ``k`` seeds of a pool whose samples the dataset's classifier puts in class NAME
most confidently).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Union

import torch

from gankit.errors import GankitError
from gankit.explore.walks import parse_seeds, seed_latents


@dataclass
class Concept:
    spec: str
    seeds: list[int]
    z: torch.Tensor  # [k, d] exemplar latents
    y: Optional[torch.Tensor]

    @property
    def mean(self) -> torch.Tensor:
        return self.z.mean(0)


def pick_by_class(model: Any, name: str, k: int = 3, pool: int = 512, classifier: Any = "shipped",
                  pool_seed: int = 0) -> list[int]:
    """The ``k`` seeds among ``pool_seed .. pool_seed + pool - 1`` whose sample the classifier puts in
    class ``name`` with the highest probability."""
    from gankit.explore.guide import class_index, classifier_for

    clf = classifier if isinstance(classifier, torch.nn.Module) else classifier_for(model, classifier)
    target = class_index(model, name, clf.num_classes)
    seeds = list(range(pool_seed, pool_seed + pool))
    z, y = seed_latents(model, seeds)
    with torch.no_grad():
        p = torch.softmax(clf(model.generate(z, y).to(model.device)).float(), 1)[:, target].cpu()
    best = torch.argsort(p, descending=True)[:k]
    if float(p[best[-1]]) < 0.5:
        raise GankitError(f"class:{name}: only {int((p >= 0.5).sum())} of {pool} samples look like {name} to the "
                          f"classifier (p >= 0.5); give seeds instead, or a larger pool")
    return [seeds[int(i)] for i in best]


def concept(model: Any, spec: Union[str, list], flag: str, k: int = 3, label: Any = None,
            classifier: Any = "shipped") -> Concept:
    """Exemplars from ``"3,17,42"`` or ``"class:Sneaker"``."""
    text = spec if isinstance(spec, str) else ",".join(map(str, spec))
    if text.startswith("class:"):
        seeds = pick_by_class(model, text[len("class:"):], k=k, classifier=classifier)
    else:
        seeds = parse_seeds(text, flag)
    z, y = seed_latents(model, seeds, label=label)
    return Concept(text, seeds, z, y)


@dataclass
class ArithmeticResult:
    concepts: list  # a, b, c
    result: torch.Tensor  # [1 + neighbours, d]: a - b + c, then the result plus noise
    y: Optional[torch.Tensor]


def latent_arithmetic(model: Any, a: Any, b: Any, c: Any, neighbours: int = 7, noise: float = 0.25,
                      seed: int = 0, k: int = 3, label: Any = None, classifier: Any = "shipped") -> ArithmeticResult:
    """mean(a) - mean(b) + mean(c), and ``neighbours`` copies plus N(0, noise^2) in G's noise units."""
    if model.conditional and label is None:
        raise GankitError("latent arithmetic on a conditional model holds one class: give --label")
    parts = [concept(model, s, f, k, label, classifier) for s, f in ((a, "--a"), (b, "--b"), (c, "--c"))]
    r = parts[0].mean - parts[1].mean + parts[2].mean
    gen = torch.Generator().manual_seed(seed)
    jitter = torch.zeros(neighbours, r.numel())
    jitter[:, :model.G.z_dim] = torch.randn(neighbours, model.G.z_dim, generator=gen) * noise
    result = torch.cat([r[None], r[None] + jitter])
    y = model.labels(label, len(result)) if label is not None else None
    return ArithmeticResult(parts, result, y)


def arithmetic_figure(model: Any, res: ArithmeticResult, out: Any) -> Any:
    """A figure: one row per concept (its exemplars, then the image of their mean latent), then the
    result a - b + c and its noisy neighbours."""
    import numpy as np
    from matplotlib.figure import Figure

    def images(z: torch.Tensor, y: Optional[torch.Tensor]) -> np.ndarray:
        y = y if y is None or len(y) == len(z) else y[:1].repeat(len(z))
        return model.to_data(model.generate(z, y))

    rows = []
    for name, part in zip("abc", res.concepts):
        y = part.y if part.y is None else part.y[:1].repeat(len(part.z) + 1)
        z = torch.cat([part.z, part.mean[None]])
        rows.append((f"{name}: {part.spec}", images(z, y), [f"seed {s}" for s in part.seeds] + ["mean"]))
    rows.append(("a - b + c", images(res.result, res.y), ["result"] + [f"+noise {i + 1}" for i in range(len(res.result) - 1)]))
    cols = max(len(r[1]) for r in rows)
    fig = Figure(figsize=(1.1 * cols + 1.0, 1.25 * len(rows) + 0.3), dpi=110)
    for i, (title, ims, captions) in enumerate(rows):
        for j, (im, cap) in enumerate(zip(ims, captions)):
            ax = fig.add_subplot(len(rows), cols, i * cols + j + 1)
            ax.imshow(im.squeeze(-1) if im.shape[-1] == 1 else im, cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(cap, fontsize=6)
            if j == 0:
                ax.set_ylabel(title, fontsize=7)
    fig.suptitle("Latent arithmetic on exemplar means (Radford et al. 2016)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out)
    return out
