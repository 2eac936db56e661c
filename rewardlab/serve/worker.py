"""The scoring process: the server's pipeline runs in a child process, not under the event loop's GIL.

The HTTP event loop (parsing, validation, JSON) and scoring then use two cores. If the child
dies mid-batch (a reward that segfaults or calls ``os._exit`` in process), the call raises
:class:`ScoringCrashed`, the child is restarted, and the micro-batcher retries each request
of that batch alone: a request that kills it again gets an error answer, the others their rows.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

from rewardlab.errors import RewardlabError
from rewardlab.main_guard import check_main_guard
from rewardlab.serve.scoring import Answer, Job


class ScoringCrashed(RuntimeError):
    """The scoring process died (it has been restarted).

    ``culprit`` is True for the batch it was scoring when it died, False for batches that were
    only queued behind it: those are retried without counting against them.
    """

    def __init__(self, message: str, culprit: bool) -> None:
        super().__init__(message)
        self.culprit = culprit


def _serve(conn: Any, spec: dict[str, Any], workers: int | None) -> None:
    # Ctrl-C and SIGTERM go to the parent; it drains requests and then tells this process to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from rewardlab.engine import Engine
    from rewardlab.pipeline import Pipeline
    from rewardlab.serve.scoring import answer_jobs
    from rewardlab.spec import load_spec

    try:
        parsed = load_spec(spec)
        engine = dict(parsed.engine)
        if workers is not None:
            engine["workers"] = workers
        pipeline = Pipeline(parsed, Engine(**engine))
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the server is gone
                break
            if message is None:
                break
            try:
                conn.send(("ok", answer_jobs(pipeline, message)))
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        pipeline.close()


class ScoringProcess:
    """A child process holding the pipeline.

    :meth:`score` blocks; two threads may call it at once: the second batch is sent while
    the first is being scored (the child takes them in order), so the child never waits for
    the event loop between batches.
    """

    def __init__(
        self, spec: dict[str, Any], workers: int | None = None, start_timeout: float = 120.0,
        on_restart: Callable[[], Any] | None = None,
    ) -> None:
        self.spec = spec
        self.on_restart = on_restart
        self.workers = workers
        self.start_timeout = start_timeout
        self.restarts = 0
        check_main_guard("the scoring process (serve with a process pipeline)")
        self._ctx = mp.get_context("spawn")
        self._send_lock = threading.Lock()
        self._turn = threading.Condition()
        self._generation = 0  # bumped at each restart: batches sent before it are lost
        self._next_ticket = 0  # order in which batches were sent
        self._serving = 0  # ticket whose answer is read next
        self._start()

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_serve, args=(child, self.spec, self.workers),
                                       name="rewardlab-scoring", daemon=False)
        self._proc.start()
        child.close()
        self._conn = parent
        if not parent.poll(self.start_timeout):
            self._proc.kill()
            raise RewardlabError(f"the scoring process did not start within {self.start_timeout:g} s")
        try:
            status, payload = parent.recv()
        except EOFError:
            raise RewardlabError(f"the scoring process exited at start (code {self._proc.exitcode})") from None
        if status != "ready":
            self._proc.join(5)
            raise RewardlabError(f"the scoring process could not build the pipeline: {payload}")

    def _crashed(self, exc: BaseException) -> ScoringCrashed:
        """Restart the child (caller holds ``_turn``); every batch sent to the dead one is lost."""
        with self._send_lock:
            self._proc.join(5)
            code = self._proc.exitcode
            self.restarts += 1
            if self.on_restart is not None:
                self.on_restart()
            with contextlib.suppress(OSError):
                self._conn.close()
            self._generation += 1
            self._next_ticket = self._serving = 0
            self._start()
        self._turn.notify_all()
        return ScoringCrashed(f"the scoring process died (exit code {code}) while scoring this batch; "
                              f"it was restarted ({type(exc).__name__})", culprit=True)

    def score(self, jobs: Sequence[Job]) -> list[Answer]:
        """Answers for a micro-batch of jobs, in order."""
        with self._send_lock:
            generation, ticket = self._generation, self._next_ticket
            self._next_ticket += 1
            try:
                self._conn.send(list(jobs))
                sent: BaseException | None = None
            except (OSError, ValueError) as exc:
                sent = exc
        with self._turn:
            while self._generation == generation and self._serving != ticket:
                self._turn.wait()
            if self._generation != generation:
                raise ScoringCrashed("the scoring process died while this batch was queued; it was restarted",
                                     culprit=False)
            try:
                if sent is not None:
                    raise sent
                status, payload = self._conn.recv()
            except (EOFError, OSError, ValueError) as exc:
                raise self._crashed(exc) from exc
            self._serving += 1
            self._turn.notify_all()
        if status != "ok":
            raise RuntimeError(payload)
        return list(payload)

    def close(self) -> None:
        with self._turn, self._send_lock:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(None)
            self._proc.join(30)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(5)
            self._conn.close()
