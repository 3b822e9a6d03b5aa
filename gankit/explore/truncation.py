"""The truncation trick: trade diversity for fidelity by keeping latents near the prior's centre.

BigGAN (Brock et al. 2019, section 3.1) samples z from a truncated normal: each entry with |z_i| > T
is drawn again until it lies inside [-T, T]. Smaller T gives more typical and less varied samples; T
at or beyond the prior's range changes nothing. Only the first ``z_dim`` units are truncated: the
InfoGAN codes and the one-hot categorical code that follow them in a latent are never changed.

Entries already inside the bound are kept, and redraws use the generator the latents came from
*after* the labels were drawn, so for one seed a smaller T changes only the outliers and the labels
stay the same.
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from gankit.errors import GankitError

MAX_ROUNDS = 10_000  # P(|z| > T) for N(0, 1) at the smallest T we accept (0.01) is 0.992: ~1,700 rounds


def check_threshold(threshold: float) -> float:
    """The bound T as a float, or a one-line error naming ``--truncation``."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise GankitError(f"--truncation {threshold!r} is not a number: give a bound T > 0, e.g. 0.5") from None
    if not math.isfinite(value) and value > 0:
        return value  # inf: no truncation
    if not value >= 0.01:
        raise GankitError(f"--truncation {threshold} must be >= 0.01 (the bound T on |z_i|; smaller T = less "
                          "varied, more typical samples; inf or a large T = no truncation)")
    return value


def truncate(z: torch.Tensor, threshold: float, z_dim: int, dist: str = "normal",
             generator: Optional[torch.Generator] = None, scale: float = 1.0) -> torch.Tensor:
    """A copy of latents z [n, latent_dim] whose first ``z_dim`` units are redrawn from the prior
    (``dist``: normal or uniform on [-1, 1], times ``scale``, G's ``model.z_std``) until every
    |z_i| <= ``threshold`` x ``scale``: T is in units of the prior's scale."""
    threshold = check_threshold(threshold)
    if dist not in ("normal", "uniform"):
        raise GankitError(f"truncation: unknown latent distribution {dist!r}")
    z = z.clone()
    if dist == "uniform" and threshold >= 1 or not math.isfinite(threshold):
        return z
    head = z[:, :z_dim]  # a view: redraws land in z
    bound = threshold * scale
    where = "cpu" if generator is not None else z.device
    for _ in range(MAX_ROUNDS):
        outside = head.abs() > bound
        count = int(outside.sum())
        if count == 0:
            return z
        if dist == "uniform":
            draw = torch.rand(count, generator=generator, device=where) * 2 - 1
        else:
            draw = torch.randn(count, generator=generator, device=where)
        head[outside] = (draw * scale).to(head.device, head.dtype)
    raise GankitError(f"truncation at T={threshold} did not converge in {MAX_ROUNDS} rounds")


def parse_thresholds(text: str) -> list[float]:
    """``"0.5,1,1.5,2"`` -> [0.5, 1.0, 1.5, 2.0] (``inf`` or ``none`` = no truncation), each checked."""
    values = []
    for part in str(text).split(","):
        part = part.strip().lower()
        if not part:
            continue
        values.append(math.inf if part in ("inf", "none") else check_threshold(part))
    if not values:
        raise GankitError(f"--truncation {text!r}: give one or more bounds, e.g. 0.5,1,1.5,2")
    return values


CURVE_METRICS = ("precision", "recall", "density", "coverage", "fid")


def truncation_curve(model, thresholds: list[float], metrics: Optional[str] = None, **score_args) -> list[dict]:
    """Score ``model`` (a LoadedGAN) once per bound T: one dict per T with ``truncation`` (None = off)
    and each score (default metrics: fid, pr, dc: the fidelity/diversity trade-off). The same latent
    seed for every T, so the curve shows truncation's effect, not sampling noise between points."""
    from gankit.metrics.evaluate import evaluate_model

    if model.kind != "image" and metrics is None:
        metrics = "pr,dc"
    rows = []
    for t in thresholds:
        result = evaluate_model(model, metrics=metrics or "fid,pr,dc",
                                truncation=None if not math.isfinite(t) else t, **score_args)
        rows.append({"truncation": None if not math.isfinite(t) else t,
                     **{k: v for k, v in result.items() if k != "provenance"},
                     "failed": result["provenance"].get("failed", {})})
    return rows


def format_curve(rows: list[dict]) -> str:
    """A table: one line per T, one column per score."""
    keys = [k for k in CURVE_METRICS if any(k in r for r in rows)]
    keys += sorted({k for r in rows for k in r if k not in keys and k not in ("truncation", "failed")
                    and isinstance(r[k], (int, float))})
    lines = ["  T     " + "".join(f"{k:>11}" for k in keys)]
    for r in rows:
        t = "off" if r["truncation"] is None else f"{r['truncation']:g}"
        cells = "".join(f"{r[k]:>11.4g}" if isinstance(r.get(k), (int, float)) else f"{'n/a':>11}" for k in keys)
        lines.append(f"  {t:<6}{cells}")
    return "\n".join(lines)


def plot_curve(rows: list[dict], out, title: str = "") -> None:
    """The fidelity/diversity curve: precision, recall, density, coverage (left axis) and FID (right)
    against T, as a PNG."""
    from matplotlib.figure import Figure

    finite = [r for r in rows if r["truncation"] is not None]
    if not finite:
        raise GankitError("--truncation: the curve needs at least one finite bound T")
    off = [r for r in rows if r["truncation"] is None]
    ts = [r["truncation"] for r in finite]
    fig = Figure(figsize=(6.4, 4.0), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    for key, style in zip(("precision", "recall", "density", "coverage"), ("o-", "s-", "^--", "v--")):
        if any(isinstance(r.get(key), (int, float)) for r in finite):
            ax.plot(ts, [r.get(key, float("nan")) for r in finite], style, label=key)
    ax.set_xlabel("truncation bound T (|z_i| <= T)")
    ax.set_ylabel("precision / recall / density / coverage")
    handles = list(ax.get_lines())
    if any(isinstance(r.get("fid"), (int, float)) for r in finite):
        ax2 = ax.twinx()
        handles += ax2.plot(ts, [r.get("fid", float("nan")) for r in finite], "k*-", label="FID (right axis)")
        if off and isinstance(off[0].get("fid"), (int, float)):
            handles.append(ax2.axhline(off[0]["fid"], color="k", lw=0.8, ls=":", label="FID, no truncation"))
        ax2.set_ylabel("FID (lower is better)")
    ax.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="best")
    ax.set_title(title or "Truncation: fidelity against diversity", fontsize=10)
    fig.tight_layout()
    fig.savefig(out)
