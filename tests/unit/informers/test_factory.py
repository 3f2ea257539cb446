"""The shared informer factory: one informer per resource, one reflector per namespace in scope."""

from __future__ import annotations

import time

from rocketmq_operator.informers import SharedInformerFactory
from rocketmq_operator.kube import CONFIG_MAPS, NODES, PODS
from rocketmq_operator.kube.client import ListResult

from .fakes import FakeSource, cm


def test_every_caller_gets_the_same_informer_for_a_resource():
    factory = SharedInformerFactory(FakeSource())
    assert factory.informer(PODS) is factory.informer(PODS)
    assert factory.informer(PODS) is not factory.informer(CONFIG_MAPS)


def test_a_namespace_scope_lists_each_namespace_into_one_cache():
    source = FakeSource([ListResult([cm("a", namespace="x")], "1"),
                         ListResult([cm("b", namespace="y")], "2")])
    factory = SharedInformerFactory(source, namespaces=["x", "y"])
    lister = factory.lister(CONFIG_MAPS)
    factory.start()
    try:
        assert factory.wait_for_cache_sync(5)
        assert sorted(source.list_calls) == ["x", "y"]
        assert sorted(o["metadata"]["name"] for o in lister.list()) == ["a", "b"]
        assert [o["metadata"]["name"] for o in lister.list("y")] == ["b"]
    finally:
        factory.stop()


def test_a_cluster_scoped_resource_gets_one_reflector_even_in_a_namespace_scope():
    source = FakeSource([ListResult([{"metadata": {"name": "node-1", "resourceVersion": "1"}}], "1")])
    factory = SharedInformerFactory(source, namespaces=["x", "y"])
    lister = factory.lister(NODES)
    factory.start()
    try:
        assert factory.wait_for_cache_sync(5)
        assert source.list_calls == [None]
        assert lister.get(None, "node-1")["kind"] == "Node"
    finally:
        factory.stop()


def test_wait_for_cache_sync_gives_up_after_its_timeout():
    class NeverLists(FakeSource):
        def list_pages(self, *args, **kwargs):  # type: ignore[override]
            raise TimeoutError

    factory = SharedInformerFactory(NeverLists())
    factory.informer(PODS)
    assert factory.wait_for_cache_sync(0.05) is False


def test_the_factorys_watch_gather_reaches_every_watch_it_opens():
    source = FakeSource([ListResult([cm("a")], "1")])
    factory = SharedInformerFactory(source, watch_gather=0.25)
    factory.informer(CONFIG_MAPS)
    factory.start()
    try:
        assert factory.wait_for_cache_sync(5)
        deadline = time.monotonic() + 5
        while not source.watch_calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert source.watch_calls and source.watch_calls[0]["gather"] == 0.25
    finally:
        factory.stop()
