"""The objective owns the game: how a discriminator step and a generator step are computed.

The training loop only schedules the phases an objective declares (``D`` ``d_steps`` times, then
``G``), zeroes gradients, steps optimizers and logs; it never branches on the GAN type. A new
objective subclasses :class:`Objective`, implements ``d_loss`` and ``g_loss`` on the typed
discriminator outputs, and registers itself in ``OBJECTIVES``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

import torch

from gankit.nets.output import DOutput


@dataclass
class Phase:
    """One kind of optimizer step, run ``repeat`` times per iteration, on iterations where
    ``(step + 1) % every == 0``, step counted from 0 (lazy regularization: every k-th iteration).
    ``name`` picks the objective's method (``D`` -> ``d_step``, ``G`` -> ``g_step``, ``Dreg`` ->
    ``dreg_step``); ``net`` picks the optimizer that steps (``"D"`` or ``"G"``)."""

    name: str
    repeat: int = 1
    every: int = 1

    @property
    def net(self) -> str:
        return "G" if self.name.startswith("G") else "D"


@dataclass
class StepResult:
    """A phase's loss to backpropagate and detached statistics for the log."""

    loss: torch.Tensor
    stats: dict


@dataclass
class NoParams:
    """Objectives without hyperparameters of their own."""


class Objective:
    """Base of every objective.

    Subclasses set ``Params`` (a dataclass of their hyperparameters, filled from
    ``objective.params`` in the config), ``probabilistic`` (True when D's output is a logit of
    "real", so the log shows D(x) as a probability; False for critics) and ``g_uses_real``.
    """

    Params: type = NoParams
    probabilistic: bool = True
    g_uses_real: bool = False  # the G step needs a real batch (relativistic losses)
    takes_targets: bool = False  # D's loss reads probability targets (d_targets): label smoothing, noisy labels

    def __init__(self, cfg: Any) -> None:
        from gankit.config import from_dict

        self.cfg = cfg
        self.params = from_dict(dict(cfg.params), self.Params, "objective.params.")
        self._fake: Optional[torch.Tensor] = None
        self._fake_z: Optional[torch.Tensor] = None  # the latent of the kept fakes
        self._fake_y: Optional[torch.Tensor] = None  # and their labels
        self.fake_z: Optional[torch.Tensor] = None  # the latent of the fakes fake_for_g returned last
        self.fake_y: Optional[torch.Tensor] = None  # the labels they were made for
        from gankit.objectives.auxiliary import build_terms

        self.step = 0  # the iteration's generator step, from begin_iteration
        self._nets: dict = {}
        self.terms = build_terms(cfg.term_params(), self)
        if any(t.needs_real_in_g for t in self.terms):
            self.g_uses_real = True  # the loop then hands G's step a real batch

    def begin_iteration(self, step: int, G: Any, D: Any) -> None:
        """Told by the loop before each iteration: its generator step (0-based) and the players'
        networks, which the terms see (schedules that are functions of the step, historical averaging)."""
        self.step = step
        self._nets = {"g": G, "d": D}

    # ---- what the loop sees
    def schedule(self) -> list[Phase]:
        return [Phase("D", self.cfg.d_steps), Phase("G", 1)]

    def d_step(self, G: Any, D: Any, real: torch.Tensor, y: Optional[torch.Tensor],
               z: torch.Tensor, last: bool) -> StepResult:
        """One discriminator step. On the last D step of an iteration the fakes keep their graph
        so the G step can reuse them (``objective.reuse_fake``), as the PyTorch DCGAN example does."""
        fake = self.fake_for_d(G, z, y, last)
        real, fake = self.view_for_d(real, fake, y)
        real_out, fake_out = D(real, y), D(fake, y)
        loss = self.d_loss(real_out, fake_out)
        penalty = self.d_penalty(D, real, fake, y)
        if penalty is not None:
            loss = loss + penalty
        stats = {"loss_d": loss.detach(), "d_real": self.d_value(real_out.logits.detach()),
                 "d_fake": self.d_value(fake_out.logits.detach())}
        return self.with_terms(StepResult(loss, stats), "d", fake_out, z, y, real_out, y)

    def g_step(self, G: Any, D: Any, real: Optional[torch.Tensor], y: Optional[torch.Tensor],
               z: torch.Tensor) -> StepResult:
        fake = self.fake_for_g(G, z, y)
        fake, real = self.view_for_g(fake, real)
        fake_out = D(fake, self.fake_y)
        loss = self.g_loss(fake_out)
        real_out = self.real_out_for_g_terms(D, real, y)
        return self.with_terms(StepResult(loss, {"loss_g": loss.detach()}), "g", fake_out,
                               real_out=real_out, real_y=y)

    # ---- what D sees and what its targets are (the terms' hooks; every objective calls these)
    def view_for_d(self, real: torch.Tensor, fake: torch.Tensor,
                   y: Optional[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The real and fake inputs of D in D's step, after each term's ``d_view``."""
        for term in self.terms:
            real, fake = term.d_view(real, fake, y, self.step)
        return real, fake

    def view_for_g(self, fake: torch.Tensor,
                   real: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The fake (and, if any, real) inputs of D in G's step, after each term's ``g_view``."""
        for term in self.terms:
            fake, real = term.g_view(fake, real, self.step)
        return fake, real

    def d_targets(self, real_logits: torch.Tensor,
                  fake_logits: torch.Tensor) -> tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """D's probability targets (real [B], fake [B]) after the terms that set them, or (None, None)
        for the hard 1 / 0 targets when no term does."""
        if not any(t.sets_targets for t in self.terms):
            return None, None
        t_real, t_fake = torch.ones_like(real_logits), torch.zeros_like(fake_logits)
        for term in self.terms:
            t_real, t_fake = term.targets(t_real, t_fake, self.step)
        return t_real.detach(), t_fake.detach()

    def real_out_for_g_terms(self, D: Any, real: Optional[torch.Tensor],
                             y: Optional[torch.Tensor]) -> Optional[DOutput]:
        """D's output on the real batch of G's step when a term reads it (feature matching), else None."""
        if real is None or not any(t.needs_real_in_g for t in self.terms):
            return None
        return D(real, y)

    # ---- auxiliary terms (objective.terms: InfoGAN, ACGAN, ...), added to every objective's steps
    def with_terms(self, result: StepResult, player: str, fake_out: DOutput, z: Optional[torch.Tensor] = None,
                   y: Optional[torch.Tensor] = None, real_out: Optional[DOutput] = None,
                   real_y: Optional[torch.Tensor] = None) -> StepResult:
        """``result`` plus what each auxiliary term adds to ``player``'s ('d' or 'g') loss, with its
        stats. In G's step the fakes' latent and labels default to those of :meth:`fake_for_g`."""
        if not self.terms:
            return result
        if player == "g" and z is None:
            z, y = self.fake_z, self.fake_y
        from gankit.objectives.auxiliary import TermInputs

        inputs = TermInputs(player, fake_out, z, y, real_out, real_y, self.step, self._nets.get(player))
        loss, stats = result.loss, dict(result.stats)
        if player == "g" and any(t.replaces_g_loss for t in self.terms):
            loss = loss.new_zeros(())  # G descends the replacing term alone; loss_g still logs the game's
        for term in self.terms:
            added = term.d_loss(inputs) if player == "d" else term.g_loss(inputs)
            if added is not None:
                loss = loss + added[0]
                stats.update(added[1])
        return StepResult(loss, stats)

    def terms_state_dict(self) -> dict:
        return {t.name: t.state_dict() for t in self.terms if t.state_dict()}

    def load_terms_state_dict(self, state: dict) -> None:
        for t in self.terms:
            if t.name in state:
                t.load_state_dict(state[t.name])

    # ---- the fakes of one iteration, for objectives that write their own d_step / g_step
    def fake_for_d(self, G: Any, z: torch.Tensor, y: Optional[torch.Tensor], last: bool) -> torch.Tensor:
        """G(z, y), detached, for a D step. On the last D step of an iteration (with
        ``objective.reuse_fake``) the graph is kept for :meth:`fake_for_g`."""
        keep = last and self.cfg.reuse_fake
        with torch.set_grad_enabled(keep):
            fake = G(z, y)
        self._fake, self._fake_z, self._fake_y = (fake, z, y) if keep else (None, None, None)
        return fake.detach()

    def fake_for_g(self, G: Any, z: torch.Tensor, y: Optional[torch.Tensor]) -> torch.Tensor:
        """The fakes of the G step: those the last D step kept, else a fresh G(z, y). Their latent
        and labels are left in ``self.fake_z`` and ``self.fake_y`` (the D step's when its fakes are
        reused): D must judge them with the labels they were made for."""
        if self._fake is not None:
            fake, self.fake_z, self.fake_y = self._fake, self._fake_z, self._fake_y
        else:
            fake, self.fake_z, self.fake_y = G(z, y), z, y
        self._fake, self._fake_z, self._fake_y = None, None, None
        return fake

    def dreg_step(self, G: Any, D: Any, real: torch.Tensor, y: Optional[torch.Tensor],
                  z: torch.Tensor, last: bool) -> StepResult:
        """A separate, possibly lazy, discriminator regularization step (R1/R2 every k steps)."""
        raise NotImplementedError(f"{type(self).__name__} declares a Dreg phase but no dreg_step")

    def after_d_step(self, D: Any) -> None:
        """Called after each D optimizer step (WGAN clips weights here)."""

    def after_g_step(self, stats: dict) -> None:
        """Called after each G optimizer step with the iteration's stats (BEGAN updates k_t here)."""

    # ---- what subclasses define
    def d_loss(self, real: DOutput, fake: DOutput) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake: DOutput) -> torch.Tensor:
        raise NotImplementedError

    def d_penalty(self, D: Any, real: torch.Tensor, fake: torch.Tensor,
                  y: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """An extra term of the D loss (gradient penalties), or None."""
        return None

    def d_value(self, logits: torch.Tensor) -> torch.Tensor:
        """Mean D output for the log: a probability for classic GANs, the raw critic otherwise."""
        return torch.sigmoid(logits).mean() if self.probabilistic else logits.mean()

    # ---- state that must survive a resume (e.g. BEGAN's k_t); tensors or JSON-able values
    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def describe(self) -> dict:
        out = {"name": self.cfg.name, "params": dataclasses.asdict(self.params)}
        if self.terms:
            out["terms"] = {t.name: t.describe() for t in self.terms}
        return out
