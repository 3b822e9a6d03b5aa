"""The run directory: layout, the JSONL log, and the guard against mixing two runs in one folder.

Layout::

    config.yaml        the resolved configuration
    run.json           name, status, steps, times
    log.jsonl          one JSON record per logged step (type: train | eval | warning | event)
    eval.jsonl         one record per scoring (during training, or `gankit eval`), with provenance
    checkpoints/       step_NNNNNNN.safetensors + step_NNNNNNN.json; best.* when eval.best is set
    samples/           step_NNNNNNN.png snapshots from a fixed latent batch
    report.html        the static report
    .lock              held (flock) by the process that trains the run: a second one is refused
"""
from __future__ import annotations

import json
import math
import os
import socket
import time
from pathlib import Path
from typing import Any, Optional

from gankit.config import Config, diff_configs, stored_config, yaml_error_message
from gankit.errors import GankitError
from gankit.fileio import atomic_write_text

import yaml


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.samples = self.path / "samples"
        self.config_file = self.path / "config.yaml"
        self.log_file = self.path / "log.jsonl"
        self.eval_file = self.path / "eval.jsonl"
        self.info_file = self.path / "run.json"
        self.lock_file = self.path / ".lock"
        self._lock: Optional[Any] = None

    # ---- creating and checking
    def check_new(self, cfg: Config) -> None:
        """Refuse a folder that holds another run (or any other files); writes nothing."""
        if self.path.exists() and not self.path.is_dir():
            raise GankitError(f"--out {self.path} is a file, not a folder")
        if self.config_file.exists():
            old = self.read_config_dict()
            changed = diff_configs(old, cfg.to_dict())
            if changed:
                raise GankitError(f"{self.path} holds a different run (its config differs at "
                                  f"{', '.join(changed[:3])}); choose another --out folder")
            raise GankitError(f"{self.path} already holds this run; continue it with "
                              f"'gankit train --resume {self.path}', or choose another --out")
        if self.path.is_dir() and any(self.path.iterdir()):
            raise GankitError(f"--out {self.path} is not empty and is not a gankit run; "
                              f"choose a new or empty folder")

    def create(self, cfg: Config) -> None:
        """Lay out a new run folder and write its resolved config."""
        self.check_new(cfg)
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.samples.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.config_file, cfg.to_yaml())

    def read_config_dict(self) -> dict:
        try:
            text = self.config_file.read_text()
        except OSError as exc:
            raise GankitError(f"{self.config_file} is unreadable: {exc}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise GankitError(yaml_error_message(exc, text, str(self.config_file))) from None
        if not isinstance(data, dict):
            raise GankitError(f"{self.config_file} does not hold a configuration")
        return data

    def read_config(self) -> Config:
        if not self.config_file.is_file():
            raise GankitError(f"{self.path} is not a gankit run: it has no config.yaml")
        return stored_config(self.read_config_dict())

    # ---- one writer at a time
    def acquire(self) -> None:
        """Take the run's lock for this process, or refuse: another process trains this run.

        An advisory ``flock`` on ``.lock``: the kernel drops it when its holder exits, however it exits
        (a crash or SIGKILL leaves nothing to clean up). Where the file system has no flock the run
        is not locked."""
        if self._lock is not None:
            return
        try:
            import fcntl
        except ImportError:  # not POSIX
            return
        handle = open(self.lock_file, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise GankitError(f"{self.path} is being trained by {holder}, which still holds {self.lock_file}; "
                              f"wait for it to finish or stop it (if you killed torchrun with SIGKILL, its "
                              f"workers may still run: kill them), then resume") from None
        except OSError:  # a file system without flock
            handle.close()
            return
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        self._lock = handle

    def release(self) -> None:
        """Let go of the lock :meth:`acquire` took (the file stays; the lock is what counts)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # ---- log
    def truncate_log(self, step: int) -> None:
        """Drop log records after ``step`` (and a half-written last line) before resuming there."""
        if not self.log_file.exists():
            return
        kept = []
        for line in self.log_file.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("step", 0) <= step:
                kept.append(line)
        atomic_write_text(self.log_file, "".join(k + "\n" for k in kept))

    def truncate_eval_log(self, step: int) -> None:
        """Drop the scores taken during training after ``step`` before resuming there.

        Records that ``gankit eval`` appended (of checkpoints, which survive a resume) are kept.
        """
        if not self.eval_file.exists():
            return
        kept = []
        for line in self.eval_file.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            during = isinstance(rec, dict) and (rec.get("provenance") or {}).get("during_training")
            if not (during and rec.get("step", 0) > step):
                kept.append(line)
        atomic_write_text(self.eval_file, "".join(k + "\n" for k in kept))

    def read_log(self) -> list[dict]:
        if not self.log_file.exists():
            return []
        out = []
        for line in self.log_file.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def read_info(self) -> dict:
        try:
            info = json.loads(self.info_file.read_text())
        except (OSError, json.JSONDecodeError):
            return {}
        return info if isinstance(info, dict) else {}

    def write_info(self, **info: Any) -> None:
        old = self.read_info()
        old.update(info)
        atomic_write_text(self.info_file, json.dumps(old, indent=1))

    # ---- training history: one segment per start or resume, in run.json
    def begin_segment(self, step: int, steps: int, **info: Any) -> float:
        """Open a training segment at ``step`` (of ``steps``); returns the training seconds before it.

        ``run.json`` keeps ``started`` (the first segment's start), ``segments`` (each with ``start``,
        ``end``, ``start_step``, ``end_step``, ``status``) and ``training_seconds`` (their total).
        A segment ends where its last checkpoint was written: the steps a crash loses are redone, and
        their time is not counted twice.
        """
        old = self.read_info()
        segments = [s for s in old.get("segments", []) if isinstance(s, dict)]
        before = _total_seconds(segments)
        now = time.time()
        segments.append({"start": now, "end": now, "start_step": step, "end_step": step, "status": "running"})
        self.write_info(**info, status="running", steps=steps, started=old.get("started", now),
                        segments=segments, training_seconds=round(before, 3))
        return before

    def end_segment(self, step: int, status: Optional[str] = None) -> None:
        """Move the open segment's end to now and ``step`` (at each checkpoint, at a stop, at the end)."""
        info = self.read_info()
        segments = info.get("segments") or []
        if not segments:
            return
        segments[-1].update(end=time.time(), end_step=step, **({"status": status} if status else {}))
        self.write_info(segments=segments, training_seconds=round(_total_seconds(segments), 3))

    def remove_samples_after(self, step: int) -> None:
        for p in self.samples.glob("step_*.png"):
            try:
                if int(p.stem.split("_")[1]) > step:
                    p.unlink()
            except (ValueError, IndexError):
                continue


class JsonlLog:
    """Appends one JSON line per record and flushes it, so a crash loses at most one line."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "a", buffering=1)

    def write(self, record: dict) -> None:
        self.file.write(json.dumps({k: _jsonable(v) for k, v in record.items()}) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def _total_seconds(segments: list) -> float:
    return sum(max(0.0, float(s.get("end", 0)) - float(s.get("start", 0))) for s in segments)


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def default_out(name: str, root: Optional[str] = None) -> Path:
    root_dir = Path(root or os.environ.get("GANKIT_RUNS", "runs"))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = root_dir / f"{name}-{stamp}"
    i = 1
    while path.exists():
        path = root_dir / f"{name}-{stamp}-{i}"
        i += 1
    return path
