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
