"""Covers delayed adds (exact ready times on a FakeClock) and priorities (highest first, duplicates
merged)."""

from __future__ import annotations

import threading

from rocketmq_operator.workqueue import PRIORITY_HIGH, PRIORITY_LOW, PRIORITY_NORMAL, WorkQueue
from tests.fakeclock import FakeClock

JOIN = 5.0


def make_queue() -> tuple[WorkQueue, FakeClock]:
    clock = FakeClock()
    return WorkQueue(clock=clock), clock


def drain(queue: WorkQueue) -> list:
    taken = []
    while (item := queue.try_get()) is not None:
        taken.append(item)
        queue.done(item)
    return taken


def test_a_delayed_key_is_ready_exactly_when_its_delay_has_passed():
    queue, clock = make_queue()
    queue.add_after("a", 5.0)
    clock.step(4.999)
    assert queue.try_get() is None
    clock.step(0.001)
    assert queue.try_get() == "a"


def test_a_delayed_key_is_not_counted_in_len_until_ready():
    queue, clock = make_queue()
    queue.add_after("a", 1.0)
    assert len(queue) == 0
    clock.step(1.0)
    assert len(queue) == 1


def test_a_zero_or_negative_delay_means_ready_now():
    queue, _ = make_queue()
    queue.add_after("a", 0)
    queue.add_after("b", -1)
    assert drain(queue) == ["a", "b"]


def test_delayed_keys_become_ready_in_the_order_of_their_ready_times():
    queue, clock = make_queue()
    queue.add_after("late", 3.0)
    queue.add_after("early", 1.0)
    queue.add_after("middle", 2.0)
    clock.step(3.0)
    assert drain(queue) == ["early", "middle", "late"]


def test_the_earliest_ready_time_wins_for_a_delayed_duplicate():
    queue, clock = make_queue()
    queue.add_after("a", 10.0)
    queue.add_after("a", 2.0)
    queue.add_after("a", 7.0)
    clock.step(2.0)
    assert drain(queue) == ["a"]
    clock.step(10.0)
    assert drain(queue) == []


def test_a_plain_add_of_a_delayed_key_makes_it_ready_now_and_once():
    queue, clock = make_queue()
    queue.add_after("a", 5.0)
    queue.add("a")
    assert drain(queue) == ["a"]
    clock.step(5.0)
    assert drain(queue) == []


def test_a_delayed_add_of_a_ready_key_leaves_it_ready():
    queue, _ = make_queue()
    queue.add("a")
    queue.add_after("a", 5.0)
    assert drain(queue) == ["a"]


def test_a_delayed_add_of_a_held_key_waits_its_delay_then_waits_for_done():
    queue, clock = make_queue()
    queue.add("a")
    assert queue.try_get() == "a"
    queue.add_after("a", 1.0)
    clock.step(1.0)
    assert queue.try_get() is None
    queue.done("a")
    assert queue.try_get() == "a"


def test_a_blocked_get_wakes_on_tick_once_the_clock_reaches_the_ready_time():
    queue, clock = make_queue()
    queue.add_after("a", 30.0)
    results = []
    worker = threading.Thread(target=lambda: results.append(queue.get()), daemon=True)
    worker.start()
    worker.join(0.05)
    clock.step(30.0)
    queue.tick()
    worker.join(JOIN)
    assert results == [("a", False)]


def test_a_blocked_get_with_a_real_clock_wakes_when_the_delay_passes():
    queue = WorkQueue()
    results = []
    worker = threading.Thread(target=lambda: results.append(queue.get()), daemon=True)
    worker.start()
    queue.add_after("a", 0.02)
    worker.join(JOIN)
    assert results == [("a", False)]


def test_shutdown_drops_delayed_keys():
    queue, clock = make_queue()
    queue.add_after("a", 1.0)
    queue.shutdown()
    clock.step(1.0)
    assert queue.get() == (None, True)


def test_higher_priority_keys_are_handed_out_first():
    queue, _ = make_queue()
    queue.add("low", priority=PRIORITY_LOW)
    queue.add("normal")
    queue.add("high", priority=PRIORITY_HIGH)
    assert drain(queue) == ["high", "normal", "low"]


def test_keys_of_one_priority_come_out_in_the_order_they_went_in():
    queue, _ = make_queue()
    for name in ["l1", "n1", "l2", "n2", "l3"]:
        queue.add(name, priority=PRIORITY_LOW if name.startswith("l") else PRIORITY_NORMAL)
    assert drain(queue) == ["n1", "n2", "l1", "l2", "l3"]


def test_a_duplicate_keeps_the_highest_priority():
    queue, _ = make_queue()
    queue.add("a", priority=PRIORITY_LOW)
    queue.add("b")
    queue.add("a", priority=PRIORITY_HIGH)
    queue.add("a", priority=PRIORITY_LOW)
    assert drain(queue) == ["a", "b"]


def test_a_raised_priority_goes_behind_keys_already_at_that_priority():
    queue, _ = make_queue()
    queue.add("a", priority=PRIORITY_LOW)
    queue.add("b")
    queue.add("a")
    assert drain(queue) == ["b", "a"]


def test_a_delayed_duplicate_keeps_the_earliest_time_and_the_highest_priority():
    queue, clock = make_queue()
    queue.add_after("a", 1.0, priority=PRIORITY_LOW)
    queue.add_after("a", 9.0, priority=PRIORITY_HIGH)
    queue.add("b")
    clock.step(1.0)
    assert drain(queue) == ["a", "b"]


def test_a_plain_add_of_a_delayed_key_keeps_the_higher_priority_of_the_delayed_add():
    queue, _ = make_queue()
    queue.add_after("a", 5.0, priority=PRIORITY_HIGH)
    queue.add("b")
    queue.add("a", priority=PRIORITY_LOW)
    assert drain(queue) == ["a", "b"]


def test_a_key_added_while_held_keeps_the_highest_priority_it_was_given():
    queue, _ = make_queue()
    queue.add("a")
    queue.try_get()
    queue.add("a", priority=PRIORITY_LOW)
    queue.add("a", priority=PRIORITY_HIGH)
    queue.add("b")
    queue.done("a")
    assert drain(queue) == ["a", "b"]


def test_a_delayed_key_ready_keeps_its_priority():
    queue, clock = make_queue()
    queue.add("normal")
    queue.add_after("low", 1.0, priority=PRIORITY_LOW)
    queue.add_after("high", 2.0, priority=PRIORITY_HIGH)
    clock.step(2.0)
    assert drain(queue) == ["high", "normal", "low"]
