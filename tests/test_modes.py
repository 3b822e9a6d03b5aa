"""Mode-coverage metric (docs/benchmarks.md section 1) against hand-built point sets with known answers."""
import math

import numpy as np
import pytest
import torch

from gankit.config import load_config
from gankit.data import load_dataset
from gankit.data.toy import grid_modes, ring_modes
from gankit.metrics.modes import (evaluate_modes, mode_metrics, perfect_high_quality, perfect_spread,
                                  worst_over_seeds)

RING = ring_modes(8)
STD = 0.01


def test_samples_at_five_of_eight_means():
    samples = RING[[0, 1, 2, 3, 4]].repeat(20, 1)  # [100, 2], 20 copies of 5 means
    out = mode_metrics(samples, RING, STD)
    assert out["modes"] == 5 and out["n_modes"] == 8
    assert out["high_quality"] == 1.0
    assert out["kl"] == pytest.approx(math.log(8 / 5), abs=1e-12)
    assert out["counts"] == [20, 20, 20, 20, 20, 0, 0, 0]


def test_unbalanced_histogram_kl_by_hand():
    # 3 samples at mode 0, 1 at mode 1 of 8: p = (3/4, 1/4), KL = 3/4 log(6) + 1/4 log(2).
    samples = torch.stack([RING[0], RING[0], RING[0], RING[1]])
    out = mode_metrics(samples, RING, STD)
    assert out["modes"] == 2
    assert out["kl"] == pytest.approx(0.75 * math.log(6) + 0.25 * math.log(2), abs=1e-12)


def test_all_modes_uniform_kl_zero_and_numpy_input():
    out = mode_metrics(np.repeat(RING.numpy(), 3, axis=0), RING.numpy(), STD)
    assert out["modes"] == 8 and out["kl"] == pytest.approx(0.0, abs=1e-12)


def test_threshold_boundary_inside_and_outside():
    direction = torch.tensor([0.6, 0.8], dtype=torch.float64)  # unit vector
    inside = RING[2].double() + 2.99 * STD * direction
    outside = RING[5].double() + 3.01 * STD * direction
    out = mode_metrics(torch.stack([inside, outside]), RING, STD)
    assert out["high_quality"] == 0.5
    assert out["modes"] == 1  # only mode 2: the point near mode 5 is not high quality
    assert out["counts"][2] == 1 and out["counts"][5] == 0
    assert out["kl"] == pytest.approx(math.log(8), abs=1e-12)
    # A wider threshold lets both in.
    assert mode_metrics(torch.stack([inside, outside]), RING, STD, threshold=3.05)["modes"] == 2


def test_no_high_quality_sample_gives_kl_none():
    out = mode_metrics(torch.zeros(10, 2), RING, STD)  # the centre of the ring, far from every mean
    assert out == {**out, "modes": 0, "high_quality": 0.0, "kl": None, "counts": [0] * 8}


def test_non_finite_samples_are_not_high_quality():
    samples = torch.stack([RING[0], torch.tensor([float("nan"), 0.0]), torch.tensor([float("inf"), 1.0])])
    out = mode_metrics(samples, RING, STD)
    assert out["modes"] == 1 and out["high_quality"] == pytest.approx(1 / 3)


def test_shape_errors():
    with pytest.raises(ValueError):
        mode_metrics(torch.zeros(5, 3), RING, STD)
    with pytest.raises(ValueError):
        mode_metrics(torch.zeros(5), RING, STD)


@pytest.mark.parametrize("name, n_modes", [("ring", 8), ("grid", 25)])
def test_perfect_sampler_from_the_distribution(name, n_modes):
    dist = load_dataset(load_config(name).data, "train")
    hq = perfect_high_quality(2)
    assert hq == pytest.approx(0.98889, abs=1e-5)
    scores = [evaluate_modes(dist.sample, dist, n=2500, seed=s) for s in range(5)]
    for out in scores:
        assert out["modes"] == n_modes and out["n"] == 2500
        # Binomial(2500, 0.989): std of the fraction ~0.002; 0.01 is > 4 std away.
        assert abs(out["high_quality"] - hq) < 0.01
        assert out["kl"] < 0.02 if n_modes == 8 else out["kl"] < 0.05
        assert abs(out["spread"] - perfect_spread(2)) < 0.03
    assert np.mean([s["high_quality"] for s in scores]) == pytest.approx(hq, abs=0.004)
    assert np.mean([s["spread"] for s in scores]) == pytest.approx(perfect_spread(2), abs=0.01)


def test_collapsed_sampler_on_the_grid():
    modes = grid_modes()
    dist = load_dataset(load_config("grid").data, "train")
    collapsed = lambda n, g: modes[7] + dist.std * torch.randn(n, 2, generator=g)  # noqa: E731
    out = evaluate_modes(collapsed, dist, n=2500, seed=1)
    assert out["modes"] == 1 and out["kl"] == pytest.approx(math.log(25))
    assert out["seed"] == 1


def test_perfect_high_quality_matches_chi_distribution():
    assert perfect_high_quality(2, 2.0) == pytest.approx(1 - math.exp(-2.0))
    assert perfect_high_quality(1, 3.0) == pytest.approx(math.erf(3 / math.sqrt(2)), abs=1e-12)


def test_spread_by_hand():
    # Offsets from the nearest mean of 3 and 4 std (both high quality at threshold 5): per-coordinate
    # RMS = sqrt((9 + 16) / 2 / 2) std.
    samples = torch.stack([RING[0].double() + torch.tensor([3 * STD, 0.0], dtype=torch.float64),
                           RING[4].double() + torch.tensor([0.0, -4 * STD], dtype=torch.float64),
                           torch.zeros(2, dtype=torch.float64)])  # the centre: not high quality
    out = mode_metrics(samples, RING, STD, threshold=5.0)
    assert out["spread"] == pytest.approx(math.sqrt(25 / 4), rel=1e-9)
    assert mode_metrics(RING[:3], RING, STD)["spread"] == 0.0  # samples on the means
    assert mode_metrics(torch.zeros(3, 2), RING, STD)["spread"] is None


def test_perfect_spread_closed_forms():
    # chi2_2 is exponential with mean 2: E[r^2 | r^2 <= 9] = 2 - 9 e^-4.5 / (1 - e^-4.5).
    e = math.exp(-4.5)
    assert perfect_spread(2) == pytest.approx(math.sqrt((2 - 9 * e / (1 - e)) / 2), rel=1e-12)
    # 1D: E[x^2 | |x| <= t] = 1 - 2 t phi(t) / (2 Phi(t) - 1).
    t = 3.0
    phi = math.exp(-t * t / 2) / math.sqrt(2 * math.pi)
    assert perfect_spread(1) == pytest.approx(math.sqrt(1 - 2 * t * phi / math.erf(t / math.sqrt(2))), rel=1e-12)
    assert perfect_spread(2, threshold=50.0) == pytest.approx(1.0, rel=1e-9)  # no truncation


def test_worst_over_seeds_takes_the_worst_sampling_seed():
    # a sampler that covers every grid mode for one latent seed and only mode 7 for another
    modes = grid_modes()
    dist = load_dataset(load_config("grid").data, "train")

    def sampler(n, g):
        noise = dist.std * torch.randn(n, 2, generator=g)
        if g.initial_seed() == 5:
            return modes[7] + noise
        return modes[torch.arange(n) % 25] + noise

    out = worst_over_seeds(sampler, dist, [4, 5, 6])
    assert out["modes"] == 1 and out["counts"][7] > 0 and sum(c > 0 for c in out["counts"]) == 1
    assert out["kl"] == pytest.approx(math.log(25))
    assert [p["modes"] for p in out["per_sample_seed"]] == [25, 1, 25]
    assert out["high_quality"] == min(p["high_quality"] for p in out["per_sample_seed"])
    with pytest.raises(ValueError, match="at least one"):
        worst_over_seeds(sampler, dist, [])
