"""The Python API; the CLI is a thin layer over these functions."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from gankit.config import Config, load_config, preset_names
from gankit.errors import GankitError


@dataclass
class RunResult:
    path: Optional[Path]  # None on the ranks other than 0 under torchrun (they write no run folder)
    step: int
    last: dict

    @property
    def report(self) -> Path:
        return self.path / "report.html"


def presets() -> list[dict]:
    """One dict per shipped preset: name, data, architecture, objective, description."""
    out = []
    for name in preset_names():
        cfg = load_config(name)
        out.append({"name": name, "data": cfg.data.name, "arch": cfg.model.arch,
                    "objective": cfg.objective.name, "conditional": conditioning(cfg),
                    "description": cfg.description})
    return out


def conditioning(cfg: Config) -> str:
    """How a config uses labels, in a word or two: 'no', or e.g. 'G concat, D projection', 'G cbn, ACGAN'."""
    if not cfg.conditional:
        return "no"
    d = [f"D {cfg.model.d_cond}"] if cfg.model.d_cond != "none" else []
    if "ac" in cfg.objective.term_params():
        d.append("ACGAN")
    return ", ".join([f"G {cfg.model.g_cond}"] + d)


def train(config: Union[str, Path, dict, Config] = "digits", overrides: Optional[list[str]] = None,
          out: Union[str, Path, None] = None, steps: Optional[int] = None, seed: Optional[int] = None,
          progress: bool = True) -> RunResult:
    """Train from a preset name, YAML file, mapping or Config; write a run directory.

    Returns the run's path, final step and last logged statistics.
    """
    from gankit.training.loop import Trainer
    from gankit.training.rundir import RunDir, default_out

    overrides = list(overrides or [])
    if steps is not None:
        overrides.append(f"train.steps={steps}")
    if seed is not None:
        overrides.append(f"train.seed={seed}")
    from gankit.training.distributed import env_rank

    cfg = load_config(config, overrides)
    main = env_rank() == 0  # under torchrun only rank 0 writes the run folder
    run = RunDir(Path(out) if out else default_out(cfg.name)) if main else None
    if run is not None:
        run.check_new(cfg)
    trainer = Trainer(cfg, run, progress=progress and main)  # fails on bad data before touching the folder
    if run is not None:
        run.create(cfg)
        run.acquire()
    try:
        last = trainer.fit()
        trainer.close()
    finally:
        if run is not None:
            run.release()
    return RunResult(run.path if run is not None else None, trainer.step, last)


def resume(path: Union[str, Path], steps: Optional[int] = None, progress: bool = True) -> RunResult:
    """Continue the run in ``path`` exactly where its latest intact checkpoint stopped.

    ``steps`` raises (or lowers) the run's total number of generator steps.
    """
    from gankit.training.distributed import env_rank
    from gankit.training.rundir import RunDir

    main = env_rank() == 0  # under torchrun every rank reads the checkpoint; only rank 0 writes
    run = RunDir(Path(path))
    if not run.path.is_dir():
        raise GankitError(f"--resume {run.path}: no such run folder")
    if main:
        run.acquire()
    try:
        return _resume(run, main, steps, progress)
    finally:
        run.release()


def _resume(run: Any, main: bool, steps: Optional[int], progress: bool) -> RunResult:
    from gankit.training import checkpoint as ckpt
    from gankit.training.distributed import same_on_every_rank
    from gankit.training.loop import Trainer

    manifest, state, cfg, latest = ckpt.resume_point(run, steps)
    trainer = Trainer(cfg, run if main else None, progress=progress and main)
    # each rank read the folder itself: a job still writing it would have them start at different steps
    same_on_every_rank(manifest["step"] if manifest else 0, trainer.ranks, f"the latest checkpoint of {run.path}")
    if manifest is not None:
        check_same_classes(manifest.get("data", {}), trainer.spec, str(latest))
    if state is not None:
        trainer.load_state_dict(state, str(latest))
        trainer.step = manifest["step"]
    total = cfg.train.steps
    if trainer.step >= total and not main:
        trainer.close()
        return RunResult(run.path, trainer.step, {})
    if trainer.step >= total:
        trainer.close()
        print(f"gankit: {run.path} is already finished: step {trainer.step} of {total}, nothing to train "
              f"(train further with --resume {run.path} --steps N, N > {trainer.step})", file=sys.stderr)
        if run.read_info().get("status") != "finished":
            run.write_info(status="finished", step=trainer.step)
        from gankit.report import build_report

        build_report(run.path)
        return RunResult(run.path, trainer.step, {})
    if main:
        print(f"gankit: resuming {run.path} from step {trainer.step} of {total}"
              + ("" if latest is not None else " (no checkpoint yet: starting over)"), file=sys.stderr)
        from gankit.fileio import atomic_write_text

        atomic_write_text(run.config_file, cfg.to_yaml())
        run.truncate_log(trainer.step)
        run.truncate_eval_log(trainer.step)
        run.remove_samples_after(trainer.step)
        ckpt.discard_best_after(run.checkpoints, trainer.step)
    last = trainer.fit()
    trainer.close()
    return RunResult(run.path, trainer.step, last)


def check_same_classes(saved: dict, spec: dict, where: str) -> None:
    """Refuse data whose classes differ from those a checkpoint was trained on."""
    before, now = int(saved.get("num_classes") or 0), int(spec.get("num_classes") or 0)
    if before != now:
        raise GankitError(f"{where} was trained on data with {before} classes, but '{spec.get('name')}' now has {now}; "
                          f"restore the data (e.g. the class subfolders) or start a new run")


def load(path: Union[str, Path], device: str = "cpu", raw: bool = False):
    """Load a trained generator from a run directory or checkpoint: ``load(p).sample(n, seed=0)``.

    The EMA copy of G when the run kept one, unless ``raw`` (the trained G's own weights)."""
    from gankit.explore.model import LoadedGAN

    return LoadedGAN(path, device, raw=raw)


def evaluate(source: Union[str, Path, None] = None, metrics: Union[str, list, None] = None,
             n: Optional[int] = None, features=None, *, real=None, fake=None, split: str = "test",
             seed: int = 0, n_real: Optional[int] = None, inception_weights: Union[str, Path, None] = None,
             batch_size: Optional[int] = None, device: str = "cpu", cache: bool = True, record: bool = True,
             progress: Optional[bool] = None, dot_steps: Optional[int] = None, dot_scale: float = 1.0,
             **options) -> dict:
    """Score a trained model against its dataset's ``split``, or compare two sets without a model.

    ``evaluate("runs/x")`` scores the run's latest checkpoint (``n`` samples with latent ``seed``) and
    appends the record to the run's ``eval.jsonl``; ``evaluate(real=A, fake=B)`` compares two sets,
    each an ``.npz`` (array ``x``), an image folder, a built-in dataset name or an array.

    Args:
        metrics: a comma list or sequence of fid, kid, is, pr, dc, intra_fid, cas, parzen, modes
            (None: the defaults for the data).
        features: 'classifier', 'classifier:DATASET', 'classifier:FILE.safetensors', 'inception',
            'raw', or a torch.nn.Module (None: the data's default).
        dot_steps, dot_scale: score samples whose latents were moved by discriminator optimal
            transport (:mod:`gankit.explore.dot`); a model only.
        options: passed on to the metric functions.

    Returns:
        metric names -> numbers, plus ``provenance``: extractor, weights sha256, preprocessing,
        n_real, n_fake, split, seed, dtype, versions.
    """
    from gankit.metrics.evaluate import evaluate_model, evaluate_sets

    common = dict(metrics=metrics, n=n, features=features, split=split, seed=seed, n_real=n_real,
                  inception_weights=str(inception_weights) if inception_weights else None,
                  batch_size=batch_size, device=device, cache=cache, progress=progress, **options)
    if source is not None:
        if real is not None or fake is not None:
            raise GankitError("give a model (DIR or CHECKPOINT) or --real and --fake, not both")
        return evaluate_model(load(source, device), record=record, dot_steps=dot_steps, dot_scale=dot_scale,
                              **common)
    if dot_steps is not None:
        raise GankitError("--dot-steps moves a model's latents: name a run directory or checkpoint, not --real/--fake")
    if real is None or fake is None:
        raise GankitError("name a run directory or checkpoint to score, or both --real A and --fake B "
                          "(each an .npz, an image folder or a dataset name)")
    return evaluate_sets(real, fake, **common)


def export(source: Union[str, Path], out: Union[str, Path], format: Optional[str] = None, raw: bool = False,
           check: bool = True):
    """Export a run's generator (the EMA copy when kept, unless ``raw``) to ``out``: ``format`` 'onnx' or
    'torch-export' (default: from the suffix, .onnx or .pt2), with a JSON description beside it.

    Returns an :class:`gankit.explore.export.ExportResult` (path, meta_path, meta)."""
    from gankit.explore.export import export_generator, resolve_format

    resolve_format(format, out)  # a bad format or file name fails before the checkpoint is read
    return export_generator(load(source, raw=raw), out, format, check=check)


def serve(source: Union[str, Path], port: int = 8000, raw: bool = False, n_directions: int = 8,
          quiet: bool = False, ready=None) -> None:
    """Serve the web explorer of a run's generator on http://127.0.0.1:``port``/ until interrupted;
    ``ready(url)`` is called once it listens. See docs/serve.md for the page and its HTTP API."""
    from gankit.explore.server import serve as serve_model

    serve_model(load(source, raw=raw), port, n_directions=n_directions, quiet=quiet, ready=ready)
