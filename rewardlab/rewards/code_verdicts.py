"""Verdicts on plain data, in the trusted caller: comparison policy, output policy, and
the bounded text that describes a result.

Every value compared or described here came back from the sandbox and may be built to
hurt the caller: an integer with thousands of digits (``str``/``repr`` of it raises
``ValueError`` beyond Python's int-string limit, ``float`` of it raises
``OverflowError``), sets or dicts of keys built to collide (each insert or lookup
compares with every earlier key), or deep and long containers. The channel decoder
bounds sizes, depth, integer digits and hash collisions (``sandbox/channel.py``); the
functions here never convert an integer to text beyond :data:`REPR_INT_BITS`, never
convert an unbounded integer to float, and cost time linear in the value.

Comparison policies (the reference's ``compare``; examples in docs/sandbox.md):

- ``exact`` (default): types must match (``bool`` is not ``int``, ``int`` is not
  ``float``, also inside lists, sets and dict keys; tuples and lists are one kind, as
  JSON has no tuples; ``set`` and ``frozenset`` are one kind), values equal; NaN
  matches NaN.
- ``numeric``: as ``exact``, except that a float expected value matches an ``int`` or
  ``float`` answer within ``|got - expected| <= max(rel_tol * |expected|, abs_tol)``
  (relative to the *expected* value, so a huge answer cannot widen it); an ``int``
  expected value matches only an exactly equal number (no tolerance on integers);
  ``bool`` never matches a number. Set elements and dict keys are compared exactly.
- ``loose`` (explicit opt-in): Python's own equality of numbers (``True == 1``,
  ``1 == 1.0``) with the tolerance above on every number, sets and dict keys by
  Python equality.
"""

from __future__ import annotations

import itertools
import math
import reprlib
from collections.abc import ItemsView, Iterable
from dataclasses import dataclass
from typing import Any

COMPARE_MODES = ("exact", "numeric", "loose")
REPR_INT_BITS = 256  # larger integers are described by their size, never converted to text
_SEQ = (list, tuple)
_SETS = (set, frozenset)


# --- comparison -------------------------------------------------------------------------------
def values_equal(got: Any, expected: Any, mode: str = "exact", rel_tol: float = 1e-6,
                 abs_tol: float = 1e-9) -> bool:
    """Whether ``got`` (from the sandbox) matches ``expected`` under the policy ``mode``."""
    tg, te = type(got), type(expected)
    if te in _SEQ or tg in _SEQ:
        return tg in _SEQ and te in _SEQ and len(got) == len(expected) and all(
            values_equal(g, e, mode, rel_tol, abs_tol) for g, e in zip(got, expected, strict=True))
    if te is dict or tg is dict:
        return tg is dict and te is dict and _dicts_equal(got, expected, mode, rel_tol, abs_tol)
    if te in _SETS or tg in _SETS:
        if mode == "loose":
            return tg in _SETS and te in _SETS and got == expected
        return tg in _SETS and te in _SETS and len(got) == len(expected) and (
            {_strict_key(v) for v in got} == {_strict_key(v) for v in expected})
    if mode == "loose" and tg in (bool, int, float) and te in (bool, int, float):
        return _close(got, expected, rel_tol, abs_tol)
    if te is float and mode == "numeric":
        return tg in (int, float) and _close(got, expected, rel_tol, abs_tol)
    if te is float:
        return tg is float and (got == expected or (math.isnan(got) and math.isnan(expected)))
    if te is int and mode == "numeric":
        return tg in (int, float) and got == expected  # exact: Python compares int/float exactly
    return tg is te and bool(got == expected)


def _dicts_equal(got: dict[Any, Any], expected: dict[Any, Any], mode: str, rel: float,
                 abs_: float) -> bool:
    if len(got) != len(expected):
        return False
    if mode == "loose":
        return got.keys() == expected.keys() and all(
            values_equal(got[k], expected[k], mode, rel, abs_) for k in expected)
    # Keys of different types never match (True is not 1); distinct strict keys of a dict
    # are distinct Python keys, so equal sizes and every expected key found is a bijection.
    by_key = {_strict_key(k): v for k, v in got.items()}
    for k, e in expected.items():
        sk = _strict_key(k)
        if sk not in by_key or not values_equal(by_key[sk], e, mode, rel, abs_):
            return False
    return True


def _strict_key(value: Any) -> Any:
    """A hashable stand-in of a set element or dict key that equals another's only if the
    values have the same types throughout (``(bool, True)`` is not ``(int, 1)``)."""
    t = type(value)
    if t in _SEQ:
        return ("seq", tuple(_strict_key(v) for v in value))
    if t in _SETS:
        return ("set", frozenset(_strict_key(v) for v in value))
    if t is float and value != value:
        return ("nan",)
    return (t.__name__, value)


def _close(got: int | float, expected: int | float, rel: float, abs_: float) -> bool:
    """``|got - expected| <= max(rel * |expected|, abs_)``; NaN matches NaN only."""
    if got == expected:  # exact for any int and float (no rounding), inf == inf
        return True
    try:
        g, e = float(got), float(expected)
    except OverflowError:  # an integer beyond the float range: not within any tolerance
        return False
    if math.isnan(g) or math.isnan(e):
        return math.isnan(g) and math.isnan(e)
    if math.isinf(g) or math.isinf(e):
        return False
    return abs(g - e) <= max(rel * abs(e), abs_)


# --- stdout -----------------------------------------------------------------------------------
def normalize_output(text: str) -> list[str]:
    """Whitespace policy for stdout: CRLF -> LF, trailing spaces of each line and trailing
    empty lines are ignored; everything else (leading spaces, blank lines inside, every
    line to the end) must match."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def output_diff(got: str, expected: str) -> str | None:
    """None if the outputs match under the policy, else a short description of the first difference."""
    g, e = normalize_output(got), normalize_output(expected)
    if g == e:
        return None
    for i, (a, b) in enumerate(zip(g, e, strict=False)):
        if a != b:
            return f"line {i + 1}: expected {b[:60]!r}, got {a[:60]!r}"
    return f"expected {len(e)} lines, got {len(g)}"


# --- bounded text -----------------------------------------------------------------------------
class _Short(reprlib.Repr):
    """``reprlib`` limits, and no step that grows with the value: huge integers are
    described by size, sets and dicts are not sorted first (reprlib sorts them whole)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother = 3, 60, 60

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > REPR_INT_BITS:
            return f"<int of about {int(x.bit_length() * 0.30103) + 1} digits>"
        return super().repr_int(x, level)

    def repr_bytes(self, x: bytes, level: int) -> str:
        return repr(x[: self.maxstring]) + ("..." if len(x) > self.maxstring else "")

    def repr_set(self, x: set[Any], level: int) -> str:
        return self._items(x, level, "{", "}", self.maxset) if x else "set()"

    def repr_frozenset(self, x: frozenset[Any], level: int) -> str:
        return self._items(x, level, "frozenset({", "})", self.maxfrozenset) if x else "frozenset()"

    def repr_dict(self, x: dict[Any, Any], level: int) -> str:
        return self._items(x.items(), level, "{", "}", self.maxdict) if x else "{}"

    def _items(self, x: Iterable[Any], level: int, left: str, right: str, most: int) -> str:
        """The first ``most`` items in iteration order (pairs as ``k: v``)."""
        if level <= 0:
            return left + "..." + right
        shown = [f"{self.repr1(i[0], level - 1)}: {self.repr1(i[1], level - 1)}"
                 if isinstance(x, ItemsView) else self.repr1(i, level - 1)
                 for i in itertools.islice(x, most + 1)]
        more = len(shown) > most
        return left + ", ".join(shown[:most]) + (", ..." if more else "") + right


_SHORT = _Short()


def short_repr(value: Any) -> str:
    """A bounded ``repr`` of plain data, safe on any value the sandbox can send."""
    try:
        return _SHORT.repr(value)
    except Exception:  # nothing of a result's description may fail its sample
        return f"<{type(value).__name__}>"


def exception_text(exc: BaseException, limit: int = 150) -> str:
    """``Type: message`` of an exception raised in the caller, bounded and never raising
    (its message may format a hostile value)."""
    try:
        message = str(exc)
    except Exception:
        message = "<message cannot be shown>"
    return f"{type(exc).__name__}: {message[:limit]}"


@dataclass
class TestResult:
    """One test's outcome: passed, wrong_answer, error, timeout, not_run, reference_error."""

    outcome: str
    info: str = ""
    elapsed: float = 0.0

    def as_dict(self, index: int) -> dict[str, Any]:
        d: dict[str, Any] = {"test": index, "outcome": self.outcome}
        if self.info:
            d["info"] = self.info[:200]
        return d


def compare_result(got: Any, expected: Any, mode: str, rel_tol: float, abs_tol: float,
                   elapsed: float) -> TestResult:
    """The verdict on one function call's result; a result that cannot even be compared
    is that test's error (never an exception out of the sample)."""
    try:
        if values_equal(got, expected, mode, rel_tol, abs_tol):
            return TestResult("passed", elapsed=elapsed)
    except (RecursionError, MemoryError, ValueError, TypeError, OverflowError) as exc:
        return TestResult("error", f"result cannot be compared: {exception_text(exc)}", elapsed)
    return TestResult("wrong_answer",
                      f"expected {short_repr(expected)}, got {short_repr(got)}"[:200], elapsed)
