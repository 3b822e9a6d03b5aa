"""docs/benchmarks.md section 1: mode coverage on the ring (8 Gaussians) and the grid (25 Gaussians).

Every registered objective (``gankit.registry.OBJECTIVES``, listed at run time) is trained on the ring and
the grid with ONE MLP architecture (that of presets ``ring`` / ``grid``) and the optimizer settings of the
objective's own ring preset (``ring-<objective>.yaml``) when it has one, for ``--seeds`` seeds each; then
2,500 samples are drawn from the generator (the EMA copy when on) and scored with
:func:`gankit.metrics.modes.mode_metrics` (high quality within 3 std, modes captured, KL to uniform).
The best configurations (presets ``ring-best`` and ``grid-best``) are run on the same seeds as extra
rows. The best rows' trained G and D are also sampled by discriminator rejection sampling
(``gankit.explore.rejection``: D calibrated 1,000 steps against the fixed G, the exact rule), reported as
the separate row "best + DRS": that is not the protocol's plain sampling, and the tables say so.
Results: ``benchmarks/results/modes.md`` (tables beside the published rows of docs/benchmarks.md),
``modes.json`` (every run) and ``modes_samples.png`` (seed-0 scatters).

    .venv/bin/python benchmarks/modes.py --jobs 2                 # the full benchmark (10 seeds)
    .venv/bin/python benchmarks/modes.py --quick                  # smoke check: tiny runs, writes to a temp dir
    .venv/bin/python benchmarks/modes.py --objectives ns,hinge --datasets ring --seeds 3 --out /tmp/m
    .venv/bin/python benchmarks/modes.py --jobs 2 --time-limit 50 # stop starting runs after 50 min ...
    .venv/bin/python benchmarks/modes.py --jobs 2 --resume        # ... and later go on where it stopped

Every finished run is appended to ``modes_runs.jsonl`` in the output folder at once, so an interrupted
benchmark loses at most the runs in flight; ``--resume`` reuses the records whose configuration is
unchanged. Runs are scheduled seed by seed, so a time-limited run leaves every cell with about the
same number of seeds; the tables say how many each cell has.

Objectives that need an autoencoder discriminator (BEGAN, EBGAN) run with ``model.arch=mlp-ae``: the
same MLP widths, with D an MLP encoder to a code of ``z_dim`` units and an MLP decoder.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DATASETS = ("ring", "grid")
AE_OBJECTIVES = ("began", "ebgan")  # need DOutput.recon: an autoencoder D
BEST = {"ring": "ring-best", "grid": "grid-best"}
N_SAMPLES = 2500
DRS_ROW = "best + DRS"
DRS_CALIBRATE = 1000  # steps of D alone against the fixed G before rejection sampling (the "best" rows)

# What the per-objective table takes from an objective's own preset: the game and its optimizers.
# Everything else (architecture, batch, steps, EMA) is the common recipe of presets ring / grid.
FROM_OBJECTIVE_PRESET = ("objective", "train.g_optim", "train.d_optim")

PUBLISHED = [  # docs/benchmarks.md section 1: method, ring modes, ring HQ %, grid modes, grid HQ %, source
    ("GAN", 6.3, 98.2, 17.3, 94.8, "PacGAN Table 1"),
    ("PacGAN2", 7.9, 95.6, 23.8, 91.3, "PacGAN Table 1"),
    ("PacGAN4", 7.8, 95.9, 24.8, 93.6, "PacGAN Table 1"),
    ("Unrolled GAN", 7.6, 35.6, 23.6, 16.0, "VEEGAN Table 1"),
    ("VEEGAN", 8.0, 52.9, 24.6, 40.0, "VEEGAN Table 1"),
    ("WGAN-GP", 6.8, 59.6, 24.2, 28.7, "GDPP Table 1"),
    ("GDPP-GAN", 8.0, 71.7, 24.8, 68.5, "GDPP Table 1"),
]


# --------------------------------------------------------------------------- configurations


def _get(data: dict, dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _set(data: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def objective_preset(objective: str, dataset: str) -> Optional[str]:
    """The preset whose objective and optimizer settings an objective's row uses, if any."""
    from gankit.config import preset_names

    names = preset_names()
    for name in (f"{dataset}-{objective}", f"ring-{objective}"):
        if name in names:
            return name
    return None


def row_config(objective: str, dataset: str, steps: Optional[int], ema: float) -> tuple[dict, str]:
    """The raw config mapping of one (objective, dataset) cell of the table, and a note on its source."""
    import copy

    from gankit.config import preset_dict

    base = copy.deepcopy(preset_dict(dataset))
    source = objective_preset(objective, dataset)
    if source is not None:
        theirs = preset_dict(source)
        for key in FROM_OBJECTIVE_PRESET:
            value = _get(theirs, key)
            if value is not None:
                _set(base, key, copy.deepcopy(value))
        note = f"{source}.yaml"
    else:
        note = f"{dataset}.yaml optimizer"
    base["objective"]["name"] = objective
    if source is None:
        base["objective"].pop("params", None)
    if objective in AE_OBJECTIVES:
        base["model"]["arch"] = "mlp-ae"
    if steps is not None:
        base["train"]["steps"] = steps
    base["train"]["ema"] = ema
    base["name"] = f"{dataset}/{objective}"
    return base, note


def best_config(dataset: str, steps: Optional[int]) -> tuple[dict, str]:
    import copy

    from gankit.config import preset_dict

    data = copy.deepcopy(preset_dict(BEST[dataset]))
    if steps is not None:
        data.setdefault("train", {})["steps"] = steps
    return data, f"{BEST[dataset]}.yaml"


def describe_optim(cfg: Any) -> str:
    def one(o: Any) -> str:
        if o.name == "adam":
            return f"Adam lr {o.lr:g} betas ({o.betas[0]:g}, {o.betas[1]:g})"
        if o.name == "rmsprop":
            return f"RMSProp lr {o.lr:g}"
        return f"SGD lr {o.lr:g} momentum {o.momentum:g}"

    g, d = one(cfg.train.g_optim), one(cfg.train.d_optim)
    text = f"G/D {g}" if g == d else f"G {g}; D {d}"
    if cfg.objective.d_steps > 1:
        text += f"; {cfg.objective.d_steps} D steps per G step"
    import dataclasses

    from gankit.objectives import build_objective

    params = dataclasses.asdict(build_objective(cfg.objective).params)  # with the defaults filled in
    if params:
        text += "; " + ", ".join(f"{k}={v}" for k, v in params.items())
    if cfg.objective.info:
        text += f"; InfoGAN term lambda={cfg.objective.info:g} on the {cfg.model.z_categories}-class code"
    return text


def describe_model(cfg: Any) -> str:
    m = cfg.model
    code = f" + a one-hot code of {m.z_categories} classes" if m.z_categories else ""
    text = (f"z_dim {m.z_dim} ({m.z_dist}){code}; G {m.g_layers}x{m.g_width} ReLU"
            f"{' + BatchNorm' if m.g_norm == 'batch' else ''}, linear out; "
            f"D {m.d_layers}x{m.d_width} LeakyReLU(0.2){' + BatchNorm' if m.d_norm == 'batch' else ''}")
    for key in ("d_pack", "d_minibatch_std", "d_spectral_norm", "d_instance_noise"):
        value = getattr(m, key, None)
        if value:
            text += f", {key}={value}"
    if m.arch == "mlp-ae":
        text += f" (mlp-ae: D = MLP encoder -> code {m.z_dim} -> MLP decoder)"
    text += f"; init {m.init}; batch {cfg.data.batch_size}; {cfg.train.steps} steps"
    text += f"; EMA {cfg.train.ema:g}" if cfg.train.ema > 0 else "; no EMA"
    return text


# --------------------------------------------------------------------------- one run (in a worker)


def sample_seeds(task: dict) -> list[int]:
    """The latent seeds a run is scored on: 10000 + seed, then 11000 + seed, 12000 + seed, ..."""
    return [10_000 + task["seed"] + 1000 * k for k in range(task.get("n_sample_seeds", 1))]


def score_samples(trainer, task: dict) -> dict:
    """The mode metrics of N_SAMPLES plain samples of the trained G (the EMA copy when on) on each
    sampling seed, as the worst of them (one seed: that seed's scores, as the protocol began)."""
    import torch

    from gankit.metrics.modes import worst_over_seeds

    G = trainer.G_show
    G.eval()  # BatchNorm running statistics, as any sampling of a trained G
    seeds = sample_seeds(task)
    out = worst_over_seeds(lambda n, g: G(G.sample_z(n, g)).double().cpu(), trainer.data, seeds, N_SAMPLES)
    out["error"] = None
    if task["keep_samples"]:
        with torch.no_grad():
            out["samples"] = G(G.sample_z(N_SAMPLES, torch.Generator().manual_seed(seeds[0]))).float().tolist()
    return out


def run_one(task: dict) -> dict:
    """Train one configuration for one seed, draw 2,500 samples, score them. Runs in a worker process."""
    import torch

    from gankit.config import load_config
    from gankit.errors import GankitError
    from gankit.training.loop import Trainer

    torch.set_num_threads(task["threads"])
    cfg = load_config(task["config"], [f"train.seed={task['seed']}", f"train.threads={task['threads']}",
                                       "train.log_every=1000000"])
    record = {k: task[k] for k in ("row", "dataset", "seed")}
    t0 = time.perf_counter()
    try:
        trainer = Trainer(cfg, run=None, progress=False)
        trainer.fit()
        record.update(score_samples(trainer, task))
        if task.get("drs"):
            try:
                record["drs"] = drs_record(trainer, task)
            except GankitError as exc:  # e.g. too few acceptances: a failed DRS row, the plain row stands
                n_modes = len(trainer.data.modes)
                record["drs"] = {"modes": 0, "n_modes": n_modes, "high_quality": 0.0, "kl": None,
                                 "counts": [0] * n_modes, "n": 0, "seconds": 0.0,
                                 "drs_error": str(exc).splitlines()[0]}
    except GankitError as exc:  # a diverged run counts, as a failure with no modes
        from gankit.data import load_dataset

        dist = load_dataset(cfg.data, "train")
        record.update({"modes": 0, "n_modes": len(dist.modes), "high_quality": 0.0, "kl": None,
                       "counts": [0] * len(dist.modes), "n": 0, "error": str(exc).splitlines()[0]})
    record["seconds"] = round(time.perf_counter() - t0, 2)
    return record


def batchable(config: dict) -> bool:
    """Whether ``--batched-seeds`` trains this configuration's seeds in one process (gankit/training/multiseed.py)."""
    from gankit.config import load_config
    from gankit.errors import GankitError
    from gankit.training.multiseed import check_supported

    try:
        check_supported(load_config(config))
    except GankitError:
        return False
    return True


def run_group(tasks: list[dict]) -> list[dict]:
    """The seeds of one configuration trained as one batched computation (``gankit train --seeds``), then
    sampled and scored one by one as :func:`run_one` does. If the batched run diverges (one seed's NaN stops
    it), the seeds are trained one by one instead, so a diverged seed counts only for itself."""
    import torch

    from gankit.config import load_config
    from gankit.errors import GankitError
    from gankit.training.multiseed import batch_new_runs

    torch.set_num_threads(tasks[0]["threads"])
    t0 = time.perf_counter()
    multi = batch_new_runs([load_config(task["config"], [f"train.seed={task['seed']}",
                                                         f"train.threads={task['threads']}",
                                                         "train.log_every=1000000"]) for task in tasks],
                           progress=False)
    try:
        multi.fit()
    except GankitError:
        return [run_one(task) for task in tasks]
    multi.sync()
    share = (time.perf_counter() - t0) / len(tasks)
    records = []
    for task, trainer in zip(tasks, multi.trainers):
        record = {k: task[k] for k in ("row", "dataset", "seed")}
        record.update(score_samples(trainer, task))
        record["seconds"] = round(share, 2)  # this seed's share of the batched process
        record["batched_seeds"] = len(tasks)
        records.append(record)
    return records


def run_task(task: dict) -> list[tuple[dict, dict]]:
    """(record, task) pairs of one unit of work: one seed, or with ``--batched-seeds`` a group of them."""
    if "group" in task:
        return list(zip(run_group(task["group"]), task["group"]))
    return [(run_one(task), task)]


def drs_record(trainer: Any, task: dict) -> dict:
    """The same trained G and D, sampled by discriminator rejection sampling (gankit.explore.rejection):
    D calibrated for DRS_CALIBRATE steps against the fixed G, then 2,500 accepted samples, scored alike:
    on latent seed 20000 + seed, or with ``n_sample_seeds`` K > 1 the worst of K (20000 + seed + 1000 k).
    ``drs_percentile`` q sets gamma to the q-th percentile of F (None: the exact rule)."""
    import torch

    from gankit.explore.jacobian import jacobian_truncate
    from gankit.explore.rejection import calibrate_discriminator, check_applicable, rejection_sample
    from gankit.metrics.modes import worst_over_seeds

    check_applicable(trainer.objective, trainer.cfg.model.d_pack)
    G, data, seed = trainer.G_show, trainer.data, task["seed"]
    real_gen = torch.Generator().manual_seed(30_000 + seed)
    t0 = time.perf_counter()
    # the calibration is seeded, so every DRS row of one trained run shares it (computed once)
    D = getattr(trainer, "drs_calibrated_d", None)
    if D is None:
        D, _ = calibrate_discriminator(trainer.D, G, lambda n: data.sample(n, real_gen), steps=DRS_CALIBRATE,
                                       seed=40_000 + seed)
        trainer.drs_calibrated_d = D
    draws: list = []

    keep = task.get("jacobian_keep")  # DRS over Jacobian-truncated proposals (modes_ablation.py)
    propose = None if keep is None else (lambda m, gen: jacobian_truncate(G, m, gen, keep).x)

    def sample(n: int, gen: torch.Generator) -> torch.Tensor:
        res = rejection_sample(G, D, n, gen, percentile=task.get("drs_percentile"), max_draws=200 * n,
                               propose=propose)
        draws.append(res)
        return res.x.double()

    seeds = [20_000 + seed + 1000 * k for k in range(task.get("n_sample_seeds", 1))]
    rec = worst_over_seeds(sample, data, seeds, N_SAMPLES)
    if len(seeds) == 1:
        rec.pop("per_sample_seed", None)
    rec.update({"acceptance": min(r.acceptance for r in draws), "draws": sum(r.draws for r in draws),
                "seconds": round(time.perf_counter() - t0, 2)})
    if task["keep_samples"]:
        rec["samples"] = draws[0].x.float().tolist()
    return rec


# --------------------------------------------------------------------------- statistics and output


def summarize(records: list[dict]) -> dict:
    n = len(records)

    def mean_se(values: list[float]) -> tuple[Optional[float], Optional[float]]:
        if not values:
            return None, None
        mean = sum(values) / len(values)
        if len(values) < 2:
            return mean, None
        var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
        return mean, math.sqrt(var / len(values))

    modes = [r["modes"] for r in records]
    hq = [100.0 * r["high_quality"] for r in records]
    kls = [r["kl"] for r in records if r["kl"] is not None]
    m_mean, m_se = mean_se(modes)
    h_mean, h_se = mean_se(hq)
    k_mean, k_se = mean_se(kls)
    # spread (mode_metrics since this key was added; runs recorded before it lack it): shown only when
    # every seed of the cell has it
    spreads = [r.get("spread") for r in records]
    sp_mean = mean_se(spreads)[0] if all(v is not None for v in spreads) else None
    n_modes = records[0]["n_modes"]
    return {"seeds": n, "modes_mean": m_mean, "modes_se": m_se, "modes_min": min(modes),
            "hq_mean": h_mean, "hq_se": h_se, "hq_min": min(hq), "kl_mean": k_mean, "kl_se": k_se,
            "kl_n": len(kls), "spread_mean": sp_mean, "n_modes": n_modes,
            "failed": sum(r["error"] is not None for r in records),
            "target_met": all(r["modes"] == n_modes and r["high_quality"] >= 0.95 for r in records),
            "seconds": sum(r["seconds"] for r in records)}


def _pm(mean: Optional[float], se: Optional[float], digits: int) -> str:
    if mean is None:
        return "-"
    if se is None:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def plot(path: Path, rows: list[str], datasets: list[str], samples: dict, modes: dict, std: dict) -> None:
    """One small scatter panel per (dataset, row) of seed 0's samples, modes as crosses, 3-std circles."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle

    cols = len(rows)
    fig = Figure(figsize=(1.9 * cols, 2.0 * len(datasets) + 0.3), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(datasets), cols, squeeze=False)
    for i, ds in enumerate(datasets):
        lim = 1.5 if ds == "ring" else 5.5
        for j, row in enumerate(rows):
            ax = axes[i][j]
            pts = samples.get((row, ds))
            if pts is not None and len(pts):
                xs = [p[0] for p in pts]
                ys = [p[1] for p in pts]
                ax.scatter(xs, ys, s=1.0, c="tab:blue", alpha=0.35, linewidths=0, rasterized=True)
            for mx, my in modes[ds]:
                ax.add_patch(Circle((mx, my), 3 * std[ds], fill=False, lw=0.5, ec="tab:red"))
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(row, fontsize=7)
            if j == 0:
                ax.set_ylabel(ds, fontsize=8)
    fig.suptitle("2,500 samples of seed 0 (red circles: 3 std around each mean)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def write_markdown(path: Path, meta: dict, rows: list[str], datasets: list[str], summary: dict,
                   notes: dict) -> None:
    from gankit.metrics.modes import perfect_spread

    L: list[str] = []
    L.append("# Mode coverage on the ring and the grid (docs/benchmarks.md section 1)")
    L.append("")
    reused = meta.get("reused", 0)
    L.append(f"Reproduce (from the repository root; the {meta['runs']} runs take {meta['train_hours']:.1f} hours "
             f"of one core in all, about half that with 2 jobs; this invocation ran {meta['runs'] - reused} "
             f"in {meta['wall_minutes']:.1f} minutes and reused {reused} recorded by earlier ones; without `--resume` "
             f"it runs them all again):")
    L.append("")
    L.append("```")
    L.append(meta["command"])
    L.append("```")
    L.append("")
    L.append(f"Tables written {meta['date']} on {meta['cpu']} ({meta['cores']} cores, shared with other work while "
             f"it ran; reused runs were recorded by earlier invocations, possibly on another machine of the same "
             f"size), "
             f"torch {meta['torch']}, gankit {meta['gankit']}, 1 thread per run. "
             f"{meta['seeds']} seeds (train.seed = 0..{meta['seeds'] - 1}) per cell; each run draws "
             + (f"{N_SAMPLES:,} samples (latent seed 10000 + seed)" if meta.get("sample_seeds", 1) == 1 else
                f"{N_SAMPLES:,} samples on each of {meta['sample_seeds']} latent seeds (10000 + seed + 1000 k) and "
                f"keeps the WORST seed's modes and HQ (the highest KL)")
             + " from the generator (the EMA copy when on) in "
             "eval mode and scores them with `gankit.metrics.modes.mode_metrics`: a sample is high quality "
             "(HQ) within 3 std of its nearest mean, a mode is captured when it is the nearest mean of an "
             "HQ sample, KL is KL(histogram of the HQ samples' nearest modes || uniform). Mean ± standard "
             "error over seeds; min is the worst seed. A perfect sampler scores 8 / 25 modes and "
             "98.9% HQ (1 - e^-4.5).")
    L.append("")
    if meta["seeds_done"] < meta["seeds"]:
        L.append(f"**Partial: the run stopped at its time limit; some cells have fewer than {meta['seeds']} "
                 f"seeds (column `seeds`). `--resume` completes it.**")
        L.append("")
    # headline
    L.append("## Headline: the best configuration")
    L.append("")
    L.append("| dataset | preset (sampling) | seeds | modes mean (min) | HQ % mean (min) | KL mean | spread | "
             "every seed all modes and >= 95% HQ? |")
    L.append("|---|---|---|---|---|---|---|---|")
    for ds, row in [(d, r) for r in ("best", DRS_ROW) for d in datasets]:
        s = summary.get((row, ds))
        if s is None:
            continue
        label = f"`{BEST[ds]}`" + (" + DRS" if row == DRS_ROW else "")
        L.append(f"| {ds} ({s['n_modes']}) | {label} | {s['seeds']} | {s['modes_mean']:.1f} ({s['modes_min']}) | "
                 f"{s['hq_mean']:.1f} ({s['hq_min']:.1f}) | {_pm(s['kl_mean'], None, 3)} | "
                 f"{_pm(s['spread_mean'], None, 2)} | {'yes' if s['target_met'] else '**no**'} |")
    L.append("")
    L.append(f"`spread`: the RMS per-coordinate offset of the HQ samples from their nearest mean, in units of "
             f"the data's std (`mode_metrics`); a perfect sampler scores {perfect_spread(2):.2f}. Below it, G's "
             f"modes are tighter than the data's, which lets HQ % pass the perfect sampler's 98.9%: the "
             f"protocol counts coverage and precision, not the width of each mode.")
    L.append("")
    for line in meta.get("headline_notes", []):
        L.append(line)
    L.append("")
    # per-objective table
    L.append("## Every objective, one architecture")
    L.append("")
    L.append(f"Architecture for every objective row: {meta['architecture']}.")
    L.append("")
    for ds in datasets:
        n_modes = next((summary[(r, ds)]["n_modes"] for r in rows if (r, ds) in summary), "?")
        L.append(f"### {ds} ({n_modes} modes)")
        L.append("")
        L.append("| objective | seeds | modes | min | HQ % | min | KL | failed | minutes |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            s = summary.get((r, ds))
            if s is None:
                continue
            name = {"best": f"**best (`{BEST[ds]}`)**", DRS_ROW: f"**best + DRS (`{BEST[ds]}`)**"}.get(r, r)
            L.append(f"| {name} | {s['seeds']} | {_pm(s['modes_mean'], s['modes_se'], 2)} | {s['modes_min']} | "
                     f"{_pm(s['hq_mean'], s['hq_se'], 1)} | {s['hq_min']:.1f} | "
                     f"{_pm(s['kl_mean'], s['kl_se'], 3)} | {s['failed']} | {s['seconds'] / 60:.1f} |")
        L.append("")
    L.append("Published rows on the same protocol (docs/benchmarks.md section 1; modes / % HQ, mean of 10 "
             "seeds; different networks, see the sources):")
    L.append("")
    L.append("| method | ring (8) | grid (25) | source |")
    L.append("|---|---|---|---|")
    for name, rm, rh, gm, gh, src in PUBLISHED:
        L.append(f"| {name} | {rm:g} / {rh:g} | {gm:g} / {gh:g} | {src} |")
    L.append("")
    L.append("## Settings per row")
    L.append("")
    L.append("| row | dataset | optimizer and objective settings | from |")
    L.append("|---|---|---|---|")
    for r in rows:
        for ds in datasets:
            if (r, ds) in notes:
                text, src = notes[(r, ds)]
                L.append(f"| {r} | {ds} | {text} | {src} |")
    L.append("")
    L.append("`minutes` is the summed training time of the row's seeds. Samples of seed 0: "
             "[`modes_samples.png`](modes_samples.png). Every run's numbers, mode histogram included: "
             "[`modes.json`](modes.json).")
    for line in meta.get("notes", []):
        L.append("")
        L.append(line)
    path.write_text("\n".join(L) + "\n")


# --------------------------------------------------------------------------- main


def main(argv: Optional[list[str]] = None) -> int:
    import gankit
    import gankit.objectives  # noqa: F401  (registers every objective)
    from gankit.config import load_config, preset_names
    from gankit.data import load_dataset
    from gankit.registry import OBJECTIVES

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--objectives", default=None, help="comma-separated (default: every registered one)")
    p.add_argument("--datasets", default="ring,grid")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--steps", type=int, default=None, help="G steps of every objective row "
                   "(default: each dataset preset's own; the best rows keep their preset's)")
    p.add_argument("--ema", type=float, default=0.0, help="EMA decay in the objective rows (0 = off)")
    p.add_argument("--no-best", action="store_true", help="skip the ring-best / grid-best rows")
    p.add_argument("--jobs", type=int, default=2, help="parallel training processes")
    p.add_argument("--batched-seeds", action="store_true",
                   help="train the seeds of each row gankit train --seeds supports (MLP, ns/minimax/hinge/lsgan/"
                        "wgan-gp, no terms, no EMA) in one batched process (docs/speed.md); others seed by seed")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--sample-seeds", type=int, default=1, metavar="K",
                   help="score each run on K latent seeds and keep the worst (a coverage claim must hold for "
                        "any sampling seed; the committed table ran with K=1 unless it says otherwise)")
    p.add_argument("--time-limit", type=float, default=None, metavar="MIN",
                   help="start no new run after MIN minutes; write the tables from the runs done")
    p.add_argument("--resume", action="store_true",
                   help="reuse the finished runs in OUT/modes_runs.jsonl whose configuration is unchanged")
    p.add_argument("--quick", action="store_true", help="smoke check: 1 seed, 20 steps, temp output dir")
    p.add_argument("--out", default=None, help=f"output folder (default {RESULTS.relative_to(HERE.parent)})")
    args = p.parse_args(argv)

    names = OBJECTIVES.names()
    objectives = names if args.objectives is None else [o.strip() for o in args.objectives.split(",") if o.strip()]
    for o in objectives:
        OBJECTIVES.get(o)  # a typo fails now, naming the closest
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    for d in datasets:
        if d not in DATASETS:
            p.error(f"--datasets: unknown '{d}', valid: {', '.join(DATASETS)}")
    steps, best_steps, seeds = args.steps, None, args.seeds
    if args.quick:
        steps, best_steps, seeds = 20, 20, 1
    out = Path(args.out) if args.out else (Path(tempfile.mkdtemp(prefix="gankit-modes-")) if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    run_best = not args.no_best and all(BEST[d] in preset_names() for d in datasets)

    rows: list[str] = list(objectives) + (["best"] if run_best else [])
    configs: dict = {}
    notes: dict = {}
    for ds in datasets:
        for o in objectives:
            data, src = row_config(o, ds, steps, args.ema)
            cfg = load_config(data)
            configs[(o, ds)] = data
            notes[(o, ds)] = (describe_optim(cfg), src)
        if run_best:
            data, src = best_config(ds, best_steps)
            cfg = load_config(data)
            configs[("best", ds)] = data
            notes[("best", ds)] = (describe_model(cfg) + "; " + describe_optim(cfg) +
                                   f"; objective {cfg.objective.name}", src)
    first_obj = load_config(configs[(objectives[0], datasets[0])]) if objectives else None

    tasks = [{"row": r, "dataset": ds, "seed": s, "config": configs[(r, ds)], "threads": args.threads,
              "keep_samples": s == 0, "n_sample_seeds": args.sample_seeds, **({"drs": True} if r == "best" else {})}
             for (r, ds) in configs for s in range(seeds)]

    def cost(t: dict) -> float:  # longest first, so the pool ends together
        c = load_config(t["config"])
        per = c.objective.d_steps + 1 + (1 if "gp" in c.objective.name or c.objective.name == "dragan" else 0)
        return c.train.steps * per * (2 if c.model.arch.endswith("-ae") else 1) * c.data.batch_size ** 0.5

    # Seed by seed (a time limit leaves every cell with about as many seeds), longest first within a
    # seed (so the pool's workers end together).
    tasks.sort(key=lambda t: (t["seed"], -cost(t)))
    log_path = out / "modes_runs.jsonl"
    records: list[dict] = _reuse(log_path, tasks) if args.resume else []
    if not args.resume and log_path.exists():
        log_path.unlink()
    n_reused = len(records)
    done_keys = {(r["row"], r["dataset"], r["seed"]) for r in records}
    tasks = [t for t in tasks if (t["row"], t["dataset"], t["seed"]) not in done_keys]
    if args.batched_seeds:  # one unit per batchable (row, dataset): its remaining seeds, batched
        groups: dict = {}
        for t in tasks:
            if "drs" not in t and batchable(t["config"]):
                groups.setdefault((t["row"], t["dataset"]), []).append(t)
        grouped = [t for g in groups.values() if len(g) > 1 for t in g]
        tasks = ([{"group": g, "row": g[0]["row"], "dataset": g[0]["dataset"], "seed": g[0]["seed"]}
                  for g in groups.values() if len(g) > 1] + [t for t in tasks if t not in grouped])
    print(f"{len(tasks)} runs to do ({len(rows)} rows x {len(datasets)} datasets x {seeds} seeds"
          f"{f', {len(records)} reused' if records else ''}), {args.jobs} jobs -> {out}", flush=True)
    t_start = time.perf_counter()
    deadline = None if args.time_limit is None else t_start + 60 * args.time_limit

    def finished(rec: dict, task: dict) -> None:
        rec["config"] = task["config"]
        with open(log_path, "a") as fh:  # at once: an interruption loses only the runs in flight
            fh.write(json.dumps(rec) + "\n")
        records.append(rec)
        _progress(len(records), n_reused + n_runs, rec, t_start)

    n_done = [0]
    n_runs = sum(len(t.get("group", [t])) for t in tasks)  # training runs to do (a batched group holds several)
    if args.jobs <= 1:
        for task in tasks:
            if deadline is not None and time.perf_counter() > deadline:
                break
            for rec, sub in run_task(task):
                n_done[0] += 1
                finished(rec, sub)
    else:
        import multiprocessing as mp
        from concurrent.futures import FIRST_COMPLETED, wait

        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=mp.get_context("spawn")) as pool:
            queue, running = list(tasks), {}
            while queue or running:
                while queue and len(running) < args.jobs and (deadline is None or time.perf_counter() < deadline):
                    task = queue.pop(0)
                    running[pool.submit(run_task, task)] = task
                if not running:
                    break
                ready, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in ready:
                    running.pop(fut)
                    for rec, sub in fut.result():
                        n_done[0] += 1
                        finished(rec, sub)
    wall = time.perf_counter() - t_start
    trained = list(records)  # one per training run (the DRS rows below reuse the best rows' runs)
    if not records:
        print("no run finished; nothing to write")
        return 1

    # The best rows also sampled by discriminator rejection sampling: a row of its own, from the same runs.
    drs_records = [{**r["drs"], "row": DRS_ROW, "dataset": r["dataset"], "seed": r["seed"],
                    "error": r["drs"].get("drs_error")} for r in records if r["row"] == "best" and r.get("drs")]
    for r in records:
        if r.get("drs"):
            r["drs"] = {k: v for k, v in r["drs"].items() if k != "samples"}  # the DRS row holds them
    if drs_records:
        rows.append(DRS_ROW)
        for ds in datasets:
            configs[(DRS_ROW, ds)] = configs[("best", ds)]
            notes[(DRS_ROW, ds)] = (f"the best rows' trained G and D; D calibrated {DRS_CALIBRATE} steps against "
                                    "the fixed G, then discriminator rejection sampling (exact rule, gamma = 0)",
                                    "gankit.explore.rejection")
        records = records + drs_records
    records.sort(key=lambda r: (rows.index(r["row"]), datasets.index(r["dataset"]), r["seed"]))
    summary = {}
    for key in configs:
        recs = [r for r in records if (r["row"], r["dataset"]) == key]
        if recs:
            summary[key] = summarize(recs)
    samples = {(r["row"], r["dataset"]): r.pop("samples") for r in records if "samples" in r}
    for r in records:
        r.pop("config", None)  # modes.json lists the configurations once
    modes, std = {}, {}
    for ds in datasets:
        dist = load_dataset(load_config(ds).data, "train")
        modes[ds], std[ds] = dist.modes.tolist(), dist.std
    plot(out / "modes_samples.png", rows, datasets, samples, modes, std)

    import torch

    command = "python benchmarks/modes.py" + ("" if argv is None and len(sys.argv) == 1 else " ") + \
        " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    meta = {
        "command": ".venv/bin/" + command.strip(), "wall_minutes": wall / 60, "jobs": args.jobs,
        "reused": n_reused, "runs": len(trained),
        "train_hours": sum(r["seconds"] + (r.get("drs") or {}).get("seconds", 0.0) for r in trained) / 3600,
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "cpu": cpu_model(), "cores": os.cpu_count(),
        "torch": torch.__version__, "gankit": gankit.__version__, "seeds": seeds, "sample_seeds": args.sample_seeds,
        "seeds_done": min(s["seeds"] for s in summary.values()), "resumed": args.resume, "python": platform.python_version(),
        "architecture": describe_model(first_obj) if first_obj is not None else "-",
        "objectives": objectives, "datasets": datasets,
    }
    meta["headline_notes"] = _headline_notes(summary, datasets, run_best)
    write_markdown(out / "modes.md", meta, rows, datasets, summary, notes)
    payload = {"meta": meta, "summary": [{"row": r, "dataset": d, **s} for (r, d), s in summary.items()],
               "configs": [{"row": r, "dataset": d, "config": c, "settings": notes[(r, d)][0],
                            "from": notes[(r, d)][1]} for (r, d), c in configs.items()],
               "runs": records}
    tmp = out / "modes.json.tmp"
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(out / "modes.json")
    print(f"wrote {out / 'modes.md'} ({wall / 60:.1f} min)")
    print((out / "modes.md").read_text())
    return 0


def read_runs(path: Path) -> list[dict]:
    """The run records of a ``*_runs.jsonl`` log; a line cut short by a crash is skipped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def canonical_config(data: Optional[dict]) -> Optional[str]:
    """A run's configuration as a comparable key: read through the current defaults (a config key added
    since, whose default changes nothing, keeps old runs; one whose default changes runs takes its legacy
    value, ``gankit.config.stored_config``) and without ``name`` and ``description``, which do not change
    a run. None for a missing or no longer valid configuration (a key since renamed)."""
    from gankit.config import stored_config
    from gankit.errors import GankitError

    if data is None:
        return None
    try:
        full = stored_config(data).to_dict()
    except GankitError:
        return None
    return json.dumps({k: v for k, v in full.items() if k not in ("name", "description")}, sort_keys=True)


def _reuse(log_path: Path, tasks: list[dict]) -> list[dict]:
    """Finished runs from an earlier (interrupted) invocation whose configuration is unchanged."""
    wanted = {(t["row"], t["dataset"], t["seed"]): (canonical_config(t["config"]), sample_seeds(t)) for t in tasks}
    kept: dict = {}
    for rec in read_runs(log_path):
        key = (rec.get("row"), rec.get("dataset"), rec.get("seed"))
        # a record without per_sample_seed was scored on 10000 + seed alone
        scored_on = [p["sample_seed"] for p in rec.get("per_sample_seed", [])] or [10_000 + (rec.get("seed") or 0)]
        if key in wanted and (canonical_config(rec.get("config")), scored_on) == wanted[key] \
                and (rec.get("row") != "best" or "drs" in rec):
            kept[key] = rec
    return list(kept.values())


def _headline_notes(summary: dict, datasets: list[str], run_best: bool) -> list[str]:
    if not run_best:
        return ["The best-configuration rows were not run."]
    lines = []
    for row, how in (("best", "plain generator samples (the protocol)"),
                     (DRS_ROW, "discriminator rejection sampling (not the protocol's plain sampling)")):
        have = [ds for ds in datasets if (row, ds) in summary]
        met = [ds for ds in have if summary[(row, ds)]["target_met"]]
        missed = [ds for ds in have if ds not in met]
        if met:
            lines.append(f"With {how}: target met on {', '.join(met)}: all modes and >= 95% high-quality samples "
                         f"on every seed run.")
        if missed:
            lines.append(f"With {how}: **target not met on {', '.join(missed)}**: at least one seed misses a mode "
                         f"or falls below 95% high-quality samples (see min).")
    return lines


def _progress(i: int, n: int, rec: dict, t_start: float) -> None:
    hq = 100 * rec["high_quality"]
    err = f"  ERROR {rec['error']}" if rec.get("error") else ""
    print(f"[{i:3d}/{n}] {time.perf_counter() - t_start:6.0f}s  {rec['row']:>8s} {rec['dataset']:4s} "
          f"seed {rec['seed']}: {rec['modes']:2d}/{rec['n_modes']} modes, {hq:5.1f}% HQ "
          f"({rec['seconds']:.0f}s){err}", flush=True)



if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    raise SystemExit(main())
