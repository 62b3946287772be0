"""Token buckets per client, for the public verification endpoint (design.md: "rate-limited").

Each client (the web layer passes the client IP) has a bucket of ``capacity`` tokens that refills
at ``capacity / period_seconds`` tokens a second; a verification takes one token, and a client with
an empty bucket is told how long to wait. Buckets live in the memory of one process: under
gunicorn with N workers a client can get up to N times the rate in the worst case (the kernel
spreads connections over the workers), which bounds the load well enough for a CPU-heavy endpoint
without a shared store. Memory is bounded: a bucket that has refilled is the same as no bucket and
is dropped, and at most ``max_clients`` buckets are kept (least recently used go first).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_CLIENTS = 100_000


class TokenBuckets:
    def __init__(self, capacity: int, period_seconds: float, *, max_clients: int = MAX_CLIENTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if capacity < 1 or period_seconds <= 0:
            raise ValueError("a rate limit needs at least one request per positive period")
        self.capacity = float(capacity)
        self.rate = capacity / period_seconds
        """Tokens added per second."""
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        """client -> (tokens, when they were counted)"""
        self._lock = threading.Lock()
        self._next_sweep = clock()

    def take(self, client: str) -> float:
        """Take one token for ``client``: 0.0 when allowed, else the seconds until a token is there."""
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.pop(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.rate)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = 0.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[client] = (tokens, now)
            if now >= self._next_sweep or len(self._buckets) > self.max_clients:
                self._sweep(now)
        return wait

    def _sweep(self, now: float) -> None:
        full_after = self.capacity / self.rate
        for client, (tokens, then) in list(self._buckets.items()):
            if tokens + (now - then) * self.rate >= self.capacity or now - then >= full_after:
                del self._buckets[client]
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        self._next_sweep = now + min(full_after, 60.0)

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after(wait_seconds: float) -> int:
    """The Retry-After header value (whole seconds, at least 1) for a wait."""
    return max(1, math.ceil(wait_seconds))
