"""CLI commands that take a generator out of gankit: ``export`` (ONNX, torch.export) and ``serve``."""
from __future__ import annotations

import argparse

COMMANDS = ("export", "serve")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    x = sub.add_parser("export", help="export a trained generator to ONNX or torch.export",
                       description="Write G (the EMA copy when the run kept one) with a dynamic batch axis: "
                                   "input z (and y for conditional models), output the raw G(z, y); a JSON "
                                   "beside the file gives the shapes, the data spec and the post-processing.")
    x.add_argument("source", help="run directory or checkpoint (.json / .safetensors)")
    x.add_argument("--format", choices=["onnx", "torch-export"],
                   help="onnx (needs pip install 'gankit[export]') or torch-export (.pt2); default: from --out")
    x.add_argument("--out", required=True, help="FILE.onnx or FILE.pt2; FILE.json is written beside it")
    x.add_argument("--raw", action="store_true", help="export the trained generator itself, not its EMA copy")
    x.add_argument("--no-check", action="store_true",
                   help="do not run the exported file to compare it with the generator")

    v = sub.add_parser("serve", help="explore a trained generator in the browser (a local web page)",
                       description="Serve a page on http://127.0.0.1:PORT/ (this machine only): a seed, "
                                   "sliders along SeFa and random latent directions, truncation, a class "
                                   "picker and an interpolation between two seeds; its HTTP API is in "
                                   "docs/serve.md.")
    v.add_argument("source", help="run directory or checkpoint (.json / .safetensors)")
    v.add_argument("--port", type=int, default=8000, help="TCP port on 127.0.0.1 (default 8000; 0: any free one)")
    v.add_argument("--directions", type=int, default=8, metavar="K",
                   help="sliders per direction set (default 8, at most the latent's noise units)")
    v.add_argument("--raw", action="store_true", help="explore the trained generator itself, not its EMA copy")
    v.add_argument("--quiet", action="store_true", help="do not log each request")


def run(args: argparse.Namespace) -> int:
    """Dispatch one of :data:`COMMANDS`."""
    import gankit

    if args.command == "export":
        result = gankit.export(args.source, args.out, format=args.format, raw=args.raw, check=not args.no_check)
        meta = result.meta
        shapes = ", ".join(f"{i['name']} {i['shape']}" for i in meta["inputs"])
        check = meta.get("check", {})
        checked = (f"; matches the generator to {check['max_abs_diff']:.1e} ({check['runner']})"
                   if check.get("checked") else f"; not checked: {check['reason']}" if check else "")
        print(f"wrote {result.path} ({meta['format']}, {meta['source']['weights']}, step {meta['source']['step']}: "
              f"{shapes} -> x {meta['outputs'][0]['shape']}){checked}")
        print(f"wrote {result.meta_path}")
        return 0
    if args.command == "serve":
        import sys

        import torch

        from gankit.config import default_threads

        torch.set_num_threads(max(default_threads(), 1))
        if args.directions < 1:
            from gankit.errors import GankitError

            raise GankitError(f"--directions {args.directions} must be >= 1")
        try:
            gankit.serve(args.source, port=args.port, raw=args.raw, n_directions=args.directions, quiet=args.quiet,
                         ready=lambda url: print(f"gankit explorer of {args.source} at {url} (Ctrl-C to stop)",
                                                 flush=True))
        except KeyboardInterrupt:
            print("gankit serve: stopped", file=sys.stderr)
        return 0
    raise AssertionError(args.command)
