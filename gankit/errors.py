"""User-facing errors.

A :class:`GankitError` is a mistake a person can fix (a bad key, a missing file, a corrupt
checkpoint). The CLI prints its message on one line and exits non-zero, without a traceback.
"""
from __future__ import annotations

import difflib
from typing import Iterable


class GankitError(Exception):
    """An error caused by user input; its message says what is wrong and how to fix it."""


def closest(name: str, choices: Iterable[str]) -> str:
    """Return a ' (did you mean X?)' hint for ``name`` among ``choices``, or ''."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C / SIGTERM, with what a user needs to continue it.

    Attributes:
        run_dir: the run folder (``--resume`` takes it), or None when training had no folder.
        step: the step of the checkpoint that was kept (the step training resumes from), or None.
        checkpoint: that checkpoint's manifest path, or None.
    """

    def __init__(self, reason: str, run_dir=None, step=None, checkpoint=None) -> None:
        super().__init__(reason)
        self.reason, self.run_dir, self.step, self.checkpoint = reason, run_dir, step, checkpoint
