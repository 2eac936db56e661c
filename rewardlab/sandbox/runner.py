"""Inside the sandbox: execute the candidate and answer requests on the channel.

Requests (from the trusted side, via the fork server) carry only what the program
may see: the code, the setup, call arguments and stdin text. Never an expected value.
Everything this module sends back is untrusted by the receiver, which only accepts
plain data and compares it itself.
"""

from __future__ import annotations

import builtins
import io
import marshal
import os
import sys
from collections.abc import Callable
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
    line = None
    try:  # the last frame of the candidate's code (not traceback: 180 KB in every fork)
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == "<candidate>":
                line = tb.tb_lineno
            tb = tb.tb_next
    except BaseException:
        line = None
    return {"type": name, "message": message, "line": str(line) if line else ""}


class Runner:
    """State of one program run: its namespace and its compiled code.

    Each handler takes the request's fields and returns ``(kind, payload)``.
    """

    def __init__(self, output_limit: int) -> None:
        self.ns: dict[str, Any] = {}
        self.code: Any = None
        self.output_limit = output_limit

    def init(self, source: str, mode: str) -> tuple[str, Any]:
        try:
            # dont_inherit: this module's `from __future__ import annotations` must not apply
            self.code = compile(source, "<candidate>", "exec", dont_inherit=True)
        except BaseException as exc:
            return "exc", _exc_info(exc)
        if mode == "stdio":
            return "ok", None
        self.ns = {"__name__": "__candidate__", "__builtins__": builtins}
        try:
            exec(self.code, self.ns)
        except BaseException as exc:
            return "exc", _exc_info(exc)
        return "ok", None

    def call(self, fn_name: str, args: Any, kwargs: Any) -> tuple[str, Any]:
        fn = self.ns.get(fn_name)
        if not callable(fn):
            return "exc", {"type": "NameError", "message": f"no function {fn_name!r}"}
        try:
            return "value", fn(*args, **kwargs)
        except BaseException as exc:
            return "exc", _exc_info(exc)

    def stdio(self, text: str) -> tuple[str, Any]:
        data = text.encode()
        stdin_fd = os.memfd_create("stdin")
        channel.write_all(stdin_fd, data)
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
        return "stdio", (raw.decode("utf-8", errors="replace"), size > self.output_limit, exc_info)


def _reply(rid: Any, kind: str, payload: Any) -> str:
    """Write one reply frame and return its kind; a result that is not plain data is
    sent as an UnsupportedResult exception."""
    try:
        frame = channel.dump_reply((rid, kind, payload))
    except ValueError as exc:  # unmarshallable or nested too deeply
        kind = "exc"
        frame = channel.dump_reply((rid, kind, {
            "type": "UnsupportedResult", "message": f"not plain data: {exc}"[:200]}))
    channel.write_all(CHANNEL_OUT, frame)
    return kind


def serve(output_limit: int) -> None:
    """Answer requests until the channel closes; then exit without cleanup handlers.

    Requests are ``marshal`` tuples from the trusted side: ``("init", id, source, mode)``,
    ``("call", id, name, args, kwargs)``, ``("stdio", id, text)``, and a batch
    ``("calls", id, name, [(args, kwargs), ...])`` answered one frame per call (ids
    ``id``, ``id + 1``, ...) up to the first exception. Replies are ``(id, kind,
    payload)`` in marshal version 2. This loop is kept short: every line of Python the
    child runs for the first time writes to pages it shares with the fork server.
    """
    runner = Runner(output_limit)
    handlers: dict[str, Callable[..., tuple[str, Any]]] = {
        "init": runner.init, "call": runner.call, "stdio": runner.stdio}
    size = channel._HEADER
    while True:
        try:
            req = marshal.loads(channel.read_exact(CHANNEL_IN, size.unpack(
                channel.read_exact(CHANNEL_IN, size.size))[0]))
        except BaseException:
            os._exit(0)
        try:
            if req[0] == "calls":
                for k, (args, kwargs) in enumerate(req[3]):
                    if _reply(req[1] + k, *runner.call(req[2], args, kwargs)) == "exc":
                        break
            else:
                _reply(req[1], *handlers[req[0]](*req[2:]))
        except BaseException:
            os._exit(71)
