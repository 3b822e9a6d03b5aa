"""The faster-path options: train.channels_last, train.optim_impl (train.compile is timed, not unit-tested:
compiling takes ~40 s on this CPU)."""
import math

import pytest
import torch

from gankit.config import load_config
from gankit.errors import GankitError
from gankit.training.loop import Trainer

from helpers import TINY_RING


def test_channels_last_and_fused_adam_train_a_step():
    cfg = load_config("fashion-dcgan", ["model.g_width=8", "model.d_width=8", "data.batch_size=8", "train.threads=1",
                                        "train.steps=1", "train.channels_last=true", "train.optim_impl=fused",
                                        "train.precision=bf16"])
    try:
        trainer = Trainer(cfg, None, progress=False)
    except GankitError as exc:
        pytest.skip(f"Fashion-MNIST missing: {exc}")
    kernels = [p for p in [*trainer.G.parameters(), *trainer.D.parameters()] if p.dim() == 4 and min(p.shape[:2]) > 1]
    assert kernels and all(p.is_contiguous(memory_format=torch.channels_last) for p in kernels)
    assert not all(p.is_contiguous() for p in kernels)  # really another layout than the default
    assert trainer.opt_g.defaults["fused"] is True and trainer.opt_d.defaults["fused"] is True
    stats = trainer.iteration(want_stats=True)
    assert all(math.isfinite(float(v)) for v in stats.values())


def test_foreach_adam_matches_the_default_loop():
    def run(impl):
        cfg = load_config("ring", TINY_RING + ["train.steps=3", f"train.optim_impl={impl}"])
        trainer = Trainer(cfg, None, progress=False)
        for _ in range(3):
            trainer.iteration(want_stats=False)
        return [p.detach() for p in trainer.G.parameters()]

    for a, b in zip(run("default"), run("foreach")):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_bad_optim_impl_names_the_key():
    with pytest.raises(GankitError, match="'train.optim_impl' = 'turbo'"):
        load_config("ring", ["train.optim_impl=turbo"])
    cfg = load_config("ring", TINY_RING + ["train.optim_impl=fused", "train.d_optim.name=rmsprop"])
    with pytest.raises(GankitError, match="no fused RMSprop"):
        Trainer(cfg, None, progress=False)
