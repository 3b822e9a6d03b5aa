"""Watches training for the failure modes the lecture notes name, and says what to try.

- the discriminator wins: its loss goes to 0 (D(x) -> 1, D(G(z)) -> 0), and with the minimax loss the
  generator's gradient vanishes;
- vanishing generator gradients; with the saturating minimax loss the telling sign is D(G(z)) near 0,
  where G's gradient in D's logit, -D(G(z)), is that small (the non-saturating loss gives 1 - D(G(z)));
- mode collapse: samples from different latent codes become nearly the same;
- divergence: losses explode (NaN/inf is caught by the loop itself and stops the run);
- an unbounded critic: a critic's outputs (WGAN, hinge, ...) grow without bound, so it is not kept
  Lipschitz (WGAN's weight clipping too loose).

Its state (streaks, active alerts, G's largest gradient norm) is part of the checkpoint, so a resumed
run warns as the straight one would.

Each condition must hold for ``patience`` consecutive logged steps before it is reported, and is
reported once per episode (again only after it has cleared).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import torch


@dataclass
class Alert:
    key: str  # short tag for the progress bar
    message: str  # what is happening and what to try


@dataclass
class Monitor:
    probabilistic: bool = True
    saturating: bool = False  # the objective's G loss is the saturating minimax one (objective.saturating)
    patience: int = 3
    d_wins_loss: float = 0.05  # classic GANs: D's loss below this = D separates perfectly
    collapse_ratio: float = 0.1  # sample diversity below this fraction of the data's
    vanish_ratio: float = 1e-3  # G's grad norm below this fraction of its largest so far
    explode: float = 1e4  # |loss| above this = divergence
    collapse_modes: float = 0.5  # toy data scored for modes: fewer than this fraction covered = collapse
    saturate_level: float = 0.01  # minimax: mean D(G(z)) below this = G's loss saturates
    critic_limit: float = 100.0  # critics: |mean D(x)| or |mean D(G(z))| above this = not Lipschitz
    _streak: dict = field(default_factory=dict)
    _active: set = field(default_factory=set)
    _g_norm_max: float = 0.0

    def update(self, stats: dict, diversity: Optional[float] = None) -> list[Alert]:
        """Feed one logged step's statistics; returns the alerts that start now."""
        checks = {}
        loss_d = stats.get("loss_d")
        if self.probabilistic and loss_d is not None:
            checks["D wins"] = loss_d < self.d_wins_loss
        g_norm = stats.get("grad_norm_g")
        if g_norm is not None and math.isfinite(g_norm):
            self._g_norm_max = max(self._g_norm_max, g_norm)
            checks["G grads vanish"] = g_norm < self.vanish_ratio * self._g_norm_max
        if self.saturating and "d_fake" in stats and math.isfinite(float(stats["d_fake"])):
            checks["G loss saturates"] = float(stats["d_fake"]) < self.saturate_level
        if diversity is not None:
            checks["mode collapse"] = diversity < self.collapse_ratio
        if not self.probabilistic and "d_real" in stats and "d_fake" in stats:
            outputs = [abs(float(stats[k])) for k in ("d_real", "d_fake")]
            checks["critic unbounded"] = all(math.isfinite(v) for v in outputs) and max(outputs) > self.critic_limit
        losses = [abs(v) for k, v in stats.items() if k.startswith("loss_") and math.isfinite(v)]
        checks["diverging"] = bool(losses) and max(losses) > self.explode
        alerts = []
        for key, bad in checks.items():
            self._streak[key] = self._streak.get(key, 0) + 1 if bad else 0
            if bad and self._streak[key] >= self.patience and key not in self._active:
                self._active.add(key)
                alerts.append(Alert(key, self._message(key, stats, diversity)))
            elif not bad:
                self._active.discard(key)
        return alerts

    def update_scores(self, scores: dict, n_modes: Optional[int] = None) -> list[Alert]:
        """Feed one scoring's results (``eval.every``); returns the alerts that start now. On toy data
        (``n_modes`` known) covering under ``collapse_modes`` of the modes is mode collapse, a surer
        sign than the diversity of the samples (two far-apart modes look diverse)."""
        if not n_modes or scores.get("modes") is None:
            return []
        key = "modes missed"
        bad = float(scores["modes"]) < self.collapse_modes * n_modes
        if not bad:
            self._active.discard(key)
            return []
        if key in self._active:
            return []
        self._active.add(key)
        return [Alert(key, f"mode collapse: the samples cover {int(scores['modes'])} of the data's {n_modes} modes. "
                           f"Try balanced learning rates, packing (model.d_pack=4), minibatch discrimination "
                           f"(model.d_minibatch=16) or a categorical latent (model.z_categories)")]

    @property
    def active(self) -> list[str]:
        return sorted(self._active)

    def state_dict(self) -> dict:
        return {"streak": dict(self._streak), "active": sorted(self._active), "g_norm_max": self._g_norm_max}

    def load_state_dict(self, state: dict) -> None:
        self._streak = {str(k): int(v) for k, v in state.get("streak", {}).items()}
        self._active = set(state.get("active", []))
        self._g_norm_max = float(state.get("g_norm_max", 0.0))

    def _message(self, key: str, s: dict, diversity: Optional[float]) -> str:
        if key == "D wins":
            return (f"the discriminator wins: its loss is {s.get('loss_d', float('nan')):.4f} "
                    f"(D(x) = {s.get('d_real', float('nan')):.3f}, D(G(z)) = {s.get('d_fake', float('nan')):.3f}), "
                    f"so the generator learns little (the minimax loss saturates). Try objective.name=ns, a lower "
                    f"train.d_optim.lr, fewer objective.d_steps, or a smaller discriminator")
        if key == "G loss saturates":
            d_fake = float(s.get("d_fake", float("nan")))
            return (f"the minimax generator loss saturates: D(G(z)) = {d_fake:.2g}, so G's gradient through D's "
                    f"logit is -D(G(z)) = {-d_fake:.2g} where the non-saturating loss would give {d_fake - 1:.2g}: "
                    f"G's gradients vanish while D wins. Use objective.name=ns (Goodfellow et al. 2014, section 3)")
        if key == "G grads vanish":
            return (f"the generator's gradients vanish: norm {s.get('grad_norm_g', float('nan')):.2e}, "
                    f"under {self.vanish_ratio:g} of its largest so far ({self._g_norm_max:.2e}). "
                    f"Try objective.name=ns (non-saturating) or a weaker discriminator")
        if key == "mode collapse":
            return (f"mode collapse: samples from different latent codes are nearly identical (diversity "
                    f"{diversity:.3f} of the data's). Try a lower learning rate, objective.name=wgan-gp, "
                    f"or more discriminator capacity")
        if key == "critic unbounded":
            return (f"the critic is unbounded: mean D(x) = {s.get('d_real', float('nan')):.3g}, mean D(G(z)) = "
                    f"{s.get('d_fake', float('nan')):.3g} (over {self.critic_limit:g}), so it is not kept Lipschitz and "
                    f"its gradients say little. With wgan, clip tighter (objective.params.clip=0.01, the paper's) "
                    f"or use objective.name=wgan-gp")
        return (f"training diverges: a loss reached {max(abs(v) for k, v in s.items() if k.startswith('loss_')):.3g}. "
                f"Try lower learning rates (train.g_optim.lr, train.d_optim.lr)")


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """Mean L2 distance between distinct rows of x [N, ...] (a diversity measure)."""
    flat = x.flatten(1).double()
    n = flat.shape[0]
    if n < 2:
        return 0.0
    d = torch.cdist(flat, flat)
    return float(d.sum() / (n * (n - 1)))
