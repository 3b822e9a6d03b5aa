"""One small registry per extension point: architectures, objectives, auxiliary terms, datasets, metrics.

Usage::

    @DATASETS.register("ring")
    def ring(cfg, split): ...

    DATASETS.get("ring")  # raises GankitError naming the closest valid entry
"""
from __future__ import annotations

from typing import Callable, Dict, Generic, Iterator, TypeVar

from gankit.errors import GankitError, closest

T = TypeVar("T")


class Registry(Generic[T]):
    """A named mapping from string keys to factories, filled by a decorator."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: Dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        self._load()
        if name not in self._entries:
            raise GankitError(
                f"unknown {self.kind} '{name}'{closest(name, self._entries)}; "
                f"valid: {', '.join(sorted(self._entries))}"
            )
        return self._entries[name]

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _load(self) -> None:
        # Entries live in their packages; importing the package registers them. Done lazily so
        # that importing gankit does no work.
        import importlib

        module = _PACKAGES.get(self.kind)
        if module:
            importlib.import_module(module)


_PACKAGES = {
    "dataset": "gankit.data",
    "architecture": "gankit.nets",
    "objective": "gankit.objectives",
    "term": "gankit.objectives",
    "metric": "gankit.metrics",
}

DATASETS: Registry = Registry("dataset")
ARCHS: Registry = Registry("architecture")
OBJECTIVES: Registry = Registry("objective")
TERMS: Registry = Registry("term")  # auxiliary loss terms added to any objective (objective.terms)
METRICS: Registry = Registry("metric")
