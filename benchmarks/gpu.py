"""The GPU path (issue 12): gankit's loop on CUDA in fp32, bf16 and fp16 (GradScaler), images/s.

Also, on the same GPU: many seeds in one process (10 ring seeds as one batched iteration against one
run's iteration, ``benchmarks/multiseed.py``'s micro measure), and K separate training processes sharing
the GPU at once (``--concurrent``: each process's images/s and the sum), which is what running several
seeds or benchmark jobs side by side on one GPU gives.

On a machine without CUDA it writes that it was not run (and why), so the results never pretend.

    .venv/bin/python benchmarks/gpu.py                  # DCGAN 28x28 and the ring MLP, 3 repeats
    .venv/bin/python benchmarks/gpu.py --time-limit 300 # stop starting repeats after 300 s (partial)

Writes ``benchmarks/results/gpu.{md,json}``. Data: Fashion-MNIST when present, else random images of its
shape (the speed does not depend on the pixels). Each row: median images/s of ``--repeats`` timed blocks
of ``--steps`` iterations after a warm-up, with ``torch.cuda.synchronize`` around each block.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from throughput import build_config  # noqa: E402

from gankit.training.loop import Trainer  # noqa: E402

ROWS = {"fp32": [], "bf16": ["train.precision=bf16"], "fp16": ["train.precision=fp16"],
        "fast": ["train.precision=bf16", "train.channels_last=true", "train.optim_impl=fused"]}
MODELS = {"fashion-dcgan": ["data.batch_size=256"], "ring": []}


def time_rows(preset: str, extra: list, steps: int, repeats: int, deadline: float) -> dict:
    trainers = {}
    for name, overrides in ROWS.items():
        cfg, note = build_config(preset, 1, ["train.ema=0", "eval.final=false", *extra, *overrides])
        cfg.train.device = "cuda"
        torch.manual_seed(0)
        trainers[name] = Trainer(cfg, None, progress=False)
        for _ in range(5):
            trainers[name].iteration(want_stats=False)
    torch.cuda.synchronize()
    ips: dict = {k: [] for k in trainers}
    B = next(iter(trainers.values())).cfg.data.batch_size
    for r in range(repeats):
        if r and time.perf_counter() > deadline:
            break
        for name in (list(trainers) if r % 2 == 0 else list(trainers)[::-1]):
            t0 = time.perf_counter()
            for _ in range(steps):
                trainers[name].iteration(want_stats=False)
            torch.cuda.synchronize()
            ips[name].append(B * steps / (time.perf_counter() - t0))
    return {"batch_size": B, "img_per_s": ips,
            "median": {k: statistics.median(v) for k, v in ips.items()}, "data_note": note}


def worker(preset: str, extra: list, steps: int) -> float:
    """One process of ``--concurrent``: images/s of ``steps`` iterations of the fast row after a warm-up."""
    cfg, _ = build_config(preset, 1, ["train.ema=0", "eval.final=false", *extra, *ROWS["fast"]])
    cfg.train.device = "cuda"
    trainer = Trainer(cfg, None, progress=False)
    for _ in range(10):
        trainer.iteration(want_stats=False)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.iteration(want_stats=False)
    torch.cuda.synchronize()
    return cfg.data.batch_size * steps / (time.perf_counter() - t0)


def concurrent(counts: list[int], steps: int) -> dict:
    """K processes training fashion-dcgan (fast row) on the one GPU at once, for each K in ``counts``."""
    out = {}
    for k in counts:
        procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(steps)], stdout=subprocess.PIPE,
                                  text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}) for _ in range(k)]
        ips = [float(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        out[str(k)] = {"per_process": ips, "total": sum(ips)}
        print(f"{k} processes at once: {sum(ips):,.0f} images/s in all", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=0)
    ap.add_argument("--out", default=str(HERE / "results" / "gpu"))
    ap.add_argument("--concurrent", default="1,4,8", help="numbers of training processes sharing the GPU at once")
    ap.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        torch.set_num_threads(1)
        print(worker("fashion-dcgan", MODELS["fashion-dcgan"], args.worker))
        return 0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    command = " ".join([".venv/bin/python", "benchmarks/gpu.py", *(argv if argv is not None else sys.argv[1:])])
    if not torch.cuda.is_available():
        reason = f"torch {torch.__version__} sees no CUDA device on this machine"
        out.with_suffix(".json").write_text(json.dumps({"command": command, "date": date, "run": False,
                                                        "reason": reason}, indent=2) + "\n")
        out.with_suffix(".md").write_text(f"# The GPU path (benchmarks/gpu.py)\n\n**Not run** ({date}): {reason}. "
                                          f"Nothing below is measured; run `{command}` where a GPU is present.\n")
        print(f"not run: {reason}; wrote {out}.md")
        return 0
    deadline = time.perf_counter() + (args.time_limit or float("inf"))
    from multiseed import micro

    results = {p: time_rows(p, extra, args.steps, args.repeats, deadline) for p, extra in MODELS.items()}
    seeds = micro(10, iters=args.steps, repeats=args.repeats, device="cuda")
    shared = concurrent([int(k) for k in args.concurrent.split(",") if k.strip()], 4 * args.steps)
    report = {"command": command, "date": date, "run": True, "gpu": torch.cuda.get_device_name(),
              "torch": torch.__version__, "models": results, "many_seeds": seeds, "concurrent": shared}
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# The GPU path (benchmarks/gpu.py)", "", f"Command: `{command}`; {report['gpu']}, torch "
             f"{report['torch']}, {date}.", ""]
    for preset, r in results.items():
        fp32 = r["median"]["fp32"]
        lines += [f"## `{preset}`, batch {r['batch_size']}", "", "| row | images/s (median) | / fp32 | repeats |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {k} | {v:,.0f} | {v / fp32:.2f} | {len(r['img_per_s'][k])} |" for k, v in r["median"].items()]
        lines += (["", f"Data: {r['data_note']}."] if r["data_note"] else []) + [""]
    lines += ["## Many seeds in one process: 10 `ring` seeds", "",
              f"One batched iteration of 10 seeds against one run's iteration, on the GPU ({args.repeats} repeats "
              f"of {args.steps} iterations each): **{seeds['median_ratio']:.3f}** of the time per seed (median; "
              f"1 = no gain). Per seed: " + ", ".join(f"{r['batched_ms_per_seed']:.2f} ms batched vs "
                                                      f"{r['single_ms']:.2f} ms alone" for r in seeds["repeats"]) + ".",
              "", "## Processes sharing the GPU: `fashion-dcgan`, fast row, batch 256", "",
              "| processes at once | images/s in all | per process (each) |", "|---:|---:|---|"]
    lines += [f"| {k} | {v['total']:,.0f} | {', '.join(f'{x:,.0f}' for x in v['per_process'])} |"
              for k, v in shared.items()]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
