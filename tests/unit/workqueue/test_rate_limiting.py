"""Covers the rate limiters' exact delays and the rate-limited queue's add_rate_limited / forget /
num_requeues."""

from __future__ import annotations

import pytest

from rocketmq_operator.workqueue import (
    ItemExponentialRateLimiter,
    MaxOfRateLimiter,
    RateLimitingQueue,
    TokenBucketRateLimiter,
    default_controller_rate_limiter,
)
from tests.fakeclock import FakeClock


def test_exponential_backoff_starts_at_5_ms_and_doubles_per_failure():
    limiter = ItemExponentialRateLimiter()
    assert [limiter.when("a") for _ in range(4)] == [0.005, 0.01, 0.02, 0.04]


def test_exponential_backoff_stops_at_1000_seconds():
    limiter = ItemExponentialRateLimiter()
    delays = [limiter.when("a") for _ in range(25)]
    assert delays[17] == 0.005 * 2**17 and delays[18] == 1000.0 and delays[-1] == 1000.0


def test_exponential_backoff_stays_capped_after_very_many_failures():
    limiter = ItemExponentialRateLimiter(base=1.0, max_delay=60.0)
    for _ in range(1100):
        delay = limiter.when("a")
    assert delay == 60.0


def test_exponential_backoff_counts_each_key_apart():
    limiter = ItemExponentialRateLimiter(base=1.0, max_delay=100.0)
    limiter.when("a")
    limiter.when("a")
    assert limiter.when("b") == 1.0
    assert (limiter.num_requeues("a"), limiter.num_requeues("b")) == (2, 1)


def test_forgetting_a_key_restarts_its_backoff():
    limiter = ItemExponentialRateLimiter()
    limiter.when("a")
    limiter.when("a")
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == 0.005


@pytest.mark.parametrize("base, max_delay", [(0, 1), (-1, 1), (2, 1)])
def test_exponential_backoff_refuses_bounds_that_make_no_sense(base, max_delay):
    with pytest.raises(ValueError):
        ItemExponentialRateLimiter(base, max_delay)


def test_token_bucket_lets_a_burst_through_then_spaces_keys_by_one_over_qps():
    limiter = TokenBucketRateLimiter(10, 100, clock=FakeClock())
    assert [limiter.when(n) for n in range(100)] == [0.0] * 100
    assert [limiter.when(n) for n in range(3)] == pytest.approx([0.1, 0.2, 0.3])


def test_token_bucket_refills_with_the_clock_up_to_the_burst():
    clock = FakeClock()
    limiter = TokenBucketRateLimiter(2, 3, clock=clock)
    for n in range(3):
        limiter.when(n)
    clock.step(100.0)
    assert [limiter.when(n) for n in range(4)] == pytest.approx([0.0, 0.0, 0.0, 0.5])


def test_token_bucket_delay_shrinks_as_time_passes():
    clock = FakeClock()
    limiter = TokenBucketRateLimiter(1, 1, clock=clock)
    limiter.when("a")
    clock.step(0.25)
    assert limiter.when("b") == pytest.approx(0.75)


def test_token_bucket_does_not_count_keys():
    limiter = TokenBucketRateLimiter(clock=FakeClock())
    limiter.when("a")
    assert limiter.num_requeues("a") == 0


def test_max_of_takes_the_longest_delay_and_the_most_requeues():
    slow = ItemExponentialRateLimiter(base=3.0, max_delay=100.0)
    fast = ItemExponentialRateLimiter(base=1.0, max_delay=100.0)
    limiter = MaxOfRateLimiter(fast, slow)
    assert [limiter.when("a"), limiter.when("a")] == [3.0, 6.0]
    assert limiter.num_requeues("a") == 2


def test_max_of_forgets_in_every_limiter():
    first, second = ItemExponentialRateLimiter(), ItemExponentialRateLimiter()
    limiter = MaxOfRateLimiter(first, second)
    limiter.when("a")
    limiter.forget("a")
    assert (first.num_requeues("a"), second.num_requeues("a")) == (0, 0)


def test_the_default_controller_limiter_backs_off_per_key_until_the_bucket_runs_dry():
    limiter = default_controller_rate_limiter(clock=FakeClock())
    assert [limiter.when("a") for _ in range(3)] == [0.005, 0.01, 0.02]
    for n in range(97):
        limiter.when(n)
    assert limiter.when("fresh") == pytest.approx(0.1)


def make_queue() -> tuple[RateLimitingQueue, FakeClock]:
    clock = FakeClock()
    limiter = ItemExponentialRateLimiter(base=1.0, max_delay=10.0)
    return RateLimitingQueue(rate_limiter=limiter, clock=clock), clock


def test_a_rate_limited_key_is_ready_after_the_limiters_delay():
    queue, clock = make_queue()
    queue.add_rate_limited("a")
    clock.step(0.999)
    assert queue.try_get() is None
    clock.step(0.001)
    assert queue.try_get() == "a"


def test_each_retry_of_a_key_waits_twice_as_long():
    queue, clock = make_queue()
    queue.add_rate_limited("a")
    clock.step(1.0)
    queue.done(queue.try_get())
    queue.add_rate_limited("a")
    clock.step(1.999)
    assert queue.try_get() is None
    clock.step(0.001)
    assert queue.try_get() == "a"
    assert queue.num_requeues("a") == 2


def test_forget_restarts_the_backoff_of_a_key():
    queue, clock = make_queue()
    queue.add_rate_limited("a")
    queue.add_rate_limited("a")
    queue.forget("a")
    assert queue.num_requeues("a") == 0
    clock.step(1.0)
    assert queue.try_get() == "a"


def test_a_rate_limited_queue_uses_the_default_controller_limiter_on_its_clock():
    queue = RateLimitingQueue(clock=FakeClock())
    queue.add_rate_limited("a")
    assert queue.try_get() is None
    assert queue.num_requeues("a") == 1


def test_after_shutdown_rate_limited_adds_are_ignored_and_not_counted():
    queue, _ = make_queue()
    queue.shutdown()
    queue.add_rate_limited("a")
    assert queue.num_requeues("a") == 0
