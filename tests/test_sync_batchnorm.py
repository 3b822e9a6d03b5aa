"""GlobalBatchNorm (train.sync_batchnorm on CPU) outside a process group is BatchNorm; the swap keeps
every parameter and buffer name, so checkpoints do not change with the option."""
import contextlib

import pytest
import torch
import torch.distributed as tdist
from torch import nn

from gankit.nets import build_nets
from gankit.training.sync_batchnorm import GlobalBatchNorm, count_batchnorms, sync_batchnorm


@pytest.mark.parametrize("shape", [(8, 3), (8, 3, 5, 5)])
def test_global_batchnorm_alone_is_batchnorm_forward_backward_and_running_stats(shape, tmp_path):
    torch.manual_seed(0)
    ref = nn.BatchNorm2d(3) if len(shape) == 4 else nn.BatchNorm1d(3)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-1, 1)
    ours = sync_batchnorm(nn.Sequential(ref.__class__(3)), torch.device("cpu"))[0]
    assert isinstance(ours, GlobalBatchNorm)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(*shape) * 3 + 1
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    w = torch.randn(*shape)
    (ref(xa) * w).sum().backward()
    # the all-reduce path, in a one-process group: sums and counts reduced, then the moments
    with one_process_group(tmp_path / "store"):
        (ours(xb) * w).sum().backward()
    torch.testing.assert_close(xb.grad, xa.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad, rtol=1e-4, atol=1e-5)
    for name, buf in ref.named_buffers():
        torch.testing.assert_close(getattr(ours, name), buf, msg=name)
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours(x), ref(x))


def test_the_swap_keeps_names_and_values_and_counts_batchnorms():
    G, _ = build_nets(*_digits_dcgan())
    before = G.state_dict()
    n = count_batchnorms(G)
    assert n > 0
    G = sync_batchnorm(G, torch.device("cpu"))
    assert sum(isinstance(m, GlobalBatchNorm) for m in G.modules()) == n
    after = G.state_dict()
    assert list(after) == list(before)
    for k in before:
        torch.testing.assert_close(after[k], before[k])


@contextlib.contextmanager
def one_process_group(path):
    tdist.init_process_group("gloo", store=tdist.FileStore(str(path), 1), rank=0, world_size=1)
    try:
        yield
    finally:
        tdist.destroy_process_group()


def _digits_dcgan():
    from gankit.config import load_config
    from gankit.data import load_dataset
    from gankit.training.run_setup import data_spec
    cfg = load_config("digits")
    return cfg.model, data_spec(load_dataset(cfg.data, "train"))


def test_the_option_in_one_process_is_said_not_silently_ignored():
    from gankit.config import load_config
    from gankit.training.loop import Trainer
    trainer = Trainer(load_config("ring", ["train.sync_batchnorm=true", "eval.final=false"]), progress=False)
    assert any("train.sync_batchnorm has no effect in one process" in w for w in trainer.warnings)
