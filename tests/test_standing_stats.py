"""BigGAN's standing statistics: BatchNorm running statistics re-estimated from G's own samples."""
import pytest
import torch
from torch.testing import assert_close

import gankit
from gankit.cli import main as cli_main
from gankit.config import load_config
from gankit.errors import GankitError
from gankit.nets import DataSpec, build_nets
from gankit.nets.standing_stats import batch_norms, standing_stats

from helpers import TINY_RING


def _mlp_g():
    cfg = load_config("ring", TINY_RING + ["model.g_norm=batch"])
    G, _ = build_nets(cfg.model, DataSpec(kind="vector", shape=[2]))
    return G


def test_running_stats_are_the_plain_mean_of_the_batch_statistics_by_hand():
    G = _mlp_g()
    norms = batch_norms(G)
    assert norms, "the ring MLP's G has BatchNorm layers"
    first = norms[0]
    seen = []  # the first BatchNorm's inputs, batch by batch
    hook = first.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach().clone()))
    momentum = first.momentum
    n = standing_stats(G, batches=5, batch_size=32, generator=torch.Generator().manual_seed(0))
    hook.remove()
    assert n == len(norms) and len(seen) == 5 and not G.training and first.momentum == momentum
    # by hand: PyTorch's cumulative average of each batch's mean and unbiased variance
    assert_close(first.running_mean, torch.stack([x.mean(0) for x in seen]).mean(0))
    assert_close(first.running_var, torch.stack([x.var(0, unbiased=True) for x in seen]).mean(0))
    assert int(first.num_batches_tracked) == 5
    # the same seed gives the same statistics; parameters are untouched
    params = [p.clone() for p in G.parameters()]
    before = first.running_mean.clone()
    standing_stats(G, batches=5, batch_size=32, generator=torch.Generator().manual_seed(0))
    assert_close(first.running_mean, before)
    for p, q in zip(params, G.parameters()):
        assert torch.equal(p, q)


def test_conditional_batchnorm_and_a_net_without_batchnorm():
    cfg = load_config("digits-cgan", ["model.g_cond=cbn"])
    spec = DataSpec(kind="image", shape=[1, 8, 8], num_classes=10)
    G, _ = build_nets(cfg.model, spec)
    assert standing_stats(G, batches=2, batch_size=8) == len(batch_norms(G)) > 0
    G2, _ = build_nets(load_config("ring", TINY_RING + ["model.g_norm=none"]).model, DataSpec(kind="vector", shape=[2]))
    assert standing_stats(G2) == 0
    with pytest.raises(GankitError, match="standing statistics"):
        standing_stats(G, batches=0)


def test_sample_cli_standing_stats(tmp_path, capsys):
    run = gankit.train("ring", TINY_RING + ["train.steps=3", "model.g_norm=batch"], out=tmp_path / "r",
                       progress=False).path
    assert cli_main(["sample", str(run), "--n", "20", "--out", str(tmp_path / "s.npz"), "--standing-stats", "3"]) == 0
    assert "re-estimated from 3 batches" in capsys.readouterr().out
    model = gankit.load(run)
    assert model.standing_stats(3, seed=1) > 0
    plain = gankit.train("ring", TINY_RING + ["train.steps=3", "model.g_norm=none"], out=tmp_path / "p",
                         progress=False).path
    assert cli_main(["sample", str(plain), "--n", "4", "--out", str(tmp_path / "p.npz"), "--standing-stats", "2"]) != 0
    assert "no BatchNorm to re-estimate" in capsys.readouterr().err
    assert not (tmp_path / "p.npz").exists()
