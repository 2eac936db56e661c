"""Compare two query results the way the Spider test-suite evaluator does, with tolerances.

Rules (docs/sql.md, "How results are compared"):

- rows are a multiset (duplicates count), compared in order only when the gold
  query orders its output;
- column order: ``any`` (default) accepts the candidate's columns in another order,
  as ``result_eq`` of test-suite-sql-eval (Zhong et al., 2020) does, trying the
  column permutations consistent with each column's values; ``ordered`` requires
  the same order (BIRD's evaluator);
- numbers compare by value across ``int``/``float``/``Decimal``/``bool`` (as Python
  does), floats within ``rel_tol``/``abs_tol``; NULLs are equal; NaN equals NaN;
  everything else compares with ``==``.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

Row = tuple[Any, ...]
ColumnOrder = Literal["any", "ordered"]
MAX_PERMUTATIONS = 1000  # full column assignments tried before giving up (test-suite tries all)
MAX_CELLS = 5_000_000  # and at most this many cells compared in all (assignments x rows x columns)


@dataclass(frozen=True, slots=True)
class Tolerance:
    rel_tol: float = 1e-6
    abs_tol: float = 1e-9

    def digits(self) -> int:
        """Significant digits kept in sort keys (rounding only orders rows; equality is isclose)."""
        return max(1, min(15, round(-math.log10(self.rel_tol)) if self.rel_tol > 0 else 15))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, Decimal))


def values_equal(a: Any, b: Any, tol: Tolerance) -> bool:
    """One cell against another: numbers by value within the tolerance, NULL == NULL."""
    if a is None or b is None:
        return a is None and b is None
    if _is_number(a) and _is_number(b):
        if a == b:
            return True
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        return math.isclose(fa, fb, rel_tol=tol.rel_tol, abs_tol=tol.abs_tol)
    if _is_number(a) or _is_number(b):
        return False
    return bool(a == b)


def bucket(v: Any, digits: int) -> tuple[int, Any]:
    """A hashable key equal for values that compare equal (numbers rounded to ``digits``)."""
    if v is None:
        return (0, 0)
    if isinstance(v, int) and abs(v) < 10 ** digits:  # exact already (bool too: True == 1)
        return (1, v)
    if _is_number(v):
        f = float(v)
        if math.isnan(f):
            return (2, 0)
        return (1, float(f"{f:.{digits}g}"))
    if isinstance(v, str):
        return (3, v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return (4, bytes(v))
    return (5, f"{type(v).__name__}:{v!s}")


def _rows_equal(a: Sequence[Row], b: Sequence[Row], tol: Tolerance) -> bool:
    return all(
        len(x) == len(y) and all(values_equal(p, q, tol) for p, q in zip(x, y, strict=True))
        for x, y in zip(a, b, strict=True)
    )


def _sorted_rows(rows: Sequence[Row], digits: int) -> list[Row]:
    """Rows in a canonical order: by every cell's bucket first, only then by exact values.

    Exact values break ties only between rows whose cells all fall in the same buckets,
    so noise within the tolerance cannot reorder rows that a later column tells apart.
    """
    def key(r: Row) -> tuple[list[tuple[int, Any]], list[Any]]:
        buckets = [bucket(v, digits) for v in r]
        return buckets, [float(v) if b[0] == 1 else b for v, b in zip(r, buckets, strict=True)]

    return sorted(rows, key=key)


def _column_options(gold_keys: list[list[Any]], cand_keys: list[list[Any]]) -> list[list[int]]:
    """For each gold column, the candidate columns holding the same multiset of (bucketed) values."""
    n = len(gold_keys[0])
    gold_cols = [Counter(r[i] for r in gold_keys) for i in range(n)]
    cand_cols = [Counter(r[j] for r in cand_keys) for j in range(n)]
    return [[j for j in range(n) if _same(cand_cols[j], g)] for g in gold_cols]


def _same(a: Counter[Any], b: Counter[Any]) -> bool:
    """Multiset equality at dict speed (``Counter.__eq__`` walks both in Python before 3.12)."""
    return dict.__eq__(a, b) is True


def _unordered(keys: list[list[Any]]) -> Counter[tuple[Any, ...]]:
    """The multiset of rows with each row's cells sorted: equal for any column order
    (test-suite-sql-eval's quick rejection)."""
    return Counter(tuple(sorted(r)) for r in keys)


def _permutations(
    gold_keys: list[list[Any]], cand_keys: list[list[Any]], options: list[list[int]], limit: int,
) -> Iterator[tuple[int, ...]]:
    """Up to ``limit`` column assignments under which the rows may match.

    Depth first over the allowed columns, pruning an assignment of the first k gold
    columns as soon as the multisets of row prefixes (keys rounded as for sorting)
    differ, and trying only one of several candidate columns that hold identical values
    row by row: interchangeable columns then cost one pass each instead of n! tries.
    """
    n = len(options)
    gold_prefix = [Counter(tuple(r[:k + 1]) for r in gold_keys) for k in range(n)]
    vectors = [tuple(r[j] for r in cand_keys) for j in range(n)]  # equal vectors: interchangeable columns
    chosen: list[int] = []

    def consistent() -> bool:
        k = len(chosen) - 1
        return _same(Counter(tuple(r[j] for j in chosen) for r in cand_keys), gold_prefix[k])

    def walk(i: int) -> Iterator[tuple[int, ...]]:
        if i == n:
            yield tuple(chosen)
            return
        seen: set[tuple[Any, ...]] = set()
        for j in options[i]:
            if j in chosen or vectors[j] in seen:
                continue
            seen.add(vectors[j])
            chosen.append(j)
            if consistent():
                yield from walk(i + 1)
            chosen.pop()

    yield from itertools.islice(walk(0), limit)


@dataclass(frozen=True, slots=True)
class Verdict:
    equal: bool
    reason: str = ""


def compare_results(
    gold: Sequence[Row], cand: Sequence[Row], *, ordered: bool, columns: ColumnOrder = "any",
    tol: Tolerance | None = None,
) -> Verdict:
    """Whether the candidate's rows equal the gold's (see the module docstring)."""
    tol = tol or Tolerance()
    if len(gold) != len(cand):
        return Verdict(False, f"{len(cand)} rows, the gold query returns {len(gold)}")
    if not gold:
        return Verdict(True)
    if len(gold[0]) != len(cand[0]):
        return Verdict(False, f"{len(cand[0])} columns, the gold query returns {len(gold[0])}")
    if (list(gold) == list(cand)) if ordered else _same(Counter(gold), Counter(cand)):
        return Verdict(True)  # Python's == is stricter than the rules here: a fast exact path
    digits = tol.digits()
    gold_rows = list(gold) if ordered else _sorted_rows(gold, digits)

    def matches(perm: tuple[int, ...]) -> bool:
        moved = [tuple(r[j] for j in perm) for r in cand]
        return _rows_equal(gold_rows, moved if ordered else _sorted_rows(moved, digits), tol)

    identity = tuple(range(len(gold[0])))
    if matches(identity):
        return Verdict(True)
    how = "rows differ" + (" (in order)" if ordered else "")
    if columns == "ordered":
        return Verdict(False, how)
    gold_keys = [[bucket(v, digits) for v in r] for r in gold]
    cand_keys = [[bucket(v, digits) for v in r] for r in cand]
    if not _same(_unordered(gold_keys), _unordered(cand_keys)):  # no column order can make the rows equal
        return Verdict(False, how)
    limit = max(1, min(MAX_PERMUTATIONS, MAX_CELLS // (len(gold) * len(gold[0]))))
    for perm in _permutations(gold_keys, cand_keys, _column_options(gold_keys, cand_keys), limit):
        if perm != identity and matches(perm):
            return Verdict(True, f"columns reordered {list(perm)}")
    return Verdict(False, how)
