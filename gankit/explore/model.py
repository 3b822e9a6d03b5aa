"""A trained generator loaded from a checkpoint, for sampling without the training data."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np
import torch

from gankit.config import stored_config
from gankit.errors import GankitError, closest
from gankit.nets import DataSpec, build_nets
from gankit.nets.base import generate_in_chunks
from gankit.training.checkpoint import load_checkpoint, load_module_state

if TYPE_CHECKING:
    from gankit.explore.dot import DOTResult
    from gankit.explore.rejection import RejectionResult


EMA_CALIBRATION_STEPS = 500  # D trained alone against an EMA G before rejection sampling from it


class LoadedGAN:
    """Generator (the EMA copy when the run kept one, unless ``raw``) plus what it needs to turn
    outputs into data."""

    def __init__(self, path: Union[str, Path], device: str = "cpu", raw: bool = False) -> None:
        manifest, state = load_checkpoint(path)
        self.path = manifest["path"]
        self.step = manifest["step"]
        try:
            self.config = stored_config(manifest["config"])
        except GankitError as exc:
            raise GankitError(f"checkpoint {self.path} holds an invalid config: {exc}") from None
        self.spec = DataSpec(manifest["data"])
        self.device = torch.device(device)
        G, D = build_nets(self.config.model, self.spec, **self.config.heads)
        which = "G_ema" if "G_ema" in state and not raw else "G"  # raw: the trained G, not its average
        load_module_state(G, state[which], "generator", self.path)
        load_module_state(D, state["D"], "discriminator", self.path)
        self.G = G.to(self.device).eval()
        self.D = D.to(self.device).eval()
        self.uses_ema = which == "G_ema"
        self.last_rejection: Optional["RejectionResult"] = None  # the latest DRS call's result (for its warning)

    @property
    def psi_truncation(self) -> bool:
        """True for StyleGAN-style nets, whose truncation is psi toward the average w (``G.truncated``);
        others truncate z (:mod:`gankit.explore.truncation`)."""
        return hasattr(self.G, "w_avg") and callable(getattr(self.G, "truncated", None))

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def conditional(self) -> bool:
        """True when G makes items of a class it is asked for (``model.g_cond``)."""
        return self.G.num_classes > 0

    @property
    def class_names(self) -> list[str]:
        return self.spec.class_names

    def label_index(self, label: Union[int, str]) -> int:
        """A class index from an index (``3``, ``"3"``) or a class name (``"Sneaker"``, any case)."""
        if not self.conditional:
            raise GankitError("this model is unconditional (model.g_cond=none), so it cannot make a chosen class; "
                              "train a conditional one (e.g. 'gankit train fashion-cgan') or drop --label")
        k, names = self.G.num_classes, self.class_names
        text = str(label).strip()
        if text.lstrip("-").isdigit():
            index = int(text)
            if not 0 <= index < k:
                raise GankitError(f"--label {index} is outside the model's {k} classes: use 0..{k - 1} or a name: "
                                  f"{', '.join(names)}")
            return index
        lowered = [n.lower() for n in names]
        if text.lower() in lowered:
            return lowered.index(text.lower())
        raise GankitError(f"--label {text!r} is not a class of this model{closest(text, names)}; valid: "
                          f"{', '.join(names)} (or 0..{k - 1})")

    def labels(self, y: Any, n: int) -> Optional[torch.Tensor]:
        """Labels int64 [n] from an int / class name (all n alike), a sequence or tensor of them, or None."""
        if y is None:
            if self.conditional:
                raise GankitError("this model is conditional: give the labels y (an int, a class name or one per item)")
            return None
        if isinstance(y, (int, str, np.integer)):
            return torch.full((n,), self.label_index(y), dtype=torch.long)
        items = y.tolist() if isinstance(y, (torch.Tensor, np.ndarray)) else list(y)
        if len(items) != n:
            raise GankitError(f"got {len(items)} labels for {n} latents")
        return torch.tensor([self.label_index(v) for v in items], dtype=torch.long)

    def latents(self, n: int, seed: int = 0, label: Any = None,
                truncation: Optional[float] = None) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """(z [n, latent_dim], y [n] or None) drawn with ``seed``: y is ``label`` for every item, or,
        for a conditional model without one, uniform over the classes (drawn after z). ``truncation``
        T redraws every |z_i| > T (:mod:`gankit.explore.truncation`); the labels stay the same. A
        StyleGAN-style net truncates in W instead (``psi`` of :meth:`generate`): its z is left as drawn."""
        if n < 1:
            raise GankitError(f"--n must be >= 1, got {n}")
        gen = torch.Generator().manual_seed(seed)
        z = self.G.sample_z(n, gen)
        y = self.labels(label, n) if label is not None else self.G.sample_y(n, gen)
        if truncation is not None and not self.psi_truncation:
            z = self.truncate(z, truncation, gen)
        return z, y

    def standing_stats(self, batches: int = 16, batch_size: int = 64, seed: int = 0) -> int:
        """Re-estimate G's BatchNorm statistics from ``batches`` batches of its own samples (BigGAN's
        standing statistics, :mod:`gankit.nets.standing_stats`), in place; the number of BatchNorms
        re-estimated (0: G has none)."""
        from gankit.nets.standing_stats import standing_stats

        return standing_stats(self.G, batches, batch_size, torch.Generator().manual_seed(seed))

    def truncate(self, z: torch.Tensor, threshold: float,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Latents z with each |z_i| > ``threshold`` in G's prior units redrawn (BigGAN's truncation)."""
        from gankit.explore.truncation import truncate

        return truncate(z, threshold, self.G.z_dim, self.G.z_dist, generator, self.G.z_std)

    @torch.no_grad()
    def generate(self, n: Union[int, torch.Tensor], y: Any = None, *, seed: int = 0, label: Any = None,
                 batch_size: int = 256, truncation: Optional[float] = None, psi: Optional[float] = None,
                 drs: bool = False, drs_percentile: Optional[float] = None,
                 drs_calibrate: Optional[int] = None, jacobian_keep: Optional[float] = None,
                 dot_steps: Optional[int] = None, dot_scale: float = 1.0) -> torch.Tensor:
        """Raw generator outputs [n, *shape] (images in [-1, 1]).

        ``generate(n, seed=s, label=3)`` draws n latents with ``seed`` (and, for a conditional model,
        the class ``label`` or uniform classes); ``generate(z, y)`` runs G on given latents z
        [n, latent_dim] and labels y (an int, a class name, or one per row; None for an unconditional G).
        ``drs`` keeps samples by discriminator rejection sampling (:mod:`gankit.explore.rejection`) with the
        checkpoint's D, first calibrated for ``drs_calibrate`` steps on the training data when > 0 (None:
        :data:`EMA_CALIBRATION_STEPS` for an EMA G, 0 for the raw G; see :meth:`rejection_sample`).
        ``jacobian_keep`` F: draw n / F latents and keep the n where G's Jacobian is smallest
        (:mod:`gankit.explore.jacobian`, Tanielian et al. 2020).
        ``dot_steps`` N: move each latent by N steps of latent discriminator optimal transport with the
        checkpoint's D (:mod:`gankit.explore.dot`, Tanaka 2019), k_eff times ``dot_scale``; given latents
        are moved too.
        ``truncation`` T: latents truncated at T (given latents are truncated with ``seed``'s redraws);
        for a StyleGAN-style net (:attr:`psi_truncation`) T is psi, w_avg + psi (w - w_avg), in W.
        ``psi`` applies W truncation alone (to latents already truncated or not), for such nets only.
        """
        if self.psi_truncation and truncation is not None:
            psi, truncation = truncation if psi is None else psi, None
        if psi is not None and not self.psi_truncation:
            raise GankitError("psi truncation (toward the average w) needs a StyleGAN-style net (model.arch="
                              "stylegan); this one truncates z: use truncation=T")
        if dot_steps is not None:
            if drs or jacobian_keep is not None or truncation is not None or psi is not None:
                raise GankitError("--dot-steps moves latents drawn from the prior; drop --drs / --jacobian-keep / "
                                  "--truncation")
            return self.dot(n, seed, dot_steps, dot_scale, label if label is not None else y).x
        if isinstance(n, torch.Tensor):
            if drs or jacobian_keep is not None:
                raise GankitError("rejection sampling and Jacobian truncation draw their own latents: call "
                                  "generate(n, ...) with a count")
            z = n if truncation is None else self.truncate(n, truncation, torch.Generator().manual_seed(seed))
            return self._run(z, self.labels(y, len(n)), batch_size, psi)
        if drs:
            if self.conditional:
                raise GankitError("--drs is not available for conditional models yet (D's acceptance depends on "
                                  "the label); sample without --drs")
            if truncation is not None or psi is not None:
                raise GankitError("--drs and --truncation both choose which latents to keep; use one")
            if jacobian_keep is not None:
                raise GankitError("--drs and --jacobian-keep both choose which samples to keep; use one")
            self.last_rejection = self.rejection_sample(n, seed, drs_percentile, drs_calibrate)
            return self.last_rejection.x
        if jacobian_keep is not None:
            from gankit.explore.jacobian import jacobian_truncate

            if truncation is not None or psi is not None or label is not None or y is not None:
                raise GankitError("--jacobian-keep draws its own latents from the prior, for an unconditional "
                                  "model; drop --truncation / --label")
            return jacobian_truncate(self.G, n, torch.Generator().manual_seed(seed), jacobian_keep,
                                     batch_size=batch_size).x
        z, labels = self.latents(n, seed, label if label is not None else y, truncation)
        return self._run(z, labels, batch_size, psi)

    def dot(self, n: Union[int, torch.Tensor], seed: int = 0, steps: int = 30, scale: float = 1.0,
            label: Any = None) -> "DOTResult":
        """Latent discriminator optimal transport (:mod:`gankit.explore.dot`): ``n`` latents drawn with ``seed``
        (or the given ones) moved by ``steps`` steps; a conditional model keeps each draw's label (``label``,
        one per latent or one for all; drawn uniformly after the latents when None, as :meth:`latents`)."""
        from gankit.explore.dot import dot_sample

        count = len(n) if isinstance(n, torch.Tensor) else n
        labels = self.labels(label, count) if label is not None or isinstance(n, torch.Tensor) else None
        return dot_sample(self.G, self.D, n, torch.Generator().manual_seed(seed), steps=steps, scale=scale,
                          d_pack=self.config.model.d_pack, y=labels)

    def _run(self, z: torch.Tensor, y: Optional[torch.Tensor], batch_size: int,
             psi: Optional[float] = None) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.G.latent_dim:
            raise GankitError(f"latents must be [n, {self.G.latent_dim}], got {list(z.shape)}")
        G = self.G if psi is None else (lambda z_, y_: self.G.truncated(z_, psi, y_))
        return generate_in_chunks(G, z, y, self.device, batch_size)

    def rejection_sample(self, n: int, seed: int = 0, percentile: Optional[float] = None,
                         calibrate: Optional[int] = None) -> "RejectionResult":
        """Discriminator rejection sampling from this model; see :func:`gankit.explore.rejection.rejection_sample`.

        ``calibrate`` steps of training D alone against the sampled G first (on the training data).
        None (the default): none for the raw G, which D was trained against, and
        :data:`EMA_CALIBRATION_STEPS` for an EMA copy: D never saw the EMA G's samples, so its logit is
        not log p_data / p_G for it and DRS would keep the wrong samples. 0 with an EMA G is allowed
        and the result's ``warning`` says so."""
        from gankit.data import load_dataset
        from gankit.explore.rejection import calibrate_discriminator, check_applicable, rejection_sample
        from gankit.objectives import build_objective

        check_applicable(build_objective(self.config.objective), self.config.model.d_pack)
        if calibrate is None:
            calibrate = EMA_CALIBRATION_STEPS if self.uses_ema else 0
        if calibrate < 0:
            raise GankitError(f"--drs-calibrate must be >= 0 steps, got {calibrate}")
        D = self.D
        if calibrate > 0:
            from gankit.data.sampler import BatchSampler

            batch = 512  # calibrate_discriminator's batch
            real = BatchSampler(load_dataset(self.config.data, "train"), batch, seed=seed + 1)
            with torch.enable_grad():
                D, _ = calibrate_discriminator(self.D, self.G, lambda m: real.next()[0].to(self.device),
                                               steps=calibrate, batch_size=batch, seed=seed + 2)
        result = rejection_sample(self.G, D, n, torch.Generator().manual_seed(seed), percentile=percentile)
        result.calibration_steps = calibrate
        if self.uses_ema and calibrate == 0:
            result.warning = ("D was trained against the raw generator, not this EMA copy, and was not "
                              "calibrated (--drs-calibrate 0): its acceptance is not the density ratio DRS assumes; "
                              "calibrate (the default) or sample the raw G with --raw")
        return result

    def to_data(self, x: torch.Tensor) -> np.ndarray:
        """Generator outputs as data: images uint8 [n, H, W, C] (NHWC), vectors float32 [n, D]."""
        if self.kind == "image":
            return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        return x.float().numpy()

    def sample(self, n: int, seed: int = 0, label: Any = None, truncation: Optional[float] = None,
               **drs: Any) -> np.ndarray:
        """Samples as data: images uint8 [n, H, W, C] (NHWC), vectors float32 [n, D]; ``label`` (an
        index or class name) for a conditional model; ``truncation`` T as in :meth:`latents`. Keyword
        arguments ``drs``, ``drs_percentile``, ``drs_calibrate`` as in :meth:`generate`."""
        return self.to_data(self.generate(n, seed=seed, label=label, truncation=truncation, **drs))

    def per_class_latents(self, per_class: int, seed: int = 0,
                          truncation: Optional[float] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(z, y) for a grid with one row per class and ``per_class`` columns."""
        if not self.conditional:
            raise GankitError("--per-class needs a conditional model (model.g_cond); this one is unconditional")
        if per_class < 1:
            raise GankitError(f"--per-class must be >= 1, got {per_class}")
        k = self.G.num_classes
        gen = torch.Generator().manual_seed(seed)
        z = self.G.sample_z(k * per_class, gen)
        if truncation is not None:
            z = self.truncate(z, truncation, gen)
        return z, torch.arange(k).repeat_interleave(per_class)

    def save_samples(self, out: Union[str, Path], n: int, seed: int = 0, label: Any = None,
                     per_class: Optional[int] = None, truncation: Optional[float] = None, **drs: Any) -> Path:
        """Write samples to a grid/scatter ``.png`` or an ``.npz`` holding ``x`` (data), ``z`` (the
        latents) and, for a conditional model, ``y`` (the label each sample was asked for).
        ``per_class`` = k: k samples of every class, one row per class (labelled in the picture)."""
        from gankit.report import render_snapshot

        out = Path(out)
        if out.suffix not in (".png", ".npz"):
            raise GankitError(f"--out {out}: the file must end in .png (a picture) or .npz (arrays)")
        if per_class is not None and label is not None:
            raise GankitError("give --label or --per-class, not both")
        out.parent.mkdir(parents=True, exist_ok=True)
        if drs.get("drs") or drs.get("jacobian_keep") is not None or drs.get("dot_steps") is not None:
            if truncation is not None:
                raise GankitError("--drs / --jacobian-keep / --dot-steps and --truncation both choose the latents; "
                                  "use one")
            z = y = None
            if drs.get("dot_steps") is not None and not (drs.get("drs") or drs.get("jacobian_keep") is not None):
                start = self.per_class_latents(per_class, seed) if per_class is not None else None
                res = self.dot(n if start is None else start[0], seed, drs["dot_steps"], drs.get("dot_scale", 1.0),
                               label if start is None else start[1])
                x, y = self.to_data(res.x), res.y
            elif per_class is not None:
                raise GankitError("--drs / --jacobian-keep sample unconditional models: drop --per-class")
            else:
                x = self.sample(n, seed, label, **drs)
        else:
            z, y = (self.per_class_latents(per_class, seed, truncation) if per_class is not None
                    else self.latents(n, seed, label, truncation))
            x = self.to_data(self.generate(z, y, psi=truncation if self.psi_truncation else None))
        if out.suffix == ".npz":
            arrays = {"x": x}
            if z is not None:
                arrays["z"] = z.numpy()
            if y is not None:
                arrays["y"] = y.numpy()
            tmp = out.with_name(out.name + ".tmp.npz")
            np.savez(tmp, **arrays)
            tmp.replace(out)
        elif self.kind == "image":
            grid: dict = {}
            if per_class is not None:
                grid = {"nrow": per_class, "row_labels": self.class_names[:self.G.num_classes]}
            render_snapshot(out, kind="image", step=self.step, fake=x.transpose(0, 3, 1, 2), **grid)
        elif self.spec.shape[0] in (1, 2):
            render_snapshot(out, kind=f"{self.spec.shape[0]}d", step=self.step, fake=x)
        else:
            raise GankitError(f"samples of {self.spec.shape[0]}-d vectors have no picture; "
                              f"write them to an .npz file instead")
        return out
