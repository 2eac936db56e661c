"""Reading the optional parts of an eval or audit result.

A report renders whatever a benchmark produced: a missing or null key leaves its part out.
A key that is present with the wrong type is a bad input, not something to skip silently,
so it raises one :class:`~rewardlab.errors.InputError` naming the key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rewardlab.errors import InputError


def _get(data: Mapping[str, Any], key: str, expected: type | tuple[type, ...], kind: str, where: str) -> Any:
    value = data.get(key)
    if value is None or isinstance(value, expected):
        return value
    raise InputError(f"{where}{key!r} must be {kind}, got {type(value).__name__}; "
                     "pass the JSON that rewardlab eval/audit --json wrote")


def mapping(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any] | None:
    """``data[key]`` if present and not null, else None; InputError when it is not an object."""
    return _get(data, key, Mapping, "an object", where)


def sequence(data: Mapping[str, Any], key: str, where: str) -> list[Any] | None:
    """``data[key]`` as a list if present and not null, else None; InputError when it is not a list."""
    value = _get(data, key, (list, tuple), "a list", where)
    return None if value is None else list(value)


def required(data: Mapping[str, Any], key: str, where: str) -> Any:
    """``data[key]``, which must be present (it may be null where the contract allows it)."""
    if not isinstance(data, Mapping):
        raise InputError(f"{where}the result must be a JSON object, got {type(data).__name__}")
    if key not in data:
        raise InputError(f"{where}missing {key!r}: pass the JSON that rewardlab eval/audit --json wrote")
    return data[key]


def number(value: Any) -> float | None:
    """A finite float, or None for null, NaN, infinities and non-numbers (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    out = float(value)
    return out if math.isfinite(out) else None

