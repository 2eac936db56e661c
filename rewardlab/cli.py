"""The ``rewardlab`` command line: score, check, serve, list."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from rewardlab.errors import RewardlabError
from rewardlab.results import ColumnStats

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="rewardlab: compute, shape, combine and serve rewards for RL.")
console = Console(stderr=True)
out_console = Console(width=None if sys.stdout.isatty() else 140)


def _fail(exc: Exception, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def summary_table(summary: list[ColumnStats], title: str = "summary") -> Table:
    table = Table(title=title)
    tokens = any(s.tokens for s in summary)  # LLM judges: tokens in/out, requests sent, cache hits
    for col in ("column", "mean", "std", "min", "max", "unscorable", "why", "zero-var groups", "time s",
                *(["tokens in/out", "requests (cached)"] if tokens else [])):
        table.add_column(col, justify="left" if col in ("column", "why") else "right")
    for s in summary:
        why = ", ".join(f"{k}: {v}" for k, v in s.unscorable.items()) or "-"
        t = s.tokens or {}
        usage = [f"{t['prompt_tokens']}/{t['completion_tokens']}", f"{t['requests']} ({t['cache_hits']})"] if t else (
            ["-", "-"] if tokens else [])
        table.add_row(s.name, _fmt(s.mean), _fmt(s.std), _fmt(s.min), _fmt(s.max),
                      f"{s.fraction_unscorable:.1%}", why, _fmt(s.zero_variance_groups),
                      f"{s.time_s:.2f}", *usage)
    return table


@app.command()
def score(
    input: Annotated[Path, typer.Argument(help="samples: .jsonl, .json, .parquet or a datasets dir")],
    spec: Annotated[Path, typer.Option("--spec", help="pipeline spec (TOML)")],
    out: Annotated[Path | None, typer.Option("--out", help="output .jsonl or .parquet")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue a killed run")] = False,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1)] = None,
    summary_json: Annotated[Path | None, typer.Option("--summary-json")] = None,
    backend: Annotated[str, typer.Option("--backend", help="local, or ray: batches across Ray actors")] = "local",
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster address (default: start one)")
                       ] = None,
) -> None:
    """Score INPUT with SPEC; crash-safe (resume a killed run with --resume)."""
    from rewardlab.pipeline import Pipeline
    from rewardlab.runner import score_file

    if backend not in ("local", "ray"):
        raise _fail(ValueError(f"--backend: got {backend!r} (allowed: local, ray)"))
    if address and backend != "ray":
        raise _fail(ValueError("--address is for --backend ray"))
    if backend == "ray":
        from rewardlab.distributed.ray_backend import RayScorer

    out = out or input.with_name(input.stem + ".scored.jsonl")
    try:
        pipeline = Pipeline.from_spec(spec)
    except RewardlabError as exc:
        raise _fail(exc) from None
    columns = [TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn()]
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("score", total=None, rate="")

            def on_progress(done: int, total: int) -> None:
                elapsed = progress.tasks[0].elapsed or 0.0
                rate = f"{done / elapsed:,.0f} rows/s" if elapsed > 0 and done else ""
                progress.update(task, completed=done, total=total, rate=rate)

            if backend == "ray":
                with RayScorer(spec, address=address) as scorer:
                    report = score_file(input, pipeline, out, resume, batch_size, on_progress, scorer=scorer)
            else:
                report = score_file(input, pipeline, out, resume, batch_size, on_progress)
    except RewardlabError as exc:
        raise _fail(exc) from None
    finally:
        pipeline.close()
    out_console.print(summary_table(report.summary, f"{report.rows} rows -> {report.out}"))
    if report.resumed:
        out_console.print(f"resumed: {report.resumed} rows from the store, {report.scored_now} scored now")
    if summary_json:
        summary_json.write_text(json.dumps([s.to_dict() for s in report.summary], indent=2))


@app.command()
def check(
    input: Annotated[Path, typer.Argument(help="samples to validate")],
    spec: Annotated[Path, typer.Option("--spec", help="pipeline spec (TOML)")],
) -> None:
    """Validate rows and references before training; exit 1 if any problem."""
    from rewardlab.io import read_rows
    from rewardlab.pipeline import Pipeline

    try:
        pipeline = Pipeline.from_spec(spec)
        rows, problems = read_rows(input, collect_errors=True)
        problems += pipeline.check(rows)
    except RewardlabError as exc:
        raise _fail(exc) from None
    if not problems:
        out_console.print(f"[green]ok[/]: {len(rows)} rows, no problems")
        return
    table = Table(title=f"{len(problems)} problem(s) in {len(rows)} rows")
    for col in ("row", "component", "problem"):
        table.add_column(col)
    for p in problems:
        table.add_row(p["id"], p["component"], p["problem"])
    out_console.print(table)
    raise typer.Exit(1)


@app.command()
def serve(
    spec: Annotated[Path, typer.Option("--spec", help="pipeline spec (TOML)")],
    host: Annotated[str, typer.Option("--host", help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="engine worker processes")] = None,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, help="samples per engine pass")] = 512,
    max_wait_ms: Annotated[float, typer.Option("--max-wait-ms", min=0, help="micro-batch wait")] = 5.0,
    max_queue: Annotated[int, typer.Option("--max-queue", min=1, help="queued samples before 429")] = 8192,
    timeout: Annotated[float, typer.Option("--timeout", min=0.001, help="per-request deadline, s")] = 120.0,
    unscorable_reward: Annotated[float | None, typer.Option(
        "--unscorable-reward", help="/get_reward value for unscorable rows (default: answer 422)")] = None,
    graceful_timeout: Annotated[float, typer.Option("--graceful-timeout", min=0)] = 30.0,
    isolate: Annotated[bool, typer.Option("--isolate/--no-isolate",
                                          help="score in a child process (default) or in a thread")] = True,
) -> None:
    """Serve SPEC over HTTP: /score, /get_reward (OpenRLHF), /health, /metrics, /docs."""
    from rewardlab.serve.run import serve_forever

    try:
        serve_forever(spec, host=host, port=port, workers=workers, max_batch=max_batch, max_wait_ms=max_wait_ms,
                      max_queue=max_queue, request_timeout=timeout, unscorable_reward=unscorable_reward,
                      graceful_timeout=graceful_timeout, scoring_process=isolate)
    except RewardlabError as exc:
        raise _fail(exc) from None


@app.command("list")
def list_() -> None:
    """Every registered reward, transform, combiner and advantage estimator."""
    from rewardlab.registry import KINDS, entries

    table = Table(title="rewardlab registry")
    for col in ("kind", "name", "description"):
        table.add_column(col)
    for kind in KINDS:
        for name, entry in sorted(entries(kind).items()):
            table.add_row(kind, name, escape(entry.description))
    out_console.print(table)


def main() -> None:  # pragma: no cover
    sys.exit(app())
