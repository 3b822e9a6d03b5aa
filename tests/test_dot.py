"""Latent-space discriminator optimal transport (gankit/explore/dot.py) against hand computations."""
import math

import pytest
import torch
from torch import nn

from gankit.errors import GankitError
from gankit.explore.dot import dot_refine, dot_sample, effective_lipschitz
from gankit.nets.base import Generator
from gankit.nets.output import DOutput


class IdentityG(Generator):
    """G(z) = the noise units of z (InfoGAN code units, if any, are ignored)."""

    def __init__(self, z_dim=2, codes=0, z_dist="normal"):
        super().__init__(z_dim=z_dim, z_categories=codes, z_dist=z_dist)
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, z, y=None):
        return z[:, :self.z_dim] * self.scale


class LinearD(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.as_tensor(w, dtype=torch.float32))

    def forward(self, x, y=None):
        return DOutput(logits=x @ self.w)


class BowlD(nn.Module):
    """D(x) = -||x - c||^2 / 2: highest at c."""

    def __init__(self, c):
        super().__init__()
        self.c = nn.Parameter(torch.as_tensor(c, dtype=torch.float32))

    def forward(self, x, y=None):
        return DOutput(logits=-0.5 * (x - self.c).pow(2).sum(1))


def test_effective_lipschitz_is_the_largest_pairwise_slope():
    G, D = IdentityG().eval(), LinearD([3.0, 4.0]).eval()
    # D(z) = 3 z1 + 4 z2; pairs: (0,0)-(1,0): 3/1; (0,0)-(0,2): 8/2 = 4; (1,0)-(0,2): |3 - 8| / sqrt(5)
    z = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    assert effective_lipschitz(G, D, z) == pytest.approx(max(3.0, 4.0, 5 / math.sqrt(5)))
    with pytest.raises(GankitError, match="at least 2"):
        effective_lipschitz(G, D, z[:1])


class CodedG(IdentityG):
    """G(z) = the noise units, shifted by 10 along the first axis per code class: the code moves D a lot."""

    def forward(self, z, y=None):
        shift = torch.zeros_like(z[:, :self.z_dim])
        shift[:, 0] = 10.0 * z[:, self.z_dim:].argmax(1)
        return (z[:, :self.z_dim] + shift) * self.scale


def test_effective_lipschitz_takes_the_slope_along_the_noise_with_the_code_fixed():
    G, D = CodedG(codes=3).eval(), LinearD([3.0, 4.0]).eval()
    z = G.sample_z(400, torch.Generator().manual_seed(0))
    # along the noise D o G has slope |w| = 5 in every direction; pairs across codes would add 30 per class
    # over a noise distance that can be small, and give a k_eff far above 5
    k = effective_lipschitz(G, D, z)
    assert 4.5 < k <= 5.0 * (1 + 1e-5)
    mixed = z.clone()
    mixed[:, 2:] = torch.eye(3)[torch.arange(400) % 3]  # within a group of 50 the code would differ
    assert effective_lipschitz(G, D, mixed) == pytest.approx(k, rel=1e-5)  # each group takes its first code


def test_refine_reaches_the_hand_minimizer_of_distance_minus_score():
    # min_z ||z - z0|| + ||z - c||^2 / (2k): convex; if ||z0 - c|| > k the minimizer is c + k (z0 - c)/||z0 - c||
    # (the subgradient condition), else z0 itself: far draws move to distance k of D's peak, near ones stay.
    c = torch.tensor([1.0, -1.0])
    G, D = IdentityG().eval(), BowlD(c).eval()
    k = 0.5
    z0 = torch.tensor([[4.0, 3.0], [1.2, -1.1], [-2.0, -1.0]])
    res = dot_refine(G, D, z0, k, steps=3000, lr=0.01)
    for i in range(3):
        gap = float((z0[i] - c).norm())
        want = c + k * (z0[i] - c) / gap if gap > k else z0[i]
        torch.testing.assert_close(res.z[i], want, atol=2e-2, rtol=0)
    assert res.moved[1] < 2e-2 and res.moved[0] == pytest.approx(float((z0[0] - c).norm()) - k, abs=2e-2)
    hand_gain = -0.5 * ((res.z - c).pow(2).sum(1) - (z0 - c).pow(2).sum(1))
    torch.testing.assert_close(res.gain, hand_gain, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(res.x, res.z)  # G is the identity


def test_each_sample_moves_alone_and_codes_stay():
    c = torch.tensor([0.5, 0.5])
    G, D = IdentityG(codes=3).eval(), BowlD(c).eval()
    z0 = G.sample_z(6, torch.Generator().manual_seed(0))
    together = dot_refine(G, D, z0, 1.0, steps=15, lr=0.05, batch_size=4)  # batches of 4 and 2
    alone = torch.cat([dot_refine(G, D, z0[i:i + 1], 1.0, steps=15, lr=0.05).z for i in range(6)])
    torch.testing.assert_close(together.z, alone, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(together.z[:, 2:], z0[:, 2:])  # the one-hot code units never move
    assert all(p.requires_grad for p in [*G.parameters(), *D.parameters()])  # restored


def test_uniform_prior_stays_in_its_box_and_zero_steps_change_nothing():
    G, D = IdentityG(z_dist="uniform").eval(), LinearD([10.0, 0.0]).eval()
    z0 = torch.tensor([[0.9, 0.0], [-0.5, 0.3]])
    res = dot_refine(G, D, z0, 1.0, steps=200, lr=0.05)  # D pays 10 per unit of z1: pushed to the bound
    assert float(res.z[:, 0].max()) <= 1.0 and res.z[0, 0] == pytest.approx(1.0)
    same = dot_refine(G, D, z0, 1.0, steps=0)
    torch.testing.assert_close(same.z, z0)


def test_sample_draws_from_the_generator_and_refuses_what_has_no_meaning():
    G, D = IdentityG(), BowlD([0.0, 0.0])
    res = dot_sample(G, D, 5, torch.Generator().manual_seed(3), steps=5)
    torch.testing.assert_close(res.z0, IdentityG().sample_z(5, torch.Generator().manual_seed(3)))
    assert res.k_eff > 0 and res.x.shape == (5, 2)
    with pytest.raises(GankitError, match="eval mode"):
        dot_refine(G.train(), D.eval(), res.z0, 1.0)
    with pytest.raises(GankitError, match="k_eff"):
        dot_refine(G.eval(), D.eval(), res.z0, 0.0)
    with pytest.raises(GankitError, match="unconditional"):
        dot_sample(G, D, 5, torch.Generator(), y=torch.zeros(5, dtype=torch.long))


class LabelG(Generator):
    """A conditional G: G(z, y) = the noise units, shifted by 10 y along the first axis."""

    def __init__(self, classes=3):
        super().__init__(z_dim=2, num_classes=classes, cond="cbn")
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, z, y=None):
        shift = torch.zeros_like(z)
        shift[:, 0] = 10.0 * y
        return (z + shift) * self.scale


class LabelBowlD(nn.Module):
    """D(x, y) = -||x - c_y||^2 / 2, c_y = (10 y + 1, -1): highest at G(c - (10 y, 0), y) = c_y, whatever y."""

    def __init__(self):
        super().__init__()
        self.c = nn.Parameter(torch.tensor([1.0, -1.0]))

    def forward(self, x, y=None):
        c = self.c.expand(len(x), 2).clone()
        c[:, 0] = c[:, 0] + 10.0 * y
        return DOutput(logits=-0.5 * (x - c).pow(2).sum(1))


def test_a_conditional_generator_moves_z_for_its_fixed_label():
    G, D = LabelG().eval(), LabelBowlD().eval()
    # in z, D(G(z, y), y) = -||z - (1, -1)||^2 / 2 for every y: each draw goes to the unconditional hand minimizer
    c, k = torch.tensor([1.0, -1.0]), 0.5
    z0 = torch.tensor([[4.0, 3.0], [4.0, 3.0], [1.2, -1.1]])
    y = torch.tensor([0, 2, 1])
    res = dot_refine(G, D, z0, k, steps=3000, lr=0.01, y=y)
    far = c + k * (z0[0] - c) / (z0[0] - c).norm()
    torch.testing.assert_close(res.z[:2], far.expand(2, 2), atol=2e-2, rtol=0)
    torch.testing.assert_close(res.z[2], z0[2], atol=2e-2, rtol=0)
    assert torch.equal(res.y, y) and res.x[1, 0] == pytest.approx(float(far[0]) + 20.0, abs=2e-2)
    # drawn labels come from the generator after the latents, as LoadedGAN.latents draws them
    drawn = dot_sample(G, D, 7, torch.Generator().manual_seed(5), steps=2)
    gen = torch.Generator().manual_seed(5)
    torch.testing.assert_close(drawn.z0, G.sample_z(7, gen))
    assert torch.equal(drawn.y, G.sample_y(7, gen))
    # k_eff holds each group's label fixed: along z the slope of D o G is what the label does not change
    lin = LinearD([3.0, 4.0]).eval()
    zk = G.sample_z(400, torch.Generator().manual_seed(0))
    assert 4.5 < effective_lipschitz(G, lin, zk, y=torch.arange(400) % 3) <= 5.0 * (1 + 1e-5)


def test_refine_works_under_no_grad():
    G, D = IdentityG().eval(), BowlD([5.0, 0.0]).eval()
    z0 = torch.zeros(3, 2)
    with torch.no_grad():
        res = dot_refine(G, D, z0, 1.0, steps=10, lr=0.1)
    assert float(res.moved.min()) > 0.5


def test_dot_on_an_image_checkpoint_matches_the_module_and_the_cli_says_so(tmp_path):
    import numpy as np

    import gankit
    from gankit.explore.dot import effective_lipschitz
    from helpers import TINY_DIGITS, gankit as cli

    run = tmp_path / "run"
    gankit.train("digits", TINY_DIGITS, out=run, steps=3, progress=False)
    model = gankit.load(run)
    out = model.save_samples(tmp_path / "d.npz", 6, seed=4, dot_steps=3, dot_scale=0.5)
    x = np.load(out)["x"]
    # by hand: the seed's 6 draws, then 1,000 more for k_eff, moved by dot_refine
    G, D = model.G.eval(), model.D.eval()
    gen = torch.Generator().manual_seed(4)
    z = G.sample_z(6, gen)
    k = effective_lipschitz(G, D, G.sample_z(1000, gen))
    want = model.to_data(dot_refine(G, D, z, 0.5 * k, steps=3).x)
    np.testing.assert_array_equal(x, want)
    with pytest.raises(GankitError, match="--per-class needs a conditional model"):
        model.save_samples(tmp_path / "k.png", 6, per_class=2, dot_steps=3)
    with pytest.raises(GankitError, match="unconditional"):
        model.save_samples(tmp_path / "k.png", 6, label=2, dot_steps=3)
    with pytest.raises(GankitError, match="drop --drs"):
        model.generate(6, dot_steps=3, jacobian_keep=0.5)
    proc = cli("sample", str(run), "--n", "6", "--dot-steps", "2", "--out", str(tmp_path / "x.png"))
    assert proc.returncode == 0, proc.stderr
    assert "discriminator optimal transport" in proc.stdout and (tmp_path / "x.png").is_file()
    bad = cli("sample", str(run), "--n", "6", "--dot-steps", "2", "--dot-scale", "0", "--out", str(tmp_path / "y.png"))
    assert bad.returncode != 0 and "--dot-scale must be > 0" in bad.stderr


def test_eval_scores_the_dot_samples_and_records_how(tmp_path):
    import gankit
    from helpers import TINY_DIGITS, gankit as cli

    run = tmp_path / "run"
    gankit.train("digits", TINY_DIGITS, out=run, steps=3, progress=False)
    model = gankit.load(run)
    npz = model.save_samples(tmp_path / "d.npz", 40, seed=0, dot_steps=2, dot_scale=0.5)
    got = gankit.evaluate(run, metrics="fid", n=40, dot_steps=2, dot_scale=0.5, record=False)
    by_hand = gankit.evaluate(real="digits", fake=npz, metrics="fid", n=40)
    assert got["fid"] == pytest.approx(by_hand["fid"], rel=1e-6)
    assert got["provenance"]["dot"] == {"steps": 2, "scale": 0.5}
    plain = gankit.evaluate(run, metrics="fid", n=40, record=False)
    assert "dot" not in plain["provenance"] and plain["fid"] != got["fid"]
    with pytest.raises(GankitError, match="not --real/--fake"):
        gankit.evaluate(real="digits", fake=npz, dot_steps=2)
    bad = cli("eval", str(run), "--truncation", "1", "--dot-steps", "2")
    assert bad.returncode != 0 and "without --truncation" in bad.stderr


def test_dot_on_a_conditional_checkpoint_keeps_the_labels_asked_for(tmp_path):
    import numpy as np

    import gankit
    from helpers import TINY_DIGITS, gankit as cli

    run = tmp_path / "run"
    gankit.train("digits", TINY_DIGITS + ["model.g_cond=cbn", "model.d_cond=projection"], out=run, steps=3,
                 progress=False)
    model = gankit.load(run)
    out = np.load(model.save_samples(tmp_path / "a.npz", 6, seed=2, label=3, dot_steps=2, dot_scale=0.5))
    assert out["y"].tolist() == [3] * 6
    # by hand: the seed's latents and labels, k_eff's draws with uniform labels after them
    G, D = model.G.eval(), model.D.eval()
    gen = torch.Generator().manual_seed(2)
    z = G.sample_z(6, gen)
    k = effective_lipschitz(G, D, G.sample_z(1000, gen), y=G.sample_y(1000, gen))
    want = model.to_data(dot_refine(G, D, z, 0.5 * k, steps=2, y=torch.full((6,), 3)).x)
    np.testing.assert_array_equal(out["x"], want)
    grid = np.load(model.save_samples(tmp_path / "g.npz", 0, seed=1, per_class=2, dot_steps=2))
    assert grid["y"].tolist() == [c for c in range(10) for _ in range(2)]
    drawn = np.load(model.save_samples(tmp_path / "u.npz", 8, seed=1, dot_steps=2))
    assert drawn["y"].tolist() == model.latents(8, 1)[1].tolist()  # uniform labels drawn as plain sampling draws them
    res = gankit.evaluate(run, metrics="fid", n=30, dot_steps=2, record=False)
    assert res["provenance"]["dot"] == {"steps": 2, "scale": 1.0}
    proc = cli("sample", str(run), "--per-class", "2", "--dot-steps", "2", "--out", str(tmp_path / "p.png"))
    assert proc.returncode == 0, proc.stderr
