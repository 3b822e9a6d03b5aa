"""The README's command lines, run as a user would (with small step counts), so the README stays true.

Every `gankit ...` / `make ...` line of the README's shell blocks must be in CHECKED: either run (the
README's arguments, plus overrides that make it fast) or named with the reason it is not run here. A new
README line without an entry fails the first test.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, TINY_DIGITS, TINY_RING

README = ROOT / "README.md"
FAST = ["--no-progress"]
TINY_IMAGES = ["model.g_width=8", "model.d_width=8", "model.z_dim=8", "data.batch_size=32", "train.threads=1",
               "train.log_every=2", "train.sample_every=2"]


@dataclass
class Run:
    """Run the README line with ``extra`` arguments appended and tokens replaced by ``replace``."""

    extra: list = field(default_factory=list)
    replace: dict = field(default_factory=dict)
    needs_fashion: bool = False


CHECKED: dict = {
    "make demo": "not run: it creates a venv; its training is `gankit train digits` (3,000 steps, 20 s)",
    "make test": "not run: it is this suite",
    "gankit presets": Run(),
    "gankit train ring --out runs/ring": Run(TINY_RING + ["--steps", "30", *FAST]),
    "gankit train gaussian1d": Run(["--steps", "20", "train.threads=1", *FAST]),
    "gankit train fashion-dcgan train.steps=3000 train.g_optim.lr=1e-4 --out runs/fashion":
        Run(TINY_IMAGES + ["train.ema=0.99", *FAST], {"train.steps=3000": "train.steps=4"}, needs_fashion=True),
    "gankit train my.yaml --steps 500 --seed 1": Run(["train.threads=1", *FAST], {"500": "20"}),
    "gankit train folder-dcgan data.path=~/photos": Run(TINY_IMAGES + ["data.resolution=8", "--steps", "2", *FAST]),
    "gankit train --resume runs/ring": Run(FAST),  # finished: it says so and exits 0
    "gankit sample runs/ring --n 1000 --out ring.png": Run(),
    "gankit sample runs/ring --n 1000 --out ring.npz": Run(),
    "gankit sample runs/ring --n 1000 --out ring.png --drs": Run(),
    "gankit sample runs/fashion --n 64 --out raw.png --raw": Run(needs_fashion=True),
    "gankit eval runs/fashion --json": Run(["--n", "200"], needs_fashion=True),
    "gankit eval runs/fashion --metrics fid,kid,is,pr,dc,intra_fid --n 10000":
        Run(replace={"10000": "300"}, needs_fashion=True),
    "gankit eval --real fashion_mnist:test --fake fashion_mnist:train":
        Run(["--metrics", "fid,label_agreement", "--n", "300"], needs_fashion=True),
    "gankit train digits-cgan --out runs/dcgan-c": Run(TINY_DIGITS + ["--steps", "20", *FAST]),
    "gankit sample runs/dcgan-c --label 3 --n 64 --out threes.png": Run(),
    "gankit sample runs/dcgan-c --per-class 8 --out classes.png": Run(),
    "gankit eval runs/dcgan-c --metrics fid,intra_fid,label_agreement,cas":
        Run(["--n", "300", "--no-cache"]),
    "gankit export runs/dcgan-c --format onnx --out dcgan-c.onnx": Run(),
    "gankit export runs/dcgan-c --format torch-export --out dcgan-c.pt2": Run(),
    "gankit serve runs/dcgan-c --port 8000":
        "not run: it serves until Ctrl-C; tests/test_serve.py starts it with --port 0, fetches a picture, stops it",
    "gankit eval runs/ring --json": Run(),
    "gankit sample runs/fashion --n 10000 --out samples.npz": Run(replace={"10000": "200"}, needs_fashion=True),
    "gankit eval --real fashion_mnist --fake samples.npz": Run(["--metrics", "fid,pr"], needs_fashion=True),
    "gankit eval --real photos/ --fake generated/ --features inception --inception-weights "
    "weights-inception-2015-12-05-6726825d.pth":
        "not run: needs the 95 MB InceptionV3 file, which gankit never downloads (its name is checked below)",
    "gankit train-classifier fashion_mnist":
        "not run: ~15 min; tests/test_eval_cli.py runs `gankit train-classifier digits --epochs 1`",
    "gankit train digits eval.every=500 eval.best=fid":
        Run(TINY_DIGITS + ["eval.n=100", "--steps", "20", *FAST], {"eval.every=500": "eval.every=10"}),
    "gankit train ring eval.every=500 eval.metrics=modes eval.best=high_quality":
        Run(TINY_RING + ["--steps", "20", *FAST], {"eval.every=500": "eval.every=10"}),
}


def readme_commands() -> list[str]:
    """The command lines of the README's ```bash blocks, comments stripped, in order."""
    lines, inside = [], False
    for raw in README.read_text().splitlines():
        if raw.startswith("```"):
            inside = raw.strip() == "```bash"
            continue
        line = raw.split(" #")[0].strip()
        if inside and (line.startswith("gankit ") or line.startswith("make ")):
            lines.append(" ".join(line.split()))
    return lines


def _fashion_available() -> bool:
    from gankit.config import DataConfig
    from gankit.data import load_dataset
    from gankit.errors import GankitError

    try:
        load_dataset(DataConfig(name="fashion_mnist"), "test")
    except GankitError:
        return False
    return True


def _cli(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HOME": str(home), "GANKIT_CACHE": str(home / "cache"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "gankit.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env, cwd=cwd)


@pytest.fixture
def user_folder(tmp_path, monkeypatch):
    """A working folder and a home with ~/photos (fewer images than the batch size: the README says the
    batch adapts) and my.yaml; the README's lines run in this process, as `gankit` would run them."""
    home = tmp_path / "home"
    (home / "photos").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(10):
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(home / "photos" / f"{i}.png")
    (tmp_path / "my.yaml").write_text("data: {name: ring}\nmodel: {arch: mlp, g_width: 16, d_width: 16}\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GANKIT_CACHE", str(home / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_readme_command_is_checked():
    commands = readme_commands()
    assert len(commands) == len(set(commands)), "a README command line appears twice"
    assert set(commands) == set(CHECKED), (f"README lines without a CHECKED entry: {set(commands) - set(CHECKED)}; "
                                           f"entries no longer in the README: {set(CHECKED) - set(commands)}")


def test_readme_commands_run(user_folder, capsys):
    from gankit.cli import main

    fashion = _fashion_available()
    ran = 0
    for line in readme_commands():
        how = CHECKED[line]
        if isinstance(how, str) or (how.needs_fashion and not fashion):
            continue
        args = [how.replace.get(token, token) for token in line.split()[1:]] + how.extra
        status = main(args)
        err = capsys.readouterr().err
        assert status == 0, f"README line `{line}` failed:\n{err[-2000:]}"
        ran += 1
    assert ran == sum(isinstance(h, Run) and (fashion or not h.needs_fashion) for h in CHECKED.values())
    assert main(["train", "--resume", "runs/ring", *FAST]) == 0
    assert "is already finished" in capsys.readouterr().err
    # the Python block runs too
    block = README.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    code = (block.replace('"train.steps=2000"', '"train.steps=20", "train.threads=1"')
            .replace('out="runs/ring")', 'out="runs/api", progress=False)'))
    assert code != block
    exec(compile(code, "README.md (python block)", "exec"), {})
    assert (user_folder / "runs" / "api" / "report.html").is_file()


def test_readme_inception_file_name_is_the_one_the_error_names():
    from gankit.metrics.features.inception import WEIGHTS_NAME

    named = re.findall(r"--inception-weights (\S+)", README.read_text())
    assert named and all(name == WEIGHTS_NAME for name in named)


@pytest.mark.slow
def test_readme_ring_numbers_are_what_the_command_gives(tmp_path):
    """The full `gankit train ring` (3,000 steps, ~20 s) then `gankit eval runs/ring --json`."""
    line = next(raw for raw in README.read_text().splitlines() if raw.startswith("gankit eval runs/ring --json"))
    stated = {k: float(v) for k, v in re.findall(r'"(\w+)": ([0-9.]+)', line)}
    assert set(stated) == {"modes", "high_quality", "kl"}
    assert _cli(["train", "ring", "--out", "runs/ring", *FAST], tmp_path, tmp_path).returncode == 0
    proc = _cli(["eval", "runs/ring", "--json"], tmp_path, tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    # GAN training is chaotic: other CPUs give other trajectories; a wrong preset's numbers are far outside this
    assert abs(got["modes"] - stated["modes"]) <= 1
    assert abs(got["high_quality"] - stated["high_quality"]) <= 0.1
    assert abs(got["kl"] - stated["kl"]) <= 0.15
