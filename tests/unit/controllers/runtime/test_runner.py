"""Covers Controller.process_next: what each outcome of sync does to the key (forget, requeue after a delay,
rate-limited retry, no retry for a TerminalError), the Warning event, and the reconcile metrics."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from rocketmq_operator.controllers.runtime.runner import (
    RESULTS,
    Controller,
    ControllerMetrics,
    Key,
    Result,
    TerminalError,
)
from rocketmq_operator.workqueue import RateLimitingQueue
from tests.fakeclock import FakeClock
from tests.unit.controllers.fakes import FakeRecorder

KEY = Key("ns", "a")
OBJ = {"apiVersion": "v1", "kind": "BrokerCluster", "metadata": {"name": "a", "namespace": "ns", "uid": "u"}}


class Scripted:
    """A reconciler that answers each sync with the next scripted outcome (a Result, None or an exception)."""

    def __init__(self, *outcomes: Any) -> None:
        self._outcomes = list(outcomes)
        self.keys: list[Key] = []

    def sync(self, key: Key) -> Result | None:
        self.keys.append(key)
        outcome = self._outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class Rig:
    def __init__(self, *outcomes: Any, may_act: Callable[[], bool] | None = None) -> None:
        self.clock = FakeClock()
        self.queue: RateLimitingQueue = RateLimitingQueue(clock=self.clock)
        self.registry = CollectorRegistry()
        self.recorder = FakeRecorder()
        self.reconciler = Scripted(*outcomes)
        # A kind of its own per test: ControllerMetrics caches by id(registry), which a new registry may
        # reuse (see test_every_fresh_registry_gets_its_own_reconcile_metrics).
        self.kind = f"t{uuid.uuid4().hex[:8]}"
        self.controller = Controller(self.kind, self.reconciler, queue=self.queue, has_synced=[],
                                     recorder=self.recorder, registry=self.registry, may_act=may_act)

    def step(self, seconds: float) -> None:
        self.clock.step(seconds)
        self.queue.tick()

    def total(self, result: str) -> float | None:
        return self.registry.get_sample_value(f"rocketmq_{self.kind}_reconcile_total", {"result": result})

    def run_once(self) -> bool:
        self.queue.add(KEY)
        return self.process_ready()

    def process_ready(self) -> bool:
        """process_next on a key that is ready (asserted first: get() would block on an empty queue)."""
        assert len(self.queue) == 1
        return self.controller.process_next()


@pytest.fixture
def rig() -> Callable[..., Rig]:
    return Rig


def test_a_successful_sync_forgets_the_key_and_does_not_queue_it_again(rig):
    r = rig(None)
    r.queue.add_rate_limited(KEY)  # an earlier failure
    r.step(1)
    assert r.process_ready() is True
    assert r.reconciler.keys == [KEY]
    assert r.queue.num_requeues(KEY) == 0
    r.step(3600)
    assert len(r.queue) == 0
    assert r.total("success") == 1


def test_an_empty_result_counts_as_success(rig):
    r = rig(Result())
    r.run_once()
    assert r.total("success") == 1 and len(r.queue) == 0


def test_requeue_after_brings_the_key_back_exactly_after_that_many_seconds(rig):
    r = rig(Result(requeue_after=5))
    r.run_once()
    r.step(4.999)
    assert len(r.queue) == 0
    r.step(0.001)
    assert r.queue.try_get() == KEY
    assert r.queue.num_requeues(KEY) == 0
    assert r.total("requeue_after") == 1


def test_an_exception_requeues_the_key_rate_limited_after_5_ms(rig):
    r = rig(RuntimeError("boom"))
    assert r.run_once() is True
    assert r.queue.num_requeues(KEY) == 1
    r.step(0.004)
    assert len(r.queue) == 0
    r.step(0.001)
    assert len(r.queue) == 1
    assert r.total("error") == 1
    assert r.registry.get_sample_value(f"rocketmq_{r.kind}_reconcile_errors_total") == 1


def test_repeated_failures_back_off_exponentially(rig):
    r = rig(RuntimeError("1"), RuntimeError("2"))
    r.run_once()
    r.step(0.005)
    r.process_ready()
    assert r.queue.num_requeues(KEY) == 2
    r.step(0.009)
    assert len(r.queue) == 0
    r.step(0.001)
    assert len(r.queue) == 1


def test_the_worker_keeps_going_after_an_exception_and_a_later_success_forgets_the_failures(rig):
    r = rig(RuntimeError("boom"), None)
    r.run_once()
    r.step(0.005)
    assert r.process_ready() is True
    assert r.reconciler.keys == [KEY, KEY]
    assert r.queue.num_requeues(KEY) == 0
    assert (r.total("error"), r.total("success")) == (1, 1)


def test_a_terminal_error_is_not_retried_and_sends_a_warning_event_on_its_object(rig):
    r = rig(TerminalError("spec.x is wrong", reason="BadSpec", obj=OBJ))
    r.run_once()
    assert r.queue.num_requeues(KEY) == 0
    r.step(3600)
    assert len(r.queue) == 0
    [event] = r.recorder.events
    assert (event.involved, event.type, event.reason, event.message) == (
        "BrokerCluster/a", "Warning", "BadSpec", "spec.x is wrong")
    assert r.total("terminal_error") == 1


def test_a_terminal_error_without_an_object_sends_no_event(rig):
    r = rig(TerminalError("no object"))
    r.run_once()
    assert r.recorder.events == [] and r.total("terminal_error") == 1


def test_a_terminal_error_clears_earlier_failures(rig):
    r = rig(TerminalError("x"))
    r.queue.add_rate_limited(KEY)
    r.step(1)
    r.process_ready()
    assert r.queue.num_requeues(KEY) == 0


def test_every_reconcile_observes_its_duration(rig):
    r = rig(None, RuntimeError("x"))
    r.run_once()
    r.run_once()
    assert r.registry.get_sample_value(f"rocketmq_{r.kind}_reconcile_duration_seconds_count") == 2


def test_a_key_added_while_it_is_being_synced_is_synced_again_afterwards(rig):
    r = rig()
    r.reconciler.sync = lambda key: r.queue.add(key)  # a watch event arrives mid-sync
    r.run_once()
    assert r.queue.try_get() == KEY


def test_process_next_returns_false_once_the_queue_is_shut_down(rig):
    r = rig()
    r.queue.shutdown()
    assert r.controller.process_next() is False


def test_two_controllers_of_one_kind_share_the_metrics_of_one_registry(rig):
    r = rig(None)
    Controller(r.kind, Scripted(), queue=RateLimitingQueue(clock=r.clock), has_synced=[], registry=r.registry)
    r.run_once()
    assert r.total("success") == 1


def test_every_fresh_registry_gets_its_own_reconcile_metrics():
    for _ in range(20):
        registry = CollectorRegistry()
        ControllerMetrics.for_kind("samekind", registry).total.labels(result="success").inc()
        assert registry.get_sample_value("rocketmq_samekind_reconcile_total", {"result": "success"}) == 1
        del registry


def test_every_result_series_exists_at_zero_before_the_first_reconcile(rig):
    r = rig()
    assert {result: r.total(result) for result in RESULTS} == {result: 0.0 for result in RESULTS}
    assert r.registry.get_sample_value(f"rocketmq_{r.kind}_reconcile_errors_total") == 0.0


def test_changes_on_owned_objects_wait_the_child_delay_and_come_as_one(rig):
    from rocketmq_operator.workqueue import PRIORITY_CHILD

    r = rig()
    r.controller.child_delay = 1.0
    for _ in range(5):  # a burst: pods appearing, turning Ready
        r.controller.enqueue(KEY, priority=PRIORITY_CHILD)
        r.step(0.1)
    assert len(r.queue) == 0
    r.step(0.5)
    assert r.queue.try_get() == KEY and len(r.queue) == 0


def test_a_change_to_the_parent_itself_is_not_delayed_and_takes_a_waiting_child_change_along(rig):
    from rocketmq_operator.workqueue import PRIORITY_CHILD

    r = rig()
    r.controller.child_delay = 1.0
    r.controller.enqueue(KEY, priority=PRIORITY_CHILD)
    r.controller.enqueue(KEY)
    assert r.queue.try_get() == KEY
    r.queue.done(KEY)
    r.step(2.0)
    assert len(r.queue) == 0  # the waiting child change was taken by that sync


def test_a_replica_that_may_not_act_begins_no_sync_and_does_not_retry_the_key(rig):
    leading = [False]
    r = rig(None, may_act=lambda: leading[0])
    r.run_once()
    assert r.reconciler.keys == [] and len(r.queue) == 0 and r.queue.num_requeues(KEY) == 0
    leading[0] = True
    r.run_once()
    assert r.reconciler.keys == [KEY]


def test_a_write_fenced_off_mid_sync_is_not_retried_by_this_replica(rig):
    from rocketmq_operator.kube import FencedOff

    r = rig(FencedOff("update brokerclusters not sent"))
    r.run_once()
    r.step(60)
    assert len(r.queue) == 0 and r.queue.num_requeues(KEY) == 0
