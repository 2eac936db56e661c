"""The fork server: a small pre-started interpreter that forks once per program.

It is started with a scrubbed environment by :mod:`rewardlab.sandbox.pool` (never
forked from the caller) and speaks length-prefixed JSON frames on a unix socket:

caller -> server: ``{"op": "run", "limits": {...}}`` then ``{"op": "end", "reason": ...}``.
server -> caller: ``started`` (with the run's two channel descriptors attached, so the
caller then talks to the confined child directly), and a final event once the run's
processes are killed: ``done``, ``timeout`` or ``exit`` (the child died; why).

The server enforces the run's wall-clock limit and kills; the caller enforces the
per-test limit by ending the run. The server never receives expected outputs, test
code or the program's requests, so no fork can inherit them.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import shutil
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass
from typing import Any

from rewardlab.sandbox import channel, isolation, runner  # runner: imported before any fork
from rewardlab.sandbox.limits import Limits

_LEN = struct.Struct("<I")


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
        self.sock = socket.socket(fileno=int(cfg["sock_fd"]))
        self.in_fd = self.out_fd = self.sock.fileno()
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)  # nothing may print into the caller's pipes
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
        body = b"E" + json.dumps({"ev": "started", "pid": child.pid}).encode()
        socket.send_fds(self.sock, [_LEN.pack(len(body)) + body], [child.w, child.r])
        for fd in (child.w, child.r):  # the caller holds the only ends now
            os.close(fd)
        child.w = child.r = -1
        try:
            ev, fields = Watcher(self, child.pid, limits).run()
        finally:
            self._signal(child)
            if limits.max_processes:  # a run that may fork: everything reaped before we report
                self._discard(child)
        # The run's process is SIGKILLed (it runs no more code) and, if it could fork, every
        # process it started is reaped; only now does the caller hear that the run ended.
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
        if child.scratch == "":
            return
        for fd in (child.w, child.r):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        child.w = child.r = -1
        self._kill_all(child.pid, child.limits.max_processes > 0)
        try:
            os.rmdir(child.scratch)  # the common case: the program left nothing behind
        except OSError:
            shutil.rmtree(child.scratch, ignore_errors=True)
        child.scratch = ""

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


class Watcher:
    """Enforces one run's wall-clock limit while the caller talks to the child."""

    def __init__(self, server: Server, pid: int, limits: Limits) -> None:
        self.server, self.pid, self.limits = server, pid, limits
        self.deadline = time.monotonic() + limits.run_timeout
        self.exited: dict[str, Any] | None = None
        self.killed = False

    def run(self) -> tuple[str, dict[str, Any]]:
        pidfd = os.pidfd_open(self.pid)
        try:
            return self._loop(pidfd)
        finally:
            os.close(pidfd)

    def _loop(self, pidfd: int) -> tuple[str, dict[str, Any]]:
        while True:
            wait = None if self.killed else max(0.0, self.deadline - time.monotonic())
            rlist = [self.server.in_fd] + ([pidfd] if self.exited is None else [])
            readable = select.select(rlist, [], [], wait)[0]
            if not readable and not self.killed:  # the run's wall-clock limit
                for kill in (os.killpg, os.kill):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        kill(self.pid, signal.SIGKILL)
                self.killed = True
            if pidfd in readable and self.exited is None:
                self.exited = _exit_info(self.pid)
            if self.server.in_fd in readable:
                return self._on_caller()

    def _on_caller(self) -> tuple[str, dict[str, Any]]:
        try:
            msg = channel.read_frame(self.server.in_fd)
        except (EOFError, OSError, channel.DecodeError):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            sys.exit(0)
        reason = msg.get("reason", "done")
        if self.killed:
            return "timeout", {"scope": "run"}
        if reason == "timeout":
            return "timeout", {"scope": "test"}
        if reason == "eof" and self.exited is None:  # closed its channel: did it exit?
            with contextlib.suppress(OSError):
                pidfd = os.pidfd_open(self.pid)
                if select.select([pidfd], [], [], 0.5)[0]:
                    self.exited = _exit_info(self.pid)
                os.close(pidfd)
            if self.exited is None:
                return "exit", {"reason": "closed its result channel"}
        if self.exited is not None:
            return "exit", self.exited
        if reason != "done":
            return "exit", {"reason": str(reason)[:200]}
        return "done", {}


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
    server.loop()


if __name__ == "__main__":
    main()
