"""The common interface of feature extractors: model-space data in, (features, logits) out."""
from __future__ import annotations

import hashlib
from typing import Optional

import torch
from torch import nn


class FeatureExtractor:
    """Maps data in model space to features for the metrics.

    Input: images float [N, C, H, W] in [-1, 1], or vectors float [N, D].
    Output of ``__call__``: (features float32 [N, F], logits float32 [N, K] or None).

    Attributes:
        name: what the provenance calls it, e.g. ``classifier:fashion_mnist``, ``inception``, ``raw``.
        weights_sha256: sha256 of the weights that define it (None for ``raw``).
        preprocessing: how inputs are turned into the network's inputs, in words.
        batch_size: items per forward pass.
        num_classes: the number of logits, or None when there are none.
    """

    name: str = "extractor"
    weights_sha256: Optional[str] = None
    preprocessing: str = ""
    num_classes: Optional[int] = None

    def __init__(self, batch_size: int = 500, device: str = "cpu") -> None:
        self.batch_size = int(batch_size)
        self.device = torch.device(device)

    def forward_batch(self, x: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Features (and logits) of one batch; subclasses implement it."""
        raise NotImplementedError

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, progress: bool = False,
                 desc: str = "features") -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Features [N, F] float32 and logits [N, K] float32 (or None) of ``x``, batch by batch."""
        from tqdm import tqdm

        feats, logits = [], []
        starts = range(0, x.shape[0], self.batch_size)
        for start in tqdm(starts, desc=desc, unit="batch", disable=not progress, leave=False):
            f, l = self.forward_batch(x[start:start + self.batch_size].to(self.device))
            feats.append(f.reshape(f.shape[0], -1).float().cpu())
            if l is not None:
                logits.append(l.reshape(l.shape[0], -1).float().cpu())
        if not feats:
            raise ValueError("no inputs to extract features from")
        return torch.cat(feats), (torch.cat(logits) if logits else None)

    def describe(self) -> dict:
        """The provenance of this extractor."""
        return {"extractor": self.name, "weights_sha256": self.weights_sha256,
                "preprocessing": self.preprocessing}

    def __repr__(self) -> str:
        sha = (self.weights_sha256 or "-")[:12]
        return f"{type(self).__name__}(name={self.name!r}, weights_sha256={sha}, batch_size={self.batch_size})"


def state_sha256(module: nn.Module) -> str:
    """sha256 of a module's parameters and buffers (names, dtypes, shapes, values), in name order.

    Two modules with the same weights get the same digest, so cached statistics are reused only
    for the same network.
    """
    h = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        t = value.detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.dtype == torch.bfloat16:
            t = t.float()
        h.update(t.numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
