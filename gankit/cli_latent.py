"""CLI commands that explore a trained generator's latent space and its discriminator:
``interpolate``, ``arithmetic``, ``guide`` and ``features`` (thin: the work is in gankit.explore)."""
from __future__ import annotations

import argparse
import json

from gankit.errors import GankitError

COMMANDS = ("interpolate", "arithmetic", "guide", "features")


def add_parsers(sub) -> None:
    i = sub.add_parser("interpolate", help="walk the latent space between seeds (a strip, a GIF or an MP4)",
                       description="Interpolate between the latents of seeds (each the latent 'gankit sample --seed "
                                   "S --n 1' draws); a conditional model holds one class, or with --walk-labels "
                                   "holds one latent and steps through the classes.")
    i.add_argument("source", help="run directory or checkpoint")
    i.add_argument("--seeds", default="0,1", help="comma-separated seeds to walk through (default 0,1)")
    i.add_argument("--frames", type=int, default=16, help="frames per leg, endpoints included (default 16)")
    i.add_argument("--method", default="slerp", choices=["slerp", "lerp"], help="spherical (default) or linear")
    i.add_argument("--loop", action="store_true", help="walk back to the first seed (a looping animation)")
    i.add_argument("--label", help="conditional models: the class held along the walk (default: the first seed's)")
    i.add_argument("--walk-labels", nargs="?", const="all", metavar="L1,L2,...",
                   help="conditional models: hold the first seed's latent and step through these classes "
                        "(default: all)")
    i.add_argument("--fps", type=int, default=8, help="frames per second of a .gif/.mp4 (default 8)")
    i.add_argument("--out", required=True, help="walk.png (a strip), walk.gif, walk.mp4 or walk.npz (x, z, y)")
    i.add_argument("--raw", action="store_true", help="the trained G, not its EMA copy")

    a = sub.add_parser("arithmetic", help="latent arithmetic a - b + c on exemplar means (Radford et al. 2016)",
                       description="Each of --a, --b, --c is comma-separated seeds (3 per concept in the paper) or "
                                   "class:NAME (the 3 seeds whose samples the dataset's classifier puts in NAME "
                                   "most confidently).")
    for flag in ("--a", "--b", "--c"):
        a.add_argument(flag, required=True, metavar="SEEDS|class:NAME")
    a.add_argument("--neighbours", type=int, default=7, help="the result plus N(0, 0.25^2) noise, this many times")
    a.add_argument("--label", help="conditional models: the class held for every latent")
    a.add_argument("--classifier", default="shipped", help="for class:NAME exemplars: shipped or FILE.safetensors")
    a.add_argument("--seed", type=int, default=0, help="seed of the neighbours' noise")
    a.add_argument("--out", required=True, help="FILE.png (the figure)")
    a.add_argument("--raw", action="store_true", help="the trained G, not its EMA copy")
    a.add_argument("source", help="run directory or checkpoint")

    g = sub.add_parser("guide", help="classifier-guided latent search toward a class",
                       description="Gradient ascent on log p(target | G(z)) + prior * log p(|z|) over z; reports the "
                                   "target-class rate before and after, judged by the guiding classifier and by an "
                                   "independent k-NN vote on raw pixels, and draws the before/after grid.")
    g.add_argument("source", help="run directory or checkpoint")
    g.add_argument("--target", required=True, help="the class: an index or a class name (e.g. Sneaker)")
    g.add_argument("--classifier", default="shipped", help="shipped (the dataset's) or FILE.safetensors")
    g.add_argument("--steps", type=int, default=200, help="Adam steps on z (default 200)")
    g.add_argument("--lr", type=float, default=0.05, help="Adam learning rate on z (default 0.05)")
    g.add_argument("--prior", type=float, default=1.0, help="weight of the prior term -log p(|z|), per latent "
                   "unit, which keeps z on the shell where N(0, I) puts its mass (default 1; 0 = off)")
    g.add_argument("--restarts", type=int, default=2, help="rounds that give the samples not yet in the target "
                   "a fresh start from the prior (default 2; 0 = plain gradient ascent)")
    g.add_argument("--shift", type=int, help="random translations of up to this many pixels before the classifier, "
                   "against adversarial pixels (default: side / 7; 0 = off)")
    g.add_argument("--realism", type=float, default=0.0, help="weight of D's loss on G(z) in the search (default 0)")
    g.add_argument("--n", type=int, default=64, help="samples (default 64)")
    g.add_argument("--seed", type=int, default=0, help="latent seed (default 0)")
    g.add_argument("--no-judge", action="store_true", help="skip the k-NN judge (needs the training data)")
    g.add_argument("--out", help="FILE.png (before | after grids) or FILE.npz (x_before, x_after, z_before, z_after)")
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.add_argument("--raw", action="store_true", help="the trained G, not its EMA copy")

    f = sub.add_parser("features", help="the discriminator as a feature extractor (features of a dataset)",
                       description="D's features of a dataset split, as in the DCGAN paper: every activation "
                                   "max-pooled to 4x4 and concatenated (--layers all) or D's last features.")
    f.add_argument("source", help="run directory or checkpoint")
    f.add_argument("--data", help="dataset name (default: the one the model was trained on)")
    f.add_argument("--data-path", help="file or folder of that dataset (as data.path)")
    f.add_argument("--split", default="test", help="train or test (default test)")
    f.add_argument("--layers", default="all", choices=["all", "last"], help="all activations pooled (default) or last")
    f.add_argument("--n", type=int, help="a seeded subset of this many items (default all)")
    f.add_argument("--out", required=True, help="FILE.npz with features [N, F], y [N] and meta")


def run(args: argparse.Namespace) -> int:
    import gankit

    if args.command == "interpolate":
        return _interpolate(gankit.load(args.source, raw=args.raw), args)
    if args.command == "arithmetic":
        return _arithmetic(gankit.load(args.source, raw=args.raw), args)
    if args.command == "guide":
        return _guide(gankit.load(args.source, raw=args.raw), args)
    if args.command == "features":
        return _features(gankit.load(args.source), args)
    raise AssertionError(args.command)


def _interpolate(model, args) -> int:
    import numpy as np

    from gankit.explore.walks import label_walk, latent_walk, parse_seeds, write_walk

    seeds = parse_seeds(args.seeds, "--seeds", at_least=1 if args.walk_labels else 2)
    if args.walk_labels:
        if args.label is not None:
            raise GankitError("give --label (one class along a z walk) or --walk-labels (classes at one z), not both")
        labels = None if args.walk_labels == "all" else [s.strip() for s in args.walk_labels.split(",") if s.strip()]
        z, y = label_walk(model, seeds[0], labels)
        what = f"{len(z)} classes at seed {seeds[0]}"
    else:
        z, y = latent_walk(model, seeds, args.frames, args.method, label=args.label, closed=args.loop)
        what = f"{len(z)} frames ({args.method}) through seeds {','.join(map(str, seeds))}"
    x = model.generate(z, y)
    if args.out.endswith(".npz"):
        from pathlib import Path

        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"x": model.to_data(x), "z": z.numpy(), **({"y": y.numpy()} if y is not None else {})}
        np.savez(out, **arrays)
    else:
        if model.kind != "image":
            raise GankitError("a walk of vectors has no picture: write --out FILE.npz")
        out = write_walk(model.to_data(x), args.out, fps=args.fps)
    print(f"wrote {what} to {out}")
    return 0


def _arithmetic(model, args) -> int:
    from gankit.explore.arithmetic import arithmetic_figure, latent_arithmetic

    if not args.out.endswith(".png"):
        raise GankitError(f"--out {args.out}: the figure is a .png file")
    if model.kind != "image":
        raise GankitError("latent arithmetic draws images; this model makes vectors")
    res = latent_arithmetic(model, args.a, args.b, args.c, neighbours=args.neighbours, seed=args.seed,
                            label=args.label, classifier=args.classifier)
    arithmetic_figure(model, res, args.out)
    for name, part in zip("abc", res.concepts):
        print(f"{name}: seeds {','.join(map(str, part.seeds))}")
    print(f"wrote {args.out}")
    return 0


def _guide(model, args) -> int:
    from gankit.explore.guide import guided_search

    res = guided_search(model, args.target, n=args.n, steps=args.steps, lr=args.lr, prior=args.prior,
                        seed=args.seed, classifier=args.classifier, judge=not args.no_judge,
                        restarts=args.restarts, shift=args.shift, realism=args.realism)
    name = (model.spec.class_names or [str(res.target)] * (res.target + 1))[res.target]
    if args.out:
        _write_guide(model, res, args.out)
    if args.json:
        print(json.dumps({**res.summary(), "class": name, "out": args.out}))
        return 0
    rounds = f", restarts after rates {', '.join(f'{r:.0%}' for r in res.restart_rates)}" if res.restart_rates else ""
    print(f"target: {name} (class {res.target}); {args.n} samples, {args.steps} steps per round{rounds}")
    print(f"  classifier's rate  {res.rate_before:6.1%} -> {res.rate_after:6.1%}   "
          f"(mean p(target) {res.p_before:.3f} -> {res.p_after:.3f})")
    if res.judge_before is not None:
        print(f"  pixel k-NN judge   {res.judge_before:6.1%} -> {res.judge_after:6.1%}   (independent of the guide)")
    print(f"  mean |z|           {res.norm_before:8.2f} -> {res.norm_after:.2f}   "
          f"(the prior's shell: {model.G.z_dim ** 0.5:.2f})")
    if args.out:
        print(f"wrote {args.out}")
    return 0


def _write_guide(model, res, out: str) -> None:
    from pathlib import Path

    import numpy as np

    from gankit.report.grid import make_grid

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npz":
        np.savez(path, x_before=model.to_data(res.x_before), x_after=model.to_data(res.x_after),
                 z_before=res.z_before.numpy(), z_after=res.z_after.numpy())
        return
    if path.suffix != ".png":
        raise GankitError(f"--out {out}: write a .png (before | after) or an .npz")
    from PIL import Image

    before, after = (make_grid(model.to_data(x).transpose(0, 3, 1, 2)) for x in (res.x_before, res.x_after))
    gap = np.full((before.shape[0], 8, before.shape[2]), 255, np.uint8)
    Image.fromarray(np.concatenate([before, gap, after], axis=1).squeeze()).save(path)


def _features(model, args) -> int:
    from gankit.explore.dfeatures import dataset_features, save_features

    feats, y = dataset_features(model, args.data, args.split, args.layers, n=args.n, data_path=args.data_path)
    meta = {"checkpoint": str(model.path), "step": model.step, "data": args.data or model.config.data.name,
            "split": args.split, "layers": args.layers, "n": len(feats), "dim": feats.shape[1]}
    out = save_features(args.out, feats, y, meta)
    print(f"wrote {len(feats)} x {feats.shape[1]} features ({args.layers}) to {out}")
    return 0
