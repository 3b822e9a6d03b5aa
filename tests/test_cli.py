"""The command line as a user meets it: subprocesses, exit codes, one-line errors."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

import gankit as gankit_api
from helpers import ROOT, TINY_DIGITS, TINY_RING, final_tensors, gankit


def _one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gankit: error: "), proc.stderr
    for frag in fragments:
        assert frag in lines[0], lines[0]


def test_presets_lists_one_line_each():
    proc = gankit("presets")
    assert proc.returncode == 0
    lines = proc.stdout.strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert "digits" in names and "ring" in names and "fashion-dcgan" in names
    assert all("data=" in line and "arch=" in line and "objective=" in line for line in lines)


def test_train_then_sample_png_and_npz(tmp_path):
    out = tmp_path / "run"
    proc = gankit("train", "ring", *TINY_RING, "--out", str(out), "--steps", "10", "--seed", "3",
                  "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert f"report: {out / 'report.html'}" in proc.stdout
    png, npz = tmp_path / "s.png", tmp_path / "s.npz"
    assert gankit("sample", str(out), "--n", "100", "--out", str(png)).returncode == 0
    Image.open(png).verify()
    proc = gankit("sample", str(out / "checkpoints" / "step_0000010.json"), "--n", "7", "--out", str(npz))
    assert proc.returncode == 0, proc.stderr
    with np.load(npz, allow_pickle=False) as f:
        assert f["x"].shape == (7, 2) and f["x"].dtype == np.float32


def test_sample_by_discriminator_rejection(tmp_path):
    out = tmp_path / "run"
    assert gankit("train", "ring", *TINY_RING, "--out", str(out), "--steps", "10", "--no-progress").returncode == 0
    npz = tmp_path / "drs.npz"
    proc = gankit("sample", str(out), "--n", "50", "--out", str(npz), "--drs", "--drs-percentile", "50",
                  "--drs-calibrate", "20")
    assert proc.returncode == 0, proc.stderr
    assert "by discriminator rejection sampling" in proc.stdout
    with np.load(npz, allow_pickle=False) as f:
        assert f["x"].shape == (50, 2) and f["x"].dtype == np.float32
    # the same through Python; exact rule, the checkpoint's D as it is (no data needed)
    model = gankit_api.load(out)
    res = model.rejection_sample(30, seed=1)
    assert res.x.shape == (30, 2) and 0 < res.acceptance <= 1 and res.draws >= 30
    assert res.gamma == 0.0 and model.rejection_sample(30, seed=1, percentile=50).gamma != 0.0  # the percentile is used
    _one_line_error(gankit("sample", str(out), "--out", str(npz), "--drs-calibrate", "5"), "need --drs")
    wgan = tmp_path / "wgan"
    assert gankit("train", "ring", *TINY_RING, "objective.name=wgan", "--out", str(wgan), "--steps", "2",
                  "--no-progress").returncode == 0
    _one_line_error(gankit("sample", str(wgan), "--out", str(npz), "--drs"), "objective 'WGAN' trains a critic")


def test_sample_images_npz_is_uint8_nhwc(tmp_path):
    out = tmp_path / "run"
    assert gankit("train", "digits", *TINY_DIGITS, "--out", str(out), "--steps", "2",
                  "--no-progress").returncode == 0
    npz = tmp_path / "d.npz"
    assert gankit("sample", str(out), "--n", "5", "--out", str(npz), "--seed", "1").returncode == 0
    with np.load(npz) as f:
        assert f["x"].shape == (5, 8, 8, 1) and f["x"].dtype == np.uint8


@pytest.mark.parametrize("args, fragments", [
    (["train", "ringg"], ["unknown preset 'ringg'", "did you mean 'ring'"]),
    (["train", "ring", "model.zdim=3"], ["unknown config key 'model.zdim'", "model.z_dim"]),
    (["train", "ring", "train.steps=-1"], ["train.steps"]),
    (["train", "ring", "data.batch_size=big"], ["data.batch_size", "integer"]),
    (["train", "fashion-dcgan", "data.path=/nonexistent/fm"], ["/nonexistent/fm"]),
    (["train", "folder-dcgan"], ["data.path"]),
    (["sample", "/nonexistent/run", "--out", "x.png"], ["/nonexistent/run"]),
])
def test_user_mistakes_give_one_line(args, fragments):
    _one_line_error(gankit(*args, "--no-progress") if args[0] == "train" else gankit(*args), *fragments)


def test_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(gankit("train", "folder-dcgan", f"data.path={empty}", "--no-progress"), str(empty))
    bad = tmp_path / "imgs"
    bad.mkdir()
    Image.new("RGB", (20, 20), (200, 10, 10)).save(bad / "good.png")
    (bad / "broken.png").write_bytes(b"\x89PNG not really an image")
    _one_line_error(gankit("train", "folder-dcgan", f"data.path={bad}", "data.resolution=16",
                           "--no-progress"), "broken.png")


def test_checkpoint_errors(tmp_path):
    out = tmp_path / "run"
    assert gankit("train", "ring", *TINY_RING, "--out", str(out), "--steps", "2",
                  "--no-progress").returncode == 0
    manifest = out / "checkpoints" / "step_0000002.json"
    weights = manifest.with_suffix(".safetensors")
    # truncated weights
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])
    _one_line_error(gankit("sample", str(manifest), "--out", str(tmp_path / "a.png")), "sha256")
    weights.write_bytes(good)
    # a manifest edited to claim another architecture (a checkpoint of another model)
    record = json.loads(manifest.read_text())
    record["config"]["model"]["g_width"] = 99
    manifest.write_text(json.dumps(record))
    _one_line_error(gankit("sample", str(manifest), "--out", str(tmp_path / "a.png")),
                    "another architecture")
    # truncated manifest
    manifest.write_text(manifest.read_text()[:30])
    _one_line_error(gankit("sample", str(manifest), "--out", str(tmp_path / "a.png")), "truncated")
    _one_line_error(gankit("sample", str(out), "--out", str(tmp_path / "a.gif")), ".png")


def test_out_dir_holding_other_run(tmp_path):
    out = tmp_path / "run"
    assert gankit("train", "ring", *TINY_RING, "--out", str(out), "--steps", "2",
                  "--no-progress").returncode == 0
    _one_line_error(gankit("train", "grid", *TINY_RING, "--out", str(out), "--steps", "2", "--no-progress"),
                    "different run")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("mine")
    _one_line_error(gankit("train", "ring", "--out", str(junk), "--no-progress"), "not empty")
    assert (junk / "notes.txt").read_text() == "mine"


def _start(args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "gankit.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.parametrize("wait_for", ["nothing", "checkpoint"])
def test_sigkill_then_resume_is_bitwise_identical(tmp_path, wait_for):
    args = TINY_DIGITS + ["train.checkpoint_every=15", "train.ema=0.9", "--steps", "90", "--no-progress"]
    ref = tmp_path / "ref"
    assert gankit("train", "digits", *args, "--out", str(ref)).returncode == 0
    run = tmp_path / "run"
    proc = _start(["train", "digits", *args, "--out", str(run)])
    deadline = time.time() + 60
    if wait_for == "checkpoint":
        while time.time() < deadline and not list((run / "checkpoints").glob("step_*.json")):
            time.sleep(0.05)
    else:
        while time.time() < deadline and not (run / "config.yaml").exists():
            time.sleep(0.05)
    time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = gankit("train", "--resume", str(run), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    want, got = final_tensors(ref), final_tensors(run)
    assert want.keys() == got.keys()
    for k in want:
        assert torch.equal(want[k], got[k]), k


def test_resume_refuses_new_settings(tmp_path):
    _one_line_error(gankit("train", "ring", "--resume", str(tmp_path)), "--resume")
    _one_line_error(gankit("train", "--resume", str(tmp_path / "none")), "no such run")


def test_ctrl_c_checkpoints_where_it_stops_and_resumes(tmp_path):
    run = tmp_path / "run"
    args = TINY_RING + ["train.checkpoint_every=100000", "--steps", "100000", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "gankit.cli", "train", "ring", *args, "--out", str(run)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (run / "log.jsonl").exists():
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    ckpts = sorted((run / "checkpoints").glob("step_*.json"))
    assert len(ckpts) == 1  # written at the step where it stopped, not at a scheduled one
    stopped = json.loads(ckpts[0].read_text())["step"]
    assert stopped > 0
    # the message names the real folder, the kept checkpoint and its step: no placeholders
    assert f"at step {stopped});" in err and f"(step {stopped}) is kept" in err, err
    assert f"checkpoint {ckpts[0]} " in err and f"'gankit train --resume {run}'" in err, err
    assert "DIR" not in err
    assert json.loads((run / "run.json").read_text())["status"] == f"stopped at step {stopped}"
    resumed = gankit("train", "--resume", str(run), "--steps", str(stopped + 5), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {run} from step {stopped} of {stopped + 5}" in resumed.stderr
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
