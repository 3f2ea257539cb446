"""Rate limiting: how long a key that failed waits before it is retried, and the queue that applies it.

A limiter answers ``when(item)`` with a delay in seconds and counts that as one more failure of the
key; ``forget(item)`` clears the key's history once it succeeds. The controllers use a
``RateLimitingQueue`` with ``default_controller_rate_limiter()``: each key backs off on its own (5 ms
doubling to 1000 s), and all retries together stay under 10 per second with bursts of 100, whichever
is slower. The worker protocol it serves (one function in each controller owns it)::

    key, shutdown = queue.get()
    if shutdown:
        return
    try:
        sync(key)
    except Exception:
        queue.add_rate_limited(key)   # retry later, backing off
    else:
        queue.forget(key)             # success: the next failure starts from the shortest delay
    finally:
        queue.done(key)
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Protocol

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.workqueue.metrics import MetricsProvider
from rocketmq_operator.workqueue.queue import PRIORITY_NORMAL, T, WorkQueue


class RateLimiter(Protocol):
    def when(self, item: Hashable) -> float:
        """Seconds ``item`` should wait before its next try; counts as one more failure."""

    def forget(self, item: Hashable) -> None:
        """Clear the failures of ``item`` (it succeeded, or it is no longer wanted)."""

    def num_requeues(self, item: Hashable) -> int:
        """How many times ``item`` failed since it was last forgotten."""


class ItemExponentialRateLimiter:
    """Per key: ``base`` seconds after the first failure, doubling after each next one, at most
    ``max_delay``."""

    def __init__(self, base: float = 0.005, max_delay: float = 1000.0) -> None:
        if base <= 0 or max_delay < base:
            raise ValueError(f"need 0 < base <= max_delay, got base={base} max_delay={max_delay}")
        self._base = base
        self._max_delay = max_delay
        self._failures: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def when(self, item: Hashable) -> float:
        with self._lock:
            failures = self._failures.get(item, 0)
            self._failures[item] = failures + 1
        if failures >= 1024:  # 2.0 ** 1024 overflows a float; the delay is long capped by then
            return self._max_delay
        return min(self._base * 2.0**failures, self._max_delay)

    def forget(self, item: Hashable) -> None:
        with self._lock:
            self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        with self._lock:
            return self._failures.get(item, 0)


class TokenBucketRateLimiter:
    """All keys together: ``qps`` tokens per second, at most ``burst`` saved up; a key without a token
    waits for the next free one. Keys are not told apart, so ``forget`` does nothing."""

    def __init__(self, qps: float = 10.0, burst: int = 100, *, clock: Clock = REAL_CLOCK) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError(f"need qps > 0 and burst >= 1, got qps={qps} burst={burst}")
        self._qps = qps
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.now()
        self._lock = threading.Lock()

    def when(self, item: Hashable) -> float:
        with self._lock:
            now = self._clock.now()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._qps)
            self._last = now
            self._tokens -= 1.0  # reserve the token; below zero it is one that will arrive later
            return max(0.0, -self._tokens / self._qps)

    def forget(self, item: Hashable) -> None:
        pass

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest delay of several limiters; every limiter counts every failure."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self._limiters = limiters

    def when(self, item: Hashable) -> float:
        return max([limiter.when(item) for limiter in self._limiters])

    def forget(self, item: Hashable) -> None:
        for limiter in self._limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self._limiters)


def default_controller_rate_limiter(
    *,
    clock: Clock = REAL_CLOCK,
    base: float = 0.005,
    max_delay: float = 1000.0,
    qps: float = 10.0,
    burst: int = 100,
) -> RateLimiter:
    """Per-key exponential backoff and an overall token bucket; the slower of the two wins."""
    return MaxOfRateLimiter(
        ItemExponentialRateLimiter(base, max_delay),
        TokenBucketRateLimiter(qps, burst, clock=clock),
    )


class RateLimitingQueue(WorkQueue[T]):
    """A ``WorkQueue`` with per-key retry delays from ``rate_limiter``
    (default: ``default_controller_rate_limiter`` on the queue's clock).

    ``add_rate_limited`` counts in ``workqueue_retries_total``; ``forget`` must be called when a key
    succeeds, or its next failure waits as long as if it had kept failing.
    """

    def __init__(
        self,
        *,
        rate_limiter: RateLimiter | None = None,
        name: str | None = None,
        clock: Clock = REAL_CLOCK,
        metrics: MetricsProvider | None = None,
    ) -> None:
        super().__init__(name=name, clock=clock, metrics=metrics)
        self.rate_limiter = rate_limiter or default_controller_rate_limiter(clock=clock)

    def add_rate_limited(self, item: T, *, priority: int = PRIORITY_NORMAL) -> None:
        """Add ``item`` once the limiter allows it: after ``rate_limiter.when(item)`` seconds."""
        if self.shutting_down:
            return
        delay = self.rate_limiter.when(item)
        with self._lock:
            self._metrics.retried()
        self.add_after(item, delay, priority=priority)

    def forget(self, item: T) -> None:
        """Clear the failure history of ``item``; it stays in the queue if it is there."""
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        """How many times ``item`` was added rate-limited since it was last forgotten."""
        return self.rate_limiter.num_requeues(item)
