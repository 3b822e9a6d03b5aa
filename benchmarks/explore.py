"""What a trained Fashion-MNIST generator (and its discriminator) can do: four measurements.

1. Truncation curve: precision, recall, density, coverage and FID (the shipped classifier's features,
   10,000 samples against the test split) for T in --truncation. The lecture's claim to check:
   truncation "reduces the variation but improves quality".
2. Classifier-guided search toward each class from an unconditional G (``gankit guide`` defaults):
   the target-class rate before and after, by the guiding (shipped) classifier and by the
   independent pixel k-NN judge; and, as the judge's own calibration, its accuracy on the real test
   images of that class.
3. Discriminator optimal transport (Tanaka 2019, ``gankit sample --dot-steps``): FID, precision,
   recall, density and coverage of --dot-n samples whose latents were moved by DOT at each scale of
   --dot-scales, beside the same latents unmoved (the same n: FID's bias depends on n). On the toy grid
   DOT at scale 0.1 brought every mode in (benchmarks/results/modes_notk_dot.md); does it help images?
4. Transfer probe (the DCGAN paper's CIFAR-10 experiment, on Fashion-MNIST): a logistic regression on
   D's features (every activation max-pooled to 4x4, ``gankit features``) of --probe-train training
   images, tested on the whole test split; beside raw pixels, the same D architecture with random
   weights (a control: random conv features are known to be strong), and the shipped supervised
   classifier's penultimate features (a ceiling).

The model is a ``fashion-dcgan`` run (--steps, default 4000), trained once into --run (or given).
Each section's result is stored in benchmarks/results/explore.json and reused with --resume.

    .venv/bin/python benchmarks/explore.py --resume --time-limit 40
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def ensure_run(run: Path, steps: int) -> Path:
    import gankit

    if (run / "run.json").is_file() and json.loads((run / "run.json").read_text()).get("status") == "finished":
        return run
    print(f"training fashion-dcgan for {steps} steps into {run} ...", flush=True)
    gankit.train("fashion-dcgan", [f"train.steps={steps}", "train.threads=1"], out=run, progress=False)
    return run


def truncation_section(model, thresholds: list[float], n: int) -> dict:
    from gankit.explore.truncation import plot_curve, truncation_curve

    rows = truncation_curve(model, thresholds, metrics="fid,pr,dc", n=n, record=False)
    RESULTS.joinpath("explore").mkdir(parents=True, exist_ok=True)
    plot_curve(rows, RESULTS / "explore" / "truncation.png", title="Truncation: fashion-dcgan (shipped classifier features)")
    return {"rows": rows, "n": n}


def guide_section(model, n: int, classes: list[int]) -> dict:
    from gankit.explore.guide import guided_search, knn_judge

    from gankit.data import load_dataset

    vote = knn_judge(model)
    test = load_dataset(model.config.data, "test")
    judge_real = vote(test.to_model(test.x))
    rows = []
    for k in classes:
        t0 = time.perf_counter()
        res = guided_search(model, k, n=n, seed=k)
        mask = test.y.numpy() == k
        rows.append({**res.summary(), "class": CLASSES[k], "judge_on_real": float((judge_real[mask] == k).mean()),
                     "seconds": round(time.perf_counter() - t0, 1)})
        print(f"  guide {CLASSES[k]:<12} classifier {res.rate_before:.0%} -> {res.rate_after:.0%}, "
              f"judge {res.judge_before:.0%} -> {res.judge_after:.0%}", flush=True)
        if k == 7:
            from gankit.cli_latent import _write_guide

            _write_guide(model, res, str(RESULTS / "explore" / "guide_sneaker.png"))
    return {"rows": rows, "n": n, "judge_accuracy_real": float((judge_real == test.y.numpy()).mean())}


def dot_section(model, scales: list[float], n: int, steps: int) -> dict:
    from dot_images import score_row

    rows = []
    for scale in [None, *scales]:
        rows.append(score_row(model, "fid,pr,dc", n, 0, scale, steps))
        print(f"  DOT scale {scale}: FID {rows[-1].get('fid', float('nan')):.2f}, precision "
              f"{rows[-1].get('precision', float('nan')):.3f}, recall {rows[-1].get('recall', float('nan')):.3f} "
              f"({rows[-1]['seconds']} s)", flush=True)
    return {"rows": rows, "n": n, "steps": steps}


def probe_section(model, n_train: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from gankit.data import load_dataset
    from gankit.explore.dfeatures import discriminator_features
    from gankit.metrics.features.classifier import load_classifier, shipped_weights
    from gankit.nets import build_nets

    train, test = load_dataset(model.config.data, "train"), load_dataset(model.config.data, "test")
    idx = torch.randperm(len(train.x), generator=torch.Generator().manual_seed(0))[:n_train]
    xtr, ytr = train.to_model(train.x[idx]), train.y[idx].numpy()
    xte, yte = test.to_model(test.x), test.y.numpy()
    torch.manual_seed(0)
    _, D_random = build_nets(model.config.model, model.spec, **model.config.heads)
    clf, _ = load_classifier(shipped_weights("fashion_mnist"))

    def shipped(x):
        out = []
        with torch.no_grad():
            for s in range(0, len(x), 1000):
                out.append(clf.features_and_logits(x[s:s + 1000])[0])
        return torch.cat(out)

    extractors = {
        "raw pixels": lambda x: x.flatten(1),
        "D of the trained GAN (all layers, 4x4 max-pooled)": lambda x: discriminator_features(model.D, x),
        "D of the trained GAN (last features)": lambda x: discriminator_features(model.D, x, layers="last"),
        "same D, random weights (control)": lambda x: discriminator_features(D_random.eval(), x),
        "shipped supervised classifier (ceiling)": shipped,
    }
    rows = []
    for name, f in extractors.items():
        t0 = time.perf_counter()
        ftr, fte = f(xtr).numpy(), f(xte).numpy()
        scaler = StandardScaler().fit(ftr)
        lr = LogisticRegression(max_iter=300, C=0.1).fit(scaler.transform(ftr), ytr)
        acc = float((lr.predict(scaler.transform(fte)) == yte).mean())
        rows.append({"features": name, "dim": int(ftr.shape[1]), "test_accuracy": acc,
                     "seconds": round(time.perf_counter() - t0, 1)})
        print(f"  probe {name}: {acc:.1%} ({ftr.shape[1]} dims)", flush=True)
    return {"rows": rows, "n_train": n_train, "n_test": len(yte), "probe": "LogisticRegression(C=0.1), standardized"}


def _other_model(section: dict) -> list[str]:
    """A line naming the model and machine of a section measured on another run than the header's."""
    p = section.get("provenance")
    if not p:
        return []
    return [f"*This section's model*: `{p['run']}` ({p['model']}), trained and measured on {p['machine']} with "
            f"`{p['command']}`: another training run than the sections above.", ""]


def write_markdown(results: dict) -> None:
    out = ["# Exploring a trained generator (Fashion-MNIST DCGAN)", "",
           f"Model: `{results['run']}` ({results.get('model', '')}). Machine: {results['machine']}. "
           f"Command: `{results['command']}`. Updated {results['updated']}.", ""]
    missing = [s for s in ("truncation", "guide", "dot", "probe") if s not in results]
    if missing:
        out += [f"**PARTIAL**: not yet run: {', '.join(missing)}.", ""]
    if "truncation" in results:
        t = results["truncation"]
        out += ["## Truncation (fidelity against diversity)", "",
                f"{t['n']:,} samples per T, the same latent seed; shipped classifier features against the test split.",
                "", "| T | precision | recall | density | coverage | FID |", "|---|---|---|---|---|---|"]
        for r in t["rows"]:
            cells = [f"{r.get(k, float('nan')):.3f}" for k in ("precision", "recall", "density", "coverage")]
            out.append(f"| {'off' if r['truncation'] is None else r['truncation']} | " + " | ".join(cells)
                       + f" | {r.get('fid', float('nan')):.2f} |")
        out += ["", "![truncation curve](explore/truncation.png)", ""]
    if "guide" in results:
        g = results["guide"]
        rows = g["rows"]
        mean = {k: np.mean([r[k] for r in rows]) for k in ("rate_before", "rate_after", "judge_before", "judge_after",
                                                          "judge_on_real")}
        out += ["## Classifier-guided latent search (unconditional G)", "",
                f"{g['n']} samples per class, `gankit guide` defaults (200 Adam steps, lr 0.05, 2 restart rounds, "
                "random shifts of up to 4 px, prior on |z|). *Classifier*: the shipped classifier, which guides "
                "(so it can be fooled). *Judge*: 5-NN on raw pixels of 10,000 training images, independent of the "
                f"guide; its accuracy on the real test images: {g['judge_accuracy_real']:.1%} overall, per class "
                "in the last column (the best a sample of that class can score).", "",
                "| target | classifier before | classifier after | judge before | judge after | judge on real |",
                "|---|---|---|---|---|---|"]
        for r in rows:
            out.append(f"| {r['class']} | {r['rate_before']:.1%} | {r['rate_after']:.1%} | {r['judge_before']:.1%} | "
                       f"{r['judge_after']:.1%} | {r['judge_on_real']:.1%} |")
        out.append(f"| **mean** | {mean['rate_before']:.1%} | **{mean['rate_after']:.1%}** | {mean['judge_before']:.1%} | "
                   f"**{mean['judge_after']:.1%}** | {mean['judge_on_real']:.1%} |")
        out += ["", "Sneaker, before | after: ![guided search](explore/guide_sneaker.png)", ""]
    if "dot" in results:
        d = results["dot"]
        out += ["## Discriminator optimal transport (latent DOT)", "", *_other_model(d),
                f"{d['n']:,} samples, the same latents unmoved (scale off) and moved by {d['steps']} Adam steps of "
                "latent DOT with the run's D at each scale (`gankit eval RUN --dot-steps N --dot-scale S`); "
                "shipped classifier features against the test split. Seconds: the whole scoring, DOT included.",
                "", "| scale | precision | recall | density | coverage | FID | seconds |", "|---|---|---|---|---|---|---|"]
        for r in d["rows"]:
            cells = [f"{r.get(k, float('nan')):.3f}" for k in ("precision", "recall", "density", "coverage")]
            out.append(f"| {'off' if r['scale'] is None else r['scale']} | " + " | ".join(cells)
                       + f" | {r.get('fid', float('nan')):.2f} | {r['seconds']:.0f} |")
        out.append("")
    if "probe" in results:
        p = results["probe"]
        out += ["## The discriminator as a feature extractor (linear probe)", "",
                f"{p['probe']} trained on {p['n_train']:,} labelled training images, tested on all {p['n_test']:,} "
                "test images.", "", "| features | dims | test accuracy |", "|---|---|---|"]
        for r in p["rows"]:
            out.append(f"| {r['features']} | {r['dim']} | {r['test_accuracy']:.1%} |")
        out.append("")
    (RESULTS / "explore.md").write_text("\n".join(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=str(Path.home() / ".cache" / "gankit" / "bench-runs" / "explore-fashion-dcgan"))
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--truncation", default="0.25,0.5,1,1.5,2,inf")
    ap.add_argument("--n", type=int, default=10_000, help="samples per truncation point")
    ap.add_argument("--guide-n", type=int, default=64)
    ap.add_argument("--probe-train", type=int, default=10_000)
    ap.add_argument("--dot-scales", default="1,0.3,0.1", help="DOT scales (k_eff multipliers)")
    ap.add_argument("--dot-n", type=int, default=5000, help="samples per DOT scale")
    ap.add_argument("--dot-steps", type=int, default=30)
    ap.add_argument("--sections", default="truncation,guide,dot,probe")
    ap.add_argument("--resume", action="store_true", help="keep the sections already in explore.json")
    ap.add_argument("--time-limit", type=float, default=60, help="minutes; sections not started by then are skipped")
    args = ap.parse_args()
    torch.set_num_threads(1)
    import gankit
    from gankit.explore.truncation import parse_thresholds

    t_start = time.time()
    path = RESULTS / "explore.json"
    results = json.loads(path.read_text()) if args.resume and path.is_file() else {}
    run = ensure_run(Path(args.run), args.steps)
    model = gankit.load(run)
    here = dict(run=str(run), model=f"fashion-dcgan, step {model.step}, EMA G" if model.uses_ema else "raw G",
                machine=cpu_model(), command="python benchmarks/explore.py " + " ".join(sys.argv[1:]))
    for key, value in here.items():  # the header names the first model; a section of another one says so
        results.setdefault(key, value)
    for section in args.sections.split(","):
        if section in results:
            print(f"{section}: reused", flush=True)
            continue
        if (time.time() - t_start) / 60 > args.time_limit:
            print(f"{section}: skipped (time limit)", flush=True)
            continue
        print(f"{section} ...", flush=True)
        t0 = time.time()
        if section == "truncation":
            results[section] = truncation_section(model, parse_thresholds(args.truncation), args.n)
        elif section == "guide":
            results[section] = guide_section(model, args.guide_n, list(range(10)))
        elif section == "dot":
            results[section] = dot_section(model, [float(v) for v in args.dot_scales.split(",")], args.dot_n,
                                           args.dot_steps)
        elif section == "probe":
            results[section] = probe_section(model, args.probe_train)
        else:
            raise SystemExit(f"unknown section {section!r}")
        results[section]["minutes"] = round((time.time() - t0) / 60, 1)
        if any(results[k] != here[k] for k in ("run", "model", "machine")):
            results[section]["provenance"] = here
        results["updated"] = datetime.datetime.now().isoformat(timespec="seconds")
        path.write_text(json.dumps(results, indent=1, default=lambda v: None if isinstance(v, float) and
                                   not math.isfinite(v) else str(v)))
        write_markdown(results)
    results["updated"] = datetime.datetime.now().isoformat(timespec="seconds")
    write_markdown(results)


if __name__ == "__main__":
    main()
