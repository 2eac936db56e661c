"""Input checks and JSON helpers shared by the diagnostics.

Every diagnostic takes plain arrays: a reward score per candidate (``NaN`` =
unscorable) and, where it needs them, gold labels (never ``NaN``: a missing gold
label is a data error, not an unscorable candidate).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rewardlab.errors import InputError

POINTS_CAP = 2000  # points kept for a plot in to_json
EXTRA = "eval"  # the pyproject extra that brings scipy (Kendall's tau, the sigmoid of logits)


def scores_1d(values: Any, what: str, n: int | None = None) -> np.ndarray:
    """``values`` as a 1-D float array (``NaN`` kept: an unscorable candidate), of length ``n`` if given."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise InputError(f"{what}: expected a 1-D array, got shape {arr.shape}; pass one value per candidate")
    if n is not None and arr.shape[0] != n:
        raise InputError(f"{what}: {arr.shape[0]} values where {n} were expected; pass one per candidate")
    return arr


def labels_01(values: Any, what: str, shape: tuple[int, ...]) -> np.ndarray:
    """Gold labels as floats in {0, 1} with ``shape``; ``NaN`` or other values are a clear error."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != shape:
        raise InputError(f"{what}: shape {arr.shape} where {shape} was expected; pass one gold label per score")
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        raise InputError(f"{what}: gold labels must be 0/1 or booleans; got {arr[bad][0]!r} "
                         f"({int(bad.sum())} such); drop the unlabelled rows or fix their labels")
    return arr


def finite(x: Any) -> float | None:
    """A Python float for JSON, ``None`` where undefined (NaN or infinite)."""
    value = float(x)
    return value if math.isfinite(value) else None


def point_sample(x: np.ndarray, y: np.ndarray, cap: int = POINTS_CAP) -> tuple[tuple[float, float], ...]:
    """At most ``cap`` ``[x, y]`` points for a plot, a fixed evenly spaced subset in input order
    (deterministic, so a report is reproducible)."""
    idx = np.arange(len(x)) if len(x) <= cap else np.unique(np.linspace(0, len(x) - 1, cap).round().astype(int))
    return tuple((float(x[i]), float(y[i])) for i in idx)


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` (no NaN), tied values sharing their average rank: scipy's
    ``rankdata(x, method="average")``, value for value (the ranks are exact halves). Written with
    numpy because importing scipy.stats costs 1-2 s, most of a cheap reward's whole ``eval``, and
    the default diagnostics need nothing else from it."""
    order = np.argsort(x, kind="mergesort")
    first = np.concatenate(([True], x[order][1:] != x[order][:-1]))  # sorted position starts a tie group
    group = np.cumsum(first)[np.argsort(order, kind="mergesort")]  # each value's tie group, 1-based
    bounds = np.concatenate((np.flatnonzero(first), [len(x)]))  # group g spans sorted [bounds[g-1], bounds[g])
    return 0.5 * (bounds[group] + bounds[group - 1] + 1)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho (Spearman 1904): Pearson's r of the average ranks, computed as scipy's
    ``spearmanr(x, y).statistic`` is (``np.corrcoef`` of the rank columns), so the value is the
    same; the caller rules out fewer than two points and constant inputs, and NaN."""
    ranks = np.column_stack((average_ranks(x), average_ranks(y)))
    return float(np.corrcoef(ranks, rowvar=False)[1, 0])
