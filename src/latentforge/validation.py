"""Range and type checks for the numeric fields of config dataclasses (training and model configs).

Each config class lists a :class:`Limit` per numeric field in a ``limits`` class variable (subclasses
add to or override their parents' entries); :func:`check_fields` checks every int, float and bool field
of an instance against them: the right type (an int is not a bool or a float), finite, and in range. A
message names the key, the value and the rule, e.g. ``train.grad_clip must be a number ≥ 0, got -1``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from typing import Any

from .errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Limit:
    """The closed or open interval a value must lie in; None = unbounded on that side."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def allows(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{_num(self.low)}, {_num(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '≥'} {_num(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '≤'} {_num(self.high)}"
        return "finite"


def at_least(low: float, high: float | None = None) -> Limit:
    return Limit(low, high)


def above(low: float, high: float | None = None) -> Limit:
    return Limit(low, high, low_open=True)


def fraction(high_open: bool = False) -> Limit:
    """[0, 1], or [0, 1) with ``high_open`` (a decay rate)."""
    return Limit(0.0, 1.0, high_open=high_open)


# Upper bounds that no sensible run exceeds; they turn a typo (1e12 channels) into a clear error instead of
# an allocation of terabytes.
MAX_WIDTH = 4096  # channels of a layer, latent channels
MAX_LATENT = 65536  # latent dimensions
MAX_DEPTH = 256  # layers or blocks
MAX_CLASSES = 100_000
MAX_BATCH = 1 << 20
MAX_STEPS = 10**12
MAX_SEED = 2**32 - 1
MAX_WEIGHT = 10**6  # loss weights (beta, adversarial weight, penalties)


def _num(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _kind(hint: Any) -> tuple[type | None, bool, bool]:
    """(int, float or bool, or None for other types; whether None is allowed; whether it is a tuple of them)."""
    optional = False
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        non_none = [a for a in args if a is not type(None)]
        optional = len(non_none) < len(args)
        if len(non_none) != 1:
            return None, optional, False
        hint = non_none[0]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple and args:
        return (args[0] if args[0] in (int, float, bool) else None), optional, True
    return (hint if hint in (int, float, bool) else None), optional, False


@functools.cache
def numeric_fields(cls: type) -> dict[str, tuple[type, bool, bool]]:
    """The fields of dataclass ``cls`` that hold numbers or flags: name → (type, optional, tuple)."""
    hints = typing.get_type_hints(cls)
    found = {}
    for field in dataclasses.fields(cls):
        kind, optional, is_tuple = _kind(hints[field.name])
        if kind is not None:
            found[field.name] = (kind, optional, is_tuple)
    return found


def limits_of(cls: type) -> dict[str, Limit]:
    """The ``limits`` tables of ``cls`` and its bases, a subclass's entry winning."""
    merged: dict[str, Limit] = {}
    for klass in reversed(cls.__mro__):
        merged.update(vars(klass).get("limits", {}))
    return merged


def check_value(key: str, value: Any, kind: type, limit: Limit | None) -> None:
    """Raise ConfigError unless ``value`` is a ``kind`` (int, float or bool) within ``limit``."""
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return
    rule = f"{'an integer' if kind is int else 'a number'} {limit.describe() if limit else 'that is finite'}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key} must be {rule}, got {value!r} ({type(value).__name__})")
    if kind is int and not isinstance(value, int):
        raise ConfigError(f"{key} must be {rule}, got {value!r} (not an integer)")
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be {rule}, got {value!r}")
    if limit is not None and not limit.allows(value):
        raise ConfigError(f"{key} must be {rule}, got {value!r}")


def check_fields(config: Any, section: str) -> None:
    """Check every numeric and flag field of the dataclass instance ``config``; keys read ``section.field``."""
    limits = limits_of(type(config))
    for name, (kind, optional, is_tuple) in numeric_fields(type(config)).items():
        value, key = getattr(config, name), f"{section}.{name}"
        if value is None and optional:
            continue
        if is_tuple:
            if not isinstance(value, (tuple, list)):
                raise ConfigError(f"{key} must be a list of numbers, got {value!r}")
            for item in value:
                check_value(key, item, kind, limits.get(name))
        else:
            check_value(key, value, kind, limits.get(name))
