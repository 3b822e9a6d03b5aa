import json
import math

import pytest
import torch

import gankit
from gankit.config import load_config
from gankit.training import checkpoint as ckpt
from gankit.training.loop import Trainer
from gankit.training.rundir import RunDir

from helpers import TINY_DIGITS, TINY_RING, final_tensors


@pytest.mark.parametrize("preset, tiny", [("digits", TINY_DIGITS), ("ring", TINY_RING),
                                          ("gaussian1d", ["train.threads=1"])])
@pytest.mark.parametrize("objective", ["minimax", "ns"])
def test_one_step_smoke(preset, tiny, objective):
    cfg = load_config(preset, tiny + [f"objective.name={objective}", "train.steps=1"])
    trainer = Trainer(cfg, None, progress=False)
    before = [p.detach().clone() for p in trainer.G.parameters()]
    stats = trainer.iteration(want_stats=True)
    assert trainer.step == 1
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"):
        assert math.isfinite(float(stats[key])), key
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.G.parameters()))


def test_k_discriminator_steps_draw_k_batches():
    cfg = load_config("ring", TINY_RING + ["objective.d_steps=3", "train.steps=1"])
    trainer = Trainer(cfg, None, progress=False)
    calls = []
    original = trainer.sampler.next
    trainer.sampler.next = lambda: calls.append(1) or original()
    trainer.iteration(want_stats=False)
    assert len(calls) == 3  # one real batch per D step; the G step needs none


def test_run_directory_contents(tmp_path):
    out = tmp_path / "run"
    result = gankit.train("digits", TINY_DIGITS + ["train.checkpoint_every=10", "train.ema=0.9"],
                          out=out, steps=20, progress=False)
    assert result.step == 20
    assert (out / "config.yaml").is_file() and (out / "report.html").is_file()
    assert sorted(p.name for p in (out / "samples").glob("step_*.png")) == [
        "step_0000000.png", "step_0000010.png", "step_0000020.png"]
    assert (out / "samples" / "real.png").is_file()
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    train = [r for r in records if r["type"] == "train"]
    assert [r["step"] for r in train] == [5, 10, 15, 20]
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g", "img_per_s"):
        assert key in train[-1]
    assert 0 <= train[-1]["d_real"] <= 1
    manifest, state = ckpt.load_checkpoint(out)
    assert manifest["step"] == 20 and "G_ema" in state
    assert manifest["config"]["train"]["ema"] == 0.9
    # sampling uses the EMA generator and works from the run folder alone
    model = gankit.load(out)
    assert model.uses_ema
    x = model.sample(5, seed=1)
    assert x.shape == (5, 8, 8, 1) and x.dtype.name == "uint8"
    assert (model.sample(5, seed=1) == x).all()


def test_resume_from_each_checkpoint_is_exact(tmp_path):
    args = TINY_DIGITS + ["train.checkpoint_every=20", "train.keep_checkpoints=10", "train.ema=0.9"]
    full = tmp_path / "full"
    gankit.train("digits", args, out=full, steps=60, progress=False)  # crosses epoch boundaries
    want = final_tensors(full)
    for stop in (20, 40):
        part = tmp_path / f"part{stop}"
        gankit.train("digits", args, out=part, steps=stop, progress=False)
        gankit.resume(part, steps=60, progress=False)
        got = final_tensors(part)
        assert got.keys() == want.keys()
        for k in want:
            assert torch.equal(got[k], want[k]), f"{k} differs after resuming at {stop}"
        steps = [r["step"] for r in RunDir(part).read_log() if r["type"] == "train"]
        assert steps == sorted(set(steps)), "log has duplicated steps after resume"


def test_different_run_in_out_dir_is_refused(tmp_path):
    out = tmp_path / "run"
    gankit.train("ring", TINY_RING, out=out, steps=2, progress=False)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(gankit.errors.GankitError, match="holds a different run"):
        gankit.train("ring", TINY_RING + ["model.z_dim=3"], out=out, steps=2, progress=False)
    with pytest.raises(gankit.errors.GankitError, match="already holds this run.*--resume"):
        gankit.train("ring", TINY_RING, out=out, steps=2, progress=False)
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert before == after


def test_divergence_stops_with_the_last_good_checkpoint(tmp_path):
    out = tmp_path / "run"
    gankit.train("ring", TINY_RING + ["train.checkpoint_every=5"], out=out, steps=5, progress=False)
    with pytest.raises(gankit.errors.GankitError, match="diverged at step .*last good checkpoint"):
        # an absurd learning rate with plain SGD blows the weights up
        run = RunDir(out)
        cfg = run.read_config()
        cfg.train.steps = 200
        cfg.train.d_optim.name = cfg.train.g_optim.name = "sgd"
        cfg.train.d_optim.lr = cfg.train.g_optim.lr = 1e30
        trainer = Trainer(cfg, run, progress=False)
        _, state = ckpt.load_checkpoint(out)
        trainer.G.load_state_dict(state["G"])
        trainer.D.load_state_dict(state["D"])
        trainer.step = 5
        trainer.fit()
    # whatever checkpoint is the latest, it holds finite weights: no NaN was ever saved
    _, state = ckpt.load_checkpoint(out)
    assert all(torch.isfinite(t).all() for t in state["G"].values() if t.is_floating_point())


def test_linear_lr_decay_follows_the_step():
    from gankit.training.optim import lr_factor

    assert lr_factor(0, 10, "none", 0) == 1.0 and lr_factor(9, 10, "none", 0) == 1.0
    assert [lr_factor(s, 10, "linear", 0.6) for s in range(10)] == [1, 1, 1, 1, 1, 1, 1.0, 0.75, 0.5, 0.25]
    cfg = load_config("ring", TINY_RING + ["train.steps=8", "train.lr_decay=linear", "train.lr_decay_start=0.5",
                                           "train.g_optim.lr=0.001", "train.d_optim.lr=0.002"])
    trainer = Trainer(cfg, None, progress=False)
    seen = []
    for _ in range(8):
        trainer.iteration(want_stats=False)
        seen.append((trainer.opt_g.param_groups[0]["lr"], trainer.opt_d.param_groups[0]["lr"]))
    want = [1, 1, 1, 1, 1.0, 0.75, 0.5, 0.25]
    assert [g for g, _ in seen] == pytest.approx([0.001 * f for f in want])
    assert [d for _, d in seen] == pytest.approx([0.002 * f for f in want])


def test_resume_with_lr_decay_is_exact(tmp_path):
    import shutil

    args = TINY_RING + ["train.checkpoint_every=10", "train.keep_checkpoints=10", "train.lr_decay=linear",
                        "train.lr_decay_start=0.2"]
    full, part = tmp_path / "full", tmp_path / "part"
    gankit.train("ring", args, out=full, steps=30, progress=False)
    shutil.copytree(full, part)  # the same run, as if it had died right after its step-10 checkpoint
    for f in part.glob("checkpoints/step_00000[23]0.*"):
        f.unlink()
    gankit.resume(part, progress=False)
    want, got = final_tensors(full), final_tensors(part)
    assert got.keys() == want.keys()
    for k in want:
        assert torch.equal(got[k], want[k]), f"{k} differs after resuming a decaying run"
