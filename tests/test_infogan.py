"""The discrete latent code (model.z_categories) and InfoGAN's mutual-information term (objective.info):
the term by hand, its wiring into both players' steps for every objective, the Q head's checkpoint
round trip, and the config rules."""
import json
import math

import pytest
import torch
from torch.testing import assert_close

import gankit
from gankit.config import load_config
from gankit.errors import GankitError
from gankit.nets import DataSpec, build_nets
from gankit.objectives import terms
from gankit.registry import OBJECTIVES
from gankit.report.plots import loss_figure
from gankit.training.loop import Trainer

from helpers import TINY_RING

INFO = ["model.z_categories=4", "objective.info=1.0"]


def test_info_term_by_hand():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    code = torch.tensor([0, 1])
    # -log softmax: row 0 at class 0: log(e^2 + 2) - 2; row 1 at class 1: log(2 + e) - 0
    want = ((math.log(math.e ** 2 + 2) - 2) + math.log(2 + math.e)) / 2
    assert_close(terms.info_categorical(logits, code), torch.tensor(want))


def test_q_head_predicts_the_code():
    cfg = load_config("ring", TINY_RING + INFO)
    G, D = build_nets(cfg.model, DataSpec(kind="vector", shape=[2]), cfg.code_head)
    z = G.sample_z(6)
    assert z.shape == (6, cfg.model.z_dim + 4)
    out = D(G(z))
    assert out.code.shape == (6, 4) and out.logits.shape == (6,)
    _, plain_d = build_nets(cfg.model, DataSpec(kind="vector", shape=[2]))
    assert plain_d(G(z)).code is None  # no head without the term


def test_q_hidden_puts_one_shared_hidden_layer_before_the_code_heads():
    cfg = load_config("ring", TINY_RING + INFO + ["model.z_continuous=2", "model.q_hidden=7"])
    heads = dict(cfg.heads)
    G, D = build_nets(cfg.model, DataSpec(kind="vector", shape=[2]), heads["code_head"], heads["code_continuous"])
    assert D.q_body[0].out_features == 7 and D.head.in_features == 7 and D.cont_head.in_features == 7
    out = D(G(G.sample_z(5)))
    features = D.inner(G(G.sample_z(5))).features
    assert out.code.shape == (5, 4) and out.code_mean.shape == (5, 2)
    # by hand: LeakyReLU(0.2) of the hidden layer, then the linear head
    h = torch.nn.functional.leaky_relu(features @ D.q_body[0].weight.T + D.q_body[0].bias, 0.2)
    assert_close(D.head(h), D.head(D.q_body(features)))
    with pytest.raises(GankitError, match="model.q_hidden"):
        load_config("ring", TINY_RING + INFO + ["model.q_hidden=-1"])


def test_z_std_scales_the_noise_units_only_and_truncation_counts_in_its_units():
    from gankit.explore.truncation import truncate

    over = TINY_RING + INFO + ["model.z_continuous=2", "model.z_dim=6"]
    G1, _ = build_nets(load_config("ring", over).model, DataSpec(kind="vector", shape=[2]))
    Gs, _ = build_nets(load_config("ring", over + ["model.z_std=0.1"]).model, DataSpec(kind="vector", shape=[2]))
    z1, zs = G1.sample_z(4000, torch.Generator().manual_seed(3)), Gs.sample_z(4000, torch.Generator().manual_seed(3))
    assert_close(zs[:, :6], 0.1 * z1[:, :6])  # the same draws, scaled
    assert_close(zs[:, 6:], z1[:, 6:])  # the one-hot code and the continuous codes keep their scale
    assert 0.09 < zs[:, :6].std().item() < 0.11
    t = truncate(zs, 0.5, 6, generator=torch.Generator().manual_seed(0), scale=0.1)
    assert t[:, :6].abs().max() <= 0.05 and (t[:, :6] != zs[:, :6]).any()  # bound T x z_std, redraws scaled
    kept = zs[:, :6].abs() <= 0.05
    assert_close(t[:, :6][kept], zs[:, :6][kept])
    assert_close(t[:, 6:], zs[:, 6:])
    assert t[:, :6][~kept].abs().max() <= 0.05 and t[:, :6][~kept].std() > 0.02
    with pytest.raises(GankitError, match="model.z_std"):
        load_config("ring", ["model.z_std=0"])


@pytest.mark.parametrize("name", sorted(OBJECTIVES.names()))
def test_every_objective_adds_the_term_to_both_players(name):
    arch = ["model.arch=mlp-ae"] if name in ("began", "ebgan") else []
    base = TINY_RING + arch + [f"objective.name={name}", "model.z_categories=4"]
    torch.manual_seed(0)
    with_info = Trainer(load_config("ring", base + ["objective.info=1.0"]), None, progress=False)
    stats = with_info.iteration(want_stats=True)
    for key in ("mi_d", "mi_g"):
        assert key in stats and math.isfinite(float(stats[key])) and float(stats[key]) <= math.log(4) + 1e-6
    # the head's weights moved: D's step trained it
    head = with_info.D.head.weight.detach().clone()
    with_info.iteration(want_stats=False)
    assert not torch.equal(head, with_info.D.head.weight)
    plain = Trainer(load_config("ring", base), None, progress=False)
    assert "mi_d" not in plain.iteration(want_stats=True)


def test_loss_is_the_game_plus_lambda_ce_and_g_step_uses_the_kept_fakes_code():
    cfg = load_config("ring", TINY_RING + ["model.z_categories=3", "objective.info=0.5"])
    tr = Trainer(cfg, None, progress=False)
    G, D, obj = tr.G, tr.D, tr.objective
    real, _ = tr.sampler.next()
    z_d = G.sample_z(64)
    d_res = obj.d_step(G, D, real, None, z_d, last=True)
    with torch.no_grad():
        out = D(G(z_d))
        game = terms.d_logistic(D(real).logits, out.logits)
        ce = terms.info_categorical(out.code, z_d[:, -3:].argmax(1))
    assert_close(d_res.loss.detach(), game + 0.5 * ce)
    assert_close(d_res.stats["mi_d"], math.log(3) - ce)
    # G's step reuses the D step's fakes (objective.reuse_fake): the code is the D step's, not z_g's
    z_g = G.sample_z(64)
    g_res = obj.g_step(G, D, None, None, z_g)
    assert torch.equal(obj.fake_z, z_d)
    with torch.no_grad():
        out = D(G(z_d))
        want = terms.g_nonsaturating(out.logits) + 0.5 * terms.info_categorical(out.code, z_d[:, -3:].argmax(1))
    assert_close(g_res.loss.detach(), want)


def test_q_head_survives_a_checkpoint(tmp_path):
    res = gankit.train("ring", TINY_RING + INFO + ["train.checkpoint_every=2", "train.log_every=1"],
                       out=tmp_path / "run", steps=2, progress=False)
    records = [json.loads(line) for line in (res.path / "log.jsonl").read_text().splitlines()]
    titles = [ax.get_title(loc="left") for ax in loss_figure(records).axes]
    assert "code information (nats)" in titles  # the report plots the lower bound
    loaded = gankit.load(res.path)
    assert loaded.D.head.weight.shape[0] == 4
    x = loaded.sample(10, seed=0)
    assert x.shape == (10, 2)


@pytest.mark.parametrize("overrides, match", [
    (["objective.info=1.0"], "model.z_categories"),
    (["objective.info=-1"], "objective.info"),
    (INFO + ["model.d_pack=2"], "model.d_pack"),
])
def test_config_rules_name_the_key(overrides, match):
    with pytest.raises(GankitError, match=match):
        load_config("ring", overrides)
