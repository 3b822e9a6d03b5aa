"""Does discriminator optimal transport (``gankit sample --dot-steps``) improve a trained image generator?

For one run of --preset (trained here into --run, or reused when finished), the same --n latents (and, for a
conditional model, the same uniform labels) are scored unmoved and moved by --steps DOT steps at each scale
of --scales, with the metrics ``gankit eval`` gives that model (shipped classifier features against the
test split; a conditional model adds intra-FID and label agreement). Every row is the command
``gankit eval RUN --n N --seed S --metrics M [--dot-steps STEPS --dot-scale SCALE]``. Results in
``results/dot_<preset>.json`` (rows reused with --resume) and ``results/dot_<preset>.md``.

    .venv/bin/python benchmarks/dot_images.py --preset fashion-projection-ac --resume
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
COLUMNS = ("fid", "intra_fid", "label_agreement", "precision", "recall", "density", "coverage")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="fashion-projection-ac")
    ap.add_argument("--run", help="the run folder (default ~/.cache/gankit/bench-runs/dot-PRESET)")
    ap.add_argument("--scales", default="1,0.1")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seeds", default="0", help="latent seeds, comma-separated (one row per seed and scale)")
    ap.add_argument("--resume", action="store_true", help="reuse the rows already in the JSON")
    ap.add_argument("--time-limit", type=float, default=60, help="minutes; no new row starts after it")
    args = ap.parse_args()
    torch.set_num_threads(1)
    import gankit

    run = Path(args.run or Path.home() / ".cache" / "gankit" / "bench-runs" / f"dot-{args.preset}")
    if not ((run / "run.json").is_file() and json.loads((run / "run.json").read_text()).get("status") == "finished"):
        print(f"training {args.preset} into {run} ...", flush=True)
        gankit.train(args.preset, ["train.threads=1"], out=run, progress=False)
    model = gankit.load(run)
    metrics = "fid,pr,dc" + (",intra_fid,label_agreement" if model.conditional else "")
    path = RESULTS / f"dot_{args.preset}.json"
    results = json.loads(path.read_text()) if args.resume and path.is_file() else {}
    results.update(preset=args.preset, run=str(run), step=model.step, ema=model.uses_ema, n=args.n,
                   steps=args.steps, machine=cpu_model(), metrics=metrics,
                   command="python benchmarks/dot_images.py " + " ".join(sys.argv[1:]))
    rows = results.setdefault("rows", {})
    t_start = time.time()
    for seed in [int(s) for s in args.seeds.split(",")]:
        for scale in [None, *[float(s) for s in args.scales.split(",")]]:
            key = f"seed {seed}, scale {scale}"
            if key in rows:
                continue
            if (time.time() - t_start) / 60 > args.time_limit:
                print(f"{key}: skipped (time limit)", flush=True)
                continue
            rows[key] = {"seed": seed, **score_row(model, metrics, args.n, seed, scale, args.steps)}
            print(f"{key}: " + ", ".join(f"{k} {rows[key][k]:.4g}" for k in COLUMNS
                                         if isinstance(rows[key].get(k), (int, float))), flush=True)
            results["updated"] = datetime.datetime.now().isoformat(timespec="seconds")
            path.write_text(json.dumps(results, indent=1))
            write_markdown(results)
    write_markdown(results)
    return 0


def score_row(model, metrics: str, n: int, seed: int, scale, steps: int) -> dict:
    """``gankit eval``'s scores of ``n`` samples (latent ``seed``), unmoved (``scale`` None) or moved by ``steps``
    DOT steps at ``scale``; with the seconds the whole row took."""
    from gankit.metrics.evaluate import evaluate_model

    t0 = time.perf_counter()
    dot = {} if scale is None else {"dot_steps": steps, "dot_scale": scale}
    res = evaluate_model(model, metrics=metrics, n=n, seed=seed, record=False, **dot)
    return {"scale": scale, "seconds": round(time.perf_counter() - t0, 1),
            **{k: v for k, v in res.items() if k != "provenance"}}


def write_markdown(results: dict) -> None:
    cols = [c for c in COLUMNS if any(c in r for r in results["rows"].values())]
    out = [f"# Discriminator optimal transport on `{results['preset']}`", "",
           f"Run `{results['run']}` (step {results['step']}, {'EMA G' if results['ema'] else 'raw G'}, its D as "
           f"trained), trained and scored on {results['machine']}. {results['n']:,} samples per row; the same "
           f"latents (and labels) unmoved (scale off) and moved by {results['steps']} Adam steps of latent DOT at "
           "each scale (`gankit eval RUN --dot-steps N --dot-scale S`); shipped classifier features against the "
           f"test split. Command: `{results['command']}`. Updated {results.get('updated', '')}.", "",
           "| seed | scale | " + " | ".join(cols) + " | seconds |", "|---" * (len(cols) + 3) + "|"]
    for r in results["rows"].values():
        cells = [f"{r[c]:.4g}" if isinstance(r.get(c), (int, float)) else "n/a" for c in cols]
        out.append(f"| {r['seed']} | {'off' if r['scale'] is None else r['scale']:} | " + " | ".join(cells)
                   + f" | {r['seconds']:.0f} |")
    (RESULTS / f"dot_{results['preset']}.md").write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    sys.exit(main())
