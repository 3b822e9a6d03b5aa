"""What each part of the best mode-coverage recipe contributes: the categorical code and InfoGAN's term.

Variants of presets ``ring-best`` / ``grid-best`` (docs/benchmarks.md section 1, scored as ``benchmarks/modes.py``
scores them, plain generator samples):

- ``no code``: ``model.z_categories=0 objective.info=0`` (the recipe before the code: NS + R1 at the data's
  scale, big nets, lr decay, EMA);
- ``code, no term``: the K-class code (K = the modes) without InfoGAN's term;
- ``best``: the preset (the code and the term, lambda = 1);
- ``K=64 + term``: more classes than modes, with the term.

Runs whose configuration and seed match a record of ``benchmarks/results/modes_runs.jsonl`` (the modes
benchmark's runs, the "best" rows of the current and earlier presets) are reused from there; the rest are
trained here (``--seeds`` seeds, default 3) and appended to ``results/modes_ablation_runs.jsonl``, so
``--resume`` goes on where an interrupted run stopped. Writes ``results/modes_ablation.md``.

    .venv/bin/python benchmarks/modes_ablation.py --jobs 2 --resume
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import modes  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
K_MODES = {"ring": 8, "grid": 25}
VARIANTS = {  # name -> overrides of the dataset's best preset
    "no code": ["model.z_categories=0", "objective.info=0"],
    "code, no term": ["objective.info=0"],
    "best": [],
    "K=64 + term": ["model.z_categories=64"],
}


def main(argv: Optional[list[str]] = None) -> int:
    from gankit.config import load_config

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--resume", action="store_true", help="reuse the runs of modes_ablation_runs.jsonl")
    args = p.parse_args(argv)
    own_log = RESULTS / "modes_ablation_runs.jsonl"
    if not args.resume and own_log.exists():
        own_log.unlink()
    known = {}  # (dataset, seed, canonical config) -> a finished run
    for rec in modes.read_runs(RESULTS / "modes_runs.jsonl") + modes.read_runs(own_log):
        if rec.get("error") is None:
            known[(rec.get("dataset"), rec.get("seed"), modes.canonical_config(rec.get("config")))] = rec
    found: dict = {}
    tasks = []
    for ds in K_MODES:
        for name, overrides in VARIANTS.items():
            config = load_config(modes.BEST[ds], overrides).to_dict()
            key = modes.canonical_config(config)
            for seed in range(args.seeds):
                rec = known.get((ds, seed, key))
                if rec is not None:
                    found[(name, ds, seed)] = rec
                else:
                    tasks.append({"row": name, "dataset": ds, "seed": seed, "threads": 1,
                                  "keep_samples": False, "config": config})
    print(f"{len(tasks)} runs to do, {len(found)} reused", flush=True)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for task, rec in zip(tasks, pool.map(modes.run_one, tasks)):
            rec["config"] = task["config"]
            with own_log.open("a") as f:
                f.write(json.dumps(rec) + "\n")
            found[(task["row"], task["dataset"], task["seed"])] = rec
            print(f"{task['row']:>14} {task['dataset']} seed {task['seed']}: {rec['modes']}/{rec['n_modes']} modes, "
                  f"{100 * rec['high_quality']:5.1f}% HQ ({rec['seconds']:.0f}s)", flush=True)
    write(found, args.seeds, time.perf_counter() - t0)
    return 0


def write(found: dict, seeds: int, wall: float) -> None:
    L = ["# What the code and InfoGAN's term contribute (modes benchmark, best presets)", "",
         "Reproduce: `.venv/bin/python benchmarks/modes_ablation.py --jobs 2 --resume` "
         f"(this invocation: {wall / 60:.1f} minutes). Plain generator samples, scored as in "
         "[`modes.md`](modes.md); seeds 0..{} per cell. Runs that the modes benchmark recorded with the same "
         "configuration (its best rows, of the current preset and of the one before the code) come from "
         "`modes_runs.jsonl`; the rest from `modes_ablation_runs.jsonl`.".format(seeds - 1), "",
         "| dataset | variant | overrides of the preset | seeds | modes mean (min) | HQ % mean (min) | spread | "
         "all modes and >= 95% HQ on every seed? |", "|---|---|---|---|---|---|---|---|"]
    for ds in K_MODES:
        for name, overrides in VARIANTS.items():
            recs = [found[(name, ds, s)] for s in range(seeds) if (name, ds, s) in found]
            if not recs:
                continue
            s = modes.summarize(recs)
            spread = "-" if s["spread_mean"] is None else f"{s['spread_mean']:.2f}"
            L.append(f"| {ds} | {name} | `{' '.join(overrides) or '(none)'}` | {s['seeds']} | "
                     f"{s['modes_mean']:.1f} ({s['modes_min']}) | {s['hq_mean']:.1f} ({s['hq_min']:.1f}) | "
                     f"{spread} | {'yes' if s['target_met'] else 'no'} |")
    L += ["", "`spread` is `-` where a reused run was recorded before `mode_metrics` reported it. K is the "
          f"number of modes ({K_MODES['ring']} and {K_MODES['grid']}) in `ring-best` / `grid-best`."]
    (RESULTS / "modes_ablation.md").write_text("\n".join(L) + "\n")
    print(f"wrote {RESULTS / 'modes_ablation.md'}")


if __name__ == "__main__":
    sys.exit(main())
