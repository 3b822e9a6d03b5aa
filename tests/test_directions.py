"""Latent directions: SeFa's are the right singular vectors of the first layer's weight on z, in order,
orthonormal and zero on the code units; random ones are orthonormal and seeded; moving z along them."""
import pytest
import torch
from torch.testing import assert_close

from gankit.config import load_config
from gankit.errors import GankitError
from gankit.explore.directions import latent_directions, random_directions, sefa_directions
from gankit.nets import build_nets

from helpers import TINY_DIGITS


def _generator(preset="digits", over=()):
    torch.manual_seed(0)
    cfg = load_config(preset, TINY_DIGITS + list(over))
    spec = {"kind": "image", "shape": [1, 8, 8], "num_classes": 10, "name": "digits"}
    from gankit.nets import DataSpec

    return build_nets(cfg.model, DataSpec(spec))[0].eval()


GENERATORS = {
    "dcgan": ("digits", []),
    "mlp-codes": ("digits", ["model.arch=mlp", "model.g_layers=2", "model.z_categories=3", "model.z_continuous=2"]),
    "dcgan-cgan": ("digits-cgan", []),
}


@pytest.mark.parametrize("name", list(GENERATORS))
def test_sefa_is_the_right_singular_vectors_of_the_first_layer_on_z(name):
    G = _generator(*GENERATORS[name])
    d = sefa_directions(G)
    assert d.vectors.shape == (G.z_dim, G.latent_dim) and len(d) == G.z_dim
    assert_close(d.vectors @ d.vectors.T, torch.eye(G.z_dim), atol=1e-5, rtol=0)  # orthonormal
    assert torch.all(d.vectors[:, G.z_dim:] == 0)  # codes (and the label code) are not moved
    A = G.latent_layer().weight.detach()[:, :G.z_dim]  # [out, z_dim]
    _, s, vh = torch.linalg.svd(A, full_matrices=False)
    assert_close(d.values, s ** 2, rtol=1e-4, atol=1e-6)
    assert torch.all(d.values[:-1] >= d.values[1:])  # largest first
    top = d.vectors[0, :G.z_dim]
    assert abs(float(top @ vh[0])) == pytest.approx(1.0, abs=1e-5)  # the top right singular vector, up to sign
    assert float(top[top.abs().argmax()]) > 0  # the sign convention
    # the defining property: no unit direction moves the first layer more than the top one
    r = torch.nn.functional.normalize(torch.randn(100, G.z_dim), dim=1)
    assert (A @ top).norm() >= (r @ A.T).norm(dim=1).max()


def test_sefa_unit_rows_ignores_each_output_units_scale():
    G = _generator()
    before = sefa_directions(G, k=3, unit_rows=True)
    with torch.no_grad():  # what a BatchNorm after the layer would normalize away
        G.latent_layer().weight.mul_(torch.rand(G.latent_layer().out_features, 1) * 10 + 0.1)
    after = sefa_directions(G, k=3, unit_rows=True)
    assert_close(after.vectors, before.vectors, atol=1e-4, rtol=0)
    assert not torch.allclose(sefa_directions(G, k=3).vectors, before.vectors, atol=1e-2)


def test_random_directions_are_orthonormal_and_seeded():
    G = _generator(*GENERATORS["mlp-codes"])
    a, b, c = random_directions(G, 5, seed=1), random_directions(G, 5, seed=1), random_directions(G, 5, seed=2)
    assert a.vectors.shape == (5, G.latent_dim) and a.values is None and a.kind == "random"
    assert_close(a.vectors @ a.vectors.T, torch.eye(5), atol=1e-6, rtol=0)
    assert torch.all(a.vectors[:, G.z_dim:] == 0)
    assert torch.equal(a.vectors, b.vectors) and not torch.allclose(a.vectors, c.vectors)


def test_move_along_directions():
    G = _generator()
    d = latent_directions(G, "sefa", k=4)
    z = torch.randn(3, G.latent_dim)
    assert_close(d.move(z, [2.0]), z + 2.0 * d.vectors[0])
    assert_close(d.move(z, [0.5, 0, -1, 0]), z + 0.5 * d.vectors[0] - d.vectors[2])
    per_row = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0, 3.0]])
    assert_close(d.move(z, per_row), z + per_row @ d.vectors)
    assert_close(((d.move(z, [0, 1.5]) - z) ** 2).sum(1), torch.full((3,), 2.25))


def test_direction_errors():
    G = _generator()
    with pytest.raises(GankitError, match="asked for 9 latent directions; this generator's noise has 8 units"):
        sefa_directions(G, 9)
    with pytest.raises(GankitError, match="directions=pca is not a kind of latent direction; use one of sefa, random"):
        latent_directions(G, "pca")
    with pytest.raises(GankitError, match="got 5 direction amounts, but there are only 4 sefa directions"):
        sefa_directions(G, 4).move(torch.zeros(1, 8), [1, 1, 1, 1, 1])

    class NoLinear(torch.nn.Module):
        z_dim, latent_dim = 4, 4

        def latent_layer(self):
            return None

    with pytest.raises(GankitError, match="NoLinear has none"):
        sefa_directions(NoLinear())
