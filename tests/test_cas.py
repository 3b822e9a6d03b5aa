"""CAS as Ravuri & Vinyals define it (a classifier trained on labelled generated pixels, tested on real
data, beside the same classifier trained on real data), label agreement, and their refusals."""
import numpy as np
import pytest
import torch

import gankit
from gankit.errors import GankitError
from gankit.metrics import compute_metrics
from gankit.metrics.cas import classification_accuracy_score, label_agreement

from helpers import TINY_DIGITS


def _images(n: int, seed: int, k: int = 3, noise: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """8x8 images in [-1, 1]: class c lights the c-th quarter of the picture, plus noise."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(k, (n,), generator=gen)
    x = torch.full((n, 1, 8, 8), -1.0)
    for c in range(k):
        r, col = divmod(c, 2)
        x[y == c, :, 4 * r:4 * r + 4, 4 * col:4 * col + 4] = 1.0
    return (x + noise * torch.randn(x.shape, generator=gen)).clamp(-1, 1), y


def test_cas_learns_separable_classes_and_sees_wrong_or_ignored_labels():
    x_gen, y_gen = _images(300, 1)
    x_real, y_real = _images(300, 2)
    assert classification_accuracy_score(x_gen, y_gen, x_real, y_real, epochs=4) >= 0.95
    # a generator that makes the next class for every label: good images, CAS near 0
    assert classification_accuracy_score(x_gen, (y_gen + 1) % 3, x_real, y_real, epochs=4) < 0.05
    # a generator that ignores its label: every sample of class 0, labelled at random -> chance
    x_one = _images(300, 4, k=1)[0]
    assert classification_accuracy_score(x_one, y_gen, x_real, y_real, epochs=4) < 0.5


def test_cas_is_deterministic_and_leaves_the_global_rng_alone():
    x, y = _images(100, 5)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = classification_accuracy_score(x, y, x, y, epochs=1, seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    assert a == classification_accuracy_score(x, y, x, y, epochs=1, seed=7)


def test_cas_through_compute_metrics_reports_the_ceiling_and_refuses_guessed_labels():
    x_gen, y_gen = _images(200, 6)
    x_real, y_real = _images(200, 7)
    real = {"features": x_real.flatten(1), "labels": y_real, "pixels": x_real}
    fake = {"features": x_gen.flatten(1), "labels": y_gen, "pixels": x_gen, "labels_asked": True}
    out = compute_metrics(["cas"], real, fake, cas_epochs=3, cas_reference={"pixels": x_gen, "labels": y_gen})
    assert out["cas"] == out["cas_real"] and out["cas_ratio"] == pytest.approx(1.0)
    assert compute_metrics(["cas"], real, fake, cas_epochs=1, cas_reference=0.5)["cas_ratio"] == pytest.approx(
        compute_metrics(["cas"], real, fake, cas_epochs=1)["cas"] / 0.5)
    with pytest.raises(GankitError, match="labels the generator was asked for"):
        compute_metrics(["cas"], real, {**fake, "labels_asked": False})
    with pytest.raises(GankitError, match="images"):
        classification_accuracy_score(x_gen.flatten(1), y_gen, x_real, y_real)


def test_label_agreement_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    assert label_agreement(logits, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)


def test_eval_of_a_conditional_model_uses_its_asked_labels(tmp_path):
    run = gankit.train("digits-cgan", TINY_DIGITS + ["train.steps=10"], out=tmp_path / "c", progress=False).path
    res = gankit.evaluate(run, metrics="fid,label_agreement,cas", n=200, cas_epochs=1, cache=False)
    assert 0.0 <= res["label_agreement"] <= 1.0 and 0.0 <= res["cas"] <= 1.0 and res["cas_real"] > 0
    assert res["provenance"]["fake_labels"] == "the labels the generator was asked for"
    assert "trained on up to 200 real digits train images" in res["provenance"]["cas"]["ceiling"]
    uncond = gankit.train("digits", TINY_DIGITS + ["train.steps=2"], out=tmp_path / "u", progress=False).path
    refused = gankit.evaluate(uncond, metrics="fid,cas,label_agreement", n=100, cache=False)
    assert refused["cas"] is None and refused["label_agreement"] is None and refused["fid"] > 0
    for group in ("cas", "label_agreement"):  # reported with why, the other scores kept
        assert "unconditional" in refused["provenance"]["failed"][group]


def test_eval_real_against_real_with_a_split_per_side():
    res = gankit.evaluate(real="digits:test", fake="digits:train", metrics="fid,label_agreement", n=300, cache=False)
    assert res["provenance"]["real"]["split"] == "test" and res["provenance"]["n_fake"] == 300
    assert res["label_agreement"] > 0.95  # the shipped classifier on its own training images, true labels
    same = gankit.evaluate(real="digits:test", fake="digits:test", metrics="fid", cache=False)
    assert abs(same["fid"]) < 1e-6
    with pytest.raises(GankitError, match="unknown data split 'val'"):
        gankit.evaluate(real="digits:val", fake="digits:train", metrics="fid")
