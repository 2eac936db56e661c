"""The fork server: a small pre-started interpreter that forks once per program.

It is started with a scrubbed environment by :mod:`rewardlab.sandbox.pool` (never
forked from the caller) and speaks length-prefixed frames on its stdin/stdout:

caller -> server: ``{"op": "run", "limits": {...}, "init": {...}}``, then
``{"op": "req", "req": {...}}`` any number of times, then ``{"op": "end"}``.

server -> caller: ``E`` frames (JSON events: started, timeout, exit, done, error) and
``R`` frames (a child's reply, forwarded as raw JSON with the server-measured seconds).

The server never receives expected outputs or test code, so no fork can inherit them.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import shutil
import signal
import struct
import sys
import time
from dataclasses import dataclass
from typing import Any

from rewardlab.sandbox import channel, isolation, runner  # runner: imported before any fork
from rewardlab.sandbox.limits import Limits

_LEN = struct.Struct("<I")
_SECS = struct.Struct("<d")


@dataclass
class _Child:
    """A forked child: its pid, channel ends, scratch directory and limits."""

    pid: int
    w: int
    r: int
    scratch: str
    limits: Limits


class Server:
    """One fork server; one run at a time."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.in_fd = os.dup(0)
        self.out_fd = os.dup(1)
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)  # nothing but frames may reach the caller's pipe
        os.close(null)
        self.feats = isolation.probe_static(int(cfg.get("min_landlock_abi", 0)))
        self.ctx: isolation.ServerContext | None = None
        self.counter = 0
        self.spare: _Child | None = None  # a forked, confined child waiting for a program

    # --- frames to the caller --------------------------------------------------------
    def event(self, ev: str, fields: dict[str, Any] | None = None, **kw: Any) -> None:
        body = b"E" + json.dumps({"ev": ev, **(fields or {}), **kw}).encode()
        self._send(body)

    def _send(self, body: bytes) -> None:
        data = memoryview(_LEN.pack(len(body)) + body)
        while data:
            data = data[os.write(self.out_fd, data) :]

    # --- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        unsafe = bool(self.cfg.get("unsafe_weak_isolation"))
        if not self.feats.missing:
            isolation.setup_server(self.feats, int(self.cfg.get("scratch_mb", 64)))
        for module in self.cfg.get("preload", []):
            with contextlib.suppress(Exception):
                __import__(module)
        if self.feats.missing and not unsafe:
            self.event("unavailable", missing=self.feats.missing)
            sys.exit(0)
        self.ctx = isolation.make_context(self.feats) if not self.feats.missing else None
        if self.ctx is not None:
            isolation.harden_server()
        gc.collect()
        gc.freeze()  # the collector in a child must not touch (and copy) the server's objects
        self.event("hello", features=self.feats.as_dict(), pid=os.getpid())

    def loop(self) -> None:
        while True:
            try:
                msg = channel.read_frame(self.in_fd)
            except (EOFError, OSError):
                break
            if msg.get("op") == "run":
                self.run(msg)
            elif msg.get("op") == "ping":
                self.event("pong")
        if self.spare is not None:
            self._discard(self.spare)
        isolation.remove_cgroup(self.feats.pids_cgroup)

    # --- one program -----------------------------------------------------------------
    def run(self, msg: dict[str, Any]) -> None:
        limits = Limits.from_dict(msg["limits"])
        no_cgroup = self.ctx is None or self.ctx.pids_cgroup is None
        if (limits.max_threads or limits.max_processes) and no_cgroup and not (
            self.cfg.get("unsafe_weak_isolation")
        ):
            self.event("error", unavailable=True,
                       reason="threads/processes need a pids cgroup (none here)")
            return
        child = self.spare if self.spare is not None and self.spare.limits == limits else None
        if self.spare is not None and child is None:
            self._discard(self.spare)
        self.spare = None
        child = child or self._spawn(limits)
        sup = Supervisor(self, child.pid, child.w, child.r, limits, msg["init"])
        try:
            sup.run()
        finally:
            self._signal(child)
            if limits.max_processes:  # a run that may fork: everything reaped before we report
                self._discard(child)
        # The run's process is SIGKILLed (it runs no more code) and, if it could fork, every
        # process it started is reaped; only now does the caller hear that the run ended.
        ev, fields = sup.final if sup.final[0] else ("error", {"reason": "supervisor stopped"})
        self.event(ev, fields)
        if not limits.max_processes:
            self._discard(child)
        # fork and confine the next run's process now, off the caller's critical path
        self.spare = self._spawn(limits)

    def _spawn(self, limits: Limits) -> _Child:
        """Fork a child that confines itself, says so, and waits for its program."""
        self.counter += 1
        scratch = os.path.join(isolation.SCRATCH_BASE, f"run-{self.counter}")
        os.mkdir(scratch, 0o700)
        if self.ctx is not None:
            isolation.set_cgroup_limit(self.ctx, limits)
        to_child_r, to_child_w = os.pipe2(os.O_CLOEXEC)
        from_child_r, from_child_w = os.pipe2(os.O_CLOEXEC)
        server_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # child
            try:
                os.close(to_child_w)
                os.close(from_child_r)
                if self.ctx is not None:
                    isolation.confine(
                        self.ctx, limits, scratch, to_child_r, from_child_w, server_pid
                    )
                else:
                    _weak_confine(scratch, to_child_r, from_child_w)
                channel.write_frame(isolation.CHANNEL_OUT, {"confined": True})
                runner.serve(limits.output_mb << 20)
            except BaseException as exc:
                _report_setup_failure(exc)
            finally:
                os._exit(72)
        os.close(to_child_r)
        os.close(from_child_w)
        return _Child(pid, to_child_w, from_child_r, scratch, limits)

    @staticmethod
    def _signal(child: _Child) -> None:
        """SIGKILL the run's process group and process (idempotent)."""
        for target in (lambda: os.killpg(child.pid, signal.SIGKILL),
                       lambda: os.kill(child.pid, signal.SIGKILL)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                target()

    def _discard(self, child: _Child) -> None:
        """Kill a child and everything it started, reap them; remove its scratch directory."""
        if child.w < 0:
            return
        for fd in (child.w, child.r):
            with contextlib.suppress(OSError):
                os.close(fd)
        child.w = child.r = -1
        self._kill_all(child.pid, child.limits.max_processes > 0)
        shutil.rmtree(child.scratch, ignore_errors=True)

    def _kill_all(self, pid: int, processes: bool) -> None:
        """Kill the run's process group (and cgroup when it may fork); reap everything.

        We are a child subreaper, so orphans of the run are our children too.
        """
        for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                target()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        cg = self.ctx.pids_cgroup if self.ctx else None
        for _ in range(1000 if processes else 1):
            if cg and processes:
                for p in isolation.cgroup_pids(cg):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p, signal.SIGKILL)
            try:
                while os.waitpid(-1, os.WNOHANG)[0] > 0:
                    pass
            except ChildProcessError:
                pass
            if not cg or not processes or not isolation.cgroup_pids(cg):
                break
            time.sleep(0.001)


def _report_setup_failure(exc: BaseException) -> None:
    """Tell the caller why confinement failed (the channel is fd 4 or still the pipe)."""
    import traceback

    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:500]
    for fd in (isolation.CHANNEL_OUT,):
        with contextlib.suppress(OSError):
            channel.write_frame(fd, {"setup_error": text})


def _weak_confine(scratch: str, ch_in: int, ch_out: int) -> None:
    """UNSAFE mode: rlimits and descriptors only. Used only when explicitly requested."""
    os.setsid()
    os.chdir(scratch)
    os.dup2(ch_in, isolation.CHANNEL_IN)
    os.dup2(ch_out, isolation.CHANNEL_OUT)
    os.closerange(isolation.CHANNEL_OUT + 1, 1 << 20)


class Supervisor:
    """Relays one run's requests and replies and enforces its wall-time limits."""

    def __init__(
        self, server: Server, pid: int, w: int, r: int, limits: Limits, init: dict[str, Any]
    ) -> None:
        self.server, self.pid, self.w, self.r, self.limits = server, pid, w, r, limits
        self.pidfd = os.pidfd_open(pid)
        self.frames = channel.FrameBuffer((limits.output_mb << 20) + (1 << 20))
        self.outbox = bytearray(channel.pack({"op": "init", "id": 0, **init}))
        self.run_deadline = time.monotonic() + limits.run_timeout
        self.req_deadline: float | None = time.monotonic() + limits.timeout
        self.req_started = time.monotonic()
        self.final: tuple[str, dict[str, Any]] = ("", {})
        self.pending_id: Any = 0  # the init request
        self.confined = False  # set by the child's first frame, sent before any candidate code
        os.set_blocking(w, False)

    def _end(self, ev: str, **fields: Any) -> None:
        if self.final[0] == "":
            self.final = (ev, fields)

    def run(self) -> None:
        try:
            self._loop()
        finally:
            os.close(self.pidfd)

    def _loop(self) -> None:
        while True:
            now = time.monotonic()
            deadline = min(self.run_deadline, self.req_deadline or self.run_deadline)
            if now >= deadline:
                self._end("timeout", scope="test" if self.req_deadline else "run")
                return
            rlist = [self.r, self.pidfd] + ([self.server.in_fd] if not self.req_deadline else [])
            wlist = [self.w] if self.outbox else []
            readable, writable, _ = select.select(rlist, wlist, [], deadline - now)
            if writable:
                self._flush()
            if self.r in readable and not self._read_child():
                return
            if self.server.in_fd in readable and not self._read_caller():
                return
            if self.pidfd in readable and self.r not in readable:
                self._drain_child()
                if self.confined:
                    self._end("exit", **_exit_info(self.pid))
                else:
                    self._end("error", reason=f"sandbox setup: {_exit_info(self.pid)}")
                return

    def _flush(self) -> None:
        try:
            n = os.write(self.w, self.outbox)
            del self.outbox[:n]
        except BlockingIOError:
            pass
        except BrokenPipeError:
            self.outbox.clear()

    def _read_child(self) -> bool:
        data = os.read(self.r, 1 << 20)
        if not data:  # the child closed its end: wait for its exit
            return self._wait_exit()
        return self._handle(data)

    def _handle(self, data: bytes) -> bool:
        """Split the child's bytes into frames; the first must be the confinement ack."""
        try:
            bodies = self.frames.feed(data)
            if bodies and not self.confined:
                first = channel.parse(bodies.pop(0))
                if first.get("confined") is not True:
                    self._end("error", reason=f"sandbox setup failed: {first}"[:600])
                    return False
                self.confined = True
        except channel.DecodeError as exc:
            self._end("error" if not self.confined else "exit",
                              reason=f"result channel: {exc}")
            return False
        for body in bodies:
            if self.req_deadline is None or _frame_id(body) != self.pending_id:
                continue  # not a reply to the pending request: dropped
            elapsed = time.monotonic() - self.req_started
            self.server._send(b"R" + _SECS.pack(elapsed) + body)
            self.req_deadline = None
        return True

    def _drain_child(self) -> None:
        with contextlib.suppress(OSError):
            while select.select([self.r], [], [], 0)[0]:
                data = os.read(self.r, 1 << 20)
                if not data or not self._handle(data):
                    break

    def _wait_exit(self) -> bool:
        if not self.confined:
            self._end("error", reason="sandbox setup: the child died before confinement")
            return False
        remaining = max(0.0, min(self.run_deadline, time.monotonic() + 1.0) - time.monotonic())
        if select.select([self.pidfd], [], [], remaining)[0]:
            self._end("exit", **_exit_info(self.pid))
        else:
            self._end("exit", reason="closed its result channel")
        return False

    def _read_caller(self) -> bool:
        try:
            msg = channel.read_frame(self.server.in_fd)
        except (EOFError, OSError, channel.DecodeError):
            os.killpg(self.pid, signal.SIGKILL)
            sys.exit(0)
        if msg.get("op") == "end":
            self._end("done")
            return False
        if msg.get("op") == "req":
            self.pending_id = msg["req"].get("id")
            self.outbox += channel.pack(msg["req"])
            timeout = min(float(msg.get("timeout", self.limits.timeout)), self.limits.timeout)
            self.req_started = time.monotonic()
            self.req_deadline = self.req_started + timeout
            self._flush()
        return True


def _frame_id(body: bytes) -> Any:
    try:
        return channel.parse(body).get("id")
    except channel.DecodeError:
        return None


def _exit_info(pid: int) -> dict[str, Any]:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return {"reason": "exited"}
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        names: dict[int, str] = {signal.SIGXCPU: "cpu limit", signal.SIGXFSZ: "file/output size limit",
                 signal.SIGKILL: "killed", signal.SIGSYS: "forbidden system call",
                 signal.SIGSEGV: "segmentation fault (e.g. stack overflow)"}
        return {"reason": names.get(sig, f"signal {signal.Signals(sig).name}"), "signal": sig}
    return {"reason": f"exited with status {os.WEXITSTATUS(status)}", "code": os.WEXITSTATUS(status)}


def main() -> None:
    """Entry point: ``python -I -c 'from rewardlab.sandbox.forkserver import main; main()' CFG``."""
    cfg = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    server = Server(cfg)
    server.start()
    if cfg.get("profile"):  # development aid: profile the server's own work
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        try:
            server.loop()
        finally:
            prof.disable()
            prof.dump_stats(cfg["profile"])
        return
    server.loop()


if __name__ == "__main__":
    main()
