"""Where rewards run: inline, a warm process pool with hard-kill timeouts, asyncio, batches.

The engine reads a reward's declared cost class:

- ``inline``: called in the caller's process, sample by sample, each failure
  isolated. Inline rewards must be cheap and total; anything that may hang belongs
  in ``cpu``.
- ``cpu``: a warm process pool; each sample has a time limit enforced by the parent,
  which kills and replaces the worker (status ``timeout``).
- ``io``: ``ascore_one`` coroutines run concurrently with a per-sample deadline.
- ``model``: ``score_batch`` in batches of ``model_batch_size`` (or the whole batch for
  rewards that bucket it themselves, ``batches_itself``), in a dedicated model worker
  process when the reward's ``placement`` is ``"worker"`` (see
  :mod:`rewardlab.engine.model_worker`), else in the caller's process.
- ``sandbox``: ``score_batch`` in the caller's process; the reward runs its own
  sandbox pool and enforces its own limits from outside.

Every reward that reads the completion gets it through :mod:`rewardlab.engine.inputs`:
a row without one is ``missing_input`` (never scored as an empty answer), and the end
tokens in ``end_tokens`` are stripped from its end (named in ``detail``).

For every class but ``inline`` the engine deduplicates identical work in a batch and
caches scores by content hash of (reward config, the sample fields it reads, deps).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rewardlab.batch import group_members
from rewardlab.core import CostClass, Deps, Sample, Score, Status, content_hash
from rewardlab.engine.cache import ScoreCache
from rewardlab.engine.inputs import DEFAULT_END_TOKENS, PreparedBatch, reads_completion
from rewardlab.engine.model_worker import ModelWorkers
from rewardlab.engine.pool import ProcessPool
from rewardlab.engine.worker import batch_safely, score_safely
from rewardlab.errors import validate_params

NO_DEPS: Mapping[str, Score] = {}


class EngineConfig(BaseModel):
    """Engine settings; the ``[engine]`` table of a spec."""

    model_config = ConfigDict(extra="forbid")
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    timeout: float = Field(10.0, gt=0, description="default per-sample limit, seconds")
    io_concurrency: int = Field(32, ge=1)
    model_batch_size: int = Field(64, ge=1)
    cache_size: int = Field(100_000, ge=0)
    memory_limit_mb: int | None = Field(None, ge=64)
    load_timeout: float = Field(120.0, gt=0)
    end_tokens: list[str] = Field(default_factory=lambda: list(DEFAULT_END_TOKENS),
                                  description="end-of-sequence texts stripped from the end of completions")


class Engine:
    """Runs rewards where their cost class says; see the module docstring."""

    def __init__(self, **config: Any) -> None:
        self.config: EngineConfig = validate_params(EngineConfig, config, "engine")
        self.cache = ScoreCache(self.config.cache_size)
        self._pool: ProcessPool | None = None
        self._pool_lock = threading.Lock()
        self._model_workers: ModelWorkers | None = None

    @property
    def pool(self) -> ProcessPool:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ProcessPool(
                    self.config.workers, self.config.memory_limit_mb, self.config.load_timeout
                )
            return self._pool

    @property
    def model_workers(self) -> ModelWorkers:
        with self._pool_lock:
            if self._model_workers is None:
                # no memory_limit_mb: an address-space limit breaks CUDA, which maps far more than it uses
                self._model_workers = ModelWorkers(self.config.load_timeout)
            return self._model_workers

    def close(self) -> None:
        if self._model_workers is not None:
            self._model_workers.close()
            self._model_workers = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- entry points --------------------------------------------------------------
    def run(
        self,
        reward: Any,
        samples: Sequence[Sample],
        deps: Sequence[Deps] | None = None,
        *,
        timeout: float | None = None,
    ) -> list[Score]:
        """Score ``samples`` with ``reward``: same length, same order."""
        n = len(samples)
        deps = list(deps) if deps is not None else [NO_DEPS] * n
        if len(deps) != n:
            raise ValueError(f"got {len(deps)} deps for {n} samples")
        if not reads_completion(reward):
            return self._dispatch(reward, samples, deps, timeout)
        batch = PreparedBatch.of(samples, self.config.end_tokens)
        return batch.merge(self._dispatch(reward, batch.samples, [deps[i] for i in batch.kept], timeout))

    def _dispatch(
        self, reward: Any, samples: Sequence[Sample], deps: Sequence[Deps], timeout: float | None
    ) -> list[Score]:
        """Run ``reward`` where its cost class says."""
        if not samples:
            return []
        if not hasattr(reward, "score_one"):  # a bare Reward protocol object
            return list(reward.score(list(samples)))
        if getattr(reward, "group_level", False):
            return self._run_groups(reward, samples, deps)
        cost = CostClass(getattr(reward, "cost", CostClass.INLINE))
        if cost is CostClass.INLINE:
            return [score_safely(reward, s, d) for s, d in zip(samples, deps, strict=True)]
        own = getattr(reward, "default_timeout", None)  # a reward's own bound (a judge: its retries)
        limit = timeout if timeout is not None else own if own is not None else self.config.timeout
        return self._run_deduplicated(reward, cost, samples, deps, limit)

    def warm(self, reward: Any) -> None:
        """Start what ``reward`` will run on before its first batch: for a ``cpu`` reward, the
        process pool with the reward loading in its workers (:meth:`ProcessPool.warm`), so their
        start overlaps the caller's own setup. Other cost classes have nothing to start here."""
        if (hasattr(reward, "score_one") and not getattr(reward, "group_level", False)
                and CostClass(getattr(reward, "cost", CostClass.INLINE)) is CostClass.CPU):
            self.pool.warm(reward)

    async def arun(
        self,
        reward: Any,
        samples: Sequence[Sample],
        deps: Sequence[Deps] | None = None,
        *,
        timeout: float | None = None,
    ) -> list[Score]:
        """:meth:`run` from a coroutine, without blocking the event loop."""
        return await asyncio.to_thread(self.run, reward, samples, deps, timeout=timeout)

    # --- dedup + cache -------------------------------------------------------------
    def _run_deduplicated(
        self, reward: Any, cost: CostClass, samples: Sequence[Sample], deps: Sequence[Deps],
        limit: float,
    ) -> list[Score]:
        results: list[Score | None] = [None] * len(samples)
        todo: dict[str, list[int]] = {}
        for i, (sample, dep) in enumerate(zip(samples, deps, strict=True)):
            key = reward.key(sample)
            if dep:
                key = content_hash(key, {k: v.to_dict() for k, v in dep.items()})
            cached = self.cache.get(key)
            if cached is not None:
                results[i] = cached.with_elapsed(0.0)
            else:
                todo.setdefault(key, []).append(i)
        firsts = [idxs[0] for idxs in todo.values()]
        computed = self._compute(reward, cost, [samples[i] for i in firsts],
                                 [deps[i] for i in firsts], limit)
        for (key, idxs), score in zip(todo.items(), computed, strict=True):
            self.cache.put(key, score)
            results[idxs[0]] = score
            for i in idxs[1:]:
                results[i] = score.with_elapsed(0.0)  # computed once, reported once
        return [r for r in results if r is not None]

    def _compute(
        self, reward: Any, cost: CostClass, samples: list[Sample], deps: list[Deps], limit: float
    ) -> list[Score]:
        if not samples:
            return []
        if cost is CostClass.CPU:
            out: list[Score | None] = [None] * len(samples)

            def on_result(slot: int, score: Score) -> None:
                out[slot] = score

            items = [(i, s, d) for i, (s, d) in enumerate(zip(samples, deps, strict=True))]
            self.pool.run(reward, items, limit, on_result)
            return [s if s is not None else _lost() for s in out]
        if cost is CostClass.IO:
            return _run_coroutine(lambda: self._gather(reward, samples, deps, limit))
        if cost is CostClass.MODEL:
            return self._run_model(reward, samples, deps, limit)
        return batch_safely(reward, samples, deps)

    def _run_model(self, reward: Any, samples: list[Sample], deps: list[Deps], limit: float) -> list[Score]:
        """In the reward's model worker (``placement = "worker"``) or here; see the docstring."""
        if getattr(reward, "placement", "in_process") == "worker":
            return self.model_workers.run(reward, samples, deps, limit)
        size = len(samples) if getattr(reward, "batches_itself", False) else self.config.model_batch_size
        scores: list[Score] = []
        for start in range(0, len(samples), size):
            scores.extend(batch_safely(reward, samples[start:start + size],
                                        deps[start:start + size]))
        return scores

    async def _gather(
        self, reward: Any, samples: list[Sample], deps: list[Deps], limit: float
    ) -> list[Score]:
        gate = asyncio.Semaphore(self.config.io_concurrency)

        async def one(sample: Sample, dep: Deps) -> Score:
            async with gate:
                start = time.perf_counter()
                try:
                    score = await asyncio.wait_for(reward.ascore_one(sample, dep), limit)
                except asyncio.TimeoutError:
                    score = Score.unscorable(Status.TIMEOUT, f"exceeded the {limit:g} s limit",
                                             limit_s=limit)
                except Exception as exc:
                    score = Score.unscorable(Status.ERROR, f"{type(exc).__name__}: {exc}",
                                             exception=type(exc).__name__)
                return score.with_elapsed(time.perf_counter() - start)

        return list(await asyncio.gather(*(one(s, d) for s, d in zip(samples, deps, strict=True))))

    # --- group-level rewards -------------------------------------------------------
    def _run_groups(self, reward: Any, samples: Sequence[Sample], deps: Sequence[Deps]) -> list[Score]:
        results: list[Score | None] = [None] * len(samples)
        key = getattr(reward, "group_key", None)  # a reward may group otherwise (Co-Reward: by pair)
        groups = group_members([key(s) if key else s.group for s in samples])

        def one(idxs: list[int]) -> None:
            start = time.perf_counter()
            try:
                scores = reward.score_group([samples[i] for i in idxs], [deps[i] for i in idxs])
                if len(scores) != len(idxs):
                    raise ValueError(f"score_group returned {len(scores)} scores for {len(idxs)}")
            except Exception as exc:
                err = Score.unscorable(Status.ERROR, f"{type(exc).__name__}: {exc}",
                                       exception=type(exc).__name__)
                scores = [err] * len(idxs)
            per = (time.perf_counter() - start) / len(idxs)
            for i, score in zip(idxs, scores, strict=True):
                results[i] = score.with_elapsed(per)

        if getattr(reward, "cost", None) == CostClass.IO and len(groups) > 1:
            # an io group reward (a judge's round robin) waits on the network: its groups wait together
            with ThreadPoolExecutor(min(len(groups), self.config.io_concurrency)) as threads:
                list(threads.map(one, groups))
        else:
            for idxs in groups:
                one(idxs)
        return [r if r is not None else _lost() for r in results]


def _lost() -> Score:
    return Score.unscorable(Status.ERROR, "no result came back for this sample")


def _run_coroutine(factory: Callable[[], Any]) -> Any:
    """Run a coroutine to completion, also when called from inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    result: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(factory()))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="rewardlab-io")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


_default: Engine | None = None
_default_lock = threading.Lock()


def default_engine() -> Engine:
    """The process-wide engine used by ``Reward.score`` (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Engine()
            atexit.register(_default.close)
        return _default


def set_default_engine(engine: Engine) -> None:
    global _default
    with _default_lock:
        _default = engine


__all__ = ["Engine", "EngineConfig", "default_engine", "set_default_engine"]
