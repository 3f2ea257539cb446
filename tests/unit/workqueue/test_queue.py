"""Covers the WorkQueue guarantees without delays: fair, stingy, one worker per key, many threads,
shutdown."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from rocketmq_operator.workqueue import WorkQueue

JOIN = 5.0  # seconds a test waits for a thread it expects to finish


@dataclass(frozen=True)
class Key:
    namespace: str
    name: str


def drain(queue: WorkQueue) -> list:
    """Take every ready key, marking each done, in the order handed out."""
    taken = []
    while (item := queue.try_get()) is not None:
        taken.append(item)
        queue.done(item)
    return taken


def start(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def test_keys_come_out_in_the_order_they_went_in():
    queue = WorkQueue()
    for name in "cab":
        queue.add(Key("ns", name))
    assert drain(queue) == [Key("ns", "c"), Key("ns", "a"), Key("ns", "b")]


def test_get_returns_the_key_and_false():
    queue = WorkQueue()
    queue.add("a")
    assert queue.get() == ("a", False)


def test_a_key_added_twice_before_a_worker_takes_it_is_handed_out_once():
    queue = WorkQueue()
    queue.add(Key("ns", "a"))
    queue.add(Key("ns", "b"))
    queue.add(Key("ns", "a"))
    assert len(queue) == 2
    assert drain(queue) == [Key("ns", "a"), Key("ns", "b")]


def test_a_key_a_worker_holds_is_not_handed_to_another_worker():
    queue = WorkQueue()
    queue.add("a")
    assert queue.try_get() == "a"
    queue.add("a")
    assert queue.try_get() is None
    assert len(queue) == 0


def test_a_key_added_while_held_is_ready_again_after_done():
    queue = WorkQueue()
    queue.add("a")
    queue.try_get()
    queue.add("a")
    queue.add("a")
    queue.done("a")
    assert drain(queue) == ["a"]


def test_a_key_not_added_while_held_is_gone_after_done():
    queue = WorkQueue()
    queue.add("a")
    queue.done(queue.try_get())
    assert len(queue) == 0 and queue.try_get() is None


def test_a_held_key_added_again_goes_behind_keys_added_before_done():
    queue = WorkQueue()
    queue.add("a")
    queue.try_get()
    queue.add("a")
    queue.add("b")
    queue.done("a")
    assert drain(queue) == ["b", "a"]


def test_a_blocked_get_wakes_when_a_key_is_added():
    queue = WorkQueue()
    results = []
    worker = start(lambda: results.append(queue.get()))
    worker.join(0.05)
    assert results == []
    queue.add("a")
    worker.join(JOIN)
    assert results == [("a", False)]


def test_many_producers_and_consumers_handle_every_key_and_never_one_key_twice_at_once():
    queue = WorkQueue()
    keys = [f"k{n % 50}" for n in range(2000)]
    lock, held, handled, overlaps = threading.Lock(), set(), set(), []

    def consume() -> None:
        while True:
            item, shutdown = queue.get()
            if shutdown:
                return
            with lock:
                overlaps.extend([item] if item in held else [])
                held.add(item)
            with lock:
                held.discard(item)
                handled.add(item)
            queue.done(item)

    consumers = [start(consume) for _ in range(4)]
    producers = [start(lambda part: [queue.add(k) for k in part], keys[n::4]) for n in range(4)]
    for producer in producers:
        producer.join(JOIN)
    assert queue.shutdown_with_drain(timeout=JOIN)
    for consumer in consumers:
        consumer.join(JOIN)
    assert overlaps == []
    assert handled == set(keys)


def test_after_shutdown_adds_are_ignored():
    queue = WorkQueue()
    queue.shutdown()
    queue.add("a")
    assert len(queue) == 0
    assert queue.get() == (None, True)


def test_after_shutdown_get_hands_out_the_ready_keys_then_reports_shutdown():
    queue = WorkQueue()
    queue.add("a")
    queue.shutdown()
    assert queue.get() == ("a", False)
    assert queue.get() == (None, True)


def test_shutdown_wakes_every_blocked_worker():
    queue = WorkQueue()
    results = []
    workers = [start(lambda: results.append(queue.get())) for _ in range(3)]
    workers[0].join(0.05)
    assert results == []
    queue.shutdown()
    for worker in workers:
        worker.join(JOIN)
    assert results == [(None, True)] * 3


def test_shutdown_with_drain_waits_until_held_keys_are_done():
    queue = WorkQueue()
    queue.add("a")
    queue.try_get()
    drained = []
    drainer = start(lambda: drained.append(queue.shutdown_with_drain()))
    drainer.join(0.05)
    assert drained == [] and queue.shutting_down
    queue.done("a")
    drainer.join(JOIN)
    assert drained == [True]


def test_shutdown_with_drain_returns_false_when_the_timeout_passes_first():
    queue = WorkQueue()
    queue.add("a")
    queue.try_get()
    assert queue.shutdown_with_drain(timeout=0.01) is False


def test_shutdown_with_drain_returns_at_once_when_nothing_is_held():
    queue = WorkQueue()
    queue.add("a")
    assert queue.shutdown_with_drain(timeout=0) is True


@pytest.mark.parametrize("key", [("ns", "a"), Key("ns", "a"), 7])
def test_any_hashable_value_is_a_key(key):
    queue = WorkQueue()
    queue.add(key)
    assert queue.get() == (key, False)
