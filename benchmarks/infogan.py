"""Does InfoGAN's categorical code find the classes without labels? (Chen et al. 2016: 5% error on MNIST)

Trains ``digits-infogan`` (10-class code, 2 continuous codes, lambda 1 / 0.1) for ``--seeds`` seeds,
and, as the control, the same networks and code without the mutual-information term. Each run is
scored by :func:`gankit.explore.codes.code_cluster_accuracy`: the Q head's categorical prediction on
the real test split, mapped one-to-one to the true classes by the best assignment. (For the control,
whose D has no Q head, the code is read off G instead: the shipped classifier labels G's samples of
each code value, and the code -> class map is scored the same way; see ``generated_code_accuracy``.)
Both numbers are reported for the InfoGAN runs. The table also gives the chance level of the mapped
accuracy (random cluster labels, mapped at best), which is above 1/K for a finite test set, and what a
plain clustering of the same test images reaches (k-means on their pixels, 10 clusters, mapped alike): a
code that "matches the classes" should at least beat that.

    .venv/bin/python benchmarks/infogan.py --seeds 5 --resume
    .venv/bin/python benchmarks/infogan.py --preset fashion-infogan --seeds 1
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def kmeans_accuracy(x: np.ndarray, y: np.ndarray, k: int = 10, seeds: int = 3) -> float:
    """Mean over ``seeds`` of the best-mapped accuracy of k-means (scikit-learn, 10 restarts each) on the
    flattened pixels ``x`` against the classes ``y``: the non-GAN clustering baseline of the table."""
    from sklearn.cluster import KMeans

    from gankit.explore.codes import best_mapping_accuracy

    flat = x.reshape(len(x), -1).astype(np.float64)
    return float(np.mean([best_mapping_accuracy(KMeans(k, n_init=10, random_state=s).fit_predict(flat), y)[0]
                          for s in range(seeds)]))


@torch.no_grad()
def generated_code_accuracy(model, per_code: int = 200, seed: int = 0) -> float:
    """Draw ``per_code`` samples of each categorical code value; label them with the shipped
    classifier; the best one-to-one code -> class map's accuracy (how class-pure each code is)."""
    from gankit.explore.codes import best_mapping_accuracy
    from gankit.metrics.features import get_extractor

    G = model.G
    k = G.z_categories
    z = G.sample_z(k * per_code, torch.Generator().manual_seed(seed))
    codes = torch.arange(k).repeat_interleave(per_code)
    z[:, G.z_dim:G.z_dim + k] = torch.nn.functional.one_hot(codes, k).float()
    x = model.generate(z)
    x = ((x.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1  # quantized as saved samples
    extractor = get_extractor(None, dict(model.spec))
    _, logits = extractor(x)
    return best_mapping_accuracy(codes.numpy(), logits.argmax(1).numpy())[0]


def run(preset: str, seed: int, with_term: bool, workdir: Path, steps: Optional[int], extra: list) -> dict:
    import gankit
    from gankit.explore.codes import code_cluster_accuracy

    over = ["train.threads=1"] + list(extra) + ([] if with_term else ["objective.terms={}"])
    if steps:
        over.append(f"train.steps={steps}")
    tag = "-".join(e.replace("=", "") for e in extra).replace("/", "_")
    out = workdir / f"{preset}{'-' + tag if tag else ''}-{'info' if with_term else 'code'}-s{seed}"
    if out.exists():  # left by an invocation that stopped before recording it: train it again
        print(f"{out} is not in the results log: training it again", file=sys.stderr)
        shutil.rmtree(out)
    t0 = time.perf_counter()
    gankit.train(preset, over, out=out, seed=seed, progress=False)
    train_s = time.perf_counter() - t0
    model = gankit.load(out)
    rec = {"preset": preset, "seed": seed, "info_term": with_term, "overrides": over, "train_seconds": round(train_s, 1),
           "generated_code_accuracy": generated_code_accuracy(model, seed=seed)}
    if with_term:
        rec["q_cluster_accuracy"] = code_cluster_accuracy(model)["accuracy"]
    return rec


def _mean_se(values: list) -> str:
    if not values:
        return "n/a"
    m = float(np.mean(values))
    se = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else None
    return f"{m * 100:.1f}" + (f" ± {se * 100:.1f}" if se is not None else "") + f" (min {min(values) * 100:.1f})"


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="digits-infogan")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--seed-from", type=int, default=0, help="the first seed (seeds SEED_FROM .. SEED_FROM + SEEDS - 1)")
    p.add_argument("--steps", type=int)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a config override for every run (repeatable); the table and its file name say which")
    p.add_argument("--no-control", action="store_true", help="skip the runs without the term")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "gankit-infogan")
    p.add_argument("--sweep-table", type=Path, metavar="RUNS_JSONL",
                   help="only write a table of every --set variant recorded in this runs log (one row each)")
    args = p.parse_args(argv)
    if args.sweep_table:
        return sweep_table(args.sweep_table, args.out)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "infogan_runs.jsonl"
    done = []
    if args.resume and log.is_file():
        done = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    records = [r for r in done if r["preset"] == args.preset and (r.get("steps") == args.steps)
               and r.get("extra", []) == args.set]
    for seed in range(args.seed_from, args.seed_from + args.seeds):
        for with_term in (True,) if args.no_control else (True, False):
            if any(r["seed"] == seed and r["info_term"] == with_term for r in records):
                continue
            rec = run(args.preset, seed, with_term, args.workdir, args.steps, args.set)
            rec["steps"], rec["extra"] = args.steps, args.set
            with open(log, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            records.append(rec)
            print(json.dumps(rec), file=sys.stderr, flush=True)
    from gankit.config import load_config
    from gankit.data import load_dataset
    from gankit.explore.codes import best_mapping_accuracy

    test = load_dataset(load_config(args.preset).data, "test")
    test_y = test.y.numpy()
    kmeans = kmeans_accuracy(test.x.numpy(), test_y)
    rng = np.random.default_rng(0)
    chance = float(np.mean([best_mapping_accuracy(rng.integers(0, 10, len(test_y)), test_y)[0] for _ in range(20)]))
    info = [r for r in records if r["info_term"]]
    code = [r for r in records if not r["info_term"]]
    variant = " ".join(args.set)
    lines = [f"# InfoGAN's categorical code against the classes ({args.preset}{' ' + variant if variant else ''})", "",
             f"Command: `python benchmarks/infogan.py {' '.join(argv if argv is not None else sys.argv[1:])}`", "",
             f"Table written on {cpu_model()}, {datetime.date.today()} (runs reused from `infogan_runs.jsonl` with "
             f"--resume may have trained on another machine of the same size); one torch thread. Accuracy of the best "
             f"one-to-one map of the 10 code values to the 10 classes, in %, mean ± standard error (min) over seeds.", "",
             "| run | seeds | Q's code on real test images | classifier on G's samples per code value | train s |",
             "|---|---|---|---|---|",
             f"| InfoGAN (code + mutual-information term) | {len(info)} | "
             f"{_mean_se([r['q_cluster_accuracy'] for r in info])} | "
             f"{_mean_se([r['generated_code_accuracy'] for r in info])} | "
             f"{np.mean([r['train_seconds'] for r in info]) if info else float('nan'):.0f} |",
             f"| control: the same code, no term | {len(code)} | n/a (no Q head) | "
             f"{_mean_se([r['generated_code_accuracy'] for r in code])} | "
             f"{np.mean([r['train_seconds'] for r in code]) if code else float('nan'):.0f} |",
             f"| chance (random code per test image, mapped at best; mean of 20) | - | {chance * 100:.1f} | - | - |",
             f"| k-means on the test images' pixels (10 clusters, mapped at best; mean of 3 seeds) | - | "
             f"{kmeans * 100:.1f} | - | - |", "",
             "Published: InfoGAN on MNIST classifies the digits by its code with about 5% error (Chen et al. 2016, "
             "section 7.1), i.e. ~95% here; a 10-code GAN without the term does not (its codes mix classes).", ""]
    suffix = ("_" + "_".join(e.replace("=", "-") for e in args.set)) if args.set else ""
    (args.out / f"infogan_{args.preset}{suffix.replace('/', '_')}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


def sweep_table(log: Path, out: Path) -> int:
    """One row per (preset, steps, --set variant) of the runs in ``log``: the InfoGAN runs' mean ± SE (min)."""
    recs = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    groups: dict = {}
    for r in recs:
        if r["info_term"]:
            groups.setdefault((r["preset"], r.get("steps"), tuple(r.get("extra", []))), []).append(r)
    lines = [f"# InfoGAN's categorical code against the classes: the recipe sweep ({log.name})", "",
             "Each row: `python benchmarks/infogan.py --preset PRESET --no-control --seeds 3 --set KEY=VALUE ...` "
             f"(runs in `{log.name}`; this table: `python benchmarks/infogan.py --sweep-table {log.name}`). "
             "One torch thread per run, two runs at a time on the 2 shared cores, so train s is indicative; rows "
             "with `train.device=cuda` ran on a lent H200 (`benchmarks/device_infogan.sh`, 8 runs sharing it; some "
             "of their records were copied from the run's printed summary at 3 decimals, marked `note` in the runs "
             "log). "
             "Accuracy of the best one-to-one map of the 10 code values to the 10 classes, in %, mean ± "
             "standard error (min) over seeds; 'Q on real' is InfoGAN's measure (Q's code of each real test "
             "digit), 'G per code' labels 200 samples of each code value by the shipped classifier.", "",
             "| preset | overrides | seeds | Q on real test images | classifier on G's samples per code value | train s |",
             "|---|---|---|---|---|---|"]
    order = sorted(groups.items(), key=lambda kv: -float(np.mean([r["q_cluster_accuracy"] for r in kv[1]])))
    for (preset, steps, extra), rs in order:
        over = " ".join(extra) + (f" train.steps={steps}" if steps else "")
        lines.append(f"| {preset} | `{over.strip() or '(none)'}` | {len(rs)} | "
                     f"{_mean_se([r['q_cluster_accuracy'] for r in rs])} | "
                     f"{_mean_se([r['generated_code_accuracy'] for r in rs])} | "
                     f"{np.mean([r['train_seconds'] for r in rs]):.0f} |")
    lines += ["", "For scale, k-means on the test images' pixels (10 clusters, mapped the same way): 75.3% on the 8x8 "
              "digits, 48.7% on Fashion-MNIST (`infogan_digits-infogan-cat.md`, `infogan_fashion-infogan.md`). "
              "Published: InfoGAN ~95% on 28x28 MNIST (Chen et al. 2016); ClusterGAN 63% on Fashion-MNIST "
              "(Mukherjee et al. 2019)."]
    path = out / "infogan_sweep.md"
    path.write_text("\n".join(lines) + "\n")
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
