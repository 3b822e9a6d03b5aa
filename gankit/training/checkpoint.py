"""Checkpoints: safetensors weights plus a JSON manifest, written atomically, loaded without pickle.

A checkpoint ``step_0000500`` is two files in ``checkpoints/``:
``step_0000500.safetensors`` (every tensor: weights, optimizer moments, RNG states) and
``step_0000500.json`` (the manifest: format, step, the resolved config, the data's description,
the non-tensor state, and the sha256 of the tensor file). The tensor file is written first and the
manifest last, each to a temporary name then renamed, so a crash leaves at worst an orphan tensor
file that no manifest names; the latest checkpoint is the newest manifest whose tensor file matches
its hash. Loading reads JSON and safetensors only: it runs no code.

``best.safetensors`` + ``best.json`` (written when ``eval.best`` improves) is a checkpoint like the
others, replaced in place; its manifest adds ``best`` (key, value, step, direction). It is never
"latest" and never pruned: only ``step_*`` manifests count for those.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional, Union

import torch
from gankit.errors import GankitError
# the file-safety helpers live in gankit.fileio (below metrics and training); re-exported for callers
from gankit.fileio import (atomic_save_tensors, atomic_write_bytes, atomic_write_text,  # noqa: F401
                           load_module_state, load_tensors, sha256_file, user_file_mode)

FORMAT = "gankit-checkpoint/1"
BEST = "best"  # the stem of the best checkpoint's files
_NAME = re.compile(r"^step_(\d+)\.json$")


# --------------------------------------------------------------------------- nested state <-> flat tensors


def flatten_state(obj: Any, prefix: str, tensors: dict) -> Any:
    """Replace every tensor in a nested dict/list by ``{"__tensor__": key}``, collecting tensors.

    Dict keys keep their type (optimizer state is keyed by int), so dicts are stored as pairs.
    """
    if isinstance(obj, torch.Tensor):
        key = prefix.rstrip(".")
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[k, flatten_state(v, f"{prefix}{k}.", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [flatten_state(v, f"{prefix}{i}.", tensors) for i, v in enumerate(obj)],
                "tuple": isinstance(obj, tuple)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint")


def unflatten_state(obj: Any, tensors: dict) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {k: unflatten_state(v, tensors) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            items = [unflatten_state(v, tensors) for v in obj["__list__"]]
            return tuple(items) if obj.get("tuple") else items
    return obj


# --------------------------------------------------------------------------- save / load


def save_checkpoint(folder: Path, step: int, state: dict, manifest: dict, keep: int = 0,
                    name: Optional[str] = None) -> Path:
    """Write checkpoint ``step`` of nested ``state`` (tensors and JSON values) into ``folder``.

    ``manifest`` holds the JSON-only description (config, data, versions). Returns the manifest
    path. With ``keep`` > 0, older checkpoints beyond the newest ``keep`` are removed afterwards.
    ``name`` replaces the file stem ``step_NNNNNNN`` (``best``): an existing checkpoint of that name
    is replaced, the weights first, then the manifest.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = name or f"step_{step:07d}"
    tensors: dict = {}
    skeleton = flatten_state(state, "", tensors)
    weights = folder / f"{stem}.safetensors"
    atomic_save_tensors(weights, tensors)
    record = dict(manifest)
    record.update({"format": FORMAT, "step": step, "weights": weights.name,
                   "sha256": sha256_file(weights), "state": skeleton})
    path = folder / f"{stem}.json"
    atomic_write_text(path, json.dumps(record, indent=1))
    if keep > 0:
        prune(folder, keep)
    return path


def prune(folder: Path, keep: int) -> None:
    """Keep the newest ``keep`` checkpoints in ``folder``; remove older ones and stray temp files."""
    manifests = list_checkpoints(folder)
    for step, path in manifests[:-keep]:
        path.unlink(missing_ok=True)
        path.with_suffix(".safetensors").unlink(missing_ok=True)
    for tmp in folder.glob("*.tmp"):
        tmp.unlink(missing_ok=True)


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, manifest path) for every manifest in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _NAME.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(folder: Path) -> Optional[Path]:
    """The newest manifest in ``folder`` whose weights file is intact, or None."""
    for _, path in reversed(list_checkpoints(folder)):
        try:
            read_manifest(path, verify=True)
            return path
        except GankitError:
            continue
    return None


def best_checkpoint(folder: Path) -> Optional[Path]:
    """The manifest of the best checkpoint in ``folder`` (``best.json``) when it is intact, or None."""
    path = Path(folder) / f"{BEST}.json"
    if not path.is_file():
        return None
    try:
        read_manifest(path, verify=True)
    except GankitError:
        return None
    return path


def discard_best_after(folder: Path, step: int) -> None:
    """Remove the best checkpoint unless it is intact and from ``step`` or before.

    A resumed run continues from ``step``: a best checkpoint of a later step belongs to the part of
    the run that is being redone, and the resumed run writes it again when it gets there.
    """
    folder = Path(folder)
    path = folder / f"{BEST}.json"
    if not path.exists() and not (folder / f"{BEST}.safetensors").exists():
        return
    keep = False
    if best_checkpoint(folder) is not None:
        try:
            keep = int(json.loads(path.read_text())["step"]) <= step
        except (OSError, ValueError, KeyError, TypeError):
            keep = False
    if not keep:
        path.unlink(missing_ok=True)
        (folder / f"{BEST}.safetensors").unlink(missing_ok=True)


def resolve_checkpoint(path: Union[str, Path]) -> Path:
    """A run directory, a ``checkpoints/`` folder, a manifest or a weights file -> manifest path."""
    path = Path(path)
    if path.is_dir():
        for folder in (path / "checkpoints", path):
            found = latest_checkpoint(folder)
            if found:
                return found
        if list_checkpoints(path / "checkpoints") or list_checkpoints(path):
            raise GankitError(f"{path} has checkpoints, but none is intact (each failed its sha256 check)")
        raise GankitError(f"no checkpoint in {path}: expected {path / 'checkpoints'}/step_NNNNNNN.json; "
                          f"train a run first with 'gankit train'")
    if path.suffix == ".safetensors":
        path = path.with_suffix(".json")
    if not path.is_file():
        raise GankitError(f"checkpoint not found: {path}")
    return path


def read_manifest(path: Path, verify: bool = True) -> dict:
    """Read and check a manifest (and, with ``verify``, its weights' sha256)."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GankitError(f"checkpoint {path} is unreadable or truncated ({exc.__class__.__name__}); "
                          f"use an earlier checkpoint") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise GankitError(f"{path} is not a gankit checkpoint manifest (format {FORMAT!r} expected)")
    for key in ("step", "weights", "sha256", "state", "config"):
        if key not in record:
            raise GankitError(f"checkpoint {path} lacks '{key}': it is truncated or was edited")
    weights = path.with_name(Path(record["weights"]).name)
    if verify:
        if not weights.is_file():
            raise GankitError(f"checkpoint {path} names {weights.name}, which is missing")
        if sha256_file(weights) != record["sha256"]:
            raise GankitError(f"checkpoint {weights} does not match the sha256 in {path.name}: it is "
                              f"truncated or was modified; use an earlier checkpoint")
    return record


def load_checkpoint(path: Union[str, Path]) -> tuple[dict, dict]:
    """(manifest, nested state with tensors) of a checkpoint; verifies its hash first."""
    path = resolve_checkpoint(path)
    record = read_manifest(path, verify=True)
    weights = path.with_name(Path(record["weights"]).name)
    tensors = load_tensors(weights, "checkpoint")
    try:
        state = unflatten_state(record["state"], tensors)
    except (KeyError, TypeError) as exc:
        raise GankitError(f"checkpoint {path} names tensor {exc} that its weights file lacks") from None
    record["path"] = str(path)
    return record, state


def resume_point(run: Any, steps: Optional[int] = None) -> tuple:
    """Where a resume of the run folder ``run`` (a RunDir) starts: (manifest, state, config, checkpoint
    path) of its latest intact checkpoint, or (None, None, the folder's config, None) when it has none
    yet; ``steps`` replaces the config's total of generator steps."""
    from gankit.config import stored_config

    latest = latest_checkpoint(run.checkpoints)
    if latest is not None:
        manifest, state = load_checkpoint(latest)
        cfg = stored_config(manifest["config"])
    else:
        manifest, state, cfg = None, None, run.read_config()
    if steps is not None:
        cfg.train.steps = steps
        cfg.validate()
    return manifest, state, cfg, latest
