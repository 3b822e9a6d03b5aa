"""The ablation of docs/tricks.md: each training trick alone on one plain recipe, against that recipe
without it.

(a) ``grid``: the 25-mode grid of the mode-coverage protocol (docs/benchmarks.md section 1; the
    machinery of ``benchmarks/modes.py``): preset ``grid`` (NS, the MLP of ``benchmarks/modes.py``), 10
    seeds. Each run is scored on ``--sample-seeds`` latent seeds (2,500 samples each) and the table
    reports the WORST of them (a coverage claim must hold for any sampling seed).
(b) ``fashion``: Fashion-MNIST DCGAN (preset ``fashion-dcgan``) at a fixed step count (``--fashion-steps``),
    3 seeds, FID and precision/recall with the shipped Fashion-MNIST classifier's features
    (``gankit.evaluate``, its default for this data).

Each cell: mean and standard error over seeds, and the cost in milliseconds per generator step.

    .venv/bin/python benchmarks/tricks.py --suite grid --jobs 2 --time-limit 9
    .venv/bin/python benchmarks/tricks.py --suite grid --jobs 2 --resume      # go on where it stopped
    .venv/bin/python benchmarks/tricks.py --suite fashion --seeds 3 --tricks none,label_smoothing

Finished runs are appended to ``results/tricks_runs.jsonl`` at once; ``--resume`` reuses those whose
configuration is unchanged. ``--time-limit`` (minutes) stops starting new runs; the table then says how
many seeds each cell has, and is marked PARTIAL while any cell has fewer than asked for.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from machine import cpu_model  # noqa: E402
from modes import canonical_config, read_runs  # noqa: E402
from pool import run_in_pool  # noqa: E402

RESULTS = HERE / "results"
N_SAMPLES = 2500

#: trick -> overrides on top of the plain recipe ("none" is the recipe itself). DiffAugment is for images.
TRICKS: dict[str, list[str]] = {
    "none": [],
    "label_smoothing": ["objective.terms={label_smoothing: {real: 0.9}}"],
    "noisy_labels": ["objective.terms={noisy_labels: {flip: 0.05}}"],
    "instance_noise": ["objective.terms={instance_noise: {std: 0.1, steps: STEPS_HALF}}"],
    "feature_matching": ["objective.terms={feature_matching: {weight: 1.0}}"],
    "minibatch": ["model.d_minibatch=16", "model.d_minibatch_dim=5"],
    "historical": ["objective.terms={historical: {weight: 0.001}}"],
    "vbn": ["model.g_norm=vbn", "model.vbn_ref=64"],
    "image_pool": ["objective.terms={image_pool: {size: 50, p: 0.5}}"],
    "diffaugment": ["objective.terms={diffaugment: {}}"],
}
SUITES = {"grid": {"preset": "grid", "seeds": 10, "skip": {"diffaugment"}},
          "fashion": {"preset": "fashion-dcgan", "seeds": 3, "skip": set()}}


def task_config(suite: str, trick: str, steps: Optional[int], device: str = "cpu") -> dict:
    from gankit.config import load_config, preset_dict

    preset = SUITES[suite]["preset"]
    total = steps or int(preset_dict(preset).get("train", {}).get("steps", 2000))
    over = [o.replace("STEPS_HALF", str(max(total // 2, 1))) for o in TRICKS[trick]]
    base = ["train.threads=1", f"train.steps={total}", "eval.final=false", "eval.every=0",
            "train.log_every=1000000"] + ([f"train.device={device}"] if device != "cpu" else [])
    if suite == "fashion":
        base += ["train.ema=0"]  # one trick at a time: the plain recipe's G, no EMA
    return load_config(preset, base + over).to_dict()


def mean_se(values: list) -> tuple[Optional[float], Optional[float]]:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))


def run_one(task: dict) -> dict:
    """Train one (suite, trick, seed) and score it (in a worker process)."""
    import tempfile

    import torch

    import gankit
    from gankit.config import load_config
    from gankit.errors import GankitError
    from gankit.training.loop import Trainer

    torch.set_num_threads(1)
    cfg = load_config(task["config"], [f"train.seed={task['seed']}"])
    record = {k: task[k] for k in ("suite", "trick", "seed", "command")}
    record["config"] = task["config"]
    record["device"] = describe_device(cfg.train.device)
    t0 = time.perf_counter()
    try:
        if task["suite"] == "grid":
            from gankit.metrics.modes import worst_over_seeds

            trainer = Trainer(cfg, run=None, progress=False)
            t_fit = time.perf_counter()
            trainer.fit()
            record["ms_per_step"] = 1000 * (time.perf_counter() - t_fit) / max(cfg.train.steps, 1)
            G = trainer.G_show
            G.eval()
            worst = worst_over_seeds(lambda n, g: G(G.sample_z(n, g)).double().cpu(), trainer.data,
                                     task["sample_seeds"], N_SAMPLES)
            record.update({k: worst[k] for k in ("per_sample_seed", "modes", "high_quality", "kl")})
            record["n_modes"] = len(trainer.data.modes)
        else:
            out = Path(tempfile.mkdtemp(prefix="tricks-")) / "run"
            gankit.train(cfg, [], out=out, progress=False)
            record["ms_per_step"] = 1000 * (time.perf_counter() - t0) / max(cfg.train.steps, 1)
            scores = gankit.evaluate(out, metrics="fid,pr", n=task["n"], seed=task["seed"], record=False,
                                     progress=False)
            record.update({k: scores.get(k) for k in ("fid", "precision", "recall")})
            record["provenance"] = scores.get("provenance")
        record["error"] = None
    except GankitError as exc:  # a diverged run counts, as a failure
        record["error"] = str(exc).splitlines()[0]
    except Exception as exc:  # a crash is recorded too (and named as one), so the other runs go on
        record["error"] = f"crashed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    record["seconds"] = round(time.perf_counter() - t0, 1)
    record["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return record


def describe_device(device: str) -> str:
    """The device a run trained on, in words (the ms/step column depends on it; the scores should not)."""
    import torch

    if device == "cuda":
        return f"cuda: {torch.cuda.get_device_name()}"
    return f"cpu: {cpu_model()}"


def _fmt(mean: Optional[float], se: Optional[float], digits: int) -> str:
    if mean is None:
        return "-"
    return f"{mean:.{digits}f}" + (f" ± {se:.{digits}f}" if se is not None else "")


def verdicts(recs: list[dict], tricks: list[str], key: str, higher_better: bool) -> list[str]:
    """One line per trick: its mean ``key`` against the plain recipe's, called a help or a hurt only when
    the difference exceeds twice the standard error of the difference (else: no clear effect)."""
    def values(t: str) -> list:
        return [r[key] for r in recs if r["trick"] == t and r["error"] is None and r.get(key) is not None]

    base = values("none")
    if len(base) < 2:
        return [f"Verdicts need the plain recipe ('none') on at least 2 seeds; it has {len(base)}."]
    b_mean, b_se = mean_se(base)
    out = [f"Verdict on {key} against the plain recipe (a help or a hurt only beyond 2 standard errors of the "
           f"difference; with few seeds most differences are not):"]
    for t in tricks:
        if t == "none":
            continue
        v = values(t)
        if len(v) < 2:
            out.append(f"- {t}: fewer than 2 seeds, no verdict")
            continue
        mean, se = mean_se(v)
        diff, se_diff = mean - b_mean, math.sqrt(se ** 2 + b_se ** 2)
        better = diff > 0 if higher_better else diff < 0
        call = "no clear effect" if abs(diff) <= 2 * se_diff else ("helps" if better else "hurts")
        out.append(f"- {t}: {call} ({key} {mean:.2f} vs {b_mean:.2f}, difference {diff:+.2f} ± {se_diff:.2f})")
    return out


def write_markdown(path: Path, records: list[dict], meta: dict) -> None:
    lines = ["# Training tricks: each alone against the plain recipe (docs/tricks.md)", ""]
    partial = []
    for suite in ("grid", "fashion"):
        recs = [r for r in records if r["suite"] == suite]
        if not recs:
            continue
        want = SUITES[suite]["seeds"]  # the protocol's seeds: fewer make the table PARTIAL
        tricks = [t for t in TRICKS if any(r["trick"] == t for r in recs)]
        missing = [t for t in TRICKS if t not in tricks and t not in SUITES[suite]["skip"]]
        if missing:
            partial.append(f"{suite}: not run: {', '.join(missing)}")
        lines += [f"## {suite}: preset `{SUITES[suite]['preset']}`, {recs[0]['config']['train']['steps']} steps", ""]
        if suite == "grid":
            lines += [f"Scored on the worst of sampling seeds {meta['sample_seeds']} (2,500 samples each).", "",
                      "| trick | seeds | modes (worst seed) | HQ % | KL | failed | ms/step | trained on |",
                      "|---|---|---|---|---|---|---|---|"]
        else:
            lines += ["| trick | seeds | FID | precision | recall | failed | ms/step | trained on |",
                      "|---|---|---|---|---|---|---|---|"]
        for t in tricks:
            rs = [r for r in recs if r["trick"] == t]
            ok = [r for r in rs if r["error"] is None]
            if len(rs) < want:
                partial.append(f"{suite}/{t}: {len(rs)} of {want} seeds")
            ms = _fmt(*mean_se([r.get("ms_per_step") for r in ok]), 1)
            if suite == "grid":
                cells = [_fmt(*mean_se([r["modes"] for r in ok]), 2), _fmt(*mean_se([100 * r["high_quality"] for r in ok]), 1),
                         _fmt(*mean_se([r["kl"] for r in ok]), 3)]
            else:
                cells = [_fmt(*mean_se([r["fid"] for r in ok]), 2), _fmt(*mean_se([r["precision"] for r in ok]), 3),
                         _fmt(*mean_se([r["recall"] for r in ok]), 3)]
            devices = ", ".join(sorted({r.get("device", "cpu").split(":")[0] for r in rs}))
            lines.append(f"| {t} | {len(rs)} | " + " | ".join(cells) + f" | {len(rs) - len(ok)} | {ms} | {devices} |")
        lines += [""] + verdicts(recs, tricks, "modes" if suite == "grid" else "fid", suite == "grid") + [""]
    for suite in SUITES:
        if not any(r["suite"] == suite for r in records):
            partial.append(f"suite {suite} not run")
    head = ["**PARTIAL**: " + "; ".join(partial) + ".", ""] if partial else []
    commands = sorted({r.get("command") or "(not recorded)" for r in records})
    devices = sorted({r.get("device", "cpu: (not recorded)") for r in records})
    lines[2:2] = head + [f"Machine: {meta['cpu']}, one torch thread per run, shared with other jobs (ms/step is "
                         f"indicative, and comparable only between runs on the same device); written "
                         f"{meta['written']}. Devices the runs trained on (`trained on` column; a run without a "
                         f"record trained on this project's CPU): {'; '.join(devices)}. At a fixed step count the "
                         f"scores do not depend on the device beyond float rounding. The runs came from:", ""] + \
        [f"- `{c}`" for c in commands] + [""]
    path.write_text("\n".join(lines) + "\n")


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", choices=sorted(SUITES), action="append", help="grid and/or fashion (default: both)")
    ap.add_argument("--tricks", default=",".join(TRICKS), help="comma-separated; 'none' is the plain recipe")
    ap.add_argument("--seeds", type=int, default=None, help="default: 10 (grid), 3 (fashion)")
    ap.add_argument("--steps", type=int, default=None, help="grid steps (default: the preset's)")
    ap.add_argument("--fashion-steps", type=int, default=2000)
    ap.add_argument("--sample-seeds", default="100,101,102")
    ap.add_argument("--n", type=int, default=2000, help="fashion: generated samples per score")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                    help="train on this device (scores at a fixed step count do not depend on it; ms/step does)")
    ap.add_argument("--time-limit", type=float, default=None, help="minutes; no new run starts after it")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--report", action="store_true", help="only rewrite tricks.md from every run in the log")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "tricks_runs.jsonl"
    suites = args.suite or ["grid", "fashion"]
    tricks = [t.strip() for t in args.tricks.split(",") if t.strip()]
    unknown = [t for t in tricks if t not in TRICKS]
    if unknown:
        ap.error(f"unknown tricks {unknown}; known: {', '.join(TRICKS)}")
    sample_seeds = [int(s) for s in args.sample_seeds.split(",")]
    seeds = {s: args.seeds or SUITES[s]["seeds"] for s in suites}
    command = "python benchmarks/tricks.py " + " ".join(argv if argv is not None else sys.argv[1:])
    tasks = []
    for seed in range(max(seeds.values())):  # seed by seed: a time-limited run leaves even cells
        for suite in suites:
            if seed >= seeds[suite]:
                continue
            for t in tricks:
                if t in SUITES[suite]["skip"]:
                    continue
                steps = args.steps if suite == "grid" else args.fashion_steps
                tasks.append({"suite": suite, "trick": t, "seed": seed,
                              "config": task_config(suite, t, steps, args.device),
                              "sample_seeds": sample_seeds, "n": args.n, "command": command})
    done = []
    if args.resume:
        have = {(r["suite"], r["trick"], r["seed"]): r for r in read_runs(log_path)}
        for task in list(tasks):
            rec = have.get((task["suite"], task["trick"], task["seed"]))
            if rec and canonical_config(rec.get("config")) == canonical_config(task["config"]):
                done.append(rec)
                tasks.remove(task)
    elif log_path.exists() and not args.report:
        log_path.unlink()
    if args.report:
        tasks = []

    def record(rec: dict) -> None:
        done.append(rec)
        with log_path.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
        summary = (f"modes {rec.get('modes')} HQ {rec.get('high_quality')}" if rec["suite"] == "grid"
                   else f"FID {rec.get('fid')}")
        print(f"{rec['suite']} {rec['trick']} seed {rec['seed']}: {summary} ({rec['seconds']} s)"
              f"{' ERROR ' + rec['error'] if rec['error'] else ''}", file=sys.stderr)

    run_in_pool(tasks, run_one, args.jobs, args.time_limit, record)
    meta = {"cpu": f"{cpu_model()} ({platform.machine()})", "jobs": args.jobs, "seeds": seeds,
            "sample_seeds": sample_seeds,
            "written": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    # the table holds every run of the log (the newest per cell and seed), not only this invocation's
    latest = {(r["suite"], r["trick"], r["seed"]): r for r in read_runs(log_path) if r.get("trick") in TRICKS}
    write_markdown(out / "tricks.md", sorted(latest.values(), key=lambda r: (r["suite"], list(TRICKS).index(r["trick"]),
                                                                             r["seed"])), meta)
    print(f"wrote {out / 'tricks.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
