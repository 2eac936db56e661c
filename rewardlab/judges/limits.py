"""Client-side rate limits and retry backoff for the judge client.

Hand-written because the client needs three things no small library gives together:
token budgets whose cost is corrected after the reply (the usage is known only then),
``Retry-After`` taking precedence over the computed backoff, and the planned delays
recorded for the client's statistics.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable


class RateLimiter:
    """A token bucket refilled at ``per_minute / 60`` per second, holding one minute's worth.

    ``acquire(n)`` waits (FIFO) until ``n`` units are available and takes them;
    :meth:`correct` adds or returns units once the real cost is known, so the level
    may go negative and later callers wait for it. ``per_minute=None`` never waits.
    Used on one event loop (the judge client's).
    """

    def __init__(self, per_minute: float | None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.per_minute = per_minute
        self._level = per_minute or 0.0
        self._clock, self._sleep = clock, sleep
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        assert self.per_minute is not None
        now = self._clock()
        self._level = min(self.per_minute, self._level + (now - self._stamp) * self.per_minute / 60.0)
        self._stamp = now

    async def acquire(self, amount: float = 1.0) -> None:
        if self.per_minute is None:
            return
        need = min(amount, self.per_minute)  # a request larger than a minute's budget waits for a full bucket
        async with self._lock:
            self._refill()
            while self._level < need:
                await self._sleep((need - self._level) * 60.0 / self.per_minute)
                self._refill()
            self._level -= amount

    def correct(self, delta: float) -> None:
        """The request really cost ``delta`` more units (negative: fewer) than acquired."""
        if self.per_minute is not None:
            self._level -= delta


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None,
                  rng: random.Random) -> float:
    """Seconds before retry number ``attempt`` (1-based).

    Exponential backoff with full jitter (uniform in [0, min(cap, base * 2**(attempt-1))],
    the AWS Architecture Blog's "Exponential Backoff and Jitter"), so clients that
    failed together do not retry together. A server's ``Retry-After`` is a floor: we
    wait at least that long, plus a jitter of up to ``base``.
    """
    jittered = rng.uniform(0.0, min(cap, base * 2 ** (attempt - 1)))
    if retry_after is not None:
        return retry_after + rng.uniform(0.0, base)
    return jittered
