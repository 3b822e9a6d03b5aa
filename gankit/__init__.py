"""gankit: train, evaluate and explore Generative Adversarial Networks.

The Python API mirrors the command line::

    import gankit
    run = gankit.train("ring", ["train.steps=500"], out="runs/ring")
    model = gankit.load(run.path)
    x = model.sample(16, seed=0)
"""
from __future__ import annotations

__version__ = "0.1.0"

from gankit.api import evaluate, export, load, presets, resume, serve, train  # noqa: E402

__all__ = ["train", "resume", "load", "evaluate", "presets", "export", "serve", "__version__"]
