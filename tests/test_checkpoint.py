import json

import pytest
import torch

from gankit.errors import GankitError
from gankit.training import checkpoint as ckpt


def _state():
    return {"G": {"w": torch.arange(6.0).view(2, 3)},
            "opt": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.ones(2)}},
                    "param_groups": [{"lr": 1e-3, "betas": (0.5, 0.999), "params": [0]}]},
            "rng": torch.get_rng_state(), "count": 7, "name": "x", "none": None}


def test_round_trip_keeps_types(tmp_path):
    path = ckpt.save_checkpoint(tmp_path, 5, _state(), {"config": {"a": 1}})
    manifest, state = ckpt.load_checkpoint(path)
    want = _state()
    assert manifest["step"] == 5 and manifest["config"] == {"a": 1}
    assert torch.equal(state["G"]["w"], want["G"]["w"])
    assert list(state["opt"]["state"].keys()) == [0]  # int keys survive JSON
    assert state["opt"]["param_groups"][0]["betas"] == (0.5, 0.999)
    assert torch.equal(state["rng"], want["rng"])
    assert state["count"] == 7 and state["name"] == "x" and state["none"] is None


def test_latest_skips_broken_and_prune_keeps_newest(tmp_path):
    for step in (1, 2, 3, 4):
        ckpt.save_checkpoint(tmp_path, step, _state(), {"config": {}}, keep=2)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [3, 4]
    # a crash mid-write of step 5: the weights exist, the manifest does not -> 4 is the latest
    (tmp_path / "step_0000005.safetensors").write_bytes(b"partial")
    assert ckpt.latest_checkpoint(tmp_path).name == "step_0000004.json"
    # step 4 corrupted -> 3 is the latest intact one
    w = tmp_path / "step_0000004.safetensors"
    w.write_bytes(w.read_bytes()[:-10])
    assert ckpt.latest_checkpoint(tmp_path).name == "step_0000003.json"


def test_tampered_or_truncated_checkpoint_errors(tmp_path):
    path = ckpt.save_checkpoint(tmp_path, 1, _state(), {"config": {}})
    w = path.with_suffix(".safetensors")
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(GankitError, match="sha256"):
        ckpt.load_checkpoint(path)
    path.write_text(path.read_text()[:40])
    with pytest.raises(GankitError, match="unreadable or truncated"):
        ckpt.load_checkpoint(path)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": 1}))
    with pytest.raises(GankitError, match="not a gankit checkpoint"):
        ckpt.load_checkpoint(other)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GankitError, match="no checkpoint in"):
        ckpt.resolve_checkpoint(empty)


def test_no_pickle_in_files(tmp_path):
    path = ckpt.save_checkpoint(tmp_path, 1, _state(), {"config": {}})
    raw = path.with_suffix(".safetensors").read_bytes()
    assert b"\x80\x04" not in raw[:16]  # not a pickle stream
    json.loads(path.read_text())


def test_strict_module_load_names_architecture_mismatch():
    m = torch.nn.Linear(3, 2)
    with pytest.raises(GankitError, match="another architecture.*shape of weight"):
        ckpt.load_module_state(m, {"weight": torch.zeros(4, 3), "bias": torch.zeros(2)}, "generator", "p")
    with pytest.raises(GankitError, match="another architecture.*missing"):
        ckpt.load_module_state(m, {"weight": torch.zeros(2, 3)}, "generator", "p")


def test_weights_and_manifest_share_one_file_mode(tmp_path):
    import os
    import stat

    import torch

    from gankit.training.checkpoint import save_checkpoint, user_file_mode

    old = os.umask(0o027)
    try:
        manifest = save_checkpoint(tmp_path, 3, {"w": torch.ones(2)}, {"config": {}})
    finally:
        os.umask(old)
    weights = manifest.with_suffix(".safetensors")
    modes = {stat.S_IMODE(p.stat().st_mode) for p in (manifest, weights)}
    assert modes == {0o640}  # both follow the umask (safetensors alone would write 0600)
    assert user_file_mode() == 0o666 & ~old
