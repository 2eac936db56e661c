"""Micro-batching: concurrent requests share one engine pass, each gets exactly its own rows.

Requests wait in a bounded queue (counted in samples). A single consumer task takes
what is queued, up to ``max_batch`` samples or ``max_wait`` seconds after the first,
and scores it in a worker thread, one batch at a time. A full queue refuses new work
(:class:`QueueFull`) instead of dropping it; a request whose deadline passed before
its turn is skipped, never scored for nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from rewardlab.serve.metrics import ServerMetrics

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger("rewardlab.serve")


class QueueFull(Exception):
    """The queue holds too many samples; retry after ``retry_after`` seconds."""

    def __init__(self, depth: int, limit: int, retry_after: float) -> None:
        super().__init__(f"server busy: {depth} samples queued (limit {limit}); retry in {retry_after:.1f} s")
        self.retry_after = retry_after


class ShuttingDown(Exception):
    """The server is shutting down and takes no new work."""


@dataclass
class _Job(Generic[T, R]):
    items: T
    size: int
    future: asyncio.Future[R]
    queued_at: float = field(default_factory=time.monotonic)


class MicroBatcher(Generic[T, R]):
    """Collects jobs into batches for ``score_many(list_of_items) -> list_of_results``."""

    def __init__(
        self,
        score_many: Callable[[list[T]], Sequence[R]],
        *,
        max_batch: int = 256,
        max_wait: float = 0.005,
        max_queue: int = 8192,
        max_inflight: int = 1,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self.score_many = score_many
        self.max_inflight = max_inflight  # batches scored at once (2 pipelines a scoring process)
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.max_queue = max_queue
        self.metrics = metrics or ServerMetrics()
        self.depth = 0  # samples queued, not yet taken
        self.closing = False
        self._queue: asyncio.Queue[_Job[T, R] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._rate = 1000.0  # samples per second, smoothed; for Retry-After advice
        self._running: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(max_inflight)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="rewardlab-batcher")

    async def stop(self) -> None:
        """Stop taking work, finish everything queued, then end the consumer."""
        self.closing = True
        await self._queue.put(None)
        if self._task is not None:
            await self._task

    def retry_after(self) -> float:
        return max(1.0, round(self.depth / max(self._rate, 1.0), 1))

    async def submit(self, items: T, size: int) -> R:
        """Queue one request and wait for its result (cancel to give up on it)."""
        if self.closing:
            raise ShuttingDown("server is shutting down; retry on another replica or after restart")
        if self.depth and self.depth + size > self.max_queue:
            raise QueueFull(self.depth, self.max_queue, self.retry_after())
        job: _Job[T, R] = _Job(items, size, asyncio.get_running_loop().create_future())
        self.depth += size
        self.metrics.queue_depth.set(self.depth)
        await self._queue.put(job)
        return await job.future

    async def _take(self) -> list[_Job[T, R]] | None:
        first = await self._queue.get()
        if first is None:
            return None
        jobs, n = [first], first.size
        end = time.monotonic() + self.max_wait
        while n < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            if job is None:  # stop requested: put the sentinel back for after this batch
                self._queue.put_nowait(None)
                break
            jobs.append(job)
            n += job.size
        return jobs

    async def _loop(self) -> None:
        while True:
            await self._slots.acquire()
            jobs = await self._take()
            if jobs is None:
                self._slots.release()
                if self._running:
                    await asyncio.gather(*self._running)
                return
            taken = sum(j.size for j in jobs)
            self.depth -= taken
            self.metrics.queue_depth.set(self.depth)
            live = [j for j in jobs if not j.future.done()]  # skip requests that gave up
            if len(live) < len(jobs):
                self.metrics.rejected.labels("deadline_before_scoring").inc(len(jobs) - len(live))
            if not live:
                self._slots.release()
                continue
            task = asyncio.create_task(self._run_then_release(live))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run_then_release(self, jobs: list[_Job[T, R]]) -> None:
        try:
            await self._run(jobs)
        finally:
            self._slots.release()

    async def _retry_alone(self, job: _Job[T, R]) -> None:
        """Score one request on its own; it gets an error only if it fails by itself.

        A failure marked ``culprit = False`` (the scoring process died on another batch while
        this one waited) does not count: the request is tried again, up to a few times.
        """
        for attempt in range(RETRIES_WHEN_INNOCENT):
            if job.future.done():
                return
            try:
                (result,) = await asyncio.to_thread(self.score_many, [job.items])
            except Exception as exc:  # answered with an error, never left hanging
                if getattr(exc, "culprit", True) or attempt == RETRIES_WHEN_INNOCENT - 1:
                    if not job.future.done():
                        job.future.set_exception(exc)
                    return
                continue
            _resolve(job.future, result)
            return

    async def _run(self, jobs: list[_Job[T, R]]) -> None:
        size = sum(j.size for j in jobs)
        self.metrics.inflight.inc(size)
        self.metrics.batch_size.observe(size)
        start = time.perf_counter()
        try:
            results = await asyncio.to_thread(self.score_many, [j.items for j in jobs])
            for job, result in zip(jobs, results, strict=True):
                _resolve(job.future, result)
        except Exception as exc:
            log.warning("batch of %d requests failed (%s: %s); retrying each request alone",
                        len(jobs), type(exc).__name__, exc)
            self.metrics.retries.inc()
            for job in jobs:
                await self._retry_alone(job)
        finally:
            self.metrics.inflight.dec(size)
            elapsed = time.perf_counter() - start
            if elapsed > 0:
                self._rate = 0.8 * self._rate + 0.2 * (size / elapsed)


RETRIES_WHEN_INNOCENT = 5


def _resolve(future: asyncio.Future[R], result: R) -> None:
    with contextlib.suppress(asyncio.InvalidStateError):
        if not future.done():
            future.set_result(result)
