"""One event loop in a daemon thread, where every judge request of the process runs.

Callers may be a trainer's thread, a coroutine on another loop (the engine runs each
``io`` batch under its own ``asyncio.run``; the server has its own loop) or plain
synchronous code. Running the HTTP work on one long-lived loop lets the client keep
one connection pool and one concurrency bound for all of them; a caller's loop only
awaits a wrapped future, and cancelling it (an engine deadline) cancels the request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_pid: int | None = None


def judge_loop() -> asyncio.AbstractEventLoop:
    """The process's judge loop, started on first use (and again in a forked child)."""
    global _loop, _pid
    with _lock:
        if _loop is None or _pid != os.getpid() or _loop.is_closed():
            loop = asyncio.new_event_loop()
            started = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(started.set)
                loop.run_forever()

            threading.Thread(target=run, name="rewardlab-judges", daemon=True).start()
            started.wait()
            _loop, _pid = loop, os.getpid()
        return _loop


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Schedule ``coro`` on the judge loop; cancelling the future cancels the task."""
    return asyncio.run_coroutine_threadsafe(coro, judge_loop())


async def run_here(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` from any event loop, running it on the judge loop."""
    loop = judge_loop()
    try:
        current = asyncio.get_running_loop()
    except RuntimeError:
        current = None
    if current is loop:
        return await coro
    return await asyncio.wrap_future(submit(coro))


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the judge loop and block this thread for its result."""
    future = submit(coro)
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise
