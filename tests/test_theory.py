"""The theory of Goodfellow et al. 2014, checked numerically."""
import math

import torch

from gankit.data import Distribution
from gankit.explore.theory import fit_discriminator, optimal_discriminator, value_at_equilibrium
from gankit.nets.mlp import MLPDiscriminator
from gankit.objectives import terms


def _gauss(mean, std):
    return Distribution(name="g", dim=1, modes=torch.tensor([[mean]]), std=std)


def test_discriminator_trained_alone_approaches_d_star():
    torch.manual_seed(0)
    data, fake = _gauss(4.0, 0.5), _gauss(3.0, 1.0)  # a fixed "generator" with a known density
    gen = torch.Generator().manual_seed(1)
    D = MLPDiscriminator((1,), width=64, layers=2)
    losses = fit_discriminator(D, lambda n: data.sample(n, gen), lambda n: fake.sample(n, gen), steps=1500)
    xs = torch.linspace(2.5, 5.5, 61)[:, None]  # where both densities have mass
    with torch.no_grad():
        d = torch.sigmoid(D(xs).logits)
    d_star = optimal_discriminator(data.log_prob, fake.log_prob, xs)
    assert (d - d_star).abs().max() < 0.06, (d - d_star).abs().max()
    # and the loss reached is close to the optimum -V(D*, G) = log 4 - 2 JSD(p_data || p_g)
    big = 200_000
    r, f = data.sample(big, gen), fake.sample(big, gen)
    best = terms.d_logistic(torch.logit(optimal_discriminator(data.log_prob, fake.log_prob, r)),
                            torch.logit(optimal_discriminator(data.log_prob, fake.log_prob, f)))
    assert abs(sum(losses[-100:]) / 100 - float(best)) < 0.03


def test_d_star_is_half_when_generator_matches():
    p = _gauss(0.0, 1.0)
    xs = torch.linspace(-3, 3, 13)[:, None]
    torch.testing.assert_close(optimal_discriminator(p.log_prob, p.log_prob, xs), torch.full((13,), 0.5))


def test_value_of_the_game_at_the_optimum_is_minus_log4():
    # With p_g = p_data, D* = 1/2 gives V = E[log 1/2] + E[log 1/2] = -log 4, whatever the samples.
    torch.manual_seed(0)
    p = _gauss(1.0, 2.0)
    x, g = p.sample(1000, torch.Generator().manual_seed(0)), p.sample(1000, torch.Generator().manual_seed(1))
    d_x = optimal_discriminator(p.log_prob, p.log_prob, x)
    d_g = optimal_discriminator(p.log_prob, p.log_prob, g)
    value = terms.game_value(torch.logit(d_x), torch.logit(d_g))
    torch.testing.assert_close(value, torch.tensor(value_at_equilibrium()))
    assert math.isclose(value_at_equilibrium(), -1.3862943611198906)
