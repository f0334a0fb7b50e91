"""Client-side rate limits: requests per second and tokens per minute.

Requests go through ``asyncio-throttle``'s sliding-window ``Throttler``, set to one request per
``(1 + guard_s) / rate`` seconds: evenly spaced rather than let through in bursts of ``rate``. A burst sent
at t=0 over fresh connections and the next burst at t=1 over warm ones reach the server closer than 1 s
apart, so a burst limiter that is exact at the client still breaks the limit where it counts. Even spacing
plus a small guard (default 30 ms per second of window) keeps every 1-second window *at the server* within
the limit despite scheduling jitter, at the price of running ~4 % under the nominal rate. The throttler
re-checks its window on a timer; a lock keeps that to the one caller at the head of the queue (FIFO), so
waiting callers do not poll.
"""

from __future__ import annotations

import asyncio
import math
import time

from asyncio_throttle import Throttler


class RequestRateLimiter:
    """At most ``rate`` requests in any 1-second window, evenly spaced. ``rate <= 0``: unlimited."""

    def __init__(self, rate: float, *, guard_s: float = 0.03) -> None:
        self.rate = rate
        self._throttler: Throttler | None = None
        if rate > 0 and math.isfinite(rate):
            period = (1.0 + guard_s) / rate
            # Re-check 64 times per slot: the wait overshoots a slot by at most ~1.6 %.
            self._throttler = Throttler(rate_limit=1, period=period, retry_interval=period / 64)
        self._head = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait for this caller's slot. Slots are handed out in call order."""
        if self._throttler is None:
            return
        async with self._head:
            await self._throttler.acquire()


class TokenRateLimiter:
    """A token bucket of ``tokens_per_minute`` (refilled continuously); ``None``: unlimited.

    A caller reserves an estimate before its request (:meth:`acquire`) and settles the difference
    with the real count afterwards (:meth:`settle`); overdrafts delay the callers that come next.
    """

    def __init__(self, tokens_per_minute: int | None) -> None:
        self.capacity = float(tokens_per_minute) if tokens_per_minute else 0.0
        self._level = self.capacity
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()  # FIFO: waiters queue on the lock while the head one sleeps

    def _refill(self) -> None:
        now = time.monotonic()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.capacity / 60.0)
        self._stamp = now

    async def acquire(self, estimate: int) -> None:
        """Wait until ``estimate`` tokens (at most a full bucket) are available, then take them."""
        if self.capacity <= 0.0:
            return
        need = min(float(estimate), self.capacity)
        async with self._lock:
            self._refill()
            while self._level < need:
                await asyncio.sleep((need - self._level) * 60.0 / self.capacity)
                self._refill()
            self._level -= estimate

    def settle(self, estimate: int, actual: int) -> None:
        """Correct a reservation with the tokens the call really used."""
        if self.capacity > 0.0:
            self._refill()
            self._level -= actual - estimate
