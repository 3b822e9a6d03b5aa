"""Architectures, registered by name; ``build_nets`` makes (G, D) from a ModelConfig.

An architecture is ``fn(cfg, spec, d_shape) -> (G, D)``: G makes items of ``spec.shape``, D judges
inputs of ``d_shape`` (the same shape, or the packed one with ``model.d_pack`` > 1).
"""
from __future__ import annotations

from typing import Any

from torch import nn

from gankit.errors import GankitError
from gankit.nets.autoencoder import dcgan_autoencoder, mlp_autoencoder
from gankit.nets.base import Discriminator, Generator
from gankit.nets.biggan import BigGANGenerator
from gankit.nets.dcgan import DCGANDiscriminator, DCGANGenerator, resolution_plan
from gankit.nets.heads import AuxHeadsDiscriminator
from gankit.nets.layers import dcgan_init
from gankit.nets.minibatch import MinibatchDiscriminator
from gankit.nets.mlp import MLPDiscriminator, MLPGenerator
from gankit.nets.output import DOutput
from gankit.nets.progan import ProGANDiscriminator, ProGANGenerator
from gankit.nets.resnet import ResNetDiscriminator, ResNetGenerator, block_plan, pick_attention
from gankit.nets.spectral import apply_spectral_norm
from gankit.nets.stylegan import StyleGenerator
from gankit.nets.tricks import PackedDiscriminator, packed_shape
from gankit.registry import ARCHS

__all__ = ["DOutput", "Generator", "Discriminator", "build_nets", "DataSpec"]


class DataSpec(dict):
    """What a network needs to know of the data: kind, per-item shape, number of classes."""

    @property
    def kind(self) -> str:
        return self["kind"]

    @property
    def shape(self) -> tuple:
        return tuple(self["shape"])

    @property
    def num_classes(self) -> int:
        """Classes of a labelled dataset, else 0."""
        return int(self.get("num_classes") or 0)

    @property
    def class_names(self) -> list[str]:
        """A name per class (the class index as text where the data has no names)."""
        names = self.get("class_names")
        return list(names) if names else [str(i) for i in range(self.num_classes)]


def _g_cond(cfg: Any, spec: DataSpec) -> dict:
    """Keyword arguments of a generator's conditioning (Generator.__init__)."""
    return {"z_continuous": cfg.z_continuous, "z_std": cfg.z_std, "num_classes": spec.num_classes, "cond": cfg.g_cond,
            "embed_dim": cfg.embed_dim}


def _d_cond(cfg: Any, spec: DataSpec) -> dict:
    return {"cond": cfg.d_cond, "num_classes": spec.num_classes}


def _no_d_cond(cfg: Any) -> None:
    if cfg.d_cond != "none":
        raise GankitError(f"model.d_cond={cfg.d_cond} is not available for the autoencoder discriminator of "
                          f"model.arch={cfg.arch}; use model.d_cond=none with the ac term, or model.arch="
                          f"{cfg.arch.replace('-ae', '')}")


def _mlp_generator(cfg: Any, spec: DataSpec) -> MLPGenerator:
    return MLPGenerator(spec.shape, spec.kind, cfg.z_dim, cfg.g_width, cfg.g_layers, cfg.g_norm, cfg.z_dist,
                        cfg.z_categories, cfg.vbn_ref, **_g_cond(cfg, spec))


def _dcgan_generator(cfg: Any, spec: DataSpec) -> DCGANGenerator:
    if spec.kind != "image" or len(spec.shape) != 3 or spec.shape[1] != spec.shape[2]:
        vector_arch = cfg.arch.replace("dcgan", "mlp")
        raise GankitError(f"model.arch={cfg.arch} needs square images, but the data has shape "
                          f"{spec.shape}; use model.arch={vector_arch} for vector data")
    return DCGANGenerator(spec.shape, cfg.z_dim, cfg.g_width, cfg.g_norm, cfg.max_channels, cfg.z_dist,
                          cfg.z_categories, cfg.vbn_ref, **_g_cond(cfg, spec))


@ARCHS.register("mlp")
def _mlp(cfg: Any, spec: DataSpec, d_shape: tuple) -> tuple[Generator, Discriminator]:
    return _mlp_generator(cfg, spec), MLPDiscriminator(d_shape, cfg.d_width, cfg.d_layers, cfg.d_norm,
                                                       cfg.d_dropout, **_d_cond(cfg, spec), maxout=cfg.d_maxout)


@ARCHS.register("dcgan")
def _dcgan(cfg: Any, spec: DataSpec, d_shape: tuple) -> tuple[Generator, Discriminator]:
    return _dcgan_generator(cfg, spec), DCGANDiscriminator(d_shape, cfg.d_width, cfg.d_norm, cfg.max_channels,
                                                           **_d_cond(cfg, spec))


@ARCHS.register("mlp-ae")
def _mlp_ae(cfg: Any, spec: DataSpec, d_shape: tuple) -> tuple[Generator, Discriminator]:
    _no_d_cond(cfg)
    return _mlp_generator(cfg, spec), mlp_autoencoder(d_shape, spec.kind, cfg.d_width, cfg.d_layers, cfg.z_dim,
                                                      cfg.d_norm)


@ARCHS.register("dcgan-ae")
def _dcgan_ae(cfg: Any, spec: DataSpec, d_shape: tuple) -> tuple[Generator, Discriminator]:
    _no_d_cond(cfg)
    return _dcgan_generator(cfg, spec), dcgan_autoencoder(d_shape, cfg.d_width, cfg.z_dim, cfg.d_norm,
                                                          cfg.max_channels)


def _resnet_nets(cfg: Any, spec: DataSpec, d_shape: tuple, attention: bool) -> tuple[Generator, Discriminator]:
    base, stages = block_plan(spec.shape, spec.kind, cfg.arch)
    attn = pick_attention(cfg.attn_res, base, stages, cfg.arch, default=attention)
    g = ResNetGenerator(spec.shape, cfg.z_dim, cfg.g_width, cfg.g_norm, cfg.max_channels, attn, cfg.z_dist,
                        cfg.z_categories, arch=cfg.arch, **_g_cond(cfg, spec))
    d = ResNetDiscriminator(d_shape, cfg.d_width, cfg.d_norm, cfg.max_channels, attn, arch=cfg.arch,
                            **_d_cond(cfg, spec))
    return g, d


@ARCHS.register("resnet")
def _resnet(cfg: Any, spec: DataSpec, d_shape: tuple) -> tuple[Generator, Discriminator]:
    return _resnet_nets(cfg, spec, d_shape, attention=False)


@ARCHS.register("sagan")
def _sagan(cfg: Any, spec: DataSpec, d_shape: tuple) -> tuple[Generator, Discriminator]:
    return _resnet_nets(cfg, spec, d_shape, attention=True)


@ARCHS.register("biggan")
def _biggan(cfg: Any, spec: DataSpec, d_shape: tuple) -> tuple[Generator, Discriminator]:
    base, stages = block_plan(spec.shape, spec.kind, cfg.arch)
    if cfg.g_norm != "batch":
        raise GankitError(f"model.g_norm={cfg.g_norm} is not available for model.arch=biggan (hierarchical z "
                          f"enters through its conditional BatchNorms); set model.g_norm=batch")
    attn = pick_attention(cfg.attn_res, base, stages, cfg.arch, default=False)
    g = BigGANGenerator(spec.shape, cfg.z_dim, cfg.g_width, cfg.max_channels, attn, cfg.shared_dim, cfg.z_dist,
                        cfg.z_categories, arch=cfg.arch, **_g_cond(cfg, spec))
    d = ResNetDiscriminator(d_shape, cfg.d_width, cfg.d_norm, cfg.max_channels, attn, arch=cfg.arch,
                            **_d_cond(cfg, spec))
    return g, d


@ARCHS.register("stylegan")
def _stylegan(cfg: Any, spec: DataSpec, d_shape: tuple) -> tuple[Generator, Discriminator]:
    block_plan(spec.shape, spec.kind, cfg.arch)
    if cfg.g_cond == "cbn":
        raise GankitError("model.g_cond=cbn is not available for model.arch=stylegan (its generator has no "
                          "BatchNorm); use model.g_cond=concat (y's code joins z before the mapping network)")
    if cfg.g_norm != "none":
        raise GankitError(f"model.g_norm={cfg.g_norm} is not available for model.arch=stylegan (its generator "
                          f"normalizes by demodulation or AdaIN, model.style_norm); set model.g_norm=none")
    g = StyleGenerator(spec.shape, cfg.z_dim, cfg.g_width, cfg.max_channels, cfg.mapping_layers, cfg.mapping_lr_mul,
                       cfg.style_mixing, cfg.style_norm, cfg.z_dist, cfg.z_categories, arch=cfg.arch,
                       **_g_cond(cfg, spec))
    d = ResNetDiscriminator(d_shape, cfg.d_width, cfg.d_norm, cfg.max_channels, cfg.attn_res, mbstd=4,
                            arch=cfg.arch, **_d_cond(cfg, spec))
    return g, d


@ARCHS.register("progan")
def _progan(cfg: Any, spec: DataSpec, d_shape: tuple) -> tuple[Generator, Discriminator]:
    block_plan(spec.shape, spec.kind, cfg.arch)
    if cfg.g_cond == "cbn" or cfg.g_norm != "none" or cfg.d_norm != "none":
        raise GankitError(f"model.arch=progan normalizes G by pixel norm and D by nothing (model.g_norm="
                          f"{cfg.g_norm}, model.d_norm={cfg.d_norm}, model.g_cond={cfg.g_cond}); set "
                          f"model.g_norm=none model.d_norm=none and model.g_cond=none or concat")
    grow = cfg.grow
    g = ProGANGenerator(spec.shape, cfg.z_dim, cfg.g_width, cfg.max_channels, grow.start, grow.every, grow.fade,
                        cfg.z_dist, cfg.z_categories, arch=cfg.arch, reset_optim=grow.reset_optim,
                        **_g_cond(cfg, spec))
    d = ProGANDiscriminator(d_shape, cfg.d_width, cfg.max_channels, grow.start, grow.every, grow.fade,
                            cfg.mbstd_group, arch=cfg.arch, reset_optim=grow.reset_optim, **_d_cond(cfg, spec))
    return g, d


def build_nets(cfg: Any, spec: DataSpec, code_head: int = 0, code_continuous: int = 0, learn_std: bool = True,
               class_head: bool = False) -> tuple[Generator, Discriminator]:
    """Make (G, D) for ModelConfig ``cfg`` and the data described by ``spec``.

    ``model.g_cond`` / ``model.d_cond`` condition G and D on the data's labels
    (:mod:`gankit.nets.conditioning`); the data must have them. With ``cfg.d_pack`` = p > 1 (PacGAN),
    D is the architecture's discriminator built for packs of p items (``packed_shape``) inside a
    :class:`PackedDiscriminator`; its weights are then under ``inner.`` in a state dict. Heads on D's
    features (:class:`AuxHeadsDiscriminator`; ``Config.heads`` says which): ``code_head`` = K > 0 and
    ``code_continuous`` = C > 0 predict G's latent codes (InfoGAN's Q), ``class_head`` the data's
    classes (ACGAN). ``model.d_sn`` / ``model.g_sn`` spectrally normalize every conv, linear and
    embedding of D (heads and projection included) / G, after the initialisation."""
    conditional = cfg.g_cond != "none" or cfg.d_cond != "none" or class_head
    if conditional and spec.num_classes < 2:
        what = f"model.g_cond={cfg.g_cond}" if cfg.g_cond != "none" else (
            f"model.d_cond={cfg.d_cond}" if cfg.d_cond != "none" else "the ac term")
        raise GankitError(f"{what} needs labelled data, but '{spec.get('name', 'the data')}' has no class labels; "
                          f"use a labelled dataset (digits, fashion_mnist, a folder with one subfolder per class, "
                          f"npz with y) or set model.g_cond=none model.d_cond=none")
    pack = cfg.d_pack
    d_shape = packed_shape(spec.shape, pack)
    g, d = ARCHS.get(cfg.arch)(cfg, spec, d_shape)
    if pack > 1:
        d = PackedDiscriminator(d, pack)
    if cfg.d_minibatch:
        if cfg.arch.endswith("-ae"):
            raise GankitError(f"model.d_minibatch adds to a discriminator's logit, but model.arch={cfg.arch} has an "
                              f"autoencoder discriminator (an energy, no logit); use model.arch="
                              f"{cfg.arch.replace('-ae', '')} or model.d_minibatch=0")
        d = MinibatchDiscriminator(d, spec.shape, cfg.d_minibatch, cfg.d_minibatch_dim)
    if code_head or code_continuous or class_head:
        d = AuxHeadsDiscriminator(d, d_shape, code_head, code_continuous, learn_std,
                                  spec.num_classes if class_head else 0, q_hidden=cfg.q_hidden)
    if cfg.init == "dcgan":
        dcgan_init(g)
        dcgan_init(d)
    if cfg.d_sn:  # after the init: an initialiser cannot write a parametrized weight
        apply_spectral_norm(d)
    if cfg.g_sn:
        apply_spectral_norm(g)
    return g, d


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
