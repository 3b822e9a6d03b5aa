"""Several processes through ``torchrun``: DDP for G and D, a shard of every batch per rank, rank 0 writes.

``torchrun --standalone --nproc_per_node=N -m gankit.cli train PRESET`` starts N copies of gankit;
each reads its rank from the environment ``torchrun`` sets (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``) and joins one process group (gloo on CPU, nccl on CUDA, chosen from the device).
Without those variables (a plain ``gankit train``) every function here is a no-op.

How a run is split (docs/distributed.md):

- ``data.batch_size`` is the **global** batch, the sum over ranks; it must divide by the number of
  processes. Every rank draws the same global batch of data indices and latents from the same RNG
  stream and keeps its own slice, so each rank sees its own shard of every epoch and an N-rank run
  computes the gradient a 1-rank run at the same batch size computes (per-sample means averaged by
  DDP), up to float rounding, for nets without BatchNorm (BatchNorm normalizes per rank).
- G and D are wrapped in ``DistributedDataParallel`` with ``broadcast_buffers=False`` (each rank keeps
  its own BatchNorm statistics, as the StyleGAN2 trainers do). The D phases call D through DDP: the
  real, fake and gradient-penalty forwards of one step feed one backward, which DDP reduces once. A
  G phase calls G through DDP and the bare D, whose weights it does not train. A phase that trains D
  on a penalty alone (R1's lazy ``Dreg``) leaves D's last bias without a gradient, which DDP's reducer
  would wait for: it calls the bare D and averages the gradients itself (:func:`average_gradients`).
- Only rank 0 writes (log, samples, report, checkpoints); every rank's RNG and sampler state go into
  its checkpoints (:func:`gather`), so a resume at the same world size continues exactly.
- Scoring during training (``eval.every``) is shared the same way: each rank generates its rows of
  the ``eval.n`` samples (:func:`rows`) and extracts their features, the rows are gathered in rank
  order (:func:`gather_rows`), and rank 0's scores are broadcast, so every rank takes the same
  best-checkpoint and monitor decisions.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.distributed as tdist

from gankit.errors import GankitError


@dataclass
class Ranks:
    """Where this process stands: its rank, the number of processes, and the backend (None alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: Optional[str] = None
    owned: bool = False  # gankit opened the process group (and closes it when training ends)
    device: torch.device = torch.device("cpu")  # where collectives' tensors live (nccl: this rank's GPU)

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_rank() -> int:
    """This process's rank as torchrun set it (0 outside torchrun)."""
    return int(os.environ.get("RANK", "0") or 0)


def env_world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def setup(device: torch.device) -> tuple[Ranks, torch.device]:
    """Join torchrun's process group when there is one; (ranks, the device this rank uses).

    On CUDA rank r uses ``cuda:LOCAL_RANK`` and nccl; elsewhere gloo."""
    world = env_world()
    if world <= 1:
        return Ranks(), device
    local_rank = int(os.environ.get("LOCAL_RANK", "0") or 0)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise GankitError(f"train.device={device.type} cannot run under torchrun; use train.device=cpu or cuda")
    backend = "nccl" if device.type == "cuda" else "gloo"
    owned = not tdist.is_initialized()
    if owned:
        tdist.init_process_group(backend)
    comm = device if backend == "nccl" else torch.device("cpu")
    return Ranks(tdist.get_rank(), tdist.get_world_size(), local_rank, backend, owned, comm), device


def shutdown(ranks: Ranks) -> None:
    """Leave the process group gankit opened (a caller's own group stays open)."""
    if ranks.owned and tdist.is_initialized():
        tdist.barrier()  # rank 0 may still be writing the report: leave together
        tdist.destroy_process_group()


def local_batch(batch_size: int, ranks: Ranks, pack: int = 1) -> int:
    """Each rank's share of the global ``data.batch_size``; refuses one that does not divide."""
    if batch_size % ranks.world:
        raise GankitError(f"data.batch_size={batch_size} is the global batch and must divide by the {ranks.world} "
                          f"processes; use data.batch_size={max(ranks.world, batch_size - batch_size % ranks.world)}")
    local = batch_size // ranks.world
    if local % pack:
        raise GankitError(f"data.batch_size={batch_size} gives each of {ranks.world} processes {local} samples, "
                          f"not a multiple of model.d_pack={pack}; use a multiple of {ranks.world * pack}")
    return local


def shard(x: Optional[torch.Tensor], ranks: Ranks) -> Optional[torch.Tensor]:
    """This rank's slice of a global batch (rows [r*b, (r+1)*b)); the batch itself when alone."""
    if x is None or not ranks.active:
        return x
    b = x.shape[0] // ranks.world
    return x[ranks.rank * b:(ranks.rank + 1) * b]


def wrap(module: torch.nn.Module, ranks: Ranks, device: torch.device) -> Any:
    """``module`` in DDP (buffers not broadcast); the module itself when alone or without parameters."""
    if not ranks.active or not any(p.requires_grad for p in module.parameters()):
        return module
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    # newer torch names it forward_sync_buffers (broadcast_buffers is deprecated there); the ranks'
    # buffers start equal anyway (same seed), so syncing them once at init changes nothing
    params = inspect.signature(DistributedDataParallel.__init__).parameters
    no_sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}
    # a growing net (progressive growing: it has set_step) leaves the blocks of sides not reached unused
    growing = any(callable(getattr(m, "set_step", None)) for m in module.modules())
    return DistributedDataParallel(module, device_ids=[device] if device.type == "cuda" else None,
                                   find_unused_parameters=growing, **no_sync)


def average_gradients(params: list, ranks: Ranks) -> None:
    """Mean of each gradient over the ranks, in one flat all-reduce (for phases DDP does not reduce).
    Parameters without a gradient keep none: the same ones on every rank, as the graph is the same."""
    if not ranks.active:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    tdist.all_reduce(flat)
    flat /= ranks.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def mean_stats(stats: dict, ranks: Ranks) -> dict:
    """The log's statistics averaged over ranks (every rank gets the same numbers, so a divergence
    stops all of them at once)."""
    if not ranks.active or not stats:
        return stats
    keys = sorted(stats)
    values = torch.tensor([float(stats[k]) for k in keys], dtype=torch.float64, device=ranks.device)
    tdist.all_reduce(values)
    values /= ranks.world
    return dict(zip(keys, values.tolist()))


def any_rank(flag: bool, ranks: Ranks) -> bool:
    """True on every rank when it is true on one (a stop signal seen by one rank stops all at one step)."""
    if not ranks.active:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=ranks.device)
    tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
    return bool(t.item())


def gather(obj: Any, ranks: Ranks) -> list:
    """``obj`` of every rank, in rank order, on every rank (tensors and JSON values)."""
    if not ranks.active:
        return [obj]
    out: list = [None] * ranks.world
    tdist.all_gather_object(out, obj)
    return out


def rows(n: int, ranks: Ranks) -> slice:
    """This rank's rows of ``n`` items split over the ranks as evenly as they go (all of them alone)."""
    return slice(ranks.rank * n // ranks.world, (ranks.rank + 1) * n // ranks.world)


def gather_rows(x: Optional[torch.Tensor], ranks: Ranks) -> Optional[torch.Tensor]:
    """Every rank's rows of one tensor (from :func:`rows`), joined in rank order, on every rank."""
    if not ranks.active or x is None:
        return x
    parts = gather(x.detach().cpu(), ranks)
    return torch.cat(parts).to(x.device)


def broadcast(obj: Any, ranks: Ranks) -> Any:
    """Rank 0's ``obj`` on every rank (so ranks that computed the same thing act on one answer)."""
    if not ranks.active:
        return obj
    box = [obj]
    tdist.broadcast_object_list(box, src=0)
    return box[0]


def same_on_every_rank(value: Any, ranks: Ranks, what: str) -> None:
    """Refuse to go on unless every rank holds the same ``value`` (raised on every rank, so none waits)."""
    if not ranks.active:
        return
    values: list = [None] * ranks.world
    tdist.all_gather_object(values, value)
    if any(v != values[0] for v in values):
        seen = ", ".join(f"rank {r}: {v}" for r, v in enumerate(values))
        raise GankitError(f"the ranks disagree on {what} ({seen}): another process is probably still writing "
                          f"the run; stop it, then resume")


def barrier(ranks: Ranks) -> None:
    if ranks.active:
        tdist.barrier()
