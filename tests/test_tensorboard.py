"""train.tensorboard: scalars and sample grids as TensorBoard events beside log.jsonl."""
import pytest

import gankit
from gankit.errors import GankitError
from gankit.training import tensorboard as tb
from gankit.training.rundir import RunDir

from helpers import TINY_RING


def _events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_event_file_holds_the_logged_scalars_and_grids(tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    gankit.train("ring", TINY_RING + ["train.tensorboard=true", "train.checkpoint_every=10"], out=out, steps=20,
                 progress=False)
    acc = _events(out / "tensorboard")
    tags = set(acc.Tags()["scalars"])
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g", "diversity"):
        assert f"train/{key}" in tags, key
    assert "eval/modes" in tags  # the final score on toy data
    train = [r for r in RunDir(out).read_log() if r["type"] == "train"]
    events = acc.Scalars("train/loss_d")
    assert [e.step for e in events] == [r["step"] for r in train]
    assert [e.value for e in events] == pytest.approx([r["loss_d"] for r in train], rel=1e-6)  # float32 events
    assert [e.step for e in acc.Images("samples")] == [0, 10, 20]


def test_resume_purges_events_after_the_checkpoint(tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    args = TINY_RING + ["train.tensorboard=true", "train.checkpoint_every=10"]
    gankit.train("ring", args, out=out, steps=10, progress=False)
    gankit.resume(out, steps=20, progress=False)
    steps = [e.step for e in _events(out / "tensorboard").Scalars("train/loss_g")]
    assert steps == [5, 10, 15, 20]


def test_missing_tensorboard_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name == "tensorboard":
            raise ImportError("no tensorboard")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(GankitError, match=r"pip install 'gankit\[tensorboard\]'"):
        tb.check_tensorboard()
