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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

Row = tuple[Any, ...]
ColumnOrder = Literal["any", "ordered"]
MAX_PERMUTATIONS = 1000  # column permutations tried before giving up (test-suite tries all)


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


def sort_key(v: Any, digits: int) -> tuple[int, Any]:
    """A total order over mixed cell types; floats rounded so near-equal values sort together."""
    if v is None:
        return (0, 0)
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
    return sorted(rows, key=lambda r: [sort_key(v, digits) for v in r])


def _column_options(gold: Sequence[Row], cand: Sequence[Row], tol: Tolerance) -> list[list[int]]:
    """For each gold column, the candidate columns holding the same multiset of values."""
    digits = tol.digits()
    n = len(gold[0])

    def column(rows: Sequence[Row], i: int) -> list[Any]:
        return sorted((r[i] for r in rows), key=lambda v: sort_key(v, digits))

    gold_cols = [column(gold, i) for i in range(n)]
    cand_cols = [column(cand, j) for j in range(n)]
    return [
        [j for j in range(n) if all(values_equal(p, q, tol) for p, q in zip(g, cand_cols[j], strict=True))]
        for g in gold_cols
    ]


def _permutations(options: list[list[int]]) -> Iterator[tuple[int, ...]]:
    """Distinct column assignments, the identity first when it is allowed."""
    n = len(options)
    identity = tuple(range(n))
    if all(i in opts for i, opts in enumerate(options)):
        yield identity
    tried = 0
    for perm in itertools.product(*options):
        if perm == identity or len(set(perm)) != n:
            continue
        tried += 1
        if tried > MAX_PERMUTATIONS:
            return
        yield perm


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
    digits = tol.digits()
    gold_rows = list(gold) if ordered else _sorted_rows(gold, digits)
    perms = _permutations(_column_options(gold, cand, tol)) if columns == "any" else iter(
        [tuple(range(len(gold[0])))])
    for perm in perms:
        moved = [tuple(r[j] for j in perm) for r in cand]
        cand_rows = moved if ordered else _sorted_rows(moved, digits)
        if _rows_equal(gold_rows, cand_rows, tol):
            return Verdict(True, "" if perm == tuple(range(len(perm))) else f"columns reordered {list(perm)}")
    return Verdict(False, "rows differ" + (" (in order)" if ordered else ""))
