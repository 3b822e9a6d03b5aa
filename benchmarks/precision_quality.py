"""Does bf16 change what a run learns? FID at a fixed step count, fp32 against bf16, several seeds.

DCGAN 28x28 (preset ``fashion-dcgan``) trained ``--steps`` generator steps per (precision, seed), the
same seeds for both precisions, then scored once at the last step by the training evaluator (the shipped
Fashion-MNIST classifier's features, ``--n`` samples of the EMA generator against the test split).
The question (issue 12): is bf16's FID within the seed-to-seed spread of fp32's?

    .venv/bin/python benchmarks/precision_quality.py --steps 300 --seeds 0,1,2 --time-limit 540
    .venv/bin/python benchmarks/precision_quality.py --resume     # continue: runs already scored are kept

Writes ``benchmarks/results/precision_quality.{md,json}``; unfinished (time limit) results say partial.
"""
from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gankit  # noqa: E402
from gankit.training.rundir import RunDir  # noqa: E402


def run_one(preset: str, precision: str, seed: int, steps: int, n: int, threads: int, root: Path) -> dict:
    out = root / f"{precision}-seed{seed}"
    overrides = [f"train.precision={precision}", f"train.threads={threads}", f"eval.every={steps}",
                 "eval.metrics=fid", f"eval.n={n}", f"train.checkpoint_every={steps}",
                 f"train.sample_every={steps}"]
    t0 = time.perf_counter()
    gankit.train(preset, overrides, out=out, steps=steps, seed=seed, progress=False)
    seconds = time.perf_counter() - t0
    records = [json.loads(x) for x in RunDir(out).eval_file.read_text().splitlines() if x.strip()]
    scores = [r for r in records if r.get("step") == steps and "fid" in r]
    return {"precision": precision, "seed": seed, "steps": steps, "fid": scores[-1]["fid"],
            "seconds": round(seconds, 1), "overrides": overrides}


def write(out: Path, report: dict) -> None:
    (out.with_suffix(".json")).write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# FID at a fixed step count: fp32 against bf16 (issue 12)", "",
             f"Command: `{report['command']}`" + (" **(partial: --time-limit reached)**" if report["partial"] else ""),
             "", f"Preset `{report['preset']}`, {report['steps']} generator steps per run, FID of {report['n']} EMA "
             f"samples (classifier features) against the test split at the last step; {report['date']}; "
             f"machine shared with other jobs, so the seconds are noisy.", "",
             "| precision | seed | FID | seconds |", "|---|---:|---:|---:|"]
    for r in report["runs"]:
        lines.append(f"| {r['precision']} | {r['seed']} | {r['fid']:.3f} | {r['seconds']:.0f} |")
    lines += [""]
    for p in ("fp32", "bf16"):
        f = [r["fid"] for r in report["runs"] if r["precision"] == p]
        if f:
            sd = statistics.stdev(f) if len(f) > 1 else float("nan")
            lines.append(f"- {p}: mean FID {statistics.mean(f):.3f}, seed std {sd:.3f} over {len(f)} seed(s)")
    pairs = {}
    for r in report["runs"]:
        pairs.setdefault(r["seed"], {})[r["precision"]] = r["fid"]
    diffs = [v["bf16"] - v["fp32"] for v in pairs.values() if len(v) == 2]
    if diffs:
        lines.append(f"- bf16 - fp32 per seed: {', '.join(f'{d:+.3f}' for d in diffs)}")
    lines.append("")
    out.with_suffix(".md").write_text("\n".join(lines))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="fashion-dcgan")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--n", type=int, default=2000, help="samples per FID")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=0, help="start no new run after this many seconds")
    ap.add_argument("--resume", action="store_true", help="keep the runs already in the results JSON")
    ap.add_argument("--out", default=str(HERE / "results" / "precision_quality"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = []
    if args.resume and out.with_suffix(".json").is_file():
        runs = json.loads(out.with_suffix(".json").read_text())["runs"]
    done = {(r["precision"], r["seed"]) for r in runs}
    t_start, partial = time.perf_counter(), False
    root = Path(tempfile.mkdtemp(prefix="gankit-precision-"))
    command = " ".join([".venv/bin/python", "benchmarks/precision_quality.py", *(argv if argv is not None else sys.argv[1:])])
    for seed in seeds:  # fp32 and bf16 of one seed back to back: a pair sees the same machine load
        for precision in ("fp32", "bf16"):
            if (precision, seed) in done:
                continue
            if args.time_limit and time.perf_counter() - t_start > args.time_limit:
                partial = True
                break
            runs.append(run_one(args.preset, precision, seed, args.steps, args.n, args.threads, root))
            print(f"{precision} seed {seed}: FID {runs[-1]['fid']:.3f} in {runs[-1]['seconds']:.0f} s", flush=True)
            report = {"command": command, "preset": args.preset, "steps": args.steps, "n": args.n,
                      "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                      "partial": True, "runs": runs}
            write(out, report)  # after every run: a stop keeps what was measured
    missing = [(p, s) for s in seeds for p in ("fp32", "bf16") if (p, s) not in {(r["precision"], r["seed"]) for r in runs}]
    report = {"command": command, "preset": args.preset, "steps": args.steps, "n": args.n,
              "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "partial": bool(missing) or partial, "runs": runs}
    write(out, report)
    print(f"wrote {out}.md ({'partial' if report['partial'] else 'complete'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
