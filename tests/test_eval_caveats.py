"""`gankit eval` when a metric cannot be computed, and the caveats that go with numbers a newcomer would misread."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gankit.cli import main
from gankit.metrics import compute_each, compute_metrics
from gankit.metrics.caveats import caveats


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def one_class_fakes(tmp_path):
    """Real digits of class 0 only, with their labels: intra-FID has no fakes of classes 1-9."""
    from gankit.config import DataConfig
    from gankit.data import load_dataset

    train = load_dataset(DataConfig(name="digits"), "train")
    zeros = train.y == 0
    path = tmp_path / "zeros.npz"
    np.savez(path, x=train.x[zeros].permute(0, 2, 3, 1).numpy(), y=train.y[zeros].numpy())
    return path


def test_a_failing_metric_keeps_the_others(one_class_fakes, capsys):
    args = ["eval", "--real", "digits", "--fake", str(one_class_fakes), "--metrics", "fid,intra_fid,pr"]
    assert main(args + ["--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert isinstance(out["fid"], float) and isinstance(out["precision"], float)
    assert out["intra_fid"] is None
    reason = out["provenance"]["failed"]["intra_fid"]
    assert "class 1 has" in reason and "0 generated" in reason
    assert f"gankit: intra_fid could not be computed: {reason}" in captured.err
    # the table says why in the row itself
    assert main(args) == 0
    table = capsys.readouterr().out
    assert f"intra_fid  n/a: {reason}" in table and "fid " in table
    # strictness is asked for; and nothing scored is a failure without asking
    assert main(args + ["--strict", "--json"]) == 1
    capsys.readouterr()
    assert main(["eval", "--real", "digits", "--fake", str(one_class_fakes), "--metrics", "intra_fid", "--json"]) == 1


def test_compute_each_reports_per_metric_and_compute_metrics_still_raises():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(50, 4)), rng.normal(size=(40, 4))
    values, failed = compute_each("fid,is", real, fake)
    assert isinstance(values["fid"], float) and values["is"] is None and values["is_std"] is None
    assert "logits" in str(failed["is"])
    with pytest.raises(Exception, match="logits"):
        compute_metrics("fid,is", real, fake)


def test_compute_metrics_on_plain_arrays_equals_the_feature_dict_form():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(200, 3)), rng.normal(size=(150, 3)) + 0.5
    plain = compute_metrics("fid,pr,kid", real, fake, kid_subset_size=50)
    as_dicts = compute_metrics("fid,pr,kid", {"features": real}, {"features": fake}, kid_subset_size=50)
    assert plain == as_dicts and plain["fid"] > 0.1


def test_identical_small_sets_warn_of_negative_kid_and_small_n(capsys):
    assert main(["eval", "--real", "digits", "--fake", "digits", "--metrics", "fid,kid", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["kid"] < 0  # the unbiased estimator, for two identical sets
    warnings = out["provenance"]["warnings"]
    assert any(w.startswith(f"kid is negative ({out['kid']:.3g})") and "unbiased" in w for w in warnings)
    assert any(w.startswith("fid from only 360 real and 360 fake items") for w in warnings)
    assert all(f"gankit: warning: {w}" in captured.err for w in warnings)
    # in the table they are caveats under the numbers
    assert main(["eval", "--real", "digits", "--fake", "digits", "--metrics", "fid,kid"]) == 0
    assert "caveat: kid is negative" in capsys.readouterr().out


def test_raw_pixel_fid_is_flagged(capsys):
    assert main(["eval", "--real", "digits", "--fake", "digits", "--features", "raw", "--metrics", "fid",
                 "--n", "16", "--json"]) == 0
    warnings = json.loads(capsys.readouterr().out)["provenance"]["warnings"]
    assert any(w.startswith("fid on raw pixels") for w in warnings)
    assert any(w.startswith("fid: 16 items for 64-dimensional features") for w in warnings)


def test_no_caveat_for_a_large_clean_score():
    assert caveats({"fid": 3.2, "kid": 0.001, "precision": 0.7}, n_real=10_000, n_fake=10_000,
                   extractor="classifier:fashion_mnist", kind="image", feature_dim=128) == []
