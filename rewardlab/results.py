"""The results table and the run summary (per-component statistics)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, computed_field

from rewardlab.batch import BatchContext, group_codes, zero_variance_fraction


class ColumnStats(BaseModel):
    """Statistics of one column over the scorable rows (also the server's response schema)."""

    name: str
    n: int
    scored: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    unscorable: dict[str, int]
    zero_variance_groups: float | None
    time_s: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fraction_unscorable(self) -> float:
        return (self.n - self.scored) / self.n if self.n else 0.0

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


def _column_stats(
    name: str, values: np.ndarray, statuses: Sequence[str], ctx: BatchContext, time_s: float
) -> ColumnStats:
    ok = values[~np.isnan(values)]
    unscorable = Counter(s for s, v in zip(statuses, values, strict=True) if np.isnan(v))
    return ColumnStats(
        name=name,
        n=len(values),
        scored=int(ok.size),
        mean=float(ok.mean()) if ok.size else None,
        std=float(ok.std()) if ok.size else None,
        min=float(ok.min()) if ok.size else None,
        max=float(ok.max()) if ok.size else None,
        unscorable=dict(sorted(unscorable.items())),
        zero_variance_groups=zero_variance_fraction(values, ctx),
        time_s=time_s,
    )


def _col(rows: Sequence[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else r[key] for r in rows], dtype=np.float64)


def summarize(rows: Sequence[dict[str, Any]], components: Sequence[str]) -> list[ColumnStats]:
    """Per component, then the combined ``reward``: mean, std, min, max, unscorable
    counts by status, fraction of groups whose values are all equal, time spent."""
    codes, n_groups = group_codes([r.get("group") for r in rows])
    ctx = BatchContext((), codes, n_groups)
    stats = []
    for name in components:
        times = sum(float((r.get("elapsed") or {}).get(name, 0.0)) for r in rows)
        statuses = [r.get(f"{name}_status", "ok") for r in rows]
        stats.append(_column_stats(name, _col(rows, name), statuses, ctx, times))
    statuses = [r.get("status", "ok") for r in rows]
    stats.append(_column_stats("reward", _col(rows, "reward"), statuses, ctx, 0.0))
    if rows and "keep" in rows[0]:  # filters ran: mean = fraction of rows kept for the update
        stats.append(_column_stats("keep", _col(rows, "keep"), ["ok"] * len(rows), ctx, 0.0))
    if rows and "advantage" in rows[0]:
        adv = _col(rows, "advantage")
        statuses = ["no_advantage" if np.isnan(a) else "ok" for a in adv]
        stats.append(_column_stats("advantage", adv, statuses, ctx, 0.0))
    return stats


class Results:
    """One row per sample (see :mod:`rewardlab.pipeline`) plus the summary."""

    def __init__(
        self,
        rows: list[dict[str, Any]],
        summary: list[ColumnStats],
        components: Sequence[str],
        signal: dict[str, Any] | None = None,
    ) -> None:
        self.rows = rows
        self.summary = summary
        self.components = list(components)
        # this batch's zero-variance groups (kept / filtered) and mean |advantage| per task
        self.signal = signal or {}

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]

    def column(self, name: str) -> list[Any]:
        """All values of one column, in row order."""
        return [r.get(name) for r in self.rows]

    @property
    def rewards(self) -> list[float | None]:
        return self.column("reward")

    def stats(self, name: str) -> ColumnStats:
        for s in self.summary:
            if s.name == name:
                return s
        raise KeyError(f"no summary for {name!r} (have: {[s.name for s in self.summary]})")

    def to_arrow(self) -> Any:
        from rewardlab.io import rows_to_table

        return rows_to_table(self.rows)
