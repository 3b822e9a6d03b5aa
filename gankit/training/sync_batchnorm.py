"""BatchNorm over the global batch under torchrun (``train.sync_batchnorm``).

Under DDP each process normalizes its own share of the batch by default, so a run with BatchNorm at N
processes differs from a 1-process run at the same global batch (docs/distributed.md). With
``train.sync_batchnorm: true`` every BatchNorm of G and D (plain, the affine-free ones inside a
conditional BatchNorm, 1d and 2d) normalizes over the global batch instead:

- on CUDA (and XPU or another accelerator) through PyTorch's ``torch.nn.SyncBatchNorm``
  (``convert_sync_batchnorm``), the library made for the job;
- on CPU, where ``torch.nn.SyncBatchNorm`` refuses its input ("expected input tensor to be on GPU"),
  through :class:`GlobalBatchNorm`: the per-channel sum, sum of squares and count are all-reduced with
  PyTorch's functional all-reduce (``torch.distributed._functional_collectives``, which the deprecated
  ``torch.distributed.nn.functional.all_reduce`` points to), whose backward all-reduces the
  gradient, so the backward is that of BatchNorm over the global batch too. Tested with gloo: a
  2-rank run with BatchNorm at half the batch matches a 1-rank run (``tests/test_distributed.py``).

Both keep the module's parameters and buffers under the same names, so checkpoints are the same with
the option on or off. Outside torchrun the nets are left as they are (one process is the global batch).
"""
from __future__ import annotations

import torch
import torch.distributed as tdist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class GlobalBatchNorm(_BatchNorm):
    """BatchNorm whose batch statistics are those of every process's batch together (any input rank:
    channels are dim 1). Running statistics are updated as BatchNorm does, with the global batch's
    mean and unbiased variance; in eval mode it is plain BatchNorm."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"GlobalBatchNorm expects (N, C, ...) input, got {input.dim()}D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        if not (self.training and tdist.is_available() and tdist.is_initialized()):
            return super().forward(x)
        from torch.distributed import _functional_collectives as funcol

        c = x.shape[1]
        dims = [0] + list(range(2, x.dim()))
        xf = x.float()
        count = torch.full((1,), x.numel() // c, dtype=torch.float32, device=x.device)
        # the functional all-reduce has a backward (an all-reduce of the gradients), so the gradient
        # through the global statistics reaches every rank's inputs
        local = torch.cat([xf.sum(dims), (xf * xf).sum(dims), count])
        stats = funcol.wait_tensor(funcol.all_reduce(local, "sum", tdist.group.WORLD))
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c:2 * c] / n - mean * mean).clamp_min(0.0)  # biased: what normalizes the batch
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum)
                unbiased = var * (n / (n - 1).clamp_min(1.0))
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(unbiased.detach(), alpha=momentum)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def _replace(module: nn.Module) -> nn.Module:
    """``module`` with every BatchNorm replaced by a :class:`GlobalBatchNorm` holding its state."""
    if isinstance(module, _BatchNorm) and not isinstance(module, GlobalBatchNorm):
        new = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats)
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        ref = next(iter(module.state_dict().values()), None)  # where the module's tensors live
        return new if ref is None else new.to(ref.device)
    for name, child in module.named_children():
        setattr(module, name, _replace(child))
    return module


def sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` with its BatchNorms normalizing over the global batch (call before its optimizer
    and EMA copy are made: the parameters are new objects)."""
    if device.type == "cpu":
        return _replace(module)
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)


def count_batchnorms(module: nn.Module) -> int:
    return sum(isinstance(m, _BatchNorm) for m in module.modules())
