"""``gankit train PRESET --seeds 0-9``: many seeds in one process (gankit/training/multiseed.py)."""
from __future__ import annotations

import argparse

from gankit.errors import GankitError, TrainingInterrupted


def train_seeds_command(args: argparse.Namespace) -> int:
    """Train (or, with ``--resume BASE``, continue) the runs ``OUT_seedK``, one per seed, batched."""
    from gankit.training.multiseed import parse_seeds

    seeds = parse_seeds(args.seeds)
    if args.seed is not None:
        raise GankitError("--seed and --seeds both set the seed; keep one (--seeds 0-9 trains one run per seed)")
    progress = not args.no_progress
    try:
        paths = _train(args, seeds, progress)
    except TrainingInterrupted as exc:
        command = getattr(exc, "resume_command", None)
        if command is None or exc.checkpoint is None:
            raise
        raise KeyboardInterrupt(f"{exc.reason}; each seed's checkpoint at step {exc.step} is kept: continue "
                                f"with '{command}' (or one seed alone: 'gankit train --resume RUN_seedK')") from None
    for path in paths:
        print(f"run: {path}")
    return 0


def _train(args: argparse.Namespace, seeds: list, progress: bool) -> list:
    from gankit.training.multiseed import resume_seeds, train_seeds

    if args.resume:
        if args.config or args.overrides or args.out:
            raise GankitError("--resume BASE --seeds continues the runs BASE_seedK with their own configs; only "
                              "--steps may change it (drop the preset, overrides and --out)")
        return resume_seeds(args.resume, seeds, steps=args.steps, progress=progress)
    if not args.config:
        raise GankitError("name a preset or a YAML file, e.g. 'gankit train ring --seeds 0-9'")
    return train_seeds(args.config, args.overrides, seeds, out=args.out, steps=args.steps, progress=progress)
