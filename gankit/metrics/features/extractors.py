"""The feature extractors: the shipped domain classifiers, the raw data values, any nn.Module."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from gankit.metrics.features.base import FeatureExtractor, state_sha256


def adapt_images(x: torch.Tensor, channels: int, resolution: int) -> torch.Tensor:
    """Images [N, C, H, W] in [-1, 1] -> [N, channels, resolution, resolution] in [-1, 1].

    Resizes with antialiased bilinear interpolation; gray -> RGB repeats the channel, RGB -> gray
    uses the ITU-R 601-2 luma weights (as the data loaders and PIL's "L" do).
    """
    x = x.float()
    if x.shape[1] != channels:
        if channels == 3 and x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        elif channels == 1 and x.shape[1] == 3:
            x = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
        else:
            from gankit.errors import GankitError

            raise GankitError(f"cannot turn {x.shape[1]}-channel images into the {channels} channels "
                              f"the feature extractor takes")
    if x.shape[-2:] != (resolution, resolution):
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False,
                          antialias=True)
    return x


def _adapt_words(input_shape: Optional[Sequence[int]], channels: int, resolution: int) -> str:
    if input_shape is None:
        return (f"resized to {resolution}x{resolution} (bilinear, antialiased) and converted to "
                f"{channels} channel(s) when needed")
    c, h, w = (list(input_shape) + [0, 0, 0])[:3]
    steps = []
    if (h, w) != (resolution, resolution):
        steps.append(f"resized {h}x{w} -> {resolution}x{resolution} (bilinear, antialiased)")
    if c != channels:
        steps.append("gray -> RGB (repeat)" if channels == 3 else "RGB -> gray (ITU-R 601-2 luma)")
    return "; ".join(steps) if steps else "no resize"


class ClassifierExtractor(FeatureExtractor):
    """A shipped (or user-trained) :class:`SmallCNN`: penultimate features and class logits.

    Args:
        weights: a ``classifier-DATASET.safetensors`` file with its JSON sidecar beside it.
        input_shape: (C, H, W) of the images it will see, for the provenance; inputs of another
            size or channel count are adapted to the classifier's own (see :func:`adapt_images`).
    """

    def __init__(self, weights: Union[str, Path], input_shape: Optional[Sequence[int]] = None,
                 batch_size: int = 500, device: str = "cpu") -> None:
        from gankit.metrics.features.classifier import load_classifier

        super().__init__(batch_size, device)
        self.model, self.record = load_classifier(weights)
        self.model.to(self.device)
        self.weights = Path(weights)
        self.dataset = self.record["dataset"]
        self.name = f"classifier:{self.dataset}"
        self.weights_sha256 = self.record["sha256"]
        self.num_classes = self.model.num_classes
        self.test_accuracy = self.record.get("test_accuracy")
        arch = self.record["architecture"]
        self.channels, self.resolution = int(arch["in_channels"]), int(arch["resolution"])
        self.preprocessing = (f"images in [-1, 1]; {_adapt_words(input_shape, self.channels, self.resolution)}; "
                              f"SmallCNN {self.channels}x{self.resolution}x{self.resolution} -> "
                              f"{arch['feature_dim']}-d penultimate ReLU features, {self.num_classes} logits")

    def forward_batch(self, x: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        if x.dim() != 4:
            from gankit.errors import GankitError

            raise GankitError(f"the classifier extractor takes images [N, C, H, W], got shape {list(x.shape)}; "
                              f"use --features raw for vector data")
        return self.model.features_and_logits(adapt_images(x, self.channels, self.resolution))

    def describe(self) -> dict:
        out = super().describe()
        out["classifier_test_accuracy"] = self.test_accuracy
        return out


class RawExtractor(FeatureExtractor):
    """The data values themselves, flattened: vectors and toy data (and, if asked, pixels)."""

    name = "raw"
    preprocessing = "model-space values, flattened to [N, D] float32 (images: [-1, 1] pixels)"

    def forward_batch(self, x: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        return x.reshape(x.shape[0], -1).float(), None


class ModuleExtractor(FeatureExtractor):
    """Any ``torch.nn.Module`` given from Python.

    The module receives model-space batches (images in [-1, 1], [N, C, H, W]; vectors [N, D]) and
    returns features [N, ...] (flattened to [N, F]), or a pair ``(features, logits)``, or a dict
    with ``"features"`` and optionally ``"logits"``. It runs in eval mode under ``no_grad``; its
    training flag is restored afterwards. Its weights' sha256 is computed from its state_dict.
    """

    def __init__(self, module: nn.Module, name: Optional[str] = None, preprocessing: Optional[str] = None,
                 batch_size: int = 500, device: Optional[str] = None) -> None:
        if device is None:
            try:
                device = str(next(module.parameters()).device)
            except StopIteration:
                device = "cpu"
        super().__init__(batch_size, device)
        self.module = module
        self.name = name or f"module:{type(module).__name__}"
        self.weights_sha256 = state_sha256(module)
        self.preprocessing = preprocessing or "model-space input passed unchanged to the module"

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, progress: bool = False,
                 desc: str = "features") -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        was = self.module.training
        self.module.eval()
        try:
            return super().__call__(x, progress, desc)
        finally:
            self.module.train(was)

    def forward_batch(self, x: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        out: Any = self.module(x)
        if isinstance(out, torch.Tensor):
            return out, None
        if isinstance(out, dict):
            return out["features"], out.get("logits")
        if isinstance(out, (tuple, list)) and len(out) == 2:
            return out[0], out[1]
        raise TypeError(f"the feature module returned {type(out).__name__}; expected a tensor, "
                        f"a pair (features, logits) or a dict with 'features'")
