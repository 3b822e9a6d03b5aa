"""The Python API; the CLI is a thin layer over these functions."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from gankit.config import Config, load_config, preset_dict, preset_names
from gankit.errors import GankitError


@dataclass
class RunResult:
    path: Path
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
                    "objective": cfg.objective.name, "description": cfg.description})
    return out


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
    cfg = load_config(config, overrides)
    run = RunDir(Path(out) if out else default_out(cfg.name))
    run.check_new(cfg)
    trainer = Trainer(cfg, run, progress=progress)  # fails on bad data before touching the folder
    run.create(cfg)
    last = trainer.fit()
    return RunResult(run.path, trainer.step, last)


def resume(path: Union[str, Path], steps: Optional[int] = None, progress: bool = True) -> RunResult:
    """Continue the run in ``path`` exactly where its latest intact checkpoint stopped.

    ``steps`` raises (or lowers) the run's total number of generator steps.
    """
    from gankit.training import checkpoint as ckpt
    from gankit.training.loop import Trainer
    from gankit.training.rundir import RunDir

    run = RunDir(Path(path))
    if not run.path.is_dir():
        raise GankitError(f"--resume {run.path}: no such run folder")
    latest = ckpt.latest_checkpoint(run.checkpoints)
    if latest is not None:
        manifest, state = ckpt.load_checkpoint(latest)
        cfg = load_config(manifest["config"])
    else:
        manifest, state, cfg = None, None, run.read_config()
    if steps is not None:
        cfg.train.steps = steps
        cfg.validate()
    trainer = Trainer(cfg, run, progress=progress)
    if state is not None:
        trainer.load_state_dict(state, str(latest))
        trainer.step = manifest["step"]
    from gankit.training.checkpoint import atomic_write_text

    atomic_write_text(run.config_file, cfg.to_yaml())
    run.truncate_log(trainer.step)
    run.remove_samples_after(trainer.step)
    last = trainer.fit()
    return RunResult(run.path, trainer.step, last)


def load(path: Union[str, Path], device: str = "cpu"):
    """Load a trained generator from a run directory or checkpoint: ``load(p).sample(n, seed=0)``."""
    from gankit.explore.model import LoadedGAN

    return LoadedGAN(path, device)
