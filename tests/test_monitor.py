"""The monitor (gankit/training/monitor.py): each check by hand, the failure-gallery presets that show
each failure on purpose (shortened runs), and the monitor's state across a resume."""
import json

import pytest

import gankit
from gankit.errors import GankitError
from gankit.training.monitor import Monitor

FAST = ["train.threads=1", "train.sample_every=1000", "eval.final=false"]


def warnings_of(run_dir):
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    return [(r["step"], r.get("key"), r["message"]) for r in records if r.get("type") == "warning"]


def test_each_check_needs_patience_and_is_said_once_per_episode():
    m = Monitor(probabilistic=True, patience=3)
    d_wins = {"loss_d": 0.01, "d_real": 0.99, "d_fake": 0.01, "loss_g": 4.0}
    assert m.update(d_wins) == [] and m.update(d_wins) == []
    alerts = m.update(d_wins)
    assert [a.key for a in alerts] == ["D wins"] and "objective.name=ns" in alerts[0].message
    assert m.update(d_wins) == []  # still the same episode
    m.update({"loss_d": 1.3, "loss_g": 0.7})  # cleared
    assert m.active == []
    for _ in range(2):
        m.update(d_wins)
    assert [a.key for a in m.update(d_wins)] == ["D wins"]  # a new episode


def test_vanishing_collapse_divergence_and_unbounded_critic_by_hand():
    m = Monitor(probabilistic=True, patience=1)
    m.update({"grad_norm_g": 10.0})
    assert [a.key for a in m.update({"grad_norm_g": 0.009})] == ["G grads vanish"]  # under 1e-3 of 10
    assert [a.key for a in m.update({}, diversity=0.05)] == ["mode collapse"]
    assert [a.key for a in m.update({"loss_d": 2e4})] == ["diverging"]
    critic = Monitor(probabilistic=False, patience=1)
    assert critic.update({"d_real": 99.0, "d_fake": -50.0}) == []
    alerts = critic.update({"d_real": 30.0, "d_fake": -150.0})
    assert [a.key for a in alerts] == ["critic unbounded"] and "clip" in alerts[0].message
    assert Monitor(probabilistic=True, patience=1).update({"d_real": 0.5, "d_fake": 500.0}) == []  # only critics
    scored = Monitor()
    assert scored.update_scores({"modes": 13}, 25) == []
    assert [a.key for a in scored.update_scores({"modes": 12}, 25)] == ["modes missed"]
    assert scored.update_scores({"modes": 12}, 25) == []  # said once
    assert scored.update_scores({"modes": 12}, None) == []  # data without modes: no such check


def test_monitor_state_round_trip():
    m = Monitor(patience=3)
    m.update({"grad_norm_g": 5.0, "loss_d": 0.01})
    m.update({"grad_norm_g": 1.0, "loss_d": 0.01})
    state = json.loads(json.dumps(m.state_dict()))  # it is stored as JSON in the manifest
    fresh = Monitor(patience=3)
    fresh.load_state_dict(state)
    assert [a.key for a in fresh.update({"grad_norm_g": 1.0, "loss_d": 0.01})] == ["D wins"]  # the streak went on
    assert fresh._g_norm_max == 5.0


# --------------------------------------------------------------------------- the failure gallery


@pytest.mark.parametrize("preset, steps, key", [
    ("fail-saturating", 200, "D wins"),
    ("fail-saturating", 400, "G loss saturates"),
    ("fail-wgan-clip", 200, "critic unbounded"),
    ("fail-collapse", 100, "mode collapse"),
])
def test_each_failure_preset_shows_its_failure(tmp_path, preset, steps, key):
    run = gankit.train(preset, FAST + [f"train.steps={steps}", "eval.every=0"], out=tmp_path / "r", progress=False)
    assert key in [k for _, k, _ in warnings_of(run.path)]


def test_collapse_preset_misses_modes_when_scored(tmp_path):
    run = gankit.train("fail-collapse", FAST + ["train.steps=100", "eval.every=100"], out=tmp_path / "r",
                       progress=False)
    missed = [m for _, k, m in warnings_of(run.path) if k == "modes missed"]
    assert missed and "of the data's 25 modes" in missed[0]


def test_nan_preset_diverges_and_says_so(tmp_path):
    with pytest.raises(GankitError, match="training diverged at step"):
        gankit.train("fail-nan", FAST + ["train.steps=50"], out=tmp_path / "r", progress=False)
    assert any("training diverged" in m for _, _, m in warnings_of(tmp_path / "r"))


def test_the_monitor_state_survives_a_resume(tmp_path):
    over = FAST + ["eval.every=0", "train.checkpoint_every=100"]
    straight = gankit.train("fail-collapse", over + ["train.steps=200"], out=tmp_path / "a", progress=False)
    gankit.train("fail-collapse", over + ["train.steps=100"], out=tmp_path / "b", progress=False)
    gankit.resume(tmp_path / "b", steps=200, progress=False)
    a, b = warnings_of(straight.path), warnings_of(tmp_path / "b")
    assert [k for _, k, _ in a].count("mode collapse") == 1  # collapsed at ~75 and stays: said once
    assert [(s, k) for s, k, _ in a] == [(s, k) for s, k, _ in b]


def test_minimax_report_plots_the_game_value_against_minus_log_4(tmp_path):
    import math

    from gankit.report.plots import loss_figure

    over = FAST + ["objective.name=minimax", "train.steps=10", "train.log_every=2", "model.g_width=16",
                   "model.d_width=16", "data.batch_size=64"]
    run = gankit.train("ring", over, out=tmp_path / "r", progress=False)
    records = [json.loads(line) for line in (run.path / "log.jsonl").read_text().splitlines()]
    train = [r for r in records if r.get("type") == "train"]
    assert train and all(r["game_value"] == pytest.approx(-r["loss_d"], abs=1e-6) for r in train)  # V = -D's loss
    fig = loss_figure(records)
    ax = next(a for a in fig.axes if a.get_title(loc="left").startswith("value of the game"))
    assert any(list(line.get_ydata()) == [-math.log(4)] * 2 for line in ax.get_lines())


def test_the_saturating_minimax_loss_is_named_only_for_minimax():
    m = Monitor(saturating=True, patience=2)
    assert m.update({"d_fake": 0.002, "loss_d": 0.5}) == []
    alerts = m.update({"d_fake": 0.002, "loss_d": 0.5})
    assert [a.key for a in alerts] == ["G loss saturates"] and "objective.name=ns" in alerts[0].message
    assert "-0.002" in alerts[0].message
    ns = Monitor(saturating=False, patience=1)
    assert ns.update({"d_fake": 0.002, "loss_d": 0.5}) == []
    from gankit.config import ObjectiveConfig
    from gankit.objectives import build_objective

    assert build_objective(ObjectiveConfig(name="minimax")).saturating
    assert not build_objective(ObjectiveConfig(name="ns")).saturating
