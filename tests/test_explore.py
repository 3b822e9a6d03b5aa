"""Exploring a trained generator: truncation, walks, arithmetic, guided search, D's features."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import gankit
from gankit.errors import GankitError
from gankit.explore.truncation import check_threshold, parse_thresholds, truncate
from helpers import gankit as cli

TINY = ["train.steps=30", "data.batch_size=32", "model.g_width=8", "model.d_width=8", "train.sample_every=1000",
        "train.checkpoint_every=1000", "eval.every=0", "eval.final=false", "train.ema=0.9"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    return gankit.train("digits", TINY, out=tmp_path_factory.mktemp("explore") / "u", progress=False).path


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory):
    return gankit.train("digits-cgan", TINY, out=tmp_path_factory.mktemp("explore") / "c", progress=False).path


# ----------------------------------------------------------------------------------------- truncation

def test_truncation_bounds_only_the_noise_units_and_keeps_inliers():
    gen = torch.Generator().manual_seed(0)
    z = torch.cat([torch.randn(500, 6, generator=gen) * 2, torch.tensor([[1.0, 0.0, 0.7]]).repeat(500, 1) * 3], 1)
    out = truncate(z, 0.5, z_dim=6, generator=torch.Generator().manual_seed(1))
    assert out[:, :6].abs().max() <= 0.5
    inside = z[:, :6].abs() <= 0.5
    assert torch.equal(out[:, :6][inside], z[:, :6][inside])  # only the outliers are redrawn
    assert torch.equal(out[:, 6:], z[:, 6:])  # codes after z_dim untouched
    assert not torch.equal(out, z)
    # the redraws come from the prior restricted to [-T, T]: roughly uniform-ish spread, not piled at the bound
    redrawn = out[:, :6][~inside]
    assert redrawn.abs().mean() < 0.3


def test_truncation_no_op_cases_and_uniform_prior():
    z = torch.randn(50, 4)
    assert torch.equal(truncate(z, math.inf, 4), z)
    u = torch.rand(50, 4) * 2 - 1
    assert torch.equal(truncate(u, 1.0, 4, dist="uniform"), u)
    assert truncate(u, 0.2, 4, dist="uniform").abs().max() <= 0.2


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "nan", 0.001])
def test_truncation_bound_errors_name_the_flag(bad):
    with pytest.raises(GankitError, match="--truncation"):
        check_threshold(bad)


def test_parse_thresholds():
    assert parse_thresholds("0.5, 1,inf") == [0.5, 1.0, math.inf]
    with pytest.raises(GankitError, match="--truncation"):
        parse_thresholds(" , ")


def test_truncated_latents_keep_seed_and_labels(cgan_run):
    model = gankit.load(cgan_run)
    z0, y0 = model.latents(200, seed=3)
    z1, y1 = model.latents(200, seed=3, truncation=0.7)
    assert torch.equal(y0, y1)
    k = model.G.z_dim
    assert z1[:, :k].abs().max() <= 0.7
    inside = z0[:, :k].abs() <= 0.7
    assert torch.equal(z1[:, :k][inside], z0[:, :k][inside])
    # generate(n, truncation) and generate(z) on the truncated latents agree
    assert torch.allclose(model.generate(200, seed=3, truncation=0.7), model.generate(z1, y1))


def test_cli_sample_and_eval_truncation_curve(digits_run, tmp_path):
    out = cli("sample", str(digits_run), "--truncation", "0.5", "--n", "16", "--out", str(tmp_path / "t.npz"))
    assert out.returncode == 0, out.stderr
    assert "truncated at T=0.5" in out.stdout
    z = np.load(tmp_path / "t.npz")["z"]
    assert np.abs(z).max() <= 0.5
    bad = cli("sample", str(digits_run), "--truncation", "-2", "--out", str(tmp_path / "b.png"))
    assert bad.returncode == 2 and "--truncation" in bad.stderr
    plot = tmp_path / "curve.png"
    res = cli("eval", str(digits_run), "--truncation", "0.5,1,inf", "--n", "300", "--metrics", "fid,pr",
              "--no-record", "--no-cache", "--plot", str(plot), timeout=300)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[:3] == ["T", "precision", "recall"]
    assert [ln.split()[0] for ln in lines[1:4]] == ["0.5", "1", "off"]
    assert plot.stat().st_size > 1000


# ----------------------------------------------------------------------------------------- walks

from gankit.explore.walks import interpolate, lerp, slerp  # noqa: E402


def test_slerp_endpoints_norms_and_angle():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, generator=gen).double(), torch.randn(64, generator=gen).double() * 2
    t = torch.linspace(0, 1, 9, dtype=a.dtype)
    path = slerp(a, b, t)
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    # norms go linearly from |a| to |b|, and the angle to a grows uniformly
    assert torch.allclose(path.norm(dim=1), (1 - t) * a.norm() + t * b.norm(), atol=1e-4)
    cos = (path @ a) / (path.norm(dim=1) * a.norm())
    angles = torch.arccos(cos.clamp(-1, 1))
    assert torch.allclose(angles.diff(), angles.diff()[:1].expand(8), atol=1e-4)
    # a straight line dips toward the origin in the middle; slerp does not
    assert lerp(a, b, t)[4].norm() < path[4].norm()
    # parallel vectors fall back to the line
    assert torch.allclose(slerp(a, 2 * a, t), lerp(a, 2 * a, t), atol=1e-5)


def test_interpolate_legs_codes_and_loop():
    pts = torch.tensor([[3.0, 0.0, 1.0, 0.0], [0.0, 3.0, 0.0, 1.0], [-3.0, 0.0, 1.0, 0.0]])
    path = interpolate(pts, frames=5, method="slerp", z_dim=2)
    assert path.shape == (9, 4)
    assert torch.equal(path[0], pts[0]) and torch.allclose(path[4], pts[1]) and torch.allclose(path[-1], pts[2])
    assert torch.allclose(path[:, :2].norm(dim=1), torch.full((9,), 3.0), atol=1e-5)  # on the circle
    assert torch.allclose(path[2, 2:], torch.tensor([0.5, 0.5]))  # the codes are interpolated linearly
    loop = interpolate(pts[:2], frames=4, closed=True)
    assert loop.shape == (6, 4) and torch.allclose(loop[3], pts[1])
    with pytest.raises(GankitError, match="--frames"):
        interpolate(pts, frames=1)
    with pytest.raises(GankitError, match="--method"):
        interpolate(pts, frames=3, method="cubic")


def test_cli_interpolate_formats_and_label_walks(digits_run, cgan_run, tmp_path):
    for name in ("w.png", "w.gif", "w.npz"):
        res = cli("interpolate", str(digits_run), "--seeds", "3,17,42", "--frames", "4", "--out", str(tmp_path / name))
        assert res.returncode == 0, res.stderr
    z = np.load(tmp_path / "w.npz")["z"]
    model = gankit.load(digits_run)
    assert len(z) == 7
    assert np.allclose(z[0], model.latents(1, seed=3)[0][0].numpy())  # frame 0 is seed 3's latent
    from PIL import Image

    assert Image.open(tmp_path / "w.gif").n_frames == 7
    res = cli("interpolate", str(cgan_run), "--seeds", "5", "--walk-labels", "0,3,9",
              "--out", str(tmp_path / "labels.npz"))
    assert res.returncode == 0, res.stderr
    walk = np.load(tmp_path / "labels.npz")
    assert walk["y"].tolist() == [0, 3, 9] and np.allclose(walk["z"], walk["z"][:1])
    bad = cli("interpolate", str(digits_run), "--seeds", "3", "--out", str(tmp_path / "x.png"))
    assert bad.returncode == 2 and "--seeds needs at least 2" in bad.stderr
    bad = cli("interpolate", str(digits_run), "--walk-labels", "--out", str(tmp_path / "x.png"))
    assert bad.returncode == 2 and "conditional" in bad.stderr


@pytest.mark.skipif(not __import__("importlib").util.find_spec("imageio_ffmpeg"), reason="imageio-ffmpeg missing")
def test_walk_as_mp4(digits_run, tmp_path):
    res = cli("interpolate", str(digits_run), "--seeds", "1,2", "--frames", "6", "--out", str(tmp_path / "w.mp4"))
    assert res.returncode == 0, res.stderr
    import imageio_ffmpeg

    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "w.mp4"))
    assert frames == 6


# ----------------------------------------------------------------------------------------- arithmetic

def test_arithmetic_on_exemplar_means(digits_run, tmp_path):
    from gankit.explore.arithmetic import latent_arithmetic
    from gankit.explore.walks import seed_latents

    model = gankit.load(digits_run)
    res = latent_arithmetic(model, "1,2,3", "4,5,6", "7,8,9", neighbours=3, seed=0)
    mean = {s: seed_latents(model, s)[0].mean(0) for s in ((1, 2, 3), (4, 5, 6), (7, 8, 9))}
    expected = mean[(1, 2, 3)] - mean[(4, 5, 6)] + mean[(7, 8, 9)]
    assert torch.allclose(res.result[0], expected)
    assert res.result.shape == (4, model.G.latent_dim)
    assert (res.result[1:] - expected).abs().max() > 0  # neighbours differ by noise
    out = cli("arithmetic", str(digits_run), "--a", "1,2,3", "--b", "4,5,6", "--c", "class:7", "--out",
              str(tmp_path / "a.png"))
    # a 30-step model may not make a confident 7: either the figure, or the one-line reason
    assert out.returncode == 0 or ("look like" in out.stderr and out.returncode == 2), out.stderr
    bad = cli("arithmetic", str(digits_run), "--a", "1,x", "--b", "4", "--c", "7", "--out", str(tmp_path / "b.png"))
    assert bad.returncode == 2 and "--a" in bad.stderr


def test_pick_by_class_takes_the_most_confident_seeds(digits_run):
    from gankit.explore.arithmetic import pick_by_class
    from gankit.explore.guide import classifier_for
    from gankit.explore.walks import seed_latents

    model = gankit.load(digits_run)
    clf = classifier_for(model)
    z, _ = seed_latents(model, range(64))
    with torch.no_grad():
        p = torch.softmax(clf(model.generate(z)), 1)
    target = int(p.mean(0).argmax())  # a class this tiny model does make
    seeds = pick_by_class(model, str(target), k=3, pool=64, classifier=clf) if p[:, target].max() >= 0.5 else None
    if seeds is not None:
        assert seeds == torch.argsort(p[:, target], descending=True)[:3].tolist()


# ----------------------------------------------------------------------------------------- guided search

def test_guided_search_raises_the_target_probability(digits_run):
    from gankit.explore.guide import guided_search, norm_prior

    model = gankit.load(digits_run)
    res = guided_search(model, 3, n=16, steps=40, lr=0.2, restarts=0, judge=False)
    assert res.p_after > res.p_before
    assert res.history[-1][1] > res.history[0][1] + 0.1  # mean log p(target) went up
    assert res.rate_after >= res.rate_before
    assert torch.equal(res.z_before, model.latents(16, seed=0)[0])
    # the prior term is smallest on the shell |z| = sqrt(d - 1)
    d = 64
    r = torch.tensor([0.5, 1.0, 2.0]) * (d - 1) ** 0.5
    values = norm_prior(torch.nn.functional.one_hot(torch.zeros(3, dtype=torch.long), d).float() * r[:, None])
    assert values[1] < values[0] and values[1] < values[2]
    with pytest.raises(GankitError, match="--target"):
        guided_search(model, "Sneaker", n=2, steps=1)


def test_cli_guide_reports_both_judges(digits_run, tmp_path):
    res = cli("guide", str(digits_run), "--target", "3", "--steps", "10", "--n", "8", "--restarts", "1",
              "--out", str(tmp_path / "g.png"), "--json", timeout=300)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["target"] == 3 and out["judge_after"] is not None and 0 <= out["rate_after"] <= 1
    assert (tmp_path / "g.png").stat().st_size > 500


# ----------------------------------------------------------------------------------------- D's features

def test_discriminator_features_all_layers_pooled(digits_run, tmp_path):
    from gankit.explore.dfeatures import discriminator_features

    model = gankit.load(digits_run)
    x = torch.rand(5, *model.spec.shape) * 2 - 1
    last = discriminator_features(model.D, x, layers="last")
    assert torch.allclose(last, model.D(x).features)
    every = discriminator_features(model.D, x, layers="all", grid=4)
    assert every.shape[0] == 5 and every.shape[1] >= last.shape[1]
    from gankit.nets.dcgan import DCGANDiscriminator

    D = DCGANDiscriminator((1, 28, 28), width=4)
    hand = [F for F in (4 * 16, 8 * 16)]  # LeakyReLU outputs at 14x14 (4 ch) and 7x7 (8 ch), max-pooled to 4x4
    assert discriminator_features(D, torch.rand(3, 1, 28, 28), layers="all").shape == (3, sum(hand))
    res = cli("features", str(digits_run), "--split", "test", "--n", "50", "--out", str(tmp_path / "f.npz"))
    assert res.returncode == 0, res.stderr
    f = np.load(tmp_path / "f.npz")
    assert f["features"].shape == (50, every.shape[1]) and f["y"].shape == (50,)
    assert json.loads(str(f["meta"]))["layers"] == "all"


# ----------------------------------------------------------------------------------------- DRS from an EMA G

def test_rejection_sampling_an_ema_generator_calibrates_by_default(tmp_path):
    run = gankit.train("ring", ["train.steps=30", "train.ema=0.9", "eval.every=0", "eval.final=false",
                                "train.sample_every=1000"], out=tmp_path / "r", progress=False).path
    model = gankit.load(run)
    assert model.uses_ema
    res = model.rejection_sample(20, seed=0, percentile=50)
    assert res.calibration_steps == 500 and not res.warning
    res = model.rejection_sample(20, seed=0, percentile=50, calibrate=0)
    assert res.calibration_steps == 0 and "EMA" in res.warning
    raw = gankit.load(run, raw=True)
    assert raw.rejection_sample(20, seed=0, percentile=50).calibration_steps == 0


def test_stylegan_truncation_is_psi_in_w(tmp_path):
    run = gankit.train("digits", TINY + ["model.arch=stylegan", "model.g_norm=none",
                       "train.steps=2"], out=tmp_path / "s", progress=False).path
    model = gankit.load(run)
    assert model.psi_truncation and not gankit.load(run).G.training
    z, y = model.latents(6, seed=1, truncation=0.5)
    assert torch.equal(z, model.latents(6, seed=1)[0])  # z is left as drawn
    x = model.generate(6, seed=1, truncation=0.5)
    assert torch.allclose(x, model.G.truncated(z, 0.5, y))
    assert torch.allclose(model.generate(6, seed=1, truncation=0.0001 + 0.9999), model.generate(6, seed=1))
    assert not torch.allclose(x, model.generate(6, seed=1))
    digits = gankit.load(gankit.train("digits", TINY[:1] + ["train.steps=1"], out=tmp_path / "d", progress=False).path)
    with pytest.raises(GankitError, match="psi"):
        digits.generate(2, psi=0.5)


def test_stylegan_report_shows_truncation_and_mixing(tmp_path):
    from gankit.explore.style import psi_rows, style_mixing

    run = gankit.train("digits", TINY + ["model.arch=stylegan", "model.g_norm=none", "train.steps=4",
                                         "train.sample_every=4"], out=tmp_path / "s", progress=False).path
    model = gankit.load(run)
    rows, labels = psi_rows(model.G, seed=0)
    assert rows.shape[0] == 40 and labels[-1] == "psi 0"
    assert torch.allclose(rows[32], rows[39], atol=1e-5)  # psi 0: every column is the average w's image
    mixed, cutoff = style_mixing(model.G, seed=0)
    assert mixed.shape[0] == 36 and 0 < cutoff < model.G.num_ws
    assert (run / "samples" / "style_truncation.png").is_file() and (run / "samples" / "style_mixing.png").is_file()
    assert "Styles: truncation and mixing" in (run / "report.html").read_text()
