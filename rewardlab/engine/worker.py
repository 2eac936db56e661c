"""The worker side of the process pool: load a reward once, score chunks of samples.

Protocol (parent -> worker): ``("load", key, pickled_reward)`` and
``("run", [(slot, sample, deps), ...])``. Worker -> parent: ``("loaded", key)``,
``("load_error", key, message)`` and one ``("result", slot, score)`` per sample, sent
as soon as it is computed, so the parent can time each sample separately. A model
worker (:mod:`rewardlab.engine.model_worker`) sends ``("batch", key, samples, deps)``
instead and gets one ``("batch_result", scores)``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import resource
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from rewardlab.core import BaseReward, Score, Status


def _watch_parent(parent: int, every: float = 0.5) -> None:
    """Exit when the parent goes, even in the middle of a long computation.

    A thread polling the parent pid, rather than PR_SET_PDEATHSIG: the parent may
    start workers from a short-lived thread, and PDEATHSIG fires when that *thread*
    exits.
    """

    def watch() -> None:
        while True:
            time.sleep(every)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="rewardlab-parent-watch", daemon=True).start()


def error_score(exc: BaseException) -> Score:
    """An ``error`` score naming the exception and where it was raised."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{tb[-1].filename}:{tb[-1].lineno}" if tb else ""
    try:
        message = f"{type(exc).__name__}: {exc}"[:500]
    except Exception:  # str() itself can fail (an int past the int-string limit in the args)
        message = f"{type(exc).__name__}: (its message could not be rendered)"
    return Score.unscorable(Status.ERROR, message, exception=type(exc).__name__, where=where)


def score_safely(reward: Any, sample: Any, deps: Any) -> Score:
    """Run ``reward.score_one`` and turn any exception into an ``error`` score."""
    start = time.perf_counter()
    try:
        score = reward.score_one(sample, deps)
        if not isinstance(score, Score):
            raise TypeError(f"score_one returned {type(score).__name__}, expected Score")
    except KeyboardInterrupt:
        raise  # the user's Ctrl-C stops the run (workers ignore SIGINT; inline rewards run in the caller)
    except BaseException as exc:  # isolate every other failure, SystemExit included
        score = error_score(exc)
    return score.with_elapsed(time.perf_counter() - start)


def batch_safely(reward: Any, samples: list[Any], deps: list[Any]) -> list[Score]:
    """``score_batch``; if the batch raises, fall back to samples one by one where the
    reward scores single samples, else every sample carries the batch's error (a reward
    never takes a path it does not implement)."""
    start = time.perf_counter()
    try:
        scores = list(reward.score_batch(samples, deps))
        if len(scores) != len(samples):
            raise ValueError(f"score_batch returned {len(scores)} scores for {len(samples)}")
    except Exception as exc:
        if getattr(type(reward), "score_one", None) is not BaseReward.score_one:
            return [score_safely(reward, s, d) for s, d in zip(samples, deps, strict=True)]
        return [error_score(exc)] * len(samples)
    per = (time.perf_counter() - start) / max(1, len(samples))
    return [s if s.elapsed else s.with_elapsed(per) for s in scores]


def main(fd: int, memory_limit_mb: int) -> None:
    """Entry point of a pool worker: ``python -c ... main(FD, MB)`` (see the pool)."""
    worker_main(Connection(fd), memory_limit_mb or None)


def worker_main(conn: Connection, memory_limit_mb: int | None) -> None:
    """Serve load/run requests on ``conn`` until it closes (or ``stop``)."""
    with contextlib.suppress(OSError):  # the pool starts us as a session leader already
        os.setsid()  # own process group, so the parent can kill anything we start
    _watch_parent(os.getppid())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if memory_limit_mb:
        limit = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    rewards: dict[str, Any] = {}
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        kind = message[0]
        if kind == "load":
            _, key, blob = message
            try:
                rewards[key] = pickle.loads(blob)
                conn.send(("loaded", key))
            except BaseException as exc:
                conn.send(("load_error", key, f"{type(exc).__name__}: {exc}"))
        elif kind == "run":
            _, key, items = message
            reward = rewards[key]
            for slot, sample, deps in items:
                conn.send(("result", slot, score_safely(reward, sample, deps)))
        elif kind == "batch":  # a model worker: one whole batch, one answer
            _, key, samples, deps = message
            conn.send(("batch_result", batch_safely(rewards[key], samples, deps)))
        elif kind == "stop":
            return
        else:  # pragma: no cover - protocol error
            print(f"rewardlab worker: unknown message {kind!r}", file=sys.stderr)
