"""Score a whole file: whole-group batches, crash-safe store, resumable, exported in input order."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from rewardlab.batch import group_members
from rewardlab.core import Sample
from rewardlab.gctuning import rare_collections
from rewardlab.io import check_output, read_rows, write_rows
from rewardlab.pipeline import Pipeline
from rewardlab.results import ColumnStats, Results, summarize
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


BatchScorer = Callable[[list[list[Sample]]], Iterator[tuple[int, list[dict[str, Any]], dict[str, Any]]]]
"""Scores batches and yields ``(batch number, rows, signal)`` as each finishes, in any order
(``signal``: the batch's :attr:`Results.signal`, kept per batch in the run store)."""

PROGRESS_STEPS = 8
"""The local scorer scores a slow batch's components in about this many whole-group chunks,
reporting after each, so a slow reward's progress moves within a batch."""
MIN_CHUNK = 64
"""Chunks are at least this many rows (or the whole batch), so each engine pass stays
wide enough to keep the process pool and the sandbox workers busy."""
SLOW_CHUNK_S = 1.0
"""A chunk that took longer is followed by another; after a faster one the rest of the batch
goes in one engine pass (each pass has a cost, so fast rewards are not split further)."""


def score_batch(pipeline: Pipeline, batch: list[Sample], on_rows: Callable[[int], None] | None = None) -> Results:
    """``pipeline.run(batch)``, with ``on_rows(n)`` called as chunks of ``n`` rows are scored.

    Components are scored chunk by chunk (never splitting a group, as group-level rewards
    need whole groups) while chunks are slow; shaping, combination and advantages then run
    on the whole batch, so the rows equal ``pipeline.run(batch)``'s.
    """
    if on_rows is None:
        return pipeline.run(batch)
    scores: dict[str, list[Any]] = {name: [None] * len(batch) for name in pipeline.names}
    chunks = plan_batches([s.group for s in batch], max(MIN_CHUNK, -(-len(batch) // PROGRESS_STEPS)))
    k = 0
    while k < len(chunks):
        started = time.perf_counter()
        part = pipeline.score_components([batch[i] for i in chunks[k]])
        for name, values in part.items():
            for i, score in zip(chunks[k], values, strict=True):
                scores[name][i] = score
        on_rows(len(chunks[k]))
        k += 1
        if k < len(chunks) and time.perf_counter() - started < SLOW_CHUNK_S:
            chunks[k:] = [[i for chunk in chunks[k:] for i in chunk]]
    return pipeline.assemble(batch, scores)


def local_scorer(pipeline: Pipeline, on_rows: Callable[[int], None] | None = None) -> BatchScorer:
    """The in-process scorer: one batch after another on ``pipeline`` (see :func:`score_batch`)."""

    def run(batches: list[list[Sample]]) -> Iterator[tuple[int, list[dict[str, Any]], dict[str, Any]]]:
        for k, batch in enumerate(batches):
            results = score_batch(pipeline, batch, on_rows)
            yield k, results.rows, results.signal

    return run


def default_store(out: Path) -> Path:
    """Where a run writing ``out`` keeps its crash-safe store: beside it."""
    return out.with_name(out.name + ".rlstore")


@dataclass
class RunReport:
    """What a run did. ``texts``: every output row's JSON text, as the store committed it and ``out``
    holds it; ``scored`` (the rows) and ``summary`` are decoded from it when first asked for, so a
    caller that needs neither (or only one) pays for no more."""

    rows: int
    scored_now: int
    resumed: int
    seconds: float
    out: Path
    names: list[str]
    signals: list[dict[str, Any]] = field(default_factory=list)  # per batch, in input order
    texts: list[str] = field(default_factory=list, repr=False)

    @cached_property
    def scored(self) -> list[dict[str, Any]]:
        """The output rows in input order, as reading ``out`` back gives them."""
        return [json.loads(t) for t in self.texts]

    @cached_property
    def summary(self) -> list[ColumnStats]:
        return summarize(self.scored, self.names)


@rare_collections()
def score_file(
    input_path: str | Path,
    pipeline: Pipeline,
    out: str | Path,
    resume: bool = False,
    batch_size: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    store_path: str | Path | None = None,
    scorer: BatchScorer | None = None,
    rows: Sequence[dict[str, Any]] | None = None,
) -> RunReport:
    """Score ``input_path`` into ``out`` through a crash-safe store beside ``out``.

    ``on_progress(done_rows, total_rows)`` is called once the store is open (with the rows
    already done when resuming), as the local scorer finishes chunks of a batch, and after
    each committed batch. ``scorer`` runs the batches (default: :func:`local_scorer`; the Ray
    backend passes its own); each batch is committed as it comes back, whatever the order.
    The output and the input are checked before the store is created, so a bad path or a
    malformed input leaves nothing behind. ``rows``: what ``input_path`` holds, from a caller
    that has just written it from them (``rewardlab eval``), taken as they are instead of
    reading the file back (the file still identifies the run).
    """
    start = time.perf_counter()
    input_path, out = Path(input_path), check_output(out)
    if rows is None:
        rows, _ = read_rows(input_path)
    samples = [Sample.coerce(r, i) for i, r in enumerate(rows)]
    pipeline.require_completions(rows)  # no row with a completion: fail before any work
    store_path = Path(store_path) if store_path else default_store(out)
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
        finished, partial = resumed, 0

        def report(rows_scored: int = 0) -> None:
            nonlocal partial
            partial += rows_scored
            if on_progress:
                on_progress(min(finished + partial, len(samples)), len(samples))

        report()
        run = scorer if scorer is not None else local_scorer(pipeline, report if on_progress else None)
        for k, rows_k, signal in run([[samples[i] for i in batch] for batch in batches]):
            batch = batches[k]
            todo = [i for i in batch if i not in done]
            by_index = dict(zip(batch, rows_k, strict=True))
            store.commit([(i, by_index[i]) for i in todo], pipeline.state_dict(), (batch[0], signal))
            finished, partial = finished + len(todo), 0
            report()
        texts = store.texts()
        result = RunReport(len(texts), finished - resumed, resumed, 0.0, out, list(pipeline.names),
                           store.signals(), texts)
        # JSON outputs take the stored text as it is (what encoding the decoded rows again gives)
        write_rows(result.scored if out.suffix.lower() == ".parquet" else (), out, texts)
    except BaseException:
        store.close()
        raise
    store.remove()
    result.seconds = time.perf_counter() - start
    return result
