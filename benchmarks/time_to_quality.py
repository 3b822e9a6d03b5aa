"""docs/benchmarks.md section 4: sample quality at a fixed CPU budget (time to quality).

DCGAN (preset ``fashion-dcgan``) on Fashion-MNIST, trained for the longest budget in ONE run per
system; the generator is copied when the training clock passes each budget (default 5, 10, 20
minutes) and every copy is scored afterwards, outside the clock: 10,000 samples against the
10,000 test images, features of the shipped Fashion-MNIST classifier, FID, precision/recall (k=3)
and density/coverage (k=5). Systems:

- ``gankit``: gankit's own loop (``Trainer.fit``, logging and failure monitor included, no run folder
  on disk), sampling from the EMA generator the preset keeps (decay 0.999) as ``gankit sample`` does;
  the raw generator of the same run is scored too.
- ``plain``: the plain PyTorch DCGAN-example loop of ``benchmarks/plain_loop.py`` (docs/benchmarks.md
  section 3's baseline), on identical networks from the same initial weights, same batch size, Adam
  settings and data.

Both sample in eval mode (BatchNorm running statistics) and their samples are quantized to uint8
as saved images are. Usage::

    nice .venv/bin/python benchmarks/time_to_quality.py                   # the protocol: 5,10,20 min (~50 min)
    nice .venv/bin/python benchmarks/time_to_quality.py --minutes 0.5,1   # a check; writes *_check.*

Writes ``benchmarks/results/time_to_quality.{md,json}`` and sample grids in
``benchmarks/results/time_to_quality/`` (``_check`` suffixed for other budgets).
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import platform
import signal
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from machine import cpu_model  # noqa: E402
from plain_loop import PlainLoop  # noqa: E402

import gankit  # noqa: E402
from gankit.config import load_config  # noqa: E402
from gankit.data import load_dataset  # noqa: E402
from gankit.metrics.evaluate import SampleSet, score  # noqa: E402
from gankit.nets import build_nets  # noqa: E402
from gankit.report.grid import save_grid  # noqa: E402
from gankit.training.loop import Trainer  # noqa: E402

PROTOCOL_MINUTES = (5.0, 10.0, 20.0)
METRICS = "fid,pr,dc"
KEYS = ("fid", "precision", "recall", "density", "coverage")


class BudgetClock:
    """Wall-clock training time with deadlines; the time spent taking a snapshot is not counted."""

    def __init__(self, minutes: list[float]) -> None:
        self.deadlines = sorted(m * 60.0 for m in minutes)
        self.t0: Optional[float] = None
        self.paused = 0.0
        self.snapshots: list[dict] = []

    def start(self) -> None:
        if self.t0 is None:
            self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0 - self.paused

    @property
    def done(self) -> bool:
        return not self.deadlines

    def check(self, steps: int, take: Callable[[], dict]) -> None:
        """At a passed deadline, store ``take()`` (copies of generator weights) with the time and step."""
        while self.deadlines and self.elapsed() >= self.deadlines[0]:
            t = time.perf_counter()
            budget = self.deadlines.pop(0)
            self.snapshots.append({"budget_s": budget, "elapsed_s": round(self.elapsed(), 2), "steps": steps,
                                   "weights": take()})
            self.paused += time.perf_counter() - t


def _copy_state(module: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class TimedTrainer(Trainer):
    """gankit's Trainer whose ``fit`` stops after the last deadline, snapshotting G on the way."""

    def __init__(self, cfg, clock: BudgetClock) -> None:
        super().__init__(cfg, run=None, progress=False)
        self.clock = clock

    def iteration(self, want_stats: bool) -> dict:
        self.clock.start()
        stats = super().iteration(want_stats)
        self.clock.check(self.step, lambda: {"ema": _copy_state(self.G_show), "G": _copy_state(self.G)})
        if self.clock.done:
            self._stop = "time budget reached"  # fit() finishes this iteration, then stops
        return stats


def train_gankit(cfg, minutes: list[float], init: dict) -> list[dict]:
    clock = BudgetClock(minutes)
    trainer = TimedTrainer(cfg, clock)
    for name, net in (("G", trainer.G), ("D", trainer.D)):  # the plain loop starts from these weights too
        assert all(torch.equal(v, init[name][k]) for k, v in net.state_dict().items()), name
    run_budgeted(trainer, clock)
    return clock.snapshots


def run_budgeted(trainer, clock: BudgetClock) -> None:
    """``trainer.fit()`` until ``clock``'s last budget (the trainer stops itself there)."""
    trainer.cfg.train.steps = 10**9
    try:
        trainer.fit()
    except KeyboardInterrupt:
        if not clock.done:
            raise
    finally:  # fit() installs a graceful Ctrl-C handler; give Ctrl-C back to Python
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _train_system(system: str, overrides: list[str], minutes: list[float], threads: int) -> list[dict]:
    """One system's timed run in a worker process (``--parallel``): rebuilt from the preset and seed, so
    it starts from the same initial weights as the other worker."""
    torch.set_num_threads(threads)
    cfg = load_config("fashion-dcgan", overrides)
    first = Trainer(copy.deepcopy(cfg), progress=False)
    ctx = {"init": {"G": _copy_state(first.G), "D": _copy_state(first.D)}, "spec": first.spec, "data": first.data}
    del first
    if system == "gankit":
        return train_gankit(cfg, minutes, ctx["init"])
    return train_plain(cfg, minutes, ctx)


def train_plain(cfg, minutes: list[float], ctx: dict) -> list[dict]:
    torch.manual_seed(cfg.train.seed)
    G, D = build_nets(cfg.model, ctx["spec"])
    G.load_state_dict(ctx["init"]["G"])  # the same initial weights as gankit's run
    D.load_state_dict(ctx["init"]["D"])
    data = ctx["data"].to_model(ctx["data"].x).contiguous()  # [60000, 1, 28, 28] in [-1, 1]
    plain = PlainLoop(G, D, data, cfg.data.batch_size, cfg.model.z_dim, cfg.train.g_optim, cfg.train.d_optim,
                      log_every=cfg.train.log_every)
    clock = BudgetClock(minutes)
    clock.start()
    while not clock.done:
        plain.step()
        clock.check(plain.iters, lambda: {"G": _copy_state(G)})
    return clock.snapshots


@torch.no_grad()
def samples(cfg, spec, weights: dict, n: int, seed: int) -> torch.Tensor:
    """``n`` uint8 images [n, C, H, W] from generator ``weights`` (eval mode, latents from ``seed``)."""
    G, _ = build_nets(cfg.model, spec)
    G.load_state_dict(weights)
    G.eval()
    z = G.sample_z(n, torch.Generator().manual_seed(seed))
    x = torch.cat([G(chunk) for chunk in z.split(500)])
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def evaluate(cfg, spec, real: SampleSet, rows: list[dict], args, grids: Path, tag: str) -> None:
    for row in rows:
        x = samples(cfg, spec, row.pop("weights"), args.n, args.seed)
        fake = SampleSet(x=x, kind="image", name="model", source=row["system"])
        t = time.perf_counter()
        result = score(real, fake, metrics=METRICS, features=args.features, seed=args.seed, progress=False)
        row.update({k: result.get(k) for k in KEYS})
        row["eval_s"] = round(time.perf_counter() - t, 1)
        row["provenance"] = result["provenance"]
        grid = grids / f"{row['slug']}_{_fmt_min(row['budget_s'] / 60)}min{tag}.png"
        save_grid(x[:64].numpy(), grid, nrow=8)
        row["grid"] = f"{grids.name}/{grid.name}"  # relative to the results folder
        print(f"{row['system']:<28} {row['budget_s'] / 60:5.1f} min  step {row['steps']:>6}  "
              f"FID {row['fid']:.3f}  P {row['precision']:.3f}  R {row['recall']:.3f}  "
              f"D {row['density']:.3f}  C {row['coverage']:.3f}", flush=True)


def _fmt_min(m: float) -> str:
    return f"{m:g}".replace(".", "p")


def _features_words(meta: dict) -> str:
    if meta["extractor"] == "classifier:fashion_mnist":
        return (f"features of the shipped Fashion-MNIST classifier (sha256 `{meta['weights_sha256'][:16]}...`, "
                f"test accuracy {meta['classifier_accuracy']:.4f})")
    sha = f", sha256 `{meta['weights_sha256'][:16]}...`" if meta["weights_sha256"] else ""
    return f"features `{meta['extractor']}`{sha}"


def write_markdown(path: Path, rows: list[dict], meta: dict) -> None:
    lines = [
        "# Time to quality (docs/benchmarks.md section 4)",
        "",
        f"DCGAN (preset `fashion-dcgan`: z 100, width 64, batch 64, Adam 2e-4 betas (0.5, 0.999), "
        f"non-saturating loss) on Fashion-MNIST, {meta['threads']} torch thread(s), CPU: {meta['cpu']}; "
        f"{meta['date']}. One training run per system; the generator is copied when the training clock passes "
        f"each budget and scored afterwards. Scores: {meta['n']:,} samples (latent seed {meta['seed']}) against "
        f"the {meta['n_real']:,} test images, {_features_words(meta)}; "
        "FID (lower is better), precision/recall k=3, density/coverage k=5 (higher is better).",
        "",
        "| system | budget (min) | steps | img/s | FID | precision | recall | density | coverage | samples |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rate = r["steps"] * meta["batch_size"] / max(r["elapsed_s"], 1e-9)
        lines.append(f"| {r['system']} | {r['budget_s'] / 60:g} | {r['steps']} | {rate:.0f} | {r['fid']:.3f} | "
                     f"{r['precision']:.3f} | {r['recall']:.3f} | {r['density']:.3f} | {r['coverage']:.3f} | "
                     f"[grid]({r['grid']}) |")
    last = max(r["budget_s"] for r in rows)
    lines += ["", f"Samples after {last / 60:g} minutes (the first 64 of the scored 10,000):", ""]
    finals = [r for r in rows if r["budget_s"] == last]
    lines.append("| " + " | ".join(r["system"] for r in finals) + " |")
    lines.append("|" + "---|" * len(finals))
    lines.append("| " + " | ".join(f"![{r['system']}]({r['grid']})" for r in finals) + " |")
    lines += [
        "",
        "Notes:",
        "- `gankit` is `Trainer.fit` (the loop `gankit train` runs, with its periodic logging and failure "
        "monitor; no run folder, so no checkpoint or report writing), sampling from the EMA generator "
        "(decay 0.999) as `gankit sample` does; `gankit (G, no EMA)` is the raw generator of the same run.",
        "- `plain` is `benchmarks/plain_loop.py` (the PyTorch DCGAN example's loop), same networks from the "
        "same initial weights, batch size, Adam settings and data; it has no EMA.",
        "- Time is training wall-clock from the first step; copying the weights at a deadline is not counted; "
        "scoring happens after training. "
        + ("The systems trained at the same time, one process and one torch thread each, so each had one of "
           "the machine's 2 cores under the same load (a budget here is a budget of one core)."
           if meta.get("parallel") else
           "The systems ran one after the other on the same machine, so a change in the machine's load between "
           "them moves their step counts (see the steps and img/s columns)."),
        f"- Reproduce: `{meta['command']}`.",
    ]
    if meta.get("check"):
        lines.insert(2, f"**A check run with budgets {meta['minutes']} minutes, not the protocol's 5, 10, 20.**\n")
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", default="5,10,20", help="training budgets in minutes (default 5,10,20)")
    ap.add_argument("--n", type=int, default=10_000, help="samples per score (default 10000)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2: the protocol's 2 cores)")
    ap.add_argument("--seed", type=int, default=0, help="training and latent seed (default 0)")
    ap.add_argument("--systems", default="gankit,plain", help="which loops to run (default gankit,plain)")
    ap.add_argument("--out", default=str(HERE / "results"), help="results folder")
    ap.add_argument("--features", default="classifier", help="feature extractor (default: the shipped classifier)")
    ap.add_argument("--parallel", action="store_true",
                    help="train the systems at the same time, one process each (use with --threads 1: each "
                         "system gets one of the 2 cores, under the same machine load)")
    args = ap.parse_args()
    minutes = sorted(float(m) for m in args.minutes.split(","))
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    torch.set_num_threads(args.threads)
    check = tuple(minutes) != PROTOCOL_MINUTES or args.n != 10_000 or args.features != "classifier"
    tag = "_check" if check else ""
    out = Path(args.out)
    grids = out / "time_to_quality"
    grids.mkdir(parents=True, exist_ok=True)

    overrides = [f"train.threads={args.threads}", "train.device=cpu", f"train.seed={args.seed}"]
    cfg = load_config("fashion-dcgan", overrides)
    test = load_dataset(cfg.data, "test")
    real = SampleSet(x=test.x, kind="image", name=test.name, source=test.source, split="test", y=test.y,
                     num_classes=test.num_classes)
    # Trainer seeds torch with train.seed before building the nets: this one and the timed one start
    # from the same weights, which the plain loop copies.
    first = Trainer(copy.deepcopy(cfg), progress=False)
    ctx = {"init": {"G": _copy_state(first.G), "D": _copy_state(first.D)}, "spec": first.spec, "data": first.data}
    del first
    rows: list[dict] = []

    def add(system: str, slug: str, snaps: list[dict], which: str) -> None:
        for s in snaps:
            rows.append({"system": system, "slug": slug, "budget_s": s["budget_s"], "elapsed_s": s["elapsed_s"],
                         "steps": s["steps"], "weights": s["weights"][which]})

    snapshots: dict[str, list[dict]] = {}
    if args.parallel:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        print(f"training {' and '.join(systems)} at the same time for {minutes[-1]:g} min ...", flush=True)
        with ProcessPoolExecutor(len(systems), mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {s: pool.submit(_train_system, s, overrides, minutes, args.threads) for s in systems}
            snapshots = {s: f.result() for s, f in futures.items()}
    else:
        if "gankit" in systems:
            print(f"training gankit for {minutes[-1]:g} min ...", flush=True)
            snapshots["gankit"] = train_gankit(copy.deepcopy(cfg), minutes, ctx["init"])
        if "plain" in systems:
            print(f"training the plain loop for {minutes[-1]:g} min ...", flush=True)
            snapshots["plain"] = train_plain(copy.deepcopy(cfg), minutes, ctx)
    if "gankit" in snapshots:
        add("gankit (EMA G)", "gankit_ema", snapshots["gankit"], "ema")
        add("gankit (G, no EMA)", "gankit_G", snapshots["gankit"], "G")
    if "plain" in snapshots:
        add("plain", "plain", snapshots["plain"], "G")
    rows.sort(key=lambda r: (r["budget_s"], r["system"]))
    print("scoring ...", flush=True)
    evaluate(cfg, ctx["spec"], real, rows, args, grids, tag)
    prov = rows[0]["provenance"]
    meta = {"minutes": minutes, "check": check, "n": args.n, "n_real": prov["n_real"], "seed": args.seed,
            "threads": args.threads, "parallel": args.parallel, "batch_size": cfg.data.batch_size, "cpu": cpu_model(),
            "extractor": prov["extractor"], "weights_sha256": prov["weights_sha256"], "classifier_accuracy": prov.get("classifier_test_accuracy"),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(),
            "torch": torch.__version__, "gankit": gankit.__version__,
            "command": "nice .venv/bin/python benchmarks/time_to_quality.py " + " ".join(sys.argv[1:])}
    (out / f"time_to_quality{tag}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    write_markdown(out / f"time_to_quality{tag}.md", rows, meta)
    print(f"wrote {out / f'time_to_quality{tag}.md'}")
    return 0



if __name__ == "__main__":
    sys.exit(main())
