"""Training batches, drawn without per-item Python work, and resumable exactly."""
from __future__ import annotations

from typing import Any, Optional, Union

import torch

from gankit.data.base import Dataset, Distribution
from gankit.errors import GankitError


class BatchSampler:
    """Yields training batches in model space, without per-item Python overhead, and can be resumed exactly.

    For a :class:`Dataset`: one ``torch.randperm`` per epoch from the sampler's own generator
    (seeded by ``seed``); a batch is a slice of that permutation, indexed in one go and converted
    to model space as a batch. The last incomplete batch of an epoch is dropped, so every batch
    has exactly ``batch_size`` items. For a :class:`Distribution`: ``sample(batch_size)`` from the
    same generator.

    The global torch RNG is never used, so drawing data does not disturb anything else.

    With ``shard=(rank, world)`` (several processes, ``training/distributed.py``) ``batch_size`` is the
    global batch: every rank draws the same global batch and returns its own slice of
    ``batch_size // world`` rows, so the ranks split every epoch between them without overlap.

    Attributes:
        epoch: the current pass over a dataset (0-based; always 0 for a distribution).
        position: items of the current epoch already drawn (dataset), or batches drawn (distribution).
    """

    def __init__(self, source: Union[Dataset, Distribution], batch_size: int, seed: int,
                 shard: tuple[int, int] = (0, 1)) -> None:
        self.source = source
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise GankitError(f"data.batch_size={batch_size}: must be >= 1")
        self.rank, self.world = int(shard[0]), int(shard[1])
        if self.batch_size % self.world:
            raise GankitError(f"data.batch_size={batch_size} is the global batch and must divide by the "
                              f"{self.world} processes")
        self._rows = slice(self.rank * (self.batch_size // self.world),
                           (self.rank + 1) * (self.batch_size // self.world))
        self.generator = torch.Generator().manual_seed(int(seed))
        self.finite = not hasattr(source, "sample")
        self.num_items = len(source) if self.finite else 0
        if self.finite and self.num_items < self.batch_size:
            raise GankitError(
                f"dataset '{source.name}' has {self.num_items} items, fewer than the batch size "
                f"{self.batch_size}; lower data.batch_size (e.g. data.batch_size={max(1, self.num_items)})")
        self.epoch = 0
        self.position = 0
        self._perm: Optional[torch.Tensor] = None  # [N] the current epoch's order
        self._start_epoch()

    def _start_epoch(self) -> None:
        # The generator state before the permutation is enough to re-create it on resume.
        self._epoch_start_state = self.generator.get_state()
        if self.finite:
            self._perm = torch.randperm(self.num_items, generator=self.generator)
        self.position = 0

    def next(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The next batch: (x float32 model space [B, ...], y int64 [B] or None)."""
        B = self.batch_size
        rows = self._rows if self.world > 1 else slice(None)
        if not self.finite:
            self.position += 1
            if self.source.num_classes and hasattr(self.source, "sample_labelled"):
                x, y = self.source.sample_labelled(B, self.generator)  # labels: the mode index
                return self.source.to_model(x[rows]), y[rows]
            return self.source.to_model(self.source.sample(B, self.generator)[rows]), None
        if self.position + B > self.num_items:  # drop the incomplete tail of the epoch
            self.epoch += 1
            self._start_epoch()
        idx = self._perm[self.position:self.position + B][rows]  # [B / world]
        self.position += B
        x = self.source.to_model(self.source.x[idx])
        y = self.source.y[idx] if self.source.y is not None else None
        return x, y

    def __iter__(self):
        while True:
            yield self.next()

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: ints and uint8 tensors only (no pickle needed)."""
        return {
            "generator_state": self.generator.get_state(),  # uint8 tensor
            "epoch_start_state": self._epoch_start_state.clone(),  # uint8 tensor
            "position": self.position,
            "epoch": self.epoch,
            "num_items": self.num_items,
            "batch_size": self.batch_size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state_dict()``: the next batches equal those of an uninterrupted sampler."""
        try:
            gen_state = _byte_tensor(state["generator_state"])
            start_state = _byte_tensor(state["epoch_start_state"])
            position, epoch = int(state["position"]), int(state["epoch"])
            num_items = int(state.get("num_items", self.num_items))
        except (KeyError, TypeError, ValueError) as exc:
            raise GankitError(f"the saved data sampler state is incomplete or invalid ({exc!r})") from None
        if num_items != self.num_items:
            raise GankitError(
                f"cannot resume exactly: the checkpoint was trained on {num_items} items of "
                f"'{self.source.name}' but the data now has {self.num_items}; restore the data or start a new run")
        self.generator.set_state(start_state)
        self._start_epoch()  # re-creates this epoch's permutation from its start state
        self.generator.set_state(gen_state)
        self.position, self.epoch = position, epoch


def _byte_tensor(value: Any) -> torch.Tensor:
    t = torch.as_tensor(value)
    if t.dtype != torch.uint8:
        raise ValueError(f"generator state must be uint8, got {t.dtype}")
    return t.detach().cpu().contiguous().clone()
