"""Scoring the generator while it trains (the config section ``eval``).

Every ``eval.every`` steps, and at the last step, the trainer hands its generator (the EMA copy when
it keeps one) to :class:`TrainingEvaluator`, which draws ``eval.n`` samples from latent seed
``eval.seed`` in eval mode and scores them against the dataset's test split (a toy distribution: a
fixed sample of it, with its modes) through :func:`gankit.metrics.evaluate.evaluate_model`, the
pipeline of ``gankit eval``: the same sampling, quantization, feature extractor, real-feature cache
and record format. So a score logged at step s equals ``gankit eval`` of a checkpoint of step s with
the same ``--n``, ``--seed`` and ``--metrics``.

The evaluator also keeps the best score so far by ``eval.best``; that state is part of the trainer's
checkpoints, so a resumed run keeps comparing against the right best.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional

import torch

from gankit.config import SCORE_DIRECTIONS, Config
from gankit.errors import GankitError
from gankit.nets.base import generate_in_chunks
from gankit.training import distributed
from gankit.training.distributed import Ranks

TRAINING_N_IMAGES = 2_000  # fewer than `gankit eval`'s 10,000: scoring must stay cheap beside training
DEFAULT_IMAGE_METRICS = ("fid", "pr", "dc")
DEFAULT_TOY_METRICS = ("modes",)


def default_metrics(toy: bool) -> list[str]:
    """The metric groups scored during training when ``eval.metrics`` is not set."""
    return list(DEFAULT_TOY_METRICS if toy else DEFAULT_IMAGE_METRICS)


def scores_at_end(cfg: Config, spec: Any) -> bool:
    """Whether a run with ``eval.every`` = 0 still scores its last step: ``eval.final`` is on and the
    scoring is cheap beside training (the data's own features: raw toy points or a shipped
    classifier, not InceptionV3), or ``eval.features`` names the features to use."""
    from gankit.metrics.features import default_extractor

    if not cfg.eval.final:
        return False
    return cfg.eval.features is not None or default_extractor(spec) in ("raw", "classifier")


class _TrainingGenerator:
    """The part of :class:`gankit.explore.model.LoadedGAN` that ``evaluate_model`` uses, over a live
    generator: ``latents`` draws like ``LoadedGAN.latents`` (z, then uniform labels for a conditional
    G, from a generator seeded with ``seed``); ``generate`` runs G in eval mode without grad and puts
    it back in the mode it was in."""

    def __init__(self, G: torch.nn.Module, config: Config, kind: str, path: str, step: int,
                 uses_ema: bool, device: torch.device, ranks: Optional[Ranks] = None) -> None:
        self.G, self.config, self.kind, self.path = G, config, kind, path
        self.step, self.uses_ema, self.device = step, uses_ema, device
        self.ranks = ranks or Ranks()

    def latents(self, n: int, seed: int = 0) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        gen = torch.Generator().manual_seed(seed)
        z = self.G.sample_z(n, gen)
        return z, self.G.sample_y(n, gen)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, y: Optional[torch.Tensor] = None, batch_size: int = 256) -> torch.Tensor:
        was = self.G.training
        self.G.eval()
        mine = distributed.rows(z.shape[0], self.ranks)  # under torchrun: this rank's rows, then all of them
        try:
            x = generate_in_chunks(self.G, z[mine], None if y is None else y[mine], self.device, batch_size)
        finally:
            self.G.train(was)
        return distributed.gather_rows(x, self.ranks)


class TrainingEvaluator:
    """Resolves ``cfg.eval`` against the data, scores a generator, and tracks the best score.

    Raises (at construction, before any training):
        GankitError naming ``eval.metrics``, ``eval.features`` or ``eval.best`` when a metric is unknown
        or does not fit the data, or ``best`` is not among the scores the metrics produce.
    """

    def __init__(self, cfg: Config, data: Any, spec: Any, device: torch.device,
                 ranks: Optional[Ranks] = None) -> None:
        from gankit.metrics import METRIC_KEYS, resolve_names
        from gankit.metrics.evaluate import DEFAULT_N_VECTORS
        from gankit.metrics.features import get_extractor

        ev = cfg.eval
        self.cfg, self.device, self.kind = cfg, device, spec.kind
        self.ranks = ranks or Ranks()  # under torchrun every rank scores its share (see score)
        self.toy = hasattr(data, "sample")
        if ev.metrics is None:
            self.metrics = default_metrics(self.toy)
        else:
            try:
                self.metrics = resolve_names(ev.metrics)
            except GankitError as exc:
                raise GankitError(f"config key 'eval.metrics': {exc}") from None
        self.n = ev.n if ev.n is not None else (DEFAULT_N_VECTORS if spec.kind == "vector" else TRAINING_N_IMAGES)
        try:
            self.extractor = get_extractor(ev.features, spec, device=str(device))
        except GankitError as exc:
            raise GankitError(f"config key 'eval.features': {exc}") from None
        if "modes" in self.metrics and not self.toy:
            raise GankitError(f"config key 'eval.metrics' names 'modes', which needs a toy distribution with "
                              f"known modes (ring, grid, gaussian1d), not {cfg.data.name}")
        if "is" in self.metrics and self.extractor.num_classes is None:
            raise GankitError(f"config key 'eval.metrics' names 'is', which needs class logits that the "
                              f"'{self.extractor.name}' features do not give; set eval.features or drop 'is'")
        self.keys = [k for g in self.metrics for k in METRIC_KEYS[g] if not k.endswith("_warning")]
        self.best_key = ev.best
        if ev.best is not None and ev.best not in self.keys:
            raise GankitError(f"config key 'eval.best' = {ev.best!r} is not among the scores of eval.metrics "
                              f"({', '.join(self.metrics)}: {', '.join(self.keys)}); add its metric to "
                              f"eval.metrics or choose one of those")
        self.lower_is_better = ev.best is not None and SCORE_DIRECTIONS[ev.best] == "min"
        self.best_value: Optional[float] = None
        self.best_step: Optional[int] = None

    # ------------------------------------------------------------------ scoring
    def score(self, G: torch.nn.Module, step: int, uses_ema: bool, where: str) -> dict:
        """Score ``G`` at ``step``: metric values plus ``provenance`` (as ``gankit eval`` returns).

        Draws its own latents and real subsets from seeded generators; the caller keeps the
        training RNG untouched around this call (the feature extractor may use the global one).
        Under torchrun every rank calls it: each generates and extracts the features of its rows of
        the samples, the rows are gathered, and rank 0's result is returned on every rank.
        """
        from gankit.metrics.evaluate import evaluate_model

        ev = self.cfg.eval
        model = _TrainingGenerator(G, self.cfg, self.kind, where, step, uses_ema, self.device, self.ranks)
        shared = {"extract_fake": self._extract_shard} if self.ranks.active else {}
        result = evaluate_model(model, metrics=self.metrics, n=self.n, features=self.extractor, split="test",
                                seed=ev.seed, n_real=ev.n_real, record=False, device=str(self.device),
                                cache=True, progress=False, **shared)
        result["provenance"]["checkpoint"] = None  # the live generator, not a checkpoint file
        result["provenance"]["during_training"] = True
        if self.ranks.active:
            result["provenance"]["world_size"] = self.ranks.world
        return distributed.broadcast(result, self.ranks)

    def _extract_shard(self, extractor: Any, fake: Any, progress: bool, desc: str) -> tuple:
        """The fakes' features under torchrun: this rank's rows, gathered from every rank in order."""
        from gankit.metrics.evaluate import extract

        mine = distributed.rows(len(fake.x), self.ranks)
        shard = dataclasses.replace(fake, x=fake.x[mine], y=None if fake.y is None else fake.y[mine])
        f, l = extract(extractor, shard, progress, desc)
        return distributed.gather_rows(f, self.ranks), distributed.gather_rows(l, self.ranks)

    def update_best(self, scores: dict, step: int) -> bool:
        """Take ``scores`` of ``step`` into account; True when they hold a new best ``eval.best``."""
        if self.best_key is None:
            return False
        value = scores.get(self.best_key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return False  # undefined (e.g. kl with no high-quality sample): never the best
        value = float(value)
        if self.best_value is not None:
            better = value < self.best_value if self.lower_is_better else value > self.best_value
            if not better:  # ties keep the earlier checkpoint
                return False
        self.best_value, self.best_step = value, step
        return True

    def best_record(self) -> dict:
        """What a best checkpoint's manifest records about itself."""
        return {"key": self.best_key, "value": self.best_value, "step": self.best_step,
                "better": "lower" if self.lower_is_better else "higher"}

    def postfix(self, scores: dict, limit: int = 4) -> dict:
        """Short strings of the latest scores for the progress bar (``eval.best`` first)."""
        keys = ([self.best_key] if self.best_key else []) + [k for k in self.keys if k != self.best_key]
        out = {}
        for k in keys[:limit]:
            v = scores.get(k)
            out[k] = "n/a" if v is None else (str(v) if isinstance(v, int) else f"{v:.3g}")
        return out

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict:
        return {"best_key": self.best_key, "best_value": self.best_value, "best_step": self.best_step}

    def load_state_dict(self, state: dict) -> None:
        if state.get("best_key") == self.best_key:
            self.best_value, self.best_step = state.get("best_value"), state.get("best_step")
