"""The shared informer: notifications, tombstones on relist, scopes, transforms, resync, handler threads."""

from __future__ import annotations

import copy
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from rocketmq_operator.informers import DeletedFinalStateUnknown, FuncHandler, SharedInformer, compact
from rocketmq_operator.kube import CONFIG_MAPS, NotFound
from rocketmq_operator.kube.client import ListResult

from .fakes import FakeSource, IdleSource, RecordingHandler, cm


@pytest.fixture
def informer() -> Iterator[Callable[..., SharedInformer]]:
    """Makes started informers fed by hand (``replace``/``apply``): their source never answers a list."""
    source = IdleSource()
    made: list[SharedInformer] = []

    def make(**kwargs: Any) -> SharedInformer:
        made.append(SharedInformer(source, CONFIG_MAPS, **kwargs))
        made[-1].start()
        return made[-1]

    yield make
    source.release.set()
    for inf in made:
        inf.stop()


def handled(inf: SharedInformer) -> RecordingHandler:
    handler = RecordingHandler()
    inf.add_handler(handler)
    return handler


def test_the_initial_list_arrives_as_adds_flagged_initial_and_then_the_handler_is_synced(informer):
    inf = informer()
    handler = RecordingHandler()
    registration = inf.add_handler(handler)
    assert not inf.has_synced()
    inf.replace([cm("a"), cm("b")], namespace=None, initial=True)
    assert inf.has_synced()
    assert handler.wait_for(2) == [("add", "a", True), ("add", "b", True)]
    assert inf.wait_for_sync(1) and _eventually(registration.has_synced)


def test_watch_events_become_add_update_and_delete_with_the_final_state_in_order(informer):
    inf = informer()
    handler = handled(inf)
    inf.replace([], namespace=None, initial=True)
    inf.apply("ADDED", cm("a", rv="2"))
    inf.apply("MODIFIED", cm("a", rv="3"))
    final = cm("a", rv="4", data={"k": "v"})
    inf.apply("DELETED", final)
    seen = handler.wait_for(3)
    assert seen[:2] == [("add", "a", False), ("update", "a", "2", "3", False)]
    assert seen[2][0] == "delete" and seen[2][1]["metadata"]["resourceVersion"] == "4"
    with pytest.raises(NotFound):
        inf.lister().get("ns", "a")


def test_a_relist_sends_tombstones_for_vanished_objects_updates_for_changed_and_nothing_for_unchanged(
        informer):
    inf = informer()
    handler = handled(inf)
    inf.replace([cm("gone", rv="1"), cm("same", rv="1"), cm("changed", rv="1")], namespace=None, initial=True)
    handler.wait_for(3)
    inf.replace([cm("same", rv="1"), cm("changed", rv="5"), cm("new", rv="6")], namespace=None, initial=False)
    seen = handler.wait_for(6)[3:]
    tombstone = seen[0][1]
    assert isinstance(tombstone, DeletedFinalStateUnknown)
    assert tombstone.key == "ns/gone" and tombstone.obj["metadata"]["name"] == "gone"
    assert seen[1:] == [("update", "changed", "1", "5", False), ("add", "new", False)]
    assert sorted(inf.store.keys()) == ["ns/changed", "ns/new", "ns/same"]


def test_a_relist_of_one_namespace_leaves_the_other_namespaces_alone(informer):
    inf = informer(namespaces=["x", "y"])
    inf.replace([cm("a", namespace="x")], namespace="x", initial=True)
    assert not inf.has_synced(), "synced only when every namespace has been listed"
    inf.replace([cm("b", namespace="y")], namespace="y", initial=True)
    assert inf.has_synced()
    inf.replace([], namespace="x", initial=False)
    assert inf.store.keys() == ["y/b"]


def test_compact_interns_short_string_values_in_place_and_leaves_the_rest_equal():
    first = orjson.loads(b'{"metadata": {"labels": {"app": "rocketmq-broker-x"}},'
                         b' "spec": {"args": ["run-x", 7]},'
                         b' "data": {"long": "' + b"y" * 100 + b'"}}')
    second = orjson.loads(b'{"metadata": {"labels": {"app": "rocketmq-broker-x"}},'
                          b' "spec": {"args": ["run-x"]}}')
    before = copy.deepcopy(first)
    out = compact(first)
    compact(second)
    assert out is first and out == before  # same object, same content
    assert first["metadata"]["labels"]["app"] is second["metadata"]["labels"]["app"]  # one string for both
    assert first["spec"]["args"][0] is second["spec"]["args"][0]  # list items too
    assert compact("short") is sys.intern("short")


def test_the_decoder_shares_short_keys_between_documents_so_compact_need_not_intern_them():
    """compact relies on it: if the decoder stopped sharing keys, every cached object would own its keys."""
    a, b = (orjson.loads(b'{"metadata": {"ownerReferences": []}}'),
            orjson.loads(b'{"metadata": {"ownerReferences": 1}}'))
    assert next(iter(a)) is next(iter(b))
    assert next(iter(a["metadata"])) is next(iter(b["metadata"]))


def test_cached_objects_lose_managed_fields_gain_kind_and_pass_the_transform():
    def label(obj: dict) -> dict:
        obj["metadata"]["labels"] = {"seen": "yes"}
        return obj

    item = cm("a")
    del item["apiVersion"], item["kind"]
    item["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    inf = SharedInformer(FakeSource([ListResult([item], "1")]), CONFIG_MAPS, transform=label)
    inf.start()
    try:
        assert inf.wait_for_sync(5)
        cached = inf.lister().get("ns", "a")
    finally:
        inf.stop()
    assert "managedFields" not in cached["metadata"]
    assert cached["apiVersion"] == "v1" and cached["kind"] == "ConfigMap"
    assert cached["metadata"]["labels"] == {"seen": "yes"}


def test_resync_replays_the_cache_as_updates_of_the_same_object(informer):
    inf = informer()
    handler = handled(inf)
    inf.replace([cm("a", rv="7")], namespace=None, initial=True)
    inf.resync()
    assert handler.wait_for(2)[1] == ("update", "a", "7", "7", True)


def test_a_handler_added_late_gets_the_cache_replayed_as_initial_adds(informer):
    inf = informer()
    inf.replace([cm("a")], namespace=None, initial=True)
    handler = RecordingHandler()
    registration = inf.add_handler(handler)
    assert handler.wait_for(1) == [("add", "a", True)]
    assert _eventually(registration.has_synced)


def test_a_failing_handler_keeps_receiving_later_notifications(informer):
    calls: list[str] = []

    def add(obj: dict, initial: bool) -> None:
        calls.append(obj["metadata"]["name"])
        raise RuntimeError("handler bug")

    inf = informer()
    inf.add_handler(FuncHandler(add=add))
    after = handled(inf)
    inf.replace([cm("a"), cm("b")], namespace=None, initial=True)
    after.wait_for(2)
    assert _eventually(lambda: calls == ["a", "b"])


def test_a_started_informer_syncs_from_its_source_and_follows_its_watch():
    source = FakeSource([ListResult([cm("a", rv="1")], "1")])
    inf = SharedInformer(source, CONFIG_MAPS)
    handler = handled(inf)
    inf.start()
    try:
        assert inf.wait_for_sync(5)
        source.events.put({"type": "ADDED", "object": cm("b", rv="2")})
        assert handler.wait_for(2) == [("add", "a", True), ("add", "b", False)]
        assert source.watch_calls[0]["resource_version"] == "1"
    finally:
        inf.stop()


def _eventually(check: Any, timeout: float = 5.0) -> bool:
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if check():
            return True
        done.wait(0.01)
    return bool(check())


def test_an_update_shares_the_unchanged_sections_of_the_version_it_replaces_and_compacts_the_rest():
    def sts(rv: str, ready: int, image: str) -> dict[str, Any]:
        return orjson.loads(orjson.dumps({
            "metadata": {"name": "s", "namespace": "ns", "resourceVersion": rv,
                         "labels": {"app": "broker-x"}},
            "spec": {"template": {"spec": {"containers": [{"image": image}]}}},
            "status": {"readyReplicas": ready, "phase": "Rolling-x"}}))

    inf = SharedInformer(FakeSource(), CONFIG_MAPS)
    inf.apply("ADDED", sts("1", 0, "rocketmq:5.3.3"))
    first = inf.store.get("ns/s")
    inf.apply("MODIFIED", sts("2", 1, "rocketmq:5.3.3"))
    second = inf.store.get("ns/s")
    assert second["spec"] is first["spec"] and second["metadata"]["labels"] is first["metadata"]["labels"]
    assert second["status"] == {"readyReplicas": 1, "phase": "Rolling-x"} and (
        second["status"] is not first["status"])
    assert second["status"]["phase"] is first["status"]["phase"]  # the changed section is compacted
    assert second["metadata"]["resourceVersion"] == "2"
    inf.apply("MODIFIED", sts("3", 1, "rocketmq:5.3.4"))
    third = inf.store.get("ns/s")
    assert third["spec"] is not second["spec"]
    assert third["spec"]["template"]["spec"]["containers"][0]["image"] == "rocketmq:5.3.4"
    assert third["status"] is second["status"]
    # old versions intact
    assert first["spec"]["template"]["spec"]["containers"][0]["image"] == "rocketmq:5.3.3"
