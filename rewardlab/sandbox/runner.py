"""Inside the sandbox: execute the candidate and answer requests on the channel.

Requests (from the trusted side, via the fork server) carry only what the program
may see: the code, the setup, call arguments and stdin text. Never an expected value.
Everything this module sends back is untrusted by the receiver, which only accepts
plain data and compares it itself.
"""

from __future__ import annotations

import builtins
import io
import os
import sys
import traceback
from typing import Any

from rewardlab.sandbox import channel
from rewardlab.sandbox.isolation import CHANNEL_IN, CHANNEL_OUT


def _exc_info(exc: BaseException) -> dict[str, str]:
    """Type name and a short message, robust to exceptions with hostile ``__str__``."""
    try:
        name = type(exc).__name__
        message = str(exc)[:300]
    except BaseException:
        name, message = "Exception", "<unprintable>"
    try:
        frames = traceback.extract_tb(exc.__traceback__)
        line = next((f.lineno for f in reversed(frames) if f.filename == "<candidate>"), None)
    except BaseException:
        line = None
    return {"type": name, "message": message, "line": str(line) if line else ""}


class Runner:
    """State of one program run: its namespace and its compiled code."""

    def __init__(self, output_limit: int) -> None:
        self.ns: dict[str, Any] = {}
        self.code: Any = None
        self.output_limit = output_limit

    def init(self, req: dict[str, Any]) -> dict[str, Any]:
        source = (req.get("setup") or "") + "\n" + req["code"]
        try:
            # dont_inherit: this module's `from __future__ import annotations` must not apply
            self.code = compile(source, "<candidate>", "exec", dont_inherit=True)
        except BaseException as exc:
            return {"exc": _exc_info(exc)}
        if req.get("mode") == "stdio":
            return {"ok": True}
        self.ns = {"__name__": "__candidate__", "__builtins__": builtins}
        try:
            exec(self.code, self.ns)
        except BaseException as exc:
            return {"exc": _exc_info(exc)}
        return {"ok": True}

    def call(self, req: dict[str, Any]) -> dict[str, Any]:
        fn = self.ns.get(req["fn"])
        if not callable(fn):
            return {"exc": {"type": "NameError", "message": f"no function {req['fn']!r}"}}
        args = channel.decode(req.get("args", []))
        kwargs = channel.decode(req.get("kwargs", {"d": []}))
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            return {"exc": _exc_info(exc)}
        try:
            return {"value": channel.encode(result)}
        except (channel.EncodeError, RecursionError) as exc:
            return {"exc": {"type": "UnsupportedResult", "message": str(exc)[:200]}}

    def stdio(self, req: dict[str, Any]) -> dict[str, Any]:
        data = req.get("input", "").encode()
        stdin_fd = os.memfd_create("stdin")
        os.write(stdin_fd, data)
        os.lseek(stdin_fd, 0, os.SEEK_SET)
        out_fd = os.memfd_create("stdout")
        os.dup2(stdin_fd, 0)
        os.dup2(out_fd, 1)
        os.close(stdin_fd)
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8")
        exc_info: dict[str, str] | None = None
        ns = {"__name__": "__main__", "__builtins__": builtins}
        try:
            exec(self.code, ns)
        except SystemExit as exc:
            if exc.code not in (None, 0):
                exc_info = {"type": "SystemExit", "message": f"exit status {exc.code!r}"[:200]}
        except BaseException as exc:
            exc_info = _exc_info(exc)
        try:
            sys.stdout.flush()
        except BaseException as exc:
            exc_info = exc_info or _exc_info(exc)
        size = os.lseek(out_fd, 0, os.SEEK_END)
        os.lseek(out_fd, 0, os.SEEK_SET)
        raw = os.read(out_fd, min(size, self.output_limit))
        os.close(out_fd)
        return {
            "stdout": raw.decode("utf-8", errors="replace"),
            "truncated": size > self.output_limit,
            "exc": exc_info,
        }


def serve(output_limit: int) -> None:
    """Answer requests until the channel closes; then exit without cleanup handlers."""
    runner = Runner(output_limit)
    handlers = {"init": runner.init, "call": runner.call, "stdio": runner.stdio}
    while True:
        try:
            req = channel.read_frame(CHANNEL_IN)
        except BaseException:
            os._exit(0)
        handler = handlers.get(req.get("op", ""))
        try:
            reply: dict[str, Any] = handler(req) if handler else {"exc": {"type": "ProtocolError"}}
            reply["id"] = req.get("id")
            channel.write_frame(CHANNEL_OUT, reply)
        except BaseException:
            os._exit(71)
