"""Time and peak memory of the metric functions on extracted features (extraction is not timed).

Each case (metric, sample count) runs in a fresh subprocess: it draws ``n`` real and ``n`` fake
random float32 features of dimension ``--dim`` (default 2048, InceptionV3's pool features), then
times one call. Peak memory is the process's resident high-water mark during the call (``VmHWM``,
reset just before it through ``/proc/self/clear_refs``; ``ru_maxrss`` where that is unavailable): the
whole process, i.e. Python, torch, the two feature matrices and everything the metric allocates.
``metric`` is that peak minus the resident size just before the call: what the metric itself added. The issue's bound: 50,000 real against
50,000 fake 2048-d features in under 4 GiB for the k-NN metrics.

    nice .venv/bin/python benchmarks/metrics.py                       # writes benchmarks/results/metrics.md
    .venv/bin/python benchmarks/metrics.py --sizes 2000 --metrics fid pr --out /tmp/m.md   # a quick look
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
METRICS = ("fid", "kid", "pr", "dc")
LABELS = {"fid": "FID", "kid": "KID (100 x 1,000)", "pr": "precision/recall (k=3)", "dc": "density/coverage (k=5)"}

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model  # noqa: E402


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _reset_peak() -> bool:
    """Reset the kernel's resident high-water mark (VmHWM), so the peak is the metric's, not setup's."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_mib(reset: bool) -> float:
    if reset:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB -> MiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux -> MiB


def run_case(metric: str, n: int, dim: int, device: str) -> dict:
    import torch

    from gankit.metrics import compute_metrics

    gen = torch.Generator().manual_seed(0)
    real = torch.randn(n, dim, generator=gen).to(device)  # [n, dim] float32
    fake = torch.randn(n, dim, generator=gen).mul_(1.05).add_(0.02).to(device)  # in place: no transient copy
    before = _rss_mib()
    reset = _reset_peak()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    values = compute_metrics([metric], {"features": real}, {"features": fake}, seed=0)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    peak = _peak_mib(reset)
    out = {"metric": metric, "n": n, "dim": dim, "seconds": seconds, "peak_mib": peak,
           "metric_mib": max(0.0, peak - before), "peak_source": "VmHWM" if reset else "ru_maxrss", "inputs_mib": 2 * n * dim * 4 / 2**20, "values": values,
           "threads": torch.get_num_threads(), "device": device}
    if device.startswith("cuda"):
        out["gpu_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out



def write_markdown(rows: list[dict], path: Path, command: str, started: str, loads: list[float]) -> None:
    import numpy as np
    import torch

    device = rows[0]["device"] if rows else "cpu"
    lines = [
        "# Metric cost on extracted features",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} logical CPUs, torch {torch.__version__} "
        f"({rows[0]['threads'] if rows else '?'} threads), numpy {np.__version__}, device {device}; "
        f"started {started}; 1-minute load average {min(loads):.1f}-{max(loads):.1f} during the run "
        "(the machine is shared: times are upper bounds).",
        "",
        f"Features: random float32, {rows[0]['dim'] if rows else '?'}-d, n real against n fake, each case in a fresh "
        "process. `peak` is the process's resident high-water mark during the call (VmHWM, reset just "
        f"before it; source: {rows[0].get('peak_source', '?') if rows else '?'}): interpreter, torch, the two "
        "input matrices and the metric's own memory; `metric` is the peak minus the resident size just "
        "before the call.",
        "",
        "| metric | n | seconds | peak (MiB) | metric (MiB) | inputs (MiB) | under 4 GiB |"
        + (" GPU peak (MiB) |" if device.startswith("cuda") else ""),
        "|---|---:|---:|---:|---:|---:|---|" + ("---:|" if device.startswith("cuda") else ""),
    ]
    for r in rows:
        line = (f"| {LABELS[r['metric']]} | {r['n']:,} | {r['seconds']:.1f} | {r['peak_mib']:.0f} | "
                f"{r['metric_mib']:.0f} | {r['inputs_mib']:.0f} | {'yes' if r['peak_mib'] < 4096 else 'NO'} |")
        if device.startswith("cuda"):
            line += f" {r.get('gpu_peak_mib', 0):.0f} |"
        lines.append(line)
    lines += ["", "Values (a sanity check that each case computed something):", ""]
    for r in rows:
        vals = ", ".join(f"{k}={v:.4g}" for k, v in r["values"].items() if isinstance(v, float))
        lines.append(f"- {r['metric']} n={r['n']:,}: {vals}")
    lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    (path.with_suffix(".json")).write_text(json.dumps(rows, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--metrics", nargs="+", default=list(METRICS), choices=METRICS)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "metrics.md")
    parser.add_argument("--case", nargs=2, metavar=("METRIC", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case[0], int(args.case[1]), args.dim, args.device)))
        return
    command = "python benchmarks/metrics.py " + " ".join(sys.argv[1:])
    started = datetime.datetime.now().isoformat(timespec="seconds")
    rows, loads = [], [os.getloadavg()[0]]
    for n in args.sizes:
        for metric in args.metrics:
            proc = subprocess.run([sys.executable, __file__, "--case", metric, str(n), "--dim", str(args.dim),
                                   "--device", args.device], capture_output=True, text=True)
            loads.append(os.getloadavg()[0])
            if proc.returncode != 0:
                print(proc.stderr[-2000:], file=sys.stderr)
                raise SystemExit(f"case {metric} n={n} failed")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{metric:>4} n={n:>6,}: {row['seconds']:7.1f} s, peak {row['peak_mib']:6.0f} MiB "
                  f"(metric {row['metric_mib']:.0f} MiB)", flush=True)
            write_markdown(rows, args.out, command, started, loads)  # partial results survive a stop
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
