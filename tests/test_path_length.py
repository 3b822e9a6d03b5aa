"""StyleGAN2's path-length regularization: the lengths by hand, the lazy term, its state, the refusal."""
import math

import pytest
import torch
from torch.testing import assert_close

import gankit
from gankit.config import ModelConfig, load_config
from gankit.errors import GankitError
from gankit.nets import DataSpec, build_nets
from gankit.objectives.auxiliary import TermInputs, build_terms
from gankit.objectives.path_length import path_lengths

from helpers import final_tensors

STYLE = ["model.arch=stylegan", "model.g_norm=none", "model.d_norm=none", "model.init=default",
         "model.mapping_layers=2", "model.g_width=4", "model.d_width=8", "model.z_dim=12", "data.batch_size=8",
         "train.threads=1", "train.log_every=1", "train.sample_every=100", "eval.final=false"]


def _g():
    cfg = ModelConfig(arch="stylegan", g_width=4, d_width=8, z_dim=12, g_norm="none", d_norm="none",
                      init="default", mapping_layers=2)
    cfg.validate()
    torch.manual_seed(0)
    G, _ = build_nets(cfg, DataSpec(kind="image", shape=(1, 8, 8), name="test"))
    return G.eval()


def test_lengths_by_hand_one_sample_at_a_time():
    G = _g()
    z = G.sample_z(3, torch.Generator().manual_seed(1))
    noise = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    a, used = path_lengths(G, z, None, noise)
    assert_close(used, noise / 8.0)  # y / sqrt(H W)
    for i in range(3):  # one sample alone: ws_i as a leaf, the gradient of <G(ws_i), y_i> by autograd
        ws = G.mapping_w(z[i:i + 1]).detach().unsqueeze(1).repeat(1, G.num_ws, 1).requires_grad_(True)
        (grad,) = torch.autograd.grad((G.synthesis(ws) * noise[i:i + 1] / 8.0).sum(), ws)
        by_hand = math.sqrt(sum(float(grad[0, k].square().sum()) for k in range(G.num_ws)) / G.num_ws)
        assert a[i].item() == pytest.approx(by_hand, rel=1e-5)
    # differentiable with respect to G's parameters (the term trains G)
    a.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.mapping.parameters())


def test_the_term_is_lazy_keeps_its_running_mean_and_weights_by_every():
    G = _g().train()
    (term,) = build_terms({"path_length": {"weight": 2.0, "every": 2, "batch_shrink": 2, "decay": 0.5}}, None)
    z = G.sample_z(4, torch.Generator().manual_seed(3))
    inputs = dict(player="g", fake_out=None, fake_z=z, net=G)
    assert term.g_loss(TermInputs(step=1, **inputs)) is None  # not a multiple of every
    assert term.d_loss(TermInputs(step=0, **{**inputs, "player": "d"})) is None
    torch.manual_seed(5)
    loss, stats = term.g_loss(TermInputs(step=2, **inputs))
    torch.manual_seed(5)
    a, _ = path_lengths(G, z[:2], None)  # batch_shrink 2: the first half of the batch
    mu = 0.0 + 0.5 * (a.mean().item() - 0.0)
    assert term.mean.item() == pytest.approx(mu, rel=1e-5)
    assert loss.item() == pytest.approx(2.0 * 2 * ((a - mu) ** 2).mean().item(), rel=1e-4)
    assert stats["pl_length"].item() == pytest.approx(a.mean().item(), rel=1e-5)
    (again,) = build_terms({"path_length": {}}, None)
    again.load_state_dict(term.state_dict())
    assert torch.equal(again.mean, term.mean)


def test_refused_without_a_mapping_network_and_for_bad_values():
    with pytest.raises(GankitError, match="objective.terms.path_length"):
        load_config("digits", ["objective.terms={path_length: {}}"])
    with pytest.raises(GankitError, match="objective.terms.path_length.every"):
        build_terms({"path_length": {"every": 0}}, None)


def test_a_stylegan_run_with_it_resumes_exactly(tmp_path):
    over = STYLE + ["objective.name=r1", "objective.terms={path_length: {every: 1}}", "train.checkpoint_every=2"]
    straight = gankit.train("digits", over + ["train.steps=4"], out=tmp_path / "a", progress=False)
    gankit.train("digits", over + ["train.steps=2"], out=tmp_path / "b", progress=False)
    gankit.resume(tmp_path / "b", steps=4, progress=False)
    a, b = final_tensors(straight.path), final_tensors(tmp_path / "b")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log = (straight.path / "log.jsonl").read_text()
    assert '"pl_length"' in log and '"pl_penalty"' in log
