"""Covers the WorkQueue invariants under random operations: one worker per key, no key lost, duplicates
merged, the highest priority first."""

from __future__ import annotations

import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rocketmq_operator.workqueue import PRIORITY_HIGH, PRIORITY_LOW, PRIORITY_NORMAL, WorkQueue
from tests.fakeclock import FakeClock

KEYS = st.sampled_from(["a", "b", "c", "d", "e"])
PRIORITIES = st.sampled_from([PRIORITY_LOW, PRIORITY_NORMAL, PRIORITY_HIGH])
DELAYS = st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0])


class QueueAgainstModel(RuleBasedStateMachine):
    """Drives a queue on a FakeClock and checks each answer against a model of what must be true.

    The model keeps, per key still wanted, the earliest time it was asked for and the highest priority
    it was given; a key is due when that time has passed and no worker holds it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.queue = WorkQueue(clock=self.clock)
        self.wanted: dict[str, tuple[float, int]] = {}  # key -> (earliest ready time, highest priority)
        self.held: set[str] = set()

    def want(self, key: str, ready_at: float, priority: int) -> None:
        earliest, highest = self.wanted.get(key, (ready_at, priority))
        self.wanted[key] = (min(earliest, ready_at), max(highest, priority))

    def due(self) -> dict[str, int]:
        now = self.clock.now()
        return {k: p for k, (at, p) in self.wanted.items() if at <= now and k not in self.held}

    @rule(key=KEYS, priority=PRIORITIES)
    def add(self, key: str, priority: int) -> None:
        self.queue.add(key, priority=priority)
        self.want(key, self.clock.now(), priority)

    @rule(key=KEYS, delay=DELAYS, priority=PRIORITIES)
    def add_after(self, key: str, delay: float, priority: int) -> None:
        self.queue.add_after(key, delay, priority=priority)
        self.want(key, self.clock.now() + delay, priority)

    @rule(seconds=DELAYS)
    def step(self, seconds: float) -> None:
        self.clock.step(seconds)

    @rule()
    def take(self) -> None:
        due = self.due()
        item = self.queue.try_get()
        if not due:
            assert item is None
            return
        assert item in due, f"handed out {item!r}, due were {due}"
        assert due[item] == max(due.values()), f"{item!r} has priority {due[item]}, due were {due}"
        del self.wanted[item]
        self.held.add(item)

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def done(self, data) -> None:
        item = data.draw(st.sampled_from(sorted(self.held)))
        self.queue.done(item)
        self.held.remove(item)

    @invariant()
    def each_due_key_is_counted_once(self) -> None:
        assert len(self.queue) == len(self.due())

    def teardown(self) -> None:
        for item in list(self.held):
            self.queue.done(item)
        self.clock.step(100.0)
        handed_out = []
        while (item := self.queue.try_get()) is not None:
            handed_out.append(item)
            self.queue.done(item)
        assert sorted(handed_out) == sorted(self.wanted), "every wanted key is handed out exactly once"


TestQueueAgainstModel = QueueAgainstModel.TestCase
TestQueueAgainstModel.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


@settings(max_examples=20, deadline=None)
@given(batches=st.lists(st.lists(KEYS, min_size=1, max_size=20), min_size=1, max_size=8))
def test_workers_never_hold_one_key_at_once_and_the_last_handling_of_a_key_sees_its_last_change(batches):
    """Like a controller: a producer bumps a key's version then adds it; a worker reads the version
    after ``get``. A lost re-add shows as a final version nobody saw."""
    queue = WorkQueue()
    lock, held, overlaps = threading.Lock(), set(), []
    version: dict[str, int] = {}
    seen: dict[str, int] = {}

    def work() -> None:
        while True:
            item, shutdown = queue.get()
            if shutdown:
                return
            with lock:
                overlaps.extend([item] if item in held else [])
                held.add(item)
                seen[item] = version[item]
            time.sleep(0)  # let the other threads run while this one holds the key
            with lock:
                held.discard(item)
            queue.done(item)

    workers = [threading.Thread(target=work, daemon=True) for _ in range(4)]
    for worker in workers:
        worker.start()
    for batch in batches:
        for key in batch:
            with lock:
                version[key] = version.get(key, 0) + 1
            queue.add(key)
        time.sleep(0)
    assert queue.shutdown_with_drain(timeout=5.0)
    for worker in workers:
        worker.join(5.0)
    assert overlaps == []
    assert seen == version
