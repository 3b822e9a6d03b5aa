"""Feature extractors: plumbing, the shipped classifiers, the InceptionV3 wrapper and the real-feature cache."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from torch import nn

from gankit.errors import GankitError
from gankit.metrics.features import (ClassifierExtractor, InceptionExtractor, ModuleExtractor, RawExtractor,
                                     get_extractor, state_sha256)
from gankit.metrics.features.classifier import load_classifier, read_sidecar, shipped_weights


def _images(n: int, c: int = 1, side: int = 28, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, side, side, generator=torch.Generator().manual_seed(seed)) * 2 - 1


class TinyNet(nn.Module):
    """A conv net with BatchNorm and dropout: eval mode and batching both change its outputs if mishandled."""

    def __init__(self, out: str = "pair") -> None:
        super().__init__()
        self.out = out
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Dropout(0.5))
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        f = self.body(x)
        if self.out == "tensor":
            return f
        if self.out == "dict":
            return {"features": f, "logits": self.head(f)}
        return f, self.head(f)


# --------------------------------------------------------------------------- raw and nn.Module


def test_raw_passes_values_through():
    x = torch.randn(7, 2)
    feats, logits = get_extractor("raw")(x)
    assert logits is None
    torch.testing.assert_close(feats, x)
    imgs = _images(3, side=8)
    torch.testing.assert_close(RawExtractor()(imgs)[0], imgs.reshape(3, 64))


def test_default_extractor_per_data_kind():
    assert get_extractor(None, {"kind": "vector", "shape": [2], "name": "ring"}).name == "raw"
    ex = get_extractor(None, {"kind": "image", "shape": [1, 8, 8], "name": "digits"})
    assert ex.name == "classifier:digits"


@pytest.mark.parametrize("out", ["pair", "tensor", "dict"])
def test_module_extractor_shapes_and_batching(out):
    net = TinyNet(out).train()  # left in training mode by the user: the extractor must not use it so
    x = _images(10, side=12)
    one = ModuleExtractor(net, batch_size=100)(x)
    many = ModuleExtractor(net, batch_size=3)(x)
    assert one[0].shape == (10, 16) and one[0].dtype == torch.float32
    torch.testing.assert_close(one[0], many[0])
    if out == "tensor":
        assert one[1] is None
    else:
        assert one[1].shape == (10, 3)
        torch.testing.assert_close(one[1], many[1])
    assert net.training  # its flag is restored
    torch.testing.assert_close(one[0][:4], ModuleExtractor(net)(x[:4])[0])  # eval mode: no batch statistics


def test_module_extractor_hash_follows_weights():
    a, b = TinyNet(), TinyNet()
    b.load_state_dict(a.state_dict())
    assert state_sha256(a) == state_sha256(b)
    with torch.no_grad():
        b.head.bias += 1e-3
    assert state_sha256(a) != state_sha256(b)
    ex = get_extractor(a)
    assert isinstance(ex, ModuleExtractor) and ex.name == "module:TinyNet" and ex.weights_sha256 == state_sha256(a)


def test_unknown_extractor_names_the_closest():
    with pytest.raises(GankitError, match="did you mean 'inception'"):
        get_extractor("incepton")
    with pytest.raises(GankitError, match="no shipped classifier for dataset 'folder'"):
        get_extractor("classifier", {"kind": "image", "shape": [3, 64, 64], "name": "folder"})


# --------------------------------------------------------------------------- InceptionV3


class StandInInception(nn.Module):
    """torch-fidelity's contract: uint8 [N, 3, H, W] in, (2048-d features, 1008 logits) out."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(3, 2048)
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x)
        m = x.float().mean((2, 3))  # [N, 3]
        f = self.proj(m)
        return f, f[:, :1008]


def test_inception_plumbing_with_a_stand_in():
    net = StandInInception()
    ex = InceptionExtractor(net=net, batch_size=4)
    x = torch.tensor([-1.0, 0.0, 1.0, 0.5]).view(1, 1, 2, 2).repeat(10, 1, 1, 1)
    feats, logits = ex(x)
    assert feats.shape == (10, 2048) and logits.shape == (10, 1008)
    assert [len(b) for b in net.seen] == [4, 4, 2]
    first = net.seen[0]
    assert first.dtype == torch.uint8 and first.shape == (4, 3, 2, 2)  # gray -> 3 channels, uint8
    assert first[0, :, 0, 0].tolist() == [0, 0, 0] and first[0, 0].flatten().tolist() == [0, 128, 255, 191]
    assert ex.weights_sha256 == state_sha256(net) and "299" in ex.preprocessing
    with pytest.raises(GankitError, match="images"):
        ex(torch.randn(3, 2))


def test_missing_inception_weights_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_INCEPTION_WEIGHTS", str(tmp_path / "nowhere.pth"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(GankitError) as info:
        get_extractor("inception", {"kind": "image", "shape": [3, 32, 32], "name": "folder"})
    msg = str(info.value)
    assert "nowhere.pth (GANKIT_INCEPTION_WEIGHTS)" in msg and "torch hub cache" in msg
    assert "weights-inception-2015-12-05-6726825d.pth" in msg and "docs/features.md" in msg
    with pytest.raises(GankitError, match=r"given.pth \(--inception-weights\)"):
        get_extractor("inception", inception_weights=str(tmp_path / "given.pth"))


def test_inception_weights_that_are_not_tensors_are_refused(tmp_path):
    from gankit.metrics.features.inception import _fidelity_inception_class

    try:
        _fidelity_inception_class()
    except GankitError:
        pytest.skip("torch-fidelity is not installed (pip install --no-deps torch-fidelity)")
    bad = tmp_path / "weights.pth"
    torch.save({"not": "inception"}, bad)
    with pytest.raises(GankitError, match="does not hold the FID InceptionV3 weights"):
        get_extractor("inception", inception_weights=str(bad))


def test_torch_fidelity_inception_end_to_end_with_random_weights(tmp_path, capsys):
    """The real network through the real loader, from a local file (random weights: none can be fetched)."""
    from unittest import mock

    from gankit.metrics.features.inception import _fidelity_inception_class

    try:
        cls = _fidelity_inception_class()
    except GankitError:
        pytest.skip("torch-fidelity is not installed (pip install --no-deps torch-fidelity)")
    with mock.patch.object(cls, "load_state_dict", lambda self, *a, **k: None), \
            mock.patch("torch.load", return_value={}):
        net = cls("x", ["2048", "logits_unbiased"], feature_extractor_weights_path="unused")
    path = tmp_path / "random-inception.pth"
    torch.save(net.state_dict(), path)
    ex = get_extractor("inception", inception_weights=str(path), batch_size=2)
    assert "not the standard FID Inception file" in capsys.readouterr().err
    feats, logits = ex(_images(3, side=8))
    assert feats.shape == (3, 2048) and logits.shape == (3, 1008) and torch.isfinite(feats).all()


# --------------------------------------------------------------------------- the shipped classifiers


@pytest.mark.parametrize("dataset", ["fashion_mnist", "digits"])
def test_shipped_classifier_files(dataset):
    from gankit.training.checkpoint import sha256_file

    weights = shipped_weights(dataset)
    record = read_sidecar(weights)
    assert record["dataset"] == dataset and record["sha256"] == sha256_file(weights)
    assert weights.stat().st_size < 2 * 1024 * 1024
    assert {"test_accuracy", "epochs", "command", "architecture"} <= set(record)
    assert record["command"].startswith(f"gankit train-classifier {dataset}")


def test_fashion_classifier_accuracy_is_recorded_at_least_92_percent():
    record = read_sidecar(shipped_weights("fashion_mnist"))
    assert record["test_accuracy"] >= 0.92 and record["test_images"] == 10000


def test_fashion_classifier_accuracy_recomputed():
    from gankit.config import DataConfig
    from gankit.data import load_dataset

    try:
        test = load_dataset(DataConfig(name="fashion_mnist"), "test")
    except GankitError:
        pytest.skip("Fashion-MNIST is not installed")
    ex = get_extractor("classifier", {"kind": "image", "shape": [1, 28, 28], "name": "fashion_mnist"})
    idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:1000]
    _, logits = ex(test.to_model(test.x[idx]))
    acc = (logits.argmax(1) == test.y[idx]).float().mean().item()
    assert abs(acc - ex.record["test_accuracy"]) < 0.02, acc


def test_digits_classifier_features_and_logits():
    from gankit.config import DataConfig
    from gankit.data import load_dataset

    test = load_dataset(DataConfig(name="digits"), "test")
    ex = get_extractor("classifier:digits", batch_size=50)
    feats, logits = ex(test.to_model(test.x))
    assert feats.shape == (len(test), 128) and logits.shape == (len(test), 10)
    assert (logits.argmax(1) == test.y).float().mean() >= 0.9
    f2, l2 = get_extractor("classifier:digits", batch_size=1000)(test.to_model(test.x))
    torch.testing.assert_close(feats, f2)  # batching does not change the features
    # Images of another size and channel count are adapted to the classifier's input.
    rgb = test.to_model(test.x[:5]).repeat(1, 3, 1, 1)
    rgb = torch.nn.functional.interpolate(rgb, size=(16, 16), mode="nearest")
    ex16 = ClassifierExtractor(shipped_weights("digits"), input_shape=(3, 16, 16))
    assert ex16(rgb)[0].shape == (5, 128) and "resized 16x16 -> 8x8" in ex16.preprocessing


def test_tampered_classifier_weights_are_refused(tmp_path):
    src = shipped_weights("digits")
    weights = tmp_path / src.name
    shutil.copy(src, weights)
    shutil.copy(src.with_suffix(".json"), weights.with_suffix(".json"))
    load_classifier(weights)  # the untouched copy loads
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01  # one bit of one weight
    weights.write_bytes(bytes(data))
    with pytest.raises(GankitError, match="do not match the sha256"):
        load_classifier(weights)
    with pytest.raises(GankitError, match="do not match the sha256"):
        get_extractor(f"classifier:{weights}")


def test_missing_classifier_sidecar(tmp_path):
    weights = tmp_path / "classifier-digits.safetensors"
    shutil.copy(shipped_weights("digits"), weights)
    with pytest.raises(GankitError, match="record .* not found"):
        load_classifier(weights)


# --------------------------------------------------------------------------- the real-feature cache


def test_real_feature_cache_hit_and_miss(tmp_path, monkeypatch):
    from gankit.metrics.evaluate import SampleSet, real_features

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    x = (torch.rand(40, 1, 12, 12, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)

    def real(data=x, split="test"):
        return SampleSet(x=data, kind="image", name="npz", source="a.npz", split=split)

    net = TinyNet()
    ex = ModuleExtractor(net, batch_size=16)
    f1, l1, state = real_features(real(), ex)
    assert state == "miss" and f1.shape == (40, 16)
    f2, l2, state = real_features(real(), ModuleExtractor(net, batch_size=7))  # batch size is not in the key
    assert state == "hit"
    torch.testing.assert_close(f1, f2)
    torch.testing.assert_close(l1, l2)
    assert len(list((tmp_path / "cache" / "features").glob("*.npz"))) == 1

    other = TinyNet()  # other weights
    assert real_features(real(), ModuleExtractor(other))[2] == "miss"
    assert real_features(real(x[:30]), ex)[2] == "miss"  # another count
    changed = x.clone()
    changed[0, 0, 0, 0] ^= 1
    assert real_features(real(changed), ex)[2] == "miss"  # other data
    assert real_features(real(split="train"), ex)[2] == "miss"  # another split
    ex_pre = ModuleExtractor(net, preprocessing="something else")
    assert real_features(real(), ex_pre)[2] == "miss"  # other preprocessing
    assert real_features(real(), ex)[2] == "hit"
    assert real_features(real(), ex, use_cache=False)[2] == "off"
    assert len(list((tmp_path / "cache" / "features").glob("*.npz"))) == 6


def test_cache_key_records_what_it_hashes():
    from gankit.metrics.evaluate import SampleSet, cache_key

    s = SampleSet(x=torch.zeros(5, 2), kind="vector", name="ring", source="built-in", split="test")
    key, fields = cache_key(s, RawExtractor())
    assert len(key) == 64
    assert {"dataset", "split", "source", "data_sha256", "extractor", "weights_sha256", "preprocessing",
            "n"} <= set(fields)
    assert json.dumps(fields)  # JSON-able: it is stored beside the features
