"""Many seeds in one process (gankit/training/multiseed.py): a batched seed is the separate run with that
seed (weights, buffers, optimizer state), one Adam over stacked weights is S Adams, resume is exact, each
seed's run folder is an ordinary run, and what the batched path does not train is refused by name."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from torch.testing import assert_close

import gankit
from gankit.errors import GankitError
from gankit.training import checkpoint as ckpt
from gankit.training.multiseed import parse_seeds, resume_seeds, seed_dir, train_seeds

from helpers import ROOT, gankit as cli

TINY = ["model.g_width=16", "model.d_width=16", "model.g_layers=2", "model.d_layers=2", "data.batch_size=32",
        "train.threads=1", "train.log_every=2", "train.sample_every=1000", "train.checkpoint_every=3",
        "eval.every=0", "train.steps=6"]
NO_BN = TINY + ["model.g_norm=none"]


def _final(run_dir):
    return ckpt.load_checkpoint(ckpt.latest_checkpoint(run_dir / "checkpoints"))[1]


def _pre_bn_biases(G) -> set:
    """The biases of the Linear layers that feed a BatchNorm: BatchNorm subtracts the batch mean, so their
    true gradient is 0 and what they get is float noise, which Adam turns into steps of its learning rate."""
    names, mods = [], list(G.named_modules())
    for (name, m), (_, nxt) in zip(mods, mods[1:]):
        if isinstance(m, torch.nn.Linear) and isinstance(nxt, torch.nn.modules.batchnorm._BatchNorm):
            names.append(f"{name}.bias")
    return set(names)


def test_parse_seeds():
    assert parse_seeds("0-9") == list(range(10))
    assert parse_seeds("0,3,5") == [0, 3, 5]
    assert parse_seeds("0-2,7") == [0, 1, 2, 7]
    for bad in ("a", "3-1", "0,0", "-1", "1-"):
        with pytest.raises(GankitError, match="--seeds"):
            parse_seeds(bad)


def test_one_adam_over_stacked_weights_is_independent_adams():
    torch.manual_seed(0)
    S = 3
    ws = [torch.randn(4, 5, requires_grad=True) for _ in range(S)]
    stacked = torch.stack([w.detach() for w in ws]).requires_grad_(True)
    xs = torch.randn(S, 8, 5)
    opts = [torch.optim.Adam([w], lr=1e-2, betas=(0.5, 0.999)) for w in ws]
    opt = torch.optim.Adam([stacked], lr=1e-2, betas=(0.5, 0.999))
    for _ in range(5):
        for w, o, x in zip(ws, opts, xs):
            o.zero_grad()
            (x @ w.T).tanh().pow(2).mean().backward()
            o.step()
        opt.zero_grad()
        sum((xs[s] @ stacked[s].T).tanh().pow(2).mean() for s in range(S)).backward()
        opt.step()
    for s in range(S):
        assert_close(stacked.detach()[s], ws[s].detach(), rtol=1e-6, atol=1e-7)
        assert_close(opt.state[stacked]["exp_avg_sq"][s], opts[s].state[ws[s]]["exp_avg_sq"])


def test_batched_seeds_equal_separate_runs(tmp_path):
    """ns objective, G without BatchNorm: every tensor of every seed's checkpoint (weights, Adam moments,
    the sampler's and the latent RNG's state) matches a separate `gankit train --seed K` run."""
    paths = train_seeds("ring", NO_BN, [0, 1, 2], out=tmp_path / "multi", progress=False)
    assert paths == [tmp_path / f"multi_seed{s}" for s in range(3)]
    for s, path in enumerate(paths):
        alone = _final(gankit.train("ring", NO_BN, out=tmp_path / f"alone{s}", seed=s, progress=False).path)
        batched = _final(path)
        for net in ("G", "D"):
            assert batched[net].keys() == alone[net].keys()
            for k in alone[net]:
                assert_close(batched[net][k], alone[net][k], rtol=1e-5, atol=1e-6, msg=f"seed {s} {net}.{k}")
        for opt in ("opt_g", "opt_d"):
            for i, st in alone[opt]["state"].items():
                for k, v in st.items():
                    assert_close(batched[opt]["state"][i][k], v, rtol=1e-4, atol=1e-7)
        assert torch.equal(batched["rng"]["torch"], alone["rng"]["torch"])  # the same latents were drawn
        assert torch.equal(torch.as_tensor(batched["sampler"]["generator_state"]),
                           torch.as_tensor(alone["sampler"]["generator_state"]))  # the same data were drawn
        # each seed's own gradient norms in its log, as the separate run logs them
        logged = lambda run: [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()  # noqa: E731
                              if '"type": "train"' in x]
        la, lb = logged(path), logged(tmp_path / f"alone{s}")
        assert [r["step"] for r in la] == [r["step"] for r in lb] and la
        for ra, rb in zip(la, lb):
            for k in ("grad_norm_d", "grad_norm_g"):
                assert ra[k] == pytest.approx(rb[k], rel=1e-3, abs=1e-6), (s, ra["step"], k)
        # the final scores (eval.final, the same samples of the same G): equal
        score = lambda run: json.loads((run / "eval.jsonl").read_text().splitlines()[-1])  # noqa: E731
        a, b = score(path), score(tmp_path / f"alone{s}")
        assert (a["step"], a["modes"], a["high_quality"]) == (b["step"], b["modes"], b["high_quality"])
        assert (a["kl"] is None and b["kl"] is None) or abs(a["kl"] - b["kl"]) < 1e-4
    # the seeds are different runs
    assert not torch.allclose(_final(paths[0])["G"]["net.0.weight"], _final(paths[1])["G"]["net.0.weight"])


def test_batched_seeds_with_batchnorm_match_separate_runs(tmp_path):
    """The ring preset's G has BatchNorm: each seed normalizes by its own batch and keeps its own running
    statistics. All tensors match the separate runs except the biases in front of a BatchNorm (a zero true
    gradient: float noise, scaled up by Adam, moves them by up to ~lr per step; they do not change G's output
    in training mode), so G's samples are compared too."""
    paths = train_seeds("ring", TINY, [0, 1], out=tmp_path / "multi", progress=False)
    for s, path in enumerate(paths):
        run = gankit.train("ring", TINY, out=tmp_path / f"alone{s}", seed=s, progress=False).path
        a, b = gankit.load(path), gankit.load(run)
        skip = _pre_bn_biases(a.G)
        assert skip, "the test needs a G with BatchNorm"
        sa, sb = a.G.state_dict(), b.G.state_dict()
        for k in sa:
            if k not in skip and not k.endswith("running_mean"):
                assert_close(sa[k], sb[k], rtol=1e-4, atol=1e-6, msg=f"seed {s} G.{k}")
        z = a.G.sample_z(256, torch.Generator().manual_seed(1))
        a.G.train(), b.G.train()
        with torch.no_grad():
            assert_close(a.G(z), b.G(z), rtol=1e-4, atol=1e-5)


def test_resume_is_exact(tmp_path):
    train_seeds("ring", NO_BN, [0, 1], out=tmp_path / "whole", progress=False)
    train_seeds("ring", NO_BN + ["train.steps=3"], [0, 1], out=tmp_path / "split", progress=False)
    resume_seeds(tmp_path / "split", [0, 1], steps=6, progress=False)
    for s in (0, 1):
        whole, split = _final(seed_dir(tmp_path / "whole", s)), _final(seed_dir(tmp_path / "split", s))
        for net in ("G", "D"):
            for k in whole[net]:
                assert torch.equal(whole[net][k], split[net][k]), f"seed {s} {net}.{k}"
        assert torch.equal(whole["rng"]["torch"], split["rng"]["torch"])


def test_wgan_gp_seeds_train_and_are_independent(tmp_path):
    """WGAN-GP draws its penalty's interpolation weights inside the objective, for all seeds at once (a
    shared stream, documented): the runs then have the distribution of separate runs, not their numbers.
    The seeds stay separate runs, each close to its separate run after two steps from the same start."""
    paths = train_seeds("ring-wgan-gp", NO_BN + ["train.steps=2"], [0, 1], out=tmp_path / "m", progress=False)
    a, b = _final(paths[0]), _final(paths[1])
    alone = _final(gankit.train("ring-wgan-gp", NO_BN + ["train.steps=2"], out=tmp_path / "alone", seed=0,
                                progress=False).path)
    assert not torch.allclose(a["D"]["head.weight"], b["D"]["head.weight"])
    for k, v in alone["G"].items():  # close, not equal: a few steps from the same start
        assert (a["G"][k] - v).abs().max() < 0.05
    log = (paths[0] / "log.jsonl").read_text()
    assert '"gp"' in log and '"seeds": "0,1"' in log


@pytest.mark.parametrize("override,key", [
    ("objective.name=wgan", "objective.name"), ("train.ema=0.999", "train.ema"),
    ("model.d_pack=2", "model.d_pack"), ("train.precision=bf16", "train.precision"),
    ("objective.terms={instance_noise: {}}", "objective.terms"),
])
def test_refuses_what_it_does_not_train(tmp_path, override, key):
    with pytest.raises(GankitError, match=f"--seeds: {key}="):
        train_seeds("ring", TINY + [override], [0, 1], out=tmp_path / "r", progress=False)


def test_refuses_image_nets(tmp_path):
    with pytest.raises(GankitError, match="model.arch='dcgan'"):
        train_seeds("fashion-dcgan", ["train.steps=1"], [0, 1], out=tmp_path / "r", progress=False)


def test_cli_seeds_and_sample(tmp_path):
    out = tmp_path / "c"
    r = cli("train", "ring", *NO_BN, "train.steps=2", "--seeds", "0,3", "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert f"run: {out}_seed3" in r.stdout
    for s in (0, 3):
        run = seed_dir(out, s)
        assert gankit.load(run).config.train.seed == s
        r = cli("sample", str(run), "--n", "16", "--out", str(tmp_path / f"s{s}.npz"))
        assert r.returncode == 0, r.stderr
    r = cli("train", "ring", "--seeds", "0,1", "--seed", "2")
    assert r.returncode != 0 and "--seed and --seeds" in r.stderr


def test_resume_refuses_seeds_at_different_steps(tmp_path):
    train_seeds("ring", NO_BN + ["train.steps=3"], [0, 1], out=tmp_path / "m", progress=False)
    gankit.resume(seed_dir(tmp_path / "m", 1), steps=6, progress=False)  # one seed alone, further
    with pytest.raises(GankitError, match="different steps"):
        resume_seeds(tmp_path / "m", [0, 1], steps=9, progress=False)


def test_ctrl_c_checkpoints_every_seed_and_resumes_batched(tmp_path):
    out = tmp_path / "run"
    args = NO_BN + ["train.checkpoint_every=100000", "--steps", "100000", "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "gankit.cli", "train", "ring", *args, "--seeds", "0,1", "--out",
                             str(out)], cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (seed_dir(out, 1) / "log.jsonl").exists():
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    steps = set()
    for s in (0, 1):
        ckpts = sorted((seed_dir(out, s) / "checkpoints").glob("step_*.json"))
        assert len(ckpts) == 1
        steps.add(json.loads(ckpts[0].read_text())["step"])
    assert len(steps) == 1 and steps.pop() > 0
    assert f"'gankit train --resume {out} --seeds 0,1'" in err, err
    r = cli("train", "--resume", str(out), "--seeds", "0,1", "--steps", "200", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert all(json.loads((seed_dir(out, s) / "run.json").read_text())["status"] == "finished" for s in (0, 1))
