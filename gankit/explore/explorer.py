"""What the web explorer computes, without the web: a query (seed, truncation, label, a second seed to
interpolate towards, amounts along latent directions) -> a PNG of G's image. :mod:`gankit.explore.server`
puts it behind HTTP; this module is pure and testable alone.

One picture: z = the latent of ``seed`` (truncated at ``truncation`` when given), slerped a fraction ``t``
of the way to the latent of ``seed2`` (same truncation), then moved by ``move[i]`` along direction i of the
``directions`` set (SeFa or random, :mod:`gankit.explore.directions`); y = ``label``, or for a conditional
model without one, the class the seed draws. The same query gives the same bytes.
"""
from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import numpy as np
import torch

from gankit.errors import GankitError, closest
from gankit.explore.directions import KINDS, Directions, random_directions, sefa_directions
from gankit.explore.walks import between

PARAMS = ("seed", "truncation", "label", "seed2", "t", "directions", "move", "scale")
MAX_SEED = 2**63 - 1
MAX_MOVE = 20.0  # |amount| along a unit direction; the prior's z has norm ~sqrt(z_dim)
MAX_SCALE = 32
DIRECTION_SEED = 0  # the random directions' seed: fixed, so a query names the same picture in every session


@dataclass
class Query:
    seed: int = 0
    truncation: Optional[float] = None
    label: Optional[int] = None  # class index; None: the seed's class (conditional) or no label
    seed2: Optional[int] = None
    t: float = 0.0
    directions: str = "sefa"  # Explorer.parse: the first available set (sefa, else random) when not given
    move: list[float] = field(default_factory=list)
    scale: int = 1


class Explorer:
    """Pictures of a LoadedGAN's images for explorer queries. ``n_directions``: sliders per direction set
    (at most the noise width z_dim)."""

    def __init__(self, model: Any, n_directions: int = 8) -> None:
        if model.kind != "image":
            raise GankitError(f"gankit serve shows images, but {model.path} makes {model.spec.shape[0]}-d vectors; "
                              f"use 'gankit sample' for vector data")
        k = min(n_directions, model.G.z_dim)
        self.model = model
        self.directions: dict[str, Directions] = {}
        self.unavailable: dict[str, str] = {}  # direction set -> why this generator has none
        try:
            self.directions["sefa"] = sefa_directions(model.G, k)
        except GankitError as exc:  # a net without a first linear layer on z still gets random directions
            self.unavailable["sefa"] = str(exc)
        self.directions["random"] = random_directions(model.G, k, DIRECTION_SEED)
        self._lock = threading.Lock()  # one G call at a time: torch threads are shared, order stays fixed

    def info(self) -> dict:
        """What the page (and an API user) needs to know of the model: /api/info."""
        m = self.model
        return {
            "checkpoint": str(m.path), "step": m.step, "weights": "G_ema" if m.uses_ema else "G",
            "data": m.spec.get("name"), "shape": list(m.spec.shape), "z_dim": m.G.z_dim,
            "latent_dim": m.G.latent_dim, "conditional": m.conditional,
            "classes": m.class_names[:m.G.num_classes] if m.conditional else [],
            "prior": m.G.z_dist,
            "directions": {name: {"count": len(d), "values": None if d.values is None else
                                  [round(float(v), 6) for v in d.values]}
                           for name, d in self.directions.items()},
            "unavailable": self.unavailable,
            "params": list(PARAMS), "max_move": MAX_MOVE, "max_scale": MAX_SCALE,
        }

    def parse(self, params: Mapping[str, Any]) -> Query:
        """A Query from query-string values (str, or a list of them as urllib.parse.parse_qs gives);
        a one-line GankitError naming the parameter for anything unknown, repeated, malformed or out of range."""
        values = {}
        for key, raw in params.items():
            if key not in PARAMS:
                raise GankitError(f"unknown parameter '{key}'{closest(key, PARAMS)}; valid: {', '.join(PARAMS)}")
            if isinstance(raw, (list, tuple)):
                if len(raw) != 1:
                    raise GankitError(f"parameter '{key}' is given {len(raw)} times; give it once")
                raw = raw[0]
            values[key] = str(raw).strip()
        q = Query(directions=next(iter(self.directions)))
        if "seed" in values:
            q.seed = _integer("seed", values["seed"], 0, MAX_SEED)
        if values.get("truncation", "").lower() not in ("", "none", "off", "inf"):
            from gankit.explore.truncation import check_threshold

            try:
                q.truncation = check_threshold(values["truncation"])
            except GankitError as exc:
                raise GankitError(_as_param(str(exc), "truncation")) from None
        if values.get("label", "") != "":
            try:
                q.label = self.model.label_index(values["label"])
            except GankitError as exc:
                raise GankitError(_as_param(str(exc), "label")) from None
        if values.get("seed2", "") != "":
            q.seed2 = _integer("seed2", values["seed2"], 0, MAX_SEED)
        if "t" in values:
            q.t = _number("t", values["t"], 0.0, 1.0)
            if q.seed2 is None and q.t != 0:
                raise GankitError("t= interpolates towards seed2=, so give seed2 too")
        if "directions" in values:
            q.directions = values["directions"]
            if q.directions not in KINDS:
                raise GankitError(f"directions={q.directions} is not a direction set{closest(q.directions, KINDS)}; "
                                  f"use one of {', '.join(KINDS)}")
        if q.directions in self.unavailable:
            raise GankitError(f"directions={q.directions} is not available for this model "
                              f"({self.unavailable[q.directions]})")
        if values.get("move", "") != "":
            q.move = [_number("move", part, -MAX_MOVE, MAX_MOVE) for part in values["move"].split(",")]
            count = len(self.directions[q.directions])
            if len(q.move) > count:
                raise GankitError(f"move= gives {len(q.move)} amounts, but there are {count} {q.directions} directions")
        if "scale" in values:
            q.scale = _integer("scale", values["scale"], 1, MAX_SCALE)
        return q

    def latent(self, q: Query) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """(z [1, latent_dim], y [1] or None) of a query."""
        m = self.model
        z, y = m.latents(1, seed=q.seed, label=q.label, truncation=q.truncation)
        if q.seed2 is not None and q.t > 0:
            z2, _ = m.latents(1, seed=q.seed2, label=q.label, truncation=q.truncation)
            z = between(z, z2, q.t, z_dim=m.G.z_dim)  # as a frame of `gankit interpolate`
        if q.move:
            z = self.directions[q.directions].move(z, q.move)
        return z, y

    def image(self, q: Query) -> np.ndarray:
        """The picture, uint8 [H, W, C], nearest-neighbour enlarged ``scale`` times."""
        z, y = self.latent(q)
        with self._lock:
            psi = q.truncation if self.model.psi_truncation else None  # StyleGAN-style nets: in W
            x = self.model.to_data(self.model.generate(z, y, psi=psi))[0]  # [H, W, C]
        if q.scale > 1:
            x = x.repeat(q.scale, axis=0).repeat(q.scale, axis=1)
        return x

    def png(self, params: Mapping[str, Any]) -> bytes:
        """PNG bytes for query-string ``params`` (see :meth:`parse`)."""
        from PIL import Image

        x = self.image(self.parse(params))
        picture = Image.fromarray(np.ascontiguousarray(x[:, :, 0] if x.shape[2] == 1 else x))
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")  # no timestamps or text chunks: the same picture, the same bytes
        return buffer.getvalue()


def _as_param(message: str, name: str) -> str:
    """A library message about the CLI's ``--name X`` as one about the query's ``name=X``."""
    return message.replace(f"--{name} ", f"{name}=").replace(f"--{name}", f"{name}=")


def _integer(name: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise GankitError(f"{name}={text!r} is not a whole number") from None
    if not low <= value <= high:
        raise GankitError(f"{name}={value} is out of range: use {low}..{high}")
    return value


def _number(name: str, text: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise GankitError(f"{name}={text!r} is not a number") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise GankitError(f"{name}={text} is out of range: use {low:g}..{high:g}")
    return value
