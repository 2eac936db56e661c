"""Dedicated processes that own the models of ``model``-class rewards.

A model reward with ``placement = "worker"`` (the default) is scored in a process of
its own, started the same way as the pool's workers (a fresh interpreter, no state
inherited from the trainer) and kept warm: the trainer's process never holds a
second model by accident, and a model that crashes its process (a CUDA fault, an
out-of-memory kill) costs ``error`` rows for that batch, not the run. The next batch
starts a fresh worker. Rewards with the same ``worker_key`` (the same models) share
one worker, which loads each model once.

The whole (deduplicated) batch goes to the worker in one message, so the model
runtime can bucket it by length. The parent waits up to ``load_timeout`` plus the
per-sample limit times the batch size, then kills the worker (``timeout`` rows).
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle

from rewardlab.core import Deps, Sample, Score, Status
from rewardlab.engine.pool import _reap, kill_worker, reward_key, spawn_worker


@dataclass
class _Proc:
    proc: subprocess.Popen[bytes]
    conn: Connection
    loaded: set[str]


class ModelWorkers:
    """One warm process per ``worker_key``; :meth:`run` sends it a batch and waits."""

    def __init__(self, load_timeout: float = 120.0) -> None:
        self.load_timeout = load_timeout
        self._procs: dict[str, _Proc] = {}
        self._lock = threading.Lock()
        self.restarts = 0  # workers lost and replaced, for stats and tests

    def pid(self, key: str) -> int | None:
        proc = self._procs.get(key)
        return proc.proc.pid if proc is not None else None

    def run(self, reward: Any, samples: Sequence[Sample], deps: Sequence[Deps], limit: float) -> list[Score]:
        """Score ``samples`` with ``reward.score_batch`` in the reward's model worker."""
        if not samples:
            return []
        key = str(getattr(reward, "worker_key", reward_key(reward)))
        with self._lock:
            worker = self._procs.get(key)
            if worker is None:
                worker = self._procs[key] = _Proc(*spawn_worker(None), set())
            deadline = time.monotonic() + self.load_timeout + limit * len(samples)
            try:
                return self._call(worker, reward, list(samples), list(deps), deadline)
            except _Lost as lost:
                self._drop(key)
                return [Score.unscorable(lost.status, lost.reason) for _ in samples]

    def _call(self, w: _Proc, reward: Any, samples: list[Sample], deps: list[Deps],
              deadline: float) -> list[Score]:
        rkey = reward_key(reward)
        try:
            if rkey not in w.loaded:
                w.conn.send(("load", rkey, cloudpickle.dumps(reward)))
                reply = self._recv(w, deadline)
                if reply[0] == "load_error":
                    raise _Lost(Status.ERROR, f"the model reward could not be loaded in its worker: {reply[2]}")
                w.loaded.add(rkey)
            w.conn.send(("batch", rkey, samples, deps))
            reply = self._recv(w, deadline)
        except (EOFError, OSError):
            code = _reap(w.proc, 5)
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            raise _Lost(Status.ERROR, f"the model worker process died while scoring this batch ({how}); "
                        "a fresh worker is started for the next batch") from None
        return list(reply[1])

    def _recv(self, w: _Proc, deadline: float) -> Any:
        if not w.conn.poll(max(0.0, deadline - time.monotonic())):
            raise _Lost(Status.TIMEOUT, "the model worker did not answer in time; it was killed and is "
                        "restarted for the next batch")
        return w.conn.recv()

    def _drop(self, key: str) -> None:
        w = self._procs.pop(key)
        kill_worker(w.proc, w.conn)
        self.restarts += 1

    def close(self) -> None:
        with self._lock:
            for w in self._procs.values():
                with contextlib.suppress(OSError):
                    w.conn.send(("stop",))
            for w in self._procs.values():
                if _reap(w.proc, 2) is None:
                    kill_worker(w.proc, w.conn)
                else:
                    w.conn.close()
            self._procs = {}


class _Lost(Exception):
    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason
