"""Text that leaves a sample is valid Unicode: lone surrogates become ``\\udXXX`` escapes.

A candidate's exception message or output can hold lone surrogate code points (Python
makes them from undecodable bytes or ``chr(0xd800)``). No UTF-8 writer accepts them
(JSONL and JSON files, SQLite, Parquet, orjson), so one such row used to fail a whole
``rewardlab score`` run, and ``--resume`` failed again on the same row forever. Every
row passes through :func:`safe_text` once, where :class:`rewardlab.results.Results` is
built, and input rows when they are read; the escape keeps the code point readable
(``'\\ud800'``) instead of hiding it behind a replacement character.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

T = TypeVar("T")

_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(value: Any) -> bool:
    """Whether any string in ``value`` (dict keys included, through dicts, lists and tuples) holds a
    lone surrogate. Every row read or scored passes here, so it walks with a stack rather than
    recursing and skips the regex for ASCII strings (``str.isascii`` is a flag test): about 3x faster
    than the recursive walk on a runner row."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item) is not None:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


def _escape(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_escape(k): _escape(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_escape(v) for v in value)
    if isinstance(value, list):
        return [_escape(v) for v in value]
    return value


def safe_text(value: T) -> T:
    """``value`` with every lone surrogate in its strings (keys included) escaped.

    Returns ``value`` itself when it holds none (the common case costs one scan).
    """
    return _escape(value) if _has_surrogate(value) else value
