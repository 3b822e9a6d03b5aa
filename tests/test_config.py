import pytest

from gankit.config import Config, apply_overrides, from_dict, load_config, preset_names
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
    with pytest.raises(GankitError, match="not valid YAML"):
        load_config(str(bad))
    with pytest.raises(GankitError, match="config file not found"):
        load_config(str(tmp_path / "nope.yaml"))


def test_defaults_are_valid():
    Config().validate()
    assert apply_overrides({}, ["a.b.c=1"]) == {"a": {"b": {"c": 1}}}
