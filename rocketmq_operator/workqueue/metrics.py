"""Prometheus metrics of the work queues, under client-go's names so existing dashboards work.

A ``MetricsProvider`` owns the metric families of one registry; every queue takes its labelled
children from it, so many queues share one set of families and no family is registered twice. Create
one provider per registry (tests make their own registry) or use ``default_provider()`` for the global
one. Time spent by the keys workers hold now (``unfinished_work`` and ``longest_running_processor``) is
computed when the registry is scraped, so no thread updates it in the background.

A queue without a name records nothing: it gets ``NOOP_METRICS`` and pays for empty calls only.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Hashable, Iterator
from typing import Protocol

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from rocketmq_operator.clock import Clock

# client-go's buckets: 10 ns to 10 s, a factor of ten apart.
DURATION_BUCKETS = tuple(10.0**exponent for exponent in range(-8, 2))


class QueueMetrics(Protocol):
    """What a queue reports; called with the queue's lock held."""

    def added(self, item: Hashable) -> None: ...

    def got(self, item: Hashable) -> None: ...

    def done(self, item: Hashable) -> None: ...

    def retried(self) -> None: ...


class _NoopMetrics:
    def added(self, item: Hashable) -> None:
        pass

    def got(self, item: Hashable) -> None:
        pass

    def done(self, item: Hashable) -> None:
        pass

    def retried(self) -> None:
        pass


NOOP_METRICS: QueueMetrics = _NoopMetrics()


class MetricsProvider:
    """The workqueue metric families registered once in ``registry`` (default: the global registry)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = REGISTRY if registry is None else registry
        self.depth = Gauge("workqueue_depth", "Current depth of workqueue", ["name"], registry=registry)
        self.adds = Counter(
            "workqueue_adds_total", "Total number of adds handled by workqueue", ["name"], registry=registry
        )
        self.queue_duration = Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            ["name"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.work_duration = Histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes",
            ["name"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.retries = Counter(
            "workqueue_retries_total",
            "Total number of retries handled by workqueue",
            ["name"],
            registry=registry,
        )
        self._queues: weakref.WeakSet[PrometheusQueueMetrics] = weakref.WeakSet()
        self._queues_lock = threading.Lock()
        registry.register(_InFlightCollector(self))

    def for_queue(self, name: str, *, clock: Clock) -> PrometheusQueueMetrics:
        metrics = PrometheusQueueMetrics(name, provider=self, clock=clock)
        with self._queues_lock:
            self._queues.add(metrics)
        return metrics

    def in_flight_by_name(self) -> dict[str, tuple[float, float]]:
        """Per queue name: (seconds of work in progress summed, seconds of the longest running item)."""
        with self._queues_lock:
            queues = list(self._queues)
        totals: dict[str, tuple[float, float]] = {}
        for queue in queues:
            unfinished, longest = queue.in_flight()
            previous = totals.get(queue.name, (0.0, 0.0))
            totals[queue.name] = (previous[0] + unfinished, max(previous[1], longest))
        return totals


class PrometheusQueueMetrics:
    """The metrics of one queue: labelled children of its provider's families."""

    def __init__(self, name: str, *, provider: MetricsProvider, clock: Clock) -> None:
        self.name = name
        self._clock = clock
        self._depth = provider.depth.labels(name)
        self._adds = provider.adds.labels(name)
        self._queue_duration = provider.queue_duration.labels(name)
        self._work_duration = provider.work_duration.labels(name)
        self._retries = provider.retries.labels(name)
        self._added_at: dict[Hashable, float] = {}
        self._started_at: dict[Hashable, float] = {}
        self._started_lock = threading.Lock()  # scrapes read _started_at from another thread

    def added(self, item: Hashable) -> None:
        self._adds.inc()
        self._depth.inc()
        self._added_at.setdefault(item, self._clock.now())

    def got(self, item: Hashable) -> None:
        now = self._clock.now()
        self._depth.dec()
        added_at = self._added_at.pop(item, None)
        if added_at is not None:
            self._queue_duration.observe(now - added_at)
        with self._started_lock:
            self._started_at[item] = now

    def done(self, item: Hashable) -> None:
        with self._started_lock:
            started_at = self._started_at.pop(item, None)
        if started_at is not None:
            self._work_duration.observe(self._clock.now() - started_at)

    def retried(self) -> None:
        self._retries.inc()

    def in_flight(self) -> tuple[float, float]:
        with self._started_lock:
            started = list(self._started_at.values())
        now = self._clock.now()
        return sum(now - at for at in started), max((now - at for at in started), default=0.0)


class _InFlightCollector:
    """Reports the work in progress of every queue of a provider when the registry is scraped."""

    def __init__(self, provider: MetricsProvider) -> None:
        self._provider = provider

    def describe(self) -> list[Metric]:
        return list(self._families({}))

    def collect(self) -> Iterator[Metric]:
        return self._families(self._provider.in_flight_by_name())

    @staticmethod
    def _families(totals: dict[str, tuple[float, float]]) -> Iterator[Metric]:
        unfinished = GaugeMetricFamily(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by "
            "work_duration. Large values indicate stuck threads.",
            labels=["name"],
        )
        longest = GaugeMetricFamily(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            labels=["name"],
        )
        for name, (unfinished_seconds, longest_seconds) in sorted(totals.items()):
            unfinished.add_metric([name], unfinished_seconds)
            longest.add_metric([name], longest_seconds)
        yield unfinished
        yield longest


_default_provider: MetricsProvider | None = None
_default_provider_lock = threading.Lock()


def default_provider() -> MetricsProvider:
    """The provider of the global registry, created on first use."""
    global _default_provider
    with _default_provider_lock:
        if _default_provider is None:
            _default_provider = MetricsProvider()
        return _default_provider
