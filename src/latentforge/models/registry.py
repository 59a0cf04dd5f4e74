"""Model registry: names map to classes; configs are typed dataclasses validated on load."""

from __future__ import annotations

import dataclasses
import difflib
import typing
from typing import Any

from ..errors import ConfigError

_MODELS: dict[str, type] = {}


def register(name: str):
    """Class decorator: ``@register("vae")`` makes the model buildable by name."""

    def wrap(cls):
        if name in _MODELS:
            raise ValueError(f"model name {name!r} registered twice")
        cls.name = name
        _MODELS[name] = cls
        return cls

    return wrap


def available_models() -> list[str]:
    return sorted(_MODELS)


def get_model_class(name: str) -> type:
    try:
        return _MODELS[name]
    except KeyError:
        close = difflib.get_close_matches(name, _MODELS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"Unknown model {name!r}.{hint} Available models: {', '.join(available_models())}.") from None


def config_from_dict(config_cls: type, values: dict[str, Any] | None, where: str = "model config"):
    """Build a config dataclass from plain values, rejecting unknown keys and coercing simple types."""
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"Unknown {where} key(s) {unknown} for {config_cls.__name__}; valid keys: {', '.join(sorted(fields))}."
        )
    hints = typing.get_type_hints(config_cls)
    coerced = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    config = config_cls(**coerced)
    if hasattr(config, "validate"):
        config.validate()
    return config


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None:
        return None
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        non_none = [a for a in args if a is not type(None)]
        return _coerce(value, non_none[0], where) if len(non_none) == 1 else value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        return tuple(_coerce(v, args[0], where) for v in value)
    try:
        if hint is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            return bool(value)
        if hint in (int, float, str):
            if hint is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return hint(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be of type {hint.__name__}, got {value!r}") from None
    return value
