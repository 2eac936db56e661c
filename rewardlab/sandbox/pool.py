"""Caller side: a pool of fork servers and the :class:`Run` handle for one program.

The servers are fresh interpreters (``python -I``) started with a scrubbed
environment; programs are forked from them, never from the caller. A server that
stops answering is killed and replaced, and the affected run reports an
infrastructure error (unscorable), never a verdict.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import select
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rewardlab.errors import SandboxUnavailable
from rewardlab.sandbox import channel
from rewardlab.sandbox.limits import Limits

_LEN = struct.Struct("<I")
_SECS = struct.Struct("<d")
GRACE_S = 10.0  # how long past a run's own deadline the server may take to answer

DEFAULT_PRELOAD = (
    "math", "cmath", "re", "string", "collections", "collections.abc", "itertools",
    "functools", "operator", "heapq", "bisect", "random", "statistics", "fractions",
    "decimal", "typing", "dataclasses", "copy", "json", "datetime", "hashlib", "enum",
    "array", "numbers", "textwrap", "unicodedata", "io", "sys", "os", "time",
)


class InfraError(RuntimeError):
    """The sandbox machinery (not the program) failed: the sample is unscorable."""


@dataclass
class Outcome:
    """What one request produced. ``kind``: ok, exception, timeout, crash."""

    kind: str
    value: Any = None
    stdout: str = ""
    truncated: bool = False
    error: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


class ForkServer:
    """Handle on one fork-server process."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        # Load only the sandbox modules: stub packages keep rewardlab/__init__ (and pydantic)
        # out of the server, whose size every fork pays for.
        boot = (
            "import sys, types\n"
            "for name in ('rewardlab', 'rewardlab.sandbox'):\n"
            "    m = types.ModuleType(name)\n"
            "    m.__path__ = [sys.argv[2] + '/' + name.replace('.', '/')]\n"
            "    sys.modules[name] = m\n"
            "from rewardlab.sandbox.forkserver import main\n"
            "main()\n"
        )
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1",
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", boot, json.dumps(config), root],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd="/", close_fds=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.w = self.proc.stdin.fileno()
        self.r = self.proc.stdout.fileno()
        _kind, hello = self.recv(60.0)
        if hello.get("ev") == "unavailable":
            self.close()
            raise SandboxUnavailable(
                "rewardlab's sandbox refuses to run untrusted code: this kernel lacks "
                + "; ".join(hello.get("missing", []))
                + ". Fix the host, or pass unsafe_weak_isolation=True to run with rlimits only "
                "(NOT a security boundary)."
            )
        if hello.get("ev") != "hello":
            self.close()
            raise InfraError(f"fork server failed to start: {hello}")
        self.features = hello["features"]

    def send(self, message: dict[str, Any]) -> None:
        try:
            data = channel.pack(message)
            view = memoryview(data)
            while view:
                view = view[os.write(self.w, view) :]
        except OSError as exc:
            raise InfraError(f"fork server is gone: {exc}") from None

    def recv(self, timeout: float) -> tuple[str, dict[str, Any]]:
        """One frame: ('E', event) or ('R', {"elapsed": s, "reply": {...}})."""
        if not select.select([self.r], [], [], timeout)[0]:
            raise InfraError(f"fork server did not answer within {timeout:.1f} s")
        try:
            (size,) = _LEN.unpack(channel.read_exact(self.r, _LEN.size))
            body = channel.read_exact(self.r, size)
        except (EOFError, OSError) as exc:
            raise InfraError(f"fork server died: {exc}") from None
        if body[:1] == b"E":
            return "E", json.loads(body[1:])
        (elapsed,) = _SECS.unpack_from(body, 1)
        try:
            reply = channel.parse(body[1 + _SECS.size :])
        except channel.DecodeError as exc:
            reply = {"exc": {"type": "ChannelError", "message": str(exc)[:200]}}
        return "R", {"elapsed": elapsed, "reply": reply}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        """EOF first (the server removes its cgroup and exits), then SIGKILL."""
        with contextlib.suppress(Exception):
            self.proc.stdin.close()  # type: ignore[union-attr]
            self.proc.wait(1.0)
        with contextlib.suppress(Exception):
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(5)
        for f in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(Exception):
                f.close()  # type: ignore[union-attr]


class Run:
    """One program in one fresh fork. Requests are answered in order."""

    def __init__(self, server: ForkServer, limits: Limits, init_outcome: Outcome) -> None:
        self.server = server
        self.limits = limits
        self.finished = False
        self.init = init_outcome
        self.next_id = 1
        if init_outcome.kind != "ok":
            self.finished = init_outcome.kind in ("timeout", "crash")

    def _request(self, req: dict[str, Any], timeout: float | None) -> Outcome:
        if self.finished:
            return Outcome("crash", error={"type": "NotRun", "message": "the run already ended"})
        req["id"] = self.next_id
        self.next_id += 1
        t = min(timeout or self.limits.timeout, self.limits.timeout)
        self.server.send({"op": "req", "req": req, "timeout": t})
        return self._await(t)

    def _await(self, timeout: float) -> Outcome:
        kind, msg = self.server.recv(timeout + GRACE_S)
        if kind == "R":
            return _reply_outcome(msg["reply"], msg["elapsed"])
        self.finished = True
        ev = msg.get("ev")
        if ev == "timeout":
            return Outcome("timeout", error={"type": "Timeout", "message": msg.get("scope", "")})
        if ev == "exit":
            return Outcome("crash", error={"type": "Crash", "message": msg.get("reason", "")})
        if ev == "error":
            raise InfraError(msg.get("reason", "fork server error"))
        raise InfraError(f"unexpected event from the fork server: {msg}")

    def call(self, fn: str, args: list[Any], kwargs: dict[str, Any] | None = None,
             timeout: float | None = None) -> Outcome:
        """Call ``fn(*args, **kwargs)`` in the sandbox; the result comes back as plain data."""
        try:
            payload = {"op": "call", "fn": fn, "args": channel.encode(list(args)),
                       "kwargs": channel.encode(dict(kwargs or {}))}
        except channel.EncodeError as exc:
            return Outcome("exception", error={"type": "UnsupportedArgument", "message": str(exc)})
        return self._request(payload, timeout)

    def stdio(self, text: str, timeout: float | None = None) -> Outcome:
        """Run the program as ``__main__`` with ``text`` on stdin; capture its stdout."""
        return self._request({"op": "stdio", "input": text}, timeout)

    def end(self) -> dict[str, Any]:
        if self.finished:
            return {}
        self.finished = True
        self.server.send({"op": "end"})
        kind, msg = self.server.recv(GRACE_S)
        while kind == "R":  # late replies of an abandoned request
            kind, msg = self.server.recv(GRACE_S)
        return msg


def _reply_outcome(reply: dict[str, Any], elapsed: float) -> Outcome:
    exc = reply.get("exc")
    if exc:
        err = {k: str(v)[:300] for k, v in exc.items()} if isinstance(exc, dict) else {}
        return Outcome("exception", error=err, elapsed=elapsed,
                       stdout=str(reply.get("stdout", "")), truncated=bool(reply.get("truncated")))
    if "value" in reply:
        try:
            return Outcome("ok", value=channel.decode(reply["value"]), elapsed=elapsed)
        except (channel.DecodeError, RecursionError) as e:
            return Outcome("exception", error={"type": "ChannelError", "message": str(e)[:200]})
    if "stdout" in reply:
        out = reply["stdout"]
        if not isinstance(out, str):
            return Outcome("exception", error={"type": "ChannelError", "message": "bad stdout"})
        return Outcome("ok", stdout=out, truncated=bool(reply.get("truncated")), elapsed=elapsed)
    if reply.get("ok") is True:
        return Outcome("ok", elapsed=elapsed)
    return Outcome("exception", error={"type": "ChannelError", "message": "malformed reply"})


class SandboxPool:
    """``size`` fork servers; :meth:`run` lends one for one program."""

    def __init__(self, size: int = 2, scratch_mb: int = 64,
                 preload: tuple[str, ...] = DEFAULT_PRELOAD,
                 unsafe_weak_isolation: bool = False, min_landlock_abi: int = 0) -> None:
        self.size = size
        self.config = {"scratch_mb": scratch_mb, "preload": list(preload),
                       "unsafe_weak_isolation": unsafe_weak_isolation,
                       "min_landlock_abi": min_landlock_abi}
        self.idle: queue.Queue[ForkServer] = queue.Queue()
        self.lock = threading.Lock()
        self.started = 0
        self.all: list[ForkServer] = []
        self.closed = False

    @property
    def features(self) -> dict[str, Any]:
        with self._server() as server:
            return dict(server.features)

    @contextlib.contextmanager
    def _server(self) -> Iterator[ForkServer]:
        server = self._acquire()
        broken = False
        try:
            yield server
        except BaseException:
            broken = True
            raise
        finally:
            if broken or not server.alive():
                self._discard(server)
            else:
                self.idle.put(server)

    def _acquire(self) -> ForkServer:
        with self.lock:
            if self.closed:
                raise InfraError("sandbox pool is closed")
            if self.idle.empty() and self.started < self.size:
                self.started += 1
                try:
                    server = ForkServer(self.config)
                except BaseException:
                    self.started -= 1
                    raise
                self.all.append(server)
                return server
        return self.idle.get()

    def _discard(self, server: ForkServer) -> None:
        server.close()
        with self.lock:
            self.started -= 1
            if server in self.all:
                self.all.remove(server)

    @contextlib.contextmanager
    def run(self, code: str, limits: Limits, setup: str = "", mode: str = "function") -> Iterator[Run]:
        """One program in a fresh fork; all its tests are requests on the yielded :class:`Run`."""
        with self._server() as server:
            server.send({"op": "run", "limits": limits.to_dict(),
                         "init": {"code": code, "setup": setup, "mode": mode}})
            kind, msg = server.recv(limits.timeout + GRACE_S)
            if kind == "E" and msg.get("ev") == "error":
                if msg.get("unavailable"):
                    raise SandboxUnavailable(msg.get("reason", ""))
                raise InfraError(msg.get("reason", "sandbox refused the run"))
            if kind == "R":
                init = _reply_outcome(msg["reply"], msg["elapsed"])
            elif msg.get("ev") == "timeout":
                init = Outcome("timeout", error={"type": "Timeout", "message": "while loading"})
            elif msg.get("ev") == "exit":
                init = Outcome("crash", error={"type": "Crash", "message": msg.get("reason", "")})
            else:
                raise InfraError(f"unexpected event from the fork server: {msg}")
            handle = Run(server, limits, init)
            try:
                yield handle
            finally:
                handle.end()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            servers, self.all = self.all, []
        for server in servers:
            server.close()


_pools: dict[tuple[Any, ...], SandboxPool] = {}
_pools_lock = threading.Lock()


def shared_pool(size: int = 2, unsafe_weak_isolation: bool = False) -> SandboxPool:
    """A process-wide pool per configuration, closed at exit."""
    key = (size, unsafe_weak_isolation)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None or pool.closed:
            pool = _pools[key] = SandboxPool(size, unsafe_weak_isolation=unsafe_weak_isolation)
        return pool


@atexit.register
def _close_pools() -> None:
    for pool in list(_pools.values()):
        pool.close()
