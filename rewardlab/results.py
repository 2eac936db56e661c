"""The results table and the run summary (per-component statistics)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, computed_field

from rewardlab.batch import BatchContext, group_codes, zero_variance_fraction
from rewardlab.core import Status
from rewardlab.safetext import safe_text

SCORED = frozenset(s.value for s in Status if s.scored)  # the rule lives in Status.scored


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
    no_answer: int = 0  # scored failures: the model produced nothing usable
    tokens: dict[str, int] | None = None  # LLM usage (judges), counted once per computed score

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
        no_answer=sum(s == Status.NO_ANSWER.value for s in statuses),
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


def _col(rows: Sequence[dict[str, Any]], key: str, statuses: Sequence[str] | None = None) -> np.ndarray:
    """The column as floats, NaN where it is None or, given ``statuses``, where the row was not scored.

    A component's ``on_unscorable`` fallback fills its value for the pipeline, but the row
    was not scored: its statistics leave it out, as they leave out a ``None``.
    """
    values = np.array([np.nan if r.get(key) is None else r[key] for r in rows], dtype=np.float64)
    if statuses is not None:
        values[[s not in SCORED for s in statuses]] = np.nan
    return values


def scored_value(row: dict[str, Any], name: str) -> float | None:
    """A component's value in one row for logging: ``None`` where it was not scored (an
    ``on_unscorable`` fallback is not a score)."""
    value = row.get(name)
    if value is None or row.get(f"{name}_status", Status.OK.value) not in SCORED:
        return None
    return float(value)


def component_values(rows: Sequence[dict[str, Any]], name: str) -> list[float | None]:
    """A component's values for logging, row by row (:func:`scored_value`)."""
    return [scored_value(r, name) for r in rows]


def _tokens(rows: Sequence[dict[str, Any]], name: str) -> dict[str, int] | None:
    """Sum of ``detail[name]['usage']`` over the rows computed here (``elapsed > 0``), like ``time_s``:
    a duplicate or engine-cached row repeats its score but was not paid for again."""
    total: Counter[str] = Counter()
    found = False
    for r in rows:
        usage = ((r.get("detail") or {}).get(name) or {}).get("usage")
        if isinstance(usage, dict):
            found = True
            if float((r.get("elapsed") or {}).get(name, 0.0)) > 0:
                total.update({k: int(v) for k, v in usage.items()})
    return {k: total.get(k, 0) for k in ("prompt_tokens", "completion_tokens", "requests", "cache_hits")} \
        if found else None


def summarize(rows: Sequence[dict[str, Any]], components: Sequence[str]) -> list[ColumnStats]:
    """Per component, then the combined ``reward``: mean, std, min, max, unscorable
    counts by status (fallback values of ``on_unscorable`` count as unscorable, not as
    scores), ``no_answer`` count, fraction of groups whose values are all equal, time spent."""
    codes, n_groups = group_codes([r.get("group") for r in rows])
    ctx = BatchContext((), codes, n_groups)
    stats = []
    for name in components:
        times = sum(float((r.get("elapsed") or {}).get(name, 0.0)) for r in rows)
        statuses = [r.get(f"{name}_status", "ok") for r in rows]
        stats.append(_column_stats(name, _col(rows, name, statuses), statuses, ctx, times))
        stats[-1].tokens = _tokens(rows, name)
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
        summary: list[ColumnStats] | None,
        components: Sequence[str],
        signal: dict[str, Any] | None = None,
    ) -> None:
        self.rows = [safe_text(r) for r in rows]  # every writer (files, store, server) gets valid text
        self._summary = summary  # None: summarized from the rows when first asked for (the runner never asks)
        self.components = list(components)
        # this batch's zero-variance groups (kept / filtered) and mean |advantage| per task
        self.signal = signal or {}

    @property
    def summary(self) -> list[ColumnStats]:
        """Per-component statistics of the rows (:func:`summarize`)."""
        if self._summary is None:
            self._summary = summarize(self.rows, self.components)
        return self._summary

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


def signal_summary(signals: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The per-batch learning signal of a run (:func:`rewardlab.advantages.batch_signal`),
    averaged over the batches that have it: the share of zero-variance groups (all, kept,
    left out by a filter) and the mean |advantage| per task (DUMP's learnability signal)."""
    zv = [b["zero_variance_groups"] for b in signals
          if (b.get("zero_variance_groups") or {}).get("all") is not None]
    out: dict[str, Any] = {"batches": len(signals), "zero_variance_groups": None, "mean_abs_advantage": {}}
    if zv:
        out["zero_variance_groups"] = {k: float(np.mean([z[k] for z in zv])) for k in ("all", "kept", "filtered")}
    per_task: dict[str, list[float]] = {}
    for b in signals:
        for task, value in (b.get("mean_abs_advantage") or {}).items():
            if value is not None:
                per_task.setdefault(task, []).append(float(value))
    out["mean_abs_advantage"] = {t: float(np.mean(v)) for t, v in sorted(per_task.items())}
    return out

