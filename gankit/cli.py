"""The command line, thin: it parses arguments and calls the library.

A user's mistake (GankitError) prints one line, ``gankit: error: ...``, and exits with status 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

from gankit.errors import GankitError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gankit", description="Train, evaluate and explore GANs.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("presets", help="list the named configurations")

    t = sub.add_parser("train", help="train a GAN and write a run directory",
                       description="Train from a preset or a YAML file; key.sub=value overrides.")
    t.add_argument("config", nargs="?", help="preset name (see 'gankit presets') or FILE.yaml")
    t.add_argument("overrides", nargs="*", help="config overrides, e.g. train.steps=500 data.batch_size=32")
    t.add_argument("--out", help="run directory (default runs/NAME-TIMESTAMP)")
    t.add_argument("--steps", type=int, help="generator steps (train.steps)")
    t.add_argument("--seed", type=int, help="random seed (train.seed)")
    t.add_argument("--seeds", help="many seeds in one batched process, e.g. 0-9 or 0,3,5: one run folder "
                                   "OUT_seedK per seed (docs/speed.md)")
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR where it stopped")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    s = sub.add_parser("sample", help="draw samples from a trained generator")
    s.add_argument("source", help="run directory or checkpoint (.json / .safetensors)")
    s.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--out", required=True, help="FILE.png (a grid or scatter) or FILE.npz (arrays x, z and, "
                                               "for conditional models, y: the label each sample was asked for)")
    s.add_argument("--seed", type=int, default=0, help="latent seed (default 0)")
    s.add_argument("--label", help="conditional models: the class to make, an index or a class name (e.g. Sneaker); "
                                   "default: classes drawn uniformly")
    s.add_argument("--per-class", type=int, metavar="K",
                   help="conditional models: K samples of every class, one labelled row per class (ignores --n)")
    s.add_argument("--raw", action="store_true", help="sample the trained generator itself, not its EMA copy "
                   "(train.ema), which is the default when the run kept one")
    s.add_argument("--drs", action="store_true", help="discriminator rejection sampling (Azadi et al. 2019): "
                   "keep the samples D finds most data-like (minimax/NS-type objectives)")
    s.add_argument("--drs-percentile", type=float, metavar="Q",
                   help="with --drs: gamma from the Q-th percentile of F, keeping about (100 - Q)%% of draws (default: the exact rule)")
    s.add_argument("--drs-calibrate", type=int, metavar="STEPS",
                   help="with --drs: first train D alone against G for STEPS steps (needs the training data; "
                        "default: 500 for an EMA generator, which D never saw, 0 with --raw)")
    s.add_argument("--jacobian-keep", type=float, metavar="F",
                   help="Jacobian truncation (Tanielian et al. 2020): draw N/F latents and keep the N where G's "
                        "Jacobian is smallest, dropping samples G stretches between separate modes (e.g. 0.9)")
    s.add_argument("--dot-steps", type=int, metavar="N",
                   help="discriminator optimal transport in latent space (Tanaka 2019): move each latent N Adam "
                        "steps up D's score, no further than D's gain pays for (e.g. 30); no sample is dropped")
    s.add_argument("--dot-scale", type=float, default=1.0, metavar="S",
                   help="with --dot-steps: k_eff times S (1: the paper's rule; smaller trusts D more: 0.1 met the "
                        "grid's mode target, docs/tricks.md)")
    s.add_argument("--standing-stats", type=int, metavar="B",
                   help="first re-estimate G's BatchNorm statistics from B batches of its own samples (BigGAN's "
                        "standing statistics; BigGAN-PyTorch uses 16)")
    s.add_argument("--truncation", metavar="T", help="the truncation trick (BigGAN): redraw every latent unit "
                   "with |z_i| > T; smaller T = more typical, less varied samples (default: none)")

    e = sub.add_parser("eval", help="score a trained model, or compare two sets of samples",
                       description="Score a run's latest checkpoint (or a checkpoint) against its dataset's "
                                   "test split, or compare --real A with --fake B (each an .npz with array x, "
                                   "an image folder, or a built-in dataset name).")
    e.add_argument("source", nargs="?", help="run directory or checkpoint (.json / .safetensors)")
    e.add_argument("--real", help="the reference set: FILE.npz, an image folder or a dataset name (NAME:SPLIT, "
                                  "e.g. fashion_mnist:test)")
    e.add_argument("--fake", help="the set to score: FILE.npz (x, optional y), an image folder or a dataset name "
                                  "(NAME:SPLIT, e.g. fashion_mnist:train, for the real-data floor)")
    e.add_argument("--metrics", help="comma list of fid, kid, is, pr (precision/recall), dc (density/"
                                     "coverage), intra_fid, cas, label_agreement (conditional models), parzen, modes (default: the data's)")
    e.add_argument("--n", type=int, help="fake samples (default 10000 images, 2500 vectors)")
    e.add_argument("--n-real", type=int, help="real items (default: the whole split)")
    e.add_argument("--features", help="classifier[:DATASET|:FILE.safetensors], inception or raw "
                                      "(default: the dataset's classifier, raw for vectors)")
    e.add_argument("--inception-weights", metavar="FILE",
                   help="local InceptionV3 weights (else $GANKIT_INCEPTION_WEIGHTS); see docs/features.md")
    e.add_argument("--split", default="test", help="real data split (default test)")
    e.add_argument("--seed", type=int, default=0, help="latent and subsampling seed (default 0)")
    e.add_argument("--batch-size", type=int, help="feature extraction batch size")
    e.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    e.add_argument("--no-cache", action="store_true", help="do not read or write cached real features")
    e.add_argument("--no-record", action="store_true", help="do not append to the run's eval.jsonl")
    e.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    e.add_argument("--strict", action="store_true", help="exit with status 1 when any metric cannot be "
                   "computed (default: only when none can; each failure is reported with its reason)")
    e.add_argument("--threads", type=int, help="torch threads (default: $OMP_NUM_THREADS, else 1; "
                   "0 = PyTorch's default)")
    e.add_argument("--truncation", metavar="T[,T...]", help="score samples of truncated latents (|z_i| <= T); "
                   "several bounds, e.g. 0.5,1,1.5,2,inf, give the fidelity/diversity curve as a table and a plot")
    e.add_argument("--plot", metavar="FILE.png", help="with several --truncation bounds: where to draw the curve "
                   "(default: RUN/truncation.png)")
    e.add_argument("--dot-steps", type=int, metavar="N", help="score samples whose latents were moved by N steps of "
                   "discriminator optimal transport (as gankit sample --dot-steps)")
    e.add_argument("--dot-scale", type=float, default=1.0, metavar="S", help="with --dot-steps: k_eff times S")

    c = sub.add_parser("train-classifier", help="train the feature classifier of a built-in image dataset",
                       description="Train the small CNN whose features and logits the metrics use, on the "
                                   "training split; test it on the test split; write safetensors + a JSON record.")
    c.add_argument("dataset", help="fashion_mnist or digits")
    c.add_argument("--epochs", type=int, help="passes over the training split (default: the recipe's)")
    c.add_argument("--out", help="FILE.safetensors (default: the weights shipped in the package)")
    c.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    c.add_argument("--threads", type=int, help="torch threads (default: $OMP_NUM_THREADS, else 1; "
                   "0 = PyTorch's default)")

    from gankit import cli_deploy, cli_latent

    cli_latent.add_parsers(sub)
    cli_deploy.add_parsers(sub)
    sub.add_parser("version", help="print the version")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    parser = _parser()
    # Overrides may come after options (`train ring --steps 5 train.seed=1`): argparse leaves those
    # as unknown arguments, which are taken as overrides when they look like key=value.
    args, extra = parser.parse_known_args(argv)
    bad = [a for a in extra if a.startswith("-") or "=" not in a or args.command != "train"]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)}")
    if extra:
        args.overrides = list(args.overrides or []) + extra
    try:
        return _run(args, parser)
    except GankitError as exc:
        print(f"gankit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"\n{interrupted_message(exc)}", file=sys.stderr)
        return 130


def interrupted_message(exc: KeyboardInterrupt) -> str:
    """What a stop left and the exact command that continues it."""
    from gankit.errors import TrainingInterrupted

    if not isinstance(exc, TrainingInterrupted):
        return f"gankit: interrupted{f' ({exc})' if str(exc) else ''}"
    if exc.run_dir is None:
        return f"gankit: interrupted ({exc.reason}); there is no run folder to resume"
    if exc.checkpoint is None:
        return (f"gankit: interrupted ({exc.reason}) before the first checkpoint; start again, or continue "
                f"from step 0 with 'gankit train --resume {exc.run_dir}'")
    return (f"gankit: interrupted ({exc.reason}); checkpoint {exc.checkpoint} (step {exc.step}) is kept: "
            f"continue with 'gankit train --resume {exc.run_dir}'")


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import gankit

    if args.command == "presets":
        rows = gankit.presets()
        w = {key: max(len(str(r[key])) for r in rows) for key in ("name", "data", "arch", "objective", "conditional")}
        for r in rows:
            print(f"{r['name']:<{w['name']}}  data={r['data']:<{w['data']}}  arch={r['arch']:<{w['arch']}}  "
                  f"objective={r['objective']:<{w['objective']}}  labels={r['conditional']:<{w['conditional']}}  "
                  f"{r['description']}")
        return 0
    if args.command == "train":
        if args.seeds is not None:
            from gankit.cli_seeds import train_seeds_command

            return train_seeds_command(args)
        if args.resume:
            if args.config or args.overrides or args.seed is not None or args.out:
                raise GankitError("--resume DIR continues a run with its own config; only --steps "
                                  "may change it (drop the preset, overrides, --seed and --out)")
            result = gankit.resume(args.resume, steps=args.steps, progress=not args.no_progress)
        else:
            if not args.config:
                raise GankitError("name a preset or a YAML file, e.g. 'gankit train digits' "
                                  "(see 'gankit presets')")
            result = gankit.train(args.config, args.overrides, out=args.out, steps=args.steps,
                                  seed=args.seed, progress=not args.no_progress)
        if result.path is not None:  # None on the ranks other than 0 under torchrun, which write nothing
            print(f"run: {result.path}")
            print(f"report: {result.report}")
        return 0
    if args.command == "sample":
        if not args.out.endswith((".png", ".npz")):
            raise GankitError(f"--out {args.out}: the file must end in .png (a picture) or .npz (arrays)")
        if not args.drs and (args.drs_percentile is not None or args.drs_calibrate is not None):
            raise GankitError("--drs-percentile and --drs-calibrate need --drs")
        model = gankit.load(args.source, raw=args.raw)
        drs = {"drs": True, "drs_percentile": args.drs_percentile, "drs_calibrate": args.drs_calibrate} \
            if args.drs else {}
        if args.jacobian_keep is not None:
            drs["jacobian_keep"] = args.jacobian_keep
        if args.dot_steps is not None:
            drs.update(dot_steps=args.dot_steps, dot_scale=args.dot_scale)
        if args.label is not None:
            model.label_index(args.label)  # a clear error before any work
        if args.standing_stats is not None:
            if not model.standing_stats(args.standing_stats, seed=args.seed + 1):
                raise GankitError(f"--standing-stats: the generator of {args.source} has no BatchNorm to "
                                  "re-estimate; drop the flag")
        truncation = None
        if args.truncation is not None:
            from gankit.explore.truncation import check_threshold

            truncation = check_threshold(args.truncation)
        out = model.save_samples(args.out, args.n, args.seed, label=args.label, per_class=args.per_class,
                                 truncation=truncation, **drs)
        how = " by discriminator rejection sampling" if args.drs else ""
        if args.jacobian_keep is not None:
            how += f" by Jacobian truncation (kept the {args.jacobian_keep:g} of draws with the smallest Jacobian)"
        if args.dot_steps is not None:
            how += f", each latent moved by {args.dot_steps} steps of discriminator optimal transport (scale {args.dot_scale:g})"
        if model.last_rejection is not None:
            done = model.last_rejection
            if done.calibration_steps:
                how += f" (D calibrated for {done.calibration_steps} steps against this G)"
            if done.warning:
                print(f"gankit: warning: {done.warning}", file=sys.stderr)
        if args.standing_stats is not None:
            how += f", BatchNorm statistics re-estimated from {args.standing_stats} batches"
        if truncation is not None:
            how += (f", truncated in W at psi={truncation:g}" if model.psi_truncation
                    else f", truncated at T={truncation:g}")
        count = args.n if args.per_class is None else args.per_class * model.G.num_classes
        what = ""
        if args.label is not None:
            what = f" of class {model.class_names[model.label_index(args.label)]}"
        elif args.per_class is not None:
            what = f" ({args.per_class} per class)"
        which = " (EMA)" if model.uses_ema else " (raw G)" if args.raw else ""
        print(f"wrote {count} samples{what} from step {model.step}{which}{how} to {out}")
        return 0
    if args.command == "eval":
        return _eval(args)
    if args.command == "train-classifier":
        return _train_classifier(args)
    from gankit import cli_deploy, cli_latent

    if args.command in cli_latent.COMMANDS:
        return cli_latent.run(args)
    if args.command in cli_deploy.COMMANDS:
        return cli_deploy.run(args)
    if args.command == "version":
        print(gankit.__version__)
        return 0
    parser.print_help()
    return 0


def _eval(args: argparse.Namespace) -> int:
    import gankit
    from gankit.metrics.evaluate import format_table

    _set_threads(args.threads)
    if args.source and (args.real or args.fake):
        raise GankitError("give a model (DIR or CHECKPOINT) or --real A --fake B, not both")
    if not args.source and not (args.real and args.fake):
        raise GankitError("name a run directory or checkpoint to score, or both --real A and --fake B "
                          "(each an .npz with array x, an image folder or a dataset name)")
    if args.truncation is not None:
        if args.dot_steps is not None:
            raise GankitError("--dot-steps moves latents drawn from the prior: score it without --truncation")
        return _eval_truncation(args)
    if args.plot:
        raise GankitError("--plot draws the truncation curve: give it with --truncation T1,T2,...")
    result = gankit.evaluate(args.source, metrics=args.metrics, n=args.n, features=args.features,
                             real=args.real, fake=args.fake, split=args.split, seed=args.seed,
                             n_real=args.n_real, inception_weights=args.inception_weights,
                             batch_size=args.batch_size, device=args.device, cache=not args.no_cache,
                             record=not args.no_record, dot_steps=args.dot_steps, dot_scale=args.dot_scale)
    provenance = result.get("provenance", {})
    failed = provenance.get("failed", {})
    if args.json:  # the caveats and failures are in the JSON too; stderr tells the person watching
        for warning in provenance.get("warnings", []):
            print(f"gankit: warning: {warning}", file=sys.stderr)
        for metric, reason in failed.items():
            print(f"gankit: {metric} could not be computed: {reason}", file=sys.stderr)
        print(json.dumps(result, allow_nan=False))
    else:  # the table holds them
        print(format_table(result))
    nothing_scored = all(m in failed for m in provenance.get("metrics", []))
    return 1 if failed and (args.strict or nothing_scored) else 0


def _eval_truncation(args: argparse.Namespace) -> int:
    """``gankit eval RUN --truncation 0.5,1,2``: one score per bound, a table and the curve's plot."""
    from pathlib import Path

    import gankit
    from gankit.explore.truncation import format_curve, parse_thresholds, plot_curve, truncation_curve

    if not args.source:
        raise GankitError("--truncation scores a model: name a run directory or checkpoint, not --real/--fake")
    thresholds = parse_thresholds(args.truncation)
    model = gankit.load(args.source, args.device)
    rows = truncation_curve(model, thresholds, metrics=args.metrics, n=args.n, features=args.features,
                            split=args.split, seed=args.seed, n_real=args.n_real,
                            inception_weights=args.inception_weights, batch_size=args.batch_size,
                            device=args.device, cache=not args.no_cache, record=not args.no_record)
    plot = None
    if len(thresholds) > 1:
        run_dir = Path(model.path).parent.parent if Path(model.path).parent.name == "checkpoints" else None
        plot = Path(args.plot) if args.plot else (run_dir / "truncation.png" if run_dir else Path("truncation.png"))
        plot.parent.mkdir(parents=True, exist_ok=True)
        plot_curve(rows, plot, title=f"Truncation curve: {model.config.name} (step {model.step})")
    if args.json:
        print(json.dumps({"truncation_curve": rows, "plot": str(plot) if plot else None}, allow_nan=False,
                         default=str))
    else:
        print(format_curve(rows))
        for row in rows:
            for metric, reason in row["failed"].items():
                print(f"gankit: at T={row['truncation']}: {metric} could not be computed: {reason}", file=sys.stderr)
        if plot:
            print(f"plot: {plot}")
    return 1 if args.strict and any(r["failed"] for r in rows) else 0


def _set_threads(threads: Optional[int]) -> None:
    """Torch threads as train.threads resolves them (gankit.config.default_threads) unless given."""
    import torch

    from gankit.config import default_threads

    n = default_threads() if threads is None else threads
    if n > 0:
        torch.set_num_threads(n)


def _train_classifier(args: argparse.Namespace) -> int:
    from gankit.metrics.features.classifier import train_classifier

    _set_threads(args.threads)
    record = train_classifier(args.dataset, epochs=args.epochs, out=args.out, seed=args.seed,
                              log=lambda msg: print(msg, file=sys.stderr))
    print(f"test accuracy {record['test_accuracy']:.4f}; sha256 {record['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
