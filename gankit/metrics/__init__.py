"""Metrics: pure functions over already-extracted features, and :func:`compute_metrics`, which
runs the registered ones by name.

Each metric is registered in :data:`gankit.registry.METRICS` under a group name; a group writes
one or more result keys (``METRIC_KEYS``). Definitions follow docs/benchmarks.md section 5 and each
module cites its paper; ``docs/metrics.md`` gives the exact formulas and the tests that check them.

- ``fid``: fid (:func:`~gankit.metrics.frechet.fid`, Heusel et al. 2017)
- ``kid``: kid, kid_std (:func:`~gankit.metrics.kid.kernel_inception_distance`, Binkowski et al. 2018)
- ``is``: is, is_std (:func:`~gankit.metrics.inception_score.inception_score`, Salimans et al. 2016)
- ``pr``: precision, recall (:func:`~gankit.metrics.knn.precision_recall`, Kynkaanniemi et al. 2019)
- ``dc``: density, coverage (:func:`~gankit.metrics.knn.density_coverage`, Naeem et al. 2020)
- ``intra_fid``: intra_fid (:func:`~gankit.metrics.intra_fid.intra_fid`, Miyato & Koyama 2018)
- ``parzen``: parzen, parzen_se, parzen_sigma, parzen_warning
  (:func:`~gankit.metrics.parzen.parzen_log_likelihood`, Goodfellow et al. 2014; Theis et al. 2016)
- ``cas``: cas, cas_real, cas_ratio (:func:`~gankit.metrics.cas.classification_accuracy_score`, Ravuri &
  Vinyals 2019): a classifier trained on the pixels of G's labelled samples, tested on real data
- ``label_agreement``: label_agreement (:func:`~gankit.metrics.cas.label_agreement`): the feature
  classifier's accuracy on G(z, y) against y
- ``modes``: modes, high_quality, kl (:func:`gankit.metrics.modes.mode_metrics`, Srivastava et al. 2017)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from gankit.errors import GankitError, closest
from gankit.metrics.cas import CAS_EPOCHS, classification_accuracy_score, label_agreement
from gankit.metrics.frechet import feature_statistics, fid, frechet_distance
from gankit.metrics.inception_score import inception_score
from gankit.metrics.intra_fid import intra_fid
from gankit.metrics.kid import kernel_inception_distance
from gankit.metrics.knn import density_coverage, knn_radii, manifold_metrics, precision_recall
from gankit.metrics.parzen import PARZEN_WARNING, parzen_log_likelihood
from gankit.registry import METRICS

__all__ = ["compute_metrics", "compute_each", "MetricSpec", "METRIC_NAMES", "METRIC_KEYS", "METRIC_ALIASES", "fid",
           "feature_statistics", "frechet_distance", "kernel_inception_distance", "inception_score",
           "precision_recall", "density_coverage", "manifold_metrics", "knn_radii", "intra_fid",
           "parzen_log_likelihood", "PARZEN_WARNING", "classification_accuracy_score", "label_agreement"]

METRIC_ALIASES = {"precision": "pr", "recall": "pr", "density": "dc", "coverage": "dc", "inception_score": "is",
                  "kid_std": "kid", "is_std": "is", "intra-fid": "intra_fid", "high_quality": "modes",
                  "kl": "modes", "parzen_sigma": "parzen", "cas_real": "cas", "cas_ratio": "cas",
                  "agreement": "label_agreement"}

# Options any k-NN / chunked metric accepts.
_COMMON_OPTIONS = ("chunk_size", "max_chunk_bytes")

# {"features": [N, F], "logits": [N, K] | None, "labels": [N] | None, "raw": [N, D] | None,
#  "labels_asked": bool (the fakes' labels are those G was asked for), "pixels": [N, C, H, W] in [-1, 1] | None}
Side = dict


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric group: what it writes, what it reads, which options it takes.

    ``fn(real, fake, seed, options, cache) -> {key: value}``; ``cache`` is shared by the metrics of
    one :func:`compute_metrics` call (precision/recall and density/coverage share distance passes).
    """

    name: str
    keys: tuple[str, ...]
    needs: tuple[str, ...]
    options: tuple[str, ...]
    fn: Callable[[Side, Side, int, dict, dict], dict]
    paper: str


def _register(name: str, keys: tuple[str, ...], needs: tuple[str, ...], options: tuple[str, ...],
              paper: str) -> Callable:
    def decorator(fn: Callable) -> Callable:
        METRICS.register(name)(MetricSpec(name, keys, needs, options, fn, paper))
        return fn

    return decorator


def _get(side: Side, key: str, who: str, metric: str) -> Any:
    value = side.get(key)
    if value is None:
        raise GankitError(f"the '{metric}' metric needs {key} of the {who} set, and none were given")
    return value


def _raw_or_features(side: Side, who: str, metric: str, choice: Optional[str] = None) -> Any:
    choice = choice or ("raw" if side.get("raw") is not None else "features")
    if choice not in ("raw", "features"):
        raise GankitError(f"{metric}_input must be 'raw' or 'features', got '{choice}'")
    return _get(side, choice, who, metric)


def _chunk_kw(options: dict) -> dict:
    return {k: options[k] for k in _COMMON_OPTIONS if options.get(k) is not None}


@_register("fid", ("fid",), ("features",), _COMMON_OPTIONS, "Heusel et al. 2017")
def _fid(real: Side, fake: Side, seed: int, options: dict, cache: dict) -> dict:
    kw = {"chunk_size": options["chunk_size"]} if options.get("chunk_size") else {}
    return {"fid": fid(_get(real, "features", "real", "fid"), _get(fake, "features", "fake", "fid"), **kw)}


@_register("kid", ("kid", "kid_std"), ("features",), ("kid_subsets", "kid_subset_size"), "Binkowski et al. 2018")
def _kid(real: Side, fake: Side, seed: int, options: dict, cache: dict) -> dict:
    mean, std = kernel_inception_distance(_get(real, "features", "real", "kid"), _get(fake, "features", "fake", "kid"),
                                          subsets=int(options.get("kid_subsets", 100)),
                                          subset_size=int(options.get("kid_subset_size", 1000)), seed=seed)
    return {"kid": mean, "kid_std": std}


@_register("is", ("is", "is_std"), ("logits",), ("is_splits",), "Salimans et al. 2016")
def _is(real: Side, fake: Side, seed: int, options: dict, cache: dict) -> dict:
    mean, std = inception_score(_get(fake, "logits", "fake", "is"), splits=int(options.get("is_splits", 10)))
    return {"is": mean, "is_std": std}


def _knn(real: Side, fake: Side, options: dict, cache: dict, metric: str) -> dict:
    if "knn" not in cache:
        wanted = []
        if "pr" in cache["groups"]:
            wanted += ["precision", "recall"]
        if "dc" in cache["groups"]:
            wanted += ["density", "coverage"]
        cache["knn"] = manifold_metrics(_get(real, "features", "real", metric), _get(fake, "features", "fake", metric),
                                        metrics=wanted, pr_k=int(options.get("pr_k", 3)),
                                        dc_k=int(options.get("dc_k", 5)), **_chunk_kw(options))
    return cache["knn"]


@_register("pr", ("precision", "recall"), ("features",), ("pr_k",) + _COMMON_OPTIONS, "Kynkaanniemi et al. 2019")
def _pr(real: Side, fake: Side, seed: int, options: dict, cache: dict) -> dict:
    values = _knn(real, fake, options, cache, "pr")
    return {"precision": values["precision"], "recall": values["recall"]}


@_register("dc", ("density", "coverage"), ("features",), ("dc_k",) + _COMMON_OPTIONS, "Naeem et al. 2020")
def _dc(real: Side, fake: Side, seed: int, options: dict, cache: dict) -> dict:
    values = _knn(real, fake, options, cache, "dc")
    return {"density": values["density"], "coverage": values["coverage"]}


@_register("intra_fid", ("intra_fid",), ("features", "labels"), (), "Miyato & Koyama 2018")
def _intra_fid(real: Side, fake: Side, seed: int, options: dict, cache: dict) -> dict:
    mean, per_class = intra_fid(_get(real, "features", "real", "intra_fid"), _get(real, "labels", "real", "intra_fid"),
                                _get(fake, "features", "fake", "intra_fid"), _get(fake, "labels", "fake", "intra_fid"))
    cache["intra_fid_per_class"] = per_class  # score() reports it in the provenance
    return {"intra_fid": mean}


@_register("parzen", ("parzen", "parzen_se", "parzen_sigma", "parzen_warning"), ("raw or features",),
           ("parzen_sigmas", "parzen_validation_fraction", "parzen_input") + _COMMON_OPTIONS,
           "Goodfellow et al. 2014; Theis et al. 2016")
def _parzen(real: Side, fake: Side, seed: int, options: dict, cache: dict) -> dict:
    choice = options.get("parzen_input")
    out = parzen_log_likelihood(_raw_or_features(fake, "fake", "parzen", choice),
                                _raw_or_features(real, "real", "parzen", choice),
                                sigmas=options.get("parzen_sigmas"),
                                validation_fraction=float(options.get("parzen_validation_fraction", 0.5)),
                                seed=seed, **_chunk_kw(options))
    return {"parzen": out["value"], "parzen_se": out["se"], "parzen_sigma": out["sigma"],
            "parzen_warning": out["warning"]}


def _asked_labels(fake: Side, metric: str) -> Any:
    labels = _get(fake, "labels", "fake", metric)
    if not fake.get("labels_asked", True):
        raise GankitError(f"'{metric}' needs the labels the generator was asked for, and this generator is "
                          f"unconditional (its fakes carry only a classifier's guesses, which would score "
                          f"class coverage, not label following); train a conditional model or drop {metric}")
    return labels


@_register("cas", ("cas", "cas_real", "cas_ratio"), ("pixels", "labels"), ("cas_epochs", "cas_reference", "cas_recipe"),
           "Ravuri & Vinyals 2019")
def _cas(real: Side, fake: Side, seed: int, options: dict, cache: dict) -> dict:
    """``cas_reference``: {"pixels", "labels"} of real *training* images, as many as the fakes, for
    the ceiling ``cas_real`` (or a number, the ceiling computed before); without it only ``cas``."""
    epochs = int(options.get("cas_epochs", CAS_EPOCHS))
    kw = {"num_classes": None, "seed": seed, "epochs": epochs, "recipe": options.get("cas_recipe")}
    test_x, test_y = _get(real, "pixels", "real", "cas"), _get(real, "labels", "real", "cas")
    labels = _asked_labels(fake, "cas")
    cas = classification_accuracy_score(_get(fake, "pixels", "fake", "cas"), labels, test_x, test_y, **kw)
    out = {"cas": cas, "cas_real": None, "cas_ratio": None}
    ref = options.get("cas_reference")
    if isinstance(ref, (int, float)):
        out["cas_real"] = float(ref)
    elif ref is not None:
        out["cas_real"] = classification_accuracy_score(ref["pixels"], ref["labels"], test_x, test_y, **kw)
    if out["cas_real"]:
        out["cas_ratio"] = cas / out["cas_real"]
    return out


@_register("label_agreement", ("label_agreement",), ("logits", "labels"), (), "the shipped classifier on G(z, y)")
def _label_agreement(real: Side, fake: Side, seed: int, options: dict, cache: dict) -> dict:
    labels = _asked_labels(fake, "label_agreement")
    return {"label_agreement": label_agreement(_get(fake, "logits", "fake", "label_agreement"), labels)}


@_register("modes", ("modes", "high_quality", "kl"), ("raw or features", "modes", "std"),
           ("modes", "std", "mode_threshold"), "Srivastava et al. 2017 (VEEGAN)")
def _modes(real: Side, fake: Side, seed: int, options: dict, cache: dict) -> dict:
    from gankit.metrics.modes import mode_metrics

    if options.get("modes") is None or options.get("std") is None:
        raise GankitError("the 'modes' metric needs the toy distribution's modes and std (options modes=, std=)")
    samples = fake.get("raw") if fake.get("raw") is not None else _get(fake, "features", "fake", "modes")
    out = mode_metrics(samples, options["modes"], float(options["std"]),
                       threshold=float(options.get("mode_threshold", 3.0)))
    return {"modes": out["modes"], "high_quality": out["high_quality"], "kl": out["kl"]}


METRIC_NAMES: tuple[str, ...] = ("fid", "kid", "is", "pr", "dc", "intra_fid", "parzen", "cas", "label_agreement",
                                  "modes")
METRIC_KEYS: dict[str, tuple[str, ...]] = {name: METRICS.get(name).keys for name in METRIC_NAMES}


def resolve_names(names: Any) -> list[str]:
    """Metric group names from names, result keys or aliases (``precision`` -> ``pr``), deduplicated.

    Raises:
        GankitError naming an unknown metric and the closest valid name.
    """
    items = names.split(",") if isinstance(names, str) else list(names)
    out: list[str] = []
    for item in items:
        name = str(item).strip().lower()
        if not name:
            continue
        name = METRIC_ALIASES.get(name, name)
        if name not in METRICS:
            choices = sorted(set(METRICS.names()) | set(METRIC_ALIASES))
            raise GankitError(f"unknown metric '{str(item).strip()}'{closest(str(item).strip(), choices)}; valid: "
                              f"{', '.join(METRICS.names())} (pr = precision/recall, dc = density/coverage)")
        if name not in out:
            out.append(name)
    return out


def compute_metrics(names: Any, real: Any, fake: Any, *, seed: int = 0, **options: Any) -> dict:
    """Compute the named metrics of ``fake`` against ``real``.

    Args:
        names: metric groups (``fid``, ``kid``, ``is``, ``pr``, ``dc``, ``intra_fid``, ``parzen``, ``cas``,
            ``modes``), result keys (``precision``) or a comma-separated string.
        real, fake: plain arrays or tensors [N, F] of features (or of the data itself: toy points,
            flattened pixels), or dicts of already-extracted arrays: ``{"features": [N, F], "logits":
            [N, K] or None, "labels": [N] or None, "raw": [N, D] or None}``. Missing keys count as None;
            a plain array is ``{"features": array}``. Images must go through a feature extractor first
            (``gankit.evaluate(real=..., fake=...)`` does that).
        seed: seeds every random choice (KID subsets, the Parzen validation split, CAS).
        options: ``kid_subsets`` (100), ``kid_subset_size`` (1000), ``is_splits`` (10), ``pr_k`` (3),
            ``dc_k`` (5), ``chunk_size`` / ``max_chunk_bytes`` (k-NN and Parzen blocks), ``parzen_sigmas``,
            ``parzen_validation_fraction`` (0.5), ``parzen_input`` ('raw' if given, else 'features'),
            ``details`` (a dict that receives per-class intra-FIDs and other by-products),
            ``cas_epochs`` (6), ``cas_reference`` (real training pixels and labels for ``cas_real``),
            ``cas_recipe`` (the classifier recipe, 'fashion_mnist'), and for ``modes``: the toy
            distribution's ``modes`` [M, D] and ``std``, ``mode_threshold`` (3.0).

    Returns:
        ``{key: value}`` in the order of ``names``: floats, except ``modes`` (an int), ``kl`` (None
        when no sample is high quality) and ``parzen_warning`` (the text to print beside ``parzen``).

    Raises:
        GankitError for an unknown metric or option (naming the closest valid one) or missing inputs.
    """
    values, failed = compute_each(names, real, fake, seed=seed, **options)
    if failed:
        raise next(iter(failed.values()))
    return values


def _side(value: Any) -> dict:
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    return {"features": value}  # a plain array or tensor [N, F]


def compute_each(names: Any, real: Any, fake: Any, *, seed: int = 0, **options: Any) -> tuple[dict, dict]:
    """As :func:`compute_metrics`, but one metric group that cannot be computed does not lose the others.

    Returns:
        ``(values, failed)``: ``values`` holds every key of every group, None for the keys of a group
        that failed; ``failed`` maps each failed group to its exception (a GankitError says why).
    """
    groups = resolve_names(names)
    known = sorted({o for spec in (METRICS.get(g) for g in METRIC_NAMES) for o in spec.options}
                   | set(_COMMON_OPTIONS) | {"details"})
    for key in options:
        if key not in known:
            raise GankitError(f"unknown metric option '{key}'{closest(key, known)}; valid: {', '.join(known)}")
    real, fake = _side(real), _side(fake)
    cache: dict = {"groups": set(groups)}
    out: dict = {}
    failed: dict = {}
    for group in groups:
        spec = METRICS.get(group)
        try:
            out.update(spec.fn(real, fake, seed, options, cache))
        except Exception as exc:  # noqa: BLE001 -- reported with its reason; --strict makes it fatal
            failed[group] = exc
            out.update({k: None for k in spec.keys})
    if options.get("details") is not None:
        options["details"].update({k: v for k, v in cache.items() if k != "groups"})
    return out, failed

