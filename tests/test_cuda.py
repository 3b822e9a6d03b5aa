"""The CUDA path: every test here is skipped without a CUDA device (CI has none), and runs where one is lent
(`benchmarks/device_run.sh`, results in `benchmarks/results/device_tests.txt`).

What it checks on the GPU: one step of each objective family in fp32, bf16 and fp16 (GradScaler), losses
fp32 and finite; an fp16 run's GradScaler state in its checkpoint; exact resume on CUDA (fp32 and fp16);
a checkpoint trained on CUDA sampled on the CPU; the many-seeds path on CUDA equal to separate runs.
"""
import math

import pytest
import torch

import gankit
from gankit.config import load_config
from gankit.training import checkpoint as ckpt
from gankit.training.loop import Trainer

from helpers import TINY_DIGITS, TINY_RING, assert_resume_is_exact, final_tensors

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CUDA = ["train.device=cuda"]
FAMILIES = [("ring", "ns"), ("ring-wgan-gp", None), ("ring-hinge", None), ("ring-dragan", None),
            ("digits-r1", None), ("digits-lsgan", None), ("digits-began", None), ("digits", "ns")]


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("preset, objective", FAMILIES)
def test_one_step_per_family_and_precision_on_cuda(preset, objective, precision):
    tiny = TINY_DIGITS if preset.startswith("digits") else TINY_RING
    extra = [f"objective.name={objective}"] if objective else []
    cfg = load_config(preset, tiny + extra + CUDA + ["train.steps=2", f"train.precision={precision}"])
    trainer = Trainer(cfg, None, progress=False)
    assert next(trainer.G.parameters()).device.type == "cuda"
    d_before = [p.detach().clone() for p in trainer.D.parameters()]
    for _ in range(2):
        stats = trainer.iteration(want_stats=True)
    for key, value in stats.items():
        if isinstance(value, torch.Tensor):
            assert value.dtype == torch.float32, key
        assert math.isfinite(float(value)), key
    assert all(p.dtype == torch.float32 for p in trainer.D.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(d_before, trainer.D.parameters()))
    if precision == "fp16":
        assert all(s is not None and s.get_scale() > 0 for s in trainer.scalers.values())


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_resume_on_cuda_is_exact(tmp_path, precision):
    args = TINY_RING + CUDA + ["train.checkpoint_every=10", "train.keep_checkpoints=10",
                               f"train.precision={precision}"]
    part = assert_resume_is_exact("ring", args, tmp_path)
    if precision == "fp16":
        _, state = ckpt.load_checkpoint(ckpt.latest_checkpoint(part / "checkpoints"))
        assert state["scaler_g"]["scale"] > 0 and state["scaler_d"]["scale"] > 0


def test_cuda_checkpoint_samples_on_cpu(tmp_path):
    run = tmp_path / "run"
    gankit.train("digits", TINY_DIGITS + CUDA + ["train.precision=bf16"], out=run, steps=5, progress=False)
    x = gankit.load(run).generate(6, seed=1)  # the CPU by default
    assert x.device.type == "cpu" and x.shape[0] == 6 and torch.isfinite(x).all()
    on_gpu = gankit.load(run, device="cuda")
    assert next(on_gpu.G.parameters()).device.type == "cuda"
    again = on_gpu.generate(6, seed=1)  # G runs on the GPU; its outputs come back on the CPU
    torch.testing.assert_close(again, x, atol=1e-4, rtol=1e-4)


def test_many_seeds_on_cuda_match_separate_runs(tmp_path):
    from gankit.training.multiseed import train_seeds

    args = TINY_RING + CUDA + ["model.g_norm=none", "train.steps=15", "train.ema=0", "eval.final=false"]
    paths = train_seeds("ring", args, [0, 1], out=tmp_path / "multi", progress=False)
    for seed, path in zip((0, 1), paths):
        alone = final_tensors(gankit.train("ring", args, out=tmp_path / f"alone{seed}", seed=seed, progress=False).path)
        batched = final_tensors(path)
        for k in alone:
            torch.testing.assert_close(batched[k], alone[k], atol=1e-4, rtol=1e-4, msg=k)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs (NCCL refuses two ranks on one GPU, and "
                    "torchrun with one process trains without a process group)")
def test_torchrun_on_cuda_uses_nccl_and_resumes_exactly(tmp_path):
    """torchrun on 2 GPUs: nccl chosen from the device, one rank per GPU, world size and backend recorded;
    a resume under the same command ends where an uninterrupted run ends."""
    import os
    import subprocess
    import sys

    from helpers import ROOT

    n = 2
    args = ["ring", *TINY_RING, *CUDA, "model.g_norm=none", "model.d_norm=none", "train.checkpoint_every=10",
            "eval.final=false"]

    def torchrun(*more):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
               "-m", "gankit", "train", *more, "--no-progress"]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]

    whole, part = tmp_path / "whole", tmp_path / "part"
    torchrun(*args, "--steps", "20", "--out", str(whole))
    torchrun(*args, "--steps", "10", "--out", str(part))
    torchrun("--resume", str(part), "--steps", "20")
    from gankit.training.rundir import RunDir

    info = RunDir(whole).read_info()
    assert info["world_size"] == n and info["backend"] == "nccl"
    a, b = final_tensors(whole), final_tensors(part)
    for k in a:
        assert torch.equal(a[k], b[k]), k
