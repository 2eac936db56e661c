"""The report of one ``rewardlab eval`` result (the issue-17 contract's eval JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rewardlab.evaluate.report import html as h
from rewardlab.evaluate.report.fields import mapping, required, scalars

WHERE = "eval report: "


def render_eval(result: Mapping[str, Any], path: str | Path) -> Path:
    """Write the HTML report of an eval result to ``path`` and return it.

    ``benchmark`` and ``overall`` (which may be null) are required; every other key is
    optional and its part of the report is left out when it is missing or null.
    """
    benchmark = required(result, "benchmark", WHERE)
    overall = required(result, "overall", WHERE)
    parts = [
        _headline(result, benchmark, overall),
        _scores(result, "sections", "Sections", None),
        _scores(result, "subsets", "Subsets", mapping(result, "counts", WHERE)),
        _extra(result),
        _checks(result),
        _timing(result),
    ]
    title = f"rewardlab eval: {benchmark}"
    return h.write(h.page(title, "", parts), path)


def _headline(result: Mapping[str, Any], benchmark: Any, overall: Any) -> str:
    rows = {"benchmark": benchmark, "overall": overall}
    for key in ("data", "spec"):
        if result.get(key) is not None:
            rows[key] = result[key]
    return h.section("Headline", "headline", h.key_values(rows, "headline"),
                     h.note(result.get("overall_definition")))


def _scores(result: Mapping[str, Any], key: str, title: str, counts: Mapping[str, Any] | None) -> str:
    scores = mapping(result, key, WHERE)
    if not scores:
        return ""
    if counts is None:
        body = h.table([key[:-1], "score"], [[k, v] for k, v in scores.items()])
    else:
        body = h.table([key[:-1], "score", "examples"], [[k, v, counts.get(k)] for k, v in scores.items()])
    return h.section(title, key, body)


def _extra(result: Mapping[str, Any]) -> str:
    extra = mapping(result, "extra", WHERE)
    if not extra:
        return ""
    flat = scalars(extra)
    return h.section("Benchmark details", "extra", h.key_values(flat) if flat else "")


def _checks(result: Mapping[str, Any]) -> str:
    swap = mapping(result, "swap_check", WHERE)
    unscorable = mapping(result, "unscorable", WHERE)
    parts = []
    if swap:
        parts += ["<h3>Swap check</h3>", h.key_values(scalars(swap))]
    if unscorable:
        parts += ["<h3>Unscorable</h3>", h.key_values(scalars(unscorable))]
    return h.section("Checks", "checks", *parts)


def _timing(result: Mapping[str, Any]) -> str:
    timing = mapping(result, "timing", WHERE)
    return h.section("Timing (seconds)", "timing", h.key_values(scalars(timing)) if timing else "")
