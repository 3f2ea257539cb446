"""The thread-safe store, its indexes, and the generic lister over it."""

from __future__ import annotations

import pytest

from rocketmq_operator.informers import CONTROLLER_UID_INDEX, NAMESPACE_INDEX, Lister, Store, object_key
from rocketmq_operator.kube import CONFIG_MAPS, NODES, NotFound

from .fakes import cm


def test_object_key_is_namespace_slash_name_or_name_for_cluster_scoped_objects():
    assert object_key(cm("a", namespace="ns")) == "ns/a"
    assert object_key({"metadata": {"name": "node-1"}}) == "node-1"


def test_put_returns_the_replaced_object_and_delete_returns_the_removed_one():
    store = Store()
    first, second = cm("a", rv="1"), cm("a", rv="2")
    assert store.put(first) is None
    assert store.put(second) is first
    assert store.get("ns/a") is second
    assert store.delete("ns/a") is second
    assert store.delete("ns/a") is None
    assert len(store) == 0


def test_indexes_follow_an_object_whose_owner_changes():
    store = Store()
    store.put(cm("a", owner_uid="u1"))
    store.put(cm("a", owner_uid="u2"))
    assert store.by_index(CONTROLLER_UID_INDEX, "u1") == []
    assert [o["metadata"]["name"] for o in store.by_index(CONTROLLER_UID_INDEX, "u2")] == ["a"]
    store.delete("ns/a")
    assert store.by_index(CONTROLLER_UID_INDEX, "u2") == []


def test_owner_references_that_are_not_controllers_are_not_indexed():
    obj = cm("a")
    obj["metadata"]["ownerReferences"] = [{"uid": "u1", "controller": False}]
    store = Store()
    store.put(obj)
    assert store.by_index(CONTROLLER_UID_INDEX, "u1") == []


def test_added_indexers_index_objects_already_cached():
    store = Store()
    store.put(cm("a", labels={"app": "broker"}))
    store.add_indexers({"app": lambda o: [o["metadata"].get("labels", {}).get("app", "")]})
    assert store.keys_by_index("app", "broker") == ["ns/a"]
    with pytest.raises(ValueError):
        store.add_indexers({"app": lambda o: []})


def test_lister_get_raises_the_clients_not_found():
    lister = Lister(Store(), CONFIG_MAPS)
    with pytest.raises(NotFound) as caught:
        lister.get("ns", "missing")
    assert caught.value.status == 404
    assert '"missing" not found' in caught.value.message


def test_lister_lists_one_namespace_and_filters_by_label_equality():
    store = Store()
    store.put(cm("a", namespace="x", labels={"app": "broker", "tier": "1"}))
    store.put(cm("b", namespace="x", labels={"app": "nameserver"}))
    store.put(cm("c", namespace="y", labels={"app": "broker"}))
    lister = Lister(store, CONFIG_MAPS)
    assert sorted(o["metadata"]["name"] for o in lister.list()) == ["a", "b", "c"]
    assert sorted(o["metadata"]["name"] for o in lister.list("x")) == ["a", "b"]
    assert [o["metadata"]["name"] for o in lister.list("x", {"app": "broker"})] == ["a"]
    assert sorted(o["metadata"]["name"] for o in lister.list(selector={"app": "broker"})) == ["a", "c"]
    assert lister.list("x", {"app": "broker", "tier": "2"}) == []


def test_lister_by_index_reads_a_named_index():
    store = Store()
    store.put(cm("a", owner_uid="owner"))
    lister = Lister(store, CONFIG_MAPS)
    assert [o["metadata"]["name"] for o in lister.by_index(CONTROLLER_UID_INDEX, "owner")] == ["a"]
    assert [o["metadata"]["name"] for o in lister.by_index(NAMESPACE_INDEX, "ns")] == ["a"]


def test_lister_of_a_cluster_scoped_kind_ignores_the_namespace():
    store = Store()
    store.put({"metadata": {"name": "node-1"}})
    assert Lister(store, NODES).get("whatever", "node-1")["metadata"]["name"] == "node-1"
