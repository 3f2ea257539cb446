"""Covers the observer's elastic pool: only calls younger than ``slow_after`` count against its size, so a
call blocked on a silent endpoint lets the next one start on another thread (never more than the maximum),
calls start in order, a failing call does not stop the pool, and shutdown drops what is queued."""

from __future__ import annotations

import threading

import pytest

from rocketmq_operator.controllers.observe.elastic import ElasticPool, may_start
from tests.fakeclock import FakeClock


@pytest.mark.parametrize(("starts", "now", "expected"), [
    ((), 10.0, True),
    ((9.5,), 10.0, True),
    ((9.5, 9.8), 10.0, False),  # two fast calls fill two places
    ((8.0, 9.8), 10.0, True),  # one of them has run past slow_after: it waits on the network
    ((1.0, 2.0, 3.0, 4.0), 10.0, True),
])
def test_a_call_may_start_while_fewer_than_workers_running_calls_are_younger_than_slow_after(
        starts, now, expected):
    assert may_start(starts, now=now, workers=2, slow_after=1.0) is expected


def test_a_queued_call_starts_once_the_running_one_has_turned_slow_and_not_before():
    clock = FakeClock()
    pool = ElasticPool(workers=1, max_workers=4, slow_after=1.0, name="test-pool", clock=clock)
    release, a_started, b_started = threading.Event(), threading.Event(), threading.Event()
    b_at: list[float] = []
    pool.submit(lambda: (a_started.set(), release.wait(10)))
    pool.submit(lambda: (b_at.append(clock.now()), b_started.set()))
    try:
        assert a_started.wait(10)
        clock.step(1.5)
        assert b_started.wait(10), "the second call never started"
        assert b_at == [1001.5] and pool.threads <= 4
    finally:
        release.set()
        pool.shutdown()


def test_the_pool_never_grows_past_its_maximum():
    clock = FakeClock()
    pool = ElasticPool(workers=1, max_workers=2, slow_after=1.0, name="test-pool", clock=clock)
    release = threading.Event()
    started = [threading.Event() for _ in range(3)]
    for event in started:
        pool.submit(lambda e=event: (e.set(), release.wait(10)))
    try:
        assert started[0].wait(10)
        clock.step(5)
        assert started[1].wait(10)
        assert pool.threads == 2 and not started[2].is_set()
    finally:
        release.set()
        pool.shutdown()


def test_calls_start_in_order_and_one_that_raises_does_not_stop_the_next():
    pool = ElasticPool(workers=1, max_workers=1, slow_after=60.0, name="test-pool")
    order: list[str] = []
    done = threading.Event()

    def fail() -> None:
        order.append("fail")
        raise RuntimeError("boom")

    pool.submit(fail)
    pool.submit(lambda: (order.append("next"), done.set()))
    assert done.wait(10) and order == ["fail", "next"]
    pool.shutdown()


def test_shutdown_drops_queued_calls_and_refuses_new_ones():
    clock = FakeClock()
    pool = ElasticPool(workers=1, max_workers=1, slow_after=1.0, name="test-pool", clock=clock)
    release, started = threading.Event(), threading.Event()
    ran: list[str] = []
    pool.submit(lambda: (started.set(), release.wait(10)))
    pool.submit(lambda: ran.append("queued"))
    assert started.wait(10)
    pool.shutdown()
    pool.submit(lambda: ran.append("late"))
    release.set()
    pool.shutdown(wait=True)
    assert ran == []
