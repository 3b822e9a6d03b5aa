import pytest
import yaml

from gankit.config import (Config, TrainConfig, apply_overrides, default_threads, from_dict, load_config,
                           preset_names)
from gankit.errors import GankitError


def test_every_preset_loads_and_round_trips():
    names = preset_names()
    for required in ["digits", "gaussian1d", "ring", "grid", "fashion-mlp", "fashion-dcgan", "folder-dcgan"]:
        assert required in names
    for name in names:
        cfg = load_config(name)
        assert cfg.name == name and cfg.description
        again = load_config(cfg.to_dict())
        assert again == cfg
        import yaml
        assert from_dict(yaml.safe_load(cfg.to_yaml())) == cfg


def test_overrides_are_typed():
    cfg = load_config("digits", ["train.g_optim.lr=1e-4", "data.batch_size=32", "train.ema=0",
                                 "model.z_dist=uniform", "train.g_optim.betas=[0.0, 0.9]",
                                 "data.path=null", "objective.reuse_fake=false"])
    assert cfg.train.g_optim.lr == pytest.approx(1e-4) and isinstance(cfg.train.g_optim.lr, float)
    assert cfg.data.batch_size == 32
    assert cfg.train.g_optim.betas == [0.0, 0.9]
    assert cfg.objective.reuse_fake is False
    # the preset itself is untouched
    assert load_config("digits").data.batch_size == 64


def test_unknown_key_names_the_closest():
    with pytest.raises(GankitError, match=r"unknown config key 'train.stepz'.*'train.steps'"):
        load_config("digits", ["train.stepz=5"])
    with pytest.raises(GankitError, match=r"'model.z_dimm'.*did you mean 'model.z_dim'"):
        from_dict({"model": {"z_dimm": 3}})


@pytest.mark.parametrize("override, message", [
    ("data.batch_size=abc", "data.batch_size' must be an integer"),
    ("data.batch_size=0", "data.batch_size' = 0 must be >= 1"),
    ("train.ema=1.5", "train.ema"),
    ("model.z_dist=cauchy", "model.z_dist"),
    ("train.g_optim.name=adamw", "train.g_optim.name"),
    ("objective.d_steps=0", "objective.d_steps"),
    ("data.channels=2", "data.channels"),
    ("train.g_optim.lr=fast", "train.g_optim.lr' must be a number"),
    ("objective.reuse_fake=maybe", "objective.reuse_fake' must be true or false"),
    ("train.lr_decay=cosine", "train.lr_decay' = 'cosine' must be none or linear"),
    ("train.lr_decay_start=1.0", "train.lr_decay_start' = 1.0 must be a fraction"),
])
def test_bad_values_are_named(override, message):
    with pytest.raises(GankitError, match=message.replace(".", r"\.")):
        load_config("digits", override.split())


def test_unknown_preset_and_bad_override_syntax():
    with pytest.raises(GankitError, match="unknown preset 'digit'.*did you mean 'digits'"):
        load_config("digit")
    with pytest.raises(GankitError, match="key.sub=value"):
        load_config("digits", ["train.steps"])


def test_yaml_file(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("data: {name: ring}\nmodel: {arch: mlp}\ntrain: {steps: 3}\n")
    cfg = load_config(str(f))
    assert cfg.name == "mine" and cfg.data.name == "ring" and cfg.train.steps == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(GankitError, match="invalid YAML"):
        load_config(str(bad))
    with pytest.raises(GankitError, match="config file not found"):
        load_config(str(tmp_path / "nope.yaml"))


def test_defaults_are_valid():
    Config().validate()
    assert apply_overrides({}, ["a.b.c=1"]) == {"a": {"b": {"c": 1}}}


@pytest.mark.parametrize("text, where, line", [
    ("name: x\nmodel: {arch: mlp z_dim: 2, g_width: 3}\n", ":2:24: ", "'model: {arch: mlp z_dim: 2, g_width: 3}'"),
    ("data: {name: ring}\n\tmodel: {arch: mlp}\n", ":2:1: ", "'model: {arch: mlp}'"),
    ("train:\n  steps: [1, 2\n", ":3:1: ", "'steps: [1, 2'"),  # at the end: the line where it began
])
def test_yaml_syntax_error_names_file_line_column_and_the_line(tmp_path, text, where, line):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(GankitError) as info:
        load_config(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}{where}invalid YAML: ") and message.endswith(line), message
    assert "\n" not in message


def test_threads_default_resolves_to_omp_num_threads_else_one(monkeypatch):
    # benchmarks/results/threads.md: one thread keeps its speed beside another busy job, PyTorch's default does not
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert TrainConfig().threads is None  # "auto" until validated
    assert load_config("digits").train.threads == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    cfg = load_config("digits")
    assert cfg.train.threads == 3
    assert yaml.safe_load(cfg.to_yaml())["train"]["threads"] == 3  # config.yaml records what ran
    assert load_config("digits", ["train.threads=0"]).train.threads == 0  # PyTorch's own default, if asked
    assert load_config("digits", ["train.threads=2"]).train.threads == 2
    assert load_config(cfg.to_dict()).train.threads == 3  # a stored number stays (resume uses it)
    assert default_threads({"OMP_NUM_THREADS": "4,2"}) == 4
    assert default_threads({"OMP_NUM_THREADS": "junk"}) == 1 and default_threads({"OMP_NUM_THREADS": "0"}) == 1


def test_data_path_is_stored_resolved(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert load_config("folder-dcgan", ["data.path=~/photos"]).data.path == str(tmp_path / "photos")
    assert load_config("folder-dcgan", ["data.path=pics/../photos"]).data.path == str(tmp_path / "photos")


def test_device_accepts_mps_and_says_when_it_is_missing():
    import torch

    from gankit.training.run_setup import pick_device

    assert load_config("ring", ["train.device=mps"]).train.device == "mps"
    with pytest.raises(GankitError, match="cpu, cuda, mps or auto"):
        load_config("ring", ["train.device=tpu"])
    mps = getattr(torch.backends, "mps", None)
    if mps is None or not mps.is_available():
        with pytest.raises(GankitError, match="train.device=mps but"):
            pick_device("mps")
        assert pick_device("auto").type in ("cpu", "cuda")


def test_a_stored_config_without_newer_keys_keeps_how_it_ran():
    from gankit.config import LEGACY_DEFAULTS, stored_config

    old = load_config("digits").to_dict()
    del old["train"]["ema_rampup"], old["eval"]["final"]
    cfg = stored_config(old)
    assert cfg.train.ema_rampup == LEGACY_DEFAULTS["train.ema_rampup"] == 0.0 and cfg.eval.final is False
    fresh = load_config("digits")
    assert fresh.train.ema_rampup == 0.05 and fresh.eval.final is True  # today's defaults for new runs
    assert stored_config(fresh.to_dict()).to_dict() == fresh.to_dict()  # a key that is present stays
