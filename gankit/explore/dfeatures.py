"""The discriminator as a feature extractor (Radford et al. 2016, section 5.1).

The DCGAN paper trains a GAN without labels, then takes every convolutional layer of D, max-pools
each to a 4x4 grid, flattens and concatenates them, and fits a linear classifier on those features
(82.8% on CIFAR-10). ``layers="all"`` does that for any D: each activation module's output (a
LeakyReLU/ReLU) is max-pooled to ``grid`` x ``grid`` when it is a feature map, or kept as it is
when it is a vector. ``layers="last"`` is the features D's own head reads (``DOutput.features``).
D runs in eval mode (BatchNorm with its running statistics).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import GankitError

LAYERS = ("all", "last")
ACTIVATIONS = (nn.LeakyReLU, nn.ReLU, nn.SiLU, nn.GELU, nn.ELU)


@torch.no_grad()
def discriminator_features(D: nn.Module, x: torch.Tensor, y: Optional[torch.Tensor] = None, layers: str = "all",
                           grid: int = 4, batch_size: int = 256, device: Any = "cpu") -> torch.Tensor:
    """Features [N, F] of images/vectors ``x`` (model space: images in [-1, 1]) from discriminator D."""
    if layers not in LAYERS:
        raise GankitError(f"--layers {layers!r} is not one of {', '.join(LAYERS)}")
    if getattr(D, "pack", 1) != 1:
        raise GankitError("a packed discriminator (model.d_pack > 1) judges packs, not single items: it has no "
                          "per-item features")
    D = D.eval()
    caught: list[torch.Tensor] = []
    hooks = []
    if layers == "all":
        acts = [m for m in D.modules() if isinstance(m, ACTIVATIONS)]
        if not acts:
            raise GankitError(f"{type(D).__name__} has no activation modules to read; use --layers last")

        def keep(_m, _inp, out):
            caught.append(F.adaptive_max_pool2d(out, grid).flatten(1) if out.dim() == 4 else out.flatten(1))

        hooks = [m.register_forward_hook(keep) for m in acts]
    out = []
    try:
        for start in range(0, len(x), batch_size):
            caught.clear()
            xb = x[start:start + batch_size].to(device)
            yb = y[start:start + batch_size].to(device) if y is not None else None
            res = D(xb, yb)
            if layers == "last":
                if res.features is None:
                    raise GankitError(f"{type(D).__name__} returns no features; use --layers all")
                out.append(res.features.flatten(1).float().cpu())
            else:
                out.append(torch.cat([c.float() for c in caught], dim=1).cpu())
    finally:
        for h in hooks:
            h.remove()
    return torch.cat(out)


def dataset_features(model: Any, data_name: Optional[str] = None, split: str = "test", layers: str = "all",
                     n: Optional[int] = None, seed: int = 0, data_path: Optional[str] = None):
    """(features [N, F], labels [N] or None) of a dataset's ``split`` under ``model``'s D (a LoadedGAN);
    ``data_name`` defaults to the data the model was trained on, and must have its item shape."""
    import dataclasses

    from gankit.data import load_dataset

    data_cfg = model.config.data
    if data_name is not None and data_name != data_cfg.name:
        data_cfg = dataclasses.replace(data_cfg, name=data_name, path=data_path)
    elif data_path is not None:
        data_cfg = dataclasses.replace(data_cfg, path=data_path)
    data = load_dataset(data_cfg, split)
    if not hasattr(data, "x"):
        raise GankitError(f"{data.name} is a distribution, not a dataset of items: nothing to extract")
    if list(data.shape) != list(model.spec.shape):
        raise GankitError(f"D reads {model.spec.shape} items but {data.name} ({split}) holds {list(data.shape)}; "
                          "set data.resolution/channels as in training")
    x, y = data.x, data.y
    if n is not None and n < len(x):
        idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
        x, y = x[idx], (y[idx] if y is not None else None)
    needs_y = getattr(model.D, "num_classes", 0) and getattr(model.D, "cond", "none") != "none"
    if needs_y and y is None:
        raise GankitError(f"this D reads labels (model.d_cond={model.config.model.d_cond}) and {data.name} has none")
    feats = discriminator_features(model.D, data.to_model(x), y if needs_y else None, layers=layers,
                                   device=model.device)
    return feats, y


def save_features(out: Union[str, Path], features: torch.Tensor, y: Optional[torch.Tensor], meta: dict) -> Path:
    """An ``.npz`` with ``features`` [N, F] float32, ``y`` [N] (when labelled) and ``meta`` (JSON)."""
    import json

    out = Path(out)
    if out.suffix != ".npz":
        raise GankitError(f"--out {out}: features are written to an .npz file")
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"features": features.numpy().astype(np.float32), "meta": np.array(json.dumps(meta))}
    if y is not None:
        arrays["y"] = y.numpy()
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(out)
    return out
