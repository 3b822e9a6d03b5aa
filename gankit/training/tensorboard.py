"""``train.tensorboard: true``: the run's scalars and sample grids as TensorBoard events.

A duty of the loop (docs/design.md, "The loop's duties are a list"): the loop tells it what it wrote
to ``log.jsonl`` (train and eval records) and which snapshot it rendered; it writes them to
``RUN/tensorboard`` through ``torch.utils.tensorboard``. ``log.jsonl`` stays the record of the run: the
events are a view of it for people who look at runs in TensorBoard. On resume, events from steps after
the checkpoint are purged (``purge_step``), as the log is truncated.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np

from gankit.errors import GankitError

# keys of a train record that are not scalars of the run's state
_NOT_SCALARS = ("type", "step", "time", "epoch")


def check_tensorboard() -> None:
    """Refuse ``train.tensorboard`` when the optional package is missing, saying how to get it."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise GankitError("train.tensorboard=true needs the tensorboard package: pip install 'gankit[tensorboard]' "
                          "(or pip install tensorboard), or set train.tensorboard=false") from None


class TensorBoardDuty:
    """Writes scalars (``train/loss_d``, ``train/grad_norm_g``, ``eval/fid``, ...) and sample grids."""

    def __init__(self, folder: Path, start_step: int = 0) -> None:
        check_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        self.folder = Path(folder)
        # a resumed run continues after the checkpoint's step: events after it belong to the redone part
        self.writer = SummaryWriter(str(self.folder), purge_step=start_step + 1 if start_step > 0 else None)

    def on_record(self, record: dict) -> None:
        """A record the loop wrote to log.jsonl: train and eval scalars go to TensorBoard."""
        kind = record.get("type")
        if kind not in ("train", "eval"):
            return
        step = int(record["step"])
        for key, value in record.items():
            if key in _NOT_SCALARS or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if math.isfinite(float(value)):
                self.writer.add_scalar(f"{kind}/{key}", float(value), step)

    def on_snapshot(self, step: int, png: Path) -> None:
        """The snapshot grid (or 2D/1D picture) the loop rendered at ``step``."""
        from PIL import Image

        if not Path(png).is_file():
            return
        with Image.open(png) as im:
            image = np.asarray(im.convert("RGB"))  # [H, W, 3] uint8
        self.writer.add_image("samples", image, step, dataformats="HWC")

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def make_duties(enabled: bool, run_path: Optional[Path], start_step: int) -> list:
    """The optional duties of a run (rank 0 with a run folder only)."""
    if not enabled or run_path is None:
        return []
    return [TensorBoardDuty(Path(run_path) / "tensorboard", start_step)]
