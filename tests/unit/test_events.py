"""Covers EventRecorder: the first event is created, a repeat patches its count, a different message is a new
event, an expired event is created again, write errors are logged not raised, a full queue drops at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from rocketmq_operator.events import NORMAL, WARNING, EventRecorder
from rocketmq_operator.kube.errors import Forbidden, NotFound
from tests.fakeclock import FakeClock

OBJ = {"apiVersion": "rocketmq.huanwei.io/v1alpha1", "kind": "BrokerCluster",
       "metadata": {"name": "bc", "namespace": "ns", "uid": "uid-bc", "resourceVersion": "7"}}
T0 = "2023-11-14T22:13:20Z"


class EventApi:
    """Records ``create`` and ``patch`` of events; ``fail_next`` makes the next call raise."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None, Any]] = []  # (verb, name, namespace, body)
        self._fail: list[Exception] = []

    def fail_next(self, error: Exception) -> None:
        self._fail.append(error)

    def create(self, resource, body: dict[str, Any], *, namespace: str | None = None) -> dict[str, Any]:
        assert resource.plural == "events"
        self.calls.append(("create", body["metadata"]["name"], namespace, body))
        self._maybe_fail()
        return body

    def patch(self, resource, name: str, patch: Any, *, namespace: str | None = None,
              patch_type: str = "merge") -> dict[str, Any]:
        assert resource.plural == "events"
        self.calls.append(("patch", name, namespace, patch))
        self._maybe_fail()
        return patch

    def _maybe_fail(self) -> None:
        if self._fail:
            raise self._fail.pop(0)


@pytest.fixture
def api() -> EventApi:
    return EventApi()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


@pytest.fixture
def recorder(api, clock) -> Iterator[EventRecorder]:
    recorder = EventRecorder(api, instance="pod-1", clock=clock, registry=None)
    recorder.start()
    yield recorder
    recorder.stop()


def record(recorder: EventRecorder, *events: tuple[str, str, str], obj: dict[str, Any] = OBJ) -> None:
    for type_, reason, message in events:
        recorder.event(obj, type_, reason, message)
    assert recorder.flush(timeout=10)


def test_the_first_event_about_an_object_is_created_in_its_namespace(api, recorder):
    record(recorder, (WARNING, "ResourceConflict", "ConfigMap x is not ours"))
    [(verb, name, namespace, body)] = api.calls
    assert (verb, namespace) == ("create", "ns")
    assert name.startswith("bc.") and body["metadata"] == {"name": name, "namespace": "ns"}
    assert body["involvedObject"] == {"apiVersion": "rocketmq.huanwei.io/v1alpha1", "kind": "BrokerCluster",
                                      "name": "bc", "namespace": "ns", "uid": "uid-bc"}
    assert {k: body[k] for k in ("type", "reason", "message", "count", "firstTimestamp", "lastTimestamp",
                                 "reportingComponent", "reportingInstance")} == {
        "type": "Warning", "reason": "ResourceConflict", "message": "ConfigMap x is not ours", "count": 1,
        "firstTimestamp": T0, "lastTimestamp": T0, "reportingComponent": "rocketmq-operator",
        "reportingInstance": "pod-1"}


def test_the_same_event_again_patches_the_count_and_last_timestamp_of_the_first(api, recorder, clock):
    record(recorder, (NORMAL, "Created", "Created Service bc-0"))
    clock.step(60)
    record(recorder, (NORMAL, "Created", "Created Service bc-0"))
    clock.step(60)
    record(recorder, (NORMAL, "Created", "Created Service bc-0"))
    first = api.calls[0][1]
    assert [(verb, name, body) for verb, name, _, body in api.calls[1:]] == [
        ("patch", first, {"count": 2, "lastTimestamp": "2023-11-14T22:14:20Z"}),
        ("patch", first, {"count": 3, "lastTimestamp": "2023-11-14T22:15:20Z"})]


def test_a_different_message_creates_a_new_event(api, recorder):
    record(recorder, (NORMAL, "Created", "Created Service bc-0"), (NORMAL, "Created", "Created Service bc-1"))
    assert [verb for verb, *_ in api.calls] == ["create", "create"]
    assert api.calls[0][1] != api.calls[1][1]


def test_a_different_type_or_reason_or_object_creates_a_new_event(api, recorder):
    other = {**OBJ, "metadata": {**OBJ["metadata"], "name": "bc2", "uid": "uid-bc2"}}
    record(recorder, (NORMAL, "R", "m"), (WARNING, "R", "m"), (NORMAL, "S", "m"))
    record(recorder, (NORMAL, "R", "m"), obj=other)
    assert [verb for verb, *_ in api.calls] == ["create"] * 4


def test_a_repeat_of_an_event_that_expired_creates_a_fresh_one(api, recorder):
    record(recorder, (NORMAL, "Created", "m"))
    api.fail_next(NotFound("events \"bc.x\" not found"))
    record(recorder, (NORMAL, "Created", "m"))
    record(recorder, (NORMAL, "Created", "m"))
    verbs = [verb for verb, *_ in api.calls]
    assert verbs == ["create", "patch", "create", "patch"]
    assert api.calls[3][1] == api.calls[2][1] and api.calls[3][3]["count"] == 2


def test_a_failed_create_is_not_raised_and_the_next_repeat_creates_again(api, recorder):
    api.fail_next(Forbidden("events is forbidden"))
    record(recorder, (NORMAL, "Created", "m"), (NORMAL, "Created", "m"))
    assert [verb for verb, *_ in api.calls] == ["create", "create"]


def test_a_failed_patch_keeps_the_count_so_the_next_repeat_tries_the_same_count_again(api, recorder):
    record(recorder, (NORMAL, "Created", "m"))
    api.fail_next(Forbidden("patch forbidden"))
    record(recorder, (NORMAL, "Created", "m"), (NORMAL, "Created", "m"))
    assert [(verb, body.get("count")) for verb, _, _, body in api.calls] == [
        ("create", 1), ("patch", 2), ("patch", 2)]


def test_a_long_message_is_cut_to_1024_characters(api, recorder):
    record(recorder, (WARNING, "InvalidSpec", "x" * 5000))
    assert len(api.calls[0][3]["message"]) == 1024


def test_an_object_without_a_namespace_gets_its_event_in_default(api, recorder):
    record(recorder, (NORMAL, "R", "m"), obj={"kind": "Node", "metadata": {"name": "n1", "uid": "u"}})
    assert api.calls[0][2] == "default"
    assert "namespace" not in api.calls[0][3]["involvedObject"]


def test_a_full_queue_drops_the_event_at_once_and_counts_it(api, clock):
    registry = CollectorRegistry()
    recorder = EventRecorder(api, clock=clock, max_queued=1, registry=registry)
    recorder.event(OBJ, NORMAL, "First", "kept")
    second = threading.Thread(target=recorder.event, args=(OBJ, NORMAL, "Second", "dropped"), daemon=True)
    second.start()
    second.join(timeout=5)
    assert not second.is_alive(), "event() blocked on a full queue"
    assert registry.get_sample_value("rocketmq_operator_events_dropped_total") == 1
    recorder.start()
    try:
        assert recorder.flush(timeout=10)
    finally:
        recorder.stop()
    assert [body["reason"] for _, _, _, body in api.calls] == ["First"]


def test_a_full_queue_without_a_registry_still_drops_without_blocking(api, clock):
    recorder = EventRecorder(api, clock=clock, max_queued=1, registry=None)
    recorder.event(OBJ, NORMAL, "First", "kept")
    second = threading.Thread(target=recorder.event, args=(OBJ, NORMAL, "Second", "dropped"), daemon=True)
    second.start()
    second.join(timeout=5)
    assert not second.is_alive()


def test_stop_writes_what_is_queued_before_it_returns(api, clock):
    recorder = EventRecorder(api, clock=clock, registry=None)
    recorder.event(OBJ, NORMAL, "A", "a")
    recorder.event(OBJ, NORMAL, "B", "b")
    recorder.start()
    recorder.stop()
    assert [body["reason"] for _, _, _, body in api.calls] == ["A", "B"]
