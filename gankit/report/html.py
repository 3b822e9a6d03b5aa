"""The static, self-contained ``report.html`` of a run directory.

Everything the page shows is embedded (images as base64 PNG data URIs), so the file opens from disk,
keeps working when moved, and needs no JavaScript or network. Every input may be missing or partial
(after 0 steps, or a crash): the page then says what it lacks instead of failing.
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

from gankit.report._io import PathLike, figure_png, format_duration, write_bytes_atomic
from gankit.report.plots import as_number, loss_figure, metric_figure, records_of_type

MAX_STRIP = 24  # snapshots shown over time; more are thinned evenly, keeping the first and last
SNAPSHOT_RE = re.compile(r"^step_(\d+)\.png$")
THUMB_PX = 240  # thumbnails of the samples over time are at least this wide (the .strip CSS)

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.sub { color: #666; margin-top: 0; }
table.summary { border-collapse: collapse; }
table.summary th, table.summary td { text-align: left; padding: 0.2em 1.2em 0.2em 0; vertical-align: top; }
table.summary th { color: #555; font-weight: 600; }
td.num { font-variant-numeric: tabular-nums; }
.warnings { background: #fff4e5; border-left: 4px solid #f08c00; padding: 0.5em 1em; }
.warnings li { margin: 0.2em 0; }
.missing { color: #888; font-style: italic; }
img { max-width: 100%; }
img.figure { width: 100%; }
img.final { max-width: 100%; border: 1px solid #ddd; }
.strip { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 0.8em; }
.strip figure { margin: 0; text-align: center; }
.strip img { width: 100%; border: 1px solid #eee; }
.strip img.small { image-rendering: pixelated; }
.strip figcaption { font-size: 0.9em; color: #555; }
.pair { display: grid; grid-template-columns: repeat(2, minmax(0, 420px)); gap: 1.2em; }
.pair figure { margin: 0; text-align: center; }
.pair img { width: 100%; image-rendering: pixelated; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; font-size: 0.85em; }
details summary { cursor: pointer; color: #555; }
"""


def build_report(run_dir: PathLike) -> Path:
    """Write ``run_dir/report.html`` (atomically) from what the run directory holds, and return its path.

    Reads (each optional): ``run.json``, ``log.jsonl`` (unparseable lines are skipped), ``config.yaml``,
    ``checkpoints/best.json`` and ``samples/step_NNNNNNN.png``. The page: a summary table, warnings,
    loss curves, the scores during training (``eval`` records) and the best checkpoint, the final
    snapshot, up to ~24 snapshots over time, events, and the config verbatim.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir} is not a folder: there is no run to report on")
    info = _read_json(run_dir / "run.json")
    records = read_log(run_dir / "log.jsonl")
    config_text = _read_text(run_dir / "config.yaml")
    snapshots = list_snapshots(run_dir / "samples")
    name = str(info.get("name") or _config_name(config_text) or run_dir.name)

    parts = [f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             f"<title>{_e(name)}: gankit report</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
             f"<h1>{_e(name)}</h1>\n<p class=\"sub\">gankit run report for <code>{_e(str(run_dir))}</code>, "
             f"built {_e(_dt.datetime.now().strftime('%Y-%m-%d %H:%M:%S'))}</p>\n"]
    parts.append(_summary_html(info, records, snapshots))
    parts.append(_messages_html(records, "warning", "Warnings", "warnings"))
    parts.append(_figure_section("Training curves", loss_figure(records), "no training records in log.jsonl yet"))
    parts.append(_scores_html(records, _read_json(run_dir / "checkpoints" / "best.json"), run_dir))
    parts.append(_snapshots_html(snapshots, run_dir / "samples" / "real.png"))
    parts.append(_codes_html(run_dir / "samples"))
    parts.append(_style_html(run_dir / "samples"))
    parts.append(_events_html(records))
    parts.append("<h2>Configuration</h2>\n")
    if config_text is None:
        parts.append("<p class=\"missing\">no config.yaml</p>\n")
    else:
        parts.append(f"<pre>{_e(config_text)}</pre>\n")
    parts.append("</body>\n</html>\n")
    return write_bytes_atomic(run_dir / "report.html", "".join(parts).encode("utf-8"))


# --------------------------------------------------------------------------- reading the run


def read_log(path: Path) -> list[dict]:
    """The JSON object records of a JSONL log; unparseable lines (a crash's half line) are skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def list_snapshots(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of ``step_NNNNNNN.png`` files, by step."""
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = SNAPSHOT_RE.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def pick_evenly(n: int, k: int = MAX_STRIP) -> list[int]:
    """Up to ``k`` indices into ``range(n)``, evenly spaced, always including the first and the last."""
    if n <= k:
        return list(range(n))
    return sorted(set(np.round(np.linspace(0, n - 1, k)).astype(int).tolist()))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_text(path: Path) -> Optional[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _config_name(config_text: Optional[str]) -> Optional[str]:
    if not config_text:
        return None
    import yaml

    try:
        data = yaml.safe_load(config_text)
    except yaml.YAMLError:
        return None
    return str(data["name"]) if isinstance(data, dict) and data.get("name") else None


# --------------------------------------------------------------------------- page parts


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _fmt_time(v: Any) -> str:
    x = as_number(v)
    if x is None:
        return str(v)
    try:
        return _dt.datetime.fromtimestamp(x).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return str(v)


def _fmt_num(v: Any) -> str:
    x = as_number(v)
    if x is None:
        return str(v)
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    if x == int(x) and abs(x) < 1e12:
        return f"{int(x):,}"
    return f"{x:.4g}"


def _summary_html(info: dict, records: list[dict], snapshots: list) -> str:
    train = records_of_type(records, "train")
    evals = records_of_type(records, "eval")
    last = train[-1] if train else {}
    rows: list[tuple[str, str]] = []
    rows.append(("status", str(info.get("status", "unknown (no run.json)"))))
    if info.get("preset"):
        rows.append(("preset", str(info["preset"])))
    # The latest of what run.json, the log and the snapshots say (run.json lags during training).
    known = [as_number(v) for v in (info.get("step"), last.get("step"), snapshots[-1][0] if snapshots else None)]
    known = [v for v in known if v is not None and v == v]
    step = max(known) if known else None
    target = info.get("steps")
    if step is not None or target is not None:
        done = _fmt_num(step) if step is not None else "?"
        rows.append(("steps", done + (f" / {_fmt_num(target)}" if target is not None else "")))
    for key in ("loss_d", "loss_g", "d_real", "d_fake"):
        if key in last:
            rows.append((f"last {key}", _fmt_num(last[key])))
    if "img_per_s" in last:
        rows.append(("last images/s", _fmt_num(round(float(as_number(last["img_per_s"]) or 0)))))
    rows += _time_rows(info, last)
    if evals:
        latest = evals[-1]
        for k, v in latest.items():
            if k not in ("type", "step", "time") and as_number(v) is not None:
                rows.append((f"{k} (step {_fmt_num(latest['step'])})", _fmt_num(v)))
        if latest.get("how"):
            rows.append(("scored with", f"{latest['how']} (definitions: docs/metrics.md)"))
        if latest.get("caveats"):
            rows.append(("caveats", str(latest["caveats"])))
    body = "".join(f"<tr><th>{_e(k)}</th><td class=\"num\">{_e(v)}</td></tr>\n" for k, v in rows)
    return f"<h2>Summary</h2>\n<table class=\"summary\">\n{body}</table>\n"


def _time_rows(info: dict, last: dict) -> list[tuple[str, str]]:
    """Training time over every segment of the run (each start and resume), then start and end."""
    rows = []
    segments = [seg for seg in info.get("segments", []) if isinstance(seg, dict)]
    total = as_number(info.get("training_seconds"))
    if total is not None and segments:
        if info.get("status") == "running" and as_number(segments[-1].get("start")) is not None:
            total = max(total, as_number(last.get("time")) or 0.0)  # the open segment runs on since its checkpoint
        runs = f" over {len(segments)} segments (resumed {len(segments) - 1}x)" if len(segments) > 1 else ""
        rows.append(("training time", format_duration(total) + runs))
    elif as_number(last.get("time")) is not None:
        rows.append(("training time (last log)", format_duration(float(last["time"]))))
    for key, label in (("started", "started"), ("finished", "finished")):
        if info.get(key) is not None:
            rows.append((label, _fmt_time(info[key])))
    return rows


def _messages_html(records: list[dict], kind: str, heading: str, css: str) -> str:
    items = [r for r in records if r.get("type") == kind]
    if not items:
        return ""
    lis = "".join(f"<li><b>step {_e(_fmt_num(r.get('step', '?')))}</b>: {_e(r.get('message', ''))}</li>\n"
                  for r in items)
    return f"<h2>{_e(heading)}</h2>\n<div class=\"{css}\"><ul>\n{lis}</ul></div>\n"


def _events_html(records: list[dict]) -> str:
    items = [r for r in records if r.get("type") == "event"]
    if not items:
        return ""
    lis = "".join(f"<li>step {_e(_fmt_num(r.get('step', '?')))}: {_e(r.get('message', ''))}</li>\n"
                  for r in items)
    return (f"<h2>Events</h2>\n<details><summary>{len(items)} event(s)</summary>\n<ul>\n{lis}</ul>\n"
            f"</details>\n")


def _figure_section(heading: str, fig: Any, missing: str) -> str:
    if fig is None:
        return f"<h2>{_e(heading)}</h2>\n<p class=\"missing\">{_e(missing)}</p>\n"
    return (f"<h2>{_e(heading)}</h2>\n<img class=\"figure\" src=\"{_data_uri(figure_png(fig))}\" "
            f"alt=\"{_e(heading)}\">\n")


def _scores_html(records: list[dict], best_manifest: dict, run_dir: Path) -> str:
    """The "Scores during training" plot (one small panel per score) and the best checkpoint's line."""
    from gankit.config import SCORE_DIRECTIONS

    best = best_manifest.get("best") if isinstance(best_manifest.get("best"), dict) else None
    if best is None and len({r.get("step") for r in records_of_type(records, "eval")}) < 2:
        return ""  # one scoring (eval.final): the summary table shows it; a plot of one point says nothing
    fig = metric_figure(records, best, SCORE_DIRECTIONS)
    if fig is None and best is None:
        return ""
    heading = "Scores during training"
    parts = [_figure_section(heading, fig, "no scores in log.jsonl")]
    if best is not None:
        way = {"lower": "lower is better", "higher": "higher is better"}.get(str(best.get("better")), "")
        path = run_dir.resolve() / "checkpoints" / "best.json"  # a command that works from any folder
        parts.append(f"<p>Best checkpoint by <b>{_e(best.get('key'))}</b>{f' ({way})' if way else ''}: "
                     f"<code>{_e(path)}</code>, step {_e(_fmt_num(best.get('step')))}, "
                     f"{_e(best.get('key'))} = {_e(_fmt_num(best.get('value')))}. Sample from it with "
                     f"<code>gankit sample {_e(path)} --n 64 --out best.png</code>.</p>\n")
    return "".join(parts)


def _codes_html(folder: Path) -> str:
    """InfoGAN's code pictures (``samples/codes_*.png``, from the last snapshot), if any."""
    pictures = sorted(folder.glob("codes_c*.png")) + sorted(folder.glob("codes_categorical.png"))
    if not pictures:
        return ""
    parts = ["<h2>What the latent codes control</h2>\n<p class=\"sub\">At the last snapshot, from fixed latents "
             "(Chen et al. 2016, Figure 2). Continuous code c<sub>j</sub>: one row per value of the categorical code, "
             "c<sub>j</sub> from -2 to 2 along the columns (trained on [-1, 1]), everything else fixed. Categorical code: "
             "one column per value, one noise draw per row.</p>\n<div class=\"pair\">\n"]
    for path in pictures:
        caption = "categorical code" if path.stem.endswith("categorical") else f"continuous code {path.stem[7:]}"
        try:
            parts.append(f"<figure><img src=\"{_data_uri(path.read_bytes())}\" alt=\"{_e(caption)}\">"
                         f"<figcaption>{_e(caption)}</figcaption></figure>\n")
        except OSError:
            continue
    parts.append("</div>\n")
    return "".join(parts)


def _style_html(folder: Path) -> str:
    """A StyleGAN-style run's truncation-in-W rows and style-mixing grid (from the last snapshot), if any."""
    pictures = [(folder / "style_truncation.png", "truncation in W: rows psi 1, 0.7, 0.5, 0.25, 0 (the average w)"),
                (folder / "style_mixing.png", "style mixing: row i's coarse styles, column j's fine styles")]
    figures = []
    for path, caption in pictures:
        try:
            figures.append(f"<figure><img src=\"{_data_uri(path.read_bytes())}\" alt=\"{_e(caption)}\">"
                           f"<figcaption>{_e(caption)}</figcaption></figure>\n")
        except OSError:
            continue
    if not figures:
        return ""
    return ("<h2>Styles: truncation and mixing</h2>\n<p class=\"sub\">At the last snapshot, from fixed latents "
            "(Karras et al. 2019, Figures 3 and 8).</p>\n<div class=\"pair\">\n" + "".join(figures) + "</div>\n")


def _snapshots_html(snapshots: list[tuple[int, Path]], real: Optional[Path] = None) -> str:
    if not snapshots:
        return "<h2>Samples</h2>\n<p class=\"missing\">no snapshots in samples/ yet</p>\n"
    uris: dict[int, str] = {}

    small: set[int] = set()

    def uri(i: int) -> Optional[str]:
        if i not in uris:
            try:
                png = snapshots[i][1].read_bytes()
            except OSError:  # removed while we read (a resume prunes samples): leave it out
                png = b""
            uris[i] = _data_uri(png) if png else ""
            if png[12:16] == b"IHDR" and int.from_bytes(png[16:20], "big") < THUMB_PX:
                small.add(i)  # a grid of 8x8 digits: enlarged, it must stay sharp, not blur
        return uris[i] or None

    final_step = snapshots[-1][0]
    parts = [f"<h2>Samples at step {final_step}</h2>\n"]
    final = uri(len(snapshots) - 1)
    final_html = (f"<img class=\"final\" src=\"{final}\" alt=\"samples at step {final_step}\">" if final
                  else "<p class=\"missing\">the last snapshot could not be read</p>")
    if real is not None and real.is_file():
        # Side by side with real data, so a reader can judge the samples.
        final_html = (f"<div class=\"pair\"><figure>{final_html}<figcaption>generated</figcaption></figure>"
                      f"<figure><img class=\"final\" src=\"{_data_uri(real.read_bytes())}\" alt=\"real data\">"
                      f"<figcaption>real data</figcaption></figure></div>")
    parts.append(final_html + "\n")
    picked = pick_evenly(len(snapshots))
    shown = f"{len(picked)} of {len(snapshots)}" if len(picked) < len(snapshots) else f"{len(snapshots)}"
    parts.append(f"<h2>Samples over time</h2>\n<p class=\"sub\">{shown} snapshots, from the same latent "
                 f"batch</p>\n<div class=\"strip\">\n")
    for i in picked:
        step, _ = snapshots[i]
        src = uri(i)
        if src:
            css = " class=\"small\"" if i in small else ""
            parts.append(f"<figure><img{css} src=\"{src}\" alt=\"step {step}\">"
                         f"<figcaption>step {step}</figcaption></figure>\n")
    parts.append("</div>\n")
    return "".join(parts)
