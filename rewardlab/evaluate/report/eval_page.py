"""The report of one ``rewardlab eval`` result (the issue-17 contract's eval JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rewardlab.errors import require_extra
from rewardlab.evaluate.report import html as h
from rewardlab.evaluate.report import plots
from rewardlab.evaluate.report.diagnostics_page import best_of_n, diagnostics
from rewardlab.evaluate.report.fields import mapping, number, required

WHERE = "eval report: "
KNOWN = frozenset({"benchmark", "data", "spec", "overall", "overall_definition", "sections", "subsets", "counts",
                   "extra", "swap_check", "unscorable", "diagnostics", "timing"})
# RM-Bench's response styles in the order of its 3x3 matrix (rows: chosen, columns: rejected)
RM_BENCH_STYLES = ("concise", "detailed plain", "detailed markdown")


def render_eval(result: Mapping[str, Any], path: str | Path) -> Path:
    """Write the HTML report of an eval result to ``path`` and return it.

    ``benchmark`` and ``overall`` (which may be null) are required; every other key is
    optional and its part of the report is left out when it is missing or null.
    """
    require_extra("eval", "the HTML report", "matplotlib")
    benchmark = required(result, "benchmark", WHERE)
    overall = required(result, "overall", WHERE)
    parts = [
        _headline(result, benchmark, overall),
        _scores(result, "sections", "Sections", None),
        _scores(result, "subsets", "Subsets", mapping(result, "counts", WHERE)),
        _extra(result),
        _checks(result),
        diagnostics(result),
        _timing(result),
        _other(result),
    ]
    return h.write(h.page(f"rewardlab eval: {benchmark}", parts), path)


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
    fig = h.figure(plots.bars(key, scores, title, counts))
    if counts is None:
        body = h.table([key[:-1], "score"], [[k, v] for k, v in scores.items()])
    else:
        body = h.table([key[:-1], "score", "examples"], [[k, v, counts.get(k)] for k, v in scores.items()])
    return h.section(title, key, fig, body)


def _matrix(benchmark: Any, matrix: Any) -> str:
    """RM-Bench's style-substance matrix (or any square matrix a benchmark reports) as a heatmap."""
    if not isinstance(matrix, list) or not all(isinstance(r, list) for r in matrix) or not matrix:
        return h.raw_json("matrix", matrix)
    size = len(matrix)
    named = benchmark == "rm-bench" and size == len(RM_BENCH_STYLES)
    rows = [f"chosen: {s}" for s in RM_BENCH_STYLES] if named else [f"row {i}" for i in range(size)]
    cols = [f"rejected: {s}" for s in RM_BENCH_STYLES] if named else [f"column {j}" for j in range(len(matrix[0]))]
    return h.figure(plots.heatmap("matrix", matrix, rows, cols, "Accuracy by response style"),
                    "Cell (i, j): accuracy of chosen in style i against rejected in style j."
                    if named else "")


def _extra(result: Mapping[str, Any]) -> str:
    extra = mapping(result, "extra", WHERE)
    if not extra:
        return ""
    parts = [h.fields(extra, ["matrix", "curve"])]
    if extra.get("matrix") is not None:
        parts.append(_matrix(result.get("benchmark"), extra["matrix"]))
    curve = extra.get("curve")
    if curve is not None:
        parts.append((best_of_n(curve, "extra-best-of-n") if isinstance(curve, Mapping) else "")
                     or h.raw_json("curve", curve))
    return h.section("Benchmark details", "extra", *parts)


def _checks(result: Mapping[str, Any]) -> str:
    swap = mapping(result, "swap_check", WHERE)
    unscorable = mapping(result, "unscorable", WHERE)
    parts = []
    if swap:
        parts += ['<h3 id="swap-check">Swap check</h3>',
                  h.verdict(swap.get("passed"), "Passed: exchanging chosen and rejected gives the complementary "
                            "accuracy.", "Failed: exchanging chosen and rejected does not give the complementary "
                            "accuracy; the pipeline may ignore which side is which."),
                  h.fields(swap)]
    if unscorable:
        parts += ['<h3 id="unscorable">Unscorable</h3>', h.fields(unscorable)]
    return h.section("Checks", "checks", *parts)


def _timing(result: Mapping[str, Any]) -> str:
    timing = mapping(result, "timing", WHERE)
    if not timing:
        return ""
    rows = dict(timing)
    other, total = number(timing.get("other_s")), number(timing.get("total_s"))
    if other is not None and total:
        rows["outside the reward"] = f"{100 * other / total:.1f}%"
    return h.section("Timing (seconds)", "timing", h.fields(rows))


def _other(result: Mapping[str, Any]) -> str:
    """Keys outside the contract (a benchmark's own additions), shown as they are rather than dropped."""
    other = {k: v for k, v in result.items() if k not in KNOWN and v is not None}
    return h.section("Other results", "other", h.fields(other))
