"""Class conditioning: each layer and term by hand, every method on both architectures (shapes, one
step per objective, checkpoint round trip, exact resume), sampling by label, and the errors."""
import json
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.testing import assert_close

import gankit
from gankit.config import load_config
from gankit.errors import GankitError
from gankit.nets import DataSpec, build_nets
from gankit.nets.conditioning import ConditionalBatchNorm, concat_label_input
from gankit.nets.mlp import MLPDiscriminator
from gankit.objectives import terms
from gankit.objectives.ac_term import ClassTerm
from gankit.objectives.auxiliary import TermInputs
from gankit.nets.output import DOutput
from gankit.registry import OBJECTIVES
from gankit.training.loop import Trainer

from helpers import TINY_DIGITS, TINY_RING, final_tensors, gankit as cli

# (name, overrides): every conditioning method
METHODS = {
    "cgan": ["model.g_cond=concat", "model.d_cond=concat"],
    "cgan-embed": ["model.g_cond=concat", "model.embed_dim=6", "model.d_cond=concat"],
    "acgan": ["model.g_cond=concat", "objective.terms={ac: {}}"],
    "acgan-real": ["model.g_cond=concat", "objective.terms={ac: {d_fake: false}}"],
    "projection": ["model.g_cond=concat", "model.d_cond=projection"],
    "cbn-projection": ["model.g_cond=cbn", "model.d_cond=projection"],
}
RING_COND = TINY_RING + ["model.g_norm=batch"]


# --------------------------------------------------------------------------- layers by hand


def test_conditional_batchnorm_two_classes_by_hand():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm(3, 2, dims=2)
    assert torch.equal(cbn.gain.weight, torch.ones(2, 3)) and torch.equal(cbn.bias.weight, torch.zeros(2, 3))
    with torch.no_grad():
        cbn.gain.weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]]))
        cbn.bias.weight.copy_(torch.tensor([[0.0, 1.0, 0.0], [5.0, 0.0, -2.0]]))
    x = torch.randn(4, 3, 2, 2)
    y = torch.tensor([0, 1, 1, 0])
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    normed = (x - mean) / torch.sqrt(var + 1e-5)
    gain = cbn.gain.weight[y].view(4, 3, 1, 1)
    bias = cbn.bias.weight[y].view(4, 3, 1, 1)
    assert_close(cbn(x, y), normed * gain + bias)


def test_projection_logit_by_hand():
    torch.manual_seed(1)
    d = MLPDiscriminator((3,), width=4, layers=1, cond="projection", num_classes=2)
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])
    out = d(x, y)
    phi = out.features  # the features the linear head reads
    want = phi @ d.head.weight[0] + d.head.bias[0] + (d.projection.embed.weight[y] * phi).sum(1)
    assert_close(out.logits, want)
    # another label changes the logit by exactly <embed(y') - embed(y), phi>
    other = d(x, 1 - y).logits
    assert_close(other - out.logits, ((d.projection.embed.weight[1 - y] - d.projection.embed.weight[y]) * phi).sum(1))


def test_concat_input_planes_and_units():
    x = torch.zeros(2, 1, 2, 2)
    planes = concat_label_input(x, torch.tensor([2, 0]), 3)
    assert planes.shape == (2, 4, 2, 2)
    assert planes[0, 3].eq(1).all() and planes[0, 1:3].eq(0).all() and planes[1, 1].eq(1).all()
    units = concat_label_input(torch.ones(2, 2), torch.tensor([1, 0]), 2)
    assert units.tolist() == [[1, 1, 0, 1], [1, 1, 1, 0]]


def test_acgan_terms_by_hand():
    real_logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    fake_logits = torch.tensor([[0.0, 3.0], [1.0, 1.0]])
    y_real, y_fake = torch.tensor([0, 1]), torch.tensor([1, 0])
    ce = lambda logits, y: float(np.mean([math.log(sum(math.exp(v) for v in row)) - row[c]  # noqa: E731
                                          for row, c in zip(logits.tolist(), y.tolist())]))
    inputs = TermInputs("d", DOutput(torch.zeros(2), class_logits=fake_logits), None, y_fake,
                        DOutput(torch.zeros(2), class_logits=real_logits), y_real)
    odena = ClassTerm(ClassTerm.Params(weight=0.5, d_fake=True), None)
    real_only = ClassTerm(ClassTerm.Params(weight=0.5, d_fake=False), None)
    assert_close(odena.d_loss(inputs)[0], torch.tensor(0.5 * (ce(real_logits, y_real) + ce(fake_logits, y_fake))))
    assert_close(real_only.d_loss(inputs)[0], torch.tensor(0.5 * ce(real_logits, y_real)))
    g_inputs = TermInputs("g", DOutput(torch.zeros(2), class_logits=fake_logits), None, y_fake)
    for term in (odena, real_only):  # G's term is the same in both variants
        assert_close(term.g_loss(g_inputs)[0], torch.tensor(0.5 * ce(fake_logits, y_fake)))
    assert float(odena.d_loss(inputs)[1]["ac_acc_real"]) == 1.0


def test_gaussian_nll_term_by_hand():
    mean = torch.tensor([[0.0, 1.0]])
    log_std = torch.tensor([[0.0, math.log(2.0)]])
    x = torch.tensor([[1.0, 1.0]])
    # code 1: N(1; 0, 1): 0.5 + 0.5 log 2pi; code 2: N(1; 1, 4): log 2 + 0.5 log 2pi
    want = 0.5 + 0.5 * math.log(2 * math.pi) + math.log(2.0) + 0.5 * math.log(2 * math.pi)
    assert_close(terms.gaussian_nll(mean, log_std, x), torch.tensor(want))


def test_unconditional_nets_refuse_labels_and_conditional_ones_need_them():
    cfg = load_config("digits", TINY_DIGITS)
    spec = DataSpec(kind="image", shape=[1, 8, 8], num_classes=10)
    G, D = build_nets(cfg.model, spec)
    z, y = G.sample_z(2), torch.tensor([1, 2])
    with pytest.raises(ValueError, match="unconditional"):
        G(z, y)
    with pytest.raises(ValueError, match="unconditional"):
        D(G(z), y)
    cG, cD = build_nets(load_config("digits", TINY_DIGITS + METHODS["cgan"]).model, spec)
    with pytest.raises(ValueError, match="needs labels"):
        cG(z)
    with pytest.raises(ValueError, match="needs labels"):
        cD(cG(z, y))


# --------------------------------------------------------------------------- every method, both architectures


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_shapes_and_one_step(method, arch):
    base = RING_COND if arch == "mlp" else TINY_DIGITS
    cfg = load_config("ring" if arch == "mlp" else "digits", base + METHODS[method])
    torch.manual_seed(0)
    trainer = Trainer(cfg, None, progress=False)
    G, D = trainer.G, trainer.D
    z, y = G.sample_z(4), torch.tensor([0, 1, 2, 3])
    x = G(z, y)
    assert x.shape == (4, *trainer.spec.shape)
    out = D(x, y)
    assert out.logits.shape == (4,)
    if "acgan" in method:
        assert out.class_logits.shape == (4, trainer.spec.num_classes)
    stats = trainer.iteration(want_stats=True)
    assert all(math.isfinite(float(v)) for v in stats.values())
    if "acgan" in method:
        assert {"ac_d", "ac_g", "ac_acc_real"} <= set(stats)
    # the label changes the sample: G uses it
    G.eval()
    assert not torch.allclose(G(z, y), G(z, (y + 1) % trainer.spec.num_classes))


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("name", sorted(OBJECTIVES.names()))
def test_every_objective_with_every_method(name, method):
    over = METHODS[method]
    ae = name in ("began", "ebgan")
    if ae and any(o.startswith("model.d_cond") for o in over):
        pytest.skip("autoencoder discriminators take no model.d_cond (tested as an error)")
    arch = ["model.arch=mlp-ae"] if ae else []
    cfg = load_config("ring", RING_COND + arch + ["model.d_norm=none", f"objective.name={name}"] + over)
    torch.manual_seed(0)
    trainer = Trainer(cfg, None, progress=False)
    before = {k: v.detach().clone() for k, v in trainer.D.state_dict().items()}
    for _ in range(2):
        stats = trainer.iteration(want_stats=True)
    assert all(math.isfinite(float(v)) for v in stats.values())
    if "acgan" in method:
        assert "ac_d" in stats and "ac_g" in stats
        assert not torch.equal(before["class_head.weight"], trainer.D.class_head.weight)
    if "projection" in method:
        assert not torch.equal(before["projection.embed.weight"], trainer.D.projection.embed.weight)


def test_autoencoder_discriminators_refuse_d_cond():
    with pytest.raises(GankitError, match="not available for the autoencoder discriminator"):
        Trainer(load_config("digits-began", TINY_DIGITS + METHODS["projection"]), None, progress=False)


def test_a_folder_with_class_subfolders_trains_conditionally(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("cats", "dogs", "owls"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(tmp_path / "photos" / name / f"{i}.png")
    run = gankit.train("folder-dcgan", [f"data.path={tmp_path / 'photos'}", "data.resolution=8", "data.batch_size=6",
                                        "train.steps=2", "model.g_width=8", "model.d_width=8"] + METHODS["acgan"],
                       out=tmp_path / "r", progress=False).path
    model = gankit.load(run)
    assert model.class_names == ["cats", "dogs", "owls"]
    assert model.sample(2, label="owls").shape == (2, 8, 8, 3)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_checkpoint_round_trip_and_exact_resume(tmp_path, method):
    over = TINY_DIGITS + METHODS[method] + ["train.checkpoint_every=3", "train.ema=0.9"]
    straight = gankit.train("digits", over + ["train.steps=6"], out=tmp_path / "a", progress=False)
    gankit.train("digits", over + ["train.steps=3"], out=tmp_path / "b", progress=False)
    gankit.resume(tmp_path / "b", steps=6, progress=False)
    a, b = final_tensors(straight.path), final_tensors(tmp_path / "b")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    model = gankit.load(straight.path)
    assert model.conditional and model.uses_ema
    x = model.sample(5, seed=3, label=2)
    assert x.shape == (5, 8, 8, 1) and np.array_equal(x, gankit.load(straight.path).sample(5, seed=3, label=2))
    for key, value in model.D.state_dict().items():  # D, with its heads and projection, round-trips
        assert torch.equal(value, a[f"D.{key}"])


def test_exact_resume_of_a_conditional_mlp_on_the_ring(tmp_path):
    over = RING_COND + METHODS["cbn-projection"] + ["objective.terms={ac: {}}", "train.checkpoint_every=3"]
    straight = gankit.train("ring", over + ["train.steps=6"], out=tmp_path / "a", progress=False)
    gankit.train("ring", over + ["train.steps=3"], out=tmp_path / "b", progress=False)
    gankit.resume(tmp_path / "b", steps=6, progress=False)
    a, b = final_tensors(straight.path), final_tensors(tmp_path / "b")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- sampling by label


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cgan") / "run"
    return gankit.train("digits-cgan", TINY_DIGITS + ["train.steps=20"], out=out, progress=False).path


def test_sample_by_label_name_and_per_class(cgan_run, tmp_path):
    model = gankit.load(cgan_run)
    assert model.class_names == [str(i) for i in range(10)]
    z, y = model.latents(6, seed=1, label="7")
    assert y.tolist() == [7] * 6
    assert torch.equal(model.generate(z, 7), model.generate(6, seed=1, label=7))
    uniform = model.latents(2000, seed=0)[1]
    assert set(uniform.tolist()) == set(range(10))  # unlabelled draws cover the classes
    path = model.save_samples(tmp_path / "pc.npz", 0, seed=2, per_class=3)
    with np.load(path) as f:
        assert f["x"].shape == (30, 8, 8, 1) and f["y"].tolist() == sorted(list(range(10)) * 3)
        assert f["z"].shape == (30, model.G.latent_dim)
        # a sample is reproduced from its stored latent and label
        again = model.to_data(model.generate(torch.from_numpy(f["z"][:4]), torch.from_numpy(f["y"][:4])))
        assert np.array_equal(again, f["x"][:4])
    png = model.save_samples(tmp_path / "pc.png", 0, per_class=4)
    from PIL import Image

    with Image.open(png) as im:
        assert im.width > im.height * 0.3  # a picture with a label column was written


def test_cli_sample_label_errors_and_npz(cgan_run, tmp_path):
    ok = cli("sample", str(cgan_run), "--label", "3", "--n", "5", "--out", str(tmp_path / "x.npz"))
    assert ok.returncode == 0, ok.stderr
    assert "of class 3" in ok.stdout
    with np.load(tmp_path / "x.npz") as f:
        assert f["y"].tolist() == [3] * 5
    bad = cli("sample", str(cgan_run), "--label", "12", "--out", str(tmp_path / "y.png"))
    assert bad.returncode == 2 and "outside the model's 10 classes" in bad.stderr
    name = cli("sample", str(cgan_run), "--label", "Sneaker", "--out", str(tmp_path / "y.png"))
    assert name.returncode == 2 and "valid: 0, 1, 2" in name.stderr


def test_label_on_an_unconditional_model_is_refused(tmp_path):
    run = gankit.train("digits", TINY_DIGITS + ["train.steps=2"], out=tmp_path / "u", progress=False).path
    proc = cli("sample", str(run), "--label", "3", "--out", str(tmp_path / "u.png"))
    assert proc.returncode == 2 and "unconditional" in proc.stderr and "fashion-cgan" in proc.stderr
    with pytest.raises(GankitError, match="--per-class needs a conditional model"):
        gankit.load(run).save_samples(tmp_path / "u.png", 0, per_class=2)


# --------------------------------------------------------------------------- config and data errors


@pytest.mark.parametrize("overrides, match", [
    (["model.g_cond=concat"], "D never sees the labels"),
    (["model.d_cond=projection"], "needs a conditional generator"),
    (["objective.terms={ac: {}}"], "needs a conditional generator"),
    (["model.g_cond=cbn", "model.g_norm=none", "model.d_cond=concat"], "needs model.g_norm=batch"),
    (["model.g_cond=concat", "model.d_cond=concat", "model.d_pack=2"], "cannot be used with class conditioning"),
    (["model.g_cond=fancy"], "must be one of none, concat, cbn"),
    (["model.embed_dim=4"], "needs model.g_cond=concat"),
    (["objective.info=1", "objective.terms={info: {}}", "model.z_categories=3"], "both set InfoGAN's term"),
])
def test_config_rules_name_the_key(overrides, match):
    with pytest.raises(GankitError, match=match):
        load_config("digits", overrides)


def test_conditional_config_on_unlabelled_data_and_unknown_term():
    with pytest.raises(GankitError, match="needs labelled data, but 'gaussian1d' has no class labels"):
        Trainer(load_config("gaussian1d", ["model.g_cond=concat", "model.d_cond=concat"]), None, progress=False)
    with pytest.raises(GankitError, match="unknown term 'acc'.*did you mean 'ac'"):
        Trainer(load_config("digits", TINY_DIGITS + ["model.g_cond=concat", "objective.terms={acc: {}}",
                                                      "model.d_cond=concat"]), None, progress=False)
    with pytest.raises(GankitError, match="objective.terms.ac.weightt"):
        Trainer(load_config("digits", TINY_DIGITS + ["model.g_cond=concat", "objective.terms={ac: {weightt: 1}}"]),
                None, progress=False)


def test_toy_mixtures_yield_their_mode_index():
    trainer = Trainer(load_config("ring", RING_COND + METHODS["cgan"]), None, progress=False)
    x, y = trainer.sampler.next()
    modes = trainer.data.modes
    assert torch.equal(torch.cdist(x, modes).argmin(1), y)


def test_resume_refuses_data_with_other_classes(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (40, 8, 8, 1), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(40) % 3)
    over = ["data.name=npz", f"data.path={tmp_path / 'd.npz'}", "train.steps=2", "data.batch_size=8",
            "model.g_width=8", "model.d_width=8"] + METHODS["cgan"]
    run = gankit.train("digits", over, out=tmp_path / "r", progress=False).path
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(40) % 4)
    with pytest.raises(GankitError, match="trained on data with 3 classes.*now has 4"):
        gankit.resume(run, steps=4, progress=False)


def test_report_shows_per_class_rows_and_infogan_codes(cgan_run, tmp_path):
    from PIL import Image

    assert "Samples at step" in (cgan_run / "report.html").read_text()
    last = sorted((cgan_run / "samples").glob("step_*.png"))[-1]
    with Image.open(last) as im:  # the labelled per-class grid (a plain gray grid is mode L)
        assert im.mode == "RGB" and im.width > 6 * 8 * 4
    info = gankit.train("digits-infogan", TINY_DIGITS + ["train.steps=4"], out=tmp_path / "i", progress=False).path
    assert {"codes_c0.png", "codes_c1.png", "codes_categorical.png"} <= {p.name for p in (info / "samples").iterdir()}
    assert "What the latent codes control" in (info / "report.html").read_text()
    model = gankit.load(info)
    out = model.D(torch.zeros(3, 1, 8, 8))
    assert out.code.shape == (3, 10) and out.code_mean.shape == (3, 2) and out.code_log_std.shape == (3, 2)
