"""Abuse limits: token buckets per key (client address, username), bounded in memory.

A bucket holds up to ``burst`` attempts and refills at ``per_minute``. An empty bucket refuses
with 429 and ``Retry-After`` (whole seconds until one attempt is available). At most
``capacity`` keys are remembered; the least recently used ones are forgotten first.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from coordinator_core.errors import AuthError


class RateLimiter:
    """Token buckets keyed by strings."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        capacity: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._capacity = capacity
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> float:
        """Take one attempt for ``key``: 0 when allowed, else seconds until it would be."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - at) * self._rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self._rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self._capacity:
                self._buckets.popitem(last=False)
            return wait

    def forgive(self, key: str) -> None:
        """Forget ``key``'s attempts (its owner proved who they are): the bucket is full again."""
        with self._lock:
            self._buckets.pop(key, None)

    def check(self, key: str) -> None:
        """Take one attempt for ``key`` or raise 429 ``rate_limited`` with ``Retry-After``."""
        wait = self.retry_after(key)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise AuthError(
                429, "rate_limited", f"too many attempts; retry in {seconds} s",
                {"Retry-After": str(seconds)},
            )  # fmt: skip
