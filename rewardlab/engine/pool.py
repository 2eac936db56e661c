"""A warm process pool whose per-sample time limits are enforced from outside.

Why not ``concurrent.futures.ProcessPoolExecutor``: it cannot kill one stuck task
(a hung worker stalls the pool, and killing it breaks the executor), and
``signal.alarm`` timeouts only work in the main thread of the worker's caller. Here
the parent times every sample itself and SIGKILLs the worker's whole process group
when a sample runs past its limit, then starts a replacement. The dispatcher only
waits on pipes, so it behaves the same from the main thread, another thread, an
asyncio loop (via a thread) or a server.

Workers are fresh interpreters (``subprocess``: exec right after the fork, so they
inherit none of a trainer's memory, threads or CUDA state; started once, and again only
to replace a killed worker), and they never import the caller's
``__main__``: a script without an ``if __name__ == "__main__":`` guard works. Rewards
travel to them with cloudpickle, so one defined in ``__main__`` or a notebook works too.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle

from rewardlab.core import Deps, Sample, Score, Status

Item = tuple[int, Sample, Deps]
OnResult = Callable[[int, Score], None]


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    conn: Connection
    loaded: str | None = None
    loading: str | None = None
    load_deadline: float = 0.0
    chunk: deque[Item] = field(default_factory=deque)
    item_started: float = 0.0

    @property
    def busy(self) -> bool:
        return bool(self.chunk) or self.loading is not None


def _worker_env() -> dict[str, str]:
    """The caller's environment, with its import path, so workers import what it imports."""
    paths = [p for p in sys.path if p] + [os.getcwd()]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


def reward_key(reward: Any) -> str:
    cls = type(reward)
    return f"{cls.__module__}.{cls.__qualname__}:{getattr(reward, 'config_hash', id(reward))}"


def _reap(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    """Wait up to ``timeout`` s for a worker to end; its exit code (negative: signal) or None."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def spawn_worker(memory_limit_mb: int | None) -> tuple[subprocess.Popen[bytes], Connection]:
    """A fresh worker interpreter (see the module docstring) and the parent's end of its pipe."""
    parent, child = socket.socketpair()
    code = "import sys; from rewardlab.engine.worker import main; main(int(sys.argv[1]), int(sys.argv[2]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(child.fileno()), str(memory_limit_mb or 0)],
        pass_fds=[child.fileno()], stdin=subprocess.DEVNULL, start_new_session=True,
        env=_worker_env(),
    )
    child.close()
    return proc, Connection(parent.detach())


def kill_worker(proc: subprocess.Popen[bytes], conn: Connection) -> None:
    """SIGKILL a worker's process group (everything it started), reap it, close its pipe."""
    pid = proc.pid
    if pid is not None:
        for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            try:
                kill()
                break
            except (ProcessLookupError, PermissionError):
                continue
    _reap(proc, 5)
    conn.close()


class ProcessPool:
    """``workers`` warm processes; one :meth:`run` at a time (callers queue on a lock)."""

    def __init__(
        self,
        workers: int,
        memory_limit_mb: int | None = None,
        load_timeout: float = 120.0,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.size = workers
        self.memory_limit_mb = memory_limit_mb
        self.load_timeout = load_timeout
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self.replaced = 0  # workers killed or lost and replaced, for stats and tests

    # --- worker lifecycle ----------------------------------------------------------
    def _spawn(self) -> _Worker:
        return _Worker(*spawn_worker(self.memory_limit_mb))

    def _ensure_workers(self) -> None:
        """Workers up to ``size``, starting with replacements for any that died while no run watched them
        (killed from outside between runs, the OOM killer): the first message to one would raise
        BrokenPipeError out of :meth:`run` or :meth:`warm` (``poll`` is one non-blocking ``waitpid``)."""
        for w in [w for w in self._workers if w.proc.poll() is not None]:
            self._drop(w)  # reaps it and closes its pipe
            self.replaced += 1
        while len(self._workers) < self.size:
            self._workers.append(self._spawn())

    def _kill(self, w: _Worker) -> None:
        kill_worker(w.proc, w.conn)

    def _drop(self, w: _Worker) -> None:
        """Kill a worker whose chunk no run will read (the next run starts another): its late answers
        would otherwise be read by the next run, whose slots count from 0 again, as that run's scores."""
        self._kill(w)
        self._workers.remove(w)

    def _replace(self, w: _Worker, key: str, blob: bytes) -> None:
        self._kill(w)
        self.replaced += 1
        fresh = self._spawn()
        self._workers[self._workers.index(w)] = fresh
        self._send_load(fresh, key, blob)  # warm it up while the others work

    def _send_load(self, w: _Worker, key: str, blob: bytes) -> None:
        w.conn.send(("load", key, blob))
        w.loading = key
        w.load_deadline = time.monotonic() + self.load_timeout

    def close(self) -> None:
        """Stop the workers; one still loading a reward (:meth:`warm` before a run that had
        nothing to score) is killed at once rather than waited for."""
        with self._lock:
            for w in self._workers:
                with contextlib.suppress(OSError):
                    w.conn.send(("stop",))
            for w in self._workers:
                if w.loading is not None or _reap(w.proc, 1) is None:
                    self._kill(w)
            self._workers = []

    def warm(self, reward: Any) -> None:
        """Start the workers and send each idle one ``reward`` to load, without waiting for it.

        A worker's start and the reward's imports in it (math-verify, sympy: about a second)
        then run while the caller does its own setup; the next :meth:`run` of this reward
        waits for the loads still under way (under the same ``load_timeout``) instead of
        starting them.
        """
        key, blob = reward_key(reward), cloudpickle.dumps(reward)
        with self._lock:
            self._ensure_workers()
            for w in self._workers:
                if not w.busy and w.loaded != key:
                    self._send_load(w, key, blob)

    # --- scoring -------------------------------------------------------------------
    def run(self, reward: Any, items: Sequence[Item], timeout: float, on_result: OnResult) -> None:
        """Score ``items`` with ``reward.score_one`` in the workers.

        Each item's score is passed to ``on_result(slot, score)``. An item that runs
        past ``timeout`` seconds gets a ``timeout`` score and its worker is killed and
        replaced; an item whose worker dies gets an ``error`` score; the other items
        are re-queued and scored.
        """
        if not items:
            return
        key = reward_key(reward)
        blob = cloudpickle.dumps(reward)
        queue: deque[Item] = deque(items)
        with self._lock:
            self._ensure_workers()
            try:
                _Dispatch(self, key, blob, queue, timeout, on_result).loop()
            except BaseException:  # Ctrl-C, say: the chunks still being scored belong to no run now
                for w in [w for w in self._workers if w.chunk]:
                    self._drop(w)
                raise


class _Dispatch:
    """The state of one :meth:`ProcessPool.run` call."""

    def __init__(
        self, pool: ProcessPool, key: str, blob: bytes, queue: deque[Item],
        timeout: float, on_result: OnResult,
    ) -> None:
        self.pool, self.key, self.blob, self.queue = pool, key, blob, queue
        self.timeout, self.on_result = timeout, on_result
        self.load_failures = 0
        # One selector for the whole run, on the busy workers' pipes: multiprocessing's wait() and
        # Connection.poll() build a new one on every call (~8 us of the parent's time per result).
        self.selector = selectors.DefaultSelector()
        self.watched: dict[int, _Worker] = {}

    def loop(self) -> None:
        try:
            while self.queue or any(w.chunk for w in self.pool._workers):
                self._assign()
                active = [w for w in self.pool._workers if w.busy]
                if not active:
                    continue
                self._watch(active)
                now = time.monotonic()
                deadline = min(self._deadline(w) for w in active)
                for key, _ in self.selector.select(max(0.0, deadline - now)):
                    if any(w is key.data for w in self.pool._workers):  # not replaced meanwhile
                        self._drain(key.data)
                now = time.monotonic()
                for w in list(self.pool._workers):
                    if w.busy and now >= self._deadline(w):
                        self._expire(w)
        finally:
            self.selector.close()

    def _watch(self, active: list[_Worker]) -> None:
        """Keep the selector on exactly these workers' pipes (by descriptor: a replaced worker's pipe
        is closed, and its number may come back for its replacement's)."""
        wanted = {w.conn.fileno(): w for w in active}
        for fd, w in list(self.watched.items()):
            if wanted.get(fd) is not w:
                self.selector.unregister(fd)
                del self.watched[fd]
        for fd, w in wanted.items():
            if fd not in self.watched:
                self.selector.register(fd, selectors.EVENT_READ, w)
                self.watched[fd] = w

    def _deadline(self, w: _Worker) -> float:
        return w.load_deadline if w.loading else w.item_started + self.timeout

    def _assign(self) -> None:
        for w in self.pool._workers:
            if not self.queue:
                return
            if w.busy:
                continue
            if w.loaded != self.key:
                self.pool._send_load(w, self.key, self.blob)
                continue
            chunk = [self.queue.popleft() for _ in range(self._chunk_size())]
            w.conn.send(("run", self.key, chunk))
            w.chunk = deque(chunk)
            w.item_started = time.monotonic()

    def _chunk_size(self) -> int:
        """Guided self-scheduling: big chunks while much is left, single items at the end.

        Fewer messages per sample early on, and no worker left idle while another
        finishes a long last chunk (a tail imbalance of up to one chunk otherwise).
        """
        return max(1, min(32, len(self.queue) // (2 * self.pool.size)))

    def _drain(self, w: _Worker) -> None:
        """Handle every message the worker has sent (called when its pipe is readable)."""
        try:
            while True:
                self._handle(w, w.conn.recv())
                if not any(key.data is w for key, _ in self.selector.select(0)):
                    return
        except (EOFError, OSError):
            self._died(w)

    def _handle(self, w: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "loaded":
            w.loaded, w.loading = message[1], None
        elif kind == "load_error":
            w.loading = None
            if message[1] == self.key:  # else another reward's load (from warm) failed: _assign sends ours
                self._fail_all(f"the reward could not be loaded in a worker: {message[2]}")
        elif kind == "result":
            slot, score = message[1], message[2]
            if not w.chunk or w.chunk[0][0] != slot:
                return  # not an item this worker has of this run (none should come: see ProcessPool._drop)
            w.chunk.popleft()
            self.on_result(slot, score)
            w.item_started = time.monotonic()

    def _requeue_rest(self, w: _Worker) -> None:
        self.queue.extendleft(reversed(w.chunk))
        w.chunk = deque()

    def _expire(self, w: _Worker) -> None:
        if w.loading == self.key:
            self._fail_all(f"the reward did not load within {self.pool.load_timeout:g} s")
        elif w.chunk:
            slot = w.chunk.popleft()[0]
            self.on_result(slot, Score(
                None, Status.TIMEOUT,
                {"reason": f"exceeded the {self.timeout:g} s limit; the worker was killed",
                 "limit_s": self.timeout},
                self.timeout,
            ))
            self._requeue_rest(w)
        self.pool._replace(w, self.key, self.blob)

    def _died(self, w: _Worker) -> None:
        code = _reap(w.proc, 5)
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        if w.loading:
            self.load_failures += w.loading == self.key  # another reward's load (from warm) is not ours
            w.loading = None
            if self.load_failures >= 2:
                self._fail_all(f"workers died while loading the reward ({how})")
        elif w.chunk:
            slot = w.chunk.popleft()[0]
            reason = f"the worker process died while scoring this sample ({how})"
            self.on_result(slot, Score.unscorable(Status.ERROR, reason))
            self._requeue_rest(w)
        self.pool._replace(w, self.key, self.blob)

    def _fail_all(self, reason: str) -> None:
        """Fail every item not yet scored; a worker still scoring a chunk is dropped (:meth:`ProcessPool._drop`)."""
        items = list(self.queue)
        for w in list(self.pool._workers):
            if w.chunk:
                items.extend(w.chunk)
                self.pool._drop(w)
        self.queue.clear()
        for slot, _, _ in items:
            self.on_result(slot, Score.unscorable(Status.ERROR, reason))
