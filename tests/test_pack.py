"""PacGAN packing (``model.d_pack``): the reshape by hand, the config rules, the nets it builds, one
training step per objective, gradient penalties per pack by hand, and a save/load round trip."""
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.testing import assert_close

import gankit
from gankit.config import ObjectiveConfig, from_dict, load_config
from gankit.errors import GankitError
from gankit.nets import DataSpec, DOutput, build_nets
from gankit.nets.tricks import PackedDiscriminator, pack_batch, packed_shape
from gankit.objectives import build_objective, terms
from gankit.objectives.common import energy, input_gradient
from gankit.training.loop import Trainer

from helpers import TINY_DIGITS, TINY_RING, HalfSquareD, LinearD, final_tensors


def _obj(name, **params):
    return build_objective(ObjectiveConfig(name=name, params=params))


class Recorder(nn.Module):
    """An inner D that records its input and scores it by the sum of its elements."""

    def forward(self, x, y=None):
        self.x, self.y = x, y
        return DOutput(logits=x.flatten(1).sum(1), features=x.flatten(1))


class ZeroAE(nn.Module):
    """An "autoencoder" reconstructing everything as 0, its input as the code."""

    def forward(self, x, y=None):
        return DOutput(logits=torch.zeros(len(x)), features=x.flatten(1), recon=torch.zeros_like(x))


# --------------------------------------------------------------------------- the reshape by hand


def test_pack_of_two_vectors_concatenates_features():
    x = torch.tensor([[0.0, 1.0, 2.0], [10.0, 11.0, 12.0], [20.0, 21.0, 22.0], [30.0, 31.0, 32.0]])
    expected = torch.tensor([[0.0, 1.0, 2.0, 10.0, 11.0, 12.0], [20.0, 21.0, 22.0, 30.0, 31.0, 32.0]])
    assert torch.equal(pack_batch(x, 2), expected)  # [[x0, x1], [x2, x3]]
    inner = Recorder()
    out = PackedDiscriminator(inner, 2)(x, torch.tensor([5, 6, 7, 8]))
    assert torch.equal(inner.x, expected)
    assert torch.equal(inner.y, torch.tensor([5, 7]))  # the first label of each pack
    assert_close(out.logits, torch.tensor([36.0, 156.0]))  # one logit per pack
    assert packed_shape((3,), 2) == (6,) and packed_shape((1, 8, 8), 4) == (4, 8, 8)


def test_pack_of_images_concatenates_channels():
    x = torch.arange(4 * 2 * 3 * 3, dtype=torch.float32).view(4, 2, 3, 3)  # [B, C, H, W]
    packed = pack_batch(x, 2)
    assert packed.shape == (2, 4, 3, 3)
    assert torch.equal(packed[0], torch.cat([x[0], x[1]]))  # channels of x0 then x1
    assert torch.equal(packed[1], torch.cat([x[2], x[3]]))
    assert torch.equal(pack_batch(x, 1), x)


def test_batch_not_a_multiple_of_the_pack_is_a_clear_error():
    with pytest.raises(GankitError, match=r"model.d_pack=2 needs batches whose size is a multiple of 2, got 3"):
        PackedDiscriminator(Recorder(), 2)(torch.zeros(3, 2))
    with pytest.raises(GankitError, match=r"'data.batch_size' = 30 must be a multiple of model.d_pack=4"):
        load_config("ring", ["data.batch_size=30", "model.d_pack=4"])
    with pytest.raises(GankitError, match=r"'model.d_pack' = 0 must be >= 1"):
        load_config("ring", ["model.d_pack=0"])


def test_configs_without_the_key_still_load():
    cfg = from_dict({"model": {"arch": "mlp", "d_width": 8}}).validate()
    assert cfg.model.d_pack == 1
    _, d = build_nets(cfg.model, DataSpec(kind="vector", shape=[2]))
    assert not isinstance(d, PackedDiscriminator) and not any(k.startswith("inner.") for k in d.state_dict())


def test_build_nets_packs_mlp_and_dcgan():
    cfg = load_config("ring", TINY_RING + ["model.d_pack=4"]).model
    _, d = build_nets(cfg, DataSpec(kind="vector", shape=[2]))
    assert isinstance(d, PackedDiscriminator) and d.pack == 4
    assert d.inner.body[0].in_features == 8 and all(k.startswith("inner.") for k in d.state_dict())
    assert d(torch.randn(12, 2)).logits.shape == (3,)
    cfg = load_config("digits", TINY_DIGITS + ["model.d_pack=2"]).model
    g, d = build_nets(cfg, DataSpec(kind="image", shape=[1, 8, 8]))
    assert d.inner.body[0].in_channels == 2
    out = d(g(g.sample_z(6)))
    assert out.logits.shape == (3,) and out.features.shape[0] == 3


# --------------------------------------------------------------------------- one step per objective


def _step(cfg):
    trainer = Trainer(cfg, None, progress=False)
    d_before = [p.detach().clone() for p in trainer.D.parameters()]
    stats = trainer.iteration(want_stats=True)
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"):
        assert math.isfinite(float(stats[key])), key
    assert any(not torch.equal(a, b) for a, b in zip(d_before, trainer.D.parameters()))
    return trainer, stats


@pytest.mark.parametrize("name", ["ns", "wgan-gp", "dragan", "r1", "r2", "hinge", "ragan"])
def test_one_ring_step_per_objective(name):
    extra = ["model.d_norm=none", "objective.params.every=1"] if name in ("r1", "r2") else []
    extra += ["model.d_norm=none"] if name in ("wgan-gp", "dragan") else []
    trainer, stats = _step(load_config("ring", TINY_RING + [f"objective.name={name}", "model.d_pack=2"] + extra))
    assert isinstance(trainer.D, PackedDiscriminator)
    for key in ("gp", "r1", "r2"):
        if key in stats:
            assert math.isfinite(float(stats[key])) and float(stats[key]) > 0


def test_one_dcgan_digits_step():
    trainer, _ = _step(load_config("digits", TINY_DIGITS + ["model.d_pack=2"]))
    assert trainer.D.inner.body[0].in_channels == 2


@pytest.mark.parametrize("preset", ["digits-began", "digits-ebgan"])
def test_autoencoder_discriminators_reconstruct_packs(preset):
    trainer, _ = _step(load_config(preset, TINY_DIGITS + ["model.d_pack=2"]))
    x, _ = trainer.sampler.next()
    out = trainer.D(x)
    assert out.recon.shape == (16, 2, 8, 8) and out.logits.shape == (16,)


def test_energies_are_per_pack():
    x = torch.tensor([[1.0, 1.0], [3.0, 3.0], [0.0, 2.0], [0.0, 0.0]])
    D = PackedDiscriminator(ZeroAE(), 2)
    e, _ = energy(D, x, None, terms.mse_reconstruction, "ebgan")
    assert_close(e, torch.tensor([(1 + 1 + 9 + 9) / 4, 4 / 4]))  # mean over each pack's 4 elements
    # EBGAN's margin is on the pack's energy: max(0, 4 - 5) + max(0, 4 - 1), not per sample
    assert_close(terms.d_energy_margin(e, e, 4.0), torch.tensor((5 + 1) / 2 + (0 + 3) / 2))


# --------------------------------------------------------------------------- penalties per pack


def test_gradient_penalties_are_per_pack_on_a_linear_critic():
    # w over a pack of two 2-d samples: ||w|| = 3 per pack, while the per-sample parts have norms
    # sqrt(5) and 2: a per-sample penalty would be ((sqrt5 - 1)^2 + (2 - 1)^2) / 2, not (3 - 1)^2.
    D = PackedDiscriminator(LinearD([1.0, 2.0, 2.0, 0.0]), 2)
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    grad = input_gradient(D, real)
    assert_close(grad, D.inner.w.detach().expand(3, 4))  # [B / p, p * D]: one row per pack
    assert_close(_obj("wgan-gp").d_penalty(D, real, fake, None), torch.tensor(10.0 * 4.0))
    assert_close(_obj("dragan").d_penalty(D, real, fake, None), torch.tensor(10.0 * 4.0))
    r1 = _obj("r1", gamma=2.0, every=1)
    assert_close(r1.d_penalty(D, real, fake, None), torch.tensor(9.0))  # gamma/2 ||w||^2


def test_wgan_gp_interpolates_with_one_eps_per_pack():
    D = PackedDiscriminator(HalfSquareD(), 2)  # gradient at a packed point v is v
    real = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [0.0, 1.0]])
    fake = torch.tensor([[0.0, 1.0], [1.0, 1.0], [-1.0, 0.0], [2.0, 0.0]])
    torch.manual_seed(3)
    eps = torch.rand(2)  # what the penalty draws: one per pack
    torch.manual_seed(3)
    penalty = _obj("wgan-gp", gp_weight=1.0).d_penalty(D, real, fake, None)
    hand = 0.0
    for k in range(2):
        r, f = real[2 * k: 2 * k + 2].flatten(), fake[2 * k: 2 * k + 2].flatten()
        point = eps[k] * r + (1 - eps[k]) * f
        hand += (float(point.norm()) - 1.0) ** 2 / 2
    assert_close(penalty, torch.tensor(hand))
    # terms.interpolate: N weights for B samples, each for B / N consecutive samples
    assert_close(terms.interpolate(real, fake, torch.tensor([1.0, 0.0])), torch.cat([real[:2], fake[2:]]))


# --------------------------------------------------------------------------- checkpoints


def test_save_load_round_trip(tmp_path):
    out = tmp_path / "run"
    gankit.train("ring", TINY_RING + ["model.d_pack=2", "train.sample_every=1"], out=out, steps=2,
                 progress=False)
    tensors = final_tensors(out)
    assert any(k.startswith("D.inner.") for k in tensors), sorted(tensors)[:5]
    loaded = gankit.load(out)
    assert isinstance(loaded.D, PackedDiscriminator) and loaded.config.model.d_pack == 2
    for k, v in loaded.D.state_dict().items():
        assert torch.equal(v, tensors[f"D.{k}"])
    x = loaded.sample(5, seed=1)
    assert x.shape == (5, 2) and np.isfinite(x).all()
    assert np.array_equal(x, gankit.load(out).sample(5, seed=1))
    assert len(list((out / "samples").glob("step_*.png"))) == 3  # D's contour on packs of copies
