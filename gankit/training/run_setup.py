"""What a training run is set up with, outside the trainer: the data's description for the nets,
the snapshot labels, the device, the gradient norm the log reports and the early run-time estimate."""
from __future__ import annotations

import time
from typing import Any, Optional

import torch

from gankit.errors import GankitError
from gankit.nets import DataSpec
from gankit.report._io import format_duration


def data_spec(data: Any) -> DataSpec:
    """Describe a dataset for networks, checkpoints and sampling without the data itself."""
    return DataSpec(kind=data.kind, shape=list(data.shape), num_classes=data.num_classes,
                    class_names=getattr(data, "class_names", None), name=data.name,
                    source=str(getattr(data, "source", "")))


def fixed_labels(n: int, num_classes: int) -> Optional[torch.Tensor]:
    """Labels of the snapshot batch of a conditional G: class c in row c of a grid with
    n // num_classes columns (the leftover items cycle through the classes); None if unconditional."""
    if not num_classes:
        return None
    per_class = max(n // num_classes, 1)
    y = torch.arange(num_classes).repeat_interleave(per_class)
    if len(y) < n:
        y = torch.cat([y, torch.arange(n - len(y)) % num_classes])
    return y[:n]


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)  # Apple's Metal backend: absent from some builds
    return bool(mps is not None and mps.is_available())


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise GankitError("train.device=cuda but no CUDA device is available; use train.device=cpu")
    if name == "mps" and not _mps_available():
        raise GankitError("train.device=mps but this PyTorch has no usable Apple MPS device (it needs an Apple "
                          "silicon Mac and a macOS build of torch); use train.device=cpu")
    return torch.device(name)


def grad_norm(params: list) -> float:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))


class RunTimeEstimate:
    """Once the first steps have been timed (at least ``after_s`` seconds and ``after_steps`` steps),
    says how long the rest of the run will take at the rate so far: a long run is known early."""

    def __init__(self, first_step: int, total: int, t_start: float, after_s: float = 3.0,
                 after_steps: int = 5) -> None:
        self.first_step, self.total, self.t_start = first_step, total, t_start
        self.after_s, self.after_steps = after_s, after_steps
        self.done = False

    def after_step(self, step: int) -> Optional[str]:
        if self.done or step >= self.total:
            return None
        elapsed, steps = time.perf_counter() - self.t_start, step - self.first_step
        if elapsed < self.after_s or steps < self.after_steps:
            return None
        self.done = True
        rate = steps / elapsed
        remaining = (self.total - step) / rate
        return (f"at {rate:.3g} steps/s the remaining {self.total - step:,} of {self.total:,} steps take about "
                f"{format_duration(remaining)} (snapshots, checkpoints and scoring add to it)")
