"""Declared settings and the one range check every component uses.

A component (a loss, an optimizer, a schedule, a regularizer) declares the config keys it takes
as :class:`Setting` objects beside its code (``settings = {...}``); the config schema is built
from those declarations, so a new setting is written in one place. :func:`check_number` is the
range check behind every number a user can set, from a YAML file or a Python call.
"""

import difflib
import math
import numbers
import re
from dataclasses import dataclass, replace
from typing import Any

from .errors import ConfigError, shown

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _bounds(low, high, low_open, high_open):
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return " and ".join(parts)


def check_number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> Any:
    """``value`` as a finite ``float`` (``int`` with ``integer``) within the bounds, else
    :class:`~mlp.errors.ConfigError` naming ``name``, the bounds and the value received.

    Booleans are not numbers; NumPy scalars are; a float with no fractional part passes as an integer.
    """
    original = value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name}: must be a number, got {shown(original)}")
    value = int(value) if isinstance(value, numbers.Integral) else float(value)  # NumPy scalars too
    if not math.isfinite(value):
        raise ConfigError(f"{name}: must be a finite number, got {shown(original)}")
    if integer:
        if isinstance(value, float):
            if not value.is_integer():
                raise ConfigError(f"{name}: must be an integer, got {shown(original)}")
            value = int(value)
    else:
        value = float(value)
    low_ok = low is None or (value > low if low_open else value >= low)
    high_ok = high is None or (value < high if high_open else value <= high)
    if not (low_ok and high_ok):
        raise ConfigError(f"{name}: must be {_bounds(low, high, low_open, high_open)}, got {shown(original)}")
    return value


def check_choice(name: str, value: Any, choices) -> Any:
    """``value`` if it is one of ``choices``, else ``ConfigError`` with a suggestion and the list."""
    if isinstance(value, str) and value in choices:
        return value
    hint = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    raise ConfigError(
        f"{name}: unknown name{suggestion}; valid names: {', '.join(map(str, choices))}, got {shown(value)}"
    )


@dataclass(frozen=True)
class Setting:
    """One config key: its kind, default and constraints, and the argument it becomes.

    ``kind``: ``"int"``, ``"float"``, ``"bool"``, ``"str"``, ``"name"`` (one of ``choices``),
    ``"path"`` (a string, or a list of two for an IDX pair), ``"widths"`` (a list of integers
    >= 1), ``"pair"`` (two numbers in [0, 1)), ``"names"`` (a list of column names),
    ``"names_or_auto"`` (``auto`` or a list of column names), ``"mapping"`` (a mapping, checked by its
    user). A number written ``1e-3`` (a string to YAML 1.1)
    is read as a number. ``arg`` is the keyword the component's constructor
    takes (default: the key itself).
    """

    kind: str
    default: Any = None
    nullable: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple = ()
    doc: str = ""
    arg: str | None = None

    def check(self, path: str, value: Any) -> Any:
        """The validated value of the key at ``path`` (``ConfigError`` naming it)."""
        if value is None:
            if self.nullable:
                return None
            raise ConfigError(f"{path}: must be set (null is not allowed), got None")
        kind = self.kind
        if kind in ("int", "float"):
            if isinstance(value, str) and _NUMBER.match(value.strip()):
                value = float(value)
            return check_number(
                path,
                value,
                self.low,
                self.high,
                low_open=self.low_open,
                high_open=self.high_open,
                integer=kind == "int",
            )
        if kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"{path}: must be true or false, got {shown(value)}")
            return value
        if kind == "str":
            if not isinstance(value, str):
                raise ConfigError(f"{path}: must be a string, got {shown(value)}")
            return value
        if kind == "name":
            return check_choice(path, value, self.choices)
        if kind == "path":
            if isinstance(value, str) or (
                isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)
            ):
                return value
            raise ConfigError(f"{path}: must be a file path, or [images, labels] for an IDX pair, got {shown(value)}")
        if kind == "widths":
            if not isinstance(value, list):
                raise ConfigError(f"{path}: must be a list of layer widths, got {shown(value)}")
            for index, width in enumerate(value):
                if isinstance(width, bool) or not isinstance(width, int) or width < 1:
                    raise ConfigError(f"{path}[{index}]: must be an integer >= 1, got {shown(width)}")
            return list(value)
        if kind in ("names", "names_or_auto"):
            if kind == "names_or_auto" and value == "auto":
                return value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                expected = "auto or a list of column names" if kind == "names_or_auto" else "a list of column names"
                raise ConfigError(f"{path}: must be {expected}, got {shown(value)}")
            duplicated = sorted({v for v in value if value.count(v) > 1})
            if duplicated:
                raise ConfigError(f"{path}: names column {duplicated[0]!r} twice")
            return list(value)
        if kind == "mapping":
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: must be a mapping of keys to values, got {shown(value)}")
            return dict(value)
        if kind == "pair":
            if not isinstance(value, list) or len(value) != 2:
                raise ConfigError(f"{path}: must be a list of two numbers, got {shown(value)}")
            unit = Setting("float", low=0, high=1, high_open=True)
            return [unit.check(f"{path}[{i}]", v) for i, v in enumerate(value)]
        raise AssertionError(f"unknown setting kind {kind!r}")


def declared_settings(registry: dict) -> dict:
    """The settings every component of a family declares, merged in registry order.

    A key declared by several components must be declared alike (it is one config key).
    """
    merged: dict[str, Setting] = {}
    for component in registry.values():
        for key, setting in component.settings.items():
            if replace(merged.setdefault(key, setting), arg=None) != replace(setting, arg=None):
                raise AssertionError(f"{component.__name__} declares {key!r} unlike another component")
    return merged
