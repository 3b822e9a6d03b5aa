import math

import pytest
import torch
from torch.testing import assert_close

from gankit.config import ObjectiveConfig
from gankit.errors import GankitError
from gankit.objectives import build_objective, terms


def _sig(v):
    return 1 / (1 + math.exp(-v))


def test_d_logistic_by_hand():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    want = (-(math.log(_sig(2.0)) + math.log(_sig(-1.0))) / 2
            - (math.log(1 - _sig(0.5)) + math.log(1 - _sig(-3.0))) / 2)
    assert_close(terms.d_logistic(real, fake), torch.tensor(want))


def test_generator_losses_by_hand():
    fake = torch.tensor([0.5, -3.0, 1.0])
    mm = sum(math.log(1 - _sig(v)) for v in fake.tolist()) / 3
    ns = -sum(math.log(_sig(v)) for v in fake.tolist()) / 3
    assert_close(terms.g_minimax(fake), torch.tensor(mm))
    assert_close(terms.g_nonsaturating(fake), torch.tensor(ns))


def test_minimax_saturates_where_ns_does_not():
    # When D confidently rejects fakes (logit -8), the minimax gradient vanishes, NS's does not.
    logit = torch.tensor([-8.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(terms.g_minimax(logit), logit)
    (g_ns,) = torch.autograd.grad(terms.g_nonsaturating(logit), logit)
    assert abs(g_mm.item()) < 1e-3 and abs(g_ns.item()) > 0.99


def test_value_at_equilibrium_is_minus_log4():
    # D = 1/2 everywhere (logit 0) is optimal when p_g = p_data: V = -log 4.
    zeros = torch.zeros(10)
    assert_close(terms.game_value(zeros, zeros), torch.tensor(-math.log(4.0)))


def test_logits_stay_finite_at_extremes():
    big = torch.tensor([100.0, -100.0])
    assert torch.isfinite(terms.d_logistic(big, -big))
    assert torch.isfinite(terms.g_nonsaturating(big))


def test_registry_and_params():
    assert type(build_objective(ObjectiveConfig(name="minimax"))).__name__ == "Minimax"
    assert type(build_objective(ObjectiveConfig(name="ns"))).__name__ == "NonSaturating"
    with pytest.raises(GankitError, match="unknown objective 'nss'.*did you mean 'ns'"):
        build_objective(ObjectiveConfig(name="nss"))
    with pytest.raises(GankitError, match="objective.params.clip"):
        build_objective(ObjectiveConfig(name="ns", params={"clip": 0.01}))


def test_schedule_has_k_d_steps():
    obj = build_objective(ObjectiveConfig(name="minimax", d_steps=3))
    assert [(p.name, p.repeat) for p in obj.schedule()] == [("D", 3), ("G", 1)]
