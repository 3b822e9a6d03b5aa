"""Export a trained generator to run without gankit: ONNX (onnxruntime, any language) or torch.export (.pt2).

The exported graph is G itself (the EMA copy when the run kept one), in eval mode: input ``z`` float32
[batch, latent_dim] (and ``y`` int64 [batch] for a conditional G), output ``x`` float32, the raw G(z, y):
images NCHW in [-1, 1], vectors [batch, D]. The batch axis is dynamic. A JSON file beside the model
(same name, ``.json``) records the shapes, how to draw z, the data spec and the post-processing that turns
x into data, plus the largest difference between the exported graph and :meth:`LoadedGAN.generate` on a
check batch.

TorchScript is not used: it is deprecated in this PyTorch version; ``torch.export`` is the supported
path, and the ONNX file comes from torch's torch.export-based exporter (``dynamo=True``), which needs the
``onnx`` and ``onnxscript`` packages (``pip install 'gankit[export]'``).

The nets draw no randomness inside ``forward`` (all of it is in z), so the graphs are deterministic.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np
import torch
from torch import nn

from gankit.errors import GankitError

if TYPE_CHECKING:
    from gankit.explore.model import LoadedGAN

# format name -> the file suffix it writes
FORMATS = {"onnx": ".onnx", "torch-export": ".pt2"}
CHECK_BATCH = 5  # latents (seed 0) the export is checked on; not 1, so the batch axis is exercised


@dataclass
class ExportResult:
    path: Path  # the model file
    meta_path: Path  # the JSON beside it
    meta: dict  # what the JSON holds


class GeneratorGraph(nn.Module):
    """The exported function: x = G(z, y), with y only for a conditional G (an unconditional graph has
    the single input z)."""

    def __init__(self, G: nn.Module) -> None:
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.G(z, y)


def resolve_format(fmt: Optional[str], out: Union[str, Path]) -> str:
    """The export format from ``fmt`` or, when None, from the suffix of ``out`` (.onnx, .pt2)."""
    suffix = Path(out).suffix
    by_suffix = {s: f for f, s in FORMATS.items()}
    if fmt is None:
        if suffix not in by_suffix:
            raise GankitError(f"--out {out}: give --format onnx|torch-export, or end the file in .onnx or .pt2")
        return by_suffix[suffix]
    if fmt not in FORMATS:
        raise GankitError(f"--format {fmt} is not an export format; use onnx or torch-export")
    if suffix != FORMATS[fmt]:
        raise GankitError(f"--out {out}: --format {fmt} writes a file ending in {FORMATS[fmt]}")
    return fmt


def export_generator(model: "LoadedGAN", out: Union[str, Path], fmt: Optional[str] = None,
                     check: bool = True) -> ExportResult:
    """Write ``model``'s generator to ``out`` (``fmt`` 'onnx' or 'torch-export'; default: from the suffix)
    and the JSON description beside it (``out`` with suffix ``.json``).

    ``check``: run the exported file on :data:`CHECK_BATCH` latents of seed 0 (onnxruntime for ONNX, when
    installed; the reloaded program for torch.export) and record the largest absolute difference from
    ``model.generate``; a difference above 1e-4 is an error.
    """
    fmt = resolve_format(fmt, out)
    out = Path(out)
    meta_path = out.with_suffix(".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    graph = GeneratorGraph(copy.deepcopy(model.G).cpu().eval()).eval()
    z, y = model.latents(CHECK_BATCH, seed=0)
    args = (z,) if y is None else (z, y)
    batch = torch.export.Dim("batch", min=1)
    dynamic = tuple({0: batch} for _ in args)
    tmp = out.with_name(out.stem + ".tmp" + out.suffix)  # the suffix stays: torch.export.save wants .pt2
    if fmt == "onnx":
        _export_onnx(graph, args, dynamic, tmp)
    else:
        with torch.no_grad():
            program = torch.export.export(graph, args, dynamic_shapes=dynamic)
        torch.export.save(program, str(tmp))
    tmp.replace(out)
    meta = describe(model, fmt, out)
    if check:
        meta["check"] = _check(model, fmt, out, z, y)
    from gankit.training.checkpoint import atomic_write_text

    atomic_write_text(meta_path, json.dumps(meta, indent=2) + "\n")
    return ExportResult(out, meta_path, meta)


def _export_onnx(graph: nn.Module, args: tuple, dynamic: tuple, path: Path) -> None:
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise GankitError(f"ONNX export needs the {' and '.join(missing)} package{'s' * (len(missing) > 1)}: "
                          f"pip install 'gankit[export]' (or use --format torch-export)")
    names = ["z", "y"][:len(args)]
    # the exporter warns about optional torchvision ops it cannot register; they are not used here
    quiet = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # torch-internal notices, not about this model: a deprecation inside the exporter, and that the
            # shared symbolic batch size keeps one name (the inputs and the output all share it: "batch")
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
            warnings.filterwarnings("ignore", message=r".*axis name: batch will not be used", category=UserWarning)
            torch.onnx.export(graph, args, str(path), dynamo=True, input_names=names, output_names=["x"],
                              dynamic_shapes=dynamic, external_data=False, verbose=False)
    finally:
        quiet.setLevel(level)


def describe(model: "LoadedGAN", fmt: str, path: Path) -> dict:
    """What the JSON beside an exported model says: inputs, output, data spec, post-processing."""
    import gankit

    G = model.G
    inputs: list[dict[str, Any]] = [{"name": "z", "dtype": "float32", "shape": ["batch", G.latent_dim],
                                     "prior": latent_prior(G)}]
    if model.conditional:
        inputs.append({"name": "y", "dtype": "int64", "shape": ["batch"],
                       "meaning": f"class index 0..{G.num_classes - 1}",
                       "class_names": model.class_names[:G.num_classes]})
    shape = list(model.spec.shape)
    if model.kind == "image":
        output = {"name": "x", "dtype": "float32", "shape": ["batch", *shape], "layout": "NCHW", "range": [-1, 1]}
        post = ("images: uint8 = round((clip(x, -1, 1) + 1) * 127.5), then NCHW -> NHWC "
                "(what gankit.load(run).to_data does)")
    else:
        output = {"name": "x", "dtype": "float32", "shape": ["batch", *shape]}
        post = "none: x are data vectors"
    meta = {
        "format": fmt,
        "file": path.name,
        "inputs": inputs,
        "outputs": [output],
        "dynamic_axes": {"batch": "the first axis of every input and of the output"},
        "postprocess": post,
        "data": dict(model.spec),
        "source": {"checkpoint": str(model.path), "step": model.step,
                   "weights": "G_ema (the EMA copy)" if model.uses_ema else "G"},
        "gankit_version": gankit.__version__,
        "torch_version": torch.__version__,
    }
    if fmt == "onnx":
        import onnx

        proto = onnx.load(str(path), load_external_data=False)
        meta["opset"] = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    else:
        meta["load"] = "torch.export.load(FILE).module()(z, y); it unpickles, so load only files you trust"
    return meta


def latent_prior(G: nn.Module) -> str:
    """How to draw z for ``G``, in words (Generator.sample_z)."""
    noise = "U[-1, 1]" if G.z_dist == "uniform" else "N(0, 1)"
    parts = [f"units 0..{G.z_dim - 1}: {noise} noise"]
    at = G.z_dim
    if G.z_categories:
        parts.append(f"units {at}..{at + G.z_categories - 1}: a one-hot code of a class drawn uniformly "
                     f"from {G.z_categories}")
        at += G.z_categories
    if G.z_continuous:
        parts.append(f"units {at}..{at + G.z_continuous - 1}: U[-1, 1] codes")
    return "; ".join(parts)


def _check(model: "LoadedGAN", fmt: str, path: Path, z: torch.Tensor, y: Optional[torch.Tensor]) -> dict:
    want = model.generate(z, y).numpy()
    if fmt == "onnx":
        if importlib.util.find_spec("onnxruntime") is None:
            return {"checked": False, "reason": "onnxruntime is not installed (pip install 'gankit[export]')"}
        got = run_onnx(path, z.numpy(), None if y is None else y.numpy())
        runner = "onnxruntime " + __import__("onnxruntime").__version__
    else:
        with torch.no_grad():
            program = load_torch_export(path)
            got = program(*((z,) if y is None else (z, y))).numpy()
        runner = "torch.export.load"
    diff = float(np.abs(got - want).max())
    if not diff <= 1e-4:
        raise GankitError(f"the exported {fmt} graph {path} differs from the generator by {diff:.3g} "
                          f"(more than 1e-4) on {len(z)} check latents; please report this")
    return {"checked": True, "runner": runner, "n": len(z), "seed": 0, "max_abs_diff": diff}


def run_onnx(path: Union[str, Path], z: np.ndarray, y: Optional[np.ndarray] = None) -> np.ndarray:
    """Run an exported ONNX generator in onnxruntime (CPU): x for latents z (and labels y)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"z": np.asarray(z, dtype=np.float32)}
    if y is not None:
        feed["y"] = np.asarray(y, dtype=np.int64)
    return session.run(["x"], feed)[0]


def load_torch_export(path: Union[str, Path]) -> nn.Module:
    """The module of a torch.export file (.pt2): call it as ``module(z)`` or ``module(z, y)``.
    torch.export.load unpickles: load only files you trust."""
    return torch.export.load(str(path)).module()
