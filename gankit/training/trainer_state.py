"""A trainer's checkpoint state: what :class:`gankit.training.loop.Trainer` saves, loads and
describes (the manifest), with every rank's RNG and data position under torchrun."""
from __future__ import annotations

import time

import torch

from gankit import __version__
from gankit.errors import GankitError
from gankit.training import checkpoint as ckpt
from gankit.training import distributed


class TrainerState:
    """The state half of the trainer (a mixin: it reads the trainer's nets, optimizers, sampler,
    objective, monitor, EMA, evaluator, scalers and ranks)."""

    def state_dict(self) -> dict:
        state = {
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "sampler": self.sampler.state_dict(), "objective": self.objective.state_dict(),
            "rng": {"torch": torch.get_rng_state()}, "monitor": self.monitor.state_dict(),
        }
        terms_state = self.objective.terms_state_dict()
        if terms_state:
            state["terms"] = terms_state
        if self.ema is not None:
            state["G_ema"] = self.ema.shadow.state_dict()
        if self.evaluator is not None:
            state["eval"] = self.evaluator.state_dict()
        for net, scaler in self.scalers.items():
            if scaler is not None:
                state[f"scaler_{net.lower()}"] = scaler.state_dict()
        if self.device.type == "cuda":
            state["rng"]["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _rank_state(self) -> dict:
        """What differs between ranks: each one's RNG and its place in the data."""
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {"rng": rng, "sampler": self.sampler.state_dict()}

    def load_state_dict(self, state: dict, path: str) -> None:
        saved_world = len(state["ranks"]) if "ranks" in state else 1
        if saved_world != self.ranks.world:
            how = (f"torchrun --nproc_per_node={saved_world} -m gankit.cli train --resume RUN" if saved_world > 1
                   else "gankit train --resume RUN (without torchrun)")
            raise GankitError(f"checkpoint {path} was trained by {saved_world} process(es) and this run has "
                              f"{self.ranks.world}: a resume is exact only at the same world size; use {how}")
        ckpt.load_module_state(self.G, state["G"], "generator", path)
        ckpt.load_module_state(self.D, state["D"], "discriminator", path)
        if self.ema is not None:
            ckpt.load_module_state(self.ema.shadow, state.get("G_ema", state["G"]), "EMA generator", path)
        try:
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
        except (ValueError, KeyError) as exc:
            raise GankitError(f"checkpoint {path} holds optimizer state of another setup: {exc}") from None
        self.sampler.load_state_dict(state["sampler"])
        self.objective.load_state_dict(state.get("objective", {}))
        self.objective.load_terms_state_dict(state.get("terms", {}))
        self.monitor.load_state_dict(state.get("monitor", {}))
        if self.evaluator is not None:
            self.evaluator.load_state_dict(state.get("eval", {}))
        for net, scaler in self.scalers.items():
            if scaler is not None and f"scaler_{net.lower()}" in state:
                scaler.load_state_dict(state[f"scaler_{net.lower()}"])
        rng = state["rng"]
        if "ranks" in state:  # this rank's own RNG and data position
            mine = state["ranks"][self.ranks.rank]
            self.sampler.load_state_dict(mine["sampler"])
            rng = mine["rng"]
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)

    def manifest(self) -> dict:
        return {"config": self.cfg.to_dict(), "data": dict(self.spec), "gankit": __version__,
                "torch": torch.__version__, "ema": self.ema is not None,
                "objective": self.objective.describe(), "time": time.time(), "world_size": self.ranks.world,
                "precision": self.cfg.train.precision}

    def _full_state(self) -> dict:
        """What a checkpoint holds: :meth:`state_dict`, and under torchrun every rank's RNG and data
        position (gathered: every rank must call this)."""
        state = self.state_dict()
        if self.ranks.active:
            state["ranks"] = distributed.gather(self._rank_state(), self.ranks)
        return state
