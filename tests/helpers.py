"""Small shared pieces for the tests."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from gankit.nets import DOutput

ROOT = Path(__file__).resolve().parents[1]

# Tiny, fast settings per data kind.
TINY_DIGITS = ["model.g_width=8", "model.d_width=8", "model.z_dim=8", "data.batch_size=32",
               "train.threads=1", "train.log_every=5", "train.sample_every=10"]
TINY_RING = ["model.g_width=16", "model.d_width=16", "model.g_layers=2", "model.d_layers=2",
             "data.batch_size=64", "train.threads=1", "train.log_every=5", "train.sample_every=10"]


def gankit(*args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the CLI in a subprocess (as a user would)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "gankit.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=ROOT)


def final_tensors(run_dir: Path) -> dict:
    """All tensors of the newest checkpoint of a run."""
    ckpts = sorted((run_dir / "checkpoints").glob("step_*.safetensors"))
    return load_file(str(ckpts[-1]))


# Critics with known input gradients, for the hand-computed penalty tests.


class LinearD(nn.Module):
    """D(x) = w . x (x flattened; packed inputs too): its input gradient is w at every point."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x, y=None):
        return DOutput(logits=x.flatten(1) @ self.w)


class HalfSquareD(nn.Module):
    """D(x) = s/2 ||x||^2: its input gradient is s x."""

    def __init__(self, s=1.0):
        super().__init__()
        self.s = nn.Parameter(torch.tensor(s))

    def forward(self, x, y=None):
        return DOutput(logits=0.5 * self.s * x.flatten(1).pow(2).sum(1))


def assert_resume_is_exact(preset: str, args: list, tmp_path: Path, steps: int = 20, stop: int = 10) -> Path:
    """Train ``steps`` steps in one go and, elsewhere, ``stop`` steps then a resume to ``steps``: every
    tensor of the two final checkpoints must be bitwise equal. Returns the resumed run's folder."""
    import gankit as api

    full, part = tmp_path / "full", tmp_path / "part"
    api.train(preset, args, out=full, steps=steps, progress=False)
    api.train(preset, args, out=part, steps=stop, progress=False)
    api.resume(part, steps=steps, progress=False)
    want, got = final_tensors(full), final_tensors(part)
    assert got.keys() == want.keys()
    for k in want:
        assert torch.equal(got[k], want[k]), k
    return part
