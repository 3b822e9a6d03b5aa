"""Building typed config dataclasses from plain mappings: unknown keys and wrong types are errors
naming the dotted key (the parsing half of :mod:`gankit.config`)."""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, Optional, Union

import yaml

from gankit.errors import GankitError, closest


def from_dict(data: dict, cls: Optional[type] = None, prefix: str = "") -> Any:
    """Build dataclass ``cls`` (default :class:`gankit.config.Config`) from a nested dict, rejecting
    unknown keys and wrong types."""
    if cls is None:
        from gankit.config import Config

        cls = Config
    if not isinstance(data, dict):
        where = f"'{prefix}'" if prefix else "the config"
        raise GankitError(f"{where} must be a mapping of keys to values, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            valid = [f"{prefix}{n}" for n in names]
            raise GankitError(f"unknown config key '{dotted}'{closest(dotted, valid)}")
        kwargs[key] = _coerce(value, hints[key], dotted)
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is Union:  # Optional[X]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("null", "none")):
            return None
        return _coerce(value, args[0], key)
    if dataclasses.is_dataclass(hint):
        return from_dict(value, hint, key + ".")
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise GankitError(f"config key '{key}' must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise GankitError(f"config key '{key}' must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value))
        except ValueError:
            raise GankitError(f"config key '{key}' must be an integer, got {value!r}") from None
    if hint is float:
        if isinstance(value, bool):
            raise GankitError(f"config key '{key}' must be a number, got {value!r}")
        try:
            return float(value)  # also "1e-4", which YAML 1.1 reads as a string
        except (TypeError, ValueError):
            raise GankitError(f"config key '{key}' must be a number, got {value!r}") from None
    if hint is str:
        if isinstance(value, (dict, list)):
            raise GankitError(f"config key '{key}' must be a string, got {value!r}")
        return str(value)
    if hint is list or origin is list:
        if isinstance(value, str):  # "[a, b]" (YAML) or "a,b" (a comma list, as on the command line)
            parsed = yaml.safe_load(value)
            value = parsed if isinstance(parsed, list) else [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise GankitError(f"config key '{key}' must be a list, got {value!r}")
        return [_number(v) for v in value]
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise GankitError(f"config key '{key}' must be a mapping, got {value!r}")
        return dict(value)
    return value


def _number(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


