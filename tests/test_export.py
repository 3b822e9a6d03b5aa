"""Export: the ONNX file run in onnxruntime and the torch.export program match LoadedGAN.generate (MLP and
DCGAN, unconditional and conditional, any batch size), the JSON beside them, the EMA copy, and the errors."""
import json

import numpy as np
import pytest
import torch
from torch.testing import assert_close

import gankit
from gankit.errors import GankitError
from gankit.explore import export as export_mod
from gankit.explore.export import load_torch_export, run_onnx

from helpers import TINY_DIGITS, gankit as cli

# name -> (preset, overrides): both architectures, with and without labels (concat and cbn)
RUNS = {
    "mlp": ("digits", ["model.arch=mlp", "model.g_layers=2", "model.d_layers=2"]),
    "mlp-cbn": ("digits-cgan", ["model.arch=mlp", "model.g_layers=2", "model.d_layers=2", "model.g_cond=cbn",
                                "model.d_cond=projection"]),
    "dcgan": ("digits", []),
    "dcgan-cgan": ("digits-cgan", []),
    "infogan": ("digits-infogan", []),  # z = noise + a one-hot code + continuous codes
}
ONNX_RUNS = ["mlp", "mlp-cbn", "dcgan", "dcgan-cgan"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export_runs")
    # ema 0.5: after a few steps the EMA copy clearly differs from the trained G
    return {name: gankit.train(preset, TINY_DIGITS + over + ["train.steps=4", "train.ema=0.5", "train.ema_rampup=0"],
                               out=root / name, progress=False).path
            for name, (preset, over) in RUNS.items()}


def _latents(model, n, seed):
    return model.latents(n, seed=seed)


@pytest.mark.parametrize("name", ONNX_RUNS)
def test_onnx_matches_generate_in_onnxruntime(runs, name, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = gankit.load(runs[name])
    result = gankit.export(runs[name], tmp_path / "g.onnx")
    assert result.path.is_file() and result.meta_path == tmp_path / "g.json"
    for n, seed in ((7, 3), (1, 4)):  # a batch size other than the export's, and a single item
        z, y = _latents(model, n, seed)
        got = run_onnx(result.path, z.numpy(), None if y is None else y.numpy())
        assert got.shape == (n, 1, 8, 8)
        assert_close(torch.from_numpy(got), model.generate(z, y), atol=1e-4, rtol=0)
    meta = json.loads(result.meta_path.read_text())
    assert meta["format"] == "onnx" and meta["file"] == "g.onnx" and isinstance(meta["opset"], int)
    assert [i["name"] for i in meta["inputs"]] == (["z", "y"] if model.conditional else ["z"])
    assert meta["inputs"][0]["shape"] == ["batch", model.G.latent_dim]
    assert meta["outputs"][0] == {"name": "x", "dtype": "float32", "shape": ["batch", 1, 8, 8], "layout": "NCHW",
                                  "range": [-1, 1]}
    assert meta["data"]["name"] == "digits" and meta["source"]["weights"].startswith("G_ema")
    assert meta["check"]["checked"] and meta["check"]["max_abs_diff"] <= 1e-4
    if model.conditional:
        assert meta["inputs"][1]["class_names"] == [str(i) for i in range(10)]


@pytest.mark.parametrize("name", ["mlp", "dcgan-cgan", "infogan"])
def test_torch_export_round_trip_matches_generate(runs, name, tmp_path):
    model = gankit.load(runs[name])
    result = gankit.export(runs[name], tmp_path / "g.pt2", format="torch-export")
    program = load_torch_export(result.path)
    for n, seed in ((9, 5), (1, 6)):
        z, y = _latents(model, n, seed)
        with torch.no_grad():
            got = program(z) if y is None else program(z, y)
        assert_close(got, model.generate(z, y), atol=1e-4, rtol=0)
    assert result.meta["format"] == "torch-export" and result.meta["check"]["runner"] == "torch.export.load"
    if name == "infogan":
        assert result.meta["inputs"][0]["prior"] == ("units 0..7: N(0, 1) noise; units 8..17: a one-hot code of a "
                                                     "class drawn uniformly from 10; units 18..19: U[-1, 1] codes")


def test_export_takes_the_ema_copy_unless_raw(runs, tmp_path):
    ema, raw = gankit.load(runs["dcgan"]), gankit.load(runs["dcgan"], raw=True)
    assert ema.uses_ema
    z, _ = _latents(ema, 6, 0)
    a = load_torch_export(gankit.export(runs["dcgan"], tmp_path / "ema.pt2").path)
    b = gankit.export(runs["dcgan"], tmp_path / "raw.pt2", raw=True)
    assert b.meta["source"]["weights"] == "G"
    with torch.no_grad():
        from_ema, from_raw = a(z), load_torch_export(b.path)(z)
    assert_close(from_ema, ema.generate(z))
    assert_close(from_raw, raw.generate(z))
    # the two weights really differ (the outputs of these 4-step nets are small, so relative to them)
    assert (from_ema - from_raw).abs().max() > 0.02 * from_raw.abs().max()


def test_vector_data_export_says_no_postprocessing(tmp_path):
    run = gankit.train("ring", ["model.g_width=8", "model.d_width=8", "model.g_layers=1", "model.d_layers=1",
                                "data.batch_size=16", "train.threads=1", "train.steps=2"],
                       out=tmp_path / "ring", progress=False).path
    result = gankit.export(run, tmp_path / "ring.pt2")
    assert result.meta["outputs"][0]["shape"] == ["batch", 2]
    assert result.meta["postprocess"].startswith("none")
    assert result.meta["inputs"][0]["prior"] == "units 0..1: N(0, 1) noise"


def test_export_errors(runs, tmp_path, monkeypatch):
    with pytest.raises(GankitError, match="--format pickle is not an export format; use onnx or torch-export"):
        gankit.export(runs["mlp"], tmp_path / "g.onnx", format="pickle")
    with pytest.raises(GankitError, match=r"--format torch-export writes a file ending in \.pt2"):
        gankit.export(runs["mlp"], tmp_path / "g.onnx", format="torch-export")
    with pytest.raises(GankitError, match=r"give --format onnx\|torch-export, or end the file in \.onnx or \.pt2"):
        gankit.export(runs["mlp"], tmp_path / "g.bin")
    real_find_spec = export_mod.importlib.util.find_spec
    monkeypatch.setattr(export_mod.importlib.util, "find_spec",
                        lambda name: None if name == "onnxscript" else real_find_spec(name))
    with pytest.raises(GankitError, match=r"needs the onnxscript package: pip install 'gankit\[export\]'"):
        gankit.export(runs["mlp"], tmp_path / "g.onnx")
    assert not (tmp_path / "g.onnx").exists() and not (tmp_path / "g.json").exists()


def test_export_cli(runs, tmp_path):
    out = tmp_path / "cli" / "g.pt2"
    res = cli("export", str(runs["dcgan-cgan"]), "--format", "torch-export", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert f"wrote {out} (torch-export, G_ema (the EMA copy), step 4: z ['batch', 8], y ['batch'] -> " \
           f"x ['batch', 1, 8, 8]); matches the generator to" in res.stdout
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["check"]["n"] == 5
    bad = cli("export", str(runs["dcgan"]), "--format", "onnx", "--out", str(tmp_path / "g.pt2"))
    assert bad.returncode == 2 and bad.stderr.strip() == (f"gankit: error: --out {tmp_path / 'g.pt2'}: "
                                                          f"--format onnx writes a file ending in .onnx")
