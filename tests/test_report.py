"""gankit.report: grids, snapshots, curves and the HTML report."""
from __future__ import annotations

import base64
import json
import re
import time

import numpy as np
import pytest
from PIL import Image

from gankit.report import build_report, loss_curves, make_grid, render_snapshot, save_grid
from gankit.report.html import pick_evenly
from gankit.report.plots import metric_curves
from gankit.report.snapshot import gaussian_kde_1d


def constant_images(values, c=1, h=3, w=4):
    return np.stack([np.full((c, h, w), v, dtype=np.uint8) for v in values])


# --------------------------------------------------------------------------- grid


def test_make_grid_places_each_image_with_padding_between():
    grid = make_grid(constant_images([10, 20, 30, 40]), nrow=2, pad=2, pad_value=255)
    assert grid.shape == (2 * (3 + 2) + 2, 2 * (4 + 2) + 2, 1)
    assert grid.dtype == np.uint8
    g = grid[:, :, 0]
    assert (g[2:5, 2:6] == 10).all()  # top-left
    assert (g[2:5, 8:12] == 20).all()  # top-right
    assert (g[7:10, 2:6] == 30).all()  # bottom-left
    assert (g[7:10, 8:12] == 40).all()  # bottom-right
    # Padding: border rows/columns and the stripes between cells.
    for stripe in (g[0:2], g[5:7], g[10:12], g[:, 0:2], g[:, 6:8], g[:, 12:14]):
        assert (stripe == 255).all()
    assert (g != 255).sum() == 4 * 3 * 4


def test_make_grid_default_columns_colour_and_empty_cells():
    imgs = constant_images([1, 2, 3, 4, 5], c=3, h=2, w=2)
    imgs[:, 1] += 100  # channels stay channels
    grid = make_grid(imgs, pad=1, pad_value=0)
    # ceil(sqrt(5)) = 3 columns, 2 rows; the sixth cell is empty (pad value).
    assert grid.shape == (2 * 3 + 1, 3 * 3 + 1, 3)
    np.testing.assert_array_equal(grid[1, 1], [1, 101, 1])
    np.testing.assert_array_equal(grid[4, 4], [5, 105, 5])
    assert (grid[4:6, 7:9] == 0).all()


def test_make_grid_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        make_grid(np.zeros((2, 1, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="C = 1 or 3"):
        make_grid(np.zeros((2, 4, 4, 3), dtype=np.uint8))


def test_save_grid_gray_upscales_small_images(tmp_path):
    path = tmp_path / "sub" / "digits.png"
    save_grid(constant_images(range(0, 160, 10), h=8, w=8), path)
    with Image.open(path) as img:
        assert img.mode == "L"
        grid_w = 4 * (8 + 2) + 2  # 42 px before scaling
        assert img.width >= 256 and img.width % grid_w == 0
        assert img.size[0] == img.size[1]
        scale = img.width // grid_w
        # Nearest-neighbour: the first image's pixels stay exactly 0 (and the pad 255).
        arr = np.asarray(img)
        assert (arr[2 * scale:10 * scale, 2 * scale:10 * scale] == 0).all()
        assert (arr[:2 * scale] == 255).all()
    assert not list(tmp_path.rglob("*.tmp"))


def test_save_grid_colour_explicit_scale(tmp_path):
    path = tmp_path / "rgb.png"
    save_grid(constant_images([50, 60], c=3, h=5, w=5), path, nrow=2, scale=1)
    with Image.open(path) as img:
        assert img.mode == "RGB"
        assert img.size == (2 * 7 + 2, 7 + 2)


# --------------------------------------------------------------------------- snapshots


def ring_data(rng, n):
    angle = 2 * np.pi * rng.integers(0, 8, n) / 8
    return np.stack([2 * np.cos(angle), 2 * np.sin(angle)], 1) + 0.05 * rng.standard_normal((n, 2))


def test_render_snapshot_image(tmp_path):
    path = tmp_path / "img.png"
    render_snapshot(path, kind="image", step=3, fake=constant_images(range(9), c=3, h=8, w=8))
    with Image.open(path) as img:
        assert img.mode == "RGB" and img.width >= 256


@pytest.mark.parametrize("critic", [False, True])
def test_render_snapshot_2d(tmp_path, critic):
    rng = np.random.default_rng(0)
    real, fake = ring_data(rng, 256), 0.5 * rng.standard_normal((256, 2))
    fake[0] = [1e6, np.nan]  # a diverged sample must not break or squash the picture
    calls = []

    def d_fn(points):
        calls.append(points.shape)
        score = -np.linalg.norm(points, axis=1)
        return score * 10 if critic else 1 / (1 + np.exp(-score))

    path = tmp_path / "ring.png"
    start = time.perf_counter()
    render_snapshot(path, kind="2d", step=100, fake=fake, real=real, d_fn=d_fn,
                    d_label="critic D(x)" if critic else "D(x)")
    assert time.perf_counter() - start < 5
    assert calls and calls[0][1] == 2 and calls[0][0] >= 50 * 50
    with Image.open(path) as img:
        img.verify()
    # Without data or D (as `gankit sample` uses it) it still draws.
    render_snapshot(tmp_path / "bare.png", kind="2d", step=0, fake=fake)
    assert Image.open(tmp_path / "bare.png").size[0] > 100


def test_render_snapshot_1d(tmp_path):
    rng = np.random.default_rng(1)
    fake, real = 3 + rng.standard_normal((300, 1)), 4 + 0.5 * rng.standard_normal((300, 1))
    pdf = lambda xs: np.exp(-0.5 * ((xs[:, 0] - 4) / 0.5) ** 2) / (0.5 * np.sqrt(2 * np.pi))  # noqa: E731
    for name, kwargs in {"full": dict(pdf_fn=pdf, d_fn=lambda xs: 1 / (1 + np.exp(-xs[:, 0] + 3.5))),
                         "critic": dict(d_fn=lambda xs: 5 * xs[:, 0], d_label="critic"),
                         "collapsed": dict(pdf_fn=pdf)}.items():
        f = np.full_like(fake, 2.0) if name == "collapsed" else fake
        path = tmp_path / f"{name}.png"
        render_snapshot(path, kind="1d", step=7, fake=f, real=real, **kwargs)
        with Image.open(path) as img:
            img.verify()
    with pytest.raises(ValueError, match="kind"):
        render_snapshot(tmp_path / "x.png", kind="3d", step=0, fake=fake)
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        render_snapshot(tmp_path / "x.png", kind="2d", step=0, fake=fake)


def test_kde_is_a_density_with_scott_bandwidth():
    rng = np.random.default_rng(2)
    samples = rng.normal(1.0, 2.0, 2000)
    xs = np.linspace(-12, 14, 2001)
    density = gaussian_kde_1d(samples, xs)
    assert abs(np.trapezoid(density, xs) - 1) < 1e-3
    # A normal's KDE peaks near 1/(sqrt(2 pi (s^2 + h^2))) with h = s n^(-1/5).
    h = samples.std(ddof=1) * 2000 ** (-0.2)
    expected = 1 / np.sqrt(2 * np.pi * (4 + h * h))
    assert abs(density.max() - expected) / expected < 0.06


# --------------------------------------------------------------------------- curves


def train_records(n=5):
    return [{"type": "train", "step": 10 * (i + 1), "time": 1.0 * i, "loss_d": 1.3 - 0.1 * i,
             "loss_g": 0.7 + 0.1 * i, "d_real": 0.6, "d_fake": 0.4, "grad_norm_d": 0.5,
             "grad_norm_g": 0.3, "img_per_s": 2100.0, "epoch": 1, "penalty": 0.01 * i}
            for i in range(n)]


def test_loss_and_metric_curves(tmp_path):
    records = train_records() + [{"type": "eval", "step": 50, "fid": 12.5, "precision": 0.7},
                                 {"type": "warning", "step": 40, "message": "x"}]
    records[1]["loss_d"] = "nan"  # how the log writes a non-finite value
    assert loss_curves(records, tmp_path / "loss.png") == tmp_path / "loss.png"
    assert metric_curves(records, tmp_path / "metrics.png") == tmp_path / "metrics.png"
    for name in ("loss.png", "metrics.png"):
        with Image.open(tmp_path / name) as img:
            img.verify()
    # Four panels (losses, D outputs, grad norms, other) are taller than two.
    only_losses = [{"step": r["step"], "loss_d": r["loss_d"], "loss_g": r["loss_g"]} for r in records[:5]]
    loss_curves(only_losses, tmp_path / "small.png")
    assert Image.open(tmp_path / "small.png").height < Image.open(tmp_path / "loss.png").height
    # Nothing to plot: nothing written.
    assert metric_curves(train_records(), tmp_path / "none.png") is None
    assert loss_curves([], tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


# --------------------------------------------------------------------------- html


def test_pick_evenly_keeps_first_and_last():
    assert pick_evenly(5) == [0, 1, 2, 3, 4]
    picked = pick_evenly(100, 24)
    assert picked[0] == 0 and picked[-1] == 99 and 20 <= len(picked) <= 24
    assert picked == sorted(set(picked))


def make_run(tmp_path, n_snapshots=2):
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    (run / "config.yaml").write_text("name: ring-test\nnote: a <b>bold</b> & \"quoted\" value\n")
    lines = [json.dumps(r) for r in train_records()]
    lines.insert(3, json.dumps({"type": "warning", "step": 30, "message": "D is winning <too> fast"}))
    lines.insert(2, json.dumps({"type": "event", "step": 20, "message": "resumed"}))
    lines.append('{"type": "train", "step": 60, "loss_d": 1.')  # a crash's half line
    (run / "log.jsonl").write_text("\n".join(lines))
    for i in range(n_snapshots):
        step = i * 50 if n_snapshots <= 2 else i
        save_grid(constant_images([i % 256] * 4, h=8, w=8), run / "samples" / f"step_{step:07d}.png")
    return run


def test_build_report_full_run(tmp_path):
    run = make_run(tmp_path)
    (run / "run.json").write_text(json.dumps({"name": "ring-test", "status": "finished", "steps": 50,
                                              "started": 1.7e9, "finished": 1.7e9 + 60}))
    path = build_report(run)
    assert path == run / "report.html"
    text = path.read_text(encoding="utf-8")
    assert "<title>ring-test" in text
    assert "D is winning &lt;too&gt; fast" in text
    assert "a &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; value" in text
    assert "<b>bold</b>" not in text
    assert "step 0</figcaption>" in text and "step 50</figcaption>" in text
    assert "finished" in text and "resumed" in text
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(uris) >= 4  # loss curves + final + two snapshots
    assert all(base64.b64decode(u).startswith(b"\x89PNG") for u in uris)
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert not list(run.glob("*.tmp"))


def test_build_report_thins_many_snapshots_quickly(tmp_path):
    run = make_run(tmp_path, n_snapshots=100)
    start = time.perf_counter()
    text = build_report(run).read_text()
    assert time.perf_counter() - start < 5
    captions = re.findall(r"<figcaption>step (\d+)</figcaption>", text)
    assert captions[0] == "0" and captions[-1] == "99" and 20 <= len(captions) <= 24


def test_build_report_empty_directory(tmp_path):
    path = build_report(tmp_path)
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert "no config.yaml" in text and "no snapshots" in text
    assert tmp_path.name in text  # the title falls back to the folder's name
    with pytest.raises(FileNotFoundError):
        build_report(tmp_path / "missing")
