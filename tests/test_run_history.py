"""What a run remembers across resumes, and what a short or small run tells its user."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
from gankit.config import load_config
from gankit.training.ema import EMA
from gankit.training.loop import Trainer

from helpers import TINY_DIGITS, TINY_RING

RING = TINY_RING + ["train.checkpoint_every=5", "eval.final=false"]


def _info(run):
    return json.loads((run / "run.json").read_text())


def test_resume_keeps_every_segment_and_the_total_training_time(tmp_path, capsys):
    run = tmp_path / "run"
    gankit.train("ring", RING, out=run, steps=10, progress=False)
    first = _info(run)
    assert [(s["start_step"], s["end_step"], s["status"]) for s in first["segments"]] == [(0, 10, "finished")]
    log_end = max(r["time"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines())
                  if r["type"] == "train")

    capsys.readouterr()
    gankit.resume(run, steps=20, progress=False)
    assert f"resuming {run} from step 10 of 20" in capsys.readouterr().err
    info = _info(run)
    segments = info["segments"]
    assert [(s["start_step"], s["end_step"], s["status"]) for s in segments] == [(0, 10, "finished"),
                                                                                 (10, 20, "finished")]
    assert segments[0] == first["segments"][0]  # the first segment's times are not overwritten
    assert info["started"] == first["started"] == segments[0]["start"]
    assert info["training_seconds"] == pytest.approx(sum(s["end"] - s["start"] for s in segments), abs=1e-3)
    assert info["training_seconds"] > first["training_seconds"]
    # the log's clock continues from the first segment's training time instead of restarting at 0
    resumed_times = [r["time"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines())
                     if r["type"] == "train" and r["step"] > 10]
    assert resumed_times and min(resumed_times) >= log_end
    assert "over 2 segments (resumed 1x)" in (run / "report.html").read_text()

    # a finished run says so instead of silently doing nothing, and its history stays as it was
    result = gankit.resume(run, progress=False)
    assert result.step == 20
    err = capsys.readouterr().err
    assert f"{run} is already finished: step 20 of 20, nothing to train" in err and "--steps" in err
    assert _info(run)["segments"] == segments


def test_ema_ramps_up_its_half_life():
    G = torch.nn.Linear(2, 2)
    ema = EMA(G, 0.999, rampup=0.05)
    # half-life 0.05 x steps: at step 100 it is 5 steps, far below decay 0.999's 693
    assert ema.decay_at(100) == pytest.approx(0.5 ** (1 / (0.05 * 101)))
    assert ema.decay_at(1) < 0.01  # the first steps nearly copy G
    assert ema.decay_at(20_000) == 0.999  # after the ramp: the plain decay
    assert [ema.decay_at(s) for s in (10, 100, 1000, 10_000)] == sorted(ema.decay_at(s) for s in (10, 100, 1000, 10_000))
    assert EMA(G, 0.999).decay_at(100) == 0.999  # rampup 0: no ramp
    assert EMA(G, 0.999, start=50, rampup=0.05).decay_at(49) == 0.0  # before ema_start: a copy


def test_short_run_ema_is_near_g_and_sample_raw_gives_g(tmp_path, capsys):
    run = tmp_path / "run"
    gankit.train("digits", TINY_DIGITS + ["train.ema=0.999", "eval.final=false"], out=run, steps=30, progress=False)
    ema, raw = gankit.load(run), gankit.load(run, raw=True)
    assert ema.uses_ema and not raw.uses_ema
    from gankit.training.checkpoint import load_checkpoint

    _, state = load_checkpoint(run)
    g0 = Trainer(load_config("digits", TINY_DIGITS + ["train.ema=0.999"]), None, progress=False).G.state_dict()
    name = next(k for k in state["G"] if k.endswith("weight") and state["G"][k].dim() > 1)
    # with the ramp the average follows G: it is much nearer G than G's initial weights are
    assert (state["G_ema"][name] - state["G"][name]).norm() < 0.5 * (g0[name] - state["G"][name]).norm()
    a, b = ema.sample(4, seed=0), raw.sample(4, seed=0)
    assert a.shape == b.shape and not np.array_equal(a, b)
    from gankit.cli import main

    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "raw.npz"), "--raw"]) == 0
    assert "(raw G)" in capsys.readouterr().out
    with np.load(tmp_path / "raw.npz") as f:
        assert np.array_equal(f["x"], b)


def test_folder_smaller_than_the_batch_trains_with_a_fitted_batch(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    run = tmp_path / "run"
    gankit.train("folder-dcgan", [f"data.path={photos}", "data.resolution=8", "model.g_width=8", "model.d_width=8",
                                  "train.threads=1", "eval.final=false"], out=run, steps=2, progress=False)
    err = capsys.readouterr().err
    assert "10 items, fewer than data.batch_size=64: training with data.batch_size=10" in err
    assert load_config(str(run / "config.yaml")).data.batch_size == 10  # what ran, so a resume runs the same
    warnings = [r for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if r["type"] == "warning"]
    assert any("data.batch_size=10" in r["message"] for r in warnings)


def test_run_time_estimate_is_said_once_after_the_first_steps(monkeypatch):
    from gankit.training import run_setup

    clock = [100.0]
    monkeypatch.setattr(run_setup.time, "perf_counter", lambda: clock[0])
    estimate = run_setup.RunTimeEstimate(first_step=0, total=20_000, t_start=100.0, after_s=3.0, after_steps=5)
    clock[0] = 101.0
    assert estimate.after_step(4) is None  # too early to tell
    clock[0] = 104.0
    said = estimate.after_step(8)  # 2 steps/s: 19,992 steps take 9,996 s
    assert said == ("at 2 steps/s the remaining 19,992 of 20,000 steps take about 2:46:36 (snapshots, "
                    "checkpoints and scoring add to it)")
    assert estimate.after_step(9) is None  # once


def test_report_shows_a_cheap_final_score_and_how_it_was_computed(tmp_path):
    digits = tmp_path / "digits"
    gankit.train("digits", TINY_DIGITS + ["eval.n=100"], out=digits, steps=4, progress=False)
    html = (digits / "report.html").read_text()
    assert "<th>fid (step 4)</th>" in html and "<th>coverage (step 4)</th>" in html
    assert "fid, pr, dc of 100 samples (EMA) against 360 real items, classifier:digits features" in html
    assert "<th>caveats</th><td class=\"num\">fid, precision, recall, density, coverage from only 360 real" in html
    from gankit.report.plots import TRAIN_PANELS

    assert any(title.startswith("diversity: spread of samples / spread of data") for title, *_ in TRAIN_PANELS)
    ring = tmp_path / "ring"
    gankit.train("ring", TINY_RING, out=ring, steps=4, progress=False)
    assert "<th>modes (step 4)</th>" in (ring / "report.html").read_text()
    off = tmp_path / "off"
    gankit.train("ring", TINY_RING + ["eval.final=false"], out=off, steps=4, progress=False)
    assert not (off / "eval.jsonl").exists() and "modes (step" not in (off / "report.html").read_text()



def test_a_run_being_trained_cannot_be_resumed_by_another_process(tmp_path):
    import subprocess
    import sys

    from gankit.errors import GankitError

    run = tmp_path / "run"
    gankit.train("ring", RING, out=run, steps=5, progress=False)
    # another process holds the run's lock, as a training job (or a worker orphaned by a killed torchrun) does
    holder = subprocess.Popen([sys.executable, "-c", "import sys; from gankit.training.rundir import RunDir; "
                               "r = RunDir(sys.argv[1]); r.acquire(); print('held', flush=True); sys.stdin.read()",
                               str(run)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = (run / "log.jsonl").read_text()
        with pytest.raises(GankitError, match=rf"being trained by pid {holder.pid} on .*\.lock.*stop it"):
            gankit.resume(run, steps=10, progress=False)
        assert (run / "log.jsonl").read_text() == before  # refused before touching anything
    finally:
        holder.stdin.close()
        holder.wait()
    gankit.resume(run, steps=10, progress=False)  # the holder's exit let go of the lock
    assert _info(run)["step"] == 10
