"""Feature extractors shared by every metric.

One interface (:class:`FeatureExtractor`): model-space data in (images float [N, C, H, W] in
[-1, 1], or vectors [N, D]), ``(features [N, F] float32, logits [N, K] or None)`` out, batched,
under ``no_grad``, in eval mode. :func:`get_extractor` picks one by name:

- ``classifier`` (default for digits and fashion_mnist): the small CNN shipped for the dataset;
  ``classifier:DATASET`` names the dataset, ``classifier:FILE.safetensors`` a user-trained one.
- ``inception``: FID's InceptionV3 through torch-fidelity, from a local weights file.
- ``raw`` (default for vectors and toy data): the values themselves.
- a ``torch.nn.Module`` given from Python.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Union

from torch import nn

from gankit.errors import GankitError, closest
from gankit.metrics.features.base import FeatureExtractor, state_sha256
from gankit.metrics.features.extractors import ClassifierExtractor, ModuleExtractor, RawExtractor, adapt_images
from gankit.metrics.features.inception import InceptionExtractor

__all__ = ["FeatureExtractor", "ClassifierExtractor", "InceptionExtractor", "RawExtractor", "ModuleExtractor",
           "get_extractor", "default_extractor", "adapt_images", "state_sha256", "EXTRACTOR_NAMES"]

EXTRACTOR_NAMES = ("classifier", "inception", "raw")


def _spec_get(spec: Any, key: str, default: Any = None) -> Any:
    if spec is None:
        return default
    if isinstance(spec, Mapping):
        return spec.get(key, default)
    return getattr(spec, key, default)


def default_extractor(spec: Any) -> str:
    """The extractor a dataset gets when none is named: its shipped classifier, else raw for
    vectors, else inception."""
    from gankit.metrics.features.classifier import SHIPPED

    if _spec_get(spec, "kind") != "image":
        return "raw"
    if _spec_get(spec, "name") in SHIPPED:
        return "classifier"
    return "inception"


def get_extractor(name: Union[str, nn.Module, FeatureExtractor, None] = None, spec: Any = None, *,
                  inception_weights: Union[str, Path, None] = None, batch_size: Optional[int] = None,
                  device: str = "cpu") -> FeatureExtractor:
    """The feature extractor ``name`` for data described by ``spec``.

    Args:
        name: ``classifier``, ``classifier:DATASET``, ``classifier:FILE.safetensors``, ``inception``,
            ``raw``, a ``torch.nn.Module`` or a ready :class:`FeatureExtractor`; None picks
            :func:`default_extractor` for ``spec``.
        spec: what the data is: a mapping or object with ``kind`` ('image' | 'vector'), ``shape``
            (per item) and ``name`` (the dataset), e.g. a checkpoint's DataSpec.
        inception_weights: the local InceptionV3 weights file (else $GANKIT_INCEPTION_WEIGHTS).

    Raises:
        GankitError for an unknown name, missing weights or a dataset without a shipped classifier.
    """
    from gankit.metrics.features.classifier import SHIPPED, shipped_weights

    if isinstance(name, FeatureExtractor):
        return name
    kwargs = {"device": device}
    if batch_size:
        kwargs["batch_size"] = batch_size
    if isinstance(name, nn.Module):
        return ModuleExtractor(name, **kwargs)
    name = name or default_extractor(spec)
    shape = _spec_get(spec, "shape")
    base, _, arg = name.partition(":")
    if base == "raw":
        return RawExtractor(**kwargs)
    if base == "inception":
        return InceptionExtractor(inception_weights or (arg or None), **kwargs)
    if base == "classifier":
        if arg.endswith(".safetensors") or "/" in arg:
            return ClassifierExtractor(arg, input_shape=shape, **kwargs)
        dataset = arg or _spec_get(spec, "name")
        if dataset not in SHIPPED:
            what = f"dataset '{dataset}'" if dataset else "this data"
            raise GankitError(f"no shipped classifier for {what}{closest(str(dataset), SHIPPED)}; shipped: "
                              f"{', '.join(SHIPPED)}. Use --features classifier:DATASET, "
                              f"classifier:FILE.safetensors (gankit train-classifier ... --out FILE), "
                              f"inception or raw")
        return ClassifierExtractor(shipped_weights(dataset), input_shape=shape, **kwargs)
    raise GankitError(f"unknown feature extractor '{name}'{closest(base, EXTRACTOR_NAMES)}; valid: "
                      f"classifier[:DATASET|:FILE.safetensors], inception, raw (or an nn.Module from Python)")
