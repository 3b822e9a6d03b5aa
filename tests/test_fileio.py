"""gankit.fileio: the file-safety helpers that metrics and training share."""
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from gankit import fileio
from gankit.errors import GankitError
from helpers import ROOT


def test_metrics_do_not_import_training():
    code = ("import sys, gankit.metrics, gankit.metrics.features.classifier, gankit.metrics.features.inception, "
            "gankit.metrics.evaluate; bad = sorted(m for m in sys.modules if m.startswith('gankit.training')); "
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "a.txt"
    fileio.atomic_write_text(p, "one")
    fileio.atomic_write_text(p, "two")
    assert p.read_text() == "two"
    assert list(tmp_path.iterdir()) == [p]


def test_sha256_matches_hashlib(tmp_path):
    import hashlib

    p = tmp_path / "b.bin"
    data = bytes(range(256)) * 5000
    fileio.atomic_write_bytes(p, data)
    assert fileio.sha256_file(p) == hashlib.sha256(data).hexdigest()


def test_tensors_round_trip_and_damage_is_a_gankit_error(tmp_path):
    p = tmp_path / "w.safetensors"
    fileio.atomic_save_tensors(p, {"w": torch.arange(6.0).reshape(2, 3)})
    torch.testing.assert_close(fileio.load_tensors(p)["w"], torch.arange(6.0).reshape(2, 3))
    p.write_bytes(p.read_bytes()[:20])
    with pytest.raises(GankitError, match="cannot be read"):
        fileio.load_tensors(p, "classifier weights")


def test_load_module_state_names_the_mismatch(tmp_path):
    net = torch.nn.Linear(3, 2)
    with pytest.raises(GankitError, match="another architecture.*shape of weight"):
        fileio.load_module_state(net, {"weight": torch.zeros(2, 4), "bias": torch.zeros(2)}, "G", "x.json")
    p = tmp_path / "s.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(p))
    fileio.load_module_state(torch.nn.Linear(3, 2), fileio.load_tensors(p), "G", str(p))
