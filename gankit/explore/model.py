"""A trained generator loaded from a checkpoint, for sampling without the training data."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

import numpy as np
import torch

from gankit.config import from_dict
from gankit.errors import GankitError
from gankit.nets import DataSpec, build_nets
from gankit.training.checkpoint import load_checkpoint, load_module_state

if TYPE_CHECKING:
    from gankit.explore.rejection import RejectionResult


class LoadedGAN:
    """Generator (the EMA copy when the run kept one, unless ``raw``) plus what it needs to turn
    outputs into data."""

    def __init__(self, path: Union[str, Path], device: str = "cpu", raw: bool = False) -> None:
        manifest, state = load_checkpoint(path)
        self.path = manifest["path"]
        self.step = manifest["step"]
        try:
            self.config = from_dict(manifest["config"]).validate()
        except GankitError as exc:
            raise GankitError(f"checkpoint {self.path} holds an invalid config: {exc}") from None
        self.spec = DataSpec(manifest["data"])
        self.device = torch.device(device)
        G, D = build_nets(self.config.model, self.spec, self.config.code_head)
        which = "G_ema" if "G_ema" in state and not raw else "G"  # raw: the trained G, not its average
        load_module_state(G, state[which], "generator", self.path)
        load_module_state(D, state["D"], "discriminator", self.path)
        self.G = G.to(self.device).eval()
        self.D = D.to(self.device).eval()
        self.uses_ema = which == "G_ema"

    @property
    def kind(self) -> str:
        return self.spec.kind

    @torch.no_grad()
    def generate(self, n: int, seed: int = 0, batch_size: int = 256, drs: bool = False,
                 drs_percentile: Optional[float] = None, drs_calibrate: int = 0) -> torch.Tensor:
        """Raw generator outputs [n, *shape] (images in [-1, 1]) from latents drawn with ``seed``.

        ``drs`` keeps them by discriminator rejection sampling (:mod:`gankit.explore.rejection`) with the
        checkpoint's D, first calibrated for ``drs_calibrate`` steps on the training data when > 0.
        """
        if n < 1:
            raise GankitError(f"--n must be >= 1, got {n}")
        if drs:
            return self.rejection_sample(n, seed, drs_percentile, drs_calibrate).x
        z = self.G.sample_z(n, torch.Generator().manual_seed(seed))
        return torch.cat([self.G(chunk.to(self.device)).cpu() for chunk in z.split(batch_size)])

    def rejection_sample(self, n: int, seed: int = 0, percentile: Optional[float] = None,
                         calibrate: int = 0) -> "RejectionResult":
        """Discriminator rejection sampling from this model; see :func:`gankit.explore.rejection.rejection_sample`."""
        from gankit.data import load_dataset
        from gankit.explore.rejection import calibrate_discriminator, check_applicable, rejection_sample
        from gankit.objectives import build_objective

        check_applicable(build_objective(self.config.objective), self.config.model.d_pack)
        D = self.D
        if calibrate > 0:
            from gankit.data.sampler import BatchSampler

            batch = 512  # calibrate_discriminator's batch
            real = BatchSampler(load_dataset(self.config.data, "train"), batch, seed=seed + 1)
            with torch.enable_grad():
                D, _ = calibrate_discriminator(self.D, self.G, lambda m: real.next()[0].to(self.device),
                                               steps=calibrate, batch_size=batch, seed=seed + 2)
        return rejection_sample(self.G, D, n, torch.Generator().manual_seed(seed), percentile=percentile)

    def sample(self, n: int, seed: int = 0, **drs: object) -> np.ndarray:
        """Samples as data: images uint8 [n, H, W, C] (NHWC), vectors float32 [n, D].

        Keyword arguments ``drs``, ``drs_percentile``, ``drs_calibrate`` as in :meth:`generate`."""
        x = self.generate(n, seed, **drs)
        if self.kind == "image":
            return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        return x.float().numpy()

    def save_samples(self, out: Union[str, Path], n: int, seed: int = 0, **drs: object) -> Path:
        """Write ``n`` samples to a grid/scatter ``.png`` or an ``.npz`` holding array ``x``."""
        from gankit.report import render_snapshot

        out = Path(out)
        if out.suffix not in (".png", ".npz"):
            raise GankitError(f"--out {out}: the file must end in .png (a picture) or .npz (arrays)")
        out.parent.mkdir(parents=True, exist_ok=True)
        x = self.sample(n, seed, **drs)
        if out.suffix == ".npz":
            tmp = out.with_name(out.name + ".tmp.npz")
            np.savez(tmp, x=x)
            tmp.replace(out)
        elif self.kind == "image":
            render_snapshot(out, kind="image", step=self.step, fake=x.transpose(0, 3, 1, 2))
        elif self.spec.shape[0] in (1, 2):
            render_snapshot(out, kind=f"{self.spec.shape[0]}d", step=self.step, fake=x)
        else:
            raise GankitError(f"samples of {self.spec.shape[0]}-d vectors have no picture; "
                              f"write them to an .npz file instead")
        return out
