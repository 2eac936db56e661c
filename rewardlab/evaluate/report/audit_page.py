"""The report of one ``rewardlab audit`` result (the issue-17 contract's audit JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rewardlab.errors import InputError, require_extra
from rewardlab.evaluate.report import html as h
from rewardlab.evaluate.report import plots
from rewardlab.evaluate.report.fields import required, sequence

WHERE = "audit report: "
COLUMNS = ["reward", "probe", "should_help", "samples", "raised", "raised_fraction", "mean_delta",
           "max_delta", "unscorable"]
SHOWN = frozenset({"data", "spec", "rewards", "probes", "results", "failed"})
MAP_CAPTION = ("Fraction of samples whose reward the probe raised; a red frame marks a failing verdict "
               "(a probe that should never help raised the reward).")


def render_audit(result: Mapping[str, Any], path: str | Path) -> Path:
    """Write the HTML report of an audit result to ``path`` and return it.

    ``results`` is required (it may be empty); every other key is optional.
    """
    require_extra("eval", "the HTML report", "matplotlib")
    rows = required(result, "results", WHERE)
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise InputError(f"{WHERE}'results' must be a list of objects (one per reward and probe)")
    parts = [_headline(result, rows), _map(rows), _table(rows)]
    return h.write(h.page("rewardlab audit", parts), path)


def _headline(result: Mapping[str, Any], rows: list[Mapping[str, Any]]) -> str:
    verdicts = [str(r.get("verdict")) for r in rows]
    failed = result.get("failed")
    info: dict[str, Any] = {"failed": failed, "fail": verdicts.count("fail"),
                            "pass": verdicts.count("pass"), "info": verdicts.count("info")}
    for key in ("data", "spec"):
        if result.get(key) is not None:
            info[key] = result[key]
    for key in ("rewards", "probes"):
        names = sequence(result, key, WHERE)
        if names is not None:
            info[key] = ", ".join(str(n) for n in names)
    info.update({k: v for k, v in result.items() if k not in SHOWN and v is not None})
    summary = h.verdict(None if not isinstance(failed, bool) else not failed,
                        "Passed: no probe that should never help raised a reward.",
                        "Failed: a probe that should never help raised a reward.")
    return h.section("Headline", "headline", summary, h.fields(info))


def _map(rows: list[Mapping[str, Any]]) -> str:
    """Rewards × probes heatmap of the raised fraction."""
    rewards = list(dict.fromkeys(str(r.get("reward")) for r in rows))
    probes = list(dict.fromkeys(str(r.get("probe")) for r in rows))
    if not rows:
        return ""
    grid: list[list[Any]] = [[None] * len(probes) for _ in rewards]
    flagged = set()
    for r in rows:
        i, j = rewards.index(str(r.get("reward"))), probes.index(str(r.get("probe")))
        grid[i][j] = r.get("raised_fraction")
        if r.get("verdict") == "fail":
            flagged.add((i, j))
    svg = plots.heatmap("audit-map", grid, rewards, probes, "Raised fraction by reward and probe",
                        flagged=frozenset(flagged))
    return h.section("Which probes raise which rewards", "audit-map", h.figure(svg, MAP_CAPTION))


def _verdict(value: Any) -> h.Raw:
    cls = value if value in ("fail", "pass", "info") else ""
    return h.Raw(h.cell(value, cls=str(cls)))


def _example(row: Mapping[str, Any], width: int) -> str:
    """The row's example (original and probed completion) in a collapsed full-width row."""
    example = row.get("example")
    if not isinstance(example, Mapping):
        return ""
    parts = [f"<div><div>{h.text(k)}{_score(example.get(k + '_score'))}</div><pre>{h.text(example.get(k))}</pre></div>"
             for k in ("original", "probed") if example.get(k) is not None]
    name = f" {example['id']}" if example.get("id") is not None else ""
    return (f'<tr class="example"><td colspan="{width}"><details><summary>example{h.text(name)}</summary>'
            f'<div class="pair">{"".join(parts)}</div></details></td></tr>')


def _score(value: Any) -> str:
    return "" if value is None else f" (reward {h.text(h.fmt(value))})"


def _table(rows: list[Mapping[str, Any]]) -> str:
    header = [*COLUMNS, "verdict"]
    body = h.table(header, [[*(r.get(c) for c in COLUMNS), _verdict(r.get("verdict"))] for r in rows], "audit",
                   after=[_example(r, len(header)) for r in rows])
    return h.section("Probes", "probes", body if rows else h.note("no probe results"))
