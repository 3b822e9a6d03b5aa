"""Many seeds in one process: S independent runs of a small model trained as one batched computation.

Each seed is an ordinary :class:`~gankit.training.loop.Trainer` (its own config with ``train.seed``, initial
weights, data sampler, latent RNG stream, run folder and checkpoints). What is shared is the arithmetic: the
seeds' weights and buffers are stacked (``torch.func.stack_module_state``) and G and D run as one
``vmap(functional_call)`` over the seed dimension, so one forward and one backward serve all S runs.

How the objective sees it: the S batches are concatenated into one batch of S * B; the stacked G and D split
it back into [S, B, ...] for the vmap and concatenate the outputs. The objectives run here average
per-sample terms over the batch, so the objective's loss is the mean of the S seeds' losses; the loop
backpropagates S times it, the sum, whose gradient with respect to seed s's weights is seed s's own gradient.
One Adam over the stacked weights is then S independent Adams: Adam's moments and update are elementwise,
and every seed has taken the same number of steps. BatchNorm under vmap normalizes each seed's batch by its
own statistics and updates each seed's running statistics.

Random numbers: each seed's latents are drawn from that seed's own torch RNG stream, the one a separate
``gankit train --seed K`` run draws them from, so for objectives that draw nothing else (ns, minimax, hinge,
lsgan) a batched seed reproduces the separate run to float tolerance. WGAN-GP draws its interpolation weights
inside the objective, for the whole S * B batch at once: those come from a stream shared by the seeds
(re-seeded from the first seed and the step, so a resume is exact), and a seed's run then has the same
distribution as a separate run, not the same numbers.

The per-step statistics of the objective (``loss_d``, ``d_real``, ...) are computed once over the S * B
batch: each seed's ``log.jsonl`` records their mean over the seeds (the record says so with ``seeds``);
the gradient norms, ``diversity``, scores, snapshots and checkpoints are each seed's own.
"""
from __future__ import annotations

import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from gankit import __version__
from gankit.config import Config
from gankit.errors import GankitError, TrainingInterrupted
from gankit.training.loop import Trainer
from gankit.training.optim import build_optimizer, lr_factor, set_lr
from gankit.training.rundir import JsonlLog
from gankit.training.stacking import StackedNet, stack_optimizer_state, unstack_optimizer_state

SUPPORTED_OBJECTIVES = ("ns", "minimax", "hinge", "lsgan", "wgan-gp")
SUPPORTED_ARCHS = ("mlp",)


def parse_seeds(text: str) -> list[int]:
    """``0-9`` -> [0, ..., 9]; ``0,3,5`` -> [0, 3, 5]; ``0-2,7`` -> [0, 1, 2, 7]."""
    seeds: list[int] = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if "-" in part[1:]:
                lo, hi = part.split("-", 1) if not part.startswith("-") else (part, "")
                lo_i, hi_i = int(lo), int(hi)
                if hi_i < lo_i:
                    raise ValueError
                seeds.extend(range(lo_i, hi_i + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise GankitError(f"--seeds {text!r}: write a range and/or a list of integers, e.g. 0-9 or 0,3,5") from None
    if len(set(seeds)) != len(seeds):
        raise GankitError(f"--seeds {text!r} names a seed twice; each seed is one run")
    if any(s < 0 for s in seeds):
        raise GankitError(f"--seeds {text!r}: seeds must be >= 0")
    return seeds


def check_supported(cfg: Config) -> None:
    """Refuse, naming the key, a config the batched path does not train (it would train it wrongly)."""
    def refuse(key: str, value: Any, fix: str) -> None:
        raise GankitError(f"--seeds: {key}={value!r} is not supported by the many-seeds path; {fix} "
                          f"(or train the seeds one by one with --seed K)")

    if cfg.model.arch not in SUPPORTED_ARCHS:
        refuse("model.arch", cfg.model.arch, f"it trains {', '.join(SUPPORTED_ARCHS)} nets (the ring/grid presets)")
    if cfg.objective.name not in SUPPORTED_OBJECTIVES:
        refuse("objective.name", cfg.objective.name, f"it trains {', '.join(SUPPORTED_OBJECTIVES)}")
    if cfg.objective.term_params():
        refuse("objective.terms", sorted(cfg.objective.term_params()), "it trains the base game without terms")
    if cfg.conditional:
        refuse("model.g_cond", cfg.model.g_cond, "it trains unconditional nets")
    if cfg.model.d_pack != 1:
        refuse("model.d_pack", cfg.model.d_pack, "it trains an unpacked D")
    if cfg.train.ema > 0:
        refuse("train.ema", cfg.train.ema, "set train.ema=0")
    if cfg.train.precision != "fp32":
        refuse("train.precision", cfg.train.precision, "set train.precision=fp32")
    if cfg.train.compile:
        refuse("train.compile", cfg.train.compile, "set train.compile=false")
    if cfg.train.tensorboard:
        refuse("train.tensorboard", cfg.train.tensorboard, "set train.tensorboard=false")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise GankitError("--seeds is not supported under torchrun; start it as one process")


def get_rng(device: torch.device) -> tuple:
    """The torch RNG state a Trainer on ``device`` draws from: the CPU's, and the device's on CUDA."""
    return (torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None)


def set_rng(state: tuple, device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def _seed_grad_norms(params: list, seeds: int) -> list[float]:
    """The L2 norm of each seed's gradient over stacked parameters ([S, ...] each)."""
    total = torch.zeros(seeds)
    for p in params:
        if p.grad is not None:
            total += p.grad.detach().reshape(seeds, -1).double().pow(2).sum(1).float().cpu()
    return [float(x) for x in total.sqrt()]


def _without_seed(cfg: Config) -> dict:
    d = cfg.to_dict()
    d["train"] = {k: v for k, v in d["train"].items() if k != "seed"}
    return d


class MultiSeedTrainer:
    """Trains the seeds' :class:`Trainer` objects (built, and loaded when resuming, as for a separate run)
    as one batched computation; each trainer's own run folder, log and checkpoints are written as usual."""

    def __init__(self, trainers: Sequence[Trainer], progress: bool = True) -> None:
        self.trainers = list(trainers)
        self.progress = progress
        if not self.trainers:
            raise GankitError("--seeds names no seed")
        t0 = self.trainers[0]
        steps = {tr.step for tr in self.trainers}
        if len(steps) > 1:
            raise GankitError(f"--seeds: the seeds' runs are at different steps {sorted(steps)}; resume each "
                              f"alone (gankit train --resume RUN_seedK --steps N) to the same step first")
        for tr in self.trainers:
            check_supported(tr.cfg)
            if _without_seed(tr.cfg) != _without_seed(t0.cfg):
                raise GankitError("--seeds: the seeds' configs differ in more than train.seed")
        self.S = len(self.trainers)
        self.cfg = t0.cfg
        self.step = t0.step
        self.device = t0.device
        self.rng: list[tuple] = []  # each seed's torch RNG state (get_rng): set by capture_rng
        self.Gs = StackedNet([tr.G for tr in self.trainers])
        self.Ds = StackedNet([tr.D for tr in self.trainers])
        t = self.cfg.train
        self.opt_g = build_optimizer(t.g_optim, list(self.Gs.params.values()), t.optim_impl)
        self.opt_d = build_optimizer(t.d_optim, list(self.Ds.params.values()), t.optim_impl)
        if t0.step > 0:
            for opt, name in ((self.opt_g, "opt_g"), (self.opt_d, "opt_d")):
                opt.load_state_dict(stack_optimizer_state(
                    [getattr(tr, name).state_dict() for tr in self.trainers], "--seeds --resume"))
        self.objective = t0.objective  # one instance: the supported objectives keep no per-run state
        self.phases = self.objective.schedule()
        self.batch = self.cfg.data.batch_size
        self._stop: Optional[str] = None

    def capture_rng(self, states: Sequence[tuple]) -> None:
        """Each seed's torch RNG state, as its Trainer left it (after building, or after loading)."""
        self.rng = list(states)

    # ------------------------------------------------------------------ one iteration
    def _draw_z(self) -> torch.Tensor:
        zs = []
        for s, tr in enumerate(self.trainers):
            set_rng(self.rng[s], self.device)
            zs.append(tr.G.sample_z(self.batch, device=tr.device))
            self.rng[s] = get_rng(self.device)
        return torch.cat(zs)

    def _real(self) -> torch.Tensor:
        parts = [tr.sampler.next()[0] for tr in self.trainers]
        return torch.cat([p.to(self.trainers[0].device) for p in parts])

    def iteration(self, want_stats: bool = False) -> dict:
        """One generator step (and the D steps before it) of every seed. Returns the objective's
        statistics (over the S x B batch: the seeds' mean) and, with ``want_stats``, ``per_seed``: each
        seed's own gradient norms (``grad_norm_d``, ``grad_norm_g``), as a separate run logs them."""
        obj, t = self.objective, self.cfg.train
        stats: dict = {}
        per_seed: list[dict] = [{} for _ in self.trainers]
        obj.begin_iteration(self.step, self.Gs, self.Ds)
        if t.lr_decay != "none":
            factor = lr_factor(self.step, t.steps, t.lr_decay, t.lr_decay_start)
            set_lr(self.opt_g, t.g_optim.lr, factor)
            set_lr(self.opt_d, t.d_optim.lr, factor)
            stats["lr_factor"] = factor
        for phase in self.phases:
            if phase.every > 1 and (self.step + 1) % phase.every:
                continue
            g_phase = phase.net == "G"
            for p in self.Ds.params.values():
                p.requires_grad_(not g_phase)
            opt = self.opt_g if g_phase else self.opt_d
            run_phase = getattr(obj, f"{phase.name.lower()}_step")
            for i in range(phase.repeat):
                real = None if g_phase and not obj.g_uses_real else self._real()
                z = self._draw_z()
                # what the objective draws itself (WGAN-GP's eps) comes from a stream shared by the seeds,
                # a function of the step (and so the same after a resume)
                torch.manual_seed(1_000_003 * (self.step + 1) + 7 * i + self.trainers[0].cfg.train.seed)
                opt.zero_grad(set_to_none=True)
                if g_phase:
                    result = run_phase(self.Gs, self.Ds, real, None, z)
                else:
                    result = run_phase(self.Gs, self.Ds, real, None, z, last=i == phase.repeat - 1)
                (result.loss * self.S).backward()  # the sum of the seeds' losses: each seed its own gradient
                if want_stats:
                    norms = _seed_grad_norms(list((self.Gs if g_phase else self.Ds).params.values()), self.S)
                    for s, norm in enumerate(norms):
                        per_seed[s][f"grad_norm_{phase.name.lower()}"] = norm
                opt.step()
            stats.update(result.stats)
        for p in self.Ds.params.values():
            p.requires_grad_(True)
        self.step += 1
        for tr in self.trainers:
            tr.step = self.step
        obj.after_g_step(stats)
        if want_stats:
            stats["per_seed"] = per_seed
        return stats

    # ------------------------------------------------------------------ the seeds' own state
    def sync(self, optimizers: bool = False) -> None:
        """Copy the stacked weights (and optimizer state) into each seed's plain modules."""
        nets_g, nets_d = [tr.G for tr in self.trainers], [tr.D for tr in self.trainers]
        self.Gs.copy_to(nets_g)
        self.Ds.copy_to(nets_d)
        if optimizers:
            sg, sd = self.opt_g.state_dict(), self.opt_d.state_dict()
            for s, tr in enumerate(self.trainers):
                tr.opt_g.load_state_dict(unstack_optimizer_state(sg, s, self.S))
                tr.opt_d.load_state_dict(unstack_optimizer_state(sd, s, self.S))

    def save(self) -> None:
        """Each seed's normal checkpoint (its weights, optimizer, sampler and RNG stream)."""
        self.sync(optimizers=True)
        keep = get_rng(self.device)
        for s, tr in enumerate(self.trainers):
            set_rng(self.rng[s], self.device)
            tr.save()
        set_rng(keep, self.device)

    def _install_signals(self) -> None:
        try:
            def handler(signum: int, frame: Any) -> None:
                if self._stop:
                    raise KeyboardInterrupt
                self._stop = signal.Signals(signum).name
            signal.signal(signal.SIGINT, handler)
            signal.signal(signal.SIGTERM, handler)
        except ValueError:
            pass

    # ------------------------------------------------------------------ the run
    def fit(self) -> list[dict]:
        from tqdm import tqdm

        t = self.cfg.train
        seeds_text = ",".join(str(tr.cfg.train.seed) for tr in self.trainers)
        logs, before = [], []
        self._install_signals()
        for tr in self.trainers:
            run = tr.run
            logs.append(JsonlLog(run.log_file) if run else None)
            before.append(run.begin_segment(self.step, t.steps, name=tr.cfg.name, gankit=__version__, world_size=1,
                                            seeds=seeds_text) if run else 0.0)
            if run and self.step == 0:
                tr.snapshot()
                from gankit.training.snapshots import render_real

                render_real(tr, run.samples / "real.png")
        bar = tqdm(total=t.steps, initial=self.step, disable=not self.progress, dynamic_ncols=True,
                   unit="step", desc=f"{self.cfg.name} x{self.S} seeds")
        last: list[dict] = [{} for _ in self.trainers]
        t_start = t_mark = time.perf_counter()
        step_mark = self.step
        try:
            while self.step < t.steps:
                nxt = self.step + 1
                log_now = nxt % t.log_every == 0 or nxt == t.steps
                ckpt_now = nxt % t.checkpoint_every == 0 or nxt == t.steps
                stats = self.iteration(want_stats=log_now)
                own = stats.pop("per_seed", None) or [{} for _ in self.trainers]
                if log_now or ckpt_now:
                    values = {k: float(v) for k, v in stats.items()}
                    bad = [k for k, v in values.items() if not math.isfinite(v)]
                    if bad:
                        raise GankitError(f"training diverged at step {self.step} (seeds {seeds_text}): "
                                          f"{', '.join(bad)} is not finite; try a lower learning rate "
                                          f"(train.g_optim.lr, train.d_optim.lr)")
                    rounded = {k: round(v, 6) for k, v in values.items()}
                if log_now:
                    now = time.perf_counter()
                    rate = (self.step - step_mark) * self.batch / max(now - t_mark, 1e-9)
                    t_mark, step_mark = now, self.step
                    self.sync()
                    for s, tr in enumerate(self.trainers):
                        diversity = tr.diversity()
                        mine = {**rounded, **{k: round(v, 6) for k, v in own[s].items()}}
                        record = {"type": "train", "step": self.step, "time": round(before[s] + now - t_start, 3),
                                  "epoch": tr.sampler.epoch, **mine, "diversity": round(diversity, 4),
                                  "img_per_s": round(rate, 1), "seeds": seeds_text}
                        last[s] = mine
                        if logs[s]:
                            logs[s].write(record)
                        for alert in tr.monitor.update(mine, diversity):
                            if logs[s]:
                                logs[s].write({"type": "warning", "step": self.step, "key": alert.key,
                                               "message": alert.message})
                    bar.set_postfix({"loss_d": f"{values.get('loss_d', float('nan')):.3f}",
                                     "img_s": f"{rate * self.S:.0f}"}, refresh=False)
                bar.update(1)
                every = self.cfg.eval.every
                eval_now = (every and self.step % every == 0) or self.step == t.steps
                snap_now = self.step % t.sample_every == 0 or self.step == t.steps
                if eval_now or snap_now:
                    self.sync()
                for s, tr in enumerate(self.trainers):
                    if tr.evaluator is not None and eval_now:
                        tr.evaluate(logs[s])
                    if tr.run is not None and snap_now:
                        tr.snapshot()
                if ckpt_now:
                    self.save()
                    for tr in self.trainers:
                        if tr.run is not None:
                            tr.run.end_segment(self.step)
                            if self.step < t.steps:
                                tr._report()
                if self._stop:
                    if not ckpt_now:
                        self.save()
                    raise KeyboardInterrupt(f"stopped by {self._stop} at step {self.step}")
        except KeyboardInterrupt as exc:
            bar.close()
            for log in logs:
                if log:
                    log.close()
            stops = [tr._interrupted(str(exc) or "stopped by a second Ctrl-C") for tr in self.trainers]
            first = stops[0]
            stop = TrainingInterrupted(f"{first.reason} (all {self.S} seeds)", run_dir=first.run_dir,
                                       step=first.step, checkpoint=first.checkpoint)
            if first.run_dir is not None:  # the command that continues all seeds, batched
                base = Path(str(first.run_dir)).name.rsplit("_seed", 1)[0]
                stop.resume_command = (f"gankit train --resume {Path(str(first.run_dir)).parent / base} "
                                       f"--seeds {seeds_text}")
            raise stop from None
        bar.close()
        for s, tr in enumerate(self.trainers):
            if tr.run is not None:
                tr.run.end_segment(self.step, "finished")
                tr.run.write_info(status="finished", finished=time.time(), step=self.step)
                tr._report()
            if logs[s]:
                logs[s].close()
        return last


def batch_new_runs(cfgs: Sequence[Config], runs: Optional[Sequence[Any]] = None,
                   progress: bool = True) -> MultiSeedTrainer:
    """The seeds' new runs (one config each, differing in ``train.seed``; run folders optional), each
    Trainer built as a separate run builds it, then batched: each seed's RNG stream is captured right after
    its Trainer is built, the stream a separate run with that seed draws its latents from."""
    trainers, rng = [], []
    for cfg, run in zip(cfgs, runs if runs is not None else [None] * len(cfgs)):
        trainers.append(Trainer(cfg, run, progress=False))
        rng.append(get_rng(trainers[-1].device))
    multi = MultiSeedTrainer(trainers, progress=progress)
    multi.capture_rng(rng)
    return multi


def seed_dir(base: Path, seed: int) -> Path:
    """The run folder of one seed of a many-seeds run: ``BASE_seedK``."""
    return base.parent / f"{base.name}_seed{seed}"


def train_seeds(config: Any, overrides: Optional[list[str]], seeds: Sequence[int], out: Any = None,
                steps: Optional[int] = None, progress: bool = True) -> list[Path]:
    """Train one run per seed, batched; returns the run folders (``OUT_seedK``)."""
    from gankit.config import load_config
    from gankit.training.rundir import RunDir, default_out

    overrides = list(overrides or [])
    if steps is not None:
        overrides.append(f"train.steps={steps}")
    base_cfg = load_config(config, overrides)
    check_supported(base_cfg)
    base = Path(out) if out else default_out(base_cfg.name)
    cfgs = [load_config(config, overrides + [f"train.seed={seed}"]) for seed in seeds]
    runs = [RunDir(seed_dir(base, seed)) for seed in seeds]
    for cfg, run in zip(cfgs, runs):
        run.check_new(cfg)
    multi = batch_new_runs(cfgs, runs, progress=progress)
    try:
        for tr, run in zip(multi.trainers, runs):
            run.create(tr.cfg)
            run.acquire()
        multi.fit()
    finally:
        for run in runs:
            run.release()
    return [run.path for run in runs]


def resume_seeds(base: Any, seeds: Sequence[int], steps: Optional[int] = None, progress: bool = True) -> list[Path]:
    """Continue the runs ``BASE_seedK`` of a many-seeds run, batched, from their latest checkpoints
    (which must be at the same step)."""
    from gankit.training.rundir import RunDir

    base = Path(base)
    runs = [RunDir(seed_dir(base, seed)) for seed in seeds]
    try:
        return _resume_seeds(base, runs, steps, progress)
    finally:
        for run in runs:
            run.release()


def _resume_seeds(base: Path, runs: list, steps: Optional[int], progress: bool) -> list[Path]:
    from gankit.api import check_same_classes
    from gankit.fileio import atomic_write_text
    from gankit.training import checkpoint as ckpt

    trainers, rng = [], []
    for run in runs:
        if not run.path.is_dir():
            raise GankitError(f"--resume {base} --seeds: no run folder {run.path} (the folders of a many-seeds "
                              f"run are BASE_seedK; pass BASE)")
        run.acquire()
        manifest, state, cfg, latest = ckpt.resume_point(run, steps)
        check_supported(cfg)
        tr = Trainer(cfg, run, progress=False)
        if state is not None:
            check_same_classes(manifest.get("data", {}), tr.spec, str(latest))
            tr.load_state_dict(state, str(latest))
            tr.step = manifest["step"]
        rng.append(get_rng(tr.device))
        trainers.append(tr)
    if trainers[0].step >= trainers[0].cfg.train.steps:
        raise GankitError(f"{base}: the seeds are already at step {trainers[0].step} of "
                          f"{trainers[0].cfg.train.steps}; train further with --steps N")
    multi = MultiSeedTrainer(trainers, progress=progress)  # checks the seeds are at one step
    for tr in trainers:
        print(f"gankit: resuming {tr.run.path} from step {tr.step} of {tr.cfg.train.steps}", file=sys.stderr)
        atomic_write_text(tr.run.config_file, tr.cfg.to_yaml())
        tr.run.truncate_log(tr.step)
        tr.run.truncate_eval_log(tr.step)
        tr.run.remove_samples_after(tr.step)
        ckpt.discard_best_after(tr.run.checkpoints, tr.step)
    multi.capture_rng(rng)
    multi.fit()
    return [tr.run.path for tr in trainers]
