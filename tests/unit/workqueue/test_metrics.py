"""Covers the workqueue Prometheus metrics: client-go's names, exact durations on a FakeClock, shared
registries."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from rocketmq_operator.workqueue import (
    ItemExponentialRateLimiter,
    MetricsProvider,
    RateLimitingQueue,
    WorkQueue,
)
from tests.fakeclock import FakeClock


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def value(registry: CollectorRegistry, metric: str, queue: str = "q") -> float | None:
    return registry.get_sample_value(metric, {"name": queue})


def make_queue(
    registry, clock, name: str = "q", *, provider: MetricsProvider | None = None
) -> RateLimitingQueue:
    return RateLimitingQueue(
        name=name,
        clock=clock,
        metrics=provider or MetricsProvider(registry),
        rate_limiter=ItemExponentialRateLimiter(base=1.0, max_delay=10.0),
    )


def test_adds_count_only_keys_that_were_not_already_queued(registry, clock):
    queue = make_queue(registry, clock)
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert value(registry, "workqueue_adds_total") == 2


def test_depth_follows_the_keys_waiting_for_a_worker(registry, clock):
    queue = make_queue(registry, clock)
    queue.add("a")
    queue.add("b")
    assert value(registry, "workqueue_depth") == 2
    queue.try_get()
    assert value(registry, "workqueue_depth") == 1


def test_queue_duration_is_the_time_from_add_to_get(registry, clock):
    queue = make_queue(registry, clock)
    queue.add("a")
    clock.step(0.5)
    queue.try_get()
    assert value(registry, "workqueue_queue_duration_seconds_sum") == 0.5
    assert value(registry, "workqueue_queue_duration_seconds_count") == 1


def test_work_duration_is_the_time_from_get_to_done(registry, clock):
    queue = make_queue(registry, clock)
    queue.add("a")
    queue.try_get()
    clock.step(2.0)
    queue.done("a")
    assert value(registry, "workqueue_work_duration_seconds_sum") == 2.0


def test_in_flight_work_is_measured_when_scraped(registry, clock):
    queue = make_queue(registry, clock)
    queue.add("a")
    queue.add("b")
    queue.try_get()
    clock.step(3.0)
    queue.try_get()
    clock.step(1.0)
    assert value(registry, "workqueue_unfinished_work_seconds") == 5.0
    assert value(registry, "workqueue_longest_running_processor_seconds") == 4.0
    queue.done("a")
    queue.done("b")
    assert value(registry, "workqueue_unfinished_work_seconds") == 0.0


def test_retries_count_rate_limited_adds(registry, clock):
    queue = make_queue(registry, clock)
    queue.add_rate_limited("a")
    queue.add_rate_limited("a")
    assert value(registry, "workqueue_retries_total") == 2


def test_queues_sharing_a_provider_report_under_their_own_names(registry, clock):
    provider = MetricsProvider(registry)
    first = make_queue(registry, clock, "first", provider=provider)
    second = make_queue(registry, clock, "second", provider=provider)
    first.add("a")
    second.add("a")
    second.add("b")
    assert value(registry, "workqueue_adds_total", "first") == 1
    assert value(registry, "workqueue_adds_total", "second") == 2
    assert value(registry, "workqueue_unfinished_work_seconds", "second") == 0.0


def test_a_second_provider_on_one_registry_is_refused(registry):
    MetricsProvider(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        MetricsProvider(registry)


def test_an_unnamed_queue_records_nothing(registry, clock):
    queue = WorkQueue(clock=clock, metrics=MetricsProvider(registry))
    queue.add("a")
    queue.done(queue.try_get())
    assert [s for m in registry.collect() for s in m.samples if s.name == "workqueue_adds_total"] == []
