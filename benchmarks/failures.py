"""The pictures of docs/failures.md: each failure-gallery preset beside its fix, at the same step.

    python benchmarks/failures.py [--out docs/figures/failures] [--work /tmp/gankit-failures]

Each pair is trained from the same seed for the same number of steps (shortened from the presets' own
lengths so the whole script takes a few minutes on one CPU thread); the last sample snapshot of each run
is copied to ``--out`` as ``<failure>.png`` and ``<failure>-fix.png``. The NaN run stops when it
diverges, so its picture is its loss curves up to that step.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import gankit  # noqa: E402
from gankit.errors import GankitError  # noqa: E402

COMMON = ["train.threads=1", "eval.final=false", "eval.every=0"]
#: failure -> (preset, its overrides, the fix: preset and overrides, steps)
PAIRS = {
    "saturating": ("fail-saturating", [], ("fail-saturating", ["objective.name=ns"]), 600),
    "collapse": ("fail-collapse", [], ("grid", []), 1500),
    "wgan-clip": ("fail-wgan-clip", [], ("fail-wgan-clip", ["objective.params.clip=0.01"]), 400),
    "nan": ("fail-nan", ["train.log_every=1"], ("ring", []), 300),
}


def last_snapshot(run: Path) -> Path:
    return sorted((run / "samples").glob("step_*.png"))[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "figures" / "failures"))
    ap.add_argument("--work", default="/tmp/gankit-failures")
    ap.add_argument("--only", nargs="*", default=None, help="failures to redo (default: all)")
    args = ap.parse_args()
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    for name, (preset, over, (fix_preset, fix_over), steps) in PAIRS.items():
        if args.only and name not in args.only:
            continue
        for tag, p, o in ((name, preset, over), (f"{name}-fix", fix_preset, fix_over)):
            run = work / tag
            shutil.rmtree(run, ignore_errors=True)
            try:
                gankit.train(p, COMMON + o + [f"train.steps={steps}", f"train.sample_every={steps}"], out=run,
                             progress=False)
            except GankitError as exc:  # the NaN preset stops by design
                print(f"{tag}: {exc}")
            if tag == "nan":
                from gankit.report.plots import loss_curves
                from gankit.report.html import read_log

                loss_curves(read_log(run / "log.jsonl"), out / f"{tag}.png")
            else:
                shutil.copy(last_snapshot(run), out / f"{tag}.png")
            print(f"{tag}: {out / (tag + '.png')}")


if __name__ == "__main__":
    main()
