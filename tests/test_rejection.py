"""Discriminator rejection sampling (gankit.explore.rejection) against exact answers."""
import math

import pytest
import torch

from gankit.data import Distribution
from gankit.errors import GankitError
from gankit.explore.rejection import calibrate_discriminator, check_applicable, rejection_sample
from gankit.nets.mlp import MLPDiscriminator
from gankit.nets.output import DOutput
from gankit.objectives import build_objective
from gankit.config import ObjectiveConfig


class StdNormalG(torch.nn.Module):
    """A 'generator' with a known density: x = z ~ N(0, 1) in 1D."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def sample_z(self, n, generator=None, device=None):
        return torch.randn(n, 1, generator=generator)

    def forward(self, z):
        return z + 0 * self.dummy


class RatioD(torch.nn.Module):
    """The optimal logit for p_data = N(0, s^2) against p_g = N(0, 1): log(1/s) - x^2 (1/s^2 - 1) / 2."""

    def __init__(self, s: float) -> None:
        super().__init__()
        self.s = s

    def forward(self, x):
        return DOutput(logits=(math.log(1 / self.s) - x[:, 0] ** 2 * (1 / self.s ** 2 - 1) / 2))


def test_exact_rule_with_the_optimal_d_samples_the_data():
    s = 0.5  # p_data / p_g <= 1/s = 2 at x = 0: the exact rule accepts about 1/M = 1/2
    res = rejection_sample(StdNormalG(), RatioD(s), 8000, torch.Generator().manual_seed(0), burn_in=20000)
    x = res.x[:, 0]
    assert x.shape == (8000,)
    assert abs(float(x.std()) - s) < 0.02, float(x.std())  # sd of the estimate ~ 0.004
    assert abs(float(x.mean())) < 0.03
    assert abs(res.acceptance - s) < 0.03, res.acceptance
    assert res.gamma == 0.0 and res.log_m == pytest.approx(math.log(1 / s), abs=1e-3)
    # same seed, same samples
    again = rejection_sample(StdNormalG(), RatioD(s), 8000, torch.Generator().manual_seed(0), burn_in=20000)
    assert torch.equal(again.x, res.x)


def test_a_subset_proposal_keeps_the_rule_exact():
    """Candidates from G's draws with |x| < 1 (density p_G / P(|x| < 1) there): the same D still samples
    p_data restricted to |x| < 1, here N(0, 0.5^2) truncated at 2 sd, whose sd is 0.5 x 0.8796."""
    G = StdNormalG()

    def inside(m, gen):
        x = G(G.sample_z(4 * m, gen))
        return x[x[:, 0].abs() < 1][:m]

    res = rejection_sample(G, RatioD(0.5), 6000, torch.Generator().manual_seed(3), burn_in=20000, propose=inside)
    x = res.x[:, 0]
    assert float(x.abs().max()) < 1
    want = 0.5 * math.sqrt(1 - 4 * math.exp(-2) / math.sqrt(2 * math.pi) / math.erf(2 / math.sqrt(2)))
    assert abs(float(x.std()) - want) < 0.015, (float(x.std()), want)  # sd of the estimate ~ 0.004


def test_a_percentile_accepts_more_and_keeps_fewer_far_points():
    exact = rejection_sample(StdNormalG(), RatioD(0.3), 3000, torch.Generator().manual_seed(1))
    loose = rejection_sample(StdNormalG(), RatioD(0.3), 3000, torch.Generator().manual_seed(1), percentile=50)
    assert loose.gamma < 0 and loose.acceptance > 1.5 * exact.acceptance
    assert abs(float(exact.x.std()) - 0.3) < 0.03 and float(exact.x.std()) + 0.03 < float(loose.x.std()) < 1.0


def test_bounds_and_errors():
    with pytest.raises(GankitError, match="accepted .* of .* draws .*percentile"):
        rejection_sample(StdNormalG(), RatioD(0.01), 500, torch.Generator().manual_seed(0), max_draws=4096,
                         burn_in=100_000)
    with pytest.raises(GankitError, match="percentile must be in"):
        rejection_sample(StdNormalG(), RatioD(0.5), 10, torch.Generator(), percentile=100)
    with pytest.raises(GankitError, match="n must be >= 1"):
        rejection_sample(StdNormalG(), RatioD(0.5), 0, torch.Generator())
    check_applicable(build_objective(ObjectiveConfig(name="ns")), 1)
    with pytest.raises(GankitError, match="objective 'WGAN' trains a critic"):
        check_applicable(build_objective(ObjectiveConfig(name="wgan")), 1)
    with pytest.raises(GankitError, match="d_pack=4"):
        check_applicable(build_objective(ObjectiveConfig(name="ns")), 4)


def test_calibration_trains_a_copy_toward_d_star():
    torch.manual_seed(0)
    data = Distribution(name="g", dim=1, modes=torch.tensor([[0.0]]), std=0.5)
    gen = torch.Generator().manual_seed(2)
    D = MLPDiscriminator((1,), width=32, layers=2)
    before = {k: v.clone() for k, v in D.state_dict().items()}
    Dc, losses = calibrate_discriminator(D, StdNormalG(), lambda n: data.sample(n, gen), steps=600, lr=1e-2)
    assert all(torch.equal(before[k], v) for k, v in D.state_dict().items())  # the original is untouched
    xs = torch.linspace(-1.5, 1.5, 31)[:, None]
    with torch.no_grad():
        err = (torch.sigmoid(Dc(xs).logits) - torch.sigmoid(RatioD(0.5)(xs).logits)).abs().max()
    assert err < 0.08, err
    assert losses[-1] < losses[0]
