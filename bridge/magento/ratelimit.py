"""Client-side pacing so segbridge never hammers a store (docs/config.md: requests and
writes per second)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Spaces calls at least ``1/rate`` seconds apart across all threads; rate 0 = no limit.

    A slot is reserved under the lock and slept for outside it, so waiting threads
    queue in order without holding the lock.
    """

    def __init__(
        self,
        rate_per_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s < 0:
            raise ValueError("rate must be 0 (no limit) or more")
        self.interval = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def acquire(self) -> float:
        """Wait for the next slot; returns the seconds waited."""
        if not self.interval:
            return 0.0
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
        return max(delay, 0.0)


class StoreGate:
    """A store-wide pause: after a 429 with Retry-After or a maintenance page, no thread
    sends anything to the store until the pause is over (docs/magento.md C4, H3)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._until = 0.0
        self.maintenance_streak = 0

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, self._clock() + max(seconds, 0.0))

    def remaining(self) -> float:
        with self._lock:
            return max(0.0, self._until - self._clock())

    def wait(self) -> float:
        """Sleep out any pause in force; returns the seconds waited."""
        waited = 0.0
        while True:
            left = self.remaining()
            if left <= 0:
                return waited
            self._sleep(left)
            waited += left

    def next_maintenance_pause(self, base_s: float, max_s: float) -> float:
        """Doubling pause for consecutive maintenance answers, store-wide."""
        with self._lock:
            n = self.maintenance_streak
            self.maintenance_streak += 1
        return min(max_s, base_s * (2**n))

    def succeeded(self) -> None:
        if self.maintenance_streak:
            with self._lock:
                self.maintenance_streak = 0
