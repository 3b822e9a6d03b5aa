"""Training curves from the JSONL log records."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

from gankit.report._io import PathLike, new_figure, save_figure

#: The fixed panels of ``loss_curves``: (title, keys, log-scale y, y-axis label).
TRAIN_PANELS = (
    ("losses", ("loss_d", "loss_g"), False, "loss"),
    ("discriminator output", ("d_real", "d_fake"), False, "mean D output"),
    ("gradient norms", ("grad_norm_d", "grad_norm_g"), True, "L2 norm (log)"),
    # InfoGAN (objective.info): log K - CE, the lower bound on I(c; G(z, c)), at most log K
    ("code information (nats)", ("mi_d", "mi_g"), False, "nats"),
    # minimax, ns, r1, r2: V(D, G) = E log D(x) + E log(1 - D(G(z))); -log 4 at the game's optimum p_g = p_data
    ("value of the game V(D, G)", ("game_value",), False, "V(D, G)"),
    # Trainer.diversity: a ratio, not a probability, so it can exceed 1
    ("diversity: spread of samples / spread of data (1 = alike, > 1 = more spread, near 0 = collapse)",
     ("diversity",), False, "ratio"),
)
#: Horizontal reference lines drawn in the panel of a key: key -> (value, label).
REFERENCE_LINES = {"game_value": (-math.log(4.0), "-log 4 (the optimum, p_g = p_data)")}
#: Bookkeeping keys that are never plotted as curves.
NOT_CURVES = frozenset({"type", "step", "time", "img_per_s", "epoch"})
# The report shows figures at the page's full width (~1000 px): drawn at that size, fonts stay readable.
PANEL_HEIGHT = 2.6
FIG_WIDTH = 10.0
SCORE_COLUMNS = 3  # small score panels per row
SCORE_PANEL_HEIGHT = 2.4
FIG_DPI = 100
TITLE_SIZE, LABEL_SIZE, TICK_SIZE, LEGEND_SIZE = 12, 11, 10, 10
SMOOTH_FROM = 60  # with this many points or more, a smoothed line is drawn over the raw one


def as_number(v: Any) -> Optional[float]:
    """A float from a log value (the log writes non-finite floats as strings "nan"/"inf"), else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and v.strip().lower() in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity"):
        return float(v)
    return None


def records_of_type(records: Iterable[dict], kind: str) -> list[dict]:
    """Records whose "type" is ``kind`` ("train" also takes records without a type) and that have a step."""
    out = []
    for r in records:
        if not isinstance(r, dict) or as_number(r.get("step")) is None:
            continue
        t = r.get("type", "train")
        if t == kind:
            out.append(r)
    return out


def _series(records: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    steps, values = [], []
    for r in records:
        v = as_number(r.get(key))
        if v is not None:
            steps.append(float(r["step"]))
            values.append(v)
    return np.asarray(steps), np.asarray(values)


def _numeric_keys(records: list[dict], exclude: Iterable[str]) -> list[str]:
    excluded = set(exclude)
    keys: dict[str, None] = {}
    for r in records:
        for k, v in r.items():
            if k not in excluded and k not in keys and as_number(v) is not None:
                keys[k] = None
    return list(keys)


def _ema(values: np.ndarray, n: int) -> np.ndarray:
    alpha = 2.0 / (max(n, 2) / 20 + 1)  # about 20 smoothed points' worth of memory over the run
    out = np.empty_like(values)
    acc = np.nan
    for i, v in enumerate(values):  # a few thousand log records at most: a loop is fine
        if not math.isfinite(v):
            out[i] = acc
            continue
        acc = v if not math.isfinite(acc) else acc + alpha * (v - acc)
        out[i] = acc
    return out


def _plot_panel(ax, records: list[dict], keys: Iterable[str], title: str, log_y: bool,
                marker: Optional[str] = None, legend: bool = True, ylabel: Optional[str] = None) -> bool:
    drawn = False
    for i, key in enumerate(keys):
        steps, values = _series(records, key)
        if log_y:
            keep = values > 0
            steps, values = steps[keep], values[keep]
        if steps.size == 0:
            continue
        color = f"C{i % 10}"
        if steps.size >= SMOOTH_FROM:
            ax.plot(steps, values, color=color, lw=0.8, alpha=0.3)
            ax.plot(steps, _ema(values, steps.size), color=color, lw=1.5, label=key)
        else:
            ax.plot(steps, values, color=color, lw=1.4, marker=marker or ("o" if steps.size < 8 else None),
                    ms=3, label=key)
        drawn = True
        if key in REFERENCE_LINES:
            value, label = REFERENCE_LINES[key]
            ax.axhline(value, color="k", ls="--", lw=1.0, label=label)
    if drawn:
        if log_y:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=TITLE_SIZE, loc="left")
        if ylabel:
            ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
        if legend:
            ax.legend(fontsize=LEGEND_SIZE, loc="best", framealpha=0.8)
        ax.grid(alpha=0.3, lw=0.5)
        ax.tick_params(labelsize=TICK_SIZE)
    return drawn


def _panels_figure(records: list[dict], panels: list[tuple[str, tuple, bool, str]]) -> Any:
    """One stacked figure with a panel per (title, keys, log_y, ylabel) that has data; None when none has."""
    present = [p for p in panels if any(_series(records, k)[0].size for k in p[1])]
    if not present:
        return None
    fig = new_figure(FIG_WIDTH, PANEL_HEIGHT * len(present) + 0.3, FIG_DPI)
    axes = fig.subplots(len(present), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (title, keys, log_y, ylabel) in zip(axes, present):
        _plot_panel(ax, records, keys, title, log_y, ylabel=ylabel)
    axes[-1].set_xlabel("generator step", fontsize=LABEL_SIZE)
    fig.tight_layout(pad=0.5)
    return fig


def loss_figure(records: list[dict]) -> Any:
    """The figure of ``loss_curves`` (a matplotlib Figure), or None when there is nothing to plot."""
    train = records_of_type(records, "train")
    panels = list(TRAIN_PANELS)
    fixed = {k for _, keys, _, _ in TRAIN_PANELS for k in keys}
    extra = _numeric_keys(train, NOT_CURVES | fixed)
    if extra:
        panels.append(("other", tuple(extra), False, "value"))
    return _panels_figure(train, panels)


def metric_figure(records: list[dict], best: Optional[dict] = None,
                  directions: Optional[dict] = None) -> Any:
    """The figure of ``metric_curves``, or None when there are no eval records.

    ``best`` (a best checkpoint's ``{"key", "value", "step"}``) is marked with a star on its panel;
    ``directions`` (score key -> "min" | "max") adds "lower/higher is better" to the panel titles.
    """
    evals = records_of_type(records, "eval")
    keys = [k for k in _numeric_keys(evals, NOT_CURVES) if _series(evals, k)[0].size]
    if not keys:
        return None
    # One small panel per score: FID (tens) and precision (0..1) do not share a scale.
    cols = min(SCORE_COLUMNS, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig = new_figure(FIG_WIDTH, SCORE_PANEL_HEIGHT * rows + 0.3, FIG_DPI)
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False).ravel()
    for ax, key in zip(axes, keys):
        way = (directions or {}).get(key)
        title = key + {"min": " (lower is better)", "max": " (higher is better)"}.get(way, "")
        _plot_panel(ax, evals, (key,), title, False, marker="o", legend=False, ylabel=key)
        if best and best.get("key") == key and as_number(best.get("value")) is not None \
                and as_number(best.get("step")) is not None:
            star = ax.plot([float(best["step"])], [float(best["value"])], marker="*", ms=11, color="C3",
                           ls="none", label=f"best (step {int(best['step'])})")
            ax.legend(handles=star, fontsize=LEGEND_SIZE, loc="best", framealpha=0.8)
    for ax in axes[len(keys):]:
        ax.set_visible(False)
    for ax in axes[max(len(keys) - cols, 0):len(keys)]:  # the lowest panel of each column
        ax.set_xlabel("generator step", fontsize=LABEL_SIZE)
        ax.xaxis.set_tick_params(labelbottom=True)
    fig.tight_layout(pad=0.5)
    return fig


def loss_curves(records: list[dict], path: PathLike) -> Optional[Path]:
    """Plot training curves from log records into a PNG (atomically).

    Panels (each only when its keys are present): ``loss_d``/``loss_g``; ``d_real``/``d_fake``;
    ``grad_norm_d``/``grad_norm_g`` (log y); ``mi_d``/``mi_g`` (InfoGAN); ``diversity`` (mean pairwise
    distance of G's samples over that of real items: a ratio that can exceed 1); and one "other" panel with any further numeric keys
    (never step, time, img_per_s, epoch). Only ``type: train`` records (or untyped ones) are used;
    long noisy curves get a smoothed line over the faint raw one.

    Returns the path written, or None (nothing written) when no record has anything to plot.
    """
    fig = loss_figure(records)
    return None if fig is None else save_figure(fig, path)


def metric_curves(records: list[dict], path: PathLike, best: Optional[dict] = None,
                  directions: Optional[dict] = None) -> Optional[Path]:
    """Plot each numeric metric of the ``type: eval`` records against step, one small panel per metric
    (see :func:`metric_figure` for ``best`` and ``directions``).

    Returns the path written, or None (nothing written) when there are no eval records.
    """
    fig = metric_figure(records, best, directions)
    return None if fig is None else save_figure(fig, path)
