"""Scoring: a trained model against its dataset's test split, or two sets of samples.

Both paths do the same four things: load the real and the fake sets, extract their features with
one extractor (the real features are cached on disk), call :func:`gankit.metrics.compute_metrics`,
and attach the provenance (extractor, weights sha256, counts, split, seed, versions) that makes a
score citable. A model's record is appended to its run's ``eval.jsonl``.

Images are compared as data: generator outputs in [-1, 1] are quantized to uint8 like saved
samples, so scoring a model and scoring its ``gankit sample --out x.npz`` give the same numbers.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.metrics.features import FeatureExtractor, get_extractor
from gankit.metrics.sets import (  # noqa: F401  (SampleSet and load_source are part of this module's API)
    DEFAULT_N_VECTORS, SampleSet, _check_compatible, _from_data, load_source,
)

CACHE_VERSION = 1
DEFAULT_N_IMAGES = 10_000
_PROGRESS_FROM = 2_000

NEEDS_LOGITS = ("is",)
NEEDS_LABELS = ("intra_fid", "cas", "label_agreement")


# --------------------------------------------------------------------------- metric names


def parse_metrics(metrics: Union[str, Sequence[str], None], *, toy: bool, image: bool,
                  has_logits: bool) -> list[str]:
    """Metric groups to compute, from a comma list or sequence (groups, result keys or aliases such
    as ``precision``); None gives the defaults: ``fid,kid,pr,dc``, plus ``is`` for images when the
    extractor has logits, plus ``modes`` for toy distributions.

    Raises:
        GankitError naming an unknown metric and the closest valid one.
    """
    from gankit.metrics import resolve_names

    if metrics is None:
        return (["modes"] if toy else []) + ["fid", "kid", "pr", "dc"] + (["is"] if image and has_logits else [])
    names = resolve_names(metrics)
    if not names:
        raise GankitError("--metrics is empty; name at least one, e.g. --metrics fid,pr,dc")
    return names


# --------------------------------------------------------------------------- features and cache


def cache_dir() -> Path:
    """Where real-data features are cached: $GANKIT_CACHE, else ~/.cache/gankit."""
    env = os.environ.get("GANKIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gankit"


def cache_key(real: SampleSet, extractor: FeatureExtractor, device: str = "cpu") -> tuple[str, dict]:
    """(sha256 hex, the fields it hashes): dataset, split, source, the data itself, the extractor
    and its weights, the preprocessing and the count."""
    fields = {"version": CACHE_VERSION, "dataset": real.name, "split": real.split, "source": real.source,
              "data_sha256": real.digest(), "n": len(real.x), "extractor": extractor.name,
              "weights_sha256": extractor.weights_sha256, "preprocessing": extractor.preprocessing,
              "dtype": "float32", "device": torch.device(device).type}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest(), fields


def extract(extractor: FeatureExtractor, s: SampleSet, progress: bool = False,
            desc: str = "features") -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Features and logits of a set, converting data to model space a chunk at a time."""
    chunk = max(extractor.batch_size, 1) * 8
    feats, logits = [], []
    from tqdm import tqdm

    bar = tqdm(total=len(s.x), desc=desc, unit="item", disable=not progress, leave=False)
    for start in range(0, len(s.x), chunk):
        f, l = extractor(s.to_model(s.x[start:start + chunk]))
        feats.append(f)
        if l is not None:
            logits.append(l)
        bar.update(min(chunk, len(s.x) - start))
    bar.close()
    return torch.cat(feats), (torch.cat(logits) if logits else None)


def real_features(real: SampleSet, extractor: FeatureExtractor, use_cache: bool = True, progress: bool = False,
                  device: str = "cpu") -> tuple[torch.Tensor, Optional[torch.Tensor], str]:
    """(features, logits, 'hit' | 'miss' | 'off') of the real set, through the on-disk cache."""
    if not use_cache:
        f, l = extract(extractor, real, progress, "real features")
        return f, l, "off"
    key, fields = cache_key(real, extractor, device)
    path = cache_dir() / "features" / f"{real.name}-{real.split or 'x'}-{key[:24]}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["key"]) == key:
                    logits = torch.from_numpy(z["logits"]) if "logits" in z.files else None
                    return torch.from_numpy(z["features"]), logits, "hit"
        except (OSError, ValueError, KeyError, EOFError):
            pass  # unreadable: recompute and overwrite
    f, l = extract(extractor, real, progress, "real features")
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"key": np.array(key), "fields": np.array(json.dumps(fields, sort_keys=True)),
              "features": f.numpy()}
    if l is not None:
        arrays["logits"] = l.numpy()
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)
    return f, l, "miss"


# --------------------------------------------------------------------------- scoring


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/inf; the table prints them as 'n/a'
    return value


def score(real: SampleSet, fake: SampleSet, *, metrics: Union[str, Sequence[str], None] = None,
          features: Any = None, seed: int = 0, inception_weights: Optional[str] = None,
          batch_size: Optional[int] = None, device: str = "cpu", cache: bool = True,
          progress: Optional[bool] = None, fake_labels: str = "auto",
          extract_fake: Optional[Callable[..., tuple]] = None, **options: Any) -> dict:
    """Score ``fake`` against ``real``: metric values plus a ``provenance`` dict.

    ``fake_labels``: 'auto' uses the set's own labels, else the classifier's argmax when the
    extractor is a classifier with as many classes as the real data; 'none' never labels fakes.
    ``extract_fake(extractor, fake, progress, desc) -> (features, logits)`` replaces :func:`extract`
    for the fakes (scoring during a torchrun run shares that work over the ranks).
    """
    import gankit

    _check_compatible(real, fake)
    t0 = time.perf_counter()
    if progress is None:
        progress = sys.stderr.isatty() and len(real.x) + len(fake.x) >= _PROGRESS_FROM
    spec = real.spec()
    extractor = get_extractor(features, spec, inception_weights=inception_weights, batch_size=batch_size,
                              device=device)
    toy = real.modes is not None
    names = parse_metrics(metrics, toy=toy, image=real.kind == "image",
                          has_logits=extractor.num_classes is not None)
    if (metrics is None and fake.name == "model" and fake.y is not None and real.y is not None
            and extractor.num_classes == real.num_classes):
        names += ["intra_fid", "label_agreement"]  # a conditional model: does it make the asked class?
    if "modes" in names and not toy:
        raise GankitError("the 'modes' metric needs a toy distribution with known modes (ring, grid, "
                          "gaussian1d) as the real set")
    if any(m in NEEDS_LOGITS for m in names) and extractor.num_classes is None:
        raise GankitError(f"the Inception Score needs class logits, which the '{extractor.name}' extractor "
                          f"does not give; use --features classifier or inception, or drop 'is'")

    f_real, l_real, cache_state = real_features(real, extractor, cache, progress, device)
    f_fake, l_fake = (extract_fake or extract)(extractor, fake, progress, "fake features")

    labels_note = None
    y_fake = fake.y
    asked = y_fake is not None and fake_labels != "none"
    if asked:
        labels_note = ("the labels the generator was asked for" if fake.name == "model"
                       else "labels stored with the fake set")
    elif (fake_labels == "auto" and l_fake is not None and real.y is not None
          and getattr(extractor, "dataset", None) is not None and extractor.num_classes == real.num_classes):
        y_fake = l_fake.argmax(1)
        labels_note = f"argmax of {extractor.name} (the generator is unconditional; intra_fid only)"
    else:
        y_fake = None
    needs = [m for m in names if m in NEEDS_LABELS]
    if needs and (real.y is None or y_fake is None):
        side = "real" if real.y is None else "fake"
        raise GankitError(f"{', '.join(needs)} need class labels, and the {side} set has none (fakes are "
                          f"labelled by the dataset's classifier when --features is its classifier); "
                          f"drop {', '.join(needs)} from --metrics")
    if "label_agreement" in names and l_fake is None:
        raise GankitError(f"label_agreement needs a classifier's logits, which the '{extractor.name}' extractor does "
                          f"not give; use --features classifier or drop label_agreement")
    if "cas" in names:
        if real.kind != "image":
            raise GankitError("cas trains an image classifier; these sets hold vectors: drop cas")
        options.setdefault("cas_recipe", real.name)
        if "cas_reference" not in options:
            options["cas_reference"] = cas_ceiling(real, len(fake.x), seed, int(options.get("cas_epochs", 0)) or None,
                                                   cache, options.get("cas_recipe"))

    real_dict = {"features": f_real, "logits": l_real, "labels": real.y,
                 "raw": real.to_model(real.x).reshape(len(real.x), -1) if real.kind == "vector" or "parzen" in names
                 else None}
    fake_dict = {"features": f_fake, "logits": l_fake, "labels": y_fake, "labels_asked": asked,
                 "raw": fake.to_model(fake.x).reshape(len(fake.x), -1) if fake.kind == "vector" or "parzen" in names
                 else None}
    if "cas" in names:
        real_dict["pixels"], fake_dict["pixels"] = real.to_model(real.x), fake.to_model(fake.x)
    if toy:
        options.setdefault("modes", real.modes)
        options.setdefault("std", real.std)
    from gankit.metrics import compute_each
    from gankit.metrics.caveats import caveats

    details: dict = {}
    values, failed = compute_each(names, real_dict, fake_dict, seed=seed, details=details, **options)
    provenance = {
        **extractor.describe(),
        "metrics": names,
        "n_real": len(real.x), "n_fake": len(fake.x),
        "real": {"dataset": real.name, "split": real.split, "source": real.source},
        "fake": {"source": fake.source, "name": fake.name},
        "split": real.split, "seed": seed,
        "dtype": "features float32, statistics float64",
        "feature_dim": int(f_real.shape[1]),
        "fake_labels": labels_note,
        "cache": cache_state,
        "device": torch.device(device).type,
        "gankit": gankit.__version__, "torch": torch.__version__, "numpy": np.__version__,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if "intra_fid_per_class" in details:
        provenance["intra_fid_per_class"] = {str(c): round(v, 4) for c, v in details["intra_fid_per_class"].items()}
    if "cas" in names:
        from gankit.metrics.cas import CAS_EPOCHS

        ref = options.get("cas_reference")
        provenance["cas"] = {"classifier": "small CNN trained from scratch on the fakes' pixels and asked-for labels",
                             "epochs": int(options.get("cas_epochs", CAS_EPOCHS)), "tested_on": f"{real.name} {real.split}",
                             "ceiling": (f"the same classifier trained on up to {len(fake.x)} real {real.name} train images"
                                         if ref is not None else "not computed (no training split known)")}
    if toy:
        provenance["modes_protocol"] = {"n_modes": int(len(real.modes)), "std": real.std}
    if failed:  # each metric that could not be computed, with why; the others are kept
        provenance["failed"] = {group: str(exc) if isinstance(exc, GankitError) else f"{type(exc).__name__}: {exc}"
                                for group, exc in failed.items()}
    values = dict(values)
    warnings = [values.pop(k) for k in list(values) if k.endswith("_warning")]
    warnings = [w for w in warnings if isinstance(w, str)] + caveats(
        values, n_real=len(real.x), n_fake=len(fake.x), extractor=extractor.name, kind=real.kind,
        feature_dim=int(f_real.shape[1]))
    if warnings:
        provenance["warnings"] = warnings  # text, not a score: kept out of the metric values
    out = {k: v for k, v in _jsonable(values).items() if k != "provenance"}
    out["provenance"] = _jsonable(provenance)
    return out


def cas_ceiling(real: SampleSet, n: int, seed: int, epochs: Optional[int], use_cache: bool = True,
                recipe: Optional[str] = None) -> Optional[float]:
    """CAS's real-data ceiling: the CAS classifier trained on ``n`` real *training* images of the
    real set's dataset (a seeded subset) and tested on ``real``; None when the real set is not a
    built-in dataset with a training split. Cached under :func:`cache_dir` by everything it depends on."""
    from gankit.metrics.cas import CAS_EPOCHS, classification_accuracy_score
    from gankit.registry import DATASETS

    if real.name in ("npz", "folder", "array", "model") or real.name not in DATASETS or real.y is None:
        return None
    epochs = epochs or CAS_EPOCHS
    fields = {"version": 1, "dataset": real.name, "split": real.split, "test_sha256": real.digest(), "n": n,
              "seed": seed, "epochs": epochs, "recipe": recipe, "torch": torch.__version__}
    key = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
    path = cache_dir() / "cas" / f"{real.name}-{key[:24]}.json"
    if use_cache and path.is_file():
        try:
            return float(json.loads(path.read_text())["cas_real"])
        except (OSError, ValueError, KeyError):
            pass
    train = load_source(real.name, "train", n, seed + 2)
    if len(train.x) < n:
        warnings.warn(f"cas_real: {real.name} has only {len(train.x)} training images, fewer than the {n} fakes")
    value = classification_accuracy_score(train.to_model(train.x), train.y, real.to_model(real.x), real.y,
                                          seed=seed, epochs=epochs, recipe=recipe)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**fields, "cas_real": value}))
        os.replace(tmp, path)
    return value


def evaluate_sets(real_source: Any, fake_source: Any, metrics: Union[str, Sequence[str], None] = None,
                  n: Optional[int] = None, features: Any = None, split: str = "test", seed: int = 0,
                  n_real: Optional[int] = None, **kwargs: Any) -> dict:
    """Compare two sets without any model.

    Args:
        real_source, fake_source: an ``.npz`` (array ``x``, optional labels ``y``), an image folder, a
            built-in dataset name (its ``split``), or an array/tensor in data space.
        n: keep at most ``n`` fake items (a seeded random subset; toy distributions draw ``n``).
        n_real: the same for the real set (default: all of it; toy: as many as the fakes).
        Other keyword arguments go to :func:`score` (metrics options included).
    """
    def is_folder(source: Any) -> bool:
        return isinstance(source, (str, Path)) and Path(str(source)).expanduser().is_dir()

    # A folder of images takes the resolution and channels of the other set: load that one first.
    if is_folder(real_source) and not is_folder(fake_source):
        fake = load_source(fake_source, split, n, seed + 1)
        real = load_source(real_source, split, n_real, seed, like=fake)
    else:
        real = load_source(real_source, split, n_real, seed)
        if real.modes is not None and n_real is None and n is not None:
            real = load_source(real_source, split, n, seed)  # a toy distribution: as many as the fakes
        n_fake = n if n is not None else (len(real.x) if real.modes is not None else None)
        fake = load_source(fake_source, split, n_fake, seed + 1, like=real)
    return score(real, fake, metrics=metrics, features=features, seed=seed, **kwargs)


def evaluate_model(model: Any, metrics: Union[str, Sequence[str], None] = None, n: Optional[int] = None,
                   features: Any = None, split: str = "test", seed: int = 0, n_real: Optional[int] = None,
                   record: bool = True, truncation: Optional[float] = None, dot_steps: Optional[int] = None,
                   dot_scale: float = 1.0, **kwargs: Any) -> dict:
    """Score a trained generator (a :class:`gankit.explore.model.LoadedGAN`) against its data.

    Draws ``n`` samples (default 10,000 images, 2,500 vectors) with latent ``seed``; the real set is
    the dataset's ``split`` (all of it, or a seeded subset of ``n_real``; a toy distribution draws
    ``n_real`` or ``n`` points). With ``record``, appends ``{"type": "eval", "step", ...metrics,
    "provenance"}`` to the run's ``eval.jsonl``. ``truncation`` T samples truncated latents
    (:mod:`gankit.explore.truncation`), recorded in the provenance. ``dot_steps`` N moves each latent by
    N steps of discriminator optimal transport at ``dot_scale`` (:mod:`gankit.explore.dot`) before
    scoring, also recorded. Other keyword arguments go to :func:`score`.
    """
    from gankit.data import load_dataset

    data = load_dataset(model.config.data, split)
    if model.G.num_classes and int(data.num_classes or 0) != model.G.num_classes:
        raise GankitError(f"the model makes {model.G.num_classes} classes but {data.name} ({split}) has "
                          f"{data.num_classes or 'no'} classes: the data changed since training")
    toy = hasattr(data, "sample")
    count = int(n) if n is not None else (DEFAULT_N_VECTORS if model.kind == "vector" else DEFAULT_N_IMAGES)
    if count < 2:
        raise GankitError(f"--n must be >= 2, got {count}")
    real = _from_data(data, split, n_real if n_real is not None else (count if toy else None), seed)
    # the labels a conditional G is asked for: uniform
    z, y_fake = model.latents(count, seed) if truncation is None else model.latents(count, seed, truncation=truncation)
    psi = truncation if getattr(model, "psi_truncation", False) else None  # StyleGAN-style: truncation in W
    if dot_steps is not None:
        if truncation is not None:
            raise GankitError("--dot-steps moves latents drawn from the prior: score it without --truncation")
        x = model.generate(z, y_fake, dot_steps=dot_steps, dot_scale=dot_scale)
    else:
        x = model.generate(z, y_fake) if psi is None else model.generate(z, y_fake, psi=psi)  # images in [-1, 1]
    if model.kind == "image":
        x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # as saved samples (data space)
    fake = SampleSet(x=x.float() if model.kind != "image" else x, kind=model.kind, name="model",
                     source=f"{model.path} (step {model.step}{', EMA' if model.uses_ema else ''})", split=None,
                     y=y_fake, num_classes=model.G.num_classes or None)
    if real.shape != fake.shape:
        raise GankitError(f"the model makes {list(fake.shape)} items but {data.name} ({split}) holds "
                          f"{list(real.shape)}: the data changed since training")
    result = score(real, fake, metrics=metrics, features=features, seed=seed, **kwargs)
    result["provenance"]["checkpoint"] = str(model.path)
    result["provenance"]["step"] = model.step
    if truncation is not None:
        result["provenance"]["truncation"] = truncation
    if dot_steps is not None:
        result["provenance"]["dot"] = {"steps": int(dot_steps), "scale": float(dot_scale)}
    if record:
        log = run_eval_log(model.path)
        if log is not None:
            append_record(log, {"type": "eval", "step": model.step, "time": time.time(),
                                **{k: v for k, v in result.items() if k != "provenance"},
                                "provenance": result["provenance"]})
            result["provenance"]["recorded_in"] = str(log)
    return result


def run_eval_log(checkpoint: Union[str, Path]) -> Optional[Path]:
    """The ``eval.jsonl`` of the run a checkpoint belongs to (None for a loose checkpoint)."""
    path = Path(checkpoint)
    folder = path.parent
    run = folder.parent if folder.name == "checkpoints" else folder
    return run / "eval.jsonl" if (run / "config.yaml").is_file() else None


def append_record(path: Path, record: dict) -> None:
    """Append one JSON line and flush it (a crash loses at most that line)."""
    line = json.dumps(_jsonable(record)) + "\n"
    with open(path, "a") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def format_table(result: dict) -> str:
    """A readable two-column table of the metric values, then the provenance essentials."""
    rows = [(k, v) for k, v in result.items() if k != "provenance"]
    width = max([len(k) for k, _ in rows] + [6])
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  {'-' * 10}"]
    failed_keys = _failed_keys(result.get("provenance", {}).get("failed", {}))
    for k, v in rows:
        if k in failed_keys:
            text = f"n/a: {failed_keys[k]}"
        elif isinstance(v, float):
            text = f"{v:.4f}" if abs(v) < 1e5 else f"{v:.4g}"
        elif v is None:
            text = "n/a"
        else:
            text = str(v)
        lines.append(f"{k:<{width}}  {text}")
    p = result.get("provenance", {})
    sha = (p.get("weights_sha256") or "-")[:12]
    lines.append("")
    lines.append(f"features: {p.get('extractor')} (weights sha256 {sha}), {p.get('n_fake')} fake vs "
                 f"{p.get('n_real')} real ({p.get('real', {}).get('dataset')}, split {p.get('split')}), "
                 f"seed {p.get('seed')}, cache {p.get('cache')}")
    if p.get("fake_labels"):
        lines.append(f"fake labels: {p['fake_labels']}")
    for warning in p.get("warnings", []):
        lines.append(f"caveat: {warning}")
    if p.get("recorded_in"):
        lines.append(f"recorded in {p['recorded_in']}")
    return "\n".join(lines)


def _failed_keys(failed: dict) -> dict:
    """Result key -> the reason its metric group failed."""
    from gankit.metrics import METRIC_KEYS

    return {key: reason for group, reason in failed.items() for key in METRIC_KEYS.get(group, (group,))}
