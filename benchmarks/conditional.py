"""Class-conditional GANs on Fashion-MNIST (or digits): which way of using labels works best here?

Every method is a shipped preset on the same DCGAN networks, objective (non-saturating), optimizer,
batch and number of steps, trained for ``--seeds`` seeds, then scored by ``gankit.evaluate`` with the
shipped classifier's features on ``--n`` samples (classes drawn uniformly) against the test split:

- FID, precision/recall;
- intra-FID (Miyato & Koyama 2018): per-class FID, averaged (the unconditional row labels its
  samples by the classifier's argmax, and says so);
- label agreement: the shipped classifier's accuracy on G(z, y) against y (conditional rows only);
- CAS (Ravuri & Vinyals 2019): a small CNN trained from scratch on the samples' pixels and asked-for
  labels, tested on the real test split, beside ``cas_real``, the same classifier trained on as many
  real training images (the ceiling), and their ratio (conditional rows only);
- training time (wall clock of ``gankit train``, one torch thread).

A real-data row (``fashion_mnist:train`` scored as if it were a generator's samples, with its true
labels) gives the floor every model is compared with.

    .venv/bin/python benchmarks/conditional.py --jobs 2 --resume               # the table
    .venv/bin/python benchmarks/conditional.py --methods cgan,acgan --seeds 1  # a slice
    .venv/bin/python benchmarks/conditional.py --quick                         # smoke check (temp dir)

Every finished run is appended to ``conditional_runs.jsonl`` at once; ``--resume`` reuses runs whose
configuration and scoring settings are unchanged. Runs are scheduled seed by seed, so a
``--time-limit`` leaves every method with about as many seeds; the table says how many each has.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model  # noqa: E402
from modes import read_runs  # noqa: E402  (the JSONL reader the benchmarks share)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
# method -> (preset, what it is)
METHODS = {
    "unconditional": ("fashion-dcgan", "DCGAN without labels"),
    "cgan": ("fashion-cgan", "G concat, D concat (Mirza & Osindero 2014)"),
    "acgan": ("fashion-acgan", "G concat, D + classifier on real and fake (Odena et al. 2017)"),
    "acgan-real": ("fashion-acgan-real", "G concat, D + classifier on real only (StudioGAN's variant)"),
    "projection": ("fashion-projection", "G concat, projection D (Miyato & Koyama 2018)"),
    "cbn-projection": ("fashion-cbn-projection", "G conditional BatchNorm, projection D"),
    "cbn-projection-ac": ("fashion-cbn-projection-ac", "G conditional BatchNorm, projection D + class term on real"),
    "projection-ac": ("fashion-projection-ac", "G concat, projection D + class term (weight 3) on real; fast path, "
                      "10000 steps"),
}
# one-seed variants of the best preset that chose it: method -> (preset, what changes, overrides)
VARIANTS = {
    "projection-ac-w1": ("fashion-projection-ac", "class term at weight 1",
                         ["objective.terms={ac: {weight: 1.0, d_fake: false}}"]),
    "projection-ac-w1-decay": ("fashion-projection-ac", "class term at weight 1, linear lr decay over the second half",
                               ["objective.terms={ac: {weight: 1.0, d_fake: false}}", "train.lr_decay=linear",
                                "train.lr_decay_start=0.5"]),
    "projection-ac-w2": ("fashion-projection-ac", "class term at weight 2",
                         ["objective.terms={ac: {weight: 2.0, d_fake: false}}"]),
}
DIGITS = {"unconditional": "digits", "cgan": "digits-cgan"}
METRICS = "fid,pr,intra_fid,label_agreement,cas"
PUBLISHED = [
    "CIFAR-10, SNDCGAN backbone (StudioGAN / ContraGAN Table 1): projection FID 19.5 vs ACGAN 21.4 (lower is better).",
    "ImageNet 128x128 (Ravuri & Vinyals 2019): CAS of real data 73.1% vs BigGAN-deep 42.7%, a ratio of 0.58.",
]


def task_config(method: str, dataset: str, steps: Optional[int]) -> tuple[str, list[str]]:
    """(preset, overrides) of one method: the conditional presets as shipped; the unconditional row
    gets the conditional presets' steps and EMA schedule, so that all rows train alike."""
    from gankit.config import load_config

    if dataset == "digits":
        preset = DIGITS[method]
        over: list[str] = []
    else:
        preset = (METHODS.get(method) or VARIANTS[method])[0]
        over = list(VARIANTS[method][2]) if method in VARIANTS else []
        if method == "unconditional":
            ref = load_config(METHODS["cgan"][0])
            over = [f"train.steps={ref.train.steps}", f"train.ema_start={ref.train.ema_start}",
                    f"train.ema_rampup={ref.train.ema_rampup:g}"]
    if steps is not None:
        over.append(f"train.steps={steps}")
    return preset, over + ["train.threads=1"]


def run_one(task: dict) -> dict:
    """Train one run, score it, return the record (runs in a worker process)."""
    import torch

    import gankit
    from gankit.config import load_config
    from gankit.errors import GankitError

    torch.set_num_threads(1)
    out = Path(task["workdir"]) / f"{task['dataset']}-{task['method']}-s{task['seed']}"
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    gankit.train(task["preset"], task["overrides"], out=out, seed=task["seed"], progress=False)
    train_s = time.perf_counter() - t0
    cfg = load_config(task["preset"], task["overrides"])
    conditional = cfg.conditional
    metrics = METRICS if conditional else "fid,pr"
    t1 = time.perf_counter()
    scores = gankit.evaluate(out, metrics=metrics, n=task["n"], seed=task["seed"], record=True, progress=False,
                             cas_epochs=task["cas_epochs"])
    if not conditional:  # intra-FID by the classifier's argmax fails when G never makes a class: say so
        try:
            scores["intra_fid"] = gankit.evaluate(out, metrics="intra_fid", n=task["n"], seed=task["seed"],
                                                  record=False, progress=False)["intra_fid"]
        except GankitError as exc:
            scores["intra_fid"] = None
            scores["provenance"]["intra_fid_error"] = str(exc)
    grid = None
    if conditional:
        model = gankit.load(out)
        grid = str(model.save_samples(out / "per_class.png", 0, seed=0, per_class=10))
    return {"method": task["method"], "dataset": task["dataset"], "seed": task["seed"], "preset": task["preset"],
            "overrides": task["overrides"], "config": cfg.to_dict(), "n": task["n"], "cas_epochs": task["cas_epochs"],
            "train_seconds": round(train_s, 1), "score_seconds": round(time.perf_counter() - t1, 1),
            "scores": {k: v for k, v in scores.items() if k != "provenance"},
            "provenance": scores["provenance"], "run": str(out), "grid": grid,
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def real_floor(dataset: str, n: int, cas_epochs: int) -> dict:
    """The training split scored as a generator's labelled samples: the floor of FID, the ceiling of the rest."""
    import gankit

    name = "fashion_mnist" if dataset == "fashion" else "digits"
    scores = gankit.evaluate(real=f"{name}:test", fake=f"{name}:train", metrics=METRICS, n=n, progress=False,
                             cas_epochs=cas_epochs)
    return {k: v for k, v in scores.items() if k != "provenance"}


def _mean_se(values: list) -> tuple[Optional[float], Optional[float]]:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return None, None
    mean = sum(vals) / len(vals)
    if len(vals) < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)
    return mean, math.sqrt(var / len(vals))


def _fmt(mean: Optional[float], se: Optional[float], digits: int, pct: bool = False) -> str:
    if mean is None:
        return "n/a"
    scale = 100.0 if pct else 1.0
    text = f"{mean * scale:.{digits}f}"
    return text + (f" ± {se * scale:.{digits}f}" if se is not None else "")


COLUMNS = [("fid", "FID", 2, False), ("intra_fid", "intra-FID", 2, False), ("label_agreement", "label agreement %", 1, True),
           ("cas", "CAS %", 1, True), ("cas_real", "CAS ceiling %", 1, True), ("cas_ratio", "CAS / ceiling", 3, False),
           ("precision", "precision", 3, False), ("recall", "recall", 3, False)]


def write_markdown(path: Path, records: list[dict], floor: Optional[dict], meta: dict, methods: list[str],
                   wanted_seeds: int) -> None:
    lines = [f"# Class-conditional GANs on {meta['dataset_name']} (benchmarks/conditional.py)", "",
             f"Command: `{meta['command']}`", "",
             f"Machine: {meta['cpu']}, {os.cpu_count()} cores shared with other jobs; one torch thread per run, "
             f"{meta['jobs']} runs at a time; torch {meta['torch']}; finished {meta['date']}.", "",
             f"Every row, unless listed below: {meta['recipe']}; scored on "
             f"{meta['n']} samples (classes uniform) against the {meta['n_real']} test images with the shipped classifier's "
             f"features (weights sha256 {meta['sha'][:12]}). Mean ± standard error over seeds.", ""]
    others = [f"- `{m}`: {r}" for m, r in meta.get("recipes", {}).items() if r != meta["recipe"]]
    if others:
        lines += ["Rows with another recipe:"] + others + [""]
    described = [f"- `{m}`: {(METHODS.get(m) or VARIANTS.get(m))[1]}" for m in methods if m in METHODS or m in VARIANTS]
    lines += ["Methods:"] + described + ["- The `projection-ac-*` rows are one-seed variants of `projection-ac` "
                                         "(the sweep that chose its class-term weight 3)."] + [""]
    if meta.get("partial"):
        lines += [f"**Partial**: not every method has its {wanted_seeds} seeds yet (column 'seeds'); "
                  f"`--resume` completes the table.", ""]
    header = "| method | preset | seeds | " + " | ".join(c[1] for c in COLUMNS) + " | train min |"
    lines += [header, "|" + "---|" * (len(COLUMNS) + 4)]
    for m in methods:
        rows = [r for r in records if r["method"] == m]
        if not rows:
            lines.append(f"| {m} | `{rows and rows[0]['preset'] or METHODS.get(m, (m,))[0]}` | 0 |" + " |" * (len(COLUMNS) + 1))
            continue
        cells = []
        for key, _, digits, pct in COLUMNS:
            cells.append(_fmt(*_mean_se([r["scores"].get(key) for r in rows]), digits, pct))
        t_mean, _ = _mean_se([r["train_seconds"] / 60 for r in rows])
        lines.append(f"| {m} | `{rows[0]['preset']}` | {len(rows)} | " + " | ".join(cells) + f" | {t_mean:.1f} |")
    if floor:
        cells = [_fmt(floor.get(k), None, d, p) for k, _, d, p in COLUMNS]
        lines.append("| *real data* (train split as the fakes, true labels) | - | - | " + " | ".join(cells) + " | - |")
    lines += [""]
    summary = {}
    for m in methods:
        rows = [r for r in records if r["method"] == m and r["scores"].get("label_agreement") is not None]
        if rows:
            summary[m] = {k: _mean_se([r["scores"].get(k) for r in rows])[0] for k in ("label_agreement", "cas_ratio", "fid")}
            summary[m]["t_max"] = max(r["train_seconds"] for r in rows) / 60
    if summary:
        by = {k: max(summary, key=lambda m: summary[m][k]) for k in ("label_agreement", "cas_ratio")}
        by["fid"] = min(summary, key=lambda m: summary[m]["fid"])
        hits = [m for m, v in summary.items() if v["label_agreement"] >= 0.97 and v["cas_ratio"] >= 0.93
                and v["t_max"] <= 15]
        lines += ["**Target** (one preset with label agreement >= 97% and CAS >= 0.93 x its ceiling, training in <= 15 "
                  f"min here): **{'met by ' + ', '.join(hits) if hits else 'missed'}**. Closest on each criterion: "
                  f"label agreement `{by['label_agreement']}` ({summary[by['label_agreement']]['label_agreement'] * 100:.1f}%), "
                  f"CAS ratio `{by['cas_ratio']}` ({summary[by['cas_ratio']]['cas_ratio']:.3f}), FID `{by['fid']}` "
                  f"({summary[by['fid']]['fid']:.2f}); longest training of any conditional run "
                  f"{max(v['t_max'] for v in summary.values()):.1f} min (two runs at a time on the 2 shared cores).", ""]
    errors = [f"{r['method']} seed {r['seed']}: {r['provenance']['intra_fid_error']}" for r in records
              if r.get("provenance", {}).get("intra_fid_error")]
    lines += ["How to read it: label agreement and CAS need the labels G was asked for, so the unconditional row "
              "has none (n/a); its intra-FID labels its samples by the classifier's argmax (n/a where G never "
              f"made some class). The real-data row scores {meta['n']} training images (their true labels) against "
              "the test split: FID's floor, the other columns' ceiling (its 'CAS' is a second draw of the ceiling)."]
    lines += [f"- intra-FID not computed for {e}" for e in errors] + ["",
              "Published orderings to compare with (other data, other networks):"] + [f"- {p}" for p in PUBLISHED]
    grids = [(m, r["grid_rel"]) for m in methods for r in records if r["method"] == m and r.get("grid_rel")
             and r["seed"] == min(x["seed"] for x in records if x["method"] == m)]
    if grids:
        lines += ["", "## Per-class samples (lowest seed of each method; one row per class)", ""]
        for m, rel in grids:
            lines += [f"**{m}**", "", f"![{m}]({rel})", ""]
    path.write_text("\n".join(lines) + "\n")


def describe_recipe(cfg: dict) -> str:
    m, t, d = cfg["model"], cfg["train"], cfg["data"]
    g = t["g_optim"]
    fast = [w for w, on in ((f"{t.get('precision', 'fp32')} autocast", t.get("precision", "fp32") != "fp32"),
                            ("channels_last", t.get("channels_last")),
                            (f"{t.get('optim_impl')} Adam", t.get("optim_impl", "default") != "default"),
                            (f"lr decayed linearly from {t.get('lr_decay_start', 0):g} of the steps",
                             t.get("lr_decay", "none") != "none")) if on]
    return (f"{m['arch']} networks (z {m['z_dim']}, G width {m['g_width']}, D width {m['d_width']}), "
            f"{cfg['objective']['name']} loss, {g['name']} {g['lr']:g} betas {tuple(g['betas'])}, batch {d['batch_size']}, "
            f"{t['steps']} steps, EMA {t['ema']:g} from step {t['ema_start']} (the EMA generator is scored)"
            + (", " + ", ".join(fast) if fast else ""))


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", default=",".join([*METHODS, *VARIANTS]),
                   help="comma list of " + ", ".join([*METHODS, *VARIANTS]) + " (the variants run one seed)")
    p.add_argument("--dataset", default="fashion", choices=("fashion", "digits"))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, help="override every preset's train.steps")
    p.add_argument("--n", type=int, default=10000, help="samples scored per run")
    p.add_argument("--cas-epochs", type=int, default=6)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--time-limit", type=float, help="minutes after which no new run starts")
    p.add_argument("--resume", action="store_true", help="reuse finished runs recorded in the output folder")
    p.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "gankit-conditional",
                   help="where run folders go (not committed)")
    p.add_argument("--quick", action="store_true", help="smoke check: digits, tiny runs, a temp output folder")
    args = p.parse_args(argv)
    if args.quick:
        args.dataset, args.seeds, args.steps, args.n, args.cas_epochs = "digits", 1, 20, 200, 1
        args.out = Path(tempfile.mkdtemp(prefix="conditional-quick-"))
        args.methods = "unconditional,cgan"
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    table = {**METHODS, **VARIANTS} if args.dataset == "fashion" else DIGITS
    for m in methods:
        if m not in table:
            p.error(f"unknown method {m!r} for {args.dataset}; valid: {', '.join(table)}")
    args.out.mkdir(parents=True, exist_ok=True)
    args.workdir.mkdir(parents=True, exist_ok=True)
    stem = "conditional" if args.dataset == "fashion" else "conditional_digits"
    log_path = args.out / f"{stem}_runs.jsonl"
    grid_dir = args.out / stem
    tasks = []
    for seed in range(args.seeds):  # seed-major: a time limit leaves every method with about as many seeds
        for m in methods:
            if m in VARIANTS and seed > 0:
                continue
            preset, over = task_config(m, args.dataset, args.steps)
            tasks.append({"method": m, "dataset": args.dataset, "seed": seed, "preset": preset, "overrides": over,
                          "n": args.n, "cas_epochs": args.cas_epochs, "workdir": str(args.workdir)})
    from gankit.config import load_config, stored_config

    def signature(config: dict, seed: int, n: int, cas_epochs: int) -> str:
        # what changes a trained model: neither the name, the description, scoring during training (it
        # never touches the training RNG) nor the thread count (the runs force one thread)
        full = {k: v for k, v in stored_config(config).to_dict().items() if k not in ("name", "description", "eval")}
        full["train"] = {k: v for k, v in full["train"].items() if k != "threads"}
        return json.dumps([full, seed, n, cas_epochs], sort_keys=True)

    done = {}
    if args.resume:
        for rec in read_runs(log_path):
            done[signature(rec["config"], rec["seed"], rec["n"], rec["cas_epochs"])] = rec
    records, todo = [], []
    for t in tasks:
        rec = done.get(signature(load_config(t["preset"], t["overrides"]).to_dict(), t["seed"], t["n"], t["cas_epochs"]))
        (records.append(rec) if rec else todo.append(t))
    print(f"{len(records)} runs reused, {len(todo)} to run", file=sys.stderr)
    t_start = time.perf_counter()
    stopped = False
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        pending = {}
        queue = list(todo)
        while queue or pending:
            while queue and len(pending) < args.jobs:
                if args.time_limit and (time.perf_counter() - t_start) / 60 > args.time_limit:
                    stopped = True
                    queue = []
                    break
                t = queue.pop(0)
                pending[pool.submit(run_one, t)] = t
            if not pending:
                break
            from concurrent.futures import FIRST_COMPLETED, wait

            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in finished:
                t = pending.pop(fut)
                try:
                    rec = fut.result()
                except Exception as exc:  # one failing run must not lose the others
                    print(f"run {t['method']} seed {t['seed']} failed: {exc!r}", file=sys.stderr)
                    continue
                if rec.get("grid"):
                    grid_dir.mkdir(parents=True, exist_ok=True)
                    dest = grid_dir / f"{rec['method']}_s{rec['seed']}.png"
                    shutil.copyfile(rec["grid"], dest)
                    rec["grid_rel"] = f"{stem}/{dest.name}"
                with open(log_path, "a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                records.append(rec)
                s = rec["scores"]
                print(f"[{(time.perf_counter() - t_start) / 60:.1f} min] {rec['method']} seed {rec['seed']}: "
                      f"FID {s.get('fid'):.2f} agreement {s.get('label_agreement')} CAS {s.get('cas')} "
                      f"ratio {s.get('cas_ratio')} ({rec['train_seconds']:.0f} s train)", file=sys.stderr)
    floor_path = args.out / f"{stem}_real.json"
    floor = None
    floor_key = {"n": args.n, "cas_epochs": args.cas_epochs}
    if floor_path.is_file():
        saved = json.loads(floor_path.read_text())
        floor = saved["scores"] if saved.get("key") == floor_key else None
    if floor is None and not stopped:
        floor = real_floor(args.dataset, args.n, args.cas_epochs)
        floor_path.write_text(json.dumps({"key": floor_key, "scores": floor}, indent=1) + "\n")
    import torch

    any_rec = records[0] if records else None
    partial = stopped or any(sum(r["method"] == m for r in records) < (1 if m in VARIANTS else args.seeds)
                             for m in methods)
    ref = next((r for r in records if r["method"] == "cgan"), any_rec)
    recipes = {}
    for m in methods:
        first = next((r for r in records if r["method"] == m), None)
        if first:
            recipes[m] = describe_recipe(first["config"])
    meta = {"command": "python benchmarks/conditional.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "cpu": cpu_model(), "jobs": args.jobs, "torch": torch.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
            "steps": any_rec["config"]["train"]["steps"] if any_rec else args.steps,
            "n": args.n, "n_real": any_rec["provenance"]["n_real"] if any_rec else "?",
            "sha": (any_rec["provenance"].get("weights_sha256") or "") if any_rec else "",
            "dataset_name": "Fashion-MNIST" if args.dataset == "fashion" else "the 8x8 digits", "partial": partial,
            "recipe": describe_recipe(ref["config"]) if ref else "(no runs yet)", "recipes": recipes}
    write_markdown(args.out / f"{stem}.md", records, floor, meta, methods, args.seeds)
    print(f"wrote {args.out / (stem + '.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
