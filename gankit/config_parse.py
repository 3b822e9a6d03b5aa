"""Building typed config dataclasses from plain mappings: unknown keys and wrong types are errors
naming the dotted key (the parsing half of :mod:`gankit.config`), and reading presets, YAML files and
``key.sub=value`` overrides into those mappings."""
from __future__ import annotations

import dataclasses
import typing
from importlib import resources
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


# --------------------------------------------------------------------------- presets and overrides


def preset_names() -> list[str]:
    """Names of the presets shipped in the package, sorted."""
    folder = resources.files("gankit") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def read_yaml_mapping(text: str, source: str) -> dict:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise GankitError(yaml_error_message(exc, text, source)) from None
    if not isinstance(data, dict):
        raise GankitError(f"{source} must hold a mapping of config keys, got {type(data).__name__}")
    return data


def yaml_error_message(exc: yaml.YAMLError, text: str, source: str) -> str:
    """One line: ``FILE:LINE:COLUMN: invalid YAML: what (context): the offending line``."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context and context_mark is not None and mark is not None and context_mark.line != mark.line:
        context += f" that starts at line {context_mark.line + 1}"
    detail = f"{problem} ({context})" if context else problem
    if mark is None:
        return f"{source}: invalid YAML: {detail}"
    lines = text.splitlines()
    line = lines[mark.line].strip() if mark.line < len(lines) else ""
    if not line and context_mark is not None and context_mark.line < len(lines):
        line = lines[context_mark.line].strip()  # at the end of the file: show where the construct began
    shown = f": {line!r}" if line else ""
    return f"{source}:{mark.line + 1}:{mark.column + 1}: invalid YAML: {detail}{shown}"


def preset_dict(name: str) -> dict:
    """The raw mapping of a shipped preset."""
    names = preset_names()
    if name not in names:
        raise GankitError(f"unknown preset '{name}'{closest(name, names)}; "
                          f"run 'gankit presets' to list them")
    text = (resources.files("gankit") / "presets" / f"{name}.yaml").read_text()
    data = read_yaml_mapping(text, f"preset '{name}'")
    data.setdefault("name", name)
    return data


def parse_override(item: str) -> tuple[list[str], Any]:
    """``'train.g_optim.lr=1e-4'`` -> ``(['train', 'g_optim', 'lr'], '1e-4' parsed as YAML)``."""
    if "=" not in item:
        raise GankitError(f"override '{item}' must look like key.sub=value, e.g. train.steps=500")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise GankitError(f"override '{item}' has no key before '='")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``key.sub=value`` strings to a nested mapping (a new dict is returned)."""
    import copy

    data = copy.deepcopy(data)
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise GankitError(f"override '{item}': '{part}' is not a group of keys")
            node = child
        node[path[-1]] = value
    return data


def diff_configs(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config mappings."""
    keys = sorted(set(a) | set(b))
    out: list[str] = []
    for k in keys:
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict) and k != "params":
            out += diff_configs(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}")
    return out
