"""The loss-agnostic training loop.

Per iteration the loop runs the phases the objective declares (``D`` k times, then ``G``): it zeroes
gradients, asks the objective for the phase's loss, backpropagates, steps that network's optimizer,
and updates the EMA. It never branches on the GAN type. Around the iterations it logs, renders
snapshots from a fixed latent batch, scores the generator (``eval.every``), writes checkpoints
atomically, and resumes exactly.
"""
from __future__ import annotations

import math
import signal
import sys
import time
from pathlib import Path
from typing import Any, Optional

import torch

from gankit import __version__
from gankit.config import Config
from gankit.data import BatchSampler, load_dataset
from gankit.errors import GankitError, TrainingInterrupted
from gankit.nets import build_nets
from gankit.nets.base import resets_optimizer_at, tell_step
from gankit.objectives import batch_rng, build_objective
from gankit.training import checkpoint as ckpt
from gankit.training import distributed
from gankit.training.ema import EMA
from gankit.training.evaluation import TrainingEvaluator, scores_at_end
from gankit.training.monitor import Monitor, mean_pairwise_distance
from gankit.training.optim import build_optimizer, lr_factor, set_lr
from gankit.training.precision import Player, check_precision, make_scaler
from gankit.training.run_setup import RunTimeEstimate, data_spec, fixed_labels, grad_norm, pick_device
from gankit.training.rundir import JsonlLog, RunDir
from gankit.training.snapshots import render_real, render_step
from gankit.training.sync_batchnorm import count_batchnorms, sync_batchnorm
from gankit.training.tensorboard import check_tensorboard, make_duties
from gankit.training.trainer_state import TrainerState


class Trainer(TrainerState):
    """Holds everything one training run needs; ``fit`` runs it to ``cfg.train.steps``."""

    def __init__(self, cfg: Config, run: Optional[RunDir] = None, progress: bool = True) -> None:
        self.cfg = cfg
        self.run = run
        self.progress = progress
        t = cfg.train
        if t.threads:
            torch.set_num_threads(t.threads)
        self.ranks, self.device = distributed.setup(pick_device(t.device))
        batch_rng.set_shard(self.ranks.rank, self.ranks.world)  # per-sample draws of the objective
        torch.manual_seed(t.seed)  # the same on every rank: the same initial weights, one shared RNG stream
        self.data = load_dataset(cfg.data, "train")
        self.spec = data_spec(self.data)
        G, D = build_nets(cfg.model, self.spec, **cfg.heads)
        self.G, self.D = G.to(self.device), D.to(self.device)
        self.warnings: list[str] = []  # said now on stderr, and written to the log when training starts
        if t.sync_batchnorm:
            self._sync_batchnorm()
        self.objective = build_objective(cfg.objective)
        if t.channels_last and self.spec.kind == "image":
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.opt_g = build_optimizer(t.g_optim, self.G.parameters(), t.optim_impl)
        self.opt_d = build_optimizer(t.d_optim, self.D.parameters(), t.optim_impl)
        check_precision(t.precision, self.device)
        if t.tensorboard:
            check_tensorboard()
        self._duties: list = []  # optional duties of a run with a folder (TensorBoard), set up by fit
        self.scalers = {"G": make_scaler(t.precision, self.device), "D": make_scaler(t.precision, self.device)}
        self.ema = EMA(self.G, t.ema, t.ema_start, t.ema_rampup) if t.ema > 0 else None
        self._step_nets: Optional[list] = None  # the nets that learn the step (_tell_nets_step)
        self._fit_batch_to_data()
        # data.batch_size is the global batch; each rank trains on its slice of it
        self.batch_size = distributed.local_batch(cfg.data.batch_size, self.ranks, cfg.model.d_pack)
        self.sampler = BatchSampler(self.data, cfg.data.batch_size, seed=t.seed,
                                    shard=(self.ranks.rank, self.ranks.world))
        self.phases = self.objective.schedule()
        self._players = self._make_players()
        self._methods = {p.name: getattr(self.objective, f"{p.name.lower()}_step") for p in self.phases}
        self.conditional = cfg.conditional
        self.g_params = list(self.G.parameters())
        self.d_params = list(self.D.parameters())
        # A fixed latent batch, from its own generator, so snapshots over time are comparable and
        # drawing it does not move the training RNG.
        n_fixed = t.n_show if self.spec.kind == "image" else 16 * t.n_show
        if self.G.num_classes and self.spec.kind == "image":  # whole rows, one per class
            n_fixed = max(t.n_show // self.G.num_classes, 1) * self.G.num_classes
        self.z_fixed = self.G.sample_z(n_fixed, torch.Generator().manual_seed(t.seed + 7919))
        self.y_fixed = fixed_labels(n_fixed, self.G.num_classes)  # per-class rows for conditional G
        self.monitor = Monitor(probabilistic=self.objective.probabilistic,
                               saturating=bool(getattr(self.objective, "saturating", False)))
        self._real_spread: Optional[float] = None
        self.step = 0
        self._stop: Optional[str] = None
        # Scoring during training. Building it may initialize a feature network: keep that off the
        # training RNG, so a run is the same with scoring on or off.
        self.evaluator: Optional[TrainingEvaluator] = None
        # Under torchrun every rank has one: each scores its share of the samples (distributed.rows).
        if cfg.eval.every > 0 or scores_at_end(cfg, self.spec):
            with torch.random.fork_rng(devices=self._rng_devices()):
                self.evaluator = TrainingEvaluator(cfg, load_dataset(cfg.data, "test"), self.spec, self.device,
                                                   self.ranks)
        self.eval_records: list[dict] = []  # the scores of this process, also when run is None
        self._postfix: dict = {}

    def _sync_batchnorm(self) -> None:
        """``train.sync_batchnorm``: G's and D's BatchNorms normalize over the global batch under
        torchrun (before the optimizers and the EMA copy are made: the replaced modules are new)."""
        found = count_batchnorms(self.G) + count_batchnorms(self.D)
        if not self.ranks.active:
            self._warn("train.sync_batchnorm has no effect in one process (the batch is the global batch); "
                       "it applies under torchrun")
        elif not found:
            self._warn("train.sync_batchnorm: G and D have no BatchNorm, nothing to synchronize")
        else:
            self.G = sync_batchnorm(self.G, self.device)
            self.D = sync_batchnorm(self.D, self.device)

    def _fit_batch_to_data(self) -> None:
        """A dataset smaller than ``data.batch_size`` (a small folder of one's own images) gets a batch
        of all its items, with a warning; the config records the batch size used."""
        data_cfg = self.cfg.data
        if hasattr(self.data, "sample") or len(self.data) >= data_cfg.batch_size:
            return
        pack = self.cfg.model.d_pack
        fitted = len(self.data) - len(self.data) % pack
        if fitted < 1:
            return  # fewer items than one pack: the sampler's error says what to do
        message = (f"{data_cfg.name} has {len(self.data)} items, fewer than data.batch_size={data_cfg.batch_size}: "
                   f"training with data.batch_size={fitted} (every batch is then the whole dataset; set "
                   f"data.batch_size yourself to silence this)")
        self._warn(message)
        data_cfg.batch_size = fitted

    def _warn(self, message: str) -> None:
        """Say ``message`` on stderr (rank 0 under torchrun) and keep it for the log."""
        if self.ranks.is_main:
            print(f"gankit: warning: {message}", file=sys.stderr)
        self.warnings.append(message)

    def save(self) -> Optional[Path]:
        """Write a checkpoint (rank 0). Under torchrun every rank calls it: each one's RNG and data
        position are gathered into it; the other ranks write nothing and get None."""
        state = self._full_state()
        if self.run is None:
            return None
        return ckpt.save_checkpoint(self.run.checkpoints, self.step, state, self.manifest(),
                                    keep=self.cfg.train.keep_checkpoints)

    def close(self) -> None:
        """Leave the process group this trainer opened (under torchrun)."""
        distributed.shutdown(self.ranks)

    def save_best(self) -> Optional[Path]:
        """Write ``checkpoints/best.*`` (replacing it) with the current state and the best score
        (rank 0; under torchrun every rank calls it, as :meth:`save`)."""
        assert self.evaluator is not None
        state = self._full_state()
        if self.run is None:
            return None
        manifest = {**self.manifest(), "best": self.evaluator.best_record()}
        return ckpt.save_checkpoint(self.run.checkpoints, self.step, state, manifest, name=ckpt.BEST)

    def _tell_nets_step(self) -> None:
        """Nets whose blocks are a function of the step (progressive growing) learn it before each
        iteration (on resume their step buffers come back with the checkpoint's weights), and may ask
        for their optimizer's state to be cleared at that step."""
        if self._step_nets is None:  # found once: for most nets the per-iteration work is then nothing
            nets = (self.G, self.D) + ((self.ema.shadow,) if self.ema is not None else ())
            self._step_nets = [n for n in nets if any(callable(getattr(m, "set_step", None)) for m in n.modules())]
        for net in self._step_nets:
            tell_step(net, self.step)
        for net, opt in ((self.G, self.opt_g), (self.D, self.opt_d)):
            if any(net is n for n in self._step_nets) and resets_optimizer_at(net, self.step):
                opt.state.clear()  # a pure function of the step: a resume repeats it

    def _rng_devices(self) -> list:
        return [self.device] if self.device.type == "cuda" else []

    @property
    def G_show(self) -> torch.nn.Module:
        """The generator to sample from: the EMA copy when it is on."""
        return self.ema.shadow if self.ema is not None else self.G

    # ------------------------------------------------------------------ one iteration
    def _make_players(self) -> dict:
        """(G, D) as each phase's step sees them, by the net that phase trains. In fp32 they are the
        modules themselves; otherwise :class:`Player` views that run under autocast and return fp32."""
        precision, compiled = self.cfg.train.precision, self.cfg.train.compile
        self._hand_reduced: set = set()  # phases whose gradients are averaged over ranks by hand
        if precision == "fp32" and not self.ranks.active and not compiled:
            return {p.name: (self.G, self.D) for p in self.phases}
        G_ddp, D_ddp = (distributed.wrap(m, self.ranks, self.device) for m in (self.G, self.D))
        bare_D = self.D
        if compiled:  # one compiled forward per way of calling a net; the modules (and checkpoints) stay as they are
            G_ddp, D_ddp, bare_D = (torch.compile(m) for m in (G_ddp, D_ddp, self.D))

        def view(module: torch.nn.Module, forward: Any, net: str) -> Player:
            return Player(module, forward, precision=precision, device=self.device, scaler=self.scalers[net])

        players = {}
        for p in self.phases:
            if p.net == "G":  # G's step trains G only: the bare D (no DDP reduction for weights it keeps)
                players[p.name] = (view(self.G, G_ddp, "G"), view(self.D, bare_D, "G"))
            elif p.name == "D":
                players[p.name] = (view(self.G, G_ddp, "D"), view(self.D, D_ddp, "D"))
            else:  # a penalty-only D phase (lazy R1): some weights get no gradient, which DDP would wait for
                players[p.name] = (view(self.G, G_ddp, "D"), view(self.D, self.D, "D"))
                if self.ranks.active:
                    self._hand_reduced.add(p.name)
        return players

    def iteration(self, want_stats: bool) -> dict:
        """One generator step and the discriminator steps before it; returns detached stats."""
        obj = self.objective
        stats: dict = {}
        y = None
        t = self.cfg.train
        obj.begin_iteration(self.step, self.G, self.D)  # the step and the players, for the terms (objectives/auxiliary.py)
        self._tell_nets_step()
        if t.lr_decay != "none":
            factor = lr_factor(self.step, t.steps, t.lr_decay, t.lr_decay_start)
            set_lr(self.opt_g, t.g_optim.lr, factor)
            set_lr(self.opt_d, t.d_optim.lr, factor)
            if want_stats:
                stats["lr_factor"] = factor
        for phase in self.phases:
            if phase.every > 1 and (self.step + 1) % phase.every:
                continue
            g_phase = phase.net == "G"
            G, D = self._players[phase.name]
            hand_reduced = phase.name in self._hand_reduced
            self.D.requires_grad_(not g_phase)  # no D weight gradients in G's step
            opt, params = (self.opt_g, self.g_params) if g_phase else (self.opt_d, self.d_params)
            scaler = self.scalers[phase.net]
            run_phase = self._methods[phase.name]
            for i in range(phase.repeat):
                if g_phase and not obj.g_uses_real:
                    real = None  # y stays: a conditional G step uses the last labels
                else:
                    real, y = self.sampler.next()
                    if not self.conditional:
                        y = None  # an unconditional G and D take no labels (and refuse them)
                    if self.device.type != "cpu":
                        real = real.to(self.device, non_blocking=True)
                        y = y.to(self.device, non_blocking=True) if y is not None else None
                # the global batch's latents from the shared stream, this rank's slice of them
                z = distributed.shard(self.G.sample_z(self.cfg.data.batch_size, device=self.device), self.ranks)
                opt.zero_grad(set_to_none=True)
                if g_phase:
                    result = run_phase(G, D, real, y, z)
                else:
                    result = run_phase(G, D, real, y, z, last=i == phase.repeat - 1)
                if scaler is None:
                    result.loss.backward()
                    if hand_reduced:
                        distributed.average_gradients(params, self.ranks)
                    if want_stats:
                        stats[f"grad_norm_{phase.name.lower()}"] = grad_norm(params)
                    opt.step()
                else:  # fp16: scaled backward, unscaled gradients for the norm, a step skipped on inf
                    scaler.scale(result.loss).backward()
                    if hand_reduced:
                        distributed.average_gradients(params, self.ranks)
                    if want_stats:
                        scaler.unscale_(opt)
                        stats[f"grad_norm_{phase.name.lower()}"] = grad_norm(params)
                    scaler.step(opt)
                    scaler.update()
                if not g_phase:
                    obj.after_d_step(self.D)
            stats.update(result.stats)
        self.D.requires_grad_(True)
        self.step += 1
        if self.ema is not None:
            self.ema.update(self.G, self.step)
        obj.after_g_step(stats)
        if want_stats and self.ranks.active:
            stats = distributed.mean_stats(stats, self.ranks)
        return stats

    # ------------------------------------------------------------------ the run
    def fit(self) -> dict:
        """Train to ``cfg.train.steps``, logging, snapshotting and checkpointing on the way."""
        from tqdm import tqdm

        t = self.cfg.train
        run = self.run
        log = JsonlLog(run.log_file) if run else None
        self._install_signals()
        trained_before = 0.0  # seconds of the run's earlier segments: the log's clock continues from there
        self._duties = make_duties(t.tensorboard, run.path if run else None, self.step)
        if run:
            trained_before = run.begin_segment(self.step, t.steps, name=self.cfg.name, gankit=__version__,
                                               world_size=self.ranks.world, backend=self.ranks.backend)
            for message in self.warnings:
                log.write({"type": "warning", "step": self.step, "message": message})
            if self.step == 0:
                self.snapshot()
                render_real(self, run.samples / "real.png")
        bar = tqdm(total=t.steps, initial=self.step, disable=not self.progress, dynamic_ncols=True,
                   unit="step", desc=self.cfg.name)
        last: dict = {}
        t_mark, step_mark, t_start = time.perf_counter(), self.step, time.perf_counter()
        estimate = RunTimeEstimate(self.step, t.steps, t_start)
        try:
            while self.step < t.steps:
                next_step = self.step + 1
                log_now = next_step % t.log_every == 0 or next_step == t.steps
                ckpt_now = ((run is not None or self.ranks.active)  # every rank takes part in a checkpoint
                            and (next_step % t.checkpoint_every == 0 or next_step == t.steps))
                stats = self.iteration(want_stats=log_now)
                if log_now or ckpt_now:
                    last = self._check_finite(stats, log)
                if log_now:
                    now = time.perf_counter()
                    rate = (self.step - step_mark) * self.cfg.data.batch_size / max(now - t_mark, 1e-9)
                    t_mark, step_mark = now, self.step
                    diversity = self.diversity()
                    record = {"type": "train", "step": self.step, "time": round(trained_before + now - t_start, 3),
                              "epoch": self.sampler.epoch, **last, "diversity": round(diversity, 4),
                              "img_per_s": round(rate, 1)}
                    if log:
                        log.write(record)
                    self._tell("on_record", record)
                    for alert in self.monitor.update(last, diversity):
                        if log:
                            log.write({"type": "warning", "step": self.step, "key": alert.key,
                                       "message": alert.message})
                        if self.progress:
                            tqdm.write(f"warning at step {self.step}: {alert.message}")
                    postfix = {"loss_d": f"{last.get('loss_d', float('nan')):.3f}",
                               "loss_g": f"{last.get('loss_g', float('nan')):.3f}", "img_s": f"{rate:.0f}"}
                    if self.monitor.active:
                        postfix["warn"] = ",".join(self.monitor.active)
                    self._postfix = postfix
                    bar.set_postfix({**postfix, **self._eval_postfix()}, refresh=False)
                bar.update(1)
                said = estimate.after_step(self.step)
                if said:
                    tqdm.write(f"gankit: {said}", file=sys.stderr)
                    if log:
                        log.write({"type": "event", "step": self.step, "message": said})
                every = self.cfg.eval.every
                if self.evaluator is not None and ((every and self.step % every == 0) or self.step == t.steps):
                    self.evaluate(log)  # before the checkpoint, which then holds the best score so far
                    bar.set_postfix({**self._postfix, **self._eval_postfix()}, refresh=False)
                if run is not None and (self.step % t.sample_every == 0 or self.step == t.steps):
                    self.snapshot()
                if ckpt_now:
                    self.save()
                    self._tell("flush")
                    if run is not None:
                        run.end_segment(self.step)  # a kill -9 later keeps the history up to this checkpoint
                        if self.step < t.steps:
                            self._report()
                if distributed.any_rank(bool(self._stop), self.ranks):  # all ranks stop at the same step
                    if (run is not None or self.ranks.active) and not ckpt_now:
                        self.save()
                    raise KeyboardInterrupt(f"stopped by {self._stop or 'another rank'} at step {self.step}")
        except KeyboardInterrupt as exc:
            bar.close()
            if log:
                log.close()
            self._tell("close")
            raise self._interrupted(str(exc) or "stopped by a second Ctrl-C") from None
        bar.close()
        self._tell("close")
        if run is not None:
            run.end_segment(self.step, "finished")
            run.write_info(status="finished", finished=time.time(), step=self.step)
            self._report()
        if log:
            log.close()
        return last

    def _interrupted(self, reason: str) -> TrainingInterrupted:
        """What a stop leaves: the newest intact checkpoint (the step a resume continues from), in
        run.json and in the exception the CLI turns into its message."""
        if self.run is None:
            return TrainingInterrupted(reason, step=self.step)
        latest = ckpt.latest_checkpoint(self.run.checkpoints)
        kept = ckpt.read_manifest(latest, verify=False)["step"] if latest is not None else 0
        self.run.end_segment(kept, f"stopped at step {kept}")
        self.run.write_info(status=f"stopped at step {kept}", step=kept)
        self._report()
        return TrainingInterrupted(reason, run_dir=self.run.path, step=kept, checkpoint=latest)

    def evaluate(self, log: Optional[JsonlLog] = None) -> dict:
        """Score ``G_show`` now (``eval`` config) and record it: ``eval.jsonl`` (scores and provenance,
        as ``gankit eval`` writes), an ``eval`` record in ``log.jsonl``, ``checkpoints/best.*`` when
        ``eval.best`` improves. Without a run directory it only returns the result."""
        assert self.evaluator is not None, "eval.every is 0: scoring during training is off"
        where = str(self.run.path) if self.run is not None else "(training, no run directory)"
        with torch.random.fork_rng(devices=self._rng_devices()):  # the training RNG stream stays as it was
            result = self.evaluator.score(self.G_show, self.step, self.ema is not None, where)
        scores = {k: v for k, v in result.items() if k != "provenance"}
        self.eval_records.append({"step": self.step, **scores})
        if self.run is not None:
            from gankit.metrics.evaluate import append_record

            append_record(self.run.eval_file, {"type": "eval", "step": self.step, "time": time.time(), **scores,
                                               "provenance": result["provenance"]})
        self._tell("on_record", {"type": "eval", "step": self.step, **scores})
        if log is not None:
            p = result["provenance"]
            how = (f"{', '.join(p['metrics'])} of {p['n_fake']:,} samples ({'EMA' if self.ema is not None else 'G'}) "
                   f"against {p['n_real']:,} real items, {p['extractor']} features")
            caveats = {"caveats": " ".join(p["warnings"])} if p.get("warnings") else {}
            log.write({"type": "eval", "step": self.step, **scores, "how": how, **caveats})
        n_modes = len(self.data.modes) if getattr(self.data, "modes", None) is not None else 0  # toy data
        for alert in self.monitor.update_scores(scores, n_modes):
            if log is not None:
                log.write({"type": "warning", "step": self.step, "key": alert.key, "message": alert.message})
        if self.evaluator.update_best(scores, self.step) and (self.run is not None or self.ranks.active):
            self.save_best()
        return result

    def _eval_postfix(self) -> dict:
        if self.evaluator is None or not self.eval_records:
            return {}
        return self.evaluator.postfix(self.eval_records[-1])

    def _check_finite(self, stats: dict, log: Optional[JsonlLog]) -> dict:
        values = {k: float(v) for k, v in stats.items()}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            where = ""
            if self.run is not None:
                latest = ckpt.latest_checkpoint(self.run.checkpoints)
                where = f"; the last good checkpoint is {latest}" if latest else ""
                msg = f"training diverged at step {self.step}: {', '.join(bad)} is not finite"
                if log:
                    log.write({"type": "warning", "step": self.step, "message": msg})
                self.run.write_info(status=f"diverged at step {self.step}")
            raise GankitError(f"training diverged at step {self.step}: {', '.join(bad)} became "
                              f"{values[bad[0]]}{where}. Try a lower learning rate "
                              f"(train.g_optim.lr, train.d_optim.lr) or another objective")
        return {k: round(v, 6) for k, v in values.items()}

    @torch.no_grad()
    def diversity(self, n: int = 64) -> float:
        """Spread of G's samples on the fixed latents over the spread of real data (1 = as diverse)."""
        if self._real_spread is None:
            gen = torch.Generator().manual_seed(4242)
            if hasattr(self.data, "sample"):
                real = self.data.sample(n, gen)
            else:
                idx = torch.randperm(len(self.data), generator=gen)[:n]
                real = self.data.to_model(self.data.x[idx])
            self._real_spread = max(mean_pairwise_distance(real), 1e-12)
        G = self.G_show
        was = G.training
        G.eval()
        y = self.y_fixed[:n].to(self.device) if self.y_fixed is not None else None
        fake = G(self.z_fixed[:n].to(self.device), y).cpu()
        G.train(was)
        return mean_pairwise_distance(fake) / self._real_spread

    def snapshot(self) -> None:
        if self.run is None:
            return
        path = self.run.samples / f"step_{self.step:07d}.png"
        render_step(self, path)
        self._tell("on_snapshot", self.step, path)

    def _tell(self, event: str, *args: Any) -> None:
        """Call ``event`` on each of the run's optional duties (TensorBoard)."""
        for duty in self._duties:
            getattr(duty, event)(*args)

    def _report(self) -> None:
        from gankit.report import build_report

        build_report(self.run.path)

    def _install_signals(self) -> None:
        """First Ctrl-C / SIGTERM: finish the iteration, checkpoint, stop. A second one: stop now."""
        try:
            def handler(signum: int, frame: Any) -> None:
                if self._stop:
                    raise KeyboardInterrupt
                self._stop = signal.Signals(signum).name  # the step is told when the loop stops
            signal.signal(signal.SIGINT, handler)
            signal.signal(signal.SIGTERM, handler)
        except ValueError:  # not the main thread
            pass
