"""The modern layers one by one, against a hand computation or a reference identity: spectral norm,
self-attention, ResNet blocks, ProGAN's layers, StyleGAN's layers, BigGAN's cBN and orthogonal term."""
import copy
import math

import pytest
import torch
from torch import nn
import torch.nn.functional as F
from torch.testing import assert_close

from gankit.config import ModelConfig
from gankit.errors import GankitError
from gankit.nets import DataSpec, build_nets
from gankit.nets.attention import SelfAttention
from gankit.nets.biggan import ProjectedBatchNorm
from gankit.nets.progan_layers import EqualConv2d, EqualLinear, MinibatchStd, PixelNorm
from gankit.nets.resblocks import DBlock, GBlock, OptimizedDBlock, sum_pool
from gankit.nets.resnet import ResNetDiscriminator
from gankit.nets.spectral import apply_spectral_norm, count_spectral_norms
from gankit.nets.style import AdaIN, MappingNetwork, ModulatedConv2d, NoiseInjection, modulated_conv2d
from gankit.objectives.auxiliary import TermInputs
from gankit.objectives.ortho_term import OrthoTerm, off_diagonal_ortho
from gankit.nets.output import DOutput


def _sigma(weight: torch.Tensor, dim: int = 0) -> float:
    mat = weight.transpose(0, dim).flatten(1) if dim else weight.flatten(1)
    return float(torch.linalg.matrix_norm(mat.detach(), ord=2))


# --------------------------------------------------------------------------- spectral norm


@pytest.mark.parametrize("layer", [nn.Linear(20, 30), nn.Conv2d(3, 8, 3), nn.ConvTranspose2d(6, 4, 4), nn.Embedding(10, 7)])
def test_spectral_norm_largest_singular_value_is_one_after_power_iterations(layer):
    torch.manual_seed(0)
    with torch.no_grad():
        layer.weight.mul_(5.0)  # sigma far from 1 before
    net = apply_spectral_norm(nn.Sequential(layer))
    assert count_spectral_norms(net) == 1
    net.train()
    x = torch.randint(10, (2,)) if isinstance(layer, nn.Embedding) else (
        torch.randn(2, 20) if isinstance(layer, nn.Linear) else torch.randn(2, layer.in_channels, 6, 6))
    # one power iteration per training forward pass; the layer's initial weights come from the RNG state at
    # collection (parametrize builds it before the seed above), so converge well past the tolerance: 50
    # iterations left 1.07e-3 on one CI run
    for _ in range(200):
        net(x)
    dim = 1 if isinstance(layer, nn.ConvTranspose2d) else 0
    assert _sigma(layer.parametrizations.weight.original, dim) > 2.0
    assert abs(_sigma(layer.weight, dim) - 1.0) < 1e-3


def test_spectral_norm_state_is_in_the_state_dict_and_frozen_in_eval():
    torch.manual_seed(0)
    net = apply_spectral_norm(nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)))
    assert count_spectral_norms(net) == 2
    assert apply_spectral_norm(net) is net and count_spectral_norms(net) == 2  # twice is harmless
    keys = set(net.state_dict())
    assert {"0.parametrizations.weight.0._u", "0.parametrizations.weight.0._v", "0.parametrizations.weight.original"} <= keys
    u = net[0].parametrizations.weight[0]._u.clone()
    net.eval()
    net(torch.randn(3, 5))
    assert torch.equal(u, net[0].parametrizations.weight[0]._u)
    net.train()
    net(torch.randn(3, 5))
    assert not torch.equal(u, net[0].parametrizations.weight[0]._u)


def test_spectrally_normed_d_called_twice_before_one_backward():
    """D(real), D(fake), then one backward (PyTorch issues 55368, 66363, 68327): the gradients must be
    those of two separate forward/backward passes from the same state."""
    torch.manual_seed(0)
    d1 = apply_spectral_norm(ResNetDiscriminator((1, 8, 8), 8))
    d2 = copy.deepcopy(d1)
    real, fake = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8)
    (F.relu(1 - d1(real).logits).mean() + F.relu(1 + d1(fake).logits).mean()).backward()
    F.relu(1 - d2(real).logits).mean().backward()
    F.relu(1 + d2(fake).logits).mean().backward()
    for (name, p1), p2 in zip(d1.named_parameters(), d2.parameters()):
        assert p1.grad is not None and torch.isfinite(p1.grad).all(), name
        assert_close(p1.grad, p2.grad, msg=name)
    for b1, b2 in zip(d1.buffers(), d2.buffers()):
        assert torch.equal(b1, b2)


def test_build_nets_applies_sn_after_the_init_to_d_heads_and_projection():
    cfg = ModelConfig(arch="dcgan", g_width=8, d_width=8, d_norm="none", d_sn=True, d_cond="projection")
    cfg.validate()
    G, D = build_nets(cfg, DataSpec(kind="image", shape=(1, 8, 8), num_classes=3), class_head=True)
    assert count_spectral_norms(G) == 0
    assert count_spectral_norms(D) == 4  # 2 convs, the head, the projection embedding, the class head
    w = D.inner.body[0].parametrizations.weight.original
    assert abs(float(w.detach().std()) - 0.02) < 0.01  # dcgan init reached the stored weight


# --------------------------------------------------------------------------- self-attention


def test_attention_with_gamma_zero_is_the_identity_and_has_the_sagan_shapes():
    torch.manual_seed(0)
    attn = SelfAttention(16)
    assert float(attn.gamma.detach()) == 0.0
    assert attn.query.out_channels == 2 and attn.key.out_channels == 2 and attn.value.out_channels == 8
    x = torch.randn(2, 16, 6, 6)
    assert torch.equal(attn(x), x)
    with torch.no_grad():
        attn.gamma.fill_(0.5)
    assert_close(attn(x), x + 0.5 * attn.attention(x))
    assert attn.attention(x).abs().mean() > 1e-3


def test_attention_by_hand_with_pooled_keys():
    torch.manual_seed(1)
    attn = SelfAttention(8)
    x = torch.randn(1, 8, 4, 4)
    q = attn.query(x)[0].flatten(1)  # [1, 16]
    k = F.max_pool2d(attn.key(x), 2)[0].flatten(1)  # [1, 4]: a quarter of the positions
    v = F.max_pool2d(attn.value(x), 2)[0].flatten(1)  # [4, 4]
    out = torch.zeros(4, 16)
    for i in range(16):
        weights = torch.softmax(torch.stack([q[:, i] @ k[:, j] for j in range(4)]), 0)
        out[:, i] = sum(weights[j] * v[:, j] for j in range(4))
    expected = attn.out(out.view(1, 4, 4, 4))
    assert_close(attn.attention(x), expected)


# --------------------------------------------------------------------------- ResNet blocks


def test_resnet_blocks_shapes_and_shortcuts():
    bn = nn.BatchNorm2d
    assert GBlock(8, 4, bn).shortcut.kernel_size == (1, 1) and GBlock(8, 8, bn).shortcut is None
    assert GBlock(8, 4, bn)(torch.randn(2, 8, 4, 4)).shape == (2, 4, 8, 8)
    assert DBlock(4, 8)(torch.randn(2, 4, 8, 8)).shape == (2, 8, 4, 4)
    assert DBlock(8, 8, downsample=False).shortcut is None
    assert OptimizedDBlock(1, 8)(torch.randn(2, 1, 8, 8)).shape == (2, 8, 4, 4)


def test_d_blocks_by_hand():
    torch.manual_seed(0)
    block = OptimizedDBlock(1, 2)
    with torch.no_grad():  # residual path off: the output is the shortcut, pool then 1x1 conv
        block.conv2.weight.zero_()
        block.conv2.bias.zero_()
    x = torch.randn(2, 1, 4, 4)
    assert_close(block(x), block.shortcut(F.avg_pool2d(x, 2)))
    h = torch.randn(2, 3, 2, 2)
    assert_close(sum_pool(h), F.relu(h).sum(dim=(2, 3)))  # sum, not mean


def test_g_block_feeds_the_condition_to_conditional_norms():
    torch.manual_seed(0)
    block = GBlock(4, 4, lambda f: ProjectedBatchNorm(f, 3))
    x = torch.randn(4, 4, 2, 2)
    assert not torch.allclose(block(x, torch.zeros(4, 3)), block(x, torch.ones(4, 3)))


# --------------------------------------------------------------------------- ProGAN layers


def test_pixel_norm_and_minibatch_std_by_hand():
    x = torch.randn(8, 3, 2, 2)
    assert_close(PixelNorm()(x), x / torch.sqrt((x ** 2).mean(1, keepdim=True) + 1e-8))
    out = MinibatchStd(4)(x)
    assert out.shape == (8, 4, 2, 2) and torch.equal(out[:, :3], x)
    for k in range(2):  # group k: samples k, k + 2, k + 4, k + 6
        group = x[k::2]
        std = (group.var(0, unbiased=False) + 1e-8).sqrt().mean()
        assert_close(out[k::2, 3], std.expand(4, 2, 2))


def test_equalized_lr_scale():
    torch.manual_seed(0)
    lin = EqualLinear(400, 30, lr_mul=0.01, bias_init=1.0)
    assert abs(float(lin.weight.detach().std()) - 100.0) < 5.0  # stored N(0, 1) / lr_mul
    assert lin.scale == pytest.approx(0.01 / math.sqrt(400))
    x = torch.randn(5, 400)
    assert_close(lin(x), x @ (lin.weight * 0.01 / 20).t() + lin.bias * 0.01)
    assert_close(lin.bias * 0.01, torch.ones(30))
    # the effective weight is N(0, 1/fan_in): unit-variance inputs give unit-variance outputs
    assert 0.8 < float(lin(torch.randn(2000, 400)).detach().sub(1).std()) < 1.2
    conv = EqualConv2d(4, 6, 3, padding=1)
    assert conv.scale == pytest.approx(1 / math.sqrt(36))
    x = torch.randn(2, 4, 5, 5)
    assert_close(conv(x), F.conv2d(x, conv.weight / 6, conv.bias, padding=1))
    # gradient of the stored weight = scale x gradient of the effective one
    lin2 = EqualLinear(4, 3, lr_mul=0.5)
    x = torch.randn(6, 4)
    lin2(x).sum().backward()
    eff = (lin2.weight * lin2.scale).detach().requires_grad_(True)
    F.linear(x, eff, lin2.bias.detach() * 0.5).sum().backward()
    assert_close(lin2.weight.grad, eff.grad * lin2.scale)


# --------------------------------------------------------------------------- StyleGAN layers


@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("kernel", [1, 3])
def test_modulated_conv_grouped_equals_non_fused_and_hand(demodulate, kernel):
    torch.manual_seed(0)
    x, weight, styles = torch.randn(3, 4, 5, 5), torch.randn(6, 4, kernel, kernel), torch.rand(3, 4) + 0.5
    fused = modulated_conv2d(x, weight, styles, demodulate, kernel // 2, fused=True)
    plain = modulated_conv2d(x, weight, styles, demodulate, kernel // 2, fused=False)
    assert_close(fused, plain, rtol=1e-4, atol=1e-5)
    for b in range(3):  # per sample: w' = w s, d = 1 / ||w'|| per output channel
        w = weight * styles[b].view(1, 4, 1, 1)
        if demodulate:
            w = w / torch.sqrt(w.pow(2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        assert_close(plain[b:b + 1], F.conv2d(x[b:b + 1], w, padding=kernel // 2), rtol=1e-4, atol=1e-5)


def test_modulated_conv_module_paths_and_styles_start_at_one():
    torch.manual_seed(0)
    conv = ModulatedConv2d(4, 5, 3, 8, upsample=True)
    assert_close(conv.modulation(torch.zeros(2, 8)), torch.ones(2, 4))
    x, w = torch.randn(2, 4, 3, 3), torch.randn(2, 8)
    conv.fused = True
    a = conv(x, w)
    conv.fused = False
    assert a.shape == (2, 5, 6, 6)
    assert_close(a, conv(x, w), rtol=1e-4, atol=1e-5)


def test_noise_starts_off_and_const_mode_is_fixed():
    torch.manual_seed(0)
    noise = NoiseInjection(3, 4)
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(noise(x), x)  # strength 0
    with torch.no_grad():
        noise.strength.copy_(torch.tensor([1.0, 0.0, 2.0]))
    assert torch.equal(noise(x, "none"), x)
    assert torch.equal(noise(x, "const"), noise(x, "const"))
    assert_close(noise(x, "const"), x + noise.strength.view(1, 3, 1, 1) * noise.const_noise)
    assert not torch.equal(noise(x, "random"), noise(x, "random"))
    fixed = torch.randn(2, 1, 4, 4)
    assert_close(noise(x, noise=fixed), x + noise.strength.view(1, 3, 1, 1) * fixed)
    assert "const_noise" in noise.state_dict()


def test_adain_by_hand():
    torch.manual_seed(0)
    adain = AdaIN(3, 5)
    x, w = torch.randn(2, 3, 4, 4), torch.randn(2, 5)
    s = adain.style(w)
    mu, sigma = x.mean((2, 3), keepdim=True), (x.var((2, 3), unbiased=False, keepdim=True) + 1e-8).sqrt()
    assert_close(adain(x, w), s[:, :3, None, None] * (x - mu) / sigma + s[:, 3:, None, None])
    assert_close(adain.style(torch.zeros(1, 5))[:, :3], torch.ones(1, 3))  # y_s starts at 1


def test_mapping_network_is_eight_slow_layers():
    net = MappingNetwork(6, 10)
    assert len(net.layers) == 8 and all(layer.lr_mul == 0.01 for layer in net.layers)
    z = torch.randn(4, 6)
    assert net(z).shape == (4, 10)
    assert_close(net(z), net(3 * z))  # pixel norm on z first


# --------------------------------------------------------------------------- BigGAN


def test_projected_batchnorm_starts_as_batchnorm_by_hand():
    torch.manual_seed(0)
    norm = ProjectedBatchNorm(3, 4)
    x, c = torch.randn(5, 3, 2, 2), torch.randn(5, 4)
    bn = F.batch_norm(x, None, None, training=True, eps=1e-5)
    assert_close(norm(x, c), bn * (1 + norm.gain(c)).view(5, 3, 1, 1) + norm.bias(c).view(5, 3, 1, 1))
    with torch.no_grad():
        norm.gain.weight.zero_()
        norm.bias.weight.zero_()
    assert_close(norm(x, c), bn)


@pytest.mark.parametrize("shape", [(3, 5), (7, 2), (4, 2, 3, 3)])
def test_off_diagonal_ortho_and_its_gradient_by_hand(shape):
    torch.manual_seed(0)
    p = nn.Parameter(torch.randn(*shape))
    net = nn.Module()
    net.p = p
    net.embed = nn.Embedding(4, 3)  # excluded
    w = p.detach().flatten(1)
    off = (w @ w.t()) * (1 - torch.eye(w.shape[0]))
    assert_close(off_diagonal_ortho(net), off.pow(2).sum(), rtol=1e-4, atol=1e-4)
    term = OrthoTerm(OrthoTerm.Params(weight=1e-4), None)
    loss, stats = term.g_loss(TermInputs("g", DOutput(torch.zeros(1)), net=net))
    loss.backward()
    # BigGAN-PyTorch's utils.ortho adds 2 * strength * ((W W^T) * (1 - I)) W to the gradient
    assert_close(p.grad.flatten(1), 2e-4 * off @ w, rtol=1e-4, atol=1e-6)
    assert net.embed.weight.grad is None
    assert term.d_loss(TermInputs("d", DOutput(torch.zeros(1)), net=net)) is None


def test_ortho_term_errors():
    with pytest.raises(GankitError, match="objective.terms.ortho.weight"):
        OrthoTerm(OrthoTerm.Params(weight=0.0), None)
    with pytest.raises(GankitError, match="objective.terms.ortho.nets"):
        OrthoTerm(OrthoTerm.Params(nets="x"), None)
    with pytest.raises(GankitError, match="needs G"):
        OrthoTerm(OrthoTerm.Params(), None).g_loss(TermInputs("g", DOutput(torch.zeros(1))))
