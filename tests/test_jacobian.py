"""Jacobian-based truncation (gankit/explore/jacobian.py) against hand-computed Jacobians."""
import math

import pytest
import torch
from torch import nn

from gankit.errors import GankitError
from gankit.explore.jacobian import jacobian_norms, jacobian_truncate
from gankit.nets.base import Generator


class TanhG(Generator):
    """G(z) = tanh(W z_noise) (+ a code unit it ignores): J = diag(1 - tanh(W z)^2) W over the noise units."""

    def __init__(self, W, codes=0):
        super().__init__(z_dim=W.shape[1], z_categories=codes)
        self.W = nn.Parameter(W.clone())

    def forward(self, z, y=None):
        return torch.tanh(z[:, :self.z_dim] @ self.W.T)


def _hand_norms(G, z):
    h = torch.tanh(z[:, :G.z_dim] @ G.W.T)  # [n, out]
    J = (1 - h ** 2).unsqueeze(2) * G.W.unsqueeze(0)  # [n, out, z_dim]
    return J.pow(2).sum((1, 2)).sqrt()


def test_exact_norms_match_the_hand_jacobian_and_ignore_code_units():
    torch.manual_seed(0)
    G = TanhG(torch.randn(3, 2), codes=4).eval()
    z = G.sample_z(50, torch.Generator().manual_seed(1))
    got = jacobian_norms(G, z)
    torch.testing.assert_close(got, _hand_norms(G, z), rtol=1e-5, atol=1e-6)
    # a linear G: every sample's norm is ||W||_F
    lin = TanhG(torch.randn(5, 2) * 1e-4).eval()
    torch.testing.assert_close(jacobian_norms(lin, lin.sample_z(7)), torch.full((7,), float(lin.W.detach().norm())),
                               rtol=1e-4, atol=0)


def test_hutchinson_estimate_approaches_the_exact_norm():
    torch.manual_seed(0)
    G = TanhG(torch.randn(6, 20) / 4).eval()  # z_dim 20 > EXACT_MAX_DIM: probes by default
    z = G.sample_z(200, torch.Generator().manual_seed(2))
    exact = _hand_norms(G, z)
    est = jacobian_norms(G, z, probes=400, generator=torch.Generator().manual_seed(3))
    assert (est / exact - 1).abs().mean() < 0.05  # the mean relative error of 400 probes is ~3%


def test_truncation_keeps_the_smallest_norms_in_draw_order():
    torch.manual_seed(0)
    G = TanhG(torch.randn(2, 2) * 2).eval()
    res = jacobian_truncate(G, 30, torch.Generator().manual_seed(5), keep=0.6)
    assert res.draws == math.ceil(30 / 0.6) and res.x.shape == (30, 2) and res.z.shape == (30, 2)
    z_all = G.sample_z(res.draws, torch.Generator().manual_seed(5))
    norms = jacobian_norms(G, z_all)  # equal to the hand Jacobian's (above); the same floats rank alike
    want = torch.sort(torch.argsort(norms)[:30]).values
    torch.testing.assert_close(res.z, z_all[want])
    torch.testing.assert_close(res.x, torch.tanh(z_all[want] @ G.W.T.detach()))
    assert res.threshold == pytest.approx(float(norms[want].max()), rel=1e-5)
    full = jacobian_truncate(G, 30, torch.Generator().manual_seed(5), keep=1.0)
    torch.testing.assert_close(full.z, G.sample_z(30, torch.Generator().manual_seed(5)))  # keep 1: plain sampling


def test_refusals_name_the_fix():
    G = TanhG(torch.randn(2, 2))
    with pytest.raises(GankitError, match="eval mode"):
        jacobian_norms(G, G.sample_z(3))
    with pytest.raises(GankitError, match="jacobian-keep"):
        jacobian_truncate(G.eval(), 3, torch.Generator(), keep=0)


def test_sample_with_jacobian_keep_on_images_and_its_refusals(tmp_path):
    import numpy as np

    import gankit
    from helpers import TINY_DIGITS

    run = tmp_path / "run"
    gankit.train("digits", TINY_DIGITS, out=run, steps=3, progress=False)
    model = gankit.load(run)  # z_dim 8: the exact norms
    out = model.save_samples(tmp_path / "j.npz", 10, seed=4, jacobian_keep=0.5)
    x = np.load(out)["x"]
    assert x.shape[0] == 10 and x.dtype == np.uint8
    # the same draws, kept by hand: the 10 of 20 with the smallest norms
    G = model.G.eval()
    z = G.sample_z(20, torch.Generator().manual_seed(4))
    keep = torch.sort(torch.argsort(jacobian_norms(G, z))[:10]).values
    want = model.to_data(G(z[keep]).detach())
    np.testing.assert_array_equal(x, want)
    with pytest.raises(GankitError, match="drop --per-class"):
        model.save_samples(tmp_path / "k.png", 10, per_class=2, jacobian_keep=0.5)
    with pytest.raises(GankitError, match="use one"):
        model.generate(10, drs=True, jacobian_keep=0.5)


def test_cli_sample_jacobian_keep(tmp_path):
    import gankit
    from helpers import TINY_DIGITS, gankit as cli

    run = tmp_path / "run"
    gankit.train("digits", TINY_DIGITS, out=run, steps=3, progress=False)
    proc = cli("sample", str(run), "--n", "6", "--jacobian-keep", "0.75", "--out", str(tmp_path / "x.png"))
    assert proc.returncode == 0, proc.stderr
    assert "Jacobian truncation" in proc.stdout and (tmp_path / "x.png").is_file()
    bad = cli("sample", str(run), "--n", "6", "--jacobian-keep", "1.5", "--out", str(tmp_path / "y.png"))
    assert bad.returncode != 0 and "--jacobian-keep must be in (0, 1]" in bad.stderr
