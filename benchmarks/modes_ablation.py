"""What each part of the best mode-coverage recipe contributes: the categorical code and InfoGAN's term.

Variants of presets ``ring-best`` / ``grid-best`` (docs/benchmarks.md section 1, scored as ``benchmarks/modes.py``
scores them, plain generator samples):

- ``no code``: ``model.z_categories=0 objective.info=0`` (the recipe before the code: NS + R1 at the data's
  scale, big nets, lr decay, EMA);
- ``code, no term``: the K-class code (K = the modes) without InfoGAN's term;
- ``best``: the preset (the code and the term, lambda = 1);
- ``K=64 + term``: more classes than modes, with the term.

With ``--not-told-k`` (issue 14's target: every seed all modes and >= 95% HQ by a recipe that is not told
the number of modes), ``--seeds`` seeds (10, the protocol) of the ``no code`` variant, each scored on the
worst of ``--sample-seeds`` sampling seeds: plain samples, and discriminator rejection sampling
(Azadi et al. 2019; D calibrated against the fixed G first, as ``modes.py``'s DRS rows) with gamma at
the q-th percentile of F for each q of ``--percentiles``. Neither the recipe nor DRS reads K. Runs in
``results/modes_notk_runs.jsonl``, table in ``results/modes_notk.md``.

Runs whose configuration and seed match a record of ``benchmarks/results/modes_runs.jsonl`` (the modes
benchmark's runs, the "best" rows of the current and earlier presets) are reused from there; the rest are
trained here (``--seeds`` seeds, default 3) and appended to ``results/modes_ablation_runs.jsonl``, so
``--resume`` goes on where an interrupted run stopped. Writes ``results/modes_ablation.md``.

    .venv/bin/python benchmarks/modes_ablation.py --jobs 2 --resume
    .venv/bin/python benchmarks/modes_ablation.py --not-told-k --datasets grid --seeds 10 --jobs 1 --resume
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
    p.add_argument("--not-told-k", action="store_true",
                   help="the no-code recipe, plain and with DRS at --percentiles, worst of --sample-seeds")
    p.add_argument("--datasets", default="ring,grid", help="with --not-told-k: ring,grid")
    p.add_argument("--percentiles", default="80,95,99", help="with --not-told-k: DRS gamma percentiles")
    p.add_argument("--sample-seeds", type=int, default=3, help="with --not-told-k: sampling seeds per run")
    p.add_argument("--tag", default="", help="with --not-told-k: suffix of the runs log and table "
                   "(modes_notk{TAG}_runs.jsonl, modes_notk{TAG}.md), to keep another study's runs apart")
    p.add_argument("--jacobian-keep", default="", help="with --not-told-k: also Jacobian truncation keeping these "
                   "fractions of draws (e.g. 0.9,0.8)")
    p.add_argument("--dot-scales", default="", help="with --not-told-k: also latent discriminator optimal transport "
                   "(gankit.explore.dot) with k_eff times these scales (e.g. 1,0.1,0.03; 1 is the paper's rule)")
    p.add_argument("--time-limit", type=float, help="with --not-told-k: minutes; no new run starts after it")
    p.add_argument("--variant", default="no code", choices=list(VARIANTS),
                   help="with --not-told-k: the recipe scored (default 'no code'; 'best' is the preset itself, "
                        "told K by its code: the same samplers on it, for comparison)")
    args = p.parse_args(argv)
    if args.not_told_k:
        return not_told_k(args)
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




def run_not_told_k(task: dict) -> dict:
    """Train the no-code recipe for one seed; score plain samples and DRS at each percentile, each the
    worst of ``n_sample_seeds`` sampling seeds. Runs in a worker process."""
    import torch

    from gankit.config import load_config
    from gankit.errors import GankitError
    from gankit.training.loop import Trainer

    torch.set_num_threads(1)
    cfg = load_config(task["config"], [f"train.seed={task['seed']}", "train.threads=1", "train.log_every=1000000"])
    t0 = time.perf_counter()
    trainer = Trainer(cfg, run=None, progress=False)
    trainer.fit()
    rec = {"dataset": task["dataset"], "seed": task["seed"], "n_sample_seeds": task["n_sample_seeds"],
           "train_seconds": round(time.perf_counter() - t0, 1),
           "plain": modes.score_samples(trainer, {**task, "keep_samples": False}), "drs": {}, "jacobian": {}}
    for keep in task.get("jacobian_keeps", []):  # the same latent seeds as the plain samples: paired
        rec["jacobian"][str(keep)] = jacobian_record(trainer, task, keep)
    for scale in task.get("dot_scales", []):  # the same latent seeds as the plain samples: paired
        rec.setdefault("dot", {})[str(scale)] = dot_record(trainer, task, scale)
    for q in task["percentiles"]:
        try:
            drs = {**modes.drs_record(trainer, {**task, "keep_samples": False, "drs_percentile": q}), "error": None}
        except GankitError as exc:  # e.g. too few acceptances: counts as a failed seed of that row
            drs = {"modes": 0, "n_modes": len(trainer.data.modes), "high_quality": 0.0, "kl": None, "seconds": 0.0,
                   "error": str(exc).splitlines()[0]}
        rec["drs"][str(q)] = drs
        for keep in task.get("jacobian_keeps", []):  # DRS over Jacobian-truncated proposals
            try:
                both = {**modes.drs_record(trainer, {**task, "keep_samples": False, "drs_percentile": q,
                                                     "jacobian_keep": keep}), "error": None}
            except GankitError as exc:
                both = {"modes": 0, "n_modes": len(trainer.data.modes), "high_quality": 0.0, "kl": None,
                        "seconds": 0.0, "error": str(exc).splitlines()[0]}
            rec.setdefault("drs_jacobian", {})[f"{q}/{keep}"] = both
    rec["seconds"] = round(time.perf_counter() - t0, 1)
    return rec


def jacobian_record(trainer, task: dict, keep: float) -> dict:
    """The trained G sampled by Jacobian truncation (gankit.explore.jacobian, Tanielian et al. 2020): of
    2,500 / keep draws, the 2,500 with the smallest ||dG/dz||_F, on each sampling seed; the worst seed."""
    from gankit.explore.jacobian import jacobian_truncate
    from gankit.metrics.modes import worst_over_seeds

    G = trainer.G_show
    G.eval()
    t0 = time.perf_counter()
    rec = worst_over_seeds(lambda n, g: jacobian_truncate(G, n, g, keep).x.double(), trainer.data,
                           modes.sample_seeds(task), modes.N_SAMPLES)
    rec.update({"acceptance": keep, "seconds": round(time.perf_counter() - t0, 2), "error": None})
    return rec


from gankit.explore.dot import DEFAULT_LR as DOT_LR, DEFAULT_STEPS as DOT_STEPS  # noqa: E402 (gankit sample's)


def dot_record(trainer, task: dict, scale: float) -> dict:
    """The trained G sampled by latent discriminator optimal transport (gankit.explore.dot, Tanaka 2019): each
    of the 2,500 draws moved by DOT_STEPS Adam steps (lr DOT_LR) on ||z - z0|| - D(G(z)) / (scale k_eff), D the
    trained discriminator as it is (no calibration); on each sampling seed, the worst seed."""
    from gankit.explore.dot import dot_sample
    from gankit.metrics.modes import worst_over_seeds

    G, D = trainer.G_show.eval(), trainer.D.eval()
    t0 = time.perf_counter()
    keffs = []

    def sample(n, g):
        res = dot_sample(G, D, n, g, steps=DOT_STEPS, lr=DOT_LR, scale=scale)
        keffs.append(res.k_eff)
        return res.x.double()
    rec = worst_over_seeds(sample, trainer.data, modes.sample_seeds(task), modes.N_SAMPLES)
    D.train()
    rec.update({"k_eff": keffs, "seconds": round(time.perf_counter() - t0, 2), "error": None})
    return rec


def not_told_k(args) -> int:
    from gankit.config import load_config

    log = RESULTS / f"modes_notk{args.tag}_runs.jsonl"
    if not args.resume and log.exists():
        log.unlink()
    percentiles = [float(q) for q in args.percentiles.split(",") if q.strip()]
    keeps = [float(k) for k in args.jacobian_keep.split(",") if k.strip()]
    scales = [float(k) for k in args.dot_scales.split(",") if k.strip()]
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    for d in datasets:
        if d not in K_MODES:
            raise SystemExit(f"--datasets: unknown {d!r}; choose from {', '.join(K_MODES)}")
    done = {}
    for rec in modes.read_runs(log):
        done[(rec["dataset"], rec["seed"])] = rec
    tasks = []
    for seed in range(args.seeds):  # seed by seed, so a time limit leaves the datasets with as many
        for ds in datasets:
            config = load_config(modes.BEST[ds], VARIANTS[args.variant]).to_dict()
            rec = done.get((ds, seed))
            if (rec is not None and rec.get("config") == config and rec["n_sample_seeds"] == args.sample_seeds
                    and all(str(q) in rec["drs"] for q in percentiles)
                    and all(str(k) in rec.get("jacobian", {}) for k in keeps)
                    and all(f"{q}/{k}" in rec.get("drs_jacobian", {}) for q in percentiles for k in keeps)
                    and all(str(k) in rec.get("dot", {}) for k in scales)):
                continue
            tasks.append({"dataset": ds, "seed": seed, "config": config, "n_sample_seeds": args.sample_seeds,
                          "percentiles": percentiles, "jacobian_keeps": keeps, "dot_scales": scales})
    print(f"{len(tasks)} runs to do, {len(done)} recorded", flush=True)
    t0 = time.perf_counter()
    deadline = None if args.time_limit is None else t0 + 60 * args.time_limit
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        pending = list(tasks)
        while pending:
            if deadline is not None and time.perf_counter() > deadline:
                print(f"--time-limit reached: {len(pending)} runs left (rerun with --resume)", flush=True)
                break
            batch, pending = pending[:args.jobs], pending[args.jobs:]
            for task, rec in zip(batch, pool.map(run_not_told_k, batch)):
                rec["config"] = task["config"]
                with log.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
                done[(task["dataset"], task["seed"])] = rec
                others = "; ".join(f"{name} {r['modes']} modes {100 * r['high_quality']:.1f}% HQ"
                                   for name, r in [*((f"DRS q={q}", v) for q, v in rec["drs"].items()),
                                                   *((f"Jacobian keep={k}", v) for k, v in rec["jacobian"].items()),
                                                   *((f"DOT scale={k}", v) for k, v in rec.get("dot", {}).items()),
                                                   *((f"Jacobian+DRS {qk}", v)
                                                     for qk, v in rec.get("drs_jacobian", {}).items())])
                print(f"{task['dataset']} seed {task['seed']}: plain {rec['plain']['modes']} modes "
                      f"{100 * rec['plain']['high_quality']:.1f}% HQ; {others} ({rec['seconds']:.0f}s)", flush=True)
    write_not_told_k(done, datasets, percentiles, keeps, scales, args, time.perf_counter() - t0)
    return 0


def write_not_told_k(done: dict, datasets: list, percentiles: list, keeps: list, scales: list, args,
                     wall: float) -> None:
    variant = VARIANTS[args.variant]
    told = "told K" if args.variant in ("best", "code, no term") else "not told K"
    L = ["# Mode coverage by a recipe not told the number of modes (issue 14)" if args.variant == "no code" else
         f"# Mode coverage of the '{args.variant}' recipe ({told}), with the samplers of the not-told-K table", "",
         f"Reproduce: `.venv/bin/python benchmarks/modes_ablation.py --not-told-k --datasets {','.join(datasets)} "
         f"--seeds {args.seeds} --sample-seeds {args.sample_seeds} --percentiles '{args.percentiles}' "
         + (f"--tag {args.tag} " if args.tag else "")
         + (f"--jacobian-keep {args.jacobian_keep} " if keeps else "")
         + (f"--dot-scales {args.dot_scales} " if scales else "")
         + (f"--variant '{args.variant}' " if args.variant != "no code" else "") + f"--jobs {args.jobs} "
         f"--resume` (the runs took {sum(r['seconds'] for r in done.values()) / 60:.0f} minutes of one core in all, "
         f"this invocation {wall / 60:.1f}; runs in `modes_notk{args.tag}_runs.jsonl`).", "",
         f"The recipe: `{modes.BEST['grid']}` / `{modes.BEST['ring']}`"
         + (f" with `{' '.join(variant)}` (no categorical code, so nothing in it is K)" if args.variant == "no code"
            else (f" with `{' '.join(variant)}`" if variant else " as shipped") + f" ({told})")
         + ". Each run is scored as [`modes.md`](modes.md) scores (2,500 samples per "
         f"score), on the **worst of {args.sample_seeds} sampling seeds**. DRS: discriminator rejection sampling "
         "(Azadi et al. 2019, `gankit sample --drs --drs-percentile q`), D first calibrated for "
         f"{modes.DRS_CALIBRATE} steps against the fixed G; gamma at the q-th percentile of F (a draw is kept with "
         "probability sigmoid(F - gamma), so a higher q keeps fewer, though more than 100 - q percent: the "
         "acceptance column). DRS does not read K either. Jacobian truncation (Tanielian et al. 2020, `gankit "
         "sample --jacobian-keep F`): of 2,500 / F draws, keep the 2,500 where ||dG/dz||_F is smallest (needs no D "
         "and does not read K); its latent seeds are the plain rows'. 'Jacobian keep=F, then DRS q': DRS whose "
         "candidates are Jacobian-truncated draws (D calibrated against the plain G; the truncation's density is "
         "p_G / F where it keeps, so D's logit stays the log ratio up to a constant). DOT scale=s: latent "
         "discriminator optimal transport (Tanaka 2019, `gankit sample --dot-steps 30 --dot-scale s`): every "
         f"draw kept and moved by {DOT_STEPS} Adam steps (lr {DOT_LR}) on ||z - z0|| - D(G(z)) / (s k_eff), k_eff the "
         "largest slope of D o G between pairs of 1,000 further draws; D as trained (not calibrated), the plain "
         "rows' latent seeds; s = 1 is the paper's rule, a smaller s trusts D more. It does not read K. "
         "`spread`: the RMS offset of the high-quality samples from their nearest mean in units of the data's "
         "std, on the worst sampling seed (`gankit.metrics.modes.mode_metrics`; a perfect sampler scores 0.97): "
         "below it, the sampler makes each mode narrower than the data's.", "",
         "| dataset | sampling | seeds | modes mean (min) | HQ % mean (min) | KL mean | spread | acceptance (min) | "
         "all modes and >= 95% HQ on every seed? |", "|---|---|---|---|---|---|---|---|---|"]
    for ds in datasets:
        recs = [done[(ds, s)] for s in range(args.seeds) if (ds, s) in done]
        if not recs:
            continue
        rows = [("plain", [{"seconds": r["train_seconds"], **r["plain"]} for r in recs])]
        rows += [(f"DRS q={q:g}", [r["drs"][str(q)] for r in recs if str(q) in r["drs"]]) for q in percentiles]
        rows += [(f"Jacobian keep={k:g}", [r["jacobian"][str(k)] for r in recs if str(k) in r.get("jacobian", {})])
                 for k in keeps]
        rows += [(f"Jacobian keep={k:g}, then DRS q={q:g}",
                  [r["drs_jacobian"][f"{q}/{k}"] for r in recs if f"{q}/{k}" in r.get("drs_jacobian", {})])
                 for q in percentiles for k in keeps]
        rows += [(f"DOT scale={k:g}", [r["dot"][str(k)] for r in recs if str(k) in r.get("dot", {})]) for k in scales]
        for name, rs in rows:
            s = modes.summarize(rs)
            kls = [r["kl"] for r in rs if r.get("kl") is not None]
            acc = [r["acceptance"] for r in rs if "acceptance" in r]
            L.append(f"| {ds} | {name} | {s['seeds']} | {s['modes_mean']:.1f} ({s['modes_min']}) | "
                     f"{s['hq_mean']:.1f} ({s['hq_min']:.1f}) | {sum(kls) / len(kls) if kls else float('nan'):.3f} | "
                     f"{'-' if s['spread_mean'] is None else format(s['spread_mean'], '.2f')} | "
                     f"{(f'{100 * sum(acc) / len(acc):.1f}% ({100 * min(acc):.1f}%)') if acc else '-'} | "
                     f"{'yes' if s['target_met'] and s['seeds'] >= args.seeds else 'no'} |")
        if len(recs) < args.seeds:
            L.append(f"| {ds} | **partial**: {len(recs)} of {args.seeds} seeds | | | | | | | |")
    (RESULTS / f"modes_notk{args.tag}.md").write_text("\n".join(L) + "\n")
    print(f"wrote {RESULTS / f'modes_notk{args.tag}.md'}")


if __name__ == "__main__":
    sys.exit(main())
