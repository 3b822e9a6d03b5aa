"""Many seeds in one process (docs/speed.md): S ring runs as one batched ``gankit train ring --seeds``
against S separate ``gankit train ring --seed K`` processes, wall time and final scores.

Each unit is one CLI process, timed by wall clock from start to exit (imports, setup, training, snapshots,
checkpoints, reports and the final scoring: what a user waits for), all at one thread (OMP_NUM_THREADS=1,
train.threads=1). The batched unit runs in the middle of the separate ones, so a change in the machine's
load hits both. Every unit's result is appended to ``benchmarks/results/multiseed_runs.jsonl``; ``--resume``
keeps the units already there (same variant, steps and seeds), ``--time-limit`` starts no new unit after that
many seconds and marks the table partial.

    .venv/bin/python benchmarks/multiseed.py --steps 1000 --time-limit 540 --resume
    .venv/bin/python benchmarks/multiseed.py --variant train-only ...   # snapshots and reports off in both

Variants: ``preset`` (the ring preset's duties: a snapshot every 250 steps, a checkpoint and report every
1000); ``train-only`` (``train.sample_every`` and ``train.checkpoint_every`` = the step count: one snapshot,
checkpoint and report at the end, in both arms).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))  # this checkout's gankit, before an installed one

from machine import cpu_model  # noqa: E402

def micro(seeds: int, iters: int, repeats: int, device: str = "cpu") -> dict:
    """Training iterations alone, in this process at one thread: the batched iteration of ``seeds`` ring
    runs against one run's ``Trainer.iteration`` (alternating blocks), and the fp32 matmul rate of one
    ring layer (256 x 128 x 128) against a 1024^3 matmul: how far from FLOP-bound the ring step is.
    ``device`` "cuda" times both on the GPU (``benchmarks/gpu.py``), synchronizing after each block."""
    import torch

    from gankit.config import load_config
    from gankit.training.loop import Trainer
    from gankit.training.multiseed import batch_new_runs

    torch.set_num_threads(1)
    multi = batch_new_runs([load_config("ring", [f"train.seed={s}", "eval.final=false", f"train.device={device}"])
                            for s in range(seeds)], progress=False)
    single = Trainer(load_config("ring", ["train.seed=0", "eval.final=false", f"train.device={device}"]), None,
                     progress=False)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def timed(fn, n):
        sync()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        sync()
        return (time.perf_counter() - t0) / n

    timed(multi.iteration, 5), timed(lambda: single.iteration(False), 5)
    rows = []
    for _ in range(repeats):
        tb = timed(multi.iteration, iters)
        ts = timed(lambda: single.iteration(False), iters)
        rows.append({"batched_ms_per_seed": tb / seeds * 1e3, "single_ms": ts * 1e3, "ratio": tb / seeds / ts})
    a, w, big = (torch.randn(*shape, device=device) for shape in ((256, 128), (128, 128), (1024, 1024)))
    t_layer = timed(lambda: a @ w, 200)
    t_big = timed(lambda: big @ big, 10)
    return {"seeds": seeds, "repeats": rows,
            "median_ratio": statistics.median(r["ratio"] for r in rows),
            "layer_gflops": 2 * 256 * 128 * 128 / t_layer / 1e9, "big_gflops": 2 * 1024 ** 3 / t_big / 1e9}


VARIANTS = {"preset": [], "train-only": ["train.sample_every={steps}", "train.checkpoint_every={steps}"]}


def _run(args: list[str]) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "gankit.cli", "train", *args, "--no-progress"], env=env,
                       capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"failed: gankit train {' '.join(args)}\n{r.stderr[-2000:]}")
    return wall


def _final_scores(run: Path) -> dict:
    lines = [json.loads(x) for x in (run / "eval.jsonl").read_text().splitlines() if x.strip()]
    last = lines[-1]
    return {k: last[k] for k in ("modes", "high_quality", "kl") if k in last}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10, help="number of seeds S (0 .. S-1)")
    ap.add_argument("--steps", type=int, default=1000, help="generator steps per run (the preset: 3000)")
    ap.add_argument("--variant", choices=sorted(VARIANTS), default="preset")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--time-limit", type=float, default=0, help="start no new unit after this many seconds")
    ap.add_argument("--resume", action="store_true", help="keep the units already in multiseed_runs.jsonl")
    ap.add_argument("--micro", action="store_true", help="time the training iterations alone (no processes) "
                                                       "and write multiseed_micro.{md,json}")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.micro:
        r = micro(args.seeds, iters=40, repeats=5)
        (out / "multiseed_micro.json").write_text(json.dumps(r, indent=1))
        text = (f"# Many seeds: the training iteration alone ({args.seeds} ring seeds, 1 thread, {cpu_model()})\n\n"
                f"| repeat | batched ms per seed-step | one run's ms per step | ratio |\n|---|---|---|---|\n"
                + "".join(f"| {i} | {x['batched_ms_per_seed']:.2f} | {x['single_ms']:.2f} | {x['ratio']:.2f} |\n"
                          for i, x in enumerate(r["repeats"]))
                + f"\nMedian ratio {r['median_ratio']:.2f}. fp32 matmul: one ring layer (256x128x128) "
                  f"{r['layer_gflops']:.0f} GFLOP/s, 1024^3 {r['big_gflops']:.0f} GFLOP/s. "
                  f"Command: `benchmarks/multiseed.py --micro --seeds {args.seeds}`.\n")
        (out / "multiseed_micro.md").write_text(text)
        print(text)
        return
    runs_file = out / "multiseed_runs.jsonl"
    key = {"variant": args.variant, "steps": args.steps, "seeds": args.seeds}
    done: dict = {}
    if args.resume and runs_file.is_file():
        for line in runs_file.read_text().splitlines():
            rec = json.loads(line)
            if all(rec.get(k) == v for k, v in key.items()):
                done[rec["unit"]] = rec
    elif runs_file.is_file():
        kept = [x for x in runs_file.read_text().splitlines()
                if not all(json.loads(x).get(k) == v for k, v in key.items())]
        runs_file.write_text("".join(k + "\n" for k in kept))
    extra = [o.format(steps=args.steps) for o in VARIANTS[args.variant]] + ["train.threads=1"]
    seeds = list(range(args.seeds))
    half = len(seeds) // 2
    units = [f"separate:{s}" for s in seeds[:half]] + ["batched"] + [f"separate:{s}" for s in seeds[half:]]
    t_start, partial = time.perf_counter(), False
    tmp = Path(tempfile.mkdtemp(prefix="gankit-multiseed-"))
    try:
        for unit in units:
            if unit in done:
                print(f"{unit}: kept (--resume)", flush=True)
                continue
            if args.time_limit and time.perf_counter() - t_start > args.time_limit:
                partial = True
                print(f"--time-limit reached before {unit}: partial", flush=True)
                break
            load = os.getloadavg()[0]
            if unit == "batched":
                base = tmp / "batched"
                wall = _run(["ring", "--steps", str(args.steps), "--seeds", f"0-{args.seeds - 1}", "--out",
                             str(base), *extra])
                scores = [_final_scores(base.parent / f"batched_seed{s}") for s in seeds]
            else:
                s = int(unit.split(":")[1])
                run = tmp / f"sep{s}"
                wall = _run(["ring", "--steps", str(args.steps), "--seed", str(s), "--out", str(run), *extra])
                scores = [_final_scores(run)]
            rec = {**key, "unit": unit, "wall_s": round(wall, 2), "load_before": round(load, 2), "scores": scores,
                   "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
            done[unit] = rec
            with runs_file.open("a") as f:
                f.write(json.dumps(rec) + "\n")
            print(f"{unit}: {wall:.1f} s (load {load:.1f}) {scores if len(scores) == 1 else ''}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_table(out, key, done, partial or len(done) < len(units))


def _dist(values: list) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3g}"
    return f"{statistics.mean(values):.3g} ± {statistics.stdev(values):.2g}"


def write_table(out: Path, key: dict, done: dict, partial: bool) -> None:
    sep = [r for u, r in done.items() if u.startswith("separate:")]
    bat = done.get("batched")
    sep_wall = sum(r["wall_s"] for r in sep)
    sep_scores = [s for r in sep for s in r["scores"]]
    bat_scores = bat["scores"] if bat else []
    ratio = (bat["wall_s"] / sep_wall) if bat and len(sep) == key["seeds"] else None
    lines = [f"# Many seeds in one process: {key['seeds']} ring runs, {key['steps']} steps, variant "
             f"`{key['variant']}`" + (" **(partial)**" if partial else ""), "",
             f"Machine: {cpu_model()}, {os.cpu_count()} cores shared with other work (the load average before each "
             f"unit is in multiseed_runs.jsonl); every process at 1 thread. Command: "
             f"`benchmarks/multiseed.py --steps {key['steps']} --variant {key['variant']} --seeds {key['seeds']}`.", "",
             "| arm | processes | wall s | ratio batched / separate | modes (of 8) | high quality | KL |",
             "|---|---|---|---|---|---|---|"]
    lines.append(f"| separate `--seed K` | {len(sep)} | {sep_wall:.1f} | 1 | "
                 f"{_dist([s['modes'] for s in sep_scores])} | {_dist([s['high_quality'] for s in sep_scores])} | "
                 f"{_dist([s['kl'] for s in sep_scores])} |")
    if bat:
        lines.append(f"| batched `--seeds 0-{key['seeds'] - 1}` | 1 | {bat['wall_s']:.1f} | "
                     f"{f'{ratio:.2f}' if ratio else 'n/a (separate arm incomplete)'} | "
                     f"{_dist([s['modes'] for s in bat_scores])} | {_dist([s['high_quality'] for s in bat_scores])} | "
                     f"{_dist([s['kl'] for s in bat_scores])} |")
    lines += ["", "Scores: the runs' final `eval.jsonl` record (mean ± sd over the seeds). Target of issue 12: "
              "ratio <= 0.3.", ""]
    stem = f"multiseed_{key['variant']}_{key['steps']}"
    (out / f"{stem}.md").write_text("\n".join(lines))
    (out / f"{stem}.json").write_text(json.dumps({**key, "partial": partial, "ratio": ratio, "units": done},
                                                 indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
