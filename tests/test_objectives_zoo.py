"""The objectives beyond minimax/NS: each loss term by hand, the penalties on a linear D, WGAN's
clipping, BEGAN's controller and its checkpointed state, and a one-step smoke run per preset."""
import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import gankit
from gankit.config import ObjectiveConfig, load_config, preset_dict
from gankit.errors import GankitError
from gankit.nets import DOutput
from gankit.nets.mlp import MLPDiscriminator
from gankit.objectives import build_objective, terms
from gankit.objectives.common import input_gradient
from gankit.training import checkpoint as ckpt
from gankit.training.loop import Trainer

from helpers import ROOT, TINY_DIGITS, TINY_RING, HalfSquareD, LinearD, final_tensors

ZOO = ["wgan", "wgan-gp", "lsgan", "dragan", "began", "hinge", "r1", "r2", "ragan", "ebgan"]
PRESETS = {"ring-wgan": "wgan", "ring-wgan-gp": "wgan-gp", "digits-lsgan": "lsgan",
           "ring-dragan": "dragan", "digits-began": "began", "ring-hinge": "hinge",
           "digits-r1": "r1", "ring-r2": "r2", "ring-ragan": "ragan", "digits-ebgan": "ebgan"}
TINY_BEGAN = TINY_DIGITS + ["objective.params.k_init=0.5"]


def _sig(v):
    return 1 / (1 + math.exp(-v))


def _obj(name, **params):
    return build_objective(ObjectiveConfig(name=name, params=params))




class ZeroAE(nn.Module):
    """An "autoencoder" that reconstructs everything as 0, with the input as its code."""

    def forward(self, x, y=None):
        return DOutput(logits=torch.zeros(len(x)), features=x, recon=torch.zeros_like(x))


class FixedG(nn.Module):
    def __init__(self, fake):
        super().__init__()
        self.fake = fake
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, z, y=None):
        return self.fake + 0 * self.dummy


# --------------------------------------------------------------------------- loss terms by hand


def test_wasserstein_and_hinge_by_hand():
    real, fake = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.5, -1.0])
    assert_close(terms.d_wasserstein(real, fake), torch.tensor(-0.25 - 2.0))
    assert_close(terms.g_wasserstein(fake), torch.tensor(0.25))
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 0.5])
    # max(0, 1 - r) = [0, 0.5, 2]; max(0, 1 + f) = [0, 1, 1.5]
    assert_close(terms.d_hinge(real, fake), torch.tensor(2.5 / 3 + 2.5 / 3))


def test_least_squares_by_hand():
    real, fake = torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.0])
    assert_close(terms.d_least_squares(real, fake), torch.tensor(0.5 * 0.5 + 0.5 * 0.125))
    assert_close(terms.g_least_squares(fake), torch.tensor(0.5 * (0.25 + 1.0) / 2))
    # the paper's -1/1/0 coding
    assert_close(terms.d_least_squares(real, fake, a=-1.0, b=1.0),
                 torch.tensor(0.5 * (0 + 1) / 2 + 0.5 * (2.25 + 1) / 2))
    assert_close(terms.g_least_squares(fake, c=0.0), torch.tensor(0.5 * 0.25 / 2))
    lsgan = _obj("lsgan")
    assert_close(lsgan.d_loss(DOutput(real), DOutput(fake)), terms.d_least_squares(real, fake))


def test_relativistic_average_by_hand():
    real, fake = [2.0, 0.0], [1.0, -3.0]
    mr, mf = 1.0, -1.0
    d = (-(math.log(_sig(2.0 - mf)) + math.log(_sig(0.0 - mf))) / 2
         - (math.log(1 - _sig(1.0 - mr)) + math.log(1 - _sig(-3.0 - mr))) / 2)
    g = (-(math.log(_sig(1.0 - mr)) + math.log(_sig(-3.0 - mr))) / 2
         - (math.log(1 - _sig(2.0 - mf)) + math.log(1 - _sig(0.0 - mf))) / 2)
    real_t, fake_t = torch.tensor(real), torch.tensor(fake)
    assert_close(terms.d_relativistic_average(real_t, fake_t), torch.tensor(d))
    assert_close(terms.g_relativistic_average(real_t, fake_t), torch.tensor(g))


def test_interpolation_and_perturbation_by_hand():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    fake = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    eps = torch.tensor([0.25, 1.0])
    assert_close(terms.interpolate(real, fake, eps), torch.tensor([[0.25, 0.5], [3.0, 4.0]]))
    images = torch.arange(8.0).view(2, 1, 2, 2)  # one eps per sample, broadcast over C, H, W
    assert_close(terms.interpolate(images, torch.zeros_like(images), torch.tensor([0.5, 0.0])),
                 torch.cat([images[:1] * 0.5, torch.zeros(1, 1, 2, 2)]))
    u = torch.tensor([[0.5, 1.0], [0.0, 0.2]])
    std = math.sqrt(sum((v - 2.5) ** 2 for v in (1, 2, 3, 4)) / 4)  # population std = sqrt(1.25)
    want = real + 0.5 * std * u
    assert_close(terms.dragan_perturb(real, u, 0.5), want)


def test_gradient_penalties_by_hand():
    grad = torch.tensor([[3.0, 4.0], [0.0, 0.5]])  # norms 5 and 0.5
    assert_close(terms.gradient_penalty(grad), torch.tensor((4.0 ** 2 + 0.5 ** 2) / 2))
    assert_close(terms.gradient_penalty(grad, target=0.0), torch.tensor((25 + 0.25) / 2))
    assert_close(terms.r1_penalty(grad, gamma=10.0), torch.tensor(5.0 * (25 + 0.25) / 2))


def test_energies_by_hand():
    x = torch.tensor([[1.0, -1.0], [0.0, 2.0]])
    recon = torch.tensor([[0.5, -1.0], [1.0, 0.0]])
    assert_close(terms.l1_reconstruction(x, recon), torch.tensor([0.25, 1.5]))
    assert_close(terms.mse_reconstruction(x, recon), torch.tensor([0.125, 2.5]))
    assert_close(terms.d_began(torch.tensor([0.2, 0.4]), torch.tensor([0.1, 0.3]), 0.5),
                 torch.tensor(0.3 - 0.5 * 0.2))
    # EBGAN: E(x) + max(0, m - E(G(z))) = 0.2 + mean(0.5, 0)
    assert_close(terms.d_energy_margin(torch.tensor([0.1, 0.3]), torch.tensor([0.5, 2.0]), 1.0),
                 torch.tensor(0.45))


def test_began_controller_by_hand():
    assert terms.began_k_update(0.1, 0.4, 0.05, 0.5, 0.001) == pytest.approx(0.1 + 0.001 * (0.2 - 0.05))
    assert terms.began_k_update(0.0, 0.1, 0.5, 0.5, 0.001) == 0.0  # clipped at 0
    assert terms.began_k_update(0.9999, 1.0, 0.0, 1.0, 0.001) == 1.0  # clipped at 1
    assert terms.began_convergence(0.4, 0.05, 0.5) == pytest.approx(0.4 + 0.15)
    assert terms.began_convergence(0.4, 0.3, 0.5) == pytest.approx(0.4 + 0.1)


def test_pullaway_by_hand():
    s = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    # squared cosines: (1,2) 0, (1,3) 1/2, (2,3) 1/2; each pair twice, over N(N-1) = 6
    assert_close(terms.pullaway(s), torch.tensor(2 * (0 + 0.5 + 0.5) / 6))
    assert_close(terms.pullaway(torch.ones(4, 3)), torch.tensor(1.0))


def test_extremes_stay_finite():
    big = torch.tensor([100.0, -100.0])
    assert torch.isfinite(terms.d_relativistic_average(big, -big))
    assert torch.isfinite(terms.g_relativistic_average(big, -big))
    zero = torch.zeros(3, 2, requires_grad=True)  # a zero gradient norm has a finite derivative
    terms.gradient_penalty(zero).backward()
    assert torch.isfinite(zero.grad).all()


# --------------------------------------------------------------------------- penalties on known D


def test_gradient_penalty_on_a_linear_d():
    D = LinearD([3.0, 4.0])  # ||w|| = 5 everywhere: the penalty is (5 - 1)^2 = 16 exactly
    x = torch.randn(6, 2)
    grad = input_gradient(D, x)
    assert_close(grad, D.w.detach().expand(6, 2))
    obj = _obj("wgan-gp")
    penalty = obj.d_penalty(D, x, torch.randn(6, 2), None)
    assert_close(penalty, torch.tensor(10.0 * 16.0))
    # create_graph: the penalty trains D. d/dw 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w||
    penalty.backward()
    assert_close(D.w.grad, torch.tensor([48.0, 64.0]))
    dragan = _obj("dragan")
    D.w.grad = None
    assert_close(dragan.d_penalty(D, x, torch.randn(6, 2), None), torch.tensor(160.0))


def test_wgan_gp_step_logs_the_penalty_and_adds_it():
    D = LinearD([3.0, 4.0])
    G = FixedG(torch.zeros(4, 2))
    real = torch.ones(4, 2)
    obj = _obj("wgan-gp", gp_weight=2.0)
    result = obj.d_step(G, D, real, None, torch.zeros(4, 1), last=True)
    assert_close(result.stats["gp"], torch.tensor(16.0))
    # critic: E[D(fake)] - E[D(real)] = 0 - 7, plus 2 * 16
    assert_close(result.loss, torch.tensor(-7.0 + 32.0))


def test_gradient_penalties_refuse_batchnorm():
    D = MLPDiscriminator((2,), 8, 1, norm="batch")
    x = torch.randn(4, 2)
    for name in ("wgan-gp", "dragan", "r1"):
        obj = _obj(name, **({"every": 1} if name == "r1" else {}))
        with pytest.raises(GankitError, match="model.d_norm=none"):
            obj.d_penalty(D, x, x, None)


def test_r1_and_r2_penalize_real_and_fake_points():
    real, fake = torch.full((3, 2), 2.0), torch.full((3, 2), 1.0)
    D, G = HalfSquareD(), FixedG(fake)  # grad D(x) = x: ||x||^2 = 8 (real), 2 (fake)
    r1 = _obj("r1", gamma=4.0, every=1)
    assert_close(r1.d_penalty(D, real, fake, None), torch.tensor(2.0 * 8.0))
    r2 = _obj("r2", gamma=4.0, every=1)
    assert_close(r2.d_penalty(D, real, fake, None), torch.tensor(2.0 * 2.0))
    # lazy: the Dreg step carries only the penalty, multiplied by the interval k
    lazy1, lazy2 = _obj("r1", gamma=4.0, every=8), _obj("r2", gamma=4.0, every=8)
    assert lazy1.d_penalty(D, real, fake, None) is None
    z = torch.zeros(3, 1)
    res1 = lazy1.dreg_step(G, D, real, None, z, last=True)
    res2 = lazy2.dreg_step(G, D, real, None, z, last=True)
    assert_close(res1.loss, torch.tensor(8 * 2.0 * 8.0))
    assert_close(res2.loss, torch.tensor(8 * 2.0 * 2.0))
    assert_close(res1.stats["r1"], torch.tensor(8.0))
    assert_close(res2.stats["r2"], torch.tensor(2.0))
    res1.loss.backward()  # d/ds of 8 * 2 * E||s x||^2 at s = 1 = 8 * 2 * 2 * 8
    assert_close(D.s.grad, torch.tensor(256.0))


def test_r1_schedule_is_lazy():
    assert [(p.name, p.every) for p in _obj("r1").schedule()] == [("D", 1), ("Dreg", 16), ("G", 1)]
    assert [p.name for p in _obj("r1", every=1).schedule()] == ["D", "G"]
    cfg = load_config("ring-r2", TINY_RING + ["objective.params.every=3"])
    trainer = Trainer(cfg, None, progress=False)
    calls = []
    original = trainer.objective.dreg_step
    trainer._methods["Dreg"] = lambda *a, **k: calls.append(trainer.step) or original(*a, **k)
    for _ in range(7):
        stats = trainer.iteration(want_stats=True)
    assert calls == [2, 5]  # iterations 3 and 6 (counted from 1)
    assert "r2" in stats  # the latest value is carried in the D step's stats


# --------------------------------------------------------------------------- WGAN clipping


def test_wgan_clips_every_weight_after_a_critic_step():
    D = MLPDiscriminator((2,), 32, 2)  # PyTorch's init: most weights are far outside +-0.01
    assert max(p.abs().max().item() for p in D.parameters()) > 0.05
    _obj("wgan").after_d_step(D)
    for p in D.parameters():
        assert p.abs().max().item() <= 0.01
    assert any((p.abs() == 0.01).any() for p in D.parameters())
    _obj("wgan", clip=0.5).after_d_step(D)  # already inside: unchanged
    assert max(p.abs().max().item() for p in D.parameters()) == pytest.approx(0.01)


def test_wgan_training_keeps_the_critic_clipped():
    cfg = load_config("ring-wgan", TINY_RING + ["train.d_optim.lr=0.1"])
    trainer = Trainer(cfg, None, progress=False)
    trainer.iteration(want_stats=False)
    assert all(p.abs().max().item() <= 0.01 for p in trainer.D.parameters())


# --------------------------------------------------------------------------- BEGAN


def test_began_k_update_and_m_global_in_training():
    cfg = load_config("digits-began", TINY_BEGAN)
    trainer = Trainer(cfg, None, progress=False)
    obj = trainer.objective
    gamma, lam = obj.params.gamma, obj.params.lambda_k
    assert (gamma, lam) == (0.5, 0.01)  # the preset's
    for _ in range(2):
        k_before = obj.k
        stats = trainer.iteration(want_stats=True)
        l_real, l_fake = float(stats["d_real"]), float(stats["loss_g"])
        assert stats["k_t"] == k_before
        assert obj.k == pytest.approx(min(max(k_before + lam * (gamma * l_real - l_fake), 0), 1), abs=1e-12)
        assert obj.k != k_before
        assert stats["m_global"] == pytest.approx(l_real + abs(gamma * l_real - l_fake), rel=1e-6)


def test_began_d_loss_uses_k():
    x = torch.tensor([[1.0, -1.0]])
    obj = _obj("began", k_init=0.25)
    G = FixedG(torch.full((1, 2), 2.0))
    result = obj.d_step(G, ZeroAE(), x, None, torch.zeros(1, 1), last=False)
    assert_close(result.loss, torch.tensor(1.0 - 0.25 * 2.0))  # L(x) = 1, L(G(z)) = 2


def test_began_state_round_trip_through_the_trainer():
    cfg = load_config("digits-began", TINY_BEGAN)
    a = Trainer(cfg, None, progress=False)
    for _ in range(3):
        a.iteration(want_stats=False)
    state = a.state_dict()
    assert state["objective"] == {"k_t": a.objective.k}
    b = Trainer(cfg, None, progress=False)
    assert b.objective.k == 0.5
    b.load_state_dict(state, "memory")
    assert b.objective.k == a.objective.k


def test_began_resume_is_exact(tmp_path):
    args = TINY_BEGAN + ["train.checkpoint_every=6", "train.keep_checkpoints=10"]
    full, part = tmp_path / "full", tmp_path / "part"
    gankit.train("digits-began", args, out=full, steps=12, progress=False)
    gankit.train("digits-began", args, out=part, steps=6, progress=False)
    manifest, state = ckpt.load_checkpoint(part)
    assert manifest["step"] == 6 and state["objective"]["k_t"] not in (0.0, 0.5)
    gankit.resume(part, steps=12, progress=False)
    want, got = final_tensors(full), final_tensors(part)
    assert got.keys() == want.keys()
    for k in want:
        assert torch.equal(got[k], want[k]), k
    assert ckpt.load_checkpoint(part)[1]["objective"] == ckpt.load_checkpoint(full)[1]["objective"]


@pytest.mark.parametrize("name", ["began", "ebgan"])
def test_energy_objectives_need_an_autoencoder(name):
    D = MLPDiscriminator((2,), 8, 1, norm="none")
    G = FixedG(torch.zeros(4, 2))
    with pytest.raises(GankitError, match=f"objective '{name}' needs an autoencoder discriminator: "
                                          f"set model.arch=dcgan-ae \\(images\\) or mlp-ae"):
        _obj(name).d_step(G, D, torch.ones(4, 2), None, torch.zeros(4, 1), last=True)


def test_ebgan_steps_by_hand():
    ae = ZeroAE()  # energy = mean x^2; code = x itself
    real = torch.tensor([[0.5, 0.5], [1.0, 1.0]])  # energies 0.25, 1
    fake = torch.tensor([[1.0, 0.0], [1.0, 1.0]])  # energies 0.5, 1; codes at 45 degrees: cos^2 = 1/2
    obj = _obj("ebgan", margin=0.6, pt_weight=0.1)
    d = obj.d_step(FixedG(fake), ae, real, None, torch.zeros(2, 1), last=True)
    assert_close(d.loss, torch.tensor((0.25 + 1) / 2 + (0.1 + 0) / 2))
    g = obj.g_step(FixedG(fake), ae, None, None, torch.zeros(2, 1))
    assert_close(g.stats["pt"], torch.tensor(0.5))
    assert_close(g.loss, torch.tensor((0.5 + 1) / 2 + 0.1 * 0.5))


# --------------------------------------------------------------------------- registry, params, presets


def test_every_objective_is_registered_with_the_papers_defaults():
    for name in ZOO:
        build_objective(ObjectiveConfig(name=name))
    assert _obj("wgan").params.clip == 0.01
    assert _obj("wgan-gp").params.gp_weight == 10.0
    assert (_obj("dragan").params.gp_weight, _obj("dragan").params.perturb) == (10.0, 0.5)
    began = _obj("began").params
    assert (began.gamma, began.lambda_k, began.k_init) == (0.5, 0.001, 0.0)
    assert _obj("ebgan").params.pt_weight == 0.1
    assert (_obj("r1").params.every, _obj("r2").params.every) == (16, 16)
    critics = {n for n in ZOO if not _obj(n).probabilistic}
    assert critics == {"wgan", "wgan-gp", "lsgan", "began", "hinge", "ragan", "ebgan"}
    assert [n for n in ZOO if _obj(n).g_uses_real] == ["ragan"]


@pytest.mark.parametrize("name, params, key", [
    ("wgan", {"clip": 0.0}, "clip"), ("wgan-gp", {"gp_weight": -1}, "gp_weight"),
    ("dragan", {"g_loss": "hinge"}, "g_loss"), ("began", {"gamma": 2.0}, "gamma"),
    ("r1", {"every": 0}, "every"), ("ebgan", {"margin": 0}, "margin"),
    ("hinge", {"clip": 0.01}, "clip")])
def test_bad_params_name_the_key(name, params, key):
    with pytest.raises(GankitError, match=f"objective.params.{key}"):
        _obj(name, **params)


def test_presets_carry_the_papers_optimizers():
    wgan = load_config("ring-wgan")
    assert wgan.objective.d_steps == 5 and wgan.objective.params == {"clip": 0.01}
    assert (wgan.train.d_optim.name, wgan.train.d_optim.lr) == ("rmsprop", 5e-5)
    gp = load_config("ring-wgan-gp")
    assert gp.objective.d_steps == 5
    d_optim = gp.train.d_optim
    assert (d_optim.name, d_optim.lr, d_optim.betas) == ("adam", 1e-4, [0.0, 0.9])
    for preset, name in PRESETS.items():
        cfg = load_config(preset)
        assert cfg.objective.name == name and preset_dict(preset)["description"]
        if name in ("wgan-gp", "dragan", "r1", "r2", "began", "ebgan"):
            assert cfg.model.d_norm == "none", preset


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_one_step_smoke_per_preset(preset):
    tiny = TINY_DIGITS if preset.startswith("digits") else TINY_RING
    cfg = load_config(preset, tiny + ["train.steps=1"])
    trainer = Trainer(cfg, None, progress=False)
    g_before = [p.detach().clone() for p in trainer.G.parameters()]
    d_before = [p.detach().clone() for p in trainer.D.parameters()]
    stats = trainer.iteration(want_stats=True)
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"):
        assert math.isfinite(float(stats[key])), key
    assert any(not torch.equal(a, b) for a, b in zip(g_before, trainer.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, trainer.D.parameters()))


@pytest.mark.parametrize("arch, preset, tiny", [("mlp-ae", "ring", TINY_RING),
                                                ("dcgan-ae", "digits", TINY_DIGITS)])
def test_autoencoder_discriminators(arch, preset, tiny):
    cfg = load_config(preset, tiny + [f"model.arch={arch}", "model.d_norm=none"])
    trainer = Trainer(cfg, None, progress=False)
    x, _ = trainer.sampler.next()
    out = trainer.D(x)
    assert out.recon.shape == x.shape and out.logits.shape == (x.shape[0],)
    assert out.features.shape == (x.shape[0], cfg.model.z_dim)
    assert_close(out.logits, -(out.recon - x).pow(2).flatten(1).mean(1))


def test_dcgan_ae_needs_images():
    with pytest.raises(GankitError, match="model.arch=dcgan-ae needs square images.*mlp-ae"):
        Trainer(load_config("ring", TINY_RING + ["model.arch=dcgan-ae"]), None, progress=False)


def test_ragan_generator_step_sees_a_real_batch():
    trainer = Trainer(load_config("ring-ragan", TINY_RING), None, progress=False)
    calls = []
    original = trainer.sampler.next
    trainer.sampler.next = lambda: calls.append(1) or original()
    trainer.iteration(want_stats=False)
    assert len(calls) == 2


def test_generator_loss_figure(tmp_path):
    import importlib.util

    path = ROOT / "docs" / "figures" / "generator_losses.py"
    spec = importlib.util.spec_from_file_location("generator_losses", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    curves = module.curves()
    # the minimax gradient vanishes as D(G(z)) -> 0; the non-saturating one tends to -1
    p = curves["p"]
    low = p < 0.01
    assert curves["grad"]["minimax"][low].abs().max() < 0.01
    assert (curves["grad"]["ns"][low] < -0.99).all()
    out = module.main(tmp_path / "g.png")
    assert out.stat().st_size > 10_000
