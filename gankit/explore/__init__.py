"""Exploring a trained generator: loading, sampling (later: truncation, interpolation, search)."""
from gankit.explore.model import LoadedGAN

__all__ = ["LoadedGAN"]
