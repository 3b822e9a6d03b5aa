"""The modern architectures (resnet, sagan, biggan, stylegan): shapes at two resolutions with every
conditioning, one step per objective, checkpoint round trip, exact resume, and the clear errors."""
import math

import numpy as np
import pytest
import torch
from torch.testing import assert_close

import gankit
from gankit.config import ModelConfig, load_config
from gankit.errors import GankitError
from gankit.nets import DataSpec, build_nets
from gankit.nets.spectral import count_spectral_norms
from gankit.registry import OBJECTIVES
from gankit.training.loop import Trainer

from helpers import final_tensors

ARCHS = {  # the minimal model overrides of each, at tiny widths
    "resnet": {"d_norm": "none", "d_sn": True},
    "sagan": {"d_norm": "none", "d_sn": True, "g_sn": True},
    "biggan": {"d_norm": "none", "d_sn": True, "g_sn": True, "z_dim": 12},
    "stylegan": {"g_norm": "none", "d_norm": "none", "init": "default", "mapping_layers": 2},
}
SIDES = {"resnet": (8, 28), "sagan": (16, 32), "biggan": (8, 28), "stylegan": (8, 28)}
CONDS = [("none", "none"), ("concat", "concat"), ("cbn", "projection"), ("concat", "projection")]


def _overrides(arch: str) -> list:
    return [f"model.arch={arch}", "model.g_width=4", "model.d_width=8", "model.z_dim=12", "data.batch_size=8",
            "train.threads=1", "train.log_every=2", "train.sample_every=100", "eval.final=false"] + [
        f"model.{k}={str(v).lower()}" for k, v in ARCHS[arch].items() if k != "z_dim"] + (
        ["data.resolution=16"] if arch == "sagan" else [])


def _nets(arch, side, g_cond="none", d_cond="none", **extra):
    cfg = ModelConfig(arch=arch, g_width=4, d_width=8, g_cond=g_cond, d_cond=d_cond, **{**ARCHS[arch], **extra})
    cfg.validate()
    return build_nets(cfg, DataSpec(kind="image", shape=(1, side, side), num_classes=3, name="test"))


@pytest.mark.parametrize("arch", sorted(ARCHS))
@pytest.mark.parametrize("g_cond,d_cond", CONDS)
def test_shapes_at_two_resolutions_with_every_conditioning(arch, g_cond, d_cond):
    if arch == "stylegan" and g_cond == "cbn":
        pytest.skip("stylegan refuses cbn (tested as an error)")
    for side in SIDES[arch]:
        torch.manual_seed(0)
        G, D = _nets(arch, side, g_cond, d_cond)
        y = torch.tensor([0, 1, 2, 0]) if g_cond != "none" else None
        x = G(G.sample_z(4), y)
        assert x.shape == (4, 1, side, side) and x.abs().max() <= 1
        out = D(x, torch.tensor([0, 1, 2, 0]) if d_cond != "none" else None)
        assert out.logits.shape == (4,) and out.features.shape[0] == 4
        if g_cond != "none":  # G uses the label (cBN starts class-blind: gain 1, bias 0 for every class)
            with torch.no_grad():
                for m in G.modules():
                    if isinstance(m, torch.nn.Embedding):
                        m.weight.add_(torch.randn_like(m.weight))
            G.eval()
            z = G.sample_z(4)
            if arch == "stylegan":
                G.noise_mode = "const"
            assert not torch.allclose(G(z, y), G(z, (y + 1) % 3))


def test_sn_is_where_asked_and_attention_where_configured():
    G, D = _nets("sagan", 32, attn_res=8)
    assert count_spectral_norms(D) > 0 and count_spectral_norms(G) > 0
    attn_g = [m for m in G.modules() if type(m).__name__ == "SelfAttention"]
    attn_d = [m for m in D.modules() if type(m).__name__ == "SelfAttention"]
    assert len(attn_g) == 1 and len(attn_d) == 1
    G, D = _nets("resnet", 32)
    assert count_spectral_norms(G) == 0 and not any(type(m).__name__ == "SelfAttention" for m in G.modules())


@pytest.mark.parametrize("arch", sorted(ARCHS))
@pytest.mark.parametrize("name", sorted(OBJECTIVES.names()))
def test_one_step_per_objective(arch, name):
    if name in ("began", "ebgan"):
        pytest.skip("autoencoder objectives need an autoencoder D (model.arch=*-ae), tested as an error below")
    over = _overrides(arch) + [f"objective.name={name}"]
    cfg = load_config("digits", over)
    torch.manual_seed(0)
    trainer = Trainer(cfg, None, progress=False)
    before = [p.detach().clone() for p in trainer.G.parameters()]
    stats = trainer.iteration(want_stats=True)
    assert all(math.isfinite(float(v)) for v in stats.values()), stats
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.G.parameters()))


def test_autoencoder_objective_on_a_resnet_says_what_to_do():
    cfg = load_config("digits", _overrides("resnet") + ["objective.name=began"])
    trainer = Trainer(cfg, None, progress=False)
    with pytest.raises((GankitError, ValueError), match="autoencoder|reconstruction"):
        trainer.iteration(want_stats=True)


def test_biggan_with_the_ortho_term_and_conditioning_trains():
    cfg = load_config("digits", _overrides("biggan") + ["model.g_cond=cbn", "model.d_cond=projection",
                                                        "objective.name=hinge", "objective.terms={ortho: {nets: both}}"])
    trainer = Trainer(cfg, None, progress=False)
    stats = trainer.iteration(want_stats=True)
    assert stats["ortho_g"] > 0 and stats["ortho_d"] > 0


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_checkpoint_round_trip_and_exact_resume(tmp_path, arch):
    cond = ["model.g_cond=concat", "model.d_cond=projection"]
    over = _overrides(arch) + cond + ["train.checkpoint_every=2", "train.ema=0.9", "objective.name=hinge",
                                      "objective.d_steps=2"]
    straight = gankit.train("digits", over + ["train.steps=4"], out=tmp_path / "a", progress=False)
    gankit.train("digits", over + ["train.steps=2"], out=tmp_path / "b", progress=False)
    gankit.resume(tmp_path / "b", steps=4, progress=False)
    a, b = final_tensors(straight.path), final_tensors(tmp_path / "b")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    if ARCHS[arch].get("d_sn"):
        assert any(k.endswith("._u") and k.startswith("D.") for k in a)  # SN state is checkpointed
    model = gankit.load(straight.path)
    x = model.sample(3, seed=1, label=1)
    side = 16 if arch == "sagan" else 8
    assert x.shape == (3, side, side, 1) and np.array_equal(x, gankit.load(straight.path).sample(3, seed=1, label=1))
    for key, value in model.D.state_dict().items():
        assert torch.equal(value, a[f"D.{key}"])


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_the_presets_build_and_step(arch):
    preset = {"resnet": "digits-resnet", "sagan": "folder-sagan"}.get(arch, f"fashion-{arch}")
    cfg = load_config(preset, ["model.g_width=4", "model.d_width=8", "train.threads=1"])
    assert cfg.model.arch == arch and cfg.description
    spec = DataSpec(kind="image", shape=(1, 28, 28) if preset.startswith("fashion") else (3, 32, 32) if
                    preset.startswith("folder") else (1, 8, 8), num_classes=10, name="test")
    G, D = build_nets(cfg.model, spec)
    y = G.sample_y(2)
    assert G(G.sample_z(2), y).shape == (2, *spec.shape)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_a_resolution_it_cannot_make(arch):
    for side, match in ((4, "side 8 to 128"), (256, "side 8 to 128"), (36, "4..7 times a power of two")):
        with pytest.raises(GankitError, match=match):
            _nets(arch, side)


def test_architecture_config_errors_name_the_key():
    with pytest.raises(GankitError, match="sagan at 8x8 has no resolution"):
        _nets("sagan", 8)
    with pytest.raises(GankitError, match="'model.attn_res' = 12 .* valid: 8, 16"):
        _nets("sagan", 32, attn_res=12)
    with pytest.raises(GankitError, match="'model.z_dim' = 10 must be a multiple of 4"):
        _nets("biggan", 32, z_dim=10)
    with pytest.raises(GankitError, match="model.g_cond=cbn is not available for model.arch=stylegan"):
        _nets("stylegan", 8, g_cond="cbn", g_norm="batch")
    with pytest.raises(GankitError, match="set model.g_norm=none"):
        _nets("stylegan", 8, g_norm="batch")
    with pytest.raises(GankitError, match="model.g_norm=batch"):
        _nets("biggan", 8, g_norm="none")
    for key, value in (("style_norm", "x"), ("style_mixing", 1.5), ("attn_res", -1), ("mapping_lr_mul", 0.0)):
        with pytest.raises(GankitError, match=f"model.{key}"):
            ModelConfig(**{key: value}).validate()


# --------------------------------------------------------------------------- StyleGAN's generator


def _style(**extra):
    torch.manual_seed(0)
    G, _ = _nets("stylegan", 16, **extra)
    return G


def test_w_avg_tracks_w_in_training_only_and_truncation_pulls_to_it():
    G = _style(style_mixing=0.0)
    assert torch.equal(G.w_avg, torch.zeros_like(G.w_avg))
    z = G.sample_z(16)
    G(z)
    w = G.mapping_w(z)
    assert_close(G.w_avg, 0.005 * w.detach().mean(0))
    G.eval()
    avg = G.w_avg.clone()
    G.noise_mode = "const"
    a = G.truncated(z, 0.0)
    assert torch.equal(G.w_avg, avg)
    assert_close(a, a[:1].expand_as(a))  # psi 0: every z makes the average image
    assert torch.equal(G.truncated(z, 1.0), G(z))
    ws = G.w_avg.lerp(w, 0.5).unsqueeze(1).repeat(1, G.num_ws, 1)
    assert_close(G(z, psi=0.5), G.synthesis(ws))


def test_style_mixing_mixes_in_training_only():
    G = _style(style_mixing=1.0)
    G.noise_mode = "none"
    z = G.sample_z(4)
    torch.manual_seed(5)
    a = G(z)
    torch.manual_seed(6)
    b = G(z)
    assert not torch.allclose(a, b)  # another second latent and crossover
    G.eval()
    assert torch.equal(G(z), G(z))
    G0 = _style(style_mixing=0.0)
    G0.noise_mode = "none"
    assert torch.equal(G0(z), G0(z))


def test_adain_style_generator_and_non_fused_training_path():
    G = _style(style_norm="adain")
    assert any(type(m).__name__ == "AdaIN" for m in G.modules())
    z = G.sample_z(3)
    G.noise_mode = "const"
    G.eval()
    G2 = _style()
    G2.eval()
    G2.noise_mode = "const"
    plain = G2(z)  # the default, non-fused path (what export traces)
    convs = [m for m in G2.modules() if type(m).__name__ == "ModulatedConv2d"]
    assert convs and all(m.fused is False for m in convs)
    for m in convs:
        m.fused = True
    assert_close(G2(z), plain, rtol=1e-4, atol=1e-5)  # the grouped path makes the same images


def test_spectral_norm_on_dcgan_resumes_exactly(tmp_path):
    """model.d_sn / model.g_sn on an architecture of before (DCGAN, with its ConvTranspose2d layers)."""
    over = ["model.g_width=8", "model.d_width=8", "model.z_dim=8", "data.batch_size=8", "train.threads=1",
            "model.d_norm=none", "model.d_sn=true", "model.g_sn=true", "train.checkpoint_every=2",
            "train.sample_every=100", "eval.final=false"]
    straight = gankit.train("digits", over + ["train.steps=4"], out=tmp_path / "a", progress=False)
    gankit.train("digits", over + ["train.steps=2"], out=tmp_path / "b", progress=False)
    gankit.resume(tmp_path / "b", steps=4, progress=False)
    a, b = final_tensors(straight.path), final_tensors(tmp_path / "b")
    assert any(k.startswith("G.") and k.endswith("._v") for k in a)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("arch", ["stylegan", "biggan"])
def test_onnx_export_of_the_new_generators(tmp_path, arch):
    """The non-fused modulated conv and the const noise in eval make StyleGAN's G exportable; export checks
    the file against G with onnxruntime."""
    pytest.importorskip("onnxruntime")
    over = _overrides(arch) + ["model.g_cond=concat", "model.d_cond=projection", "train.steps=1"]
    run = gankit.train("digits", over, out=tmp_path / "r", progress=False).path
    result = gankit.export(run, tmp_path / "g.onnx")
    assert result.meta["check"]["checked"] and result.meta["check"]["max_abs_diff"] < 1e-4


def test_bilinear_upsampling_is_the_fir_1331_upsampling_inside_the_border():
    """docs/architectures.md: StyleGAN2's [1, 3, 3, 1] FIR upsampling (zero insertion, then the
    separable kernel with gain 4) equals the bilinear x2 upsampling stylegan uses, but at the border."""
    x = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    k1 = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = (k1[:, None] * k1[None, :]) / 64 * 4
    fir = torch.nn.functional.conv_transpose2d(x, k.expand(3, 1, 4, 4), stride=2, padding=1, groups=3)
    bilinear = torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert_close(fir[..., 1:-1, 1:-1], bilinear[..., 1:-1, 1:-1])
    assert not torch.allclose(fir, bilinear)  # zero padding against edge clamping, on the border only
