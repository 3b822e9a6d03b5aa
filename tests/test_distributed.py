"""Training under torchrun with 2 gloo processes on CPU: the same gradient as 1 process at the same
global batch, an exact resume after SIGKILL, a failing rank stopping the job, world size checks."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import gankit
from gankit.data import BatchSampler
from gankit.errors import GankitError
from gankit.training import checkpoint as ckpt
from gankit.training.distributed import Ranks, local_batch
from gankit.training.rundir import RunDir

from helpers import ROOT, final_tensors

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")

# a small MLP without BatchNorm (each rank would normalize its own half) on the ring, R1 on every D step:
# the gradient penalty's double backward runs through DDP
RING = ["model.g_width=16", "model.d_width=16", "model.g_layers=2", "model.d_layers=2", "model.g_norm=none",
        "model.d_norm=none", "data.batch_size=64", "train.threads=1", "train.log_every=5",
        "train.sample_every=1000", "train.checkpoint_every=10", "train.keep_checkpoints=20",
        "objective.name=r1", "objective.params.every=1", "eval.final=false"]
STEPS = 60


def torchrun(*args, script=("-m", "gankit.cli"), popen=False, timeout=180):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *script, *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"}
    if popen:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                cwd=ROOT, start_new_session=True)
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)
    return res


def process_tree(pid):
    """``pid`` and all its descendants (torchrun starts each worker in a session of its own, so
    killing torchrun's process group leaves the workers running)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def _state(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def weights_at(run, step):
    return load_file(str(run / "checkpoints" / f"step_{step:07d}.safetensors"))


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "two"
    res = torchrun("train", "ring", *RING, "--steps", str(STEPS), "--out", str(out), "--no-progress")
    assert res.returncode == 0, res.stdout + res.stderr
    return out


def test_two_ranks_at_half_batch_match_one_rank_at_the_batch(two_rank_run, tmp_path):
    one = tmp_path / "one"
    gankit.train("ring", RING, out=one, steps=STEPS, progress=False)
    for step in (10, 30):
        a, b = weights_at(one, step), weights_at(two_rank_run, step)
        for k in a:
            if k.startswith(("G.", "D.")):
                torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5, msg=f"{k} at step {step}")
    manifest = ckpt.read_manifest(two_rank_run / "checkpoints" / f"step_{STEPS:07d}.json", verify=True)
    assert manifest["world_size"] == 2
    assert RunDir(two_rank_run).read_info()["world_size"] == 2
    assert RunDir(two_rank_run).read_info()["backend"] == "gloo"
    _, state = ckpt.load_checkpoint(two_rank_run)
    assert len(state["ranks"]) == 2 and {"rng", "sampler"} <= set(state["ranks"][1])
    log = [r for r in RunDir(two_rank_run).read_log() if r["type"] == "train"]
    assert [r["step"] for r in log][-1] == STEPS and "r1" in log[-1]


def test_resume_at_another_world_size_is_refused(two_rank_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(two_rank_run, copy)
    with pytest.raises(GankitError, match="trained by 2 process.*--nproc_per_node=2"):
        gankit.resume(copy, steps=STEPS + 10, progress=False)


def test_sigkill_then_resume_is_bitwise_the_uninterrupted_run(two_rank_run, tmp_path):
    out = tmp_path / "killed"
    job = torchrun("train", "ring", *RING, "--steps", str(STEPS), "--out", str(out), "--no-progress", popen=True)
    target = out / "checkpoints" / "step_0000020.json"
    deadline = time.time() + 120
    while not target.exists() and job.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    tree = process_tree(job.pid)
    assert len(tree) >= 3, f"torchrun and its 2 workers expected, found {tree}"
    for pid in tree:  # torchrun and both workers at once, mid-run: as a machine that dies
        os.kill(pid, signal.SIGKILL)
    job.wait()
    for pid in tree[1:]:
        while Path(f"/proc/{pid}").exists() and "Z" not in _state(pid):
            time.sleep(0.01)
    latest = ckpt.latest_checkpoint(out / "checkpoints")
    assert latest is not None
    killed_at = ckpt.read_manifest(latest)["step"]
    assert killed_at < STEPS, "the job finished before it was killed: the test did not interrupt it"
    res = torchrun("train", "--resume", str(out), "--no-progress")
    assert res.returncode == 0, res.stdout + res.stderr
    want, got = final_tensors(two_rank_run), final_tensors(out)
    assert got.keys() == want.keys()
    for k in want:
        assert torch.equal(got[k], want[k]), f"{k} differs after SIGKILL at step >= {killed_at} and resume"
    steps = [r["step"] for r in RunDir(out).read_log() if r["type"] == "train"]
    assert steps == sorted(set(steps)) and steps[-1] == STEPS


def test_lazy_penalty_phase_matches_one_rank(tmp_path):
    lazy = [a for a in RING if not a.startswith("objective.")] + ["objective.name=r2", "objective.params.every=2"]
    one, two = tmp_path / "one", tmp_path / "two"
    gankit.train("ring", lazy, out=one, steps=20, progress=False)
    res = torchrun("train", "ring", *lazy, "--steps", "20", "--out", str(two), "--no-progress")
    assert res.returncode == 0, res.stdout + res.stderr
    a, b = final_tensors(one), final_tensors(two)
    for k in a:
        if k.startswith(("G.", "D.")):
            torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5, msg=k)


def test_a_failing_rank_stops_the_job_and_leaves_whole_checkpoints(tmp_path):
    out = tmp_path / "fail"
    # bf16 here: DDP, autocast and R1's double backward together for the 15 steps before the failure
    res = torchrun("train", "ring", *RING, "train.precision=bf16", "--steps", str(STEPS), "--out", str(out),
                   "--no-progress", script=(str(ROOT / "tests" / "ddp_failing_worker.py"), "15"))
    text = res.stdout + res.stderr
    assert res.returncode != 0
    assert "injected failure on rank 1 at step 15" in text
    manifests = ckpt.list_checkpoints(out / "checkpoints")
    assert [s for s, _ in manifests] == [10]
    for _, path in manifests:
        ckpt.read_manifest(path, verify=True)  # sha256 of its weights matches: nothing half written
    assert not list((out / "checkpoints").glob("*.tmp"))


def test_batch_size_is_global_and_must_divide():
    assert local_batch(64, Ranks(0, 2)) == 32
    with pytest.raises(GankitError, match="data.batch_size=65 is the global batch.*2 processes"):
        local_batch(65, Ranks(0, 2))
    with pytest.raises(GankitError, match="model.d_pack=4"):
        local_batch(24, Ranks(0, 4), pack=4)


@pytest.mark.parametrize("preset", ["digits", "ring"])
def test_shards_split_every_global_batch(preset):
    from gankit.config import load_config
    from gankit.data import load_dataset

    data = load_dataset(load_config(preset).data, "train")
    whole = BatchSampler(data, 64, seed=3)
    halves = [BatchSampler(data, 64, seed=3, shard=(r, 2)) for r in range(2)]
    for _ in range(40):  # digits: past an epoch boundary
        x, _ = whole.next()
        parts = [s.next()[0] for s in halves]
        assert torch.equal(torch.cat(parts), x)


def test_progressive_growing_through_a_fade_matches_one_rank(tmp_path):
    # blocks of a side not reached yet are unused parameters: DDP must be told (find_unused_parameters);
    # no minibatch std here: each rank's std is over its own slice, so it differs from one rank's by design;
    grow = ["model.arch=progan", "model.g_width=4", "model.d_width=4", "model.z_dim=8", "model.g_norm=none",
            "model.d_norm=none", "model.init=default", "model.grow.every=2", "model.grow.fade=3", "model.mbstd_group=0",
            "objective.name=hinge", "data.batch_size=16", "train.threads=1",
            "train.sample_every=1000", "train.checkpoint_every=10", "eval.final=false"]
    one, two = tmp_path / "one", tmp_path / "two"
    gankit.train("digits", grow, out=one, steps=8, progress=False)
    res = torchrun("train", "digits", *grow, "--steps", "8", "--out", str(two), "--no-progress")
    assert res.returncode == 0, res.stdout + res.stderr
    a, b = final_tensors(one), final_tensors(two)
    assert int(b["G.grow_step"]) == 7
    steps = {k: int(a[k]) for k in a if k.startswith("opt_") and k.endswith(".step")}
    # the 8x8 blocks enter at step 2 (6 steps); the 4x4 toRGB/fromRGB leave when the fade ends at step 5 (5 steps)
    assert {int(b[k]) for k in steps} == set(steps.values()) == {5, 6, 8}
    assert all(int(b[k]) == v for k, v in steps.items())  # unused blocks got no Adam step on any rank
    for k in a:  # Adam turns float noise in a near-zero gradient into lr-sized steps: atol 1e-4, not 1e-5
        if k.startswith(("G.", "D.")):
            torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-4, msg=k)


def test_scoring_during_training_is_shared_by_the_ranks_and_matches_one_rank(tmp_path):
    # each rank generates and extracts its half of eval.n samples; the halves are gathered, rank 0's
    # scores broadcast, and the best checkpoint (written at a score, every rank calling) holds both ranks
    scored = [a for a in RING if not a.startswith("eval.")] + [
        "eval.every=10", "eval.metrics=[modes,fid]", "eval.n=501", "eval.best=high_quality"]
    one, two = tmp_path / "one", tmp_path / "two"
    gankit.train("ring", scored, out=one, steps=20, progress=False)
    res = torchrun("train", "ring", *scored, "--steps", "20", "--out", str(two), "--no-progress")
    assert res.returncode == 0, res.stdout + res.stderr
    a, b = ([json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines()] for run in (one, two))
    assert [r["step"] for r in a] == [r["step"] for r in b] == [10, 20]
    for ra, rb in zip(a, b):
        assert rb["provenance"]["n_fake"] == ra["provenance"]["n_fake"] == 501
        assert rb["provenance"]["world_size"] == 2
        assert rb["modes"] == ra["modes"]
        assert abs(rb["high_quality"] - ra["high_quality"]) <= 2 / 501  # weights equal to float tolerance
        assert rb["fid"] == pytest.approx(ra["fid"], rel=1e-3, abs=1e-4)
    manifest = ckpt.read_manifest(two / "checkpoints" / f"{ckpt.BEST}.json", verify=True)
    assert manifest["world_size"] == 2 and manifest["best"]["step"] in (10, 20)
    _, state = ckpt.load_checkpoint(two / "checkpoints" / f"{ckpt.BEST}.json")
    assert len(state["ranks"]) == 2, "the best checkpoint lacks rank 1's RNG and data position"


BN_RING = [a for a in RING if not a.startswith(("objective.", "model.g_norm"))] + [
    "model.g_norm=batch", "objective.name=ns"]


def test_sync_batchnorm_matches_one_rank_and_without_it_does_not(tmp_path):
    # G's BatchNorm normalizes over the global batch with train.sync_batchnorm (on CPU through our
    # GlobalBatchNorm: torch's SyncBatchNorm refuses CPU tensors); without it, over each rank's half
    one, synced, local = tmp_path / "one", tmp_path / "synced", tmp_path / "local"
    gankit.train("ring", BN_RING, out=one, steps=10, progress=False)
    for run, flag in ((synced, "true"), (local, "false")):
        res = torchrun("train", "ring", *BN_RING, f"train.sync_batchnorm={flag}", "--steps", "10",
                       "--out", str(run), "--no-progress")
        assert res.returncode == 0, res.stdout + res.stderr
    a, s, n = (weights_at(run, 10) for run in (one, synced, local))
    assert any(".running_mean" in k for k in a), "the test model has no BatchNorm"
    # The bias of a linear just before a BatchNorm has a zero gradient in exact arithmetic (the mean is
    # taken out): Adam turns float noise in it into steps of up to lr, and running_mean follows. Those
    # are compared at atol 1e-3 (the ring preset's lr x 10 steps); everything else at float tolerance.
    before_bn = {f"G.net.{int(k.split('.')[2]) - 1}.bias" for k in a if k.endswith(".running_mean")}
    loose = before_bn | {k for k in a if k.endswith(".running_mean")}
    assert before_bn == {"G.net.0.bias", "G.net.3.bias"}
    for k in a:
        if k.startswith(("G.", "D.")):
            tol = dict(rtol=0, atol=1e-3) if k in loose else dict(rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(s[k], a[k], **tol, msg=k)
    weights = [k for k in a if k.endswith(".weight")]
    assert all(torch.allclose(s[k], a[k], rtol=1e-4, atol=1e-5) for k in weights)
    assert sum(not torch.allclose(n[k], a[k], rtol=1e-4, atol=1e-4) for k in weights) >= len(weights) // 2


@pytest.mark.parametrize("game", [
    ["objective.name=wgan-gp", "objective.d_steps=2"],  # interpolation weights eps ~ U[0, 1] per sample
    ["objective.name=ns", "objective.terms={instance_noise: {std: 0.3}, noisy_labels: {flip: 0.2}}"],
], ids=["wgan-gp", "instance-noise+noisy-labels"])
def test_per_sample_draws_of_the_objective_match_one_rank(game, tmp_path):
    # drawn for the global batch and sliced per rank (objectives/batch_rng.py), as the latents are;
    # without it, both ranks would use the first half of one process's draw
    runs = [a for a in RING if not a.startswith("objective.")] + game
    one, two = tmp_path / "one", tmp_path / "two"
    gankit.train("ring", runs, out=one, steps=10, progress=False)
    res = torchrun("train", "ring", *runs, "--steps", "10", "--out", str(two), "--no-progress")
    assert res.returncode == 0, res.stdout + res.stderr
    a, b = weights_at(one, 10), weights_at(two, 10)
    for k in a:
        if k.startswith(("G.", "D.")):
            torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5, msg=k)
