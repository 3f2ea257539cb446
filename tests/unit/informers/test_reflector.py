"""The reflector's list/watch cycle, relists on 410, and its backoff sequence, on a fake source and clock."""

from __future__ import annotations

from typing import Any

from rocketmq_operator.informers import Backoff, Reflector
from rocketmq_operator.kube import CONFIG_MAPS, Gone, ServerError, TooManyRequests, TransportError
from rocketmq_operator.kube.client import ListResult

from .fakes import Exhausted, FakeSource, RecordingClock, cm


class RecordingSink:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def replace(self, objects: list[dict], *, namespace: str | None, initial: bool) -> None:
        self.calls.append(("replace", [o["metadata"]["name"] for o in objects], namespace, initial))

    def apply(self, event_type: str, obj: dict) -> None:
        self.calls.append((event_type, obj["metadata"]["name"]))


def event(kind: str, name: str, rv: str) -> dict[str, Any]:
    return {"type": kind, "object": cm(name, rv=rv)}


def bookmark(rv: str) -> dict[str, Any]:
    return {"type": "BOOKMARK", "object": {"kind": "ConfigMap", "metadata": {"resourceVersion": rv}}}


def run_until_exhausted(source: FakeSource, **kwargs: Any) -> tuple[Reflector, RecordingSink, RecordingClock]:
    """Run the reflector until the source's watch script runs out."""
    sink, clock = RecordingSink(), RecordingClock()
    reflector = Reflector(source, CONFIG_MAPS, sink, namespace="ns", clock=clock, rand=lambda: 0.0, **kwargs)
    source.on_exhausted = reflector.stop
    reflector.run()
    return reflector, sink, clock


def test_backoff_doubles_from_point_eight_seconds_to_a_thirty_second_cap():
    backoff = Backoff(clock=RecordingClock(), rand=lambda: 0.0)
    assert [backoff.next_delay() for _ in range(8)] == [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]


def test_backoff_jitter_only_shortens_the_delay():
    backoff = Backoff(clock=RecordingClock(), rand=lambda: 0.5, jitter=0.2)
    assert [round(backoff.next_delay(), 3) for _ in range(2)] == [0.72, 1.44]


def test_backoff_starts_over_after_a_healthy_period():
    clock = RecordingClock()
    backoff = Backoff(clock=clock, rand=lambda: 0.0)
    assert [backoff.next_delay() for _ in range(3)] == [0.8, 1.6, 3.2]
    clock.step(119)
    assert backoff.next_delay() == 6.4
    clock.step(120)
    assert backoff.next_delay() == 0.8


def test_lists_then_watches_from_the_lists_resource_version_with_bookmarks():
    source = FakeSource([ListResult([cm("a")], "10")],
                        [[event("ADDED", "b", "11"), event("MODIFIED", "a", "16")]])
    reflector, sink, clock = run_until_exhausted(source, idle_timeout=42.0)
    assert sink.calls == [("replace", ["a"], "ns", True), ("ADDED", "b"), ("MODIFIED", "a")]
    first, second = source.watch_calls
    assert first["resource_version"] == "10" and first["bookmarks"] is True
    assert first["read_timeout"] == 42.0 and 300 <= first["timeout_seconds"] <= 600
    assert second["resource_version"] == "16", "a stream that ends is reopened from the last version"
    assert source.list_calls == ["ns"] and clock.waits == []
    assert reflector.has_synced


def test_a_bookmark_advances_the_resource_version_without_touching_the_sink():
    source = FakeSource([ListResult([], "10")], [[bookmark("99")]])
    _, sink, _ = run_until_exhausted(source)
    assert sink.calls == [("replace", [], "ns", True)]
    assert source.watch_calls[-1]["resource_version"] == "99"


def test_a_410_error_event_in_the_stream_makes_it_relist():
    source = FakeSource([ListResult([cm("a"), cm("b")], "10"), ListResult([cm("b", rv="12")], "20")],
                        [[event("ADDED", "c", "11"), Gone("too old resource version: 10 (15)")], []])
    _, sink, clock = run_until_exhausted(source)
    assert sink.calls == [("replace", ["a", "b"], "ns", True), ("ADDED", "c"),
                          ("replace", ["b"], "ns", False)]
    assert [c["resource_version"] for c in source.watch_calls] == ["10", "20", "20"]
    assert clock.waits == []


def test_an_http_410_when_opening_the_watch_makes_it_relist_after_a_backoff_when_nothing_arrived():
    source = FakeSource([ListResult([], "10"), ListResult([], "30")], [Gone("Expired")])
    _, _, clock = run_until_exhausted(source)
    assert source.list_calls == ["ns", "ns"]
    assert source.watch_calls[-1]["resource_version"] == "30"
    assert clock.waits == [0.8]


def test_a_silent_stream_is_reopened_at_once_from_the_last_resource_version():
    timeout = TransportError("ReadTimeoutError: read timed out", not_sent=False)
    source = FakeSource([ListResult([], "10")], [[event("ADDED", "a", "11"), timeout], []])
    _, _, clock = run_until_exhausted(source)
    assert [c["resource_version"] for c in source.watch_calls] == ["10", "11", "11"]
    assert clock.waits == [] and source.list_calls == ["ns"]


def test_failing_lists_back_off_in_the_exact_doubling_sequence():
    failures = [ServerError("boom", status=500)] * 7
    source = FakeSource([*failures, ListResult([], "10")], [])
    _, _, clock = run_until_exhausted(source)
    assert clock.waits == [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0]


def test_a_429_waits_at_least_its_retry_after():
    failures = [ServerError("boom", status=500), TooManyRequests("slow down", retry_after=10.0)]
    source = FakeSource([*failures, ListResult([], "10")], [])
    _, _, clock = run_until_exhausted(source)
    assert clock.waits == [0.8, 10.0]


def test_a_watch_that_cannot_be_opened_backs_off_then_rewatches_without_relisting():
    refused = TransportError("connection refused", not_sent=True)
    source = FakeSource([ListResult([], "10")], [refused, refused, refused])
    _, _, clock = run_until_exhausted(source)
    assert clock.waits == [0.8, 1.6, 3.2]
    assert source.list_calls == ["ns"]
    assert {c["resource_version"] for c in source.watch_calls} == {"10"}


def test_stop_ends_run_even_while_backing_off():
    source = FakeSource([ServerError("boom", status=500)], [])
    sink, clock = RecordingSink(), RecordingClock(stop_after=1)
    reflector = Reflector(source, CONFIG_MAPS, sink, clock=clock, rand=lambda: 0.0)
    reflector.run()
    assert clock.waits == [0.8] and sink.calls == []
    assert isinstance(Exhausted("x"), ServerError)


def test_a_malformed_event_backs_off_and_relists_instead_of_stopping_the_cache():
    malformed = {"object": cm("x", rv="12")}  # no "type": a KeyError deep in the reflector
    source = FakeSource([ListResult([cm("a")], "10"), ListResult([cm("a"), cm("b", rv="13")], "20")],
                        [[event("ADDED", "c", "11"), malformed], []])
    reflector, sink, clock = run_until_exhausted(source)
    assert sink.calls == [("replace", ["a"], "ns", True), ("ADDED", "c"),
                          ("replace", ["a", "b"], "ns", False)]
    assert clock.waits == [0.8] and source.list_calls == ["ns", "ns"]
    assert source.watch_calls[-1]["resource_version"] == "20"
    assert reflector.failures == 1 and reflector.failing_since is None  # the relist succeeded


def test_a_body_that_is_not_json_relists_too():
    source = FakeSource([ValueError("Expecting value: line 1 column 1 (char 0)"), ListResult([], "10")], [])
    reflector, _, clock = run_until_exhausted(source)
    assert clock.waits == [0.8] and source.list_calls == ["ns", "ns"] and reflector.has_synced


def test_a_reflector_that_keeps_failing_turns_unhealthy_after_the_bound_and_healthy_on_success():
    failures = [ServerError("boom", status=500)] * 6  # 0.8 + 1.6 + 3.2 + 6.4 + 12.8 + 25.6 = 50.4 s
    source = FakeSource([*failures, ListResult([], "10")], [])
    sink, clock = RecordingSink(), RecordingClock()
    reflector = Reflector(source, CONFIG_MAPS, sink, namespace="ns", clock=clock, rand=lambda: 0.0)
    seen = []
    wait = clock.wait

    def watching(event, timeout):
        seen.append((round(clock.now() - start, 1), reflector.healthy(10.0)))
        return wait(event, timeout)

    clock.wait = watching
    start = clock.now()
    source.on_exhausted = reflector.stop
    reflector.run()
    assert seen == [(0.0, True), (0.8, True), (2.4, True), (5.6, True), (12.0, False), (24.8, False)]
    assert reflector.failing_since is None and reflector.healthy(10.0)  # the seventh list succeeded
