"""Exploring a trained generator: truncation, walks, arithmetic, guided search, D's features."""
from __future__ import annotations

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
