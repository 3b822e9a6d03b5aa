"""Training and scoring speed against torch's thread count, on an idle CPU and beside a competing job.

For each workload (the 2D MLP GAN of preset ``ring``, DCGAN on the 8x8 digits of preset ``digits``,
DCGAN 28x28 of preset ``fashion-dcgan``, and a metric workload: classifier features of 1,000
Fashion-MNIST images then FID + precision/recall + density/coverage against 1,000 real ones), for each
``train.threads`` setting (0 = PyTorch's own default, which is one thread per core, then 1, 2) and with or
without a competing CPU-bound job (a Python busy loop holding one core, started by this script), one fresh
subprocess warms up, then times the workload for ``--seconds`` and reports steps (or scorings) per second.
The subprocess runs without ``OMP_NUM_THREADS`` and sets threads exactly as ``gankit train`` does
(``torch.set_num_threads(N)`` for N > 0, nothing for 0), so the numbers are what a user gets.

Other work may run on the machine too: ``/proc/loadavg`` is recorded before and after each measurement
(it includes this script's own competitor, which adds about 1), so a reader can tell a quiet reading
from a disturbed one.

    .venv/bin/python benchmarks/threads.py                      # writes benchmarks/results/threads.{md,json}
    .venv/bin/python benchmarks/threads.py --resume             # measure only what the JSON lacks
    .venv/bin/python benchmarks/threads.py --time-limit 600     # stop starting measurements after 10 min
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from machine import cpu_model  # noqa: E402

WORKLOADS = {  # name -> (label, unit)
    "ring": ("2D MLP GAN (preset ring)", "steps/s"),
    "digits": ("DCGAN 8x8 digits (preset digits)", "steps/s"),
    "fashion": ("DCGAN 28x28 Fashion-MNIST (preset fashion-dcgan)", "steps/s"),
    "metric": ("features + FID, P/R, D/C, 1k vs 1k Fashion-MNIST", "scorings/s"),
}
PRESETS = {"ring": "ring", "digits": "digits", "fashion": "fashion-dcgan"}
THREADS = (0, 1, 2)
COMPETITORS = ("none", "busy")
BUSY_LOOP = "while True: pass"  # one core, pure Python: no threads of its own


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --------------------------------------------------------------------------- one measurement (child)


def _training_step(workload: str):
    from gankit.config import load_config
    from gankit.training.loop import Trainer

    # train.threads is set by the child itself (below), as Trainer would; here it must not change it.
    cfg = load_config(PRESETS[workload], ["train.device=cpu", "train.ema=0", "eval.every=0"])
    cfg.train.threads = None
    trainer = Trainer(cfg, progress=False)
    return lambda: trainer.iteration(want_stats=False)


def _scoring():
    import numpy as np

    from gankit.metrics.evaluate import load_source, score

    real = load_source("fashion_mnist", "test", n=1000, seed=0)
    fake = np.random.default_rng(0).integers(0, 256, (1000, 28, 28), dtype=np.uint8)
    return lambda: score(real, load_source(fake), metrics="fid,pr,dc", cache=False, progress=False)


def measure(workload: str, threads: int, seconds: float) -> dict:
    """Units of work per second of ``workload`` with ``threads`` (0 = torch's default), in this process."""
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    work = _scoring() if workload == "metric" else _training_step(workload)
    work()  # warm-up: allocations, first-call dispatch
    count, t0 = 0, time.perf_counter()
    while True:
        work()
        count += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds and count >= 3:
            break
    return {"rate": count / elapsed, "count": count, "seconds": elapsed, "torch_threads": torch.get_num_threads()}


# --------------------------------------------------------------------------- the matrix (parent)


def run_one(workload: str, threads: int, competitor: str, seconds: float, timeout: float) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    busy = None
    if competitor == "busy":
        busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
        time.sleep(1.0)  # let the scheduler see it
    load_before = loadavg()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", workload, str(threads), str(seconds)],
                              capture_output=True, text=True, env=env, timeout=timeout)
        if proc.returncode != 0:
            result = {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc {proc.returncode}"}
        else:
            result = json.loads(proc.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        result = {"error": f"timed out after {timeout:.0f} s"}
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    return {"workload": workload, "threads": threads, "competitor": competitor, **result,
            "loadavg_before": load_before, "loadavg_after": loadavg(),
            "wall_seconds": round(time.perf_counter() - t0, 1)}


def key(r: dict) -> tuple:
    return (r["workload"], int(r["threads"]), r["competitor"])


def write_markdown(path: Path, report: dict) -> None:
    rows = {key(r): r for r in report["measurements"]}
    m = report["machine"]
    L = ["# Speed against `train.threads`, idle and beside a competing job", "",
         f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, Python {m['python']}; "
         f"{m['date']}. Made by: " + "; then ".join(f"`{c}`" for c in report["commands"]) + ".", "",
         "Each cell: work per second (one timed run of "
         f"{report['seconds']:g} s after a warm-up, in a fresh process: single readings, so differences under "
         "~15% are noise), then the 1-minute `/proc/loadavg` before the measurement (the JSON also has it "
         "after). Threads 0 = PyTorch's default (one per core). \"busy\" = a Python busy loop this script "
         "started, holding one core, which adds about 1 to the load. The 1-minute average lags: it still "
         "counts the previous measurement's threads. Other work (another engineer's benchmarks) may have run "
         "on this shared machine at the same time; a load well above 2 (idle rows: above the workload's own "
         "threads) marks a disturbed reading.", ""]
    L.append("| workload | unit | competitor | " + " | ".join(f"threads {t}" for t in THREADS) + " |")
    L.append("|---|---|---|" + "---|" * len(THREADS))
    for w, (label, unit) in WORKLOADS.items():
        for c in COMPETITORS:
            cells = []
            for t in THREADS:
                r = rows.get((w, t, c))
                if r is None:
                    cells.append("not measured")
                elif "error" in r:
                    cells.append(f"error: {r['error'][:60]}")
                else:
                    cells.append(f"{r['rate']:.2f} (load {r['loadavg_before'][0]:.2f})")
            L.append(f"| {label} | {unit} | {c} | " + " | ".join(cells) + " |")
    L += ["", "Busy / idle ratio (how much of its speed a setting keeps when one core is taken):", "",
          "| workload | " + " | ".join(f"threads {t}" for t in THREADS) + " |", "|---|" + "---|" * len(THREADS)]
    for w, (label, _) in WORKLOADS.items():
        cells = []
        for t in THREADS:
            a, b = rows.get((w, t, "none")), rows.get((w, t, "busy"))
            ok = a and b and "rate" in a and "rate" in b
            cells.append(f"{b['rate'] / a['rate']:.2f}" if ok else "-")
        L.append(f"| {label} | " + " | ".join(cells) + " |")
    if report.get("conclusion"):
        L += ["", "## Conclusion", "", report["conclusion"]]
    path.write_text("\n".join(L) + "\n")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        workload, threads, seconds = argv[1], int(argv[2]), float(argv[3])
        print(json.dumps(measure(workload, threads, seconds)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma list of {', '.join(WORKLOADS)}")
    ap.add_argument("--seconds", type=float, default=8.0, help="timed seconds per measurement (default 8)")
    ap.add_argument("--timeout", type=float, default=240.0, help="give up on one measurement after this many s")
    ap.add_argument("--time-limit", type=float, default=0.0, help="start no measurement after this many s (0 = none)")
    ap.add_argument("--resume", action="store_true", help="keep the measurements of the JSON, do the missing ones")
    ap.add_argument("--conclusion", default=None, help="a paragraph written under the tables (kept on --resume)")
    ap.add_argument("--out", default=str(HERE / "results" / "threads"), help="path stem for .md and .json")
    args = ap.parse_args(argv)
    import torch

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    json_path = out.with_suffix(".json")
    old = json.loads(json_path.read_text()) if args.resume and json_path.is_file() else {}
    done = {key(r): r for r in old.get("measurements", []) if "rate" in r}
    shown = [a for i, a in enumerate(argv) if a != "--conclusion" and (i == 0 or argv[i - 1] != "--conclusion")]
    report = {
        "commands": old.get("commands", []),  # each run that measured something, in order
        "seconds": args.seconds,
        "machine": old.get("machine") or {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__,
                    "python": platform.python_version(),
                    "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")},
        "conclusion": args.conclusion if args.conclusion is not None else old.get("conclusion"),
        "measurements": list(done.values()),
    }
    t_start = time.perf_counter()
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for w in workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload '{w}'; choose from {', '.join(WORKLOADS)}")
    for w in workloads:
        for c in COMPETITORS:
            for t in THREADS:
                if (w, t, c) in done:
                    continue
                if args.time_limit and time.perf_counter() - t_start > args.time_limit:
                    print(f"time limit reached; rerun with --resume for the rest", flush=True)
                    break
                r = run_one(w, t, c, args.seconds, args.timeout)
                this = " ".join([".venv/bin/python", "benchmarks/threads.py", *shown])
                if this not in report["commands"][-1:]:
                    report["commands"].append(this)
                report["measurements"].append(r)
                shown = f"{r['rate']:.2f}" if "rate" in r else r["error"]
                print(f"{w:8s} threads={t} competitor={c:4s}: {shown} (load {r['loadavg_before']})", flush=True)
                json_path.write_text(json.dumps(report, indent=1) + "\n")  # a stop loses one measurement
    json_path.write_text(json.dumps(report, indent=1) + "\n")
    write_markdown(out.with_suffix(".md"), report)
    print(f"wrote {out}.md and .json in {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
