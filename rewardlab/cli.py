"""The ``rewardlab`` command line: score, check, serve, list, eval, audit, envs."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

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

from rewardlab.envs_cli import app as envs_app  # gymnasium is imported only when a command runs
from rewardlab.errors import RewardlabError
from rewardlab.evaluate.audit.command import audit_command
from rewardlab.evaluate.run_eval import eval_command
from rewardlab.io import check_output
from rewardlab.results import ColumnStats, signal_summary
from rewardlab.safetext import safe_text

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="rewardlab: compute, shape, combine and serve rewards for RL.")
console = Console(stderr=True)
out_console = Console(width=None if sys.stdout.isatty() else 140)


def _fail(exc: Exception, code: int = 2) -> typer.Exit:
    console.print(f"[bold red]error:[/] {escape(safe_text(str(exc)))}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        from rewardlab import __version__

        out_console.print(f"rewardlab {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_version,
                                          help="print rewardlab's version and exit")] = False,
) -> None:
    """rewardlab: compute, shape, combine and serve rewards for RL."""


def _fmt(value: float | None) -> str:
    """Three decimals; a value that rounds to zero prints as 0.000, never -0.000 or 1e-17."""
    if value is None:
        return "-"
    return f"{0.0 if abs(value) < 5e-4 else value:.3f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


SUMMARY_COLUMNS = ("column", "mean", "std", "min", "max", "no answer", "unscorable", "why",
                   "zero-var groups", "sample time s")


def summary_table(summary: list[ColumnStats], title: str = "summary") -> Table:
    """Per column: statistics over scored rows, shares of rows as percents, summed per-sample time.

    ``sample time s`` adds up each sample's own scoring time (seconds of work, across
    parallel workers); the wall time of a run is printed below the table.
    """
    table = Table(title=title)
    tokens = any(s.tokens for s in summary)  # LLM judges: tokens in/out, requests sent, cache hits
    for col in (*SUMMARY_COLUMNS, *(["tokens in/out", "requests (cached)"] if tokens else [])):
        table.add_column(col, justify="left" if col in ("column", "why") else "right")
    for s in summary:
        why = ", ".join(f"{k}: {v}" for k, v in s.unscorable.items()) or "-"
        no_answer = s.no_answer / s.n if s.n and s.name not in ("reward", "advantage") else None
        t = s.tokens or {}
        usage = [f"{t['prompt_tokens']}/{t['completion_tokens']}", f"{t['requests']} ({t['cache_hits']})"] if t else (
            ["-", "-"] if tokens else [])
        table.add_row(s.name, _fmt(s.mean), _fmt(s.std), _fmt(s.min), _fmt(s.max), _pct(no_answer),
                      _pct(s.fraction_unscorable), why, _pct(s.zero_variance_groups),
                      f"{s.time_s:.2f}" if s.name not in ("reward", "advantage") else "-", *usage)
    return table


class _Bar:
    """The progress bar, started at the first update (an error before it shows no empty bar).

    Its rate counts only the rows scored in this run, not those a ``--resume`` found done.
    """

    COLUMNS = (TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())

    def __init__(self, get_time: Callable[[], float] | None = None) -> None:
        self.progress: Progress | None = None
        self.first = 0
        self.get_time = get_time

    def update(self, done: int, total: int) -> None:
        if self.progress is None:
            self.progress = Progress(*self.COLUMNS, console=console, transient=False, get_time=self.get_time)
            self.progress.start()
            self.progress.add_task("score", total=total, completed=done, rate="")
            self.first = done
        elapsed = self.progress.tasks[0].elapsed or 0.0
        now = done - self.first
        rate = f"{now / elapsed:,.1f} rows/s" if elapsed > 0 and now else ""
        self.progress.update(self.progress.task_ids[0], completed=done, total=total, rate=rate)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _interrupted(args: list[str], out: Path, what: str = "scored rows") -> typer.Exit:
    """Ctrl-C: say what the run store beside ``out`` holds and the exact command (``rewardlab ARGS --resume``)
    that continues the run."""
    from rewardlab.runner import default_store
    from rewardlab.store import RunStore

    store_path = default_store(out)
    if not store_path.exists():
        console.print("interrupted before any row was saved")
        return typer.Exit(130)
    store = RunStore(store_path)
    saved = store.count()
    store.close()
    command = shlex.join(["rewardlab", *args, "--resume"])
    console.print(f"interrupted: {saved} {what} are saved in {store_path}; continue with:\n  {command}",
                  highlight=False, soft_wrap=True)
    return typer.Exit(130)


@app.command()
def score(
    input: Annotated[Path, typer.Argument(help="samples: .jsonl, .json, .parquet or a datasets dir")],
    spec: Annotated[Path, typer.Option("--spec", help="pipeline spec (TOML)")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="output .jsonl, .json or .parquet (default: INPUT's name + .scored.jsonl)")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue a killed or interrupted run")] = False,
    batch_size: Annotated[int | None, typer.Option(
        "--batch-size", min=1, help="rows per batch, never splitting a group (default: the spec's [run])")] = None,
    summary_json: Annotated[Path | None, typer.Option(
        "--summary-json", help="also write the summary statistics to this JSON file")] = None,
    signal_json: Annotated[Path | None, typer.Option(
        "--signal-json", help="also write each batch's learning signal (zero-variance groups kept or "
        "filtered, mean |advantage| per task) to this JSON file")] = None,
    backend: Annotated[str, typer.Option("--backend", help="local, or ray: batches across Ray actors")] = "local",
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster address (default: start one)")
                       ] = None,
    gpus_per_actor: Annotated[float | None, typer.Option(
        "--gpus-per-actor", min=0.0, help="--backend ray: GPUs each actor (model replica) asks for; 0.5 puts "
        "two on a card (default: 1 when the spec runs a model here and the cluster has GPUs, else 0)")] = None,
) -> None:
    """Score INPUT with SPEC; crash-safe (resume a killed run with --resume)."""
    from rewardlab.pipeline import Pipeline
    from rewardlab.runner import score_file

    if backend not in ("local", "ray"):
        raise _fail(ValueError(f"--backend: got {backend!r} (allowed: local, ray)"))
    if address and backend != "ray":
        raise _fail(ValueError("--address is for --backend ray"))
    if gpus_per_actor is not None and backend != "ray":
        raise _fail(ValueError("--gpus-per-actor is for --backend ray"))
    out = out or input.with_name(input.stem + ".scored.jsonl")
    try:
        check_output(out)
        pipeline = Pipeline.from_spec(spec)
    except RewardlabError as exc:
        raise _fail(exc) from None
    bar = _Bar()
    try:
        if backend == "ray":
            from rewardlab.distributed.ray_backend import RayScorer

            with RayScorer(spec, address=address, gpus_per_actor=gpus_per_actor) as scorer:
                report = score_file(input, pipeline, out, resume, batch_size, bar.update, scorer=scorer)
        else:
            report = score_file(input, pipeline, out, resume, batch_size, bar.update)
    except KeyboardInterrupt:
        bar.stop()
        given = {"--batch-size": batch_size, "--summary-json": summary_json, "--signal-json": signal_json,
                 "--address": address, "--gpus-per-actor": gpus_per_actor,
                 "--backend": None if backend == "local" else backend}
        options = [s for k, v in given.items() if v is not None for s in (k, str(v))]
        raise _interrupted(["score", str(input), "--spec", str(spec), "--out", str(out), *options], out) from None
    except RewardlabError as exc:
        bar.stop()
        raise _fail(exc) from None
    finally:
        bar.stop()
        pipeline.close()
    out_console.print(summary_table(report.summary, f"{report.rows} rows -> {report.out}"))
    rate = f", {report.scored_now / report.seconds:,.1f} rows/s" if report.seconds > 0 and report.scored_now else ""
    out_console.print(f"wall time {report.seconds:.2f} s: {report.scored_now} rows scored now{rate}")
    if report.resumed:
        out_console.print(f"resumed: {report.resumed} rows from the store, {report.scored_now} scored now")
    signal = signal_summary(report.signals)
    if signal["zero_variance_groups"] is not None or signal["mean_abs_advantage"]:
        out_console.print(signal_line(signal))
    if summary_json:
        summary_json.write_text(json.dumps([s.to_dict() for s in report.summary], indent=2))
    if signal_json:
        signal_json.write_text(json.dumps({"mean": signal, "batches": report.signals}, indent=2, default=repr))


def signal_line(signal: dict[str, Any]) -> str:
    """One line: the per-batch learning signal, averaged over the run's batches."""
    parts = []
    zv = signal["zero_variance_groups"]
    if zv is not None:
        parts.append(f"zero-variance groups {_pct(zv['all'])} (kept {_pct(zv['kept'])}, "
                     f"filtered {_pct(zv['filtered'])})")
    if signal["mean_abs_advantage"]:
        tasks = ", ".join(f"{t} {v:.3f}" for t, v in signal["mean_abs_advantage"].items())
        parts.append(f"mean |advantage| by task: {tasks}")
    return f"per batch, mean of {signal['batches']}: " + "; ".join(parts)


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
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port (0: any free port)")] = 8000,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="engine worker processes")] = None,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, help="samples per engine pass")] = 512,
    max_wait_ms: Annotated[float, typer.Option("--max-wait-ms", min=0, help="micro-batch wait")] = 5.0,
    max_queue: Annotated[int, typer.Option("--max-queue", min=1, help="queued samples before 429")] = 8192,
    timeout: Annotated[float, typer.Option("--timeout", min=0.001, help="per-request deadline, s")] = 120.0,
    unscorable_reward: Annotated[float | None, typer.Option(
        "--unscorable-reward", help="/get_reward value for unscorable rows (default: answer 422)")] = None,
    graceful_timeout: Annotated[float, typer.Option(
        "--graceful-timeout", min=0, help="seconds in-flight requests get to finish at shutdown")] = 30.0,
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
        registered = entries(kind)
        for name, entry in sorted(registered.items()):
            main = _main_name(name, entry.factory, registered)
            description = entry.description if main == name else f"alias of {main}"
            table.add_row(kind, name, escape(description))
    out_console.print(table)


def _main_name(name: str, factory: Any, registered: dict[str, Any]) -> str:
    """The name a factory registered under several names goes by: its own ``name``, else the first registered."""
    names = [n for n, e in registered.items() if e.factory is factory]
    own = getattr(factory, "name", None)
    return own if own in names else names[0] if names else name


app.command("eval")(eval_command)
app.command("audit")(audit_command)
app.add_typer(envs_app, name="envs")


def main() -> None:  # pragma: no cover
    sys.exit(app())
