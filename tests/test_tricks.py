"""The training tricks (docs/tricks.md): each against a hand computation, one step with every objective
where it applies, the clear error where it does not, and exact resume."""
import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import gankit
from gankit.config import load_config
from gankit.errors import GankitError
from gankit.nets.minibatch import MinibatchDiscrimination, minibatch_features
from gankit.nets.output import DOutput
from gankit.nets.vbn import VirtualBatchNorm
from gankit.objectives import build_objective, terms
from gankit.objectives.auxiliary import TermInputs
from gankit.objectives.base import StepResult
from gankit.objectives.diffaugment import augment_color, augment_translation, cutout_mask, diff_augment
from gankit.objectives.feature_matching import feature_matching_loss
from gankit.objectives.fgan import F_DIVERGENCES, fgan_d_loss, fgan_g_loss
from gankit.objectives.image_pool import pool_query
from gankit.objectives.instance_noise import noise_std
from gankit.registry import OBJECTIVES
from gankit.training.loop import Trainer

from helpers import TINY_DIGITS, final_tensors

RING = ["model.g_width=8", "model.d_width=8", "model.z_dim=4", "data.batch_size=16", "train.threads=1",
        "model.d_norm=none"]
DIGITS = TINY_DIGITS + ["model.d_norm=none", "data.batch_size=16"]
LABEL_TERMS = ("label_smoothing", "noisy_labels")


def objective(name, terms_yaml):
    return build_objective(load_config("ring", RING + [f"objective.name={name}",
                                                       f"objective.terms={terms_yaml}"]).objective)


# --------------------------------------------------------------------------- D's targets


def test_label_smoothing_by_hand():
    obj = objective("ns", "{label_smoothing: {}}")
    lr, lf = torch.tensor([0.5, -1.0]), torch.tensor([2.0, 0.0])
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731
    hand = (0.9 * sp(-0.5) + 0.1 * sp(0.5) + 0.9 * sp(1.0) + 0.1 * sp(-1.0)) / 2 + (sp(2.0) + sp(0.0)) / 2
    assert_close(obj.d_loss(DOutput(lr), DOutput(lf)), torch.tensor(hand))
    plain = objective("ns", "{}")  # no term: the hard targets, bitwise the old loss
    assert torch.equal(plain.d_loss(DOutput(lr), DOutput(lf)), terms.d_logistic(lr, lf))
    assert torch.equal(obj.d_targets(lr, lf)[1], torch.zeros(2))  # fakes never smoothed


def test_noisy_labels_flip_the_drawn_fraction():
    obj = objective("minimax", "{noisy_labels: {flip: 0.3}, label_smoothing: {real: 0.8}}")
    logits = torch.zeros(1000)
    torch.manual_seed(5)
    t_real, t_fake = obj.d_targets(logits, logits)
    torch.manual_seed(5)
    flip_r, flip_f = torch.rand(1000) < 0.3, torch.rand(1000) < 0.3
    assert_close(t_real, torch.where(flip_r, torch.tensor(0.2), torch.tensor(0.8)))  # smoothed, then flipped
    assert torch.equal(t_fake, flip_f.float())
    assert 0.26 < flip_r.float().mean() < 0.37  # 0.356 with this seed


@pytest.mark.parametrize("term", LABEL_TERMS)
@pytest.mark.parametrize("name", ["wgan", "wgan-gp", "hinge", "lsgan", "ragan", "began", "fgan-js"])
def test_label_terms_refuse_games_without_probability_targets(term, name):
    with pytest.raises(GankitError, match=f"objective.terms.{term}' has no meaning for objective.name={name}"):
        objective(name, f"{{{term}: {{}}}}")


@pytest.mark.parametrize("term", LABEL_TERMS)
def test_label_terms_are_refused_by_the_config_before_anything_is_built(term, monkeypatch):
    import gankit.objectives as objectives

    monkeypatch.setattr(objectives, "build_objective", None)  # the refusal must not need it
    with pytest.raises(GankitError, match=f"objective.terms.{term}' has no meaning for objective.name=hinge"):
        load_config("ring", RING + ["objective.name=hinge", f"objective.terms={{{term}: {{}}}}"])
    load_config("ring", RING + ["objective.name=ns", f"objective.terms={{{term}: {{}}}}"])  # accepted


@pytest.mark.parametrize("bad, match", [
    ("{label_smoothing: {real: 0.3}}", "label_smoothing.real"),
    ("{noisy_labels: {flip: 0.7}}", "noisy_labels.flip"),
    ("{instance_noise: {std: 0}}", "instance_noise.std"),
    ("{instance_noise: {schedule: exp}}", "instance_noise.schedule"),
    ("{feature_matching: {norm: l3}}", "feature_matching.norm"),
    ("{historical: {weight: -1}}", "historical.weight"),
    ("{image_pool: {size: 0}}", "image_pool.size"),
    ("{diffaugment: {policy: 'color,flip'}}", "diffaugment.policy"),
    ("{diffaugment: {strength: 1}}", "strength"),
])
def test_term_parameters_are_checked_with_one_line_errors(bad, match):
    with pytest.raises(GankitError, match=match) as err:
        objective("ns", bad)
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- instance noise


def test_instance_noise_schedule_and_draw_by_hand():
    assert noise_std(0, 0.1, 1000) == 0.1
    assert_close(noise_std(250, 0.1, 1000), 0.075)
    assert_close(noise_std(500, 0.2, 1000, "cosine"), 0.1)
    assert noise_std(999, 0.1, 1000, "constant") == 0.1
    assert noise_std(1000, 0.1, 1000) == 0.0 and noise_std(5000, 0.1, 1000, "cosine") == 0.0
    obj = objective("ns", "{instance_noise: {std: 0.4, steps: 100}}")
    obj.begin_iteration(50, None, None)
    real, fake = torch.zeros(3, 2), torch.ones(3, 2)
    torch.manual_seed(1)
    r, f = obj.view_for_d(real, fake, None)
    torch.manual_seed(1)
    assert_close(r, 0.2 * torch.randn(3, 2))
    assert_close(f, 1 + 0.2 * torch.randn(3, 2))
    obj.begin_iteration(100, None, None)
    assert torch.equal(obj.view_for_d(real, fake, None)[1], fake)  # annealed to 0: D sees the data itself


# --------------------------------------------------------------------------- feature matching


def test_feature_matching_by_hand_and_alone():
    real, fake = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    assert_close(feature_matching_loss(real, fake), torch.tensor(1.5 ** 2 + 2.5 ** 2))
    assert_close(feature_matching_loss(real, fake, "l1"), torch.tensor(2.0))
    fake_out = DOutput(torch.tensor([3.0, -1.0]), features=fake)
    for alone, game in [(True, 0.0), (False, float(terms.g_nonsaturating(fake_out.logits)))]:
        obj = objective("ns", f"{{feature_matching: {{weight: 2, alone: {str(alone).lower()}}}}}")
        assert obj.g_uses_real  # the loop hands G's step a real batch
        game_result = StepResult(terms.g_nonsaturating(fake_out.logits), {})
        result = obj.with_terms(game_result, "g", fake_out, real_out=DOutput(torch.zeros(2), features=real))
        assert_close(result.loss, torch.tensor(game + 2 * 8.5))
        assert_close(result.stats["fm"], torch.tensor(8.5))


# --------------------------------------------------------------------------- minibatch discrimination


def test_minibatch_features_by_hand():
    m = torch.tensor([[[0.0, 0.0]], [[1.0, 0.0]], [[1.0, 2.0]]])  # [N=3, B=1, C=2]
    # L1 distances: d01 = 1, d02 = 3, d12 = 2; o_i = sum_{j != i} exp(-d_ij)
    e = math.exp
    hand = torch.tensor([[e(-1) + e(-3)], [e(-1) + e(-2)], [e(-3) + e(-2)]])
    assert_close(minibatch_features(m), hand)
    layer = MinibatchDiscrimination(4, kernels=3, dim=2)
    f = torch.randn(5, 4)
    assert_close(layer(f), minibatch_features((f @ layer.T).view(5, 3, 2)))


def test_minibatch_discrimination_any_discriminator_and_refusal():
    for preset, over in [("ring", RING), ("digits", DIGITS), ("ring", RING + ["model.d_pack=2"])]:
        cfg = load_config(preset, over + ["model.d_minibatch=6", "model.d_minibatch_dim=3"])
        trainer = Trainer(cfg, None, progress=False)
        assert trainer.D.minibatch.T.shape[1] == 18
        before = trainer.D.minibatch.T.detach().clone()
        for _ in range(2):
            stats = trainer.iteration(want_stats=True)
        assert all(math.isfinite(float(v)) for v in stats.values())
        assert not torch.equal(before, trainer.D.minibatch.T)  # T is trained
    with pytest.raises(GankitError, match="model.d_minibatch adds to a discriminator's logit"):
        Trainer(load_config("digits-began", TINY_DIGITS + ["model.d_minibatch=4"]), None, progress=False)


# --------------------------------------------------------------------------- historical averaging


def test_historical_averaging_by_hand():
    obj = objective("ns", "{historical: {weight: 0.5, g_weight: 0}}")
    term = obj.terms[0]
    net = nn.Linear(2, 1, bias=False)
    obj.begin_iteration(0, None, net)
    inputs = lambda: TermInputs("d", DOutput(torch.zeros(1)), step=obj.step, net=obj._nets["d"])  # noqa: E731
    thetas = [torch.tensor([1.0, 2.0]), torch.tensor([3.0, 2.0]), torch.tensor([0.0, 5.0])]
    expected = [0.0, 0.5 * (2.0 ** 2), 0.5 * ((0.0 - 2.0) ** 2 + (5.0 - 2.0) ** 2)]
    for theta, hand in zip(thetas, expected):
        with torch.no_grad():
            net.weight.copy_(theta.view(1, 2))
        loss, _ = term.d_loss(inputs())
        assert_close(loss, torch.tensor(hand))
    assert_close(term.mean["d"], torch.tensor([4.0 / 3, 3.0]))  # the mean of all three
    assert term.g_loss(TermInputs("g", DOutput(torch.zeros(1)), net=net)) is None  # g_weight 0: G untouched


# --------------------------------------------------------------------------- virtual batch norm


def test_vbn_by_hand_and_independent_of_the_batch():
    layer = VirtualBatchNorm(1)
    layer.ref_size = 2
    x = torch.tensor([[1.0], [3.0], [5.0]])  # reference rows 1, 3; the example 5
    out = layer(x)
    # reference: mean 2, mean square 5, var 1; the example: mean (5 + 2*2)/3 = 3, mean sq (25 + 2*5)/3
    mu, sq = 3.0, 35.0 / 3
    assert_close(out[2, 0], torch.tensor((5.0 - mu) / math.sqrt(sq - mu * mu + 1e-5)))
    assert_close(out[:2, 0], torch.tensor([-1.0, 1.0]) / math.sqrt(1 + 1e-5))
    for preset, over in [("ring", RING), ("digits", DIGITS)]:
        cfg = load_config(preset, over + ["model.g_norm=vbn", "model.vbn_ref=8"])
        trainer = Trainer(cfg, None, progress=False)
        G = trainer.G
        assert G.vbn_ref.shape == (8, G.latent_dim) and "vbn_ref" in G.state_dict()
        z = G.sample_z(5)
        assert_close(G(z)[:2], G(z[:2]))  # an example's output depends on itself and the reference only
        for _ in range(2):
            stats = trainer.iteration(want_stats=True)
        assert all(math.isfinite(float(v)) for v in stats.values())
    with pytest.raises(GankitError, match="model.g_norm"):
        load_config("digits-cgan", TINY_DIGITS + ["model.g_norm=vbn"])
    with pytest.raises(GankitError, match="vbn is a generator norm"):
        load_config("digits", ["model.d_norm=vbn"])


# --------------------------------------------------------------------------- DiffAugment


def test_diffaugment_pieces_by_hand():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    shifted = augment_translation(x, torch.tensor([1]), torch.tensor([-1]), pad=1)  # down 1, left 1
    hand = torch.tensor([[0, 0, 0, 0], [1, 2, 3, 0], [5, 6, 7, 0], [9, 10, 11, 0.0]]).view(1, 1, 4, 4)
    assert torch.equal(shifted, hand)
    mask = cutout_mask((1, 1, 4, 4), torch.tensor([-1]), torch.tensor([2]), 2)
    assert torch.equal(mask[0, 0], torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1.0]]))
    rgb = torch.tensor([[[[0.0]], [[0.3]], [[0.6]]]])  # one pixel, 3 channels
    out = augment_color(rgb, torch.tensor([0.1]), torch.tensor([2.0]), torch.tensor([1.0]))
    # + 0.1 -> (0.1, 0.4, 0.7), channel mean 0.4, saturation 2 -> (-0.2, 0.4, 1.0); contrast 1: unchanged
    assert_close(out.flatten(), torch.tensor([-0.2, 0.4, 1.0]))
    fake = torch.randn(4, 3, 8, 8, requires_grad=True)
    diff_augment(fake, ("color", "translation", "cutout")).sum().backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0  # differentiable: G learns through it


def test_diffaugment_refuses_vectors():
    trainer = Trainer(load_config("ring", RING + ["objective.terms={diffaugment: {}}"]), None, progress=False)
    with pytest.raises(GankitError, match="diffaugment augments images"):
        trainer.iteration(want_stats=False)


# --------------------------------------------------------------------------- image pool


def test_image_pool_by_hand():
    first = torch.tensor([[1.0], [2.0], [3.0]])
    out, pool = pool_query(None, first, size=2, p=0.5, draws=torch.zeros(3), picks=torch.tensor([1, 0, 1]))
    # items 1, 2 fill the pool and are judged; item 3 (draw 0 < p) is swapped for stored item 1 (= 2)
    assert torch.equal(out, torch.tensor([[1.0], [2.0], [2.0]])) and torch.equal(pool, torch.tensor([[1.0], [3.0]]))
    out, pool = pool_query(pool, torch.tensor([[7.0], [8.0]]), size=2, p=0.5, draws=torch.tensor([0.9, 0.1]),
                           picks=torch.tensor([0, 0]))
    assert torch.equal(out, torch.tensor([[7.0], [1.0]])) and torch.equal(pool, torch.tensor([[8.0], [3.0]]))
    with pytest.raises(GankitError, match="image_pool cannot be combined with objective.terms.info"):
        build_objective(load_config("ring", RING + ["model.z_categories=4",
                                                    "objective.terms={image_pool: {}, info: {}}"]).objective)
    with pytest.raises(GankitError, match="image_pool cannot be used with class conditioning"):
        trainer = Trainer(load_config("digits-cgan", TINY_DIGITS + ["objective.terms={image_pool: {}}"]),
                          None, progress=False)
        trainer.iteration(want_stats=False)


# --------------------------------------------------------------------------- f-GAN


def test_fgan_conjugates_match_table_2():
    v = torch.linspace(-3, 3, 13, dtype=torch.float64)
    naive = {  # f*(t) of Nowozin et al. Table 2, applied to t = g_f(v)
        "kl": lambda t: torch.exp(t - 1), "reverse-kl": lambda t: -1 - torch.log(-t),
        "pearson": lambda t: t * t / 4 + t, "hellinger": lambda t: t / (1 - t),
        "js": lambda t: -torch.log(2 - torch.exp(t)),
    }
    domain = {"reverse-kl": lambda t: t < 0, "hellinger": lambda t: t < 1, "js": lambda t: t < math.log(2)}
    for name, (activation, conjugate) in F_DIVERGENCES.items():
        t = activation(v)
        assert bool(domain.get(name, lambda t: t == t)(t).all()), name  # g_f keeps t in dom f*
        assert_close(conjugate(v), naive[name](t), msg=name)
    real, fake = torch.tensor([0.0, 1.0]), torch.tensor([-1.0, 2.0])
    assert_close(fgan_d_loss("pearson", real, fake), torch.tensor(-0.5 + ((0.25 - 1) + (1 + 2)) / 2))
    assert_close(fgan_g_loss("kl", fake), torch.tensor(-0.5))  # -E g_f(v) = -mean(v)
    assert_close(fgan_g_loss("kl", fake, saturating=True), -(torch.exp(fake - 1)).mean())


def test_fgan_js_is_the_gan_bound():
    # at the optimum V = log(p / q) for equal P and Q (v = 0) the JS estimate is 0
    assert_close(-fgan_d_loss("js", torch.zeros(4), torch.zeros(4)), torch.tensor(0.0))


# --------------------------------------------------------------------------- every objective, every trick


TERM_SPECS = {
    "label_smoothing": "{label_smoothing: {}}", "noisy_labels": "{noisy_labels: {flip: 0.2}}",
    "instance_noise": "{instance_noise: {std: 0.2, steps: 10}}", "feature_matching": "{feature_matching: {}}",
    "feature_matching_alone": "{feature_matching: {alone: true}}", "historical": "{historical: {}}",
    "image_pool": "{image_pool: {size: 20}}", "diffaugment": "{diffaugment: {}}",
}


@pytest.mark.parametrize("trick", sorted(TERM_SPECS) + ["minibatch", "vbn"])
@pytest.mark.parametrize("name", sorted(OBJECTIVES.names()))
def test_one_step_of_every_objective_with_every_trick(name, trick):
    ae = name in ("began", "ebgan")
    if trick == "minibatch" and ae:
        pytest.skip("autoencoder discriminators have no logit (tested as an error)")
    images = trick == "diffaugment"
    over = (DIGITS if images else RING) + (["model.arch=dcgan-ae" if images else "model.arch=mlp-ae"] if ae else [])
    if trick == "minibatch":
        over = over + ["model.d_minibatch=4"]
    elif trick == "vbn":
        over = over + ["model.g_norm=vbn", "model.vbn_ref=8"]
    else:
        over = over + [f"objective.terms={TERM_SPECS[trick]}"]
    if trick in LABEL_TERMS and not OBJECTIVES.get(name).takes_targets:
        with pytest.raises(GankitError, match="has no meaning"):
            load_config("digits" if images else "ring", over + [f"objective.name={name}"])
        return
    cfg = load_config("digits" if images else "ring", over + [f"objective.name={name}"])
    torch.manual_seed(0)
    trainer = Trainer(cfg, None, progress=False)
    g_before = [p.detach().clone() for p in trainer.G.parameters()]
    for _ in range(2):
        stats = trainer.iteration(want_stats=True)
    assert all(math.isfinite(float(v)) for v in stats.values()), stats
    assert any(not torch.equal(a, b) for a, b in zip(g_before, trainer.G.parameters()))
    if trick.startswith("feature_matching"):
        assert "fm" in stats


# --------------------------------------------------------------------------- exact resume


ALL_TRICKS = DIGITS + ["objective.terms={label_smoothing: {}, noisy_labels: {}, instance_noise: {steps: 8}, "
                       "feature_matching: {}, historical: {}, image_pool: {size: 20}, diffaugment: {}}",
                       "model.g_norm=vbn", "model.vbn_ref=8", "model.d_minibatch=4", "train.checkpoint_every=3"]


def test_exact_resume_with_every_trick_at_once(tmp_path):
    straight = gankit.train("digits", ALL_TRICKS + ["train.steps=6"], out=tmp_path / "a", progress=False)
    gankit.train("digits", ALL_TRICKS + ["train.steps=3"], out=tmp_path / "b", progress=False)
    gankit.resume(tmp_path / "b", steps=6, progress=False)
    a, b = final_tensors(straight.path), final_tensors(tmp_path / "b")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert {"terms.historical.d.mean", "terms.historical.g.mean", "terms.image_pool.pool", "G.vbn_ref"} <= set(a)
    model = gankit.load(straight.path)  # a VBN generator loads with its reference batch and samples alike
    assert torch.equal(model.G.vbn_ref, a["G.vbn_ref"])
    x = model.sample(5, seed=3)
    assert x.shape == (5, 8, 8, 1) and (x == gankit.load(straight.path).sample(5, seed=3)).all()


def test_cli_refuses_label_smoothing_on_a_critic_in_one_line(tmp_path):
    from helpers import gankit as cli

    proc = cli("train", "ring-wgan", "objective.terms={label_smoothing: {}}", "--steps", "1", "--no-progress",
               "--out", str(tmp_path / "r"))
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert "objective.terms.label_smoothing' has no meaning for objective.name=wgan" in lines[0]


def test_resume_without_the_terms_state_differs(tmp_path, monkeypatch):
    """The control of the test above: the historical mean and the pool matter to what a resume does."""
    over = DIGITS + ["objective.terms={historical: {weight: 1.0}, image_pool: {size: 20}}", "train.checkpoint_every=3"]
    straight = gankit.train("digits", over + ["train.steps=6"], out=tmp_path / "a", progress=False)
    gankit.train("digits", over + ["train.steps=3"], out=tmp_path / "b", progress=False)
    from gankit.objectives.base import Objective

    monkeypatch.setattr(Objective, "load_terms_state_dict", lambda self, state: None)
    gankit.resume(tmp_path / "b", steps=6, progress=False)
    a, b = final_tensors(straight.path), final_tensors(tmp_path / "b")
    assert not all(torch.equal(a[k], b[k]) for k in a if k.startswith(("G.", "D.")))


# --------------------------------------------------------------------------- the original paper's setting


def test_maxout_by_hand_and_the_original_paper_preset():
    from gankit.nets.layers import Maxout

    unit = Maxout(2, 1, 3)
    with torch.no_grad():
        unit.linear.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
        unit.linear.bias.zero_()
    assert_close(unit(torch.tensor([[2.0, -3.0], [-1.0, -1.0]])), torch.tensor([[2.0], [2.0]]))  # max(x1, x2, -x1-x2)
    cfg = load_config("fashion-original", ["model.g_width=16", "model.d_width=8", "data.batch_size=16",
                                            "train.threads=1"])
    assert cfg.model.d_maxout == 5 and cfg.train.d_optim.name == "sgd" and cfg.model.z_dist == "uniform"
    trainer = Trainer(cfg, None, progress=False)
    assert any(isinstance(m, Maxout) for m in trainer.D.modules())
    assert any(isinstance(m, nn.Dropout) for m in trainer.D.modules())
    stats = trainer.iteration(want_stats=True)
    assert all(math.isfinite(float(v)) for v in stats.values())
    with pytest.raises(GankitError, match="model.d_maxout"):
        load_config("digits", ["model.d_maxout=3"])  # dcgan
