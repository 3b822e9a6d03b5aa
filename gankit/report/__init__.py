"""Pictures and pages from a run: sample grids, step snapshots, training curves, the HTML report.

Takes numpy arrays, plain callables and files only: nothing here imports the nets, objectives or the
training loop. Matplotlib is used without pyplot (Figure + Agg canvas) and imported lazily.
"""
from __future__ import annotations

from gankit.report.grid import make_grid, save_grid
from gankit.report.html import build_report
from gankit.report.plots import loss_curves, metric_curves
from gankit.report.snapshot import render_snapshot

__all__ = ["make_grid", "save_grid", "render_snapshot", "loss_curves", "metric_curves", "build_report"]
