"""Caller side: a pool of fork servers and the :class:`Run` handle for one program.

The servers are fresh interpreters (``python -I``) started with a scrubbed
environment; programs are forked from them, never from the caller. After each run a
server offers the next confined child, handing over its two pipes; the caller keeps
the offer until its next run on that server and then exchanges requests and
plain-data replies with the child directly. A server that stops answering is killed
and replaced: a run whose program had not loaded yet starts again on another; one
whose program had loaded (or that lost a server on every try) ends as a crash, that
program's failure (:data:`SERVER_LOST`); a server that died between runs is replaced
before the next run starts.
"""

from __future__ import annotations

import array
import atexit
import contextlib
import functools
import json
import marshal
import os
import queue
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rewardlab.errors import SandboxUnavailable
from rewardlab.sandbox import channel
from rewardlab.sandbox.limits import Limits

_LEN = struct.Struct("<I")
_BEGIN = channel.pack({"op": "begin"})
GRACE_S = 10.0  # how long past a run's own deadline the server may take to answer
# Per read from a run's pipe: os.read allocates this much up front, and 1 MiB would be
# an mmap + munmap per reply; a pipe holds 64 KiB, larger frames take several reads.
_READ_SIZE = 1 << 16

# Pre-imported by each fork server. Every megabyte here is paid by every fork (page
# tables, copy-on-write, teardown): hashlib (OpenSSL, ~4 MB) and dataclasses (which
# loads inspect, ast and dis: 1.4 MB) are left to the programs that import them.
DEFAULT_PRELOAD = (
    "math", "cmath", "re", "string", "collections", "collections.abc", "itertools",
    "functools", "operator", "heapq", "bisect", "random", "statistics", "fractions",
    "decimal", "typing", "copy", "json", "datetime", "enum",
    "array", "numbers", "textwrap", "unicodedata", "io", "sys", "os", "time",
)


class InfraError(RuntimeError):
    """The sandbox machinery (not the program) failed: the sample is unscorable."""


class ServerLost(InfraError):
    """A fork server died or stopped answering."""


# The crash message of a run whose fork server was lost once its program had loaded, or
# on every try (see Run._finish): scored as the run's failure, not an infrastructure error.
SERVER_LOST = "the fork server was lost during this run"


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
    """Handle on one fork-server process (control messages over a unix socket)."""

    def __init__(self, config: dict[str, Any]) -> None:
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
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LD_BIND_NOW": "1", "OPENBLAS_NUM_THREADS": "1",
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.config = dict(config, sock_fd=theirs.fileno())
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", boot, json.dumps(self.config), root],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env, cwd="/",
            close_fds=True, pass_fds=(theirs.fileno(),),
        )
        theirs.close()
        self.fd = self.sock.fileno()
        # Frames the server has sent or will send that are not read yet, in order: the
        # final event of a run that ended normally ("final") and the next offer ("offer").
        self.expect: list[str] = []
        self.offer: tuple[int, int] | None = None  # an offered process's channel (w, r)
        self.offer_pid = -1  # its pid (as the caller sees it: the runs have their own)
        # the run frame whose limits the offered process has (or, once a run has started,
        # the next offer will have: the server offers with the limits of the run it ended)
        self.offer_key = b""
        self.to_close: tuple[int, ...] = ()  # pipe ends of the last run, closed once it is dead
        hello = self.recv(60.0)
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
        self._sendall(channel.pack(message))

    def _sendall(self, frame: bytes) -> None:
        try:
            self.sock.sendall(frame)
        except OSError as exc:
            raise ServerLost(f"fork server is gone: {exc}") from None

    def recv(self, timeout: float) -> dict[str, Any]:
        """One event frame from the server."""
        if not select.select([self.fd], [], [], timeout)[0]:
            raise ServerLost(f"fork server did not answer within {timeout:.1f} s")
        try:
            (size,) = _LEN.unpack(channel.read_exact(self.fd, _LEN.size))
            body = channel.read_exact(self.fd, size)
        except (EOFError, OSError) as exc:
            raise ServerLost(f"fork server died: {exc}") from None
        return dict(json.loads(body[1:]))

    def recv_started(self, timeout: float) -> tuple[dict[str, Any], list[int]]:
        """The ``started`` event with the run's channel descriptors attached."""
        if not select.select([self.fd], [], [], timeout)[0]:
            raise ServerLost(f"fork server did not answer within {timeout:.1f} s")
        try:
            data, fds = _recv_with_fds(self.sock)
            if not data:
                raise EOFError("closed")
            (size,) = _LEN.unpack_from(data)
            if len(data) < _LEN.size + size:
                data += channel.read_exact(self.fd, _LEN.size + size - len(data))
        except (EOFError, OSError) as exc:
            raise ServerLost(f"fork server died: {exc}") from None
        return dict(json.loads(data[_LEN.size + 1 : _LEN.size + size])), list(fds)

    def settle(self) -> None:
        """Read what the server sent after the last run: its final event, if it was not
        awaited (a normal end), and the offer of the next process."""
        while self.expect:
            if self.expect[0] == "final":
                self.recv(GRACE_S)
                self.close_finished()
            else:
                self._keep_offer(*self.recv_started(GRACE_S))
            self.expect.pop(0)

    def close_finished(self) -> None:
        """Close the pipe ends of a run the server has reported ended."""
        fds, self.to_close = self.to_close, ()
        _close_fds(fds)

    def _keep_offer(self, msg: dict[str, Any], fds: list[int]) -> None:
        if msg.get("ev") != "started" or len(fds) != 2:
            _close_fds(fds)
            raise InfraError(f"unexpected event from the fork server: {msg}")
        self.drop_offer()
        self.offer = (fds[0], fds[1])
        self.offer_pid = int(msg.get("pid", -1))

    def drop_offer(self) -> None:
        """Close our ends of an offered process we will not use (the server kills it)."""
        if self.offer is not None:
            _close_fds(self.offer)
            self.offer = None

    def take_offer(self, limits: Limits) -> tuple[int, int]:
        """The channel of a confined process with these limits, asking for one if the
        offered process has other limits; the run starts (the server's clock) now."""
        key = _run_frame(limits)
        if self.offer is None or self.offer_key != key:
            self.drop_offer()
            self._sendall(key)
            msg, fds = self.recv_started(GRACE_S)
            if msg.get("ev") == "error":
                _close_fds(fds)
                if msg.get("unavailable"):
                    raise SandboxUnavailable(msg.get("reason", ""))
                raise InfraError(msg.get("reason", "sandbox refused the run"))
            self._keep_offer(msg, fds)
        assert self.offer is not None
        channel_fds, self.offer = self.offer, None
        self.offer_key = key  # the offer after this run will have its limits
        try:
            self._sendall(_BEGIN)
        except InfraError:
            _close_fds(channel_fds)
            raise
        return channel_fds

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        """EOF first (the server removes its cgroup and exits), then SIGKILL."""
        self.drop_offer()
        self.close_finished()
        with contextlib.suppress(Exception):
            self.sock.shutdown(socket.SHUT_WR)
            self.proc.wait(1.0)
        with contextlib.suppress(Exception):
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(5)
        with contextlib.suppress(Exception):
            self.sock.close()


class Run:
    """One program in one fresh fork; the caller talks to the confined child directly.

    Requests go down one pipe, replies come up the other as plain-data frames whose id
    must match the pending request (anything else is dropped). The per-test deadline is
    enforced here by ending the run (the server then SIGKILLs it); the run's total
    wall-clock limit is enforced by the server.
    """

    def __init__(self, server: ForkServer, limits: Limits, w: int, r: int,
                 last_chance: bool = False) -> None:
        self.server, self.limits, self.w, self.r = server, limits, w, r
        # the program has loaded (its init reply arrived); before that, a lost server
        # makes the pool start the run again elsewhere, unless this is the last try
        self.loaded = False
        self.last_chance = last_chance
        self.pid = server.offer_pid  # the run's process, as the caller's /proc names it
        self.frames = channel.FrameBuffer((limits.output_mb << 20) + (1 << 20))
        self.pending: list[bytes] = []
        self.confined = False
        self.finished = False
        self.final: dict[str, Any] = {}
        self.next_id = 1
        self.batch: _Batch | None = None  # calls sent ahead (prefetch)
        os.set_blocking(w, False)
        self.init = Outcome("ok")

    def start(self, source: str, mode: str,
              prefetch: tuple[str, list[tuple[list[Any], dict[str, Any]]]] | None = None) -> None:
        """Load the program; with ``prefetch``, send that batch of calls in the same write
        (see :meth:`prefetch`), so the child goes on to them without waiting for us."""
        frame = channel.dump_request(("init", 0, source, mode))
        batch = self._batch_frame(*prefetch) if prefetch else None
        if batch is not None:
            frame += batch
        self.init = self._exchange(0, frame, self.limits.timeout)
        self.loaded = True
        if self.batch is not None:
            self.batch.last = time.perf_counter()

    # --- the channel -----------------------------------------------------------------------
    def _write(self, data: bytes, deadline: float) -> bool:
        view = memoryview(data)
        while True:
            try:  # the fd is non-blocking: try first, wait only when the pipe is full
                view = view[os.write(self.w, view) :]
            except BlockingIOError:
                pass
            except BrokenPipeError:
                return True  # the child is gone; reading will see EOF
            if not view:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([], [self.w], [], remaining)[1]:
                return False

    def _exchange(self, rid: int, request: bytes, timeout: float) -> Outcome:
        """Send one request frame and wait for its reply, or end the run (timeout, crash)."""
        if self.finished:
            return _not_run()
        started = time.perf_counter()
        deadline = time.monotonic() + timeout
        if not self._write(request, deadline):
            return self._end_with("timeout")
        return self._await(rid, deadline, started)

    def _await(self, rid: int, deadline: float, started: float) -> Outcome:
        """Wait for the reply with id ``rid``: frames before it are dropped (stale), frames
        after it are kept (the next answers of a batch)."""
        while True:
            for i, body in enumerate(self.pending):
                if self.confined and channel.reply_id(body) not in (rid, None):
                    continue  # stale (or ahead of its turn): never decoded
                try:
                    reply = channel.load_reply(body)
                except channel.DecodeError as exc:
                    if not self.confined:
                        self._finish("setup")
                        raise InfraError(f"sandbox setup failed: {exc}") from None
                    return self._end_with(f"result channel: {exc}")
                if not self.confined:
                    if reply[1] != "confined":
                        self._finish("setup")
                        raise InfraError(f"sandbox setup failed: {str(reply[2])[:300]}")
                    self.confined = True
                elif reply[0] == rid:
                    self.pending = self.pending[i + 1 :]
                    return _reply_outcome(reply[1], reply[2], time.perf_counter() - started)
            self.pending = []
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.r], [], [], remaining)[0]:
                return self._end_with("timeout")
            data = os.read(self.r, _READ_SIZE)
            if not data:
                if not self.confined:
                    self._finish("setup")
                    raise InfraError(f"sandbox setup failed: {self.final}")
                return self._end_with("eof")
            try:
                self.pending = self.frames.feed(data)
            except channel.DecodeError as exc:
                return self._end_with(f"result channel: {exc}")

    def _end_with(self, reason: str) -> Outcome:
        ev = self._finish(reason)
        if ev.get("ev") == "timeout":
            return Outcome("timeout", error={"type": "Timeout", "message": ev.get("scope", "")})
        if ev.get("ev") == "exit":
            return Outcome("crash", error={"type": "Crash", "message": ev.get("reason", "")})
        raise InfraError(f"unexpected event from the fork server: {ev}")

    def _finish(self, reason: str) -> dict[str, Any]:
        """End the run: the server kills it and reports how it ended.

        After a normal end (every reply arrived) nothing in the report can change the
        outcome, so the caller does not wait for it: the server's next user reads it
        first (:meth:`ForkServer.settle`). Any other end waits for the report.
        """
        if self.finished:
            return self.final
        self.finished = True
        try:
            return self._report(reason)
        except ServerLost as exc:
            if not self.loaded and not self.last_chance:
                raise  # nothing of the program was seen: the pool starts it again elsewhere
            # The run's server was lost (gone or hung; the pool replaces it) while the
            # program ran, or each time it was tried: what ran there is the program, so
            # this is its failure (scored), like a crash, not the machinery's.
            self.server.close()  # closes our pipe ends too (to_close), if the send did not
            self.final = {"ev": "exit", "reason": f"{SERVER_LOST}: {exc}"}
            return self.final

    def _report(self, reason: str) -> dict[str, Any]:
        try:
            self.server.send({"op": "end", "reason": reason})
        except BaseException:
            _close_fds((self.w, self.r))
            raise
        # Our pipe ends are closed only once the server has killed the process: closed
        # earlier, they would wake the child with EOF and it would exit on its own, a
        # teardown the server then waits for before it answers "end".
        self.server.to_close += (self.w, self.r)
        if reason == "done":
            self.server.expect += ["final", "offer"]
            self.final = {"ev": "done"}
        else:
            self.final = self.server.recv(GRACE_S)
            self.server.close_finished()
            self.server.expect.append("offer")
        return self.final

    # --- requests ----------------------------------------------------------------------------
    def _request(self, request: tuple[Any, ...], timeout: float | None) -> Outcome:
        rid = self.next_id
        self.next_id += 1
        frame = channel.dump_request((request[0], rid, *request[1:]))
        return self._exchange(rid, frame, min(timeout or self.limits.timeout, self.limits.timeout))

    def call(self, fn: str, args: list[Any], kwargs: dict[str, Any] | None = None,
             timeout: float | None = None) -> Outcome:
        """Call ``fn(*args, **kwargs)`` in the sandbox; the result comes back as plain data."""
        args, kwargs = list(args), dict(kwargs or {})
        try:
            channel.check_plain(args)
            channel.check_plain(kwargs)
        except channel.EncodeError as exc:
            return Outcome("exception", error={"type": "UnsupportedArgument", "message": str(exc)})
        batch = self.batch
        if batch is not None:
            if batch.keys and batch.keys[0] == _call_key(fn, args, kwargs):
                return self._batched(batch, timeout)
            self.batch = None  # the test went another way: the rest of the batch is dropped
        return self._request(("call", fn, args, kwargs), timeout)

    def prefetch(self, fn: str, calls: list[tuple[list[Any], dict[str, Any]]]) -> None:
        """Send, in one request, calls the trusted test code is sure to make next, in order.

        The child answers them one frame each and stops at the first exception, as the
        test code making them one by one would. Nothing is decided here: an answer is
        used only when the test code then makes that very call (same function, same
        arguments of the same types; :meth:`call`), so a wrong plan costs time, never a
        verdict. The candidate sees the same calls in the same order either way.
        """
        if self.finished:
            return
        frame = self._batch_frame(fn, calls)
        if frame is not None and not self._write(frame, time.monotonic() + self.limits.timeout):
            self._end_with("timeout")

    def _batch_frame(self, fn: str, calls: list[tuple[list[Any], dict[str, Any]]]) -> bytes | None:
        """The request frame of a batch, now the pending batch; None if there is nothing
        to send (no calls, a batch already pending, arguments that are not plain data)."""
        if self.batch is not None or not calls:
            return None
        try:
            for args, kwargs in calls:
                channel.check_plain(args)
                channel.check_plain(kwargs)
        except channel.EncodeError:
            return None
        rid = self.next_id
        self.next_id += len(calls)
        keys = [_call_key(fn, args, kwargs) for args, kwargs in calls]
        self.batch = _Batch(rid, keys, time.perf_counter())
        return channel.dump_request(("calls", rid, fn, calls))

    @property
    def prefetched_unused(self) -> bool:
        """Batched calls were sent that the test code has not made (the child may still be
        running them)."""
        return self.batch is not None and bool(self.batch.keys)

    def _batched(self, batch: _Batch, timeout: float | None) -> Outcome:
        """The answer to the next batched call, timed from the previous answer."""
        if self.finished:
            return _not_run()
        batch.keys.pop(0)
        rid, batch.next_id = batch.next_id, batch.next_id + 1
        if not batch.keys:
            self.batch = None  # all used: the next test may send its own
        limit = min(timeout or self.limits.timeout, self.limits.timeout)
        out = self._await(rid, time.monotonic() + limit, batch.last)
        batch.last = time.perf_counter()
        if out.kind != "ok":
            self.batch = None  # the child stopped the batch here
        return out

    def stdio(self, text: str, timeout: float | None = None) -> Outcome:
        """Run the program as ``__main__`` with ``text`` on stdin; capture its stdout."""
        return self._request(("stdio", str(text)), timeout)

    def end(self) -> dict[str, Any]:
        return self._finish("done")


@dataclass
class _Batch:
    """Calls sent ahead: the id of the next answer, the keys of the calls not yet made,
    when the previous answer was used (or the batch sent)."""

    next_id: int
    keys: list[bytes]
    last: float


def _call_key(fn: str, args: list[Any], kwargs: dict[str, Any]) -> bytes:
    """A call's identity: marshal version 2 tells ``1``, ``1.0`` and ``True`` apart."""
    return marshal.dumps((fn, args, kwargs), 2)


@functools.lru_cache(maxsize=64)
def _run_frame(limits: Limits) -> bytes:
    """The ``run`` frame for these limits (built once: the caller sends it per program)."""
    return channel.pack({"op": "run", "limits": limits.to_dict()})


def _recv_with_fds(sock: socket.socket) -> tuple[bytes, list[int]]:
    """One read from the server, with the descriptors attached to it, close-on-exec.

    Not ``socket.recv_fds``: it does not pass its ``flags`` on (CPython 3.11), and a
    caller that later starts a subprocess must not hand it a run's pipes.
    """
    size = socket.CMSG_LEN(2 * array.array("i").itemsize)
    data, ancdata, _flags, _addr = sock.recvmsg(1 << 16, size, socket.MSG_CMSG_CLOEXEC)
    fds = array.array("i")
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    return data, list(fds)


def _close_fds(fds: Iterable[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _reply_outcome(kind: str, payload: Any, elapsed: float) -> Outcome:
    """An Outcome from a decoded reply; anything unexpected is a ChannelError."""
    if isinstance(payload, channel.DecodeError):
        return Outcome("exception", error={"type": "ChannelError", "message": str(payload)[:200]})
    if kind == "value":
        return Outcome("ok", value=payload, elapsed=elapsed)
    if kind == "ok":
        return Outcome("ok", elapsed=elapsed)
    if kind == "exc":
        return Outcome("exception", error=_error_fields(payload), elapsed=elapsed)
    if kind == "stdio":  # (text, bool, exception or None): shape checked by channel._check_shape
        out, truncated, exc = payload
        if exc:
            return Outcome("exception", error=_error_fields(exc), elapsed=elapsed, stdout=out, truncated=truncated)
        return Outcome("ok", stdout=out, truncated=truncated, elapsed=elapsed)
    return Outcome("exception", error={"type": "ChannelError", "message": "malformed reply"})


def _not_run() -> Outcome:
    """A request made after the run ended (timeout, crash): it was not sent."""
    return Outcome("crash", error={"type": "NotRun", "message": "the run already ended"})


def _error_fields(exc: Any) -> dict[str, str]:
    return {str(k)[:50]: str(v)[:300] for k, v in exc.items()} if isinstance(exc, dict) else {}


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
        with self._server() as (server, _):
            return dict(server.features)

    @contextlib.contextmanager
    def _server(self, limits: Limits | None = None) -> Iterator[tuple[ForkServer, tuple[int, int]]]:
        """A server, and with ``limits`` the channel of a started run on it."""
        server, fds = self._acquire(limits)
        broken = False
        try:
            yield server, fds
        except BaseException:
            broken = True
            raise
        finally:
            if broken or not server.alive():
                self._discard(server)
            else:
                self.idle.put(server)

    def _acquire(self, limits: Limits | None) -> tuple[ForkServer, tuple[int, int]]:
        """An idle server whose previous run has been fully reported (or a new one), and
        with ``limits`` a run started on it.

        A server that died after its last run (even after offering the next process) is
        replaced: nothing of this run has reached it, so this run is not failed.
        """
        for _ in range(self.size + 1):
            server = self._take()
            try:
                server.settle()
                return server, (server.take_offer(limits) if limits is not None else (-1, -1))
            except ServerLost:
                self._discard(server)
        raise InfraError("fork servers keep dying after their runs")

    def _take(self) -> ForkServer:
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
    def run(self, code: str, limits: Limits, setup: str = "", mode: str = "function",
            prefetch: tuple[str, list[tuple[list[Any], dict[str, Any]]]] | None = None,
            ) -> Iterator[Run]:
        """One program in a fresh fork; all its tests are requests on the yielded :class:`Run`.
        ``prefetch``: calls sent right after the program (see :meth:`Run.prefetch`).

        A server lost before the program has loaded (its init reply) is replaced and the
        run starts again on another; if that happens on every try, or once the program
        has loaded, the loss is the program's failure: its outcomes are crashes
        (:data:`SERVER_LOST`), scored, never an infrastructure error.
        """
        source = (setup or "") + "\n" + code
        for attempt in range(self.size + 1):
            with self._server(limits) as (server, (w, r)):
                handle = Run(server, limits, w, r, last_chance=attempt == self.size)
                try:
                    handle.start(source, mode, prefetch)
                except ServerLost:
                    server.close()  # a closed server is discarded, not put back
                    continue
                try:
                    yield handle
                finally:
                    handle.end()
                return
        raise InfraError("fork servers keep dying before runs start")

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
    key = (size, unsafe_weak_isolation, os.getpid())  # a forked caller gets its own servers
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None or pool.closed:
            pool = _pools[key] = SandboxPool(size, unsafe_weak_isolation=unsafe_weak_isolation)
        return pool


@atexit.register
def _close_pools() -> None:
    for key, pool in list(_pools.items()):
        if key[-1] == os.getpid():
            pool.close()
