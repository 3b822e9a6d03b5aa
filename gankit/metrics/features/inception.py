"""InceptionV3 as the standard FID uses it (Heusel et al. 2017): 2048-d pool features.

The network is torch-fidelity's ``FeatureExtractorInceptionV3`` (Obukhov et al., a port of the
TensorFlow FID graph, checked by its authors against the reference implementation to float
precision): it resizes to 299x299 with TensorFlow 1.x's bilinear interpolation and scales
[0, 255] to [-1, 1] as the TF graph does. gankit does not copy the network; it only feeds it.

torch-fidelity is an optional dependency. Its package ``__init__`` imports torchvision (for other
extractors), which does not install beside every torch build, while the InceptionV3 module itself
needs only torch; so when ``import torch_fidelity`` fails for want of torchvision we import that
one module directly (see :func:`_fidelity_inception_class`). Install it with::

    pip install --no-deps torch-fidelity     # scipy, numpy, pillow, tqdm are gankit dependencies

The weights (``weights-inception-2015-12-05-6726825d.pth``, 95 MB, converted from TensorFlow's
2015-12-05 Inception graph) are never downloaded by gankit: pass the file's path, see
docs/features.md for where to get it.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from pathlib import Path
from typing import Optional, Union

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.metrics.features.base import FeatureExtractor, state_sha256

WEIGHTS_NAME = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + WEIGHTS_NAME
WEIGHTS_SHA256_PREFIX = "6726825d"  # torch.hub's naming convention: the file's sha256 starts so
ENV = "GANKIT_INCEPTION_WEIGHTS"
INPUT_SIZE = 299
PREPROCESSING = ("images in [-1, 1] -> uint8 round((x + 1) * 127.5); gray repeated to 3 channels; "
                 "torch-fidelity: resize to 299x299 (TensorFlow 1.x bilinear) and (x - 128) / 128, "
                 "as the TF FID Inception graph; features: 2048-d pool3, logits: 1008 (unbiased)")


def candidate_paths(path: Union[str, Path, None] = None) -> list[tuple[Path, str]]:
    """Where to look for the weights, in order, each with why."""
    if path:
        return [(Path(path).expanduser(), "--inception-weights")]
    places = []
    if os.environ.get(ENV):
        places.append((Path(os.environ[ENV]).expanduser(), ENV))
    places.append((Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_NAME, "torch hub cache"))
    return places


def how_to_get() -> str:
    return (f"on a machine with a network: `curl -L -o {WEIGHTS_NAME} {WEIGHTS_URL}` (95 MB; its sha256 "
            f"starts with {WEIGHTS_SHA256_PREFIX}), then pass --inception-weights FILE or set {ENV}=FILE "
            f"(see docs/features.md)")


def find_weights(path: Union[str, Path, None] = None) -> Path:
    """The weights file, or a GankitError saying where it looked and how to get the file."""
    places = candidate_paths(path)
    for candidate, _ in places:
        if candidate.is_file():
            return candidate
    looked = "; ".join(f"{p} ({why})" for p, why in places)
    raise GankitError(f"InceptionV3 weights not found; looked in: {looked}. gankit downloads nothing: "
                      f"{how_to_get()}; or use --features classifier (digits, fashion_mnist) or raw")


def _fidelity_inception_class() -> type:
    """torch-fidelity's FeatureExtractorInceptionV3, importable without torchvision."""
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        return FeatureExtractorInceptionV3
    except ModuleNotFoundError as exc:
        if exc.name != "torchvision":
            raise GankitError("the inception extractor needs torch-fidelity: `pip install --no-deps "
                              "torch-fidelity` (its InceptionV3 needs only torch; --no-deps keeps pip "
                              "from pulling a torchvision that may not match this torch)") from None
    # The package __init__ imports torchvision for other extractors. Register a bare package
    # module over the same folder, so that only the InceptionV3 module and its torch-only helpers
    # are imported.
    spec = importlib.util.find_spec("torch_fidelity")
    if spec is None or not spec.submodule_search_locations:
        raise GankitError("torch-fidelity is installed but cannot be located; reinstall it with "
                          "`pip install --no-deps torch-fidelity`")
    package = types.ModuleType("torch_fidelity")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    sys.modules["torch_fidelity"] = package
    module = importlib.import_module("torch_fidelity.feature_extractor_inceptionv3")
    return module.FeatureExtractorInceptionV3


def _check_plain_tensors(path: Path) -> None:
    # torch-fidelity loads the file with torch.load(weights_only=False), i.e. full pickle. Load it
    # once with the restricted unpickler first: a file that holds anything but tensors stops here,
    # before any of its code could run.
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means: not a plain tensor file
        raise GankitError(f"InceptionV3 weights {path} are not a plain PyTorch tensor file ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}); {how_to_get()}") from None
    if not isinstance(state, dict) or "Mixed_7c.branch_pool.conv.weight" not in state:
        raise GankitError(f"{path} does not hold the FID InceptionV3 weights (no Mixed_7c layers); {how_to_get()}")


def load_fidelity_inception(path: Path) -> nn.Module:
    """torch-fidelity's FID InceptionV3 with the local weights ``path``; returns (pool3, logits)."""
    cls = _fidelity_inception_class()
    _check_plain_tensors(path)
    return cls("inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(path))


class InceptionExtractor(FeatureExtractor):
    """FID's InceptionV3: 2048-d pool features and 1008 logits (for the Inception Score).

    Args:
        weights: the local weights file (else $GANKIT_INCEPTION_WEIGHTS, else torch hub's cache).
        net: a stand-in network with torch-fidelity's contract (uint8 [N, 3, H, W] in, a pair
            (features, logits) out, resizing itself), for tests and for other ports.
    """

    name = "inception"
    num_classes = 1008

    def __init__(self, weights: Union[str, Path, None] = None, net: Optional[nn.Module] = None,
                 batch_size: int = 64, device: str = "cpu") -> None:
        super().__init__(batch_size, device)
        self.preprocessing = PREPROCESSING
        if net is None:
            path = find_weights(weights)
            from gankit.fileio import sha256_file

            self.weights_path = path
            self.weights_sha256 = sha256_file(path)
            if not self.weights_sha256.startswith(WEIGHTS_SHA256_PREFIX):
                print(f"gankit: warning: {path} is not the standard FID Inception file (sha256 "
                      f"{self.weights_sha256[:12]}..., expected {WEIGHTS_SHA256_PREFIX}...): scores "
                      f"are not comparable to published FIDs", file=sys.stderr)
            net = load_fidelity_inception(path)
        else:
            self.weights_path = None
            self.weights_sha256 = state_sha256(net)
        self.net = net.to(self.device).eval()

    @staticmethod
    def to_uint8_rgb(x: torch.Tensor) -> torch.Tensor:
        """Images [N, C, H, W] in [-1, 1] -> uint8 [N, 3, H, W] (what the FID graph reads)."""
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise GankitError(f"the inception extractor takes images [N, 1 or 3, H, W], got shape "
                              f"{list(x.shape)}; use --features raw for vector data")
        x = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x

    def forward_batch(self, x: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        out = self.net(self.to_uint8_rgb(x))
        if isinstance(out, torch.Tensor):
            return out, None
        return out[0], out[1]
