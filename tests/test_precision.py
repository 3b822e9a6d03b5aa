"""train.precision: autocast forwards, fp32 losses, gradient penalties under bf16, exact bf16 resume."""
import math

import pytest
import torch

from gankit.config import load_config
from gankit.errors import GankitError
from gankit.objectives.common import input_gradient
from gankit.training import checkpoint as ckpt
from gankit.training.loop import Trainer
from gankit.training.precision import Player, to_fp32

from helpers import TINY_DIGITS, TINY_RING, LinearD, assert_resume_is_exact

# one preset per objective family: classic logit losses, critics with penalties, lazy R1, energy, relativistic
FAMILIES = [("ring", "ns"), ("ring", "minimax"), ("ring-wgan-gp", None), ("ring-hinge", None),
            ("ring-ragan", None), ("ring-dragan", None), ("ring-r2", None), ("digits-r1", None),
            ("digits-lsgan", None), ("digits-began", None), ("digits-ebgan", None), ("digits", "wgan")]


@pytest.mark.parametrize("preset, objective", FAMILIES)
def test_bf16_step_runs_low_precision_and_keeps_losses_fp32(preset, objective):
    tiny = TINY_DIGITS if preset.startswith("digits") else TINY_RING
    extra = [f"objective.name={objective}"] if objective else []
    cfg = load_config(preset, tiny + extra + ["train.steps=1", "train.precision=bf16"])
    trainer = Trainer(cfg, None, progress=False)
    seen = set()
    hooks = [m.register_forward_hook(lambda mod, inp, out: seen.add(out.dtype))
             for m in list(trainer.D.modules()) + list(trainer.G.modules())
             if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    d_before = [p.detach().clone() for p in trainer.D.parameters()]
    for _ in range(2 if preset == "digits-r1" else 1):
        stats = trainer.iteration(want_stats=True)
    for h in hooks:
        h.remove()
    assert torch.bfloat16 in seen  # the matmuls ran in bf16
    for key, value in stats.items():
        if isinstance(value, torch.Tensor):
            assert value.dtype == torch.float32, key  # every loss and statistic is fp32
        assert math.isfinite(float(value)), key
    for p in trainer.D.parameters():
        assert p.dtype == torch.float32  # the weights stay fp32
    assert any(not torch.equal(a, b) for a, b in zip(d_before, trainer.D.parameters()))


def test_gradient_penalty_under_bf16_matches_fp32():
    D = LinearD([0.3, -1.2, 2.0])
    x = torch.randn(16, 3)
    want = input_gradient(D, x)  # = w at every point
    got = input_gradient(Player(D, precision="bf16"), x)
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    torch.testing.assert_close(got, want, atol=0.02, rtol=0.02)
    torch.testing.assert_close(want, D.w.detach().expand(16, 3))


def test_penalty_gradient_is_unscaled_with_a_grad_scaler():
    D = LinearD([0.5, 4.0])
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    x = torch.randn(8, 2)
    grad = input_gradient(Player(D, scaler=scaler), x)
    torch.testing.assert_close(grad, D.w.detach().expand(8, 2))
    # and the penalty still trains D: the double backward reaches w
    grad.pow(2).sum().backward()
    torch.testing.assert_close(D.w.grad, 2 * 8 * D.w.detach())


def test_fp16_is_refused_on_cpu_and_bad_values_name_the_key():
    with pytest.raises(GankitError, match="train.precision=fp16 needs a CUDA device.*bf16"):
        Trainer(load_config("ring", TINY_RING + ["train.precision=fp16"]), None, progress=False)
    with pytest.raises(GankitError, match="'train.precision' = 'fp8'"):
        load_config("ring", ["train.precision=fp8"])


def test_to_fp32_casts_outputs_only_where_floating():
    from gankit.nets import DOutput

    out = to_fp32(DOutput(logits=torch.ones(2, dtype=torch.bfloat16), class_logits=None))
    assert out.logits.dtype == torch.float32 and out.class_logits is None
    assert to_fp32(torch.ones(2, dtype=torch.long)).dtype == torch.long


def test_grad_scaler_state_is_checkpointed(tmp_path):
    trainer = Trainer(load_config("ring", TINY_RING + ["train.steps=1"]), None, progress=False)
    trainer.scalers = {"G": torch.amp.GradScaler("cpu", init_scale=256.0),
                       "D": torch.amp.GradScaler("cpu", init_scale=512.0)}
    ckpt.save_checkpoint(tmp_path, 1, trainer.state_dict(), {"config": {}})
    _, state = ckpt.load_checkpoint(tmp_path / "step_0000001.json")
    assert state["scaler_g"]["scale"] == 256.0 and state["scaler_d"]["scale"] == 512.0
    other = Trainer(load_config("ring", TINY_RING + ["train.steps=1"]), None, progress=False)
    other.scalers = {"G": torch.amp.GradScaler("cpu"), "D": torch.amp.GradScaler("cpu")}
    other.load_state_dict(state, "x")
    assert other.scalers["G"].get_scale() == 256.0 and other.scalers["D"].get_scale() == 512.0


def test_bf16_resume_is_exact(tmp_path):
    args = TINY_DIGITS + ["train.checkpoint_every=10", "train.keep_checkpoints=10", "train.precision=bf16",
                          "objective.name=wgan-gp", "model.d_norm=none"]
    assert_resume_is_exact("digits", args, tmp_path)
