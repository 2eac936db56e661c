"""``rewardlab eval DATA --spec SPEC --benchmark NAME``: score a benchmark's candidates through a spec,
then score the benchmark exactly as its reference code does (docs/eval.md).

The candidates go through :func:`rewardlab.runner.score_file`, the same crash-safe, resumable,
deduplicating path as ``rewardlab score``: they are written (one row per distinct candidate)
to ``candidates.jsonl`` in a work directory and scored into ``scored.jsonl`` beside it.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rewardlab.core import content_hash
from rewardlab.errors import InputError
from rewardlab.evaluate.benchmarks import BENCHMARKS, get_benchmark
from rewardlab.evaluate.benchmarks.base import Benchmark, swap_check
from rewardlab.evaluate.records import Candidate, Scores, distinct
from rewardlab.gctuning import rare_collections

if TYPE_CHECKING:
    from rewardlab.pipeline import Pipeline


def work_dir(data: Path, benchmark: str) -> Path:
    """Where an eval keeps its candidates and scored rows by default: beside DATA."""
    return data.with_name(f"{data.name}.{benchmark}.eval")


def is_pairwise_judge(pipeline: Pipeline) -> bool:
    """Whether a component compares the completion with its reference (``judge.pairwise``)."""
    return any(getattr(c.reward, "name", "") == "judge.pairwise"
               and getattr(getattr(c.reward, "params", None), "opponent", None) == "reference"
               for c in pipeline.spec.components)


def candidate_rows(bench: Benchmark, rows: Sequence[Mapping[str, Any]],
                   read: Sequence[Candidate]) -> list[dict[str, Any]]:
    """One runner row per distinct candidate (``read``: the benchmark's own, each once; then the swapped
    rows', for the swap check), grouped by prompt."""
    candidates = list(read)
    if bench.pairwise:
        candidates += bench.candidates([bench.swap(r) for r in rows])
    groups: dict[str, str] = {}  # a text prompt's hash, computed once for all its candidates

    def group(prompt: Any) -> str:
        if not isinstance(prompt, str):
            return content_hash(prompt)
        if prompt not in groups:
            groups[prompt] = content_hash(prompt)
        return groups[prompt]

    return [c.row(group(c.prompt)) for c in distinct(candidates)]


def _timed(pipeline: Pipeline) -> list[float]:
    """Count the seconds spent scoring components (the rewards themselves) on ``pipeline``."""
    spent = [0.0]
    inner = pipeline.score_components

    def score_components(samples: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(samples)
        finally:
            spent[0] += time.perf_counter() - start

    pipeline.score_components = score_components  # type: ignore[method-assign]
    return spent


def run_eval(
    data: str | Path,
    spec: str | Path | Mapping[str, Any],
    benchmark: str,
    work: str | Path | None = None,
    resume: bool = False,
    batch_size: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    diagnostics: bool = True,
) -> dict[str, Any]:
    """Evaluate the spec's combined reward on DATA as ``benchmark``; returns the eval JSON (docs/eval.md).

    ``timing``: ``reward_s`` is the wall time inside the pipeline's component scoring (the engine
    running the rewards), ``other_s`` the rest, and ``parts`` splits it: ``setup_s`` (reading DATA,
    building the pipeline, starting its process pool: the workers load the reward meanwhile),
    ``candidates_s`` (making and writing them), ``runner_s`` (the runner around the
    reward: store, shaping, output, reading it back), ``benchmark_s`` (its scoring and the swap
    check) and ``diagnostics_s``.
    """
    with rare_collections():
        return _run_eval(data, spec, benchmark, work, resume, batch_size, on_progress, diagnostics)


def _run_eval(data: str | Path, spec: str | Path | Mapping[str, Any], benchmark: str, work: str | Path | None,
              resume: bool, batch_size: int | None, on_progress: Callable[[int, int], None] | None,
              diagnostics: bool) -> dict[str, Any]:
    from rewardlab.io import read_rows, write_rows
    from rewardlab.pipeline import Pipeline
    from rewardlab.runner import score_file
    from rewardlab.serve.scoring import finite  # NaN (an undefined number) as null: strict JSON

    clock = Clock()
    data = Path(data)
    if benchmark not in BENCHMARKS:
        get_benchmark(benchmark)  # the unknown-name error, before reading anything
    rows, _ = read_rows(data)
    pipeline = Pipeline.from_spec(spec)
    try:
        bench = get_benchmark(benchmark, pairwise_judge=is_pairwise_judge(pipeline))
        bench.check(rows)
        folder = Path(work) if work is not None else work_dir(data, benchmark)
        folder.mkdir(parents=True, exist_ok=True)
        pipeline.warm()  # the data is valid: the engine's workers load the reward while the candidates are made
        clock.lap("setup_s")
        read = distinct(bench.candidates(rows))  # the candidates the benchmark reads, each once
        candidates = candidate_rows(bench, rows, read)
        write_rows(candidates, folder / "candidates.jsonl")
        clock.lap("candidates_s")
        spent = _timed(pipeline)
        report = score_file(folder / "candidates.jsonl", pipeline, folder / "scored.jsonl", resume, batch_size,
                            on_progress, rows=candidates)
        scored = report.scored  # the rows scored.jsonl holds, already in memory
        names = list(pipeline.names)
    finally:
        pipeline.close()
    scores = Scores.from_rows(scored, names)
    clock.lap("runner_s", minus=spent[0])
    result = evaluate_scores(bench, rows, scores, names, read, diagnostics, clock)
    total = clock.total()
    result.update(data=str(data), spec=str(spec) if not isinstance(spec, Mapping) else "<dict>",
                  timing={"reward_s": spent[0], "other_s": total - spent[0], "total_s": total, "parts": clock.parts,
                          "candidates": len(scored), "scored_now": report.scored_now, "resumed": report.resumed})
    return dict(finite(result))


class Clock:
    """Wall time in named parts (each lap: the time since the previous one)."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.parts: dict[str, float] = {}

    def lap(self, name: str, minus: float = 0.0) -> None:
        now = time.perf_counter()
        self.parts[name] = self.parts.get(name, 0.0) + now - self.last - minus
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.start


def evaluate_scores(bench: Benchmark, rows: Sequence[Mapping[str, Any]], scores: Scores, names: Sequence[str],
                    read: Sequence[Candidate], diagnostics: bool = True, clock: Clock | None = None) -> dict[str, Any]:
    """The eval JSON's benchmark part from already-scored candidates (``read``: the candidates the benchmark
    reads, each once; ``diagnostics``: fill that block)."""
    clock = clock or Clock()
    s = bench.evaluate(rows, scores)
    statuses = Counter(scores.by_key[c.key].status for c in read if scores.by_key[c.key].value is None)
    swap = swap_check(bench, rows, scores)
    clock.lap("benchmark_s")
    block = diagnose(bench, rows, scores, names, read) if diagnostics else None
    clock.lap("diagnostics_s")
    if block is not None and block["best_of_n"] is not None:
        s.extra["curve"] = {k: block["best_of_n"][k] for k in ("n", "reward", "oracle", "random")}
    return {
        "benchmark": bench.name, "overall": s.overall, "overall_definition": s.overall_definition,
        "sections": s.sections, "subsets": s.subsets, "counts": s.counts, "extra": s.extra,
        "swap_check": swap,
        "unscorable": {"candidates": sum(statuses.values()), "examples": s.unscorable_examples, "policy": s.policy,
                       "statuses": dict(statuses)},
        "diagnostics": block,
    }


def diagnose(bench: Benchmark, rows: Sequence[Mapping[str, Any]], scores: Scores,
             names: Sequence[str], distinct: Sequence[Candidate]) -> dict[str, Any]:
    """The diagnostics block: each part from :mod:`rewardlab.evaluate.diagnostics` where the data allows it
    (``distinct``: the benchmark's candidates, each once, for the agreement of the components)."""
    from rewardlab.evaluate import diagnostics as d

    views = bench.views(rows, scores)
    out: dict[str, Any] = {"calibration": None, "classification": None, "length_bias": None,
                           "pair_length_bias": None, "agreement": [], "best_of_n": None, "overoptimisation": None,
                           "notes": []}

    def value(c: Candidate) -> float:
        return _nan(scores.value(c))

    def attempt(key: str, make: Callable[[], Any]) -> None:
        try:
            out[key] = make().to_json()
        except InputError as exc:
            out["notes"].append(f"{key}: {exc}")

    if views.labelled:
        values = [value(c) for c, _ in views.labelled]
        labels = [y for _, y in views.labelled]
        attempt("calibration", lambda: d.calibration(values, labels))
        attempt("classification", lambda: d.classification(values, labels, threshold="auto"))
        attempt("length_bias", lambda: d.length_bias(values, [c.length for c, _ in views.labelled]))
    if views.pairs:
        attempt("pair_length_bias", lambda: d.pair_length_bias(
            [value(c) for c, _ in views.pairs], [value(r) for _, r in views.pairs],
            [c.length for c, _ in views.pairs], [r.length for _, r in views.pairs]))
    if views.grid is not None and views.correct is not None:
        if len({len(g) for g in views.grid}) == 1:
            grid = [[value(c) for c in g] for g in views.grid]
            attempt("best_of_n", lambda: d.best_of_n(grid, views.correct))
            attempt("overoptimisation", lambda: d.overoptimisation(grid, views.gold))
        else:
            out["notes"].append("best_of_n, overoptimisation: prompts have different numbers of candidates")
    agreement(distinct, scores, names, out)
    return out


def agreement(candidates: Sequence[Candidate], scores: Scores, names: Sequence[str], out: dict[str, Any]) -> None:
    """Every two components' agreement on the candidates, into ``out["agreement"]`` (or a note why not)."""
    from rewardlab.evaluate import diagnostics as d

    for a, b in combinations(names, 2):
        va = [_nan(scores.of(c).components.get(a)) for c in candidates]
        vb = [_nan(scores.of(c).components.get(b)) for c in candidates]
        try:
            out["agreement"].append({"a": a, "b": b, **d.agreement(va, vb).to_json()})
        except InputError as exc:
            out["notes"].append(f"agreement {a} / {b}: {exc}")


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)


def eval_command(
    data: Annotated[Path, typer.Argument(help="benchmark data in its own layout: .jsonl, .json, .parquet or "
                                              "a datasets directory (docs/eval.md)")],
    spec: Annotated[Path, typer.Option("--spec", help="pipeline spec (TOML): its combined reward is evaluated")],
    benchmark: Annotated[str, typer.Option("--benchmark", help=f"one of: {', '.join(BENCHMARKS)}")],
    json_out: Annotated[Path | None, typer.Option("--json", help="write every number to this JSON file")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="write a self-contained HTML report")] = None,
    work: Annotated[Path | None, typer.Option(
        "--work", help="directory for the candidates and their scores (default: DATA.<benchmark>.eval)")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue a killed or interrupted eval")] = False,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="candidates per batch")] = None,
    diagnostics: Annotated[bool, typer.Option(
        "--diagnostics/--no-diagnostics", help="calibration, length bias, agreement, best-of-n curves")] = True,
) -> None:
    """Evaluate SPEC's reward on a benchmark's DATA with the benchmark's exact scoring."""
    from rewardlab.cli import _Bar, _fail, _interrupted, out_console
    from rewardlab.errors import RewardlabError

    bar = _Bar()
    try:
        result = run_eval(data, spec, benchmark, work, resume, batch_size, bar.update, diagnostics)
    except KeyboardInterrupt:
        bar.stop()
        given = {"--work": work, "--json": json_out, "--report": report, "--batch-size": batch_size}
        options = [s for k, v in given.items() if v is not None for s in (k, str(v))]
        raise _interrupted(["eval", str(data), "--spec", str(spec), "--benchmark", benchmark, *options,
                            *([] if diagnostics else ["--no-diagnostics"])],
                           (work or work_dir(data, benchmark)) / "scored.jsonl", "scored candidates") from None
    except (RewardlabError, KeyError) as exc:
        bar.stop()
        raise _fail(exc) from None
    finally:
        bar.stop()
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2))
    if report is not None:
        from rewardlab.evaluate.report import render_eval

        render_eval(result, report)
    for line in summary_lines(result):
        out_console.print(line, highlight=False, soft_wrap=True)


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    """The headline, sections, subsets, swap check, unscorable counts and the time split, as text."""
    lines = [f"{result['benchmark']}: overall {_fmt(result['overall'])} ({result['overall_definition']})"]
    for title in ("sections", "subsets"):
        if result[title]:
            counts = result["counts"]
            parts = [f"{k} {_fmt(v)}" + (f" (n={counts[k]})" if k in counts and title == "subsets" else "")
                     for k, v in result[title].items()]
            lines.append(f"{title}: " + "; ".join(parts))
    scalars = {k: v for k, v in result["extra"].items() if isinstance(v, (int, float, str)) or v is None}
    if scalars:
        lines.append("extra: " + "; ".join(f"{k} {_fmt(v)}" for k, v in scalars.items()))
    swap = result.get("swap_check")
    if swap:
        lines.append(f"swap check {'passed' if swap['passed'] else 'FAILED'}: accuracy {_fmt(swap['accuracy'])}, "
                     f"swapped {_fmt(swap['swapped_accuracy'])}, ties {swap['ties']} of {swap['pairs']}; "
                     f"{swap['note']}")
    u = result["unscorable"]
    lines.append(f"unscorable: {u['candidates']} candidates, {u['examples']} examples ({u['policy']})")
    t = result["timing"]
    share = t["other_s"] / t["total_s"] if t["total_s"] else 0.0
    split = ", ".join(f"{k.removesuffix('_s')} {v:.2f}" for k, v in t["parts"].items())
    lines.append(f"time: {t['total_s']:.2f} s total, {t['reward_s']:.2f} s in the reward, {t['other_s']:.2f} s "
                 f"outside it ({share:.1%}: {split}); {t['candidates']} candidates, {t['scored_now']} scored now")
    return lines
