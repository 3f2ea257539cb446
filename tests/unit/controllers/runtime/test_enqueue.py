"""Covers the event handlers of controllers/runtime/enqueue.py: parent keys and their priorities (initial list
and unchanged resyncs low), tombstones unwrapped, children mapped through their controlling ownerReference."""

from __future__ import annotations

from typing import Any

from rocketmq_operator.controllers.runtime.enqueue import (
    became_settled,
    mapped_handler,
    owner_keys,
    parent_handler,
)
from rocketmq_operator.controllers.runtime.runner import Key
from rocketmq_operator.informers import DeletedFinalStateUnknown
from rocketmq_operator.workqueue import PRIORITY_CHILD, PRIORITY_LOW, PRIORITY_NORMAL, RateLimitingQueue
from tests.fakeclock import FakeClock


class Recorded:
    """An enqueue function that records ``(key, priority)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[Key, int]] = []

    def __call__(self, key: Key, *, priority: int = PRIORITY_NORMAL) -> None:
        self.calls.append((key, priority))


def obj(name: str, rv: str = "1", *, owners: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "resourceVersion": rv}
    if owners is not None:
        meta["ownerReferences"] = owners
    return {"metadata": meta}


def ref(kind: str, name: str, *, controller: bool = True) -> dict[str, Any]:
    return {"apiVersion": "x/v1", "kind": kind, "name": name, "uid": f"uid-{name}", "controller": controller}


# -- the parent kind -----------------------------------------------------------------------------------------

def test_parents_from_the_initial_list_go_in_at_low_priority():
    enqueue = Recorded()
    parent_handler(enqueue).on_add(obj("a"), is_initial_list=True)
    assert enqueue.calls == [(Key("ns", "a"), PRIORITY_LOW)]


def test_a_parent_created_after_the_initial_list_goes_in_at_normal_priority():
    enqueue = Recorded()
    parent_handler(enqueue).on_add(obj("a"), is_initial_list=False)
    assert enqueue.calls == [(Key("ns", "a"), PRIORITY_NORMAL)]


def test_a_resync_with_the_same_resource_version_goes_in_at_low_priority():
    enqueue = Recorded()
    parent_handler(enqueue).on_update(obj("a", "7"), obj("a", "7"))
    assert enqueue.calls == [(Key("ns", "a"), PRIORITY_LOW)]


def test_a_spec_change_goes_in_at_normal_priority():
    enqueue = Recorded()
    old, new = obj("a", "7"), obj("a", "8")
    old["metadata"]["generation"], new["metadata"]["generation"] = 1, 2
    parent_handler(enqueue).on_update(old, new)
    assert enqueue.calls == [(Key("ns", "a"), PRIORITY_NORMAL)]


def test_the_echo_of_the_controllers_own_status_write_is_not_queued_but_others_status_writes_are():
    enqueue = Recorded()
    handler = parent_handler(enqueue, is_echo=lambda o: o["metadata"]["resourceVersion"] == "8")
    handler.on_update(obj("a", "7"), obj("a", "8"))  # the version our last write made
    assert enqueue.calls == []
    handler.on_update(obj("a", "8"), obj("a", "9"))  # someone else's status write
    assert enqueue.calls == [(Key("ns", "a"), PRIORITY_CHILD)]


def test_a_deleted_parent_is_queued_by_its_key():
    enqueue = Recorded()
    parent_handler(enqueue).on_delete(obj("a"))
    assert enqueue.calls == [(Key("ns", "a"), PRIORITY_NORMAL)]


def test_a_delete_tombstone_is_unwrapped_to_the_key_of_its_last_known_object():
    enqueue = Recorded()
    parent_handler(enqueue).on_delete(DeletedFinalStateUnknown("ns/a", obj("a")))
    assert enqueue.calls == [(Key("ns", "a"), PRIORITY_NORMAL)]


def test_a_cluster_scoped_parent_has_an_empty_namespace_in_its_key():
    enqueue = Recorded()
    parent_handler(enqueue).on_add({"metadata": {"name": "c"}}, is_initial_list=False)
    assert enqueue.calls == [(Key("", "c"), PRIORITY_NORMAL)]


def test_new_work_is_handed_out_before_the_initial_list_in_a_real_queue():
    queue: RateLimitingQueue = RateLimitingQueue(clock=FakeClock())

    def enqueue(key: Key, *, priority: int = PRIORITY_NORMAL) -> None:
        queue.add(key, priority=priority)

    handler = parent_handler(enqueue)
    for name in ("old-1", "old-2"):
        handler.on_add(obj(name), is_initial_list=True)
    handler.on_update(obj("old-2", "1"), obj("old-2", "1"))  # resync: stays low
    handler.on_add(obj("new"), is_initial_list=False)
    assert [queue.try_get() for _ in range(3)] == [Key("ns", "new"), Key("ns", "old-1"), Key("ns", "old-2")]


# -- children ------------------------------------------------------------------------------------------------

def child_handler(enqueue: Recorded):
    return mapped_handler(enqueue, owner_keys("BrokerCluster"))


def test_a_child_is_mapped_to_its_controlling_parent_of_the_given_kind():
    enqueue = Recorded()
    child_handler(enqueue).on_add(obj("c", owners=[ref("BrokerCluster", "bc")]), is_initial_list=False)
    assert enqueue.calls == [(Key("ns", "bc"), PRIORITY_CHILD)]


def test_children_from_the_initial_list_go_in_at_low_priority():
    enqueue = Recorded()
    child_handler(enqueue).on_add(obj("c", owners=[ref("BrokerCluster", "bc")]), is_initial_list=True)
    assert enqueue.calls == [(Key("ns", "bc"), PRIORITY_LOW)]


def test_an_owner_reference_that_is_not_the_controller_maps_to_nothing():
    enqueue = Recorded()
    child_handler(enqueue).on_add(obj("c", owners=[ref("BrokerCluster", "bc", controller=False)]),
                                  is_initial_list=False)
    assert enqueue.calls == []


def test_a_controller_of_another_kind_maps_to_nothing():
    enqueue = Recorded()
    child_handler(enqueue).on_add(obj("c", owners=[ref("Broker", "b")]), is_initial_list=False)
    assert enqueue.calls == []


def test_only_the_controlling_reference_counts_among_several_owners():
    enqueue = Recorded()
    owners = [ref("BrokerCluster", "not-me", controller=False), ref("BrokerCluster", "me")]
    child_handler(enqueue).on_add(obj("c", owners=owners), is_initial_list=False)
    assert enqueue.calls == [(Key("ns", "me"), PRIORITY_CHILD)]


def test_owner_keys_accepts_any_of_several_kinds():
    to_keys = owner_keys("Broker", "BrokerCluster")
    assert to_keys(obj("c", owners=[ref("Broker", "b")])) == [Key("ns", "b")]
    assert to_keys(obj("c", owners=[ref("NameService", "n")])) == []


def test_a_child_resync_with_the_same_resource_version_is_skipped():
    enqueue = Recorded()
    child = obj("c", "5", owners=[ref("BrokerCluster", "bc")])
    child_handler(enqueue).on_update(child, child)
    assert enqueue.calls == []


def test_a_changed_child_queues_its_parent_below_changes_to_parents():
    enqueue = Recorded()
    owners = [ref("BrokerCluster", "bc")]
    child_handler(enqueue).on_update(obj("c", "5", owners=owners),
                                     {**obj("c", "6", owners=owners), "status": {"a": 1}})
    assert enqueue.calls == [(Key("ns", "bc"), PRIORITY_CHILD)]
    assert PRIORITY_LOW < PRIORITY_CHILD < PRIORITY_NORMAL


def test_a_child_changed_only_in_what_the_cache_leaves_out_queues_nothing():
    """A budget's status is not cached: its rewrites arrive as a new resourceVersion and nothing else."""
    enqueue = Recorded()
    owners = [ref("BrokerCluster", "bc")]
    child_handler(enqueue).on_update({**obj("c", "5", owners=owners), "spec": {"maxUnavailable": 1}},
                                     {**obj("c", "6", owners=owners), "spec": {"maxUnavailable": 1}})
    assert enqueue.calls == []


def test_a_child_whose_labels_or_annotations_changed_queues_its_parent():
    owners = [ref("BrokerCluster", "bc")]
    for field in ("labels", "annotations"):
        enqueue = Recorded()
        new = obj("c", "6", owners=owners)
        new["metadata"][field] = {"k": "v"}
        child_handler(enqueue).on_update(obj("c", "5", owners=owners), new)
        assert enqueue.calls == [(Key("ns", "bc"), PRIORITY_CHILD)], field


def test_a_child_that_gained_a_top_level_field_queues_its_parent():
    enqueue = Recorded()
    owners = [ref("BrokerCluster", "bc")]
    child_handler(enqueue).on_update(obj("c", "5", owners=owners),
                                     {**obj("c", "6", owners=owners), "data": {}})
    assert enqueue.calls == [(Key("ns", "bc"), PRIORITY_CHILD)]


def test_a_child_that_changed_controller_queues_both_the_new_and_the_old_parent():
    enqueue = Recorded()
    child_handler(enqueue).on_update(obj("c", "5", owners=[ref("BrokerCluster", "old")]),
                                     obj("c", "6", owners=[ref("BrokerCluster", "new")]))
    assert enqueue.calls == [(Key("ns", "new"), PRIORITY_CHILD), (Key("ns", "old"), PRIORITY_CHILD)]


def test_a_deleted_child_tombstone_is_unwrapped_and_queues_its_parent():
    enqueue = Recorded()
    child = obj("c", owners=[ref("BrokerCluster", "bc")])
    child_handler(enqueue).on_delete(DeletedFinalStateUnknown("ns/c", child))
    assert enqueue.calls == [(Key("ns", "bc"), PRIORITY_NORMAL)]


def test_a_mapping_to_several_parents_queues_each_of_them():
    enqueue = Recorded()
    handler = mapped_handler(enqueue, lambda o: [Key("ns", "x"), Key("ns", "y")])
    handler.on_add(obj("c"), is_initial_list=False)
    assert enqueue.calls == [(Key("ns", "x"), PRIORITY_CHILD), (Key("ns", "y"), PRIORITY_CHILD)]


def test_an_unchanged_resync_does_not_lower_a_key_already_queued_at_normal_priority():
    queue: RateLimitingQueue = RateLimitingQueue(clock=FakeClock())
    handler = parent_handler(lambda key, *, priority=PRIORITY_NORMAL: queue.add(key, priority=priority))
    handler.on_add(obj("listed"), is_initial_list=True)
    handler.on_update(obj("a", "1"), obj("a", "2"))
    handler.on_update(obj("a", "2"), obj("a", "2"))
    assert [queue.try_get() for _ in range(2)] == [Key("ns", "a"), Key("ns", "listed")]


def test_a_status_only_update_of_a_parent_goes_in_below_spec_changes():
    enqueue = Recorded()
    old = obj("a", "5")
    old["metadata"]["generation"] = 3
    new = obj("a", "6")
    new["metadata"]["generation"] = 3
    new["status"] = {"readyMembers": 4}
    parent_handler(enqueue).on_update(old, new)
    annotated = obj("a", "7")
    annotated["metadata"].update(generation=3, annotations={"rocketmq.apache.org/pause-reconcile": "true"})
    parent_handler(enqueue).on_update(new, annotated)
    assert enqueue.calls == [(Key("ns", "a"), PRIORITY_CHILD), (Key("ns", "a"), PRIORITY_NORMAL)]


def sts(rv: str, *, ready: int, updated: int, observed: int = 1, replicas: int = 2) -> dict[str, Any]:
    out = obj("g", rv, owners=[ref("BrokerCluster", "bc")])
    out["metadata"]["generation"] = 1
    out["spec"] = {"replicas": replicas}
    out["status"] = {"observedGeneration": observed, "readyReplicas": ready, "updatedReplicas": updated}
    return out


def test_the_update_that_settles_a_statefulset_queues_its_parent_at_once_others_wait_as_child_changes():
    enqueue = Recorded()
    handler = mapped_handler(enqueue, owner_keys("BrokerCluster"), completes=became_settled)
    handler.on_update(sts("1", ready=0, updated=2), sts("2", ready=1, updated=2))  # progress: waits
    handler.on_update(sts("2", ready=1, updated=2), sts("3", ready=2, updated=2))  # settles: at once
    # settled already
    handler.on_update(sts("3", ready=2, updated=2), {**sts("4", ready=2, updated=2), "x": 1})
    # spec not seen yet
    handler.on_update(sts("4", ready=1, updated=1), sts("5", ready=2, updated=2, observed=0))
    assert [p for _, p in enqueue.calls] == [PRIORITY_CHILD, PRIORITY_NORMAL, PRIORITY_CHILD, PRIORITY_CHILD]


def test_a_controller_delays_child_changes_but_not_the_settling_update():
    from rocketmq_operator.controllers.runtime.runner import Controller

    clock = FakeClock()
    queue = RateLimitingQueue(clock=clock)
    controller = Controller("x", reconciler=None, queue=queue, has_synced=[], recorder=None, workers=1,
                            child_delay=2.0)
    handler = mapped_handler(controller.enqueue, owner_keys("BrokerCluster"), completes=became_settled)
    handler.on_update(sts("1", ready=0, updated=2), sts("2", ready=1, updated=2))
    assert len(queue) == 0  # held for the child delay
    handler.on_update(sts("2", ready=1, updated=2), sts("3", ready=2, updated=2))
    assert len(queue) == 1


def test_only_the_statefulset_that_settles_the_last_group_of_a_cluster_completes_it():
    from rocketmq_operator.controllers.registry import _settles_cluster
    from rocketmq_operator.controllers.runtime.common import CLUSTER_INDEX, cluster_index
    from rocketmq_operator.informers import Lister, Store
    from rocketmq_operator.kube import STATEFUL_SETS

    def group(name: str, rv: str, ready: int) -> dict[str, Any]:
        out = sts(rv, ready=ready, updated=2)
        out["metadata"].update(name=name, labels={"rocketmq.apache.org/cluster": "bc"})
        return out

    store = Store({CLUSTER_INDEX: cluster_index})
    completes = _settles_cluster(Lister(store, STATEFUL_SETS))
    store.put(group("bc-1", "1", ready=1))
    store.put(new := group("bc-0", "3", ready=2))
    assert not completes(group("bc-0", "2", ready=1), new)  # group 1 is still coming up
    store.put(new := group("bc-1", "4", ready=2))
    assert completes(group("bc-1", "1", ready=1), new)
