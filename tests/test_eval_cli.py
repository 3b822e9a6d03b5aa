"""`gankit eval` and `gankit train-classifier` as a user runs them, and gankit.evaluate from Python."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import gankit

import gankit as gk
from gankit.cli import main
from gankit.metrics.features.classifier import read_sidecar, shipped_weights
from gankit.training.checkpoint import sha256_file

PROVENANCE_KEYS = {"extractor", "weights_sha256", "preprocessing", "n_real", "n_fake", "split", "seed", "dtype",
                   "gankit", "torch", "cache"}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))


def _frechet(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import linalg

    a, b = a.astype(np.float64), b.astype(np.float64)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def _one_json(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout  # exactly one JSON object, nothing else on stdout
    return json.loads(lines[0])


def test_eval_two_npz_files_json(tmp_path, capsys):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 3)).astype(np.float32), (rng.normal(size=(200, 3)) * 1.5 + 0.3).astype(np.float32)
    np.savez(tmp_path / "a.npz", x=a)
    np.savez(tmp_path / "b.npz", x=b)
    env = {"GANKIT_CACHE": str(tmp_path / "cache")}
    r = gankit("eval", "--real", str(tmp_path / "a.npz"), "--fake", str(tmp_path / "b.npz"), "--metrics", "fid",
               "--json", env=env)
    assert r.returncode == 0, r.stderr
    out = _one_json(r.stdout)
    assert set(out) == {"fid", "provenance"}
    assert out["fid"] == pytest.approx(_frechet(a, b), rel=1e-6)  # raw features are the values themselves
    p = out["provenance"]
    assert PROVENANCE_KEYS <= set(p)
    assert (p["extractor"], p["n_real"], p["n_fake"], p["seed"], p["cache"]) == ("raw", 300, 200, 0, "miss")
    assert main(["eval", "--real", str(tmp_path / "a.npz"), "--fake", str(tmp_path / "b.npz"), "--metrics", "fid",
                 "--json"]) == 0
    again = _one_json(capsys.readouterr().out)
    assert again["provenance"]["cache"] == "hit" and again["fid"] == out["fid"]


def test_eval_images_against_a_builtin_dataset(tmp_path, capsys):
    from gankit.config import DataConfig
    from gankit.data import load_dataset

    train = load_dataset(DataConfig(name="digits"), "train")
    np.savez(tmp_path / "fake.npz", x=train.x[:400].permute(0, 2, 3, 1).numpy())  # NHWC, as gankit sample writes
    assert main(["eval", "--real", "digits", "--fake", str(tmp_path / "fake.npz"), "--metrics", "fid,is,pr",
                 "--json"]) == 0
    out = _one_json(capsys.readouterr().out)
    assert {"fid", "is", "precision", "recall"} <= set(out)
    assert all(isinstance(out[k], float) for k in ("fid", "is", "precision", "recall"))
    p = out["provenance"]
    assert p["extractor"] == "classifier:digits" and p["real"]["dataset"] == "digits"
    assert p["weights_sha256"] == read_sidecar(shipped_weights("digits"))["sha256"]
    assert (p["n_real"], p["n_fake"], p["split"]) == (360, 400, "test")
    assert main(["eval", "--real", "digits", "--fake", str(tmp_path / "fake.npz"), "--metrics", "fid"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["metric", "value"] and "fid" in table and "classifier:digits" in table


def test_eval_a_ring_run(tmp_path):
    run = tmp_path / "ring"
    gk.train("ring", ["model.g_width=16", "model.d_width=16", "train.threads=1", "eval.final=false"], out=run, steps=20,
             progress=False)
    r = gankit("eval", str(run), "--n", "500", "--json", env={"GANKIT_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    out = _one_json(r.stdout)
    assert {"modes", "high_quality", "kl"} <= set(out)
    assert 0 <= out["modes"] <= 8 and 0.0 <= out["high_quality"] <= 1.0
    p = out["provenance"]
    assert p["extractor"] == "raw" and p["n_fake"] == 500 and p["step"] == 20
    records = [json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines()]
    assert len(records) == 1 and records[0]["type"] == "eval" and records[0]["step"] == 20
    assert records[0]["modes"] == out["modes"] and records[0]["provenance"]["weights_sha256"] is None
    # The Python API gives the same numbers (same seed) and appends another record.
    again = gk.evaluate(run, n=500)
    assert again["modes"] == out["modes"] and again["high_quality"] == out["high_quality"]
    assert len((run / "eval.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("args, message", [
    (["--real", "digits", "--fake", "digits", "--metrics", "fdi"], "unknown metric 'fdi' (did you mean 'fid'?)"),
    (["--real", "digits", "--fake", "nowhere.npz"], "no such file"),
    (["--real", "digit", "--fake", "digits"], "did you mean 'digits'"),
    (["--real", "digits", "--fake", "digits", "--features", "incepton"], "did you mean 'inception'"),
    (["--real", "digits"], "both --real A and --fake B"),
])
def test_eval_errors_are_one_line(args, message, capsys):
    assert main(["eval", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gankit: error: ") and err.count("\n") == 1 and message in err, err


def test_eval_refuses_sets_of_different_shapes(tmp_path, capsys):
    np.savez(tmp_path / "a.npz", x=np.zeros((10, 3), np.float32))
    np.savez(tmp_path / "b.npz", x=np.zeros((10, 4), np.float32))
    assert main(["eval", "--real", str(tmp_path / "a.npz"), "--fake", str(tmp_path / "b.npz")]) == 2
    err = capsys.readouterr().err
    assert "do not match" in err and "[3]" in err and "[4]" in err


def test_eval_with_missing_inception_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("GANKIT_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    missing = tmp_path / "inception.pth"
    assert main(["eval", "--real", "digits", "--fake", "digits", "--features", "inception",
                 "--inception-weights", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"{missing} (--inception-weights)" in err and "docs/features.md" in err and err.count("\n") == 1


def test_train_classifier_command(tmp_path):
    out = tmp_path / "clf.safetensors"
    r = gankit("train-classifier", "digits", "--epochs", "1", "--out", str(out), "--threads", "1")
    assert r.returncode == 0, r.stderr
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["dataset"] == "digits" and record["epochs"] == 1 and record["sha256"] == sha256_file(out)
    assert 0.0 <= record["test_accuracy"] <= 1.0 and record["architecture"]["class"] == "SmallCNN"
    assert record["command"] == f"gankit train-classifier digits --epochs 1 --seed 0 --out {out}"
    assert f"sha256 {record['sha256']}" in r.stdout
    result = gk.evaluate(real="digits", fake="digits", features=f"classifier:{out}", metrics="fid", n=100)
    assert result["provenance"]["weights_sha256"] == record["sha256"] and result["fid"] >= 0


def test_evaluate_with_a_module_from_python(tmp_path):
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 5))
    fake = (torch.rand(50, 1, 8, 8) * 255).to(torch.uint8)
    out = gk.evaluate(real="digits", fake=fake, features=net, metrics="fid")
    assert out["provenance"]["extractor"] == "module:Sequential" and out["provenance"]["feature_dim"] == 5
