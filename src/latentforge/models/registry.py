"""Model registry: names map to classes; configs are typed dataclasses validated on load."""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import typing
from typing import Any

import torch

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


def get_model_class(name: Any) -> type:
    if not isinstance(name, str):
        raise ConfigError(f"A model name must be a string, got {name!r}. Available models: "
                          f"{', '.join(available_models())}.")
    try:
        return _MODELS[name]
    except KeyError:
        close = difflib.get_close_matches(name, _MODELS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"Unknown model {name!r}.{hint} Available models: {', '.join(available_models())}.") from None


def build_model(name: Any, config: dict | None = None, where: str | None = None, *, meta: bool = False):
    """The model ``name`` built from plain config values. Every new or loaded model is built here: its config
    is validated and its size counted on the meta device first, so an absurd config fails before allocating
    anything. ``meta=True`` returns that weightless skeleton (shapes without memory) instead."""
    cls = get_model_class(name)
    where = where or f"{name} config"
    model_config = config_from_dict(cls.config_class, config, where=where)
    skeleton = sized_skeleton(cls, model_config, where)
    return skeleton if meta else cls(model_config)


# The largest model (parameters and buffers) built without question: a fixed cap, or the machine's memory
# when that is smaller. Every model of this project is far below it; a typo (latent_dim 1e12) is not.
MAX_MODEL_BYTES = 2**33


def model_size_limit() -> tuple[int, str]:
    """(bytes, what the bound is) for :func:`sized_skeleton`."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        ram = 0
    if 0 < ram < MAX_MODEL_BYTES:
        return ram, f"this machine's memory ({ram / 2**30:.1f} GiB)"
    return MAX_MODEL_BYTES, f"the limit of {MAX_MODEL_BYTES / 2**30:g} GiB for one model"


def model_bytes(model: Any) -> int:
    """Bytes of the parameters and buffers of ``model`` (on any device, the meta device included)."""
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


def sized_skeleton(cls: type, config: Any, where: str):
    """``cls(config)`` built on the meta device (no memory); ConfigError when it cannot be built or its
    weights would exceed :func:`model_size_limit`."""
    try:
        with torch.device("meta"):
            skeleton = cls(config)
    except ConfigError:
        raise
    except (ValueError, TypeError, RuntimeError, ZeroDivisionError, OverflowError, IndexError) as e:
        raise ConfigError(f"The {where} ({config}) cannot build a {cls.name} model: {e}") from e
    size, (limit, what) = model_bytes(skeleton), model_size_limit()
    if size > limit:
        raise ConfigError(
            f"The {where} asks for a {cls.name} model of {size / 2**30:,.1f} GiB of weights, more than {what}; "
            "lower its sizes (latent_dim, channels, blocks, image size)."
        )
    return skeleton


def config_from_dict(config_cls: type, values: dict[str, Any] | None, where: str = "model config"):
    """Build a config dataclass from plain values, rejecting unknown keys and values of the wrong type."""
    if values is not None and not isinstance(values, dict):
        raise ConfigError(f"The {where} must be a mapping of keys to values, got {values!r}")
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - set(fields), key=str)
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


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` as the type ``hint`` names. Strings of numbers and flags are read (``--set`` values may
    arrive as text), but nothing else changes type: a bool is not an int, 2.5 is not an int, 5 is not a
    string, and floats must be finite."""
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
    if hint is bool:
        return _to_bool(value, where)
    if hint is int:
        return _to_int(value, where)
    if hint is float:
        return _to_float(value, where)
    if hint is str and not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {value!r} ({type(value).__name__})")
    return value


def _to_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"{where} must be true or false, got {value!r}")


def _parse_number(value: Any) -> Any:
    """A number written as text read as one (int first, then float); anything else as it is."""
    if not isinstance(value, str):
        return value
    for parse in (int, float):
        try:
            return parse(value.strip())
        except ValueError:
            pass
    return value


def _to_int(value: Any, where: str) -> int:
    number = _parse_number(value)
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int):
        raise ConfigError(f"{where} must be of type int (a whole number), got {value!r}")
    return number


def _to_float(value: Any, where: str) -> float:
    number = _parse_number(value)
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise ConfigError(f"{where} must be of type float (a number), got {value!r}")
    if not math.isfinite(number):
        raise ConfigError(f"{where} must be a finite number, got {value!r}")
    return float(number)
