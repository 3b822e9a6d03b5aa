"""Mixed precision: ``train.precision`` = fp32 | bf16 | fp16 through ``torch.autocast``.

The loop hands the objective its players wrapped in :class:`Player`: a call runs the network's
forward under autocast (and through DDP when the run is distributed), and returns its outputs cast
to float32, so every loss, penalty and statistic the objective computes is fp32 arithmetic outside
autocast. Gradient penalties differentiate through the low-precision forward and come back in the
input's dtype (fp32). With fp16 each optimizer has its own ``torch.amp.GradScaler`` (CUDA only: on
CPU fp16 is refused); a penalty's input gradient is taken of the scaled output and unscaled after
(:attr:`Player.grad_scale`, read by ``objectives.common.input_gradient``), so it does not underflow.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Callable, Optional

import torch

from gankit.errors import GankitError

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse a precision the device cannot run, naming the key and the fix."""
    if precision not in PRECISIONS:
        raise GankitError(f"config key 'train.precision' = {precision!r} must be one of {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type != "cuda":
        raise GankitError(f"train.precision=fp16 needs a CUDA device (its GradScaler is CUDA's), but the run is on "
                          f"{device.type}; use train.precision=bf16 on CPU")
    if precision != "fp32" and device.type not in ("cpu", "cuda"):
        raise GankitError(f"train.precision={precision} is supported on cpu and cuda, not {device.type}; "
                          f"use train.precision=fp32")


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context of ``precision`` on ``device`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def to_fp32(out: Any) -> Any:
    """Floating tensors of ``out`` (a tensor, a ``DOutput`` or another dataclass, a tuple) as float32."""
    if isinstance(out, torch.Tensor):
        return out.float() if out.is_floating_point() and out.dtype != torch.float32 else out
    if dataclasses.is_dataclass(out) and not isinstance(out, type):
        return dataclasses.replace(out, **{f.name: to_fp32(getattr(out, f.name)) for f in dataclasses.fields(out)})
    if isinstance(out, (tuple, list)):
        return type(out)(to_fp32(v) for v in out)
    return out


def make_scaler(precision: str, device: torch.device) -> Optional[torch.amp.GradScaler]:
    """A GradScaler for fp16 (one per optimizer), else None: bf16 has fp32's range and needs none."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(device.type)


class Player:
    """What an objective calls as ``G`` or ``D``: the network's attributes (``pack``, ``modules()``,
    ``sample_z``, ...) and a call that runs ``forward`` (through DDP when distributed) under
    autocast and returns fp32 outputs.

    ``grad_scale`` is the current loss scale of this phase's GradScaler (fp16), else None.
    """

    def __init__(self, module: torch.nn.Module, forward: Optional[Callable] = None, precision: str = "fp32",
                 device: Optional[torch.device] = None, scaler: Optional[torch.amp.GradScaler] = None) -> None:
        self.__dict__.update(_module=module, _forward=forward if forward is not None else module, _precision=precision,
                             _device=device or torch.device("cpu"), _scaler=scaler)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with autocast(self._precision, self._device):
            out = self._forward(*args, **kwargs)
        return to_fp32(out)

    @property
    def grad_scale(self) -> Optional[float]:
        return float(self._scaler.get_scale()) if self._scaler is not None else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._module, name, value)
