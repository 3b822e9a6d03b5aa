"""Quality for a CPU budget per architecture (issue 10): every architecture preset on Fashion-MNIST for
the same wall-clock training budget, scored as ``benchmarks/time_to_quality.py`` scores (10,000 samples
of the EMA generator against the 10,000 test images, features of the shipped Fashion-MNIST classifier:
FID, precision/recall k=3, density/coverage k=5), with sample grids; the StyleGAN run also gets its
truncation and style-mixing figures.

Each architecture trains in gankit's own loop (``Trainer.fit``, no run folder) from its preset,
``fashion-dcgan`` (today's baseline) included; the generator is copied when the training clock passes
each budget (default 20 and 40 minutes) and scored afterwards, outside the clock. Results accumulate in
``benchmarks/results/architectures{tag}.json``: ``--resume`` keeps the architectures already there and
runs the others; ``--time-limit`` (minutes of wall time for this invocation) starts an architecture only
when its budget plus scoring fits, and the report marks what is missing as partial. Usage::

    nice .venv/bin/python benchmarks/architectures.py --threads 1 --resume     # the protocol: 20,40 min x 8
    nice .venv/bin/python benchmarks/architectures.py --threads 1 --time-limit 60 --resume  # what fits in an hour
    # the other core at the same time, then fold its presets in:
    nice .venv/bin/python benchmarks/architectures.py --threads 1 --presets fashion-resnet --out /tmp/a2
    nice .venv/bin/python benchmarks/architectures.py --merge /tmp/a2
    nice .venv/bin/python benchmarks/architectures.py --minutes 0.2 --n 500    # a check; writes *_check.*
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import platform
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from machine import cpu_model  # noqa: E402
from time_to_quality import KEYS, METRICS, BudgetClock, TimedTrainer, _features_words, run_budgeted, _fmt_min  # noqa: E402

import gankit  # noqa: E402
from gankit.config import load_config  # noqa: E402
from gankit.data import load_dataset  # noqa: E402
from gankit.errors import GankitError  # noqa: E402
from gankit.metrics.evaluate import SampleSet, score  # noqa: E402
from gankit.nets import build_nets  # noqa: E402
from gankit.report.grid import save_grid  # noqa: E402
from gankit.training.loop import Trainer  # noqa: E402

PROTOCOL_MINUTES = (20.0, 40.0)
PRESETS = ("fashion-dcgan-fast", "fashion-projection-ac", "fashion-stylegan", "fashion-resnet", "fashion-biggan",
           "fashion-sagan", "fashion-progan", "fashion-dcgan")  # the order the protocol ran them in
SCORE_ALLOWANCE_S = 120  # a rough upper bound of one scoring (10,000 samples) per budget, for --time-limit


def train(cfg, minutes: list[float]) -> tuple[list[dict], Trainer]:
    clock = BudgetClock(minutes)
    trainer = TimedTrainer(cfg, clock)
    run_budgeted(trainer, clock)
    return clock.snapshots, trainer


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


@torch.no_grad()
def generate(G, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` uint8 images [n, C, H, W] (eval mode, latents and labels from ``seed``) and their labels."""
    G.eval()
    gen = torch.Generator().manual_seed(seed)
    z = G.sample_z(n, gen)
    y = G.sample_y(n, gen)
    parts = [G(z[i:i + 500], y[i:i + 500] if y is not None else None) for i in range(0, n, 500)]
    return _to_uint8(torch.cat(parts)), y


def style_figures(G, folder: Path, slug: str, seed: int) -> dict:
    """The StyleGAN run's truncation rows and style-mixing grid (gankit.explore.style, as in its report)."""
    from gankit.explore.style import PSI, psi_rows, style_mixing

    G.eval()
    rows, _ = psi_rows(G, seed)
    trunc = folder / f"{slug}_truncation.png"
    save_grid(_to_uint8(rows).numpy(), trunc, nrow=len(rows) // len(PSI))
    mixed, cutoff = style_mixing(G, seed)
    mixing = folder / f"{slug}_style_mixing.png"
    save_grid(_to_uint8(mixed).numpy(), mixing, nrow=6)
    return {"truncation": f"{folder.name}/{trunc.name}", "style_mixing": f"{folder.name}/{mixing.name}",
            "psi": list(PSI), "mixing_cutoff": cutoff, "num_ws": G.num_ws}


def data_overrides(args) -> list[str]:
    """``--dataset digits`` trains the Fashion presets on the 8x8 digits (a quick check of the protocol)."""
    out = [] if args.dataset == "fashion_mnist" else [f"data.name={args.dataset}"]
    return out + ([f"data.path={args.data_path}"] if args.data_path else [])


def run_preset(preset: str, args, minutes: list[float], real: SampleSet, grids: Path, tag: str) -> dict:
    overrides = [f"train.threads={args.threads}", "train.device=cpu", f"train.seed={args.seed}", "eval.final=false"]
    overrides += data_overrides(args)
    cfg = load_config(preset, overrides)
    print(f"training {preset} for {minutes[-1]:g} min ...", flush=True)
    snaps, trainer = train(copy.deepcopy(cfg), minutes)
    out = {"preset": preset, "arch": cfg.model.arch, "objective": cfg.objective.name,
           "params_g": sum(p.numel() for p in trainer.G.parameters()),
           "params_d": sum(p.numel() for p in trainer.D.parameters()), "rows": []}
    slug = preset.replace("fashion-", "")
    for s in snaps:
        G, _ = build_nets(cfg.model, trainer.spec)
        G.load_state_dict(s["weights"]["ema"])
        x, _ = generate(G, args.n, args.seed)
        fake = SampleSet(x=x, kind="image", name="model", source=preset)
        result = score(real, fake, metrics=METRICS, features=args.features, seed=args.seed, progress=False)
        grid = grids / f"{slug}_{_fmt_min(s['budget_s'] / 60)}min{tag}.png"
        save_grid(x[:64].numpy(), grid, nrow=8)
        row = {"budget_s": s["budget_s"], "elapsed_s": s["elapsed_s"], "steps": s["steps"],
               **{k: result.get(k) for k in KEYS}, "grid": f"{grids.name}/{grid.name}",
               "provenance": result["provenance"]}
        out["rows"].append(row)
        print(f"{preset:<18} {s['budget_s'] / 60:5.1f} min  step {s['steps']:>6}  FID {row['fid']:.3f}  "
              f"P {row['precision']:.3f}  R {row['recall']:.3f}  D {row['density']:.3f}  C {row['coverage']:.3f}",
              flush=True)
        if cfg.model.arch == "stylegan" and s is snaps[-1]:
            out["figures"] = style_figures(G, grids, f"{slug}{tag}", args.seed)
    return out


def write_markdown(path: Path, results: dict, meta: dict) -> None:
    done = [results[p] for p in meta["presets"] if p in results]
    cannot = meta.get("cannot_run", {})
    missing = [p for p in meta["presets"] if p not in results and p not in cannot]
    lines = ["# Architectures for a CPU budget (issue 10)", ""]
    if meta.get("check"):
        lines += [f"**A check run (budgets {meta['minutes']} min, {meta['n']:,} samples, data {meta['dataset']}"
                  + (f", data from `{meta['data_path']}`" if meta.get("data_path") else "")
                  + "), not the protocol (Fashion-MNIST, 20 and 40 minutes, 10,000 samples).**", ""]
    for preset, why in cannot.items():
        lines += [f"`{preset}` cannot run here: {why}", ""]
    if missing:
        lines += [f"**Partial: not run yet: {', '.join(missing)}** (rerun with `--resume`).", ""]
    lines += [
        f"Each architecture's preset on {meta['dataset']}, trained by gankit's loop for the same wall-clock budget, "
        f"{meta['threads']} torch thread(s), CPU: {meta['cpu']}; {meta['date']}. The EMA generator is copied when "
        f"the training clock passes each budget and scored afterwards: {meta['n']:,} samples (seed {meta['seed']}) "
        f"against the test images, {meta.get('features_words', meta['features'])}; FID (lower is better), "
        "precision/recall k=3, density/coverage k=5.",
        "",
        "| preset | arch | objective | G / D params | budget (min) | steps | FID | precision | recall | density | coverage | samples |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in done:
        for row in r["rows"]:
            lines.append(f"| {r['preset']} | {r['arch']} | {r['objective']} | {r['params_g']:,} / {r['params_d']:,} | "
                         f"{row['budget_s'] / 60:g} | {row['steps']} | {row['fid']:.3f} | {row['precision']:.3f} | "
                         f"{row['recall']:.3f} | {row['density']:.3f} | {row['coverage']:.3f} | [grid]({row['grid']}) |")
    for r in done:
        if "figures" in r:
            f = r["figures"]
            lines += ["", f"StyleGAN truncation (rows psi = {', '.join(map(str, f['psi']))}) and style mixing "
                      f"(row i: styles 0..{f['mixing_cutoff'] - 1} of latent A_i, the rest of latent B_j in column j):",
                      "", f"![truncation]({f['truncation']}) ![style mixing]({f['style_mixing']})"]
    machines: dict = {}
    for r in done:
        machines.setdefault(r.get("cpu") or meta["cpu"], []).append(r["preset"])
    if len(machines) > 1:  # merged invocations ran on different machines of the same size
        lines += ["", "Trained on: " + "; ".join(f"{', '.join(f'`{p}`' for p in ps)} on {cpu}"
                                                for cpu, ps in machines.items()) +
                  " (machines of the same size, 2 cores, one core per run; the steps column shows each one's speed)."]
    lines += ["", f"Reproduce: `{meta['command']}`."]
    for command in meta.get("merged", []):
        lines += [f"Also, at the same time on the other core (its results merged in with `--merge`): `{command}`."]
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", default="20,40", help="training budgets in minutes (default 20,40)")
    ap.add_argument("--presets", default=",".join(PRESETS), help=f"presets to run (default {','.join(PRESETS)})")
    ap.add_argument("--n", type=int, default=10_000, help="samples per score (default 10000)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2, as time_to_quality.py: the protocol's 2 cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--features", default="classifier", help="feature extractor (default: the shipped classifier)")
    ap.add_argument("--dataset", default="fashion_mnist", choices=("fashion_mnist", "digits"),
                    help="fashion_mnist (the protocol) or digits (the presets' settings on 8x8 digits: a quick check)")
    ap.add_argument("--data-path", default=None, help="folder of the Fashion-MNIST IDX files (default: the usual places)")
    ap.add_argument("--out", default=str(HERE / "results"), help="results folder")
    ap.add_argument("--resume", action="store_true", help="keep the presets already in the results file")
    ap.add_argument("--time-limit", type=float, default=0.0,
                    help="minutes of wall time for this invocation (0 = none): a preset starts only if it fits")
    ap.add_argument("--merge", metavar="DIR", help="only add the presets of DIR's results file (a second invocation "
                    "run with --out DIR at the same time, e.g. on the other core) to --out's, and rewrite its table")
    args = ap.parse_args()
    if args.merge:
        return merge(Path(args.merge), Path(args.out))
    t_start = time.perf_counter()
    minutes = sorted(float(m) for m in args.minutes.split(","))
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    torch.set_num_threads(args.threads)
    check = (tuple(minutes) != PROTOCOL_MINUTES or args.n != 10_000 or args.features != "classifier"
             or bool(args.data_path) or args.dataset != "fashion_mnist")
    tag = ("_" + args.dataset if args.dataset != "fashion_mnist" else "") + ("_check" if check else "")
    out = Path(args.out)
    grids = out / "architectures"
    grids.mkdir(parents=True, exist_ok=True)
    results_file = out / f"architectures{tag}.json"
    saved = json.loads(results_file.read_text()) if args.resume and results_file.exists() else {"results": {}}
    results: dict = saved["results"]
    if args.resume and saved.get("meta", {}).get("minutes") not in (None, minutes):
        raise SystemExit(f"{results_file} holds budgets {saved['meta']['minutes']}, not {minutes}; drop --resume")

    test = load_dataset(load_config("fashion-dcgan", data_overrides(args)).data, "test")
    real = SampleSet(x=test.x, kind="image", name=test.name, source=test.source, split="test", y=test.y,
                     num_classes=test.num_classes)
    meta = {"minutes": minutes, "check": check, "n": args.n, "seed": args.seed, "threads": args.threads,
            "features": args.features, "data_path": args.data_path, "dataset": args.dataset, "presets": presets, "cpu": cpu_model(),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(),
            "torch": torch.__version__, "gankit": gankit.__version__,
            "command": "nice .venv/bin/python benchmarks/architectures.py " + " ".join(sys.argv[1:])}
    for preset in presets:
        if preset in results:
            print(f"{preset}: kept from {results_file.name}", flush=True)
            continue
        need = minutes[-1] * 60 + SCORE_ALLOWANCE_S * len(minutes) * args.n / 10_000
        used = time.perf_counter() - t_start
        if args.time_limit and used + need > args.time_limit * 60:
            print(f"{preset}: skipped, {need / 60:.1f} min needed and {args.time_limit - used / 60:.1f} left "
                  f"(--time-limit); rerun with --resume", flush=True)
            continue
        try:
            results[preset] = run_preset(preset, args, minutes, real, grids, tag)
        except GankitError as exc:  # e.g. sagan on 8x8 digits: no side for attention
            print(f"{preset}: cannot run: {exc}", flush=True)
            meta.setdefault("cannot_run", {})[preset] = str(exc)
            continue
        first = results[preset]["rows"][0]["provenance"]
        meta["features_words"] = _features_words({**first, "classifier_accuracy": first.get("classifier_test_accuracy")})
        results_file.write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
        write_markdown(out / f"architectures{tag}.md", results, meta)
    results_file.write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    write_markdown(out / f"architectures{tag}.md", results, meta)
    print(f"wrote {out / f'architectures{tag}.md'}")
    return 0


def merge(other: Path, out: Path) -> int:
    """Fold the presets of ``other``/architectures.json into ``out``'s (same budgets and protocol)."""
    mine_file, theirs_file = out / "architectures.json", other / "architectures.json"
    mine, theirs = json.loads(mine_file.read_text()), json.loads(theirs_file.read_text())
    for key in ("minutes", "check", "n", "seed", "features", "dataset"):
        if mine["meta"].get(key) != theirs["meta"].get(key):
            raise SystemExit(f"{theirs_file} has {key} = {theirs['meta'].get(key)!r}, {mine_file} "
                             f"{mine['meta'].get(key)!r}: not the same protocol, not merged")
    for preset, result in theirs["results"].items():
        for row in result["rows"]:  # the grids move next to this results file
            src = other / row["grid"]
            if src.exists():
                (out / row["grid"]).write_bytes(src.read_bytes())
        for key in ("truncation", "style_mixing"):
            if key in result.get("figures", {}):
                (out / result["figures"][key]).write_bytes((other / result["figures"][key]).read_bytes())
        result.setdefault("cpu", theirs["meta"].get("cpu"))  # the machine it trained on, kept per preset
        mine["results"][preset] = result
    meta = mine["meta"]
    meta["presets"] = meta["presets"] + [p for p in theirs["meta"]["presets"] if p not in meta["presets"]]
    meta.setdefault("merged", []).append(theirs["meta"]["command"].replace(f"--out {other}", "").strip())
    mine_file.write_text(json.dumps(mine, indent=1) + "\n")
    write_markdown(out / "architectures.md", mine["results"], meta)
    print(f"merged {', '.join(theirs['results'])} into {mine_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
