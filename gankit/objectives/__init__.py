"""The adversarial games, registered by name; ``build_objective`` makes one from its config."""
from __future__ import annotations

from typing import Any

from gankit.objectives import minimax  # noqa: F401  (registers minimax, ns)
from gankit.objectives import (  # noqa: F401  (each module registers its objectives)
    began, dragan, ebgan, hinge, lsgan, r1, ragan, wgan, wgan_gp,
)
from gankit.objectives import fgan  # noqa: F401  (registers the f-GAN divergences)
from gankit.objectives import ac_term, info_term, ortho_term, path_length  # noqa: F401  (register the auxiliary terms)
from gankit.objectives import fade_reals  # noqa: F401  (progressive growing's crossfade of the reals)
from gankit.objectives import (  # noqa: F401  (the training tricks, docs/tricks.md)
    diffaugment, feature_matching, historical, image_pool, instance_noise, label_terms,
)
from gankit.objectives.base import Objective, Phase, StepResult
from gankit.registry import OBJECTIVES

__all__ = ["Objective", "Phase", "StepResult", "build_objective"]


def build_objective(cfg: Any) -> Objective:
    """Make the objective named by ObjectiveConfig ``cfg.name``."""
    return OBJECTIVES.get(cfg.name)(cfg)
