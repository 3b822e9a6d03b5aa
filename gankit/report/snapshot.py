"""One PNG showing what the generator does at one training step.

* images: a grid of samples;
* 2D data: data and generator samples over a filled contour of the discriminator's output;
* 1D data: data density, generator density and the discriminator curve, as in Figure 1 of
  Goodfellow et al. 2014, "Generative Adversarial Nets".
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np

from gankit.report._io import PathLike, new_figure, save_figure
from gankit.report.grid import save_grid, save_labelled_grid

ArrayFn = Callable[[np.ndarray], np.ndarray]

FIG_INCHES = 4.2
FIG_DPI = 90
CONTOUR_RES = 100  # the discriminator is evaluated on a CONTOUR_RES x CONTOUR_RES grid
CURVE_RES = 400  # points along x for the 1D curves
REAL_COLOR = "0.1"
FAKE_COLOR = "#e8590c"
GEN_COLOR = "#2b8a3e"
D_COLOR = "#1c5fd6"


def render_snapshot(path: PathLike, *, kind: str, step: int, fake: np.ndarray,
                    real: Optional[np.ndarray] = None,
                    d_fn: Optional[ArrayFn] = None,
                    pdf_fn: Optional[ArrayFn] = None,
                    d_label: str = "D(x)", title: Optional[str] = None, nrow: Optional[int] = None,
                    row_labels: Optional[list] = None) -> Path:
    """Write one PNG (atomically) showing the generator at ``step``.

    Args:
        path: the PNG to write.
        kind: "image", "2d" or "1d".
        step: the training step, shown in the title.
        fake: generator samples: uint8 [N, C, H, W] for "image", float [N, 2] for "2d", [N, 1] for "1d".
        real: data samples, float [M, 2] or [M, 1] (optional).
        d_fn: the discriminator on points [K, D] -> [K]: probabilities or raw critic scores; the range
            is never assumed.
        pdf_fn: the data density on points [K, 1] -> [K] ("1d" only; without it a KDE of ``real`` is drawn).
        d_label: the name of D's output on the colorbar / axis.
        title: replaces the default "step N".
        nrow, row_labels: images only: images per row, and a label drawn left of each row (the
            class of a conditional generator's per-class grid).

    Returns the path written.
    """
    if kind == "image":
        if row_labels:
            return save_labelled_grid(fake, path, nrow or len(fake), row_labels)
        return save_grid(fake, path, nrow=nrow)
    if kind not in ("1d", "2d"):
        raise ValueError(f"kind must be 'image', '2d' or '1d', got {kind!r}")
    dim = int(kind[0])
    fake = _points(fake, dim, "fake")
    real = None if real is None else _points(real, dim, "real")
    fig = new_figure(FIG_INCHES, FIG_INCHES, FIG_DPI)
    label = title if title is not None else f"step {step}"
    if dim == 2:
        _draw_2d(fig, fake, real, d_fn, d_label, label)
    else:
        _draw_1d(fig, fake, real, d_fn, pdf_fn, d_label, label)
    return save_figure(fig, path)


# --------------------------------------------------------------------------- helpers


def _points(x: np.ndarray, dim: int, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1 and dim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"{name} must be float [N, {dim}] for kind '{dim}d', got shape {x.shape}")
    return x


def _view_range(real: Optional[np.ndarray], fake: np.ndarray, axis: int) -> tuple[float, float]:
    """[lo, hi] covering the data and the generator's samples, with a margin.

    Far outliers among the fake samples (beyond the central 98% by more than its width, or more than
    twice the data's width away from the data) are left out of view, so that a few stray samples do not
    squash the picture to a dot; how many fell outside is written on the figure instead.
    """
    los, his = [], []
    r = None if real is None else real[:, axis][np.isfinite(real[:, axis])]
    if r is not None and r.size:
        los.append(r.min())
        his.append(r.max())
    f = fake[:, axis][np.isfinite(fake[:, axis])]
    if f.size:
        q_lo, q_hi = np.quantile(f, [0.01, 0.99])
        width = max(q_hi - q_lo, 1e-6)
        f_lo, f_hi = max(f.min(), q_lo - width), min(f.max(), q_hi + width)
        if r is not None and r.size:
            r_width = max(r.max() - r.min(), 1e-6)
            f_lo = min(max(f_lo, r.min() - 2 * r_width), r.max())
            f_hi = max(min(f_hi, r.max() + 2 * r_width), r.min())
        los.append(f_lo)
        his.append(f_hi)
    if not los:
        return -1.0, 1.0
    lo, hi = float(min(los)), float(max(his))
    span = hi - lo
    margin = 0.1 * span if span > 0 else max(1.0, abs(lo) * 0.1)
    return lo - margin, hi + margin


def _outside_note(ax, fake: np.ndarray, inside: np.ndarray) -> None:
    finite = np.isfinite(fake).all(axis=1)
    out, bad = int((finite & ~inside).sum()), int((~finite).sum())
    parts = []
    if out:
        parts.append(f"{out} fake outside view")
    if bad:
        parts.append(f"{bad} fake not finite")
    if parts:
        ax.text(0.02, 0.02, "; ".join(parts), transform=ax.transAxes, fontsize=7, color=FAKE_COLOR,
                va="bottom", ha="left", bbox=dict(facecolor="white", alpha=0.7, lw=0, pad=1.5))


def _eval_fn(fn: ArrayFn, points: np.ndarray) -> np.ndarray:
    values = np.asarray(fn(points.astype(np.float32)), dtype=np.float64).reshape(-1)
    if values.size != len(points):
        raise ValueError(f"a plotting function returned {values.size} values for {len(points)} points")
    return values


def _is_probability(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return finite.size > 0 and finite.min() >= 0.0 and finite.max() <= 1.0


def _draw_2d(fig, fake, real, d_fn, d_label, title) -> None:
    from matplotlib.ticker import MaxNLocator

    ax = fig.add_subplot(1, 1, 1)
    (x0, x1), (y0, y1) = _view_range(real, fake, 0), _view_range(real, fake, 1)
    # A square view, so that equal aspect does not leave empty bands.
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) / 2
    x0, x1, y0, y1 = cx - half, cx + half, cy - half, cy + half
    if d_fn is not None:
        gx, gy = np.meshgrid(np.linspace(x0, x1, CONTOUR_RES), np.linspace(y0, y1, CONTOUR_RES))
        grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
        values = _eval_fn(d_fn, grid).reshape(gx.shape)
        finite = values[np.isfinite(values)]
        if _is_probability(values):
            levels = np.linspace(0.0, 1.0, 11)  # fixed, so colours mean the same at every step
        elif finite.size and finite.max() > finite.min():
            levels = MaxNLocator(11).tick_values(finite.min(), finite.max())
        else:
            v = float(finite[0]) if finite.size else 0.0
            levels = np.array([v - 0.5, v + 0.5])
        cs = ax.contourf(gx, gy, np.ma.masked_invalid(values), levels=levels, cmap="PuBu", alpha=0.6,
                         extend="neither")
        cbar = fig.colorbar(cs, ax=ax, fraction=0.046, pad=0.03)
        cbar.set_label(d_label, fontsize=8)
        cbar.ax.tick_params(labelsize=7)
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=3, c=REAL_COLOR, alpha=0.5, lw=0, label="data")
    ax.scatter(fake[:, 0], fake[:, 1], s=5, c=FAKE_COLOR, alpha=0.85, lw=0, label="G(z)")
    inside = (fake[:, 0] >= x0) & (fake[:, 0] <= x1) & (fake[:, 1] >= y0) & (fake[:, 1] <= y1)
    _outside_note(ax, fake, inside)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper right", fontsize=7, markerscale=2.5, framealpha=0.8, handletextpad=0.2)
    fig.tight_layout(pad=0.4)


def gaussian_kde_1d(samples: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Gaussian kernel density of 1D ``samples`` at ``xs`` with Scott's bandwidth n^(-1/5) * std."""
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return np.zeros_like(xs)
    std = samples.std(ddof=1) if samples.size > 1 else 0.0
    span = float(xs.max() - xs.min()) if xs.size > 1 else 1.0
    bw = std * samples.size ** (-1 / 5) if std > 0 else 0.005 * span  # a collapsed G: a sharp spike
    bw = max(bw, 1e-3 * span, 1e-12)
    out = np.zeros_like(xs, dtype=np.float64)
    for chunk in np.array_split(samples, max(1, samples.size // 2048)):  # bounds memory at [2048, K]
        u = (xs[None, :] - chunk[:, None]) / bw
        out += np.exp(-0.5 * u * u).sum(axis=0)
    return out / (samples.size * bw * np.sqrt(2 * np.pi))


def _draw_1d(fig, fake, real, d_fn, pdf_fn, d_label, title) -> None:
    ax = fig.add_subplot(1, 1, 1)
    x0, x1 = _view_range(real, fake, 0)
    xs = np.linspace(x0, x1, CURVE_RES)
    handles = []
    f = fake[:, 0]
    inside = (f >= x0) & (f <= x1)
    if inside.any():
        # Histogram as a density over all finite samples (not only those in view).
        bins = 40
        weight = 1.0 / (np.isfinite(f).sum() * (x1 - x0) / bins)
        ax.hist(f[inside], bins=bins, range=(x0, x1), weights=np.full(int(inside.sum()), weight),
                color=GEN_COLOR, alpha=0.18, label="G(z) histogram")
    p_data = None
    if pdf_fn is not None:
        p_data = _eval_fn(pdf_fn, xs[:, None])
        handles += ax.plot(xs, p_data, ":", color="black", lw=1.8, label="data density")
    elif real is not None:
        handles += ax.plot(xs, gaussian_kde_1d(real[:, 0], xs), ":", color="black", lw=1.8,
                           label="data (KDE)")
    p_g = gaussian_kde_1d(f, xs)
    handles += ax.plot(xs, p_g, "-", color=GEN_COLOR, lw=1.6, label="G(z) (KDE)")
    ax.set_xlim(x0, x1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("x", fontsize=8)
    ax.set_ylabel("density", fontsize=8)
    ax.tick_params(labelsize=7)
    _outside_note(ax, fake, inside)
    if d_fn is not None:
        # D always gets its own axis (right): densities and D's output have unrelated scales.
        ax_d = ax.twinx()
        d = _eval_fn(d_fn, xs[:, None])
        handles += ax_d.plot(xs, d, "--", color=D_COLOR, lw=1.5, label=d_label)
        if p_data is not None and _is_probability(d):
            # The optimal discriminator for the current G (Goodfellow et al. 2014, Prop. 1), where
            # either density is visible: where both vanish, D* is undefined.
            support = (p_data + p_g) > 1e-3 * max(float((p_data + p_g).max()), 1e-12)
            d_star = np.where(support, p_data / np.maximum(p_data + p_g, 1e-300), np.nan)
            handles += ax_d.plot(xs, d_star, "-", color=D_COLOR, lw=0.9, alpha=0.55,
                                 label="D* = p_data/(p_data+p_g)")
        if _is_probability(d):
            ax_d.set_ylim(0, 1.02)
            ax_d.axhline(0.5, color=D_COLOR, lw=0.6, ls=":", alpha=0.5)
        ax_d.set_ylabel(d_label, fontsize=8, color=D_COLOR)
        ax_d.tick_params(labelsize=7, colors=D_COLOR, axis="y")
    ax.set_title(title, fontsize=10)
    ax.legend(handles=handles, loc="upper left", fontsize=7, framealpha=0.8)
    fig.tight_layout(pad=0.4)
