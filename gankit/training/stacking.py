"""Stacked weights for many seeds in one process (:mod:`gankit.training.multiseed`): S copies of one
net called as one batched computation through ``torch.func`` (``stack_module_state``, ``vmap``,
``functional_call``), and the optimizer state split per seed for checkpoints and joined back on resume."""
from __future__ import annotations

import copy
from typing import Any, Optional, Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from gankit.errors import GankitError
from gankit.nets.output import DOutput

_DOUT_FIELDS = ("logits", "features", "class_logits", "code", "code_mean", "code_log_std", "recon")


class StackedNet(nn.Module):
    """S copies of one architecture with stacked weights, called as one net on a batch of S * B items
    (seed s's items are rows s*B .. (s+1)*B - 1); ``params`` and ``buffers`` hold the stacked tensors."""

    def __init__(self, nets: Sequence[nn.Module]) -> None:
        super().__init__()
        self.seeds = len(nets)
        params, buffers = stack_module_state(list(nets))
        self.params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        self.buffers_ = dict(buffers)
        self.base = copy.deepcopy(nets[0]).to("meta")  # the architecture; modules() shows its layers
        for name in ("pack", "num_classes"):
            if hasattr(nets[0], name):
                setattr(self, name, getattr(nets[0], name))

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> Any:
        if y is not None:
            raise GankitError("the many-seeds path trains unconditional nets: it got labels")
        S = self.seeds
        if x.shape[0] % S:
            raise ValueError(f"a batch of {x.shape[0]} does not split over {S} seeds")
        xs = x.reshape(S, x.shape[0] // S, *x.shape[1:])
        kind: dict = {}

        def one(p: dict, b: dict, xi: torch.Tensor) -> Any:
            out = functional_call(self.base, (p, b), (xi,))
            if isinstance(out, DOutput):
                kind["dout"] = [f for f in _DOUT_FIELDS if getattr(out, f) is not None]
                return tuple(getattr(out, f) for f in kind["dout"])
            return out

        out = vmap(one)(self.params, self.buffers_, xs)
        flat = lambda t: t.reshape(t.shape[0] * t.shape[1], *t.shape[2:])  # noqa: E731
        if "dout" in kind:
            return DOutput(**{f: flat(t) for f, t in zip(kind["dout"], out)})
        return flat(out)

    def copy_to(self, nets: Sequence[nn.Module]) -> None:
        """Write seed s's weights and buffers into ``nets[s]`` (a plain module for checkpoints, samples)."""
        with torch.no_grad():
            for s, net in enumerate(nets):
                for name, p in net.named_parameters():
                    p.copy_(self.params[name][s])
                for name, b in net.named_buffers():
                    b.copy_(self.buffers_[name][s])


def unstack_optimizer_state(stacked: dict, s: int, seeds: int) -> dict:
    """Seed ``s``'s optimizer state_dict from that of the optimizer over the stacked weights."""
    state = {i: {k: (v[s].clone() if torch.is_tensor(v) and v.ndim > 0 and v.shape[0] == seeds else v)
                 for k, v in st.items()} for i, st in stacked["state"].items()}
    return {"state": state, "param_groups": copy.deepcopy(stacked["param_groups"])}


def stack_optimizer_state(states: Sequence[dict], where: str) -> dict:
    """The stacked optimizer's state_dict from the seeds' own (all at the same step)."""
    first = states[0]
    if any(set(st["state"]) != set(first["state"]) for st in states):
        raise GankitError(f"{where}: the seeds' optimizers are at different points; resume each seed alone "
                          f"(gankit train --resume RUN_seedK) to the same step first")
    out: dict = {}
    for i, st in first["state"].items():
        out[i] = {}
        for k, v in st.items():
            vals = [s["state"][i][k] for s in states]
            if torch.is_tensor(v) and v.ndim > 0:
                out[i][k] = torch.stack(vals)
            else:
                if any(float(u) != float(v) for u in vals):
                    raise GankitError(f"{where}: the seeds' optimizers have taken different numbers of steps")
                out[i][k] = v
    return {"state": out, "param_groups": copy.deepcopy(first["param_groups"])}
