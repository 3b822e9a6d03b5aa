"""File safety shared by every layer: atomic writes, sha256, and tensor files loaded without pickle.

Metrics (feature-extractor weights, cached statistics) and training (checkpoints, run folders) both
write files a crash must not leave half written and read weights a user may have got from someone
else; this module sits below both so that neither imports the other for it.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Union

import torch

from gankit.errors import GankitError


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (a rename) to disk where the platform allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def user_file_mode() -> int:
    """The permissions a new file gets under the process's umask (usually 0o644).

    One policy for both files of a checkpoint: they hold no secrets and no pickle (safe to share), so
    the weights are no more private than their manifest; a user who wants them private sets a umask.
    """
    umask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never half."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_save_tensors(path: Path, tensors: dict) -> None:
    """Write a safetensors file atomically (temporary name, fsync, rename), with the umask's mode."""
    from safetensors.torch import save_file

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp))
    os.chmod(tmp, user_file_mode())  # safetensors writes 0600; the manifest beside it follows the umask
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_tensors(path: Union[str, Path], what: str = "weights") -> dict:
    """Every tensor of a safetensors file (no pickle, no code run); a damaged file is a GankitError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise GankitError(f"{what} {path} cannot be read: {exc}") from None


def load_module_state(module: torch.nn.Module, state: dict, what: str, path: str) -> None:
    """Strictly load ``state`` into ``module``; a mismatch says the file holds another architecture."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or extra or shapes:
        detail = (f"missing {missing[:3]}" if missing else
                  f"unexpected {extra[:3]}" if extra else
                  f"shape of {shapes[0]} is {tuple(state[shapes[0]].shape)}, "
                  f"the model wants {tuple(own[shapes[0]].shape)}")
        raise GankitError(f"checkpoint {path} holds a {what} of another architecture ({detail})")
    module.load_state_dict(state)
