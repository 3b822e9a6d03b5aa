"""docs/benchmarks.md section 3: training throughput of gankit's loop against a plain PyTorch loop.

For each model (the 2D MLP GAN of preset ``ring``, DCGAN 28x28 of preset ``fashion-dcgan``) one process
builds gankit's ``Trainer`` and the plain DCGAN-example loop of ``benchmarks/plain_loop.py`` on identical
networks (same architecture, same initial weights, batch size, Adam settings, data), warms both up, then
times them alternately (ABBA order: a b, b a, a b, ...) over several repeats. It reports images/second,
the median, the ratio gankit / plain, the FLOPs of one training step (torch.utils.flop_counter on the
plain step: one D step + one G step) and the machine's measured fp32 matmul rate, whose quotient is the
ceiling.

    .venv/bin/python benchmarks/throughput.py            # full run, writes benchmarks/results/throughput.{md,json}
    .venv/bin/python benchmarks/throughput.py --quick    # smoke check (short repeats)
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from machine import cpu_model  # noqa: E402
from plain_loop import PlainLoop  # noqa: E402

from gankit.config import load_config  # noqa: E402
from gankit.data import load_dataset  # noqa: E402
from gankit.errors import GankitError  # noqa: E402
from gankit.nets import build_nets  # noqa: E402
from gankit.training.loop import Trainer  # noqa: E402

# The faster path: each option is a gankit row beside the plain loop, in the same ABBA rotation.
OPTIONS = {  # name -> (overrides, image nets only)
    "bf16": (["train.precision=bf16"], False),
    "channels_last": (["train.channels_last=true"], True),
    "foreach": (["train.optim_impl=foreach"], False),
    "fused": (["train.optim_impl=fused"], False),
    "compile": (["train.compile=true"], False),
    "fast": (["train.precision=bf16", "train.channels_last=true", "train.optim_impl=fused"], False),
}
# Many seeds in one process (`gankit train PRESET --seeds 0-9`): SEEDS runs of a toy model as one batched
# computation (gankit.training.multiseed), timed through its own fit(); its images/s count every seed's batch.
SEEDS = 10
SEEDS_OPTIONS = {f"seeds{SEEDS}": [], f"seeds{SEEDS}_fused": ["train.optim_impl=fused"]}
DEFAULT_OPTIONS = "bf16,channels_last,fused,fast," + ",".join(SEEDS_OPTIONS)

MODELS = {  # preset -> (label, target seconds per repeat per loop, overrides for the benchmark)
    "ring": ("2D MLP GAN (ring)", 3.5, []),
    # A DCGAN step takes ~0.2 s here: logging every 25 steps (the preset: 50) allows repeats of 25 steps,
    # so 5 repeats of 3 loops fit the time budget. Logging more often only costs gankit (conservative).
    "fashion-dcgan": ("DCGAN 28x28 (Fashion-MNIST)", 5.0, ["train.log_every=25"]),
}


# --------------------------------------------------------------------------- machine



def matmul_rate(n: int = 2048, repeats: int = 7) -> dict:
    """Best fp32 ``torch.mm`` rate of n x n by n x n, in FLOP/s (2 n^3 per product)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    flops = 2.0 * n ** 3
    return {"n": n, "repeats": repeats, "best_s": min(times), "median_s": statistics.median(times),
            "flop_per_s": flops / min(times), "flop_per_s_median": flops / statistics.median(times)}


# --------------------------------------------------------------------------- one model


def build_config(preset: str, threads: int, extra: list[str]):
    """The preset's config, falling back to random images of Fashion-MNIST's shape when it is missing."""
    overrides = [f"train.threads={threads}", "train.device=cpu", *extra]
    cfg = load_config(preset, overrides)
    note = ""
    try:
        load_dataset(cfg.data, "train")
    except GankitError as exc:
        if cfg.data.name != "fashion_mnist":
            raise
        import numpy as np

        path = Path(tempfile.mkdtemp()) / "random_fashion_shape.npz"
        rng = np.random.default_rng(0)
        np.savez(path, x=rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8),
                 y=rng.integers(0, 10, 60000))
        cfg = load_config(preset, overrides + ["data.name=npz", f"data.path={path}"])
        note = (f"Fashion-MNIST was not found ({str(exc).splitlines()[0][:120]}...); random uint8 images "
                f"of the same shape [60000, 1, 28, 28] were used instead")
    return cfg, note


def plain_data(trainer: Trainer, n_toy: int = 100_000) -> torch.Tensor:
    """The training data as one in-memory float32 tensor in model space."""
    data = trainer.data
    if hasattr(data, "sample"):  # an infinite toy distribution: a large fixed sample of it
        return data.sample(n_toy, torch.Generator().manual_seed(1)).contiguous()
    return data.to_model(data.x).contiguous()


def time_gankit(trainer: Trainer, steps: int) -> float:
    """Seconds for ``trainer.fit()`` to run ``steps`` more generator steps (its real loop, logging included)."""
    trainer.cfg.train.steps = trainer.step + steps
    t0 = time.perf_counter()
    trainer.fit()
    return time.perf_counter() - t0


def multiseed_loop(preset: str, threads: int, overrides: list[str], seeds: int):
    """``seeds`` runs of ``preset`` (seeds 0..seeds-1) batched in one MultiSeedTrainer, without run folders;
    returns the function that times ``steps`` more iterations of all of them through its ``fit()``."""
    from gankit.training.multiseed import batch_new_runs

    multi = batch_new_runs([build_config(preset, threads, overrides + [f"train.seed={seed}"])[0]
                            for seed in range(seeds)], progress=False)

    def timed(steps: int) -> float:
        multi.cfg.train.steps = multi.step + steps
        t0 = time.perf_counter()
        multi.fit()
        return time.perf_counter() - t0
    return timed


def time_plain(plain: PlainLoop, steps: int) -> float:
    t0 = time.perf_counter()
    plain.run(steps)
    return time.perf_counter() - t0


def step_flops(plain: PlainLoop) -> dict:
    """FLOPs of one plain training step (one D step + one G step, forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        plain.step()
    by_op = {str(k): int(v) for k, v in counter.get_flop_counts().get("Global", {}).items()}
    return {"total": int(counter.get_total_flops()), "by_op": by_op}


def bench_model(preset: str, args, rate: float) -> dict:
    label, seconds, extra = MODELS[preset]
    seconds = args.seconds if args.seconds else (0.6 if args.quick else seconds)
    # gankit runs with train.ema=0 so that both loops do the same work; the EMA is timed apart. The final
    # scoring (eval.final) would score at the end of every timed repeat: it is not the loop's cost, so off.
    overrides = ["train.ema=0", "eval.final=false", *extra]
    cfg, note = build_config(preset, args.threads, overrides)
    log_every = cfg.train.log_every
    torch.manual_seed(cfg.train.seed)
    trainer = Trainer(cfg, progress=False)
    data = plain_data(trainer)

    def plain_copy(freeze_d_in_g: bool) -> PlainLoop:
        # The plain loop trains copies of the same networks, from the same initial weights.
        G, D = build_nets(cfg.model, trainer.spec)
        G.load_state_dict(trainer.G.state_dict())
        D.load_state_dict(trainer.D.state_dict())
        for p, q in zip([*G.parameters(), *D.parameters()], [*trainer.G.parameters(), *trainer.D.parameters()]):
            assert torch.equal(p, q)
        return PlainLoop(G, D, data, cfg.data.batch_size, cfg.model.z_dim, cfg.train.g_optim,
                         cfg.train.d_optim, log_every=log_every, freeze_d_in_g=freeze_d_in_g)

    plain, plain_frozen = plain_copy(False), plain_copy(True)
    loops = {"plain": lambda n: time_plain(plain, n), "gankit": lambda n: time_gankit(trainer, n),
             "plain_frozen_d": lambda n: time_plain(plain_frozen, n)}
    option_overrides = {}
    seeds_per_step = {}  # loop -> runs trained per timed step (the many-seeds row: SEEDS)
    for name in [o for o in args.options.split(",") if o]:
        if name in SEEDS_OPTIONS:
            if trainer.spec.kind == "image":
                continue  # many seeds in one process is for small (toy) models: multiseed.check_supported
            torch.manual_seed(cfg.train.seed)
            loops[f"gankit_{name}"] = multiseed_loop(preset, args.threads, overrides + SEEDS_OPTIONS[name], SEEDS)
            option_overrides[f"gankit_{name}"] = [f"--seeds 0-{SEEDS - 1}", *SEEDS_OPTIONS[name]]
            seeds_per_step[f"gankit_{name}"] = SEEDS
            continue
        extra_o, images_only = OPTIONS[name]
        if images_only and trainer.spec.kind != "image":
            continue
        torch.manual_seed(cfg.train.seed)
        cfg_o, _ = build_config(preset, args.threads, overrides + extra_o)
        fast = Trainer(cfg_o, progress=False)
        loops[f"gankit_{name}"] = (lambda t: lambda n: time_gankit(t, n))(fast)
        option_overrides[f"gankit_{name}"] = extra_o
    names = list(loops)
    flops = step_flops(plain)
    ema_us = ema_cost_us(trainer) if load_config(preset).train.ema > 0 else None

    # Warm-up (allocator, first-call costs, gankit's first-log real-data spread). gankit runs whole
    # multiples of log_every so that every repeat logs the same number of times (fit also logs at its
    # last step). Then the steps per repeat are calibrated on the plain loop's speed.
    for name, fn in loops.items():
        fn(log_every if name == "gankit" else min(log_every, 10))
    n_cal, t_cal = 2, 0.0
    while t_cal < (0.3 if args.quick else 1.0):
        n_cal *= 2
        t_cal = loops["plain"](n_cal)
    steps = max(log_every, round(seconds * n_cal / t_cal / log_every) * log_every)
    print(f"[{preset}] {label}: batch {cfg.data.batch_size}, {steps} steps per repeat "
          f"(~{seconds:g} s), {args.repeats} repeats, loops {', '.join(loops)}", flush=True)

    times: dict = {k: [] for k in loops}
    partial = False
    for r in range(args.repeats):
        if args.time_limit and time.perf_counter() - args.t_start > args.time_limit and r >= 1:
            partial = True  # --time-limit: the repeats so far are the result, marked partial
            print(f"  --time-limit reached after {r} repeats: partial", flush=True)
            break
        order = names if r % 2 == 0 else names[::-1]  # ABBA: cancels slow drifts in machine load
        for name in order:
            times[name].append(loops[name](steps))
        print("  repeat %d: %s" % (r + 1, ", ".join(
            f"{k} {cfg.data.batch_size * seeds_per_step.get(k, 1) * steps / times[k][-1]:.0f} img/s"
            for k in names)), flush=True)

    breakdown = overhead_breakdown(trainer, plain)
    B = cfg.data.batch_size
    result = {"preset": preset, "label": label, "data": trainer.data.name, "data_note": note,
              "batch_size": B, "log_every": log_every, "overrides": overrides, "steps_per_repeat": steps, "repeats": args.repeats,
              "order": "ABBA (" + "/".join(names) + ", then reversed, ...)",
              "params_G": sum(p.numel() for p in trainer.G.parameters()),
              "params_D": sum(p.numel() for p in trainer.D.parameters()),
              "step_flops": flops["total"], "step_flops_by_op": flops["by_op"],
              "preset_ema": load_config(preset).train.ema, "ema_update_us": ema_us,
              "overhead_breakdown": breakdown, "loops": {}, "option_overrides": option_overrides,
              "repeats_done": len(times["plain"]), "partial": partial}
    ceiling_steps = rate / flops["total"] if flops["total"] else float("inf")
    result["ceiling_steps_per_s"] = ceiling_steps
    result["ceiling_img_per_s"] = ceiling_steps * B
    for name, ts in times.items():
        ips = [B * seeds_per_step.get(name, 1) * steps / t for t in ts]
        med = statistics.median(ips)
        result["loops"][name] = {"seconds": ts, "img_per_s": ips, "img_per_s_median": med,
                                 "steps_per_s_median": med / B,
                                 "us_per_step_median": 1e6 * statistics.median(ts) / steps,
                                 "seeds_per_step": seeds_per_step.get(name, 1),
                                 "fraction_of_ceiling": med / result["ceiling_img_per_s"]}
    for base in ("plain", "plain_frozen_d", "gankit"):
        suffix = {"plain": "", "plain_frozen_d": "_vs_frozen_d", "gankit": "_vs_gankit"}[base]
        for name in names:
            if name == base or (base == "gankit" and not name.startswith("gankit_")):
                continue
            lr, lb = result["loops"][name], result["loops"][base]
            per_repeat = [g / p for g, p in zip(lr["img_per_s"], lb["img_per_s"])]
            lr["ratio_median" + suffix] = lr["img_per_s_median"] / lb["img_per_s_median"]
            lr["ratio_per_repeat" + suffix] = per_repeat
            lr["ratio_per_repeat_median" + suffix] = statistics.median(per_repeat)
    return result


def best_us(fn, calls: int, repeats: int = 5) -> float:
    """Best over ``repeats`` of the mean microseconds per call of ``fn`` (best-of: the machine is shared)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return 1e6 * best


def overhead_breakdown(trainer: Trainer, plain: PlainLoop) -> dict:
    """Microseconds per training step of what gankit's loop does beyond the plain loop's work."""
    from gankit.training.run_setup import grad_norm as _grad_norm

    B, every = trainer.batch_size, trainer.cfg.train.log_every
    data = plain.data
    stats = trainer.iteration(want_stats=True)
    out = {
        "batch: gankit sampler.next()": best_us(trainer.sampler.next, 200),
        "batch: plain data[randint]": best_us(lambda: data[torch.randint(len(data), (B,))], 200),
        "D.requires_grad_ off and on (every step)": best_us(
            lambda: (trainer.D.requires_grad_(False), trainer.D.requires_grad_(True)), 200),
    }
    per_log = {
        "grad norms of G and D": best_us(lambda: (_grad_norm(trainer.g_params), _grad_norm(trainer.d_params)), 50),
        "finite check + monitor": best_us(lambda: trainer.monitor.update(trainer._check_finite(stats, None), 1.0), 50),
        "diversity of 64 fixed samples": best_us(trainer.diversity, 10),
    }
    for k, v in per_log.items():
        out[f"log, {k} (per log / {every} steps)"] = v / every
    return {"us_per_step": out, "us_per_log": per_log}


def ema_cost_us(trainer: Trainer, calls: int = 50) -> float:
    """Microseconds of one EMA update of G (the preset's ``train.ema``; timed apart, on a throwaway EMA)."""
    from gankit.training.ema import EMA

    ema = EMA(trainer.G, 0.999)
    ema.update(trainer.G, 1)
    t0 = time.perf_counter()
    for i in range(calls):
        ema.update(trainer.G, i + 2)
    return 1e6 * (time.perf_counter() - t0) / calls


# --------------------------------------------------------------------------- report


def fmt_flops(x: float) -> str:
    for unit, scale in (("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.0f} FLOP"


def write_markdown(out: Path, report: dict) -> None:
    m = report["machine"]
    lines = [
        "# Training throughput: gankit's loop against a plain PyTorch loop (docs/benchmarks.md section 3)",
        "",
        f"Command: `{report['command']}`" + ("  (**--quick: smoke check, not a result**)" if report["quick"] else ""),
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores (shared with other jobs); torch {m['torch']}, "
        f"{m['threads']} torch thread(s) for both loops; Python {m['python']}; {m['date']}. "
        f"Load of the other jobs: 1-minute load average {m['loadavg_start'][0]:.1f} at the start and "
        f"{m['loadavg_end'][0]:.1f} at the end; this process got {m['cpu_over_wall']:.0%} of one core over "
        f"its wall time (100% = a core to itself).",
        f"Measured fp32 matmul rate: **{m['matmul']['flop_per_s'] / 1e9:.1f} GFLOP/s** (best of "
        f"{m['matmul']['repeats']} `torch.mm` of {m['matmul']['n']}x{m['matmul']['n']} at the start, used for the "
        f"ceilings; median {m['matmul']['flop_per_s_median'] / 1e9:.1f}; best at the end "
        f"{m['matmul']['flop_per_s_end'] / 1e9:.1f}). With the machine shared, this rate moves with the other "
        "jobs' load as much as the loops' speeds do.",
        "",
        "Images/s = batch_size x steps / seconds, median over the repeats. The ratio column is gankit's "
        "images/s over that loop's, from the medians (in brackets: the median of the per-repeat ratios, each "
        "from runs back to back); the goal is >= 0.95 against the plain loop. "
        "Ceiling = matmul rate / FLOPs per step x batch size.",
        "",
    ]
    for r in report["models"]:
        lp, lg, lf = r["loops"]["plain"], r["loops"]["gankit"], r["loops"]["plain_frozen_d"]
        ceil = f"{r['ceiling_img_per_s']:,.0f}"
        fl = fmt_flops(r["step_flops"])
        lines += [
            f"## {r['label']}: preset `{r['preset']}`",
            "",
            f"Batch {r['batch_size']}; data `{r['data']}`; G {r['params_G']:,} and D {r['params_D']:,} "
            f"parameters; {r['repeats']} repeats of {r['steps_per_repeat']} steps per loop, order {r['order']}; "
            f"gankit logs every {r['log_every']} steps; overrides of the preset: "
            + ", ".join(f"`{o}`" for o in r["overrides"]) + ".",
            "",
            "| loop | images/s (median) | us/step | gankit / this loop | FLOPs/step | ceiling images/s | fraction of ceiling |",
            "|---|---:|---:|---:|---:|---:|---:|",
            f"| **plain PyTorch** (`benchmarks/plain_loop.py`, as the DCGAN example) | {lp['img_per_s_median']:,.0f} | "
            f"{lp['us_per_step_median']:,.0f} | **{lg['ratio_median']:.3f}** ({lg['ratio_per_repeat_median']:.3f}) | "
            f"{fl} | {ceil} | {lp['fraction_of_ceiling']:.1%} |",
            f"| plain PyTorch, D frozen in G's step (as gankit) | {lf['img_per_s_median']:,.0f} | "
            f"{lf['us_per_step_median']:,.0f} | {lg['ratio_median_vs_frozen_d']:.3f} "
            f"({lg['ratio_per_repeat_median_vs_frozen_d']:.3f}) | {fl} | {ceil} | {lf['fraction_of_ceiling']:.1%} |",
            f"| **gankit** `Trainer.fit()` | {lg['img_per_s_median']:,.0f} | {lg['us_per_step_median']:,.0f} | 1 | "
            f"{fl} | {ceil} | {lg['fraction_of_ceiling']:.1%} |",
        ]
        options = [n for n in r["loops"] if n.startswith("gankit_")]
        if options:
            lines += ["", f"The faster path, in the same rotation (`train.*` options on gankit's loop; ratio = this "
                      f"row's images/s over the plain loop's, from the medians, and in brackets the median of the "
                      f"per-repeat ratios; target >= 1.3 on DCGAN 28x28){' **(partial: --time-limit)**' if r.get('partial') else ''}:", "",
                      "| gankit with | overrides | images/s (median) | us/step | this / plain | this / gankit fp32 | fraction of fp32 ceiling |",
                      "|---|---|---:|---:|---:|---:|---:|"]
            for n in options:
                lo = r["loops"][n]
                lines.append(f"| {n.removeprefix('gankit_')} | " + ", ".join(f"`{o}`" for o in r["option_overrides"][n])
                             + f" | {lo['img_per_s_median']:,.0f} | {lo['us_per_step_median']:,.0f} | "
                             f"**{lo['ratio_median']:.3f}** ({lo['ratio_per_repeat_median']:.3f}) | "
                             f"{lo['ratio_median_vs_gankit']:.3f} | {lo['fraction_of_ceiling']:.1%} |")
            many = [n for n in options if r["loops"][n].get("seeds_per_step", 1) > 1]
            if many:
                S = r["loops"][many[0]]["seeds_per_step"]
                lines += ["", f"Rows `seeds{S}*`: {S} independent runs (seeds 0-{S - 1}) trained as one batched "
                          f"computation in this process (`gankit train {r['preset']} --seeds 0-{S - 1}`, timed "
                          f"through `MultiSeedTrainer.fit()`); their images/s count all {S} seeds' batches and "
                          f"their us/step is one iteration of all of them. Against one run of gankit fp32: "
                          + "; ".join(f"`{n.removeprefix('gankit_')}` **{r['loops'][n]['ratio_median_vs_gankit']:.2f}x**"
                                      f" the images/s, i.e. {S} runs take **{1 / r['loops'][n]['ratio_median_vs_gankit']:.2f}x**"
                                      f" the time of {S} runs one after the other" for n in many)
                          + f" (issue 12's target: <= 0.3x, i.e. >= {1 / 0.3:.2f}x images/s)."]
        if r.get("ema_update_us") is not None:
            lines += ["", f"The preset also keeps an EMA of G (`train.ema={r['preset_ema']}`), off in the rows above; "
                      f"one EMA update costs {r['ema_update_us']:,.0f} us, i.e. "
                      f"{r['ema_update_us'] / lg['us_per_step_median']:.2%} of gankit's step."]
        bd = r["overhead_breakdown"]["us_per_step"]
        lines += ["", f"Where gankit's step differs from the plain loop's (microbenchmarks, best of 5, us per "
                  f"training step; gankit's step is {lg['us_per_step_median']:,.0f} us): " + "; ".join(
                      f"{k}: {v:,.1f}" for k, v in bd.items())]
        pr = lg["ratio_per_repeat"]
        lines += ["", f"Per-repeat ratio gankit / plain: {', '.join(f'{v:.3f}' for v in pr)} (min {min(pr):.3f}, "
                  f"max {max(pr):.3f}); the spread is the shared machine's noise, not the loops'."]
        lines += ["", "Per repeat, images/s: " + "; ".join(
            f"{k}: " + ", ".join(f"{v:,.0f}" for v in lr["img_per_s"]) for k, lr in r["loops"].items()), ""]
        top = sorted(r["step_flops_by_op"].items(), key=lambda kv: -kv[1])
        lines += ["FLOPs per step by op: " + ", ".join(f"`{k}` {fmt_flops(v)}" for k, v in top), ""]
        if r["data_note"]:
            lines += [f"**Data:** {r['data_note']}.", ""]
    lines += [
        "## What is timed, and what is not",
        "",
        "- Both loops train the same `gankit.nets.build_nets` networks from the same initial weights "
        "(`load_state_dict`), same batch size and Adam settings, with the preset's loss (non-saturating; "
        "`BCEWithLogitsLoss` in the plain loop, softplus terms in gankit: the same math), fresh noise "
        "every step, 1 D step per G step.",
        "- gankit runs with `train.ema=0` so that both loops do the same work; the preset's EMA of G (where "
        "it has one) is timed apart, per update.",
        "- gankit is timed through `Trainer.fit()` with `train.steps` set, so its real loop is measured: the "
        "phase schedule, the objective's `d_step`/`g_step` (G's step reuses the last D step's fakes), "
        "D's `requires_grad_` toggling, the data sampler, and at every `log_every` step the gradient norms, "
        "the finite check, the diversity of 64 fixed samples and the monitor. The progress bar is off "
        "(`progress=False`).",
        "- `run=None`: no run directory, so **snapshots, checkpoints, the JSONL log and the HTML report are "
        "not in the timed path** (they run every `sample_every`/`checkpoint_every` steps in a real run).",
        "- Data: gankit draws batches through its `BatchSampler` (a per-epoch permutation of uint8 images, "
        "converted to float per batch; fresh samples per batch for the toy ring); the plain loop indexes a "
        "float32 tensor held in memory (for the ring: a fixed sample of 100,000 points). No DataLoader in either.",
        "- The plain loop computes D's weight gradients in the G step (as the DCGAN example does, and throws "
        "them away at the next `netD.zero_grad()`); gankit switches them off (`D.requires_grad_(False)`), "
        "which saves work. The second row does the same in the plain loop, so gankit / that row isolates "
        "the cost of gankit's loop itself. The FLOPs column counts the plain step as the example writes it.",
        "- FLOPs count matmuls and convolutions (forward and backward) as `FlopCounterMode` does; BatchNorm, "
        "activations, losses and Adam are not counted, so the ceiling is an upper bound for small models.",
        "- Threads: both loops use the same `torch.set_num_threads`. On this 2-core machine shared with other "
        "workers, 2 threads made small ops up to ~1000x slower while writing this benchmark (an OpenMP "
        "barrier waits for a descheduled thread: BatchNorm1d on [256, 128] took 48 ms instead of 50 us), so "
        "the default is 1 thread; the matmul rate is measured with the same setting.",
        "",
    ]
    out.write_text("\n".join(lines))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short repeats (smoke check); writes *_quick files")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per loop (default 5; 2 with --quick)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both loops (default 1)")
    ap.add_argument("--seconds", type=float, default=None, help="target seconds per repeat (default per model)")
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated presets ({', '.join(MODELS)})")
    ap.add_argument("--out", default=str(HERE / "results"), help="folder for throughput.md and throughput.json")
    ap.add_argument("--options", default=DEFAULT_OPTIONS,
                    help=f"faster-path rows to time beside the plain loop, comma-separated from {', '.join(OPTIONS)}, "
                         f"{', '.join(SEEDS_OPTIONS)} (toy models only) "
                         f"(default {DEFAULT_OPTIONS}; '' for none)")
    ap.add_argument("--time-limit", type=float, default=0, help="stop starting repeats after this many seconds "
                    "(at least 1 repeat per model); the result is marked partial")
    ap.add_argument("--resume", action="store_true", help="keep the models already in the output JSON "
                    "(not partial) and time only the others")
    args = ap.parse_args(argv)
    bad = [o for o in args.options.split(",") if o and o not in OPTIONS and o not in SEEDS_OPTIONS]
    if bad:
        ap.error(f"unknown --options {', '.join(bad)}; choose from {', '.join([*OPTIONS, *SEEDS_OPTIONS])}")
    args.repeats = args.repeats or (2 if args.quick else 5)
    torch.set_num_threads(args.threads)
    t_start, cpu_start, load_start = time.perf_counter(), time.process_time(), os.getloadavg()
    args.t_start = t_start
    out = Path(args.out)
    stem = "throughput_quick" if args.quick else "throughput"
    done: dict = {}
    if args.resume and (out / f"{stem}.json").is_file():
        done = {m["preset"]: m for m in json.loads((out / f"{stem}.json").read_text()).get("models", [])
                if not m.get("partial") and m.get("option_overrides") is not None}

    mm = matmul_rate(repeats=3 if args.quick else 7)
    print(f"fp32 matmul: {mm['flop_per_s'] / 1e9:.1f} GFLOP/s (best), {args.threads} thread(s)", flush=True)
    models = []
    for preset in args.models.split(","):
        if preset not in MODELS:
            ap.error(f"unknown model '{preset}'; choose from {', '.join(MODELS)}")
        if preset in done:
            print(f"[{preset}] kept from {out / stem}.json (--resume)", flush=True)
            models.append(done[preset])
            continue
        models.append(bench_model(preset, args, mm["flop_per_s"]))
        r = models[-1]
        lg = r["loops"]["gankit"]
        print(f"  -> plain {r['loops']['plain']['img_per_s_median']:,.0f} img/s, gankit "
              f"{lg['img_per_s_median']:,.0f} img/s: ratio {lg['ratio_median']:.3f} "
              f"(vs plain with D frozen: {lg['ratio_median_vs_frozen_d']:.3f})", flush=True)

    mm_end = matmul_rate(repeats=3 if args.quick else 7)
    mm["flop_per_s_start"], mm["flop_per_s_end"] = mm["flop_per_s"], mm_end["flop_per_s"]
    print(f"fp32 matmul at the end: {mm_end['flop_per_s'] / 1e9:.1f} GFLOP/s (best)", flush=True)
    report = {
        "command": " ".join([".venv/bin/python", "benchmarks/throughput.py", *(argv if argv is not None else sys.argv[1:])]),
        "quick": args.quick,
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "python": platform.python_version(),
                    "platform": platform.platform(),
                    "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                    "matmul": mm, "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
                    "cpu_over_wall": (time.process_time() - cpu_start) / (time.perf_counter() - t_start)},
        "models": models,
        "wall_seconds": time.perf_counter() - t_start,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(out / f"{stem}.md", report)
    print(f"wrote {out / stem}.md and .json in {report['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
