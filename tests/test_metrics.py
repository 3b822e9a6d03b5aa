"""Metric functions against independent computations: closed forms, hand-built point sets, direct
double loops, and (when installed) torchmetrics and prdc as test-only references."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gankit.errors import GankitError
from gankit.metrics import (PARZEN_WARNING, METRIC_NAMES, compute_metrics,
                            density_coverage, feature_statistics, fid, frechet_distance, inception_score,
                            intra_fid, kernel_inception_distance, knn_radii, manifold_metrics,
                            parzen_log_likelihood, precision_recall)
from gankit.metrics import knn as knn_module
from gankit.metrics.kid import mmd2_unbiased, polynomial_kernel
from gankit.metrics.parzen import parzen_log_densities
from gankit.registry import METRICS


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _random_spd(rng: np.random.Generator, f: int) -> np.ndarray:
    a = rng.standard_normal((f, f))
    return a @ a.T / f + 0.1 * np.eye(f)


class _Identity(torch.nn.Module):
    """A torchmetrics 'feature extractor' that passes precomputed features through."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


# --------------------------------------------------------------------------- FID


def test_frechet_distance_commuting_covariances_closed_form():
    rng = _rng(1)
    f = 8
    mu1, mu2 = rng.standard_normal(f), rng.standard_normal(f)
    a, b = rng.uniform(0.1, 3.0, f), rng.uniform(0.1, 3.0, f)
    # For commuting S1, S2 (same eigenvectors), Tr(S1 + S2 - 2 (S1 S2)^1/2) = sum (sqrt a - sqrt b)^2.
    expected = float(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)
    q, _ = np.linalg.qr(rng.standard_normal((f, f)))
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)
    # A hand-sized case: 1-d, N(0, 4) vs N(3, 1): 9 + 4 + 1 - 2 * 2 = 10.
    assert frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(10.0, abs=1e-12)


def test_frechet_distance_matches_scipy_sqrtm():
    import scipy.linalg

    rng = _rng(2)
    f = 20
    s1, s2 = _random_spd(rng, f), _random_spd(rng, f)
    mu1, mu2 = rng.standard_normal(f), rng.standard_normal(f)
    root = scipy.linalg.sqrtm(s1 @ s2)
    expected = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(root).real)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_fid_of_a_set_against_itself_is_zero_also_when_singular():
    rng = _rng(3)
    x = rng.standard_normal((2000, 32)) @ rng.standard_normal((32, 32)) + 5.0
    assert 0.0 <= fid(x, x) < 1e-6
    few = rng.standard_normal((40, 128)).astype(np.float32) * 3.0  # N < F: a rank-39 covariance
    assert 0.0 <= fid(few, few) < 1e-6


def test_fid_nearly_singular_covariances_give_a_finite_real_value():
    rng = _rng(4)
    x = rng.standard_normal((30, 100))
    y = rng.standard_normal((30, 100)) + 0.5
    y[:, 1] = y[:, 0]  # duplicated feature: exactly singular even with more samples
    value = fid(x, y)
    assert isinstance(value, float) and math.isfinite(value) and value > 0
    # Reference: Tr (S1 S2)^1/2 from the eigenvalues of the symmetric S1^1/2 S2 S1^1/2.
    mu1, s1 = x.mean(0), np.cov(x, rowvar=False)
    mu2, s2 = y.mean(0), np.cov(y, rowvar=False)
    w, v = np.linalg.eigh(s1)
    r = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(r @ s2 @ r), 0, None)).sum()
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert value == pytest.approx(expected, rel=1e-6)


def test_feature_statistics_match_numpy_and_do_not_depend_on_chunks():
    x = _rng(5).standard_normal((103, 6)).astype(np.float32) * 10 + 100
    mu, sigma = feature_statistics(x, chunk_size=7)
    np.testing.assert_allclose(mu, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-10, atol=1e-10)
    assert mu.dtype == sigma.dtype == np.float64


def test_fid_matches_torchmetrics():
    fid_module = pytest.importorskip("torchmetrics.image.fid")
    rng = _rng(6)
    f = 24
    x = torch.from_numpy(rng.standard_normal((600, f)) @ rng.standard_normal((f, f)))
    y = torch.from_numpy(rng.standard_normal((500, f)) @ rng.standard_normal((f, f)) + 0.3)
    metric = fid_module.FrechetInceptionDistance(feature=_Identity(f))
    metric.update(x, real=True)
    metric.update(y, real=False)
    assert fid(x, y) == pytest.approx(float(metric.compute()), rel=1e-8)


def test_fid_rejects_non_finite_features():
    x = np.ones((10, 3))
    x[2, 1] = np.nan
    with pytest.raises(GankitError, match="non-finite"):
        fid(x, np.ones((10, 3)))


# --------------------------------------------------------------------------- KID


def _mmd2_double_loop(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]

    def k(a, b):
        return (float(np.dot(a, b)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_unbiased_mmd_matches_a_double_loop():
    rng = _rng(7)
    x, y = rng.standard_normal((7, 3)), rng.standard_normal((9, 3)) + 0.4
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    value = mmd2_unbiased(polynomial_kernel(tx, tx), polynomial_kernel(ty, ty), polynomial_kernel(tx, ty))
    assert value == pytest.approx(_mmd2_double_loop(x, y), rel=1e-12)
    # Whole sets as the only subset: KID is that same estimate.
    x8, y8 = x[:8], y[:7]
    mean, std = kernel_inception_distance(x8[:7], y8, subsets=5, subset_size=1000)
    assert mean == pytest.approx(_mmd2_double_loop(x8[:7], y8), rel=1e-12) and std == 0.0


def test_kid_of_a_set_against_itself_is_near_zero_and_seeded():
    rng = _rng(8)
    x = rng.standard_normal((5000, 16)).astype(np.float32)
    other = rng.standard_normal((5000, 16)).astype(np.float32)  # the same distribution
    # Small subsets of a large set rarely share a point (a shared point biases MMD^2_u downwards).
    same, same_std = kernel_inception_distance(x, x, subsets=100, subset_size=50, seed=0)
    indep, indep_std = kernel_inception_distance(x, other, subsets=100, subset_size=50, seed=0)
    shifted, _ = kernel_inception_distance(x, x + 0.5, subsets=100, subset_size=50, seed=0)
    assert abs(same) < 3 * same_std / math.sqrt(100)
    assert abs(indep) < 3 * indep_std / math.sqrt(100)
    assert shifted > 50 * max(abs(same), abs(indep))
    assert kernel_inception_distance(x, x + 1.0, subsets=5, subset_size=100, seed=3) == \
        kernel_inception_distance(x, x + 1.0, subsets=5, subset_size=100, seed=3)
    assert kernel_inception_distance(x, x + 1.0, subsets=5, subset_size=100, seed=4) != \
        kernel_inception_distance(x, x + 1.0, subsets=5, subset_size=100, seed=3)


@pytest.mark.filterwarnings("ignore:Metric")
def test_kid_matches_torchmetrics():
    kid_module = pytest.importorskip("torchmetrics.image.kid")
    rng = _rng(9)
    x = torch.from_numpy(rng.standard_normal((120, 10)))
    y = torch.from_numpy(rng.standard_normal((120, 10)) * 1.2 + 0.1)
    metric = kid_module.KernelInceptionDistance(feature=_Identity(10), subsets=3, subset_size=120)
    metric.update(x, real=True)
    metric.update(y, real=False)
    expected, _ = metric.compute()  # every subset is the whole sets: no randomness to match
    mean, _ = kernel_inception_distance(x, y, subsets=3, subset_size=120)
    assert mean == pytest.approx(float(expected), rel=1e-10)


# --------------------------------------------------------------------------- Inception Score


def test_inception_score_uniform_predictions_give_one():
    mean, std = inception_score(torch.zeros(100, 10))
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)
    mean, _ = inception_score(torch.randn(1, 7).repeat(50, 1), splits=5)  # the same non-uniform p(y|x)
    assert mean == pytest.approx(1.0, abs=1e-12)


def test_inception_score_confident_even_predictions_give_k():
    k = 5
    logits = torch.full((200, k), -60.0)
    logits[torch.arange(200), torch.arange(200) % k] = 60.0  # each split of 20 holds every class 4 times
    mean, std = inception_score(logits, splits=10)
    assert mean == pytest.approx(k, rel=1e-12) and std < 1e-9
    # All samples confidently in one class: p(y) = p(y|x), score 1.
    one = torch.full((100, k), -60.0)
    one[:, 2] = 60.0
    assert inception_score(one)[0] == pytest.approx(1.0, abs=1e-9)


@pytest.mark.filterwarnings("ignore:Metric")
def test_inception_score_matches_torchmetrics():
    is_module = pytest.importorskip("torchmetrics.image.inception")
    logits = torch.randn(300, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    metric = is_module.InceptionScore(feature=_Identity(6), splits=10)
    metric.update(logits)
    torch.manual_seed(1234)
    expected, _ = metric.compute()
    torch.manual_seed(1234)
    perm = torch.randperm(300)  # torchmetrics shuffles before splitting; splits are equal at 300 / 10
    assert inception_score(logits[perm], splits=10)[0] == pytest.approx(float(expected), rel=1e-10)


# --------------------------------------------------------------------------- precision, recall, density, coverage


def test_knn_metrics_of_identical_sets():
    x = _rng(10).standard_normal((300, 8))
    out = manifold_metrics(x, x.copy())
    assert out["precision"] == out["recall"] == out["coverage"] == 1.0
    # Each real ball holds its own point and its k-1 nearer neighbours (strictly): density = kN / kN.
    assert out["density"] == pytest.approx(1.0, abs=1e-12)


def test_knn_metrics_of_a_far_away_set_are_zero():
    x = _rng(11).standard_normal((200, 5))
    out = manifold_metrics(x, x + 100.0)
    assert out == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_knn_metrics_hand_built_1d():
    real = np.array([[0.0], [1.0], [3.0], [6.0]])
    fake = np.array([[-1.0], [4.5], [9.0], [20.0]])
    # k = 1 radii, the point itself excluded: real 0, 1, 3, 6 -> 1, 1, 2, 3; fake -> 5.5, 4.5, 4.5, 11.
    np.testing.assert_allclose(knn_radii(real, 1).numpy(), [1, 1, 2, 3])
    np.testing.assert_allclose(knn_radii(fake, 1).numpy(), [5.5, 4.5, 4.5, 11])
    out = manifold_metrics(real, fake, pr_k=1, dc_k=1)
    # precision (<=): -1 is at distance 1 = r(0); 4.5 within 2 of 3; 9 at 3 = r(6); 20 outside.
    assert out["precision"] == 0.75
    assert out["recall"] == 1.0  # every real is within 5.5 of -1 or 4.5 of 4.5
    # density (<): only 4.5 is strictly inside balls (of 3 and of 6): 2 / (k * M) = 2 / 4.
    assert out["density"] == 0.5
    # coverage (<): nearest fakes: 0 -> 1 (not < 1), 1 -> 2, 3 -> 1.5 < 2, 6 -> 1.5 < 3.
    assert out["coverage"] == 0.5
    # Were the point itself its own neighbour, every radius would be 0 and precision 0.
    dup = np.array([[0.0], [0.0], [5.0]])  # a duplicate is a neighbour at distance 0
    np.testing.assert_allclose(knn_radii(dup, 1).numpy(), [0, 0, 5])


def test_knn_metrics_match_prdc():
    prdc = pytest.importorskip("prdc")
    rng = _rng(12)
    real = rng.standard_normal((300, 10))
    fake = rng.standard_normal((250, 10)) * 1.3 + 0.2
    ours = {**precision_recall(real, fake), **density_coverage(real, fake)}
    ref_pr = prdc.compute_prdc(real, fake, nearest_k=3)
    ref_dc = prdc.compute_prdc(real, fake, nearest_k=5)
    assert ours["precision"] == pytest.approx(ref_pr["precision"], abs=1e-12)
    assert ours["recall"] == pytest.approx(ref_pr["recall"], abs=1e-12)
    assert ours["density"] == pytest.approx(ref_dc["density"], abs=1e-12)
    assert ours["coverage"] == pytest.approx(ref_dc["coverage"], abs=1e-12)


def test_knn_metrics_do_not_depend_on_chunking():
    rng = _rng(13)
    real = rng.standard_normal((500, 12)).astype(np.float32)
    fake = (rng.standard_normal((400, 12)) * 1.2).astype(np.float32)
    whole = manifold_metrics(real, fake, chunk_size=10**6)
    assert manifold_metrics(real, fake, chunk_size=7) == whole
    assert manifold_metrics(real, fake, max_chunk_bytes=10_000) == whole
    assert 0 < whole["precision"] < 1 and 0 < whole["coverage"] < 1


def test_knn_metrics_never_build_the_full_distance_matrix(monkeypatch):
    n, budget = 20_000, 16 * 2**20
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(n, 64, generator=gen), torch.randn(n, 64, generator=gen)
    largest = []
    original = knn_module.squared_distances

    def spy(a, b, b_sq=None):
        out = original(a, b, b_sq)
        largest.append(out.numel() * out.element_size())
        return out

    monkeypatch.setattr(knn_module, "squared_distances", spy)
    out = precision_recall(real, fake, max_chunk_bytes=budget)
    assert 0.0 < out["precision"] <= 1.0 and 0.0 < out["recall"] <= 1.0
    assert len(largest) > 3 and max(largest) <= budget  # one block, never the 1.6 GB 20k x 20k float32 matrix


def test_shared_passes_give_the_same_values_as_separate_calls():
    rng = _rng(14)
    real = {"features": rng.standard_normal((200, 6))}
    fake = {"features": rng.standard_normal((150, 6)) + 0.3}
    both = compute_metrics(["pr", "dc"], real, fake)
    assert both == {**compute_metrics(["precision"], real, fake), **compute_metrics(["coverage"], real, fake)}
    assert list(both) == ["precision", "recall", "density", "coverage"]


# --------------------------------------------------------------------------- Parzen


def test_parzen_log_densities_match_scipy():
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    rng = _rng(15)
    samples, points = rng.standard_normal((12, 3)), rng.standard_normal((5, 3))
    sigmas = [0.3, 1.0]
    ours = parzen_log_densities(points, samples, sigmas, chunk_size=2).numpy()
    for j, s in enumerate(sigmas):
        comps = np.stack([multivariate_normal(mean=g, cov=s ** 2 * np.eye(3)).logpdf(points) for g in samples])
        np.testing.assert_allclose(ours[:, j], logsumexp(comps, axis=0) - np.log(len(samples)), rtol=1e-12)


def test_parzen_chooses_sigma_on_validation_and_carries_the_warning():
    rng = _rng(16)
    samples = rng.standard_normal((200, 2))
    validation, test = rng.standard_normal((50, 2)), rng.standard_normal((60, 2))
    grid = [0.01, 0.1, 0.4, 2.0, 10.0]
    out = parzen_log_likelihood(samples, test, validation=validation, sigmas=grid)
    val_ll = parzen_log_densities(validation, samples, grid).mean(0).numpy()
    best = grid[int(np.argmax(val_ll))]
    assert out["sigma"] == best and best not in (grid[0], grid[-1])
    assert out["value"] == pytest.approx(float(parzen_log_densities(test, samples, [best]).mean()), rel=1e-12)
    assert "Theis" in out["warning"] and out["warning"] == PARZEN_WARNING
    # Through compute_metrics: raw vectors are used, the validation half is split off the real set.
    values = compute_metrics(["parzen"], {"raw": test, "features": None}, {"raw": samples}, parzen_sigmas=grid)
    assert values["parzen_warning"] == PARZEN_WARNING and values["parzen_sigma"] in grid
    assert math.isfinite(values["parzen"])


# --------------------------------------------------------------------------- CAS, intra-FID, modes


def _blobs(n: int, seed: int, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = _rng(seed)
    y = rng.integers(0, k, n)
    centers = np.eye(k, 8) * 10.0
    return centers[y] + rng.standard_normal((n, 8)), y


def test_intra_fid_is_the_mean_of_per_class_fids_and_sees_swapped_classes():
    x_real, y_real = _blobs(600, 20)
    x_gen, y_gen = _blobs(600, 21)
    mean, per_class = intra_fid(x_real, y_real, x_gen, y_gen)
    expected = [fid(x_real[y_real == c], x_gen[y_gen == c]) for c in range(3)]
    assert per_class == pytest.approx(dict(enumerate(expected)), rel=1e-12)
    assert mean == pytest.approx(np.mean(expected), rel=1e-12)
    swapped, _ = intra_fid(x_real, y_real, x_gen, (y_gen + 1) % 3)  # right images, wrong labels
    assert swapped > 50 * mean and fid(x_real, x_gen) < 1.0
    with pytest.raises(GankitError, match="class 2"):
        intra_fid(x_real, y_real, x_gen, np.where(y_gen == 2, 0, y_gen))


def test_mode_metrics_through_compute_metrics():
    angles = torch.arange(8) * (2 * math.pi / 8)
    modes = torch.stack([angles.cos(), angles.sin()], 1) * 2.0  # a ring of 8
    fake = modes[torch.arange(400) % 4] + 0.01 * torch.randn(400, 2, generator=torch.Generator().manual_seed(0))
    out = compute_metrics(["modes"], {"raw": modes}, {"raw": fake, "features": fake}, modes=modes, std=0.02)
    assert out["modes"] == 4 and out["high_quality"] == 1.0
    assert out["kl"] == pytest.approx(math.log(2), rel=1e-9)  # uniform over 4 of 8: log(8/4)


# --------------------------------------------------------------------------- compute_metrics and the registry


def test_compute_metrics_keys_and_registry():
    rng = _rng(22)
    real = {"features": rng.standard_normal((300, 4)), "logits": None}
    fake = {"features": rng.standard_normal((300, 4)), "logits": torch.zeros(300, 3)}
    out = compute_metrics("fid,kid,is", real, fake, kid_subset_size=50, kid_subsets=4)
    assert list(out) == ["fid", "kid", "kid_std", "is", "is_std"]
    assert all(isinstance(v, float) for v in out.values())
    assert set(METRIC_NAMES) == set(METRICS.names())
    assert METRICS.get("fid").paper.startswith("Heusel")


def test_compute_metrics_errors_name_the_closest_valid_choice():
    real = fake = {"features": np.zeros((10, 2))}
    with pytest.raises(GankitError, match="did you mean 'kid'"):
        compute_metrics(["kdi"], real, fake)
    with pytest.raises(GankitError, match="did you mean 'pr_k'"):
        compute_metrics(["pr"], real, fake, pr_kk=3)
    with pytest.raises(GankitError, match="needs logits of the fake set"):
        compute_metrics(["is"], real, fake)
    with pytest.raises(GankitError, match="did you mean 'fid'"):
        METRICS.get("fdi")


def test_compute_metrics_labelled_metrics_from_tensors():
    x_real, y_real = _blobs(300, 23)
    x_gen, y_gen = _blobs(300, 24)
    real = {"features": torch.from_numpy(x_real).float(), "labels": torch.from_numpy(y_real), "logits": None}
    fake = {"features": torch.from_numpy(x_gen).float(), "labels": torch.from_numpy(y_gen), "raw": None}
    out = compute_metrics(["intra_fid"], real, fake)
    assert out["intra_fid"] == pytest.approx(intra_fid(x_real, y_real, x_gen, y_gen)[0], rel=1e-5)
    with pytest.raises(GankitError, match="needs labels of the fake set"):
        compute_metrics(["intra_fid"], real, {"features": fake["features"]})
