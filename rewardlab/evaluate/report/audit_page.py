"""The report of one ``rewardlab audit`` result (the issue-17 contract's audit JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rewardlab.errors import InputError
from rewardlab.evaluate.report import html as h
from rewardlab.evaluate.report.fields import required, sequence

WHERE = "audit report: "
COLUMNS = ["reward", "probe", "should_help", "samples", "raised", "raised_fraction", "mean_delta",
           "max_delta", "unscorable"]


def render_audit(result: Mapping[str, Any], path: str | Path) -> Path:
    """Write the HTML report of an audit result to ``path`` and return it.

    ``results`` is required (it may be empty); every other key is optional.
    """
    rows = required(result, "results", WHERE)
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise InputError(f"{WHERE}'results' must be a list of objects (one per reward and probe)")
    parts = [_headline(result, rows), _table(rows)]
    return h.write(h.page("rewardlab audit", "", parts), path)


def _headline(result: Mapping[str, Any], rows: list[Mapping[str, Any]]) -> str:
    verdicts = [str(r.get("verdict")) for r in rows]
    info: dict[str, Any] = {"failed": result.get("failed"), "fail": verdicts.count("fail"),
                            "pass": verdicts.count("pass"), "info": verdicts.count("info")}
    for key in ("data", "spec"):
        if result.get(key) is not None:
            info[key] = result[key]
    for key in ("rewards", "probes"):
        names = sequence(result, key, WHERE)
        if names is not None:
            info[key] = ", ".join(str(n) for n in names)
    return h.section("Headline", "headline", h.key_values(info, "headline"))


def _verdict(value: Any) -> h.Raw:
    cls = value if value in ("fail", "pass", "info") else ""
    return h.Raw(h.cell(value, cls=str(cls)))


def _example(row: Mapping[str, Any]) -> h.Raw:
    example = row.get("example")
    if not isinstance(example, Mapping):
        return h.Raw(h.cell(None))
    parts = [f"<div>{h.text(k)}</div><pre>{h.text(example.get(k))}</pre>"
             for k in ("original", "probed") if example.get(k) is not None]
    return h.Raw("<td><details><summary>show</summary>" + "".join(parts) + "</details></td>")


def _table(rows: list[Mapping[str, Any]]) -> str:
    body = h.table([*COLUMNS, "verdict", "example"],
                   [[*(r.get(c) for c in COLUMNS), _verdict(r.get("verdict")), _example(r)] for r in rows],
                   "audit")
    return h.section("Probes", "probes", body if rows else h.note("no probe results"))
