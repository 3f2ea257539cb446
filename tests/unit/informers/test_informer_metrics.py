"""The informers' figures on /metrics: lists, watches, watch events and cached objects per resource."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry

from rocketmq_operator.informers import SharedInformerFactory
from rocketmq_operator.kube import CONFIG_MAPS, FAILED_CREATE_EVENTS, STATEFUL_SETS
from rocketmq_operator.kube.client import ListResult
from rocketmq_operator.manager import register_informer_metrics

from .fakes import FakeSource, cm


def _wait(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def test_each_informer_reports_its_lists_watches_events_and_cached_objects():
    events = [{"type": "ADDED", "object": cm("c", rv="3")},
              {"type": "MODIFIED", "object": cm("a", rv="4")},
              {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "5"}}},
              {"type": "DELETED", "object": cm("b", rv="6")}]
    source = FakeSource([ListResult([cm("a"), cm("b")], "2")], watches=[events])
    factory = SharedInformerFactory(source)
    informer = factory.informer(CONFIG_MAPS)
    registry = CollectorRegistry()
    register_informer_metrics(factory, registry)
    factory.start()
    try:
        assert factory.wait_for_cache_sync(5)
        assert _wait(lambda: informer.stats()["events"] == 3)
        value = registry.get_sample_value
        assert value("rocketmq_operator_informer_lists_total", {"resource": "configmaps"}) == 1
        # no bookmark
        assert value("rocketmq_operator_informer_watch_events_total", {"resource": "configmaps"}) == 3
        assert value("rocketmq_operator_informer_objects", {"resource": "configmaps"}) == 2  # a, c
        assert value("rocketmq_operator_informer_watches_total", {"resource": "configmaps"}) >= 1
    finally:
        factory.stop()


def test_resources_are_told_apart_by_group_and_field_selector():
    factory = SharedInformerFactory(FakeSource())
    factory.informer(STATEFUL_SETS)
    factory.informer(FAILED_CREATE_EVENTS)
    registry = CollectorRegistry()
    register_informer_metrics(factory, registry)
    assert registry.get_sample_value("rocketmq_operator_informer_objects",
                                     {"resource": "statefulsets.apps"}) == 0
    assert registry.get_sample_value("rocketmq_operator_informer_lists_total",
                                     {"resource": "events(reason=FailedCreate)"}) == 0
