"""Scoring the generator during training: the `eval` config section, eval.jsonl, the best checkpoint."""
import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import gankit
from gankit.config import load_config
from gankit.errors import GankitError
from gankit.training import checkpoint as ckpt
from gankit.training.evaluation import TrainingEvaluator
from gankit.training.loop import Trainer
from gankit.training.rundir import RunDir

from helpers import ROOT, TINY_DIGITS, TINY_RING, final_tensors, gankit as gankit_cli

RING_EVAL = TINY_RING + ["eval.every=10", "eval.metrics=modes", "eval.best=high_quality"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ring_scores_best_checkpoint_and_report(tmp_path):
    out = tmp_path / "run"
    gankit.train("ring", RING_EVAL + ["train.checkpoint_every=20", "train.ema=0.9"], out=out, steps=25,
                 progress=False)
    # eval.jsonl: every 10 steps and at the last step, in `gankit eval`'s record format
    evals = _jsonl(out / "eval.jsonl")
    assert [r["step"] for r in evals] == [10, 20, 25]
    for r in evals:
        assert r["type"] == "eval" and {"modes", "high_quality", "kl"} <= set(r)
        p = r["provenance"]
        assert p["during_training"] and p["n_fake"] == 2500 and p["metrics"] == ["modes"]
        assert "EMA" in p["fake"]["source"]  # the EMA generator is the one scored
    assert evals[0]["provenance"]["cache"] == "miss" and evals[1]["provenance"]["cache"] == "hit"
    # log.jsonl carries the scores too
    logged = [r for r in _jsonl(out / "log.jsonl") if r["type"] == "eval"]
    assert [r["step"] for r in logged] == [10, 20, 25]
    assert [r["high_quality"] for r in logged] == [r["high_quality"] for r in evals]
    # a logged score is what `gankit eval` gives for the checkpoint of that step
    again = gankit.evaluate(out / "checkpoints" / "step_0000020.json", metrics="modes", n=2500, record=False)
    for key in ("modes", "high_quality", "kl"):
        assert again[key] == evals[1][key], key
    # the best checkpoint: the first of the highest high_quality; "latest" is still the last step
    values = [r["high_quality"] for r in evals]
    best_step = evals[values.index(max(values))]["step"]
    best = json.loads((out / "checkpoints" / "best.json").read_text())
    assert best["best"] == {"key": "high_quality", "value": max(values), "step": best_step, "better": "higher"}
    assert best["step"] == best_step
    assert ckpt.latest_checkpoint(out / "checkpoints").name == "step_0000025.json"
    assert ckpt.resolve_checkpoint(out).name == "step_0000025.json"
    for path in ("best.json", "best.safetensors"):
        model = gankit.load(out / "checkpoints" / path)
        assert model.step == best_step and model.uses_ema
        assert model.sample(7, seed=1).shape == (7, 2)
    proc = gankit_cli("sample", str(out / "checkpoints" / "best.json"), "--n", "50", "--out", str(tmp_path / "b.png"))
    assert proc.returncode == 0 and f"from step {best_step}" in proc.stdout, proc.stderr
    # the report plots the scores and names the best checkpoint; config.yaml shows the section
    html = (out / "report.html").read_text()
    assert "<h2>Scores during training</h2>\n<img class=\"figure\" src=\"data:image/png;base64," in html
    assert "Best checkpoint by <b>high_quality</b> (higher is better)" in html
    best_path = (out / "checkpoints" / "best.json").resolve()
    assert f"<code>gankit sample {best_path} --n 64 --out best.png</code>" in html  # the real path, no RUN/
    cfg = RunDir(out).read_config_dict()
    assert cfg["eval"] == {"every": 10, "metrics": ["modes"], "n": None, "n_real": None, "features": None,
                           "best": "high_quality", "seed": 0, "final": True}


@pytest.mark.parametrize("preset, tiny, metrics, keys", [
    ("ring", TINY_RING, ["eval.metrics=modes"], {"modes", "high_quality", "kl"}),
    # the classifier's features: building that network must not draw from the training RNG
    ("digits", TINY_DIGITS, ["eval.metrics=fid", "eval.n=50", "eval.n_real=60"], {"fid"}),
])
def test_scoring_leaves_training_alone_and_writes_nothing_without_a_run(tmp_path, monkeypatch, preset, tiny,
                                                                        metrics, keys):
    monkeypatch.chdir(tmp_path)
    finals = {}
    for every in (0, 7):
        cfg = load_config(preset, tiny + [f"eval.every={every}", "train.steps=15"] + metrics)
        trainer = Trainer(cfg, None, progress=False)
        trainer.fit()
        finals[every] = trainer.state_dict()
        if every:
            assert [r["step"] for r in trainer.eval_records] == [7, 14, 15]
            assert keys <= set(trainer.eval_records[-1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # scores kept in memory only
    for key in ("G", "D"):
        for name, tensor in finals[0][key].items():
            assert torch.equal(tensor, finals[7][key][name]), f"{key}.{name} changed by scoring"
    assert torch.equal(finals[0]["rng"]["torch"], finals[7]["rng"]["torch"])


def test_resume_with_scoring_is_exact(tmp_path):
    args = RING_EVAL + ["train.checkpoint_every=20", "train.keep_checkpoints=10", "train.ema=0.9"]
    full = tmp_path / "full"
    gankit.train("ring", args, out=full, steps=40, progress=False)
    part = tmp_path / "part"
    gankit.train("ring", args, out=part, steps=30, progress=False)
    # The run "crashed" after scoring step 30 but before its checkpoint: resume redoes 21..30.
    for p in (part / "checkpoints").glob("step_0000030.*"):
        p.unlink()
    gankit.resume(part, steps=40, progress=False)
    want, got = final_tensors(full), final_tensors(part)
    assert want.keys() == got.keys()
    for k in want:
        assert torch.equal(want[k], got[k]), f"{k} differs after resuming"
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("time", "provenance")} for r in rs]  # noqa: E731
    assert strip(_jsonl(part / "eval.jsonl")) == strip(_jsonl(full / "eval.jsonl"))
    assert [r["step"] for r in _jsonl(part / "eval.jsonl")] == [10, 20, 30, 40]
    logged = [r for r in RunDir(part).read_log() if r["type"] == "eval"]
    assert [r["step"] for r in logged] == [10, 20, 30, 40]
    best_full = json.loads((full / "checkpoints" / "best.json").read_text())["best"]
    best_part = json.loads((part / "checkpoints" / "best.json").read_text())["best"]
    assert best_part == best_full


def test_digits_fid_during_training(tmp_path):
    out = tmp_path / "run"
    args = TINY_DIGITS + ["train.checkpoint_every=20", "eval.every=10", "eval.metrics=fid,pr", "eval.n=200",
                          "eval.n_real=300", "eval.best=fid"]
    gankit.train("digits", args, out=out, steps=20, progress=False)
    evals = _jsonl(out / "eval.jsonl")
    assert [r["step"] for r in evals] == [10, 20]
    for r in evals:
        assert r["fid"] > 0 and 0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1
        p = r["provenance"]
        assert p["extractor"].startswith("classifier") and p["n_fake"] == 200 and p["n_real"] == 300
    again = gankit.evaluate(out, metrics="fid,pr", n=200, n_real=300, record=False)
    assert again["fid"] == evals[-1]["fid"] and again["precision"] == evals[-1]["precision"]
    best = json.loads((out / "checkpoints" / "best.json").read_text())["best"]
    fids = [r["fid"] for r in evals]
    assert best["better"] == "lower" and best["value"] == min(fids)
    assert best["step"] == evals[fids.index(min(fids))]["step"]
    assert gankit.load(out / "checkpoints" / "best.json").sample(3).shape == (3, 8, 8, 1)


@pytest.mark.parametrize("overrides, fragments", [
    (["eval.best=high_qualty"], ["'eval.best'", "high_quality"]),
    (["eval.every=-1"], ["'eval.every'", ">= 0"]),
    (["eval.n=1"], ["'eval.n'"]),
    (["eval.metrics=[]"], ["'eval.metrics'", "empty"]),
    (["eval.evry=10"], ["'eval.evry'", "eval.every"]),
])
def test_bad_eval_config_when_loading(overrides, fragments):
    with pytest.raises(GankitError) as info:
        load_config("ring", overrides)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("preset, overrides, fragments", [
    ("ring", ["eval.metrics=modez"], ["'eval.metrics'", "modes"]),
    ("ring", ["eval.metrics=modes", "eval.best=fid"], ["'eval.best'", "'fid'", "modes, high_quality, kl"]),
    ("ring", ["eval.metrics=null", "eval.best=fid"], ["'eval.best'", "'fid'", "(modes:"]),  # toy default: modes
    ("digits", ["eval.metrics=modes"], ["'eval.metrics'", "toy distribution"]),
    ("digits", ["eval.features=raw", "eval.metrics=is"], ["'eval.metrics'", "logits"]),
    ("digits", ["eval.features=resnet"], ["'eval.features'"]),
])
def test_bad_eval_config_before_training(tmp_path, preset, overrides, fragments):
    out = tmp_path / "run"
    tiny = TINY_RING if preset == "ring" else TINY_DIGITS
    with pytest.raises(GankitError) as info:
        gankit.train(preset, tiny + ["eval.every=5"] + overrides, out=out, steps=5, progress=False)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    assert not out.exists()  # refused before the run folder is made


def test_bad_eval_config_on_the_command_line(tmp_path):
    proc = gankit_cli("train", "ring", *TINY_RING, "eval.every=5", "eval.best=coverage", "--steps", "5",
                      "--out", str(tmp_path / "run"), "--no-progress")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gankit: error: config key 'eval.best'"), proc.stderr


def test_metrics_as_a_comma_list_or_a_yaml_list():
    assert load_config("ring", ["eval.metrics=fid,pr"]).eval.metrics == ["fid", "pr"]
    assert load_config("ring", ["eval.metrics=[FID, dc]"]).eval.metrics == ["fid", "dc"]
    assert load_config("ring", ["eval.metrics=modes"]).eval.metrics == ["modes"]
    assert load_config("ring", ["eval.metrics=null"]).eval.metrics is None


def test_config_and_checkpoint_without_eval_still_load(tmp_path):
    cfg = load_config("ring").to_dict()
    del cfg["eval"]
    assert load_config(cfg).eval.every == 0
    out = tmp_path / "run"
    gankit.train("ring", TINY_RING, out=out, steps=3, progress=False)
    manifest_path = ckpt.latest_checkpoint(out / "checkpoints")
    manifest = json.loads(manifest_path.read_text())
    del manifest["config"]["eval"]  # as a checkpoint written before the section existed
    manifest_path.write_text(json.dumps(manifest))
    assert gankit.load(out).sample(4).shape == (4, 2)
    assert gankit.resume(out, steps=5, progress=False).step == 5


def test_best_follows_the_direction_of_its_score():
    cfg = load_config("ring", TINY_RING + ["eval.every=1", "eval.metrics=modes", "eval.best=kl"])
    trainer = Trainer(cfg, None, progress=False)
    ev = trainer.evaluator
    assert isinstance(ev, TrainingEvaluator) and ev.lower_is_better
    assert ev.update_best({"kl": 0.5}, 1)
    assert not ev.update_best({"kl": None}, 2)  # undefined: never the best
    assert not ev.update_best({"kl": 0.5}, 3)  # a tie keeps the earlier checkpoint
    assert not ev.update_best({"kl": 0.7}, 4)
    assert ev.update_best({"kl": 0.2}, 5) and (ev.best_value, ev.best_step) == (0.2, 5)
    assert ev.postfix({"kl": 0.2, "modes": 8, "high_quality": 0.91234}) == {
        "kl": "0.2", "modes": "8", "high_quality": "0.912"}
    cfg.eval.best = "modes"
    high = TrainingEvaluator(cfg, trainer.data, trainer.spec, trainer.device)
    assert not high.lower_is_better
    assert high.update_best({"modes": 3}, 1) and high.update_best({"modes": 8}, 2)
    assert not high.update_best({"modes": math.nan}, 3) and high.best_step == 2


def test_presets_columns_line_up():
    proc = gankit_cli("presets")
    assert proc.returncode == 0
    lines = proc.stdout.strip().splitlines()
    for column in ("data=", "arch=", "objective="):
        assert len({line.index(column) for line in lines}) == 1, column


def test_sigkill_while_scoring_then_resume_is_bitwise_identical(tmp_path):
    # Killed right after its first score (step 10), usually before the first checkpoint (15): the resumed
    # run then starts over and must drop the stale score and best checkpoint. Few snapshots: quick.
    args = RING_EVAL + ["train.checkpoint_every=15", "train.sample_every=1000", "train.ema=0.9"]
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "gankit.cli", "train", "ring", *args, "--steps", "30",
                             "--no-progress", "--out", str(run)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not (run / "eval.jsonl").exists():
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it was killed"
    ref = tmp_path / "ref"
    gankit.train("ring", args, out=ref, steps=30, progress=False)
    gankit.resume(run, progress=False)
    want, got = final_tensors(ref), final_tensors(run)
    assert want.keys() == got.keys()
    for k in want:
        assert torch.equal(want[k], got[k]), k
    assert [r["step"] for r in _jsonl(run / "eval.jsonl")] == [10, 20, 30]
    assert (json.loads((run / "checkpoints" / "best.json").read_text())["best"]
            == json.loads((ref / "checkpoints" / "best.json").read_text())["best"])
