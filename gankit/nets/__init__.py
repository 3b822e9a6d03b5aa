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
from gankit.nets.dcgan import DCGANDiscriminator, DCGANGenerator, resolution_plan
from gankit.nets.info import CodeHeadDiscriminator
from gankit.nets.layers import dcgan_init
from gankit.nets.mlp import MLPDiscriminator, MLPGenerator
from gankit.nets.output import DOutput
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


def _mlp_generator(cfg: Any, spec: DataSpec) -> MLPGenerator:
    return MLPGenerator(spec.shape, spec.kind, cfg.z_dim, cfg.g_width, cfg.g_layers, cfg.g_norm, cfg.z_dist,
                        cfg.z_categories)


def _dcgan_generator(cfg: Any, spec: DataSpec) -> DCGANGenerator:
    if spec.kind != "image" or len(spec.shape) != 3 or spec.shape[1] != spec.shape[2]:
        vector_arch = cfg.arch.replace("dcgan", "mlp")
        raise GankitError(f"model.arch={cfg.arch} needs square images, but the data has shape "
                          f"{spec.shape}; use model.arch={vector_arch} for vector data")
    return DCGANGenerator(spec.shape, cfg.z_dim, cfg.g_width, cfg.g_norm, cfg.max_channels, cfg.z_dist,
                          cfg.z_categories)


@ARCHS.register("mlp")
def _mlp(cfg: Any, spec: DataSpec, d_shape: tuple) -> tuple[Generator, Discriminator]:
    return _mlp_generator(cfg, spec), MLPDiscriminator(d_shape, cfg.d_width, cfg.d_layers, cfg.d_norm,
                                                       cfg.d_dropout)


@ARCHS.register("dcgan")
def _dcgan(cfg: Any, spec: DataSpec, d_shape: tuple) -> tuple[Generator, Discriminator]:
    return _dcgan_generator(cfg, spec), DCGANDiscriminator(d_shape, cfg.d_width, cfg.d_norm, cfg.max_channels)


@ARCHS.register("mlp-ae")
def _mlp_ae(cfg: Any, spec: DataSpec, d_shape: tuple) -> tuple[Generator, Discriminator]:
    return _mlp_generator(cfg, spec), mlp_autoencoder(d_shape, spec.kind, cfg.d_width, cfg.d_layers, cfg.z_dim,
                                                      cfg.d_norm)


@ARCHS.register("dcgan-ae")
def _dcgan_ae(cfg: Any, spec: DataSpec, d_shape: tuple) -> tuple[Generator, Discriminator]:
    return _dcgan_generator(cfg, spec), dcgan_autoencoder(d_shape, cfg.d_width, cfg.z_dim, cfg.d_norm,
                                                          cfg.max_channels)


def build_nets(cfg: Any, spec: DataSpec, code_head: int = 0) -> tuple[Generator, Discriminator]:
    """Make (G, D) for ModelConfig ``cfg`` and the data described by ``spec``.

    With ``cfg.d_pack`` = p > 1 (PacGAN), D is the architecture's discriminator built for packs of p
    items (``packed_shape``) inside a :class:`PackedDiscriminator`; its weights are then under
    ``inner.`` in a state dict. With ``code_head`` = K > 0, D also predicts G's categorical code of
    K classes (InfoGAN's Q head, :class:`CodeHeadDiscriminator`; ``Config.code_head`` says when)."""
    pack = cfg.d_pack
    d_shape = packed_shape(spec.shape, pack)
    g, d = ARCHS.get(cfg.arch)(cfg, spec, d_shape)
    if pack > 1:
        d = PackedDiscriminator(d, pack)
    if code_head:
        d = CodeHeadDiscriminator(d, d_shape, code_head)
    if cfg.init == "dcgan":
        dcgan_init(g)
        dcgan_init(d)
    return g, d


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
