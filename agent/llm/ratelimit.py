"""Client-side rate limits: requests per second and tokens per minute.

Requests are spaced evenly (one slot every ``(1 + guard_s) / rate`` seconds, reserved in FIFO order)
rather than let through in bursts of ``rate``: a burst sent at t=0 over fresh connections and the next
burst at t=1 over warm ones reach the server closer than 1 s apart, so a burst limiter that is exact
at the client still breaks the limit where it counts. Even spacing plus a small guard (default 50 ms
per second of window) keeps every 1-second window *at the server* within the limit despite scheduling
jitter, at the price of running ~5 % under the nominal rate. No polling: each caller sleeps once until
its reserved slot.
"""

from __future__ import annotations

import asyncio
import math
import time


class RequestRateLimiter:
    """At most ``rate`` requests in any 1-second window, evenly spaced. ``rate <= 0``: unlimited."""

    def __init__(self, rate: float, *, guard_s: float = 0.05) -> None:
        self.rate = rate
        self._interval = (1.0 + guard_s) / rate if rate > 0 and math.isfinite(rate) else 0.0
        self._next_slot = 0.0

    async def acquire(self) -> None:
        """Wait for this caller's slot. Slots are handed out in call order."""
        if self._interval <= 0.0:
            return
        now = time.monotonic()
        # Reserve before awaiting: with a single event loop there is no race between read and write.
        slot = max(now, self._next_slot)
        self._next_slot = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)


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
