"""Render what the generator does at one step, from the fixed latent batch, as one PNG."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.report import render_snapshot


@torch.no_grad()
def render_step(trainer: Any, path: Path) -> None:
    """Images: a grid. 2D data: samples over data with D's output as a contour. 1D: densities and D(x)."""
    G, D, data, obj = trainer.G_show, trainer.D, trainer.data, trainer.objective
    was_g, was_d = G.training, D.training
    G.eval()
    D.eval()
    try:
        y = trainer.y_fixed.to(trainer.device) if trainer.y_fixed is not None else None
        fake = G(trainer.z_fixed.to(trainer.device), y).cpu()
        kind = trainer.spec.kind
        if kind == "image":
            grid = {}
            if y is not None:  # a conditional G: one row per class, labelled
                k = G.num_classes
                grid = {"nrow": len(fake) // k, "row_labels": trainer.spec.class_names[:k]}
            render_snapshot(path, kind="image", step=trainer.step, fake=data.from_model(fake).numpy(), **grid)
            render_codes(G, data, path.parent, trainer.cfg.train.seed)
            render_style(G, data, path.parent, trainer.cfg.train.seed)
            return
        dim = trainer.spec.shape[0]
        pack = getattr(D, "pack", 1)
        label = "D(x)" if obj.probabilistic else "critic D(x)"
        if pack > 1:  # a packed D (PacGAN) scores packs: show it on packs of copies of one point
            label = label.replace("D(x)", f"D(x, ..., x) ({pack} copies)")

        def d_fn(points: np.ndarray) -> np.ndarray:
            x = torch.as_tensor(points, dtype=torch.float32, device=trainer.device)
            labels = None
            if trainer.conditional:  # D's output for the class of the first snapshot row
                labels = torch.zeros(len(x) * pack, dtype=torch.long, device=trainer.device)
            logits = D(x.repeat_interleave(pack, 0), labels).logits  # [K * pack] -> [K]
            values = torch.sigmoid(logits) if obj.probabilistic else logits
            return values.cpu().numpy()

        real = _real_points(data, len(fake))
        if dim == 1:
            pdf = getattr(data, "log_prob", None)
            pdf_fn = (lambda xs: pdf(torch.as_tensor(xs, dtype=torch.float32)).exp().numpy()) if pdf else None
            render_snapshot(path, kind="1d", step=trainer.step, fake=fake.numpy(), real=real,
                            d_fn=d_fn, pdf_fn=pdf_fn, d_label=label)
        elif dim == 2:
            render_snapshot(path, kind="2d", step=trainer.step, fake=fake.numpy(), real=real,
                            d_fn=d_fn, d_label=label)
        # Vectors of other sizes have no picture; the log still records the losses.
    finally:
        G.train(was_g)
        D.train(was_d)


def render_real(trainer: Any, path: Path) -> None:
    """A grid of real images (once per run), shown beside the samples in the report."""
    if trainer.spec.kind != "image":
        return
    data = trainer.data
    gen = torch.Generator().manual_seed(12345)
    idx = torch.randperm(len(data), generator=gen)[: trainer.cfg.train.n_show]
    render_snapshot(path, kind="image", step=0, fake=data.x[idx].numpy())


def _real_points(data: Any, n: int) -> np.ndarray:
    """A fixed sample of the data for the picture (its own RNG: training is not disturbed)."""
    gen = torch.Generator().manual_seed(12345)
    if hasattr(data, "sample"):
        return data.sample(n, gen).numpy()
    idx = torch.randperm(len(data), generator=gen)[:n]
    return data.to_model(data.x[idx]).numpy()


def render_style(G: Any, data: Any, folder: Path, seed: int) -> None:
    """StyleGAN-style runs: ``style_truncation.png`` (rows psi 1 .. 0) and ``style_mixing.png`` (coarse
    styles from the row's latent, fine from the column's), replaced at every snapshot."""
    from gankit.explore.style import is_style_generator, psi_rows, style_mixing
    from gankit.report.grid import save_grid, save_labelled_grid

    if not is_style_generator(G):
        return
    x, rows = psi_rows(G, seed)
    save_labelled_grid(data.from_model(x).numpy(), folder / "style_truncation.png", len(x) // len(rows), rows, None)
    mixed, _ = style_mixing(G, seed)
    save_grid(data.from_model(mixed).numpy(), folder / "style_mixing.png", nrow=int(len(mixed) ** 0.5))


def render_codes(G: Any, data: Any, folder: Path, seed: int) -> None:
    """InfoGAN runs on images: ``codes_c{j}.png`` per continuous code (Chen et al. 2016, Figure 2:
    rows = the categorical code's values, columns = code j from -2 to 2) and ``codes_categorical.png``
    (columns = the categorical code's values), from fixed latents, replaced at every snapshot."""
    from gankit.explore.codes import category_sweep, code_sweep
    from gankit.report.grid import save_labelled_grid

    sweeps = [(f"codes_c{j}.png", code_sweep(G, j, seed=seed)) for j in range(G.z_continuous)]
    if G.z_categories:
        sweeps.append(("codes_categorical.png", category_sweep(G, seed=seed)))
    for name, (x, rows, cols) in sweeps:
        save_labelled_grid(data.from_model(x).numpy(), folder / name, len(cols), rows, cols)
