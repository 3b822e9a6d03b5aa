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
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR where it stopped")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    s = sub.add_parser("sample", help="draw samples from a trained generator")
    s.add_argument("source", help="run directory or checkpoint (.json / .safetensors)")
    s.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--out", required=True, help="FILE.png (a grid or scatter) or FILE.npz (array x)")
    s.add_argument("--seed", type=int, default=0, help="latent seed (default 0)")

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
        detail = f" ({exc})" if str(exc) else ""
        print(f"\ngankit: interrupted{detail}; the latest checkpoint is kept: continue with "
              f"'gankit train --resume DIR'", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import gankit

    if args.command == "presets":
        rows = gankit.presets()
        width = max(len(r["name"]) for r in rows)
        for r in rows:
            print(f"{r['name']:<{width}}  data={r['data']:<13} arch={r['arch']:<5} "
                  f"objective={r['objective']:<8} {r['description']}")
        return 0
    if args.command == "train":
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
        print(f"run: {result.path}")
        print(f"report: {result.report}")
        return 0
    if args.command == "sample":
        if not args.out.endswith((".png", ".npz")):
            raise GankitError(f"--out {args.out}: the file must end in .png (a picture) or .npz (arrays)")
        model = gankit.load(args.source)
        out = model.save_samples(args.out, args.n, args.seed)
        print(f"wrote {args.n} samples from step {model.step}{' (EMA)' if model.uses_ema else ''} to {out}")
        return 0
    if args.command == "version":
        print(gankit.__version__)
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
