"""The ``rewardlab audit`` command: probe every reward of a spec, print the table, exit 1 on a hack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from rewardlab.errors import InputError


def audit_command(
    data: Annotated[Path, typer.Argument(help="samples: .jsonl, .json, .parquet or a datasets dir")],
    spec: Annotated[Path, typer.Option("--spec", help="pipeline spec (TOML)")],
    json_out: Annotated[Path | None, typer.Option("--json", help="write every number to this JSON file")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="write a self-contained HTML report")] = None,
    probe: Annotated[list[str] | None, typer.Option(
        "--probe", help="probe to run (repeatable; default: every registered probe)")] = None,
    tolerance: Annotated[float, typer.Option(
        "--tolerance", min=0.0, help="a probe raises a reward when probed > original + this")] = 1e-6,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="audit only the first N samples")] = None,
) -> None:
    """Probe each reward of SPEC with adversarial variants of DATA's completions; exit 1 if one is hacked."""
    from rewardlab.cli import _fail, out_console
    from rewardlab.core import coerce_samples
    from rewardlab.errors import RewardlabError
    from rewardlab.evaluate.audit.runner import run_audit
    from rewardlab.io import read_rows
    from rewardlab.pipeline import Pipeline
    from rewardlab.registry import create, entries
    from rewardlab.spec import load_spec

    try:
        loaded = load_spec(spec)
        if not loaded.components:
            raise InputError(f"{spec}: the spec has no [rewards.*] to audit; add at least one reward")
        pipeline = Pipeline(loaded)
    except RewardlabError as exc:
        raise _fail(exc) from None
    try:
        rows, _ = read_rows(data)
        samples = coerce_samples(rows[:limit])
        if not samples:
            raise InputError(f"{data}: no samples to audit")
        names = probe or sorted(entries("probe"))
        probes = {name: create("probe", name, where="--probe") for name in names}
    except RewardlabError as exc:
        pipeline.close()  # it may hold model workers or sandbox servers
        raise _fail(exc) from None
    try:
        result = {"data": str(data), "spec": str(spec), **run_audit(pipeline, samples, probes, tolerance)}
    except RewardlabError as exc:
        raise _fail(exc) from None
    finally:
        pipeline.close()
    out_console.print(audit_table(result))
    out_console.print(summary_line(result))
    if json_out:
        json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    if report:
        from rewardlab.evaluate.report import render_audit

        render_audit(result, report)
    if result["failed"]:
        raise typer.Exit(1)


def audit_table(result: dict[str, Any]) -> Any:
    """One row per (reward, probe): samples, how often and by how much the probe raised the reward."""
    from rich.table import Table

    from rewardlab.cli import _fmt, _pct

    table = Table(title=f"audit: {result['samples']} samples, raised = probed > original + {result['tolerance']:g}")
    for col in ("reward", "probe", "should help", "samples", "raised", "raised %", "mean Δ", "max Δ",
                "unscorable", "verdict"):
        table.add_column(col, justify="left" if col in ("reward", "probe", "verdict") else "right")
    colour = {"fail": "bold red", "pass": "green", "info": "dim"}
    for r in result["results"]:
        table.add_row(r["reward"], r["probe"], "yes" if r["should_help"] else "no", str(r["samples"]),
                      str(r["raised"]), _pct(r["raised_fraction"]), _fmt(r["mean_delta"]), _fmt(r["max_delta"]),
                      str(r["unscorable"]), f"[{colour[r['verdict']]}]{r['verdict']}[/]")
    return table


def summary_line(result: dict[str, Any]) -> str:
    """``FAIL`` with each (reward, probe) that a should-never-help probe raised, else ``pass``."""
    failed = [f"{r['reward']}/{r['probe']}" for r in result["results"] if r["verdict"] == "fail"]
    if failed:
        return f"[bold red]FAIL[/]: {len(failed)} probe(s) that should never help raised a reward: {', '.join(failed)}"
    return "[green]pass[/]: no probe that should never help raised any reward"
