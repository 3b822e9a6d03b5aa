"""Recipes at a fixed step count (issue 10's unconditional target): which changes to a preset lower its FID
at the number of steps it makes in the protocol's budget?

``benchmarks/architectures.py`` measures quality for a wall-clock budget of this project's CPU, which costs
20-40 minutes of a core per try. This script screens candidate recipes faster: each variant (the preset
plus some overrides) trains for ``--steps`` generator steps (default 20,000: what ``fashion-dcgan-fast``
makes in 20 minutes of one core here) on any device, and its EMA generator is scored as
``architectures.py`` scores (10,000 samples against the test split, the shipped classifier's features:
FID, precision/recall, density/coverage). At a fixed step count the scores do not depend on the device
beyond float rounding, so a GPU can screen and the CPU protocol then confirms the winner; a variant that
costs more per step than the preset must be charged for it (the table gives ms/step on the device it
ran on; measure the CPU's with ``--steps 200 --device cpu``).

    .venv/bin/python benchmarks/recipes.py --device cuda --jobs 8 --time-limit 6
    .venv/bin/python benchmarks/recipes.py --variants base,hinge --steps 200 --n 500 --out /tmp/r   # a check
    .venv/bin/python benchmarks/recipes.py --report      # rewrite recipes.md from recipes_runs.jsonl

Runs are appended to ``results/recipes_runs.jsonl`` as they finish; ``--resume`` reuses those whose
configuration is unchanged; ``--time-limit`` (minutes) stops starting new runs.
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import sys
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from modes import canonical_config, read_runs  # noqa: E402
from pool import run_in_pool  # noqa: E402
from tricks import describe_device, mean_se, _fmt  # noqa: E402

RESULTS = HERE / "results"
KEYS = ("fid", "precision", "recall", "density", "coverage")

#: variant -> overrides on top of the preset (``--preset``, default fashion-dcgan-fast)
VARIANTS: dict[str, list[str]] = {
    "base": [],
    "hinge": ["objective.name=hinge"],
    "lr-decay": ["train.lr_decay=linear", "train.lr_decay_start=0.5"],
    "ema-0.9999": ["train.ema=0.9999"],
    "ttur": ["train.g_optim.lr=0.0001", "train.d_optim.lr=0.0004"],
    "d-sn-hinge": ["model.d_sn=true", "model.d_norm=none", "objective.name=hinge"],
    "r1": ["objective.name=r1", "objective.params={gamma: 0.1, every: 16}", "model.d_norm=none"],
    "lr-decay-ema-0.9999": ["train.lr_decay=linear", "train.lr_decay_start=0.5", "train.ema=0.9999"],
}


def task_config(preset: str, variant: str, steps: int, device: str) -> dict:
    from gankit.config import load_config

    base = ["train.threads=1", f"train.steps={steps}", "eval.final=false", "eval.every=0",
            "train.log_every=1000000", f"train.device={device}"]
    return load_config(preset, base + VARIANTS[variant]).to_dict()


def run_one(task: dict) -> list[dict]:
    """Train one (variant, seed) without a run folder and score its EMA generator at each step of
    ``score_at`` (in a worker process). Each record is appended to the log as soon as it is scored, so a
    run stopped later keeps its earlier rows."""
    import torch

    from architectures import generate
    from gankit.config import load_config
    from gankit.data import load_dataset
    from gankit.errors import GankitError
    from gankit.metrics.evaluate import SampleSet, _from_data, score
    from gankit.training.loop import Trainer

    torch.set_num_threads(1)
    cfg = load_config(task["config"], [f"train.seed={task['seed']}"])
    head = {k: task[k] for k in ("preset", "variant", "seed", "command")}
    head.update(config=task["config"], device=describe_device(cfg.train.device))
    records: list[dict] = []
    real = _from_data(load_dataset(cfg.data, "test"), "test", None, task["score_seed"])

    class ScoringTrainer(Trainer):
        train_s = 0.0

        def iteration(self, want_stats: bool) -> dict:
            t = time.perf_counter()
            stats = super().iteration(want_stats)
            if self.step in task["score_at"]:
                if cfg.train.device == "cuda":
                    torch.cuda.synchronize()
                self.train_s += time.perf_counter() - t
                records.append(score_now(self))
                return stats
            self.train_s += time.perf_counter() - t
            return stats

    def score_now(trainer) -> dict:
        G = copy.deepcopy(trainer.G_show).to("cpu")
        x, _ = generate(G, task["n"], task["score_seed"])
        result = score(real, SampleSet(x=x, kind="image", name="model", source=task["variant"]),
                       metrics="fid,pr,dc", seed=task["score_seed"], progress=False)
        rec = {**head, "steps": trainer.step, "ms_per_step": 1000 * trainer.train_s / trainer.step,
               **{k: result.get(k) for k in KEYS}, "provenance": result["provenance"], "error": None,
               "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        append(task["log"], rec)
        return rec

    try:
        ScoringTrainer(cfg, run=None, progress=False).fit()
    except Exception as exc:  # a diverged run (GankitError) counts as a failure; a crash is named as one
        why = str(exc).splitlines()[0] if str(exc) else ""
        rec = {**head, "steps": None,
               "error": why if isinstance(exc, GankitError) else f"crashed: {type(exc).__name__}: {why}"}
        append(task["log"], rec)
        records.append(rec)
    return records


def append(path: str, record: dict) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")


def write_markdown(path: Path, records: list[dict], variants: list[str]) -> None:
    presets = sorted({r["preset"] for r in records})
    counts = sorted({r["provenance"]["n_fake"] for r in records if r.get("provenance")})
    lines = ["# Recipes at a fixed step count (benchmarks/recipes.py)", "",
             f"Preset {', '.join(f'`{p}`' for p in presets)}; each variant's EMA generator scored at the given "
             f"generator step on {' or '.join(f'{c:,}' for c in counts)} samples against the test split with the "
             "shipped classifier's features (as `architectures.py` scores). Mean ± standard error over seeds. "
             "ms/step: training time per step on the device it ran on, comparable only within one device and, "
             "with several runs sharing it, only roughly.", "",
             "| variant | overrides | step | seeds | FID | precision | recall | density | coverage | ms/step | "
             "trained on |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for v in [v for v in VARIANTS if any(r["variant"] == v for r in records)]:
        over = " ".join(f"`{o}`" for o in VARIANTS[v]) or "(the preset)"
        failed = [r for r in records if r["variant"] == v and r["error"] is not None]
        for step in sorted({r["steps"] for r in records if r["variant"] == v and r["error"] is None}):
            ok = [r for r in records if r["variant"] == v and r["steps"] == step and r["error"] is None]
            cells = [_fmt(*mean_se([r[k] for r in ok]), 2 if k == "fid" else 3) for k in KEYS]
            devices = ", ".join(sorted({r["device"] for r in ok}))
            lines.append(f"| {v} | {over} | {step} | {len(ok)} | " + " | ".join(cells) +
                         f" | {_fmt(*mean_se([r['ms_per_step'] for r in ok]), 1)} | {devices} |")
        for r in failed:
            lines.append(f"| {v} | {over} | - | seed {r['seed']} failed | {r['error']} | | | | | | {r['device']} |")
    not_run = [v for v in variants if not any(r["variant"] == v for r in records)]
    if not_run:
        lines += ["", f"**PARTIAL**: not run: {', '.join(not_run)}."]
    lines += ["", "The runs came from:", ""] + [f"- `{c}`" for c in sorted({r['command'] for r in records})]
    path.write_text("\n".join(lines) + "\n")


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="fashion-dcgan-fast")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of: {', '.join(VARIANTS)}")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--score-at", default=None, help="also score at these steps (comma-separated; default: half "
                    "of --steps), so a run stopped early keeps a row")
    ap.add_argument("--n", type=int, default=10000, help="generated samples per score")
    ap.add_argument("--score-seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=None, help="minutes; no new run starts after it")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--report", action="store_true", help="only rewrite recipes.md from the runs log")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    score_at = sorted({args.steps, *([int(s) for s in args.score_at.split(",")] if args.score_at
                                     else [args.steps // 2])} - {0})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "recipes_runs.jsonl"
    command = "python benchmarks/recipes.py " + " ".join(argv if argv is not None else sys.argv[1:])
    tasks = [] if args.report else [
        {"preset": args.preset, "variant": v, "seed": s, "n": args.n, "score_seed": args.score_seed,
         "command": command, "config": task_config(args.preset, v, args.steps, args.device),
         "score_at": score_at, "log": str(log_path)}
        for s in range(args.seeds) for v in variants]
    if args.resume:  # a run is done when its last step was scored with the same configuration
        have = {(r["preset"], r["variant"], r["seed"]): r for r in read_runs(log_path)
                if r.get("steps") == args.steps or r.get("error")}
        tasks = [t for t in tasks if not ((rec := have.get((t["preset"], t["variant"], t["seed"])))
                                          and canonical_config(rec["config"]) == canonical_config(t["config"]))]
    def report(records: list[dict]) -> None:  # the worker has logged them
        for rec in records:
            print(f"{rec['variant']} seed {rec['seed']} step {rec['steps']}: FID {rec.get('fid')}"
                  f"{' ERROR ' + rec['error'] if rec['error'] else ''}", file=sys.stderr, flush=True)

    run_in_pool(tasks, run_one, args.jobs, args.time_limit, report)
    latest = {(r["preset"], r["variant"], r["seed"], r.get("steps")): r for r in read_runs(log_path)
              if r.get("variant") in VARIANTS}
    if latest:
        write_markdown(out / "recipes.md", list(latest.values()), variants)
        print(f"wrote {out / 'recipes.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
