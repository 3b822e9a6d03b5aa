import pytest
import torch

from gankit.config import ModelConfig
from gankit.errors import GankitError
from gankit.nets import DataSpec, build_nets
from gankit.nets.dcgan import resolution_plan


@pytest.mark.parametrize("arch, kind, shape", [
    ("mlp", "vector", (1,)), ("mlp", "vector", (2,)), ("mlp", "image", (1, 28, 28)),
    ("dcgan", "image", (1, 8, 8)), ("dcgan", "image", (1, 28, 28)), ("dcgan", "image", (3, 32, 32)),
    ("dcgan", "image", (3, 64, 64)), ("dcgan", "image", (3, 128, 128)),
])
def test_shapes(arch, kind, shape):
    cfg = ModelConfig(arch=arch, z_dim=8, g_width=8, d_width=8, g_layers=1, d_layers=1)
    g, d = build_nets(cfg, DataSpec(kind=kind, shape=list(shape)))
    z = g.sample_z(3)
    assert z.shape == (3, 8)
    x = g(z)
    assert x.shape == (3, *shape)
    if kind == "image":
        assert x.abs().max() <= 1.0
    out = d(x)
    assert out.logits.shape == (3,) and out.features.shape[0] == 3
    out.logits.sum().backward()
    assert all(p.grad is not None for p in g.parameters())


def test_resolution_plan():
    assert resolution_plan(28) == (7, 2)
    assert resolution_plan(8) == (4, 1)
    assert resolution_plan(64) == (4, 4)
    with pytest.raises(GankitError, match="30x30"):
        resolution_plan(30)


def test_dcgan_rejects_vectors():
    with pytest.raises(GankitError, match="model.arch=mlp"):
        build_nets(ModelConfig(arch="dcgan"), DataSpec(kind="vector", shape=[2]))


def test_dcgan_init_and_uniform_prior():
    g, d = build_nets(ModelConfig(arch="dcgan", z_dim=16, z_dist="uniform"),
                      DataSpec(kind="image", shape=[1, 28, 28]))
    w = g.net[0].weight
    assert 0.015 < w.std().item() < 0.025 and abs(w.mean().item()) < 0.005
    z = g.sample_z(1000, torch.Generator().manual_seed(0))
    assert z.min() >= -1 and z.max() <= 1 and z.min() < -0.9


@pytest.mark.parametrize("arch, shape", [("mlp", (2,)), ("dcgan", (1, 8, 8))])
def test_discrete_latent_code(arch, shape):
    """model.z_categories = K appends a one-hot code of a uniform class to the continuous z."""
    kind = "vector" if arch == "mlp" else "image"
    plain, _ = build_nets(ModelConfig(arch=arch, z_dim=3, g_width=8, d_width=8),
                          DataSpec(kind=kind, shape=list(shape)))
    g, _ = build_nets(ModelConfig(arch=arch, z_dim=3, z_categories=5, g_width=8, d_width=8),
                      DataSpec(kind=kind, shape=list(shape)))
    assert g.latent_dim == 8 and plain.latent_dim == 3
    z = g.sample_z(4000, torch.Generator().manual_seed(1))
    assert z.shape == (4000, 8)
    code = z[:, 3:]
    assert torch.equal(code.sum(1), torch.ones(4000)) and set(code.unique().tolist()) == {0.0, 1.0}
    counts = code.sum(0)
    assert counts.min() > 700 and counts.max() < 900  # uniform over 5 classes: 800 each
    # the continuous part is drawn first, from the same stream: it equals the plain prior's draw
    assert torch.equal(z[:, :3], plain.sample_z(4000, torch.Generator().manual_seed(1)))
    assert g(z).shape == (4000, *shape)
    with pytest.raises(GankitError, match="model.z_categories"):
        ModelConfig(z_categories=-1).validate()
