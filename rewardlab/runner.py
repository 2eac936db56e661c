"""Score a whole file: whole-group batches, crash-safe store, resumable, exported in input order."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardlab.batch import group_members
from rewardlab.core import Sample
from rewardlab.io import read_rows, write_rows
from rewardlab.pipeline import Pipeline
from rewardlab.results import ColumnStats, summarize
from rewardlab.store import RunStore


def plan_batches(groups: Sequence[str | None], batch_size: int) -> list[list[int]]:
    """Row indices in batches of about ``batch_size`` that never split a group.

    Group-relative rewards and advantages need every member of a group in the same
    batch; groups are taken in order of first appearance. A group larger than
    ``batch_size`` forms a batch of its own.
    """
    batches: list[list[int]] = []
    current: list[int] = []
    for idxs in group_members(groups):
        if current and len(current) + len(idxs) > batch_size:
            batches.append(current)
            current = []
        current.extend(idxs)
    if current:
        batches.append(current)
    return batches


def fingerprint(input_path: Path, spec_raw: dict[str, Any]) -> str:
    """Identifies a run: the input file's content and the spec."""
    h = hashlib.blake2b(digest_size=16)
    with input_path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    h.update(json.dumps(spec_raw, sort_keys=True, default=repr).encode())
    return h.hexdigest()


BatchScorer = Callable[[list[list[Sample]]], Iterator[tuple[int, list[dict[str, Any]]]]]
"""Scores batches and yields ``(batch number, rows)`` as each finishes, in any order."""


def local_scorer(pipeline: Pipeline) -> BatchScorer:
    """The in-process scorer: one batch after another on ``pipeline``."""

    def run(batches: list[list[Sample]]) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        for k, batch in enumerate(batches):
            yield k, pipeline.run(batch).rows

    return run


@dataclass
class RunReport:
    rows: int
    scored_now: int
    resumed: int
    seconds: float
    summary: list[ColumnStats]
    out: Path


def score_file(
    input_path: str | Path,
    pipeline: Pipeline,
    out: str | Path,
    resume: bool = False,
    batch_size: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    store_path: str | Path | None = None,
    scorer: BatchScorer | None = None,
) -> RunReport:
    """Score ``input_path`` into ``out`` through a crash-safe store beside ``out``.

    ``on_progress(done_rows, total_rows)`` is called after each committed batch.
    ``scorer`` runs the batches (default: :func:`local_scorer`; the Ray backend passes
    its own); each batch is committed as it comes back, whatever the order.
    """
    start = time.perf_counter()
    input_path, out = Path(input_path), Path(out)
    rows, _ = read_rows(input_path)
    samples = [Sample.coerce(r, i) for i, r in enumerate(rows)]
    pipeline.require_completions(rows)  # no row with a completion: fail before any work
    store_path = Path(store_path) if store_path else out.with_name(out.name + ".rlstore")
    store = RunStore.open(store_path, fingerprint(input_path, pipeline.spec.raw), resume)
    try:
        saved_state = store.get("state")
        if saved_state:
            pipeline.load_state_dict(saved_state)
        done = store.done()
        size = batch_size or pipeline.spec.batch_size
        batches = [b for b in plan_batches([s.group for s in samples], size)
                   if not all(i in done for i in b)]
        resumed = len(done)
        finished = resumed
        if on_progress:
            on_progress(finished, len(samples))
        run = scorer if scorer is not None else local_scorer(pipeline)
        for k, rows_k in run([[samples[i] for i in batch] for batch in batches]):
            batch = batches[k]
            todo = [i for i in batch if i not in done]
            by_index = dict(zip(batch, rows_k, strict=True))
            store.commit([(i, by_index[i]) for i in todo], pipeline.state_dict())
            finished += len(todo)
            if on_progress:
                on_progress(finished, len(samples))
        all_rows = list(store.rows())
        write_rows(all_rows, out)
        summary = summarize(all_rows, pipeline.names)
    except BaseException:
        store.close()
        raise
    store.remove()
    return RunReport(len(all_rows), finished - resumed, resumed, time.perf_counter() - start,
                     summary, out)
