"""Progressive growing (model.arch=progan, gankit/nets/progan.py): the schedule, the fade-in identities of G
and D, one step per objective mid-fade, the drift term, checkpoints, exact resume with a stop mid-fade, the
optimizer state of blocks that enter late, the clear errors, and the presets."""
import math

import numpy as np
import pytest
import torch
from torch.testing import assert_close

import gankit
from gankit.config import ModelConfig, load_config
from gankit.errors import GankitError
from gankit.nets import DataSpec, build_nets
from gankit.nets.output import DOutput
from gankit.nets.progan import grow_changes_at, grow_sides, grow_state
from gankit.objectives import build_objective
from gankit.config import ObjectiveConfig
from gankit.registry import OBJECTIVES
from gankit.training.loop import Trainer

from helpers import final_tensors

TINY = ["model.arch=progan", "model.g_width=4", "model.d_width=4", "model.z_dim=8", "model.g_norm=none",
        "model.d_norm=none", "model.init=default", "data.batch_size=8", "train.threads=1", "train.log_every=2",
        "train.sample_every=100", "eval.final=false", "model.grow.every=2", "model.grow.fade=4"]


def _nets(side, every=2, fade=4, start=0, g_cond="none", d_cond="none", **extra):
    cfg = ModelConfig(arch="progan", g_width=4, d_width=4, z_dim=8, g_norm="none", d_norm="none", init="default",
                      g_cond=g_cond, d_cond=d_cond, **extra)
    cfg.grow.start, cfg.grow.every, cfg.grow.fade = start, every, fade
    cfg.validate()
    torch.manual_seed(0)
    return build_nets(cfg, DataSpec(kind="image", shape=(1, side, side), num_classes=3, name="test"))


def _at(step, *nets):
    for net in nets:
        net.set_step(step)


def test_schedule_is_a_pure_function_of_the_step():
    # 3 levels, every 2, fade 4: level 0 on steps 0-1; level 1 fades on 2-5, stable 6-7; level 2 fades on 8-11
    expected = {0: (0, 1.0), 1: (0, 1.0), 2: (1, 0.0), 3: (1, 0.25), 5: (1, 0.75), 6: (1, 1.0), 7: (1, 1.0),
                8: (2, 0.0), 10: (2, 0.5), 12: (2, 1.0), 10 ** 6: (2, 1.0)}
    for step, state in expected.items():
        assert grow_state(step, 3, 2, 4) == state == grow_state(step, 3, 2, 4)
    assert grow_state(5, 3, 0, 0) == (2, 1.0)  # no growing: the full side from step 0
    assert grow_state(2, 3, 2, 0) == (1, 1.0)  # no fade: the new side at once
    assert grow_sides(28, 0) == [7, 14, 28] and grow_sides(32, 8) == [8, 16, 32]
    G, D = _nets(16)
    for step in (9, 3, 9):  # the state is the step's, whatever came before
        _at(step, G, D)
        assert G.growth() == D.growth() == grow_state(step, 3, 2, 4)


@pytest.mark.parametrize("side", [8, 16])
def test_generator_fade_in_at_alpha_0_is_the_small_net_and_at_1_the_big_one(side):
    G, _ = _nets(side)
    full, _ = _nets(side, every=0, fade=0)  # no growing: the full-side net
    full.load_state_dict(G.state_dict())
    last = len(G.sides) - 1
    fade_start = 2 + (last - 1) * 6  # the first step of the last fade
    z = G.sample_z(4)
    _at(fade_start - 1, G)
    small = G(z)  # the previous side, faded in, upsampled to the data's side
    _at(fade_start, G)
    assert G.growth() == (last, 0.0)
    assert_close(G(z), small)
    _at(fade_start + 4, G)
    assert G.growth() == (last, 1.0)
    big = G(z)
    assert_close(big, full(z))
    _at(fade_start + 2, G)  # alpha 0.5: half way between the two, before tanh
    assert_close(G(z), torch.tanh(0.5 * torch.atanh(small) + 0.5 * torch.atanh(big)), atol=1e-4, rtol=1e-4)
    assert big.shape == (4, 1, side, side)
    _at(0, G)  # the start side (4x4), made at 4x4: every 2x2 block of the output is one value
    x = G(z)
    assert torch.equal(x, x[:, :, ::side // 4, ::side // 4].repeat_interleave(side // 4, 2).repeat_interleave(side // 4, 3))


@pytest.mark.parametrize("side", [8, 16])
def test_discriminator_fade_in_at_alpha_0_is_the_small_net_and_at_1_the_big_one(side):
    _, D = _nets(side)
    _, full = _nets(side, every=0, fade=0)
    full.load_state_dict(D.state_dict())
    last = len(D.sides) - 1
    fade_start = 2 + (last - 1) * 6
    x = torch.randn(4, 1, side, side)
    _at(fade_start - 1, D)
    small = D(x).logits
    _at(fade_start, D)
    assert_close(D(x).logits, small)
    _at(fade_start + 4, D)
    assert_close(D(x).logits, full(x).logits)
    _at(0, D)  # at the start side D reads the 4x4 average of its input: detail below it changes nothing
    blocks = x.view(4, 1, 4, side // 4, 4, side // 4)
    detail = torch.randn_like(blocks)
    detail = detail - detail.mean(dim=(3, 5), keepdim=True)  # zero mean inside every (side/4)^2 block
    assert_close(D((blocks + detail).view_as(x)).logits, D(x).logits)


def test_blocks_of_a_side_not_reached_get_no_gradient_and_no_adam_state():
    cfg = load_config("digits", TINY)
    trainer = Trainer(cfg, None, progress=False)
    trainer.iteration(want_stats=False)  # step 0: the 4x4 nets only
    new_g = {id(p) for p in trainer.G.to_rgb[1].parameters()} | {id(p) for p in trainer.G.blocks[1].parameters()}
    new_d = {id(p) for p in trainer.D.from_rgb[1].parameters()} | {id(p) for p in trainer.D.blocks[1].parameters()}
    assert all(id(p) not in new_g for p in trainer.opt_g.state)  # Adam has no state for them yet
    assert all(id(p) not in new_d for p in trainer.opt_d.state)
    assert len(trainer.opt_g.state) > 0
    trainer.step = 3  # mid-fade of the 8x8 side: the new blocks enter with fresh Adam state (their step count 1)
    trainer.iteration(want_stats=False)
    entered = [trainer.opt_g.state[p] for p in trainer.G.to_rgb[1].parameters()]
    old = [trainer.opt_g.state[p] for p in trainer.G.to_rgb[0].parameters()]
    assert all(float(s["step"]) == 1 for s in entered) and all(float(s["step"]) == 2 for s in old)


@pytest.mark.parametrize("name", sorted(OBJECTIVES.names()))
def test_one_step_per_objective_mid_fade(name):
    if name in ("began", "ebgan"):
        pytest.skip("autoencoder objectives need an autoencoder D (model.arch=*-ae)")
    cfg = load_config("digits", TINY + [f"objective.name={name}"])
    torch.manual_seed(0)
    trainer = Trainer(cfg, None, progress=False)
    trainer.step = 3  # level 1 (8x8), alpha 0.25: both sides' blocks run
    before = [p.detach().clone() for p in trainer.G.parameters()]
    stats = trainer.iteration(want_stats=True)
    assert trainer.G.growth() == (1, 0.25) and trainer.D.growth() == (1, 0.25)
    assert all(math.isfinite(float(v)) for v in stats.values()), stats
    moved = [not torch.equal(a, b) for a, b in zip(before, trainer.G.parameters())]
    assert all(moved), "every G parameter takes part mid-fade"


def test_drift_term_is_epsilon_times_the_mean_squared_real_score():
    real, fake = DOutput(logits=torch.tensor([1.0, -3.0])), DOutput(logits=torch.tensor([0.5, 2.5]))
    plain = build_objective(ObjectiveConfig(name="wgan-gp"))
    drift = build_objective(ObjectiveConfig(name="wgan-gp", params={"drift": 0.001}))
    assert_close(plain.d_loss(real, fake), torch.tensor(1.5 - (-1.0)))
    assert_close(drift.d_loss(real, fake), torch.tensor(2.5 + 0.001 * (1.0 + 9.0) / 2))
    with pytest.raises(GankitError, match="objective.params.drift"):
        build_objective(ObjectiveConfig(name="wgan-gp", params={"drift": -1.0}))


def test_checkpoint_round_trip_and_exact_resume_with_a_stop_mid_fade(tmp_path):
    over = TINY + ["train.checkpoint_every=2", "train.ema=0.9", "objective.name=wgan-gp",
                   "objective.params={drift: 0.001}", "model.g_cond=concat", "model.d_cond=projection",
                   "objective.terms={fade_reals: {}}", "model.grow.reset_optim=true"]
    straight = gankit.train("digits", over + ["train.steps=9"], out=tmp_path / "a", progress=False)
    gankit.train("digits", over + ["train.steps=4"], out=tmp_path / "b", progress=False)  # stops at alpha 0.5
    b = final_tensors(tmp_path / "b")
    assert int(b["G.grow_step"]) == 3 and grow_state(4, 2, 2, 4) == (1, 0.5)
    gankit.resume(tmp_path / "b", steps=9, progress=False)
    a, b = final_tensors(straight.path), final_tensors(tmp_path / "b")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    assert int(a["G.grow_step"]) == int(a["D.grow_step"]) == int(a["G_ema.grow_step"]) == 8
    model = gankit.load(straight.path)
    assert model.G.growth() == (1, 1.0)
    x = model.sample(3, seed=1, label=1)
    assert x.shape == (3, 8, 8, 1) and np.array_equal(x, gankit.load(straight.path).sample(3, seed=1, label=1))


@pytest.mark.parametrize("g_cond,d_cond", [("none", "none"), ("concat", "concat"), ("concat", "projection")])
def test_shapes_at_two_resolutions_with_conditioning(g_cond, d_cond):
    for side in (8, 28):
        G, D = _nets(side, g_cond=g_cond, d_cond=d_cond)
        y = torch.tensor([0, 1, 2, 0])
        for step in (0, 3, 100):
            _at(step, G, D)
            x = G(G.sample_z(4), y if g_cond != "none" else None)
            assert x.shape == (4, 1, side, side) and x.abs().max() <= 1
            out = D(x, y if d_cond != "none" else None)
            assert out.logits.shape == (4,) and out.features.shape[0] == 4


def test_the_clear_errors():
    for side, match in ((4, "side 8 to 128"), (256, "side 8 to 128"), (36, "4..7 times a power of two")):
        with pytest.raises(GankitError, match=match):
            _nets(side)
    with pytest.raises(GankitError, match="'model.grow.start' = 6 .* valid: 4, 8"):
        _nets(16, start=6)
    with pytest.raises(GankitError, match="model.grow.* model.arch=dcgan does not do"):
        load_config("digits", ["model.grow.every=10"])
    with pytest.raises(GankitError, match="model.grow.fade.*needs model.grow.every"):
        load_config("digits", ["model.arch=progan", "model.grow.fade=10"])
    with pytest.raises(GankitError, match="model.grow.every"):
        load_config("digits", ["model.arch=progan", "model.grow.every=-1"])
    with pytest.raises(GankitError, match="model.grow.reset_optim.*needs model.grow.every"):
        load_config("digits", ["model.arch=progan", "model.grow.reset_optim=true"])
    with pytest.raises(GankitError, match="model.grow.*model.arch=resnet does not do"):
        load_config("digits", ["model.arch=resnet", "model.grow.reset_optim=true"])
    with pytest.raises(GankitError, match="set model.g_norm=none"):
        build_nets(ModelConfig(arch="progan", g_norm="batch", d_norm="none"), DataSpec(kind="image", shape=(1, 8, 8)))


def test_start_above_the_base_keeps_the_lower_blocks_running():
    G, D = _nets(16, start=8)
    assert G.sides == [8, 16] and len(G.to_rgb) == 2 and len(G.blocks) == 3
    _at(0, G, D)
    x = G(G.sample_z(4))
    assert x.shape == (4, 1, 16, 16) and torch.equal(x[:, :, ::2, ::2].repeat_interleave(2, 2).repeat_interleave(2, 3), x)
    assert D(x).logits.shape == (4,)


@pytest.mark.parametrize("preset", ["digits-progan", "fashion-progan"])
def test_the_presets_train(preset, tmp_path):
    cfg = load_config(preset)
    assert cfg.model.arch == "progan" and cfg.objective.name == "wgan-gp"
    assert cfg.objective.params["drift"] == 0.001 and cfg.model.grow.every > 0 and cfg.model.grow.fade > 0
    assert "fade_reals" in cfg.objective.terms
    over = ["model.g_width=4", "model.d_width=4", "model.max_channels=16", "data.batch_size=8", "train.threads=1",
            "eval.final=false", "train.steps=4", "train.log_every=2", "train.sample_every=2",
            "model.grow.every=1", "model.grow.fade=2"]
    result = gankit.train(preset, over, out=tmp_path / "run", progress=False)
    assert result.step == 4 and (tmp_path / "run" / "samples").is_dir()
    assert int(final_tensors(result.path)["G.grow_step"]) == 3  # grown to the data's side by the last step


def test_reals_crossfade_like_the_generator_and_only_in_a_fade():
    from gankit.nets.progan import crossfade_reals

    _, D = _nets(16)
    x = torch.randn(2, 1, 16, 16)
    pool = torch.nn.functional.avg_pool2d
    up = lambda t, k: t.repeat_interleave(k, 2).repeat_interleave(k, 3)  # noqa: E731  (nearest, by hand)
    _at(1, D)  # the start side, stable: untouched (D pools it itself)
    assert crossfade_reals(x, D) is x
    _at(3, D)  # 8x8 fading in at alpha 0.25: 0.25 x_8 + 0.75 up2(x_4), at 16x16
    want = up(0.25 * pool(x, 2) + 0.75 * up(pool(x, 4), 2), 2)
    assert_close(crossfade_reals(x, D), want)
    _at(8, D)  # 16x16 at alpha 0: the reals are the 8x8 ones
    assert_close(crossfade_reals(x, D), up(pool(x, 2), 2))
    _at(12, D)
    assert crossfade_reals(x, D) is x


def test_fade_reals_term_feeds_d_the_blended_reals_and_needs_a_growing_d():
    cfg = load_config("digits", TINY + ["objective.name=wgan-gp", "objective.terms={fade_reals: {}}"])
    trainer = Trainer(cfg, None, progress=False)
    trainer.step = 3
    seen = []
    hook = trainer.D.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    real, _ = _peek_batch(trainer)
    trainer.iteration(want_stats=False)
    hook.remove()
    from gankit.nets.progan import crossfade_reals

    assert_close(seen[0], crossfade_reals(real, trainer.D))  # D's first input in its step: the blended reals
    assert not torch.equal(seen[0], real)
    with pytest.raises(GankitError, match="objective.terms.fade_reals.*model.arch=dcgan does not grow"):
        load_config("digits", ["objective.terms={fade_reals: {}}"])


def _peek_batch(trainer):
    """The next real batch the trainer's sampler will give, without moving it."""
    state = trainer.sampler.state_dict()
    batch = trainer.sampler.next()
    trainer.sampler.load_state_dict(state)
    return batch


def test_reset_optim_clears_adam_state_where_a_fade_starts_and_ends():
    assert [s for s in range(20) if grow_changes_at(s, 3, 2, 4)] == [2, 6, 8, 12]  # every 2, fade 4
    assert [s for s in range(20) if grow_changes_at(s, 3, 2, 0)] == [2, 4]  # no fade: the new side at once
    cfg = load_config("digits", TINY + ["model.grow.reset_optim=true"])
    trainer = Trainer(cfg, None, progress=False)
    for _ in range(3):  # steps 0, 1 and 2 (where the 8x8 fade starts)
        trainer.iteration(want_stats=False)
    for opt in (trainer.opt_g, trainer.opt_d):
        assert {float(s["step"]) for s in opt.state.values()} == {1.0}  # cleared before step 2, then one step
    kept = load_config("digits", TINY)
    trainer = Trainer(kept, None, progress=False)
    for _ in range(3):
        trainer.iteration(want_stats=False)
    assert {float(s["step"]) for s in trainer.opt_g.state.values()} == {1.0, 3.0}  # new blocks 1, old ones 3


def test_a_generator_stopped_mid_fade_exports_to_onnx_as_it_samples(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    run = gankit.train("digits", TINY + ["train.steps=4"], out=tmp_path / "run", progress=False)  # mid-fade
    model = gankit.load(run.path)
    assert model.G.growth() == (1, 0.25)  # the step buffer of the last iteration (step 3) came back
    result = gankit.export(run.path, tmp_path / "g.onnx")  # checked against G in onnxruntime (1e-4)
    assert result.path.exists()
