"""Covers the TopicTransfer reconciler over a fake RocketMQ: cluster resolution (resource names, RocketMQ
cluster names, not found), one action per sync with status recorded before the next, a whole transfer, a
refusal that rolls back, unreachable RocketMQ as a condition with backoff, no writes once finished, the
rollback finalizer (added before RocketMQ is touched, let go only after a verified rollback), and masters a
source resource expects that are not registered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from rocketmq_operator.controllers.runtime.runner import Key
from rocketmq_operator.controllers.topictransfer.topictransfer import FINALIZER
from rocketmq_operator.controllers.topictransfer.transferfacts import expected_brokers
from rocketmq_operator.kube import BROKERS, NAME_SERVICES, PODS, TOPIC_TRANSFERS, Conflict
from rocketmq_operator.rocketmq import (
    BrokerData,
    ClusterInfo,
    ConnectError,
    ConsumeStats,
    MessageQueue,
    QueueData,
    QueueOffsets,
    ResponseError,
    TopicNotFound,
    TopicRoute,
)

NS = "10.0.0.1:9876"
KEY = Key("default", "move")


@dataclass
class FakeRocketMQ:
    """Two clusters on one name server: C1 (broker a) and C2 (broker b)."""

    brokers: dict[str, tuple[str, str]] = field(default_factory=lambda: {"a": ("C1", "10.1.0.1:10911"),
                                                                          "b": ("C2", "10.1.0.2:10911")})
    # (broker, topic) → queues
    topics: dict[tuple[str, str], tuple[int, int, int]] = field(default_factory=dict)
    groups: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {"a": {}, "b": {}})
    consumed: dict[tuple[str, str], int] = field(default_factory=dict)  # (group, broker) → lag
    refuse: set[str] = field(default_factory=set)  # method names that answer with an error code
    down: bool = False
    calls: list[str] = field(default_factory=list)

    def addr(self, broker: str) -> str:
        return self.brokers[broker][1]

    def broker_of(self, addr: str) -> str:
        return next(b for b, (_, a) in self.brokers.items() if a == addr)


class FakeAdmin:
    def __init__(self, mq: FakeRocketMQ, name_servers: tuple[str, ...]) -> None:
        self.mq, self.name_servers = mq, name_servers

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def _call(self, name: str) -> None:
        self.mq.calls.append(name)
        if self.mq.down:
            raise ConnectError("connection refused", addr=NS)
        if name in self.mq.refuse:
            raise ResponseError(1, "refused", addr=NS)

    def cluster_info(self) -> ClusterInfo:
        self._call("cluster_info")
        brokers = {b: BrokerData(c, b, {0: a}) for b, (c, a) in self.mq.brokers.items()}
        clusters: dict[str, set[str]] = {}
        for b, (c, _) in self.mq.brokers.items():
            clusters.setdefault(c, set()).add(b)
        return ClusterInfo(brokers, {c: frozenset(bs) for c, bs in clusters.items()})

    def topic_route(self, topic: str) -> TopicRoute:
        self._call("topic_route")
        queues = tuple(QueueData(b, *q) for (b, t), q in sorted(self.mq.topics.items()) if t == topic)
        if not queues:
            raise TopicNotFound(17, "no route", addr=NS)
        return TopicRoute(topic, (), queues)

    def subscription_groups(self, addr: str):
        self._call("subscription_groups")
        return dict(self.mq.groups[self.mq.broker_of(addr)])

    def topic_consumers(self, addr: str, topic: str):
        self._call("topic_consumers")
        broker = self.mq.broker_of(addr)
        return frozenset(g for g, b in self.mq.consumed if b == broker and (b, topic) in self.mq.topics)

    def broker_consume_stats(self, addr: str, group: str, *, topic: str | None = None) -> ConsumeStats:
        self._call("broker_consume_stats")
        broker = self.mq.broker_of(addr)
        lag = self.mq.consumed.get((group, broker), 0)
        return ConsumeStats({MessageQueue(topic or "", broker, 0): QueueOffsets(lag, 0)})

    def topic_stats(self, addr: str, topic: str):
        self._call("topic_stats")
        return {MessageQueue(topic, self.mq.broker_of(addr), 0): (0, 0)}

    def create_topic(self, config, *, broker_addr: str, cluster: str | None = None):
        self._call("create_topic")
        self.mq.topics[(self.mq.broker_of(broker_addr), config.name)] = (
            config.read_queue_nums, config.write_queue_nums, config.perm)
        return (broker_addr,)

    def create_subscription_group(self, addr: str, config: dict[str, Any]) -> None:
        self._call("create_subscription_group")
        self.mq.groups[self.mq.broker_of(addr)][config["groupName"]] = dict(config)

    def delete_subscription_group(self, addr: str, group: str) -> None:
        self._call("delete_subscription_group")
        self.mq.groups[self.mq.broker_of(addr)].pop(group, None)

    def delete_topic_in_broker(self, addr: str, topic: str) -> None:
        self._call("delete_topic_in_broker")
        self.mq.topics.pop((self.mq.broker_of(addr), topic), None)

    def delete_topic_in_namesrv(self, topic: str, *, cluster: str) -> None:
        self._call("delete_topic_in_namesrv")


@pytest.fixture
def mq() -> FakeRocketMQ:
    world = FakeRocketMQ()
    world.topics[("a", "orders")] = (4, 4, 6)
    world.groups["a"]["g1"] = {"groupName": "g1", "retryMaxTimes": 3}
    world.consumed[("g1", "a")] = 5
    return world


def transfer(source: str = "C1", target: str = "C2", *, finalizer: bool = True,
             **spec: Any) -> dict[str, Any]:
    """A TopicTransfer as the operator's first sync leaves it (holding the finalizer), unless
    ``finalizer=False``."""
    meta = {"name": "move", "namespace": "default", "generation": 1,
            **({"finalizers": [FINALIZER]} if finalizer else {})}
    return {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "TopicTransfer", "metadata": meta,
            "spec": {"topic": "orders", "sourceCluster": source, "targetCluster": target, **spec}}


def delete(cluster) -> None:
    """``kubectl delete``: the API server sets deletionTimestamp and waits for the finalizers."""
    obj = cluster.get(TOPIC_TRANSFERS, "default", "move")
    obj["metadata"]["deletionTimestamp"] = "2023-11-14T23:00:00Z"
    del obj["metadata"]["resourceVersion"]
    cluster.seed(TOPIC_TRANSFERS, obj)


def gone(cluster) -> bool:
    return ("topictransfers", "default", "move") not in cluster.api.objects


def seed_name_service(cluster) -> None:
    cluster.seed(NAME_SERVICES, {"metadata": {"name": "ns", "namespace": "default"},
                                 "status": {"nameServers": [NS]}})


def sync(cluster, mq: FakeRocketMQ):
    result = cluster.topic_transfer_reconciler(admin_for=lambda addrs: FakeAdmin(mq, addrs)).sync(KEY)
    cluster.catch_up()
    return result


def status(cluster) -> dict[str, Any]:
    return cluster.get(TOPIC_TRANSFERS, "default", "move").get("status") or {}


def ready(cluster) -> dict[str, Any]:
    return next(c for c in status(cluster)["conditions"] if c["type"] == "Ready")


def run_until(cluster, mq: FakeRocketMQ, phase: str, *, limit: int = 30) -> list[str]:
    phases = []
    for _ in range(limit):
        sync(cluster, mq)
        if not phases or phases[-1] != status(cluster).get("phase"):
            phases.append(status(cluster).get("phase"))
        if phases[-1] == phase:
            return phases
        cluster.clock.step(5)
    raise AssertionError(f"never reached {phase}: {phases}, {ready(cluster)}")


def test_a_source_cluster_that_is_nowhere_is_a_clear_condition(cluster, mq):
    cluster.seed(TOPIC_TRANSFERS, transfer("broker-0", "broker-1"))
    result = sync(cluster, mq)
    assert (ready(cluster)["reason"], status(cluster)["phase"]) == ("ClusterNotFound", "Pending")
    assert ready(cluster)["message"].startswith("source cluster broker-0 not found")
    assert result.requeue_after == 30 and mq.calls == []


def test_a_rocketmq_cluster_name_missing_on_every_name_server_is_not_found(cluster, mq):
    seed_name_service(cluster)
    cluster.seed(TOPIC_TRANSFERS, transfer("C9", "C2"))
    sync(cluster, mq)
    assert ready(cluster)["reason"] == "ClusterNotFound" and (
        f"on name servers {NS}" in ready(cluster)["message"])


def test_a_broker_resource_name_resolves_through_its_status(cluster, mq):
    for name, broker in (("src", "a"), ("dst", "b")):
        cluster.seed(BROKERS, {"metadata": {"name": name, "namespace": "default"},
                               "status": {"nameServers": NS, "brokers": [{"brokerName": broker}]}})
    cluster.seed(TOPIC_TRANSFERS, transfer("src", "dst"))
    sync(cluster, mq)
    assert status(cluster)["source"] == {"cluster": "C1", "nameServers": NS}
    assert status(cluster)["target"]["cluster"] == "C2" and status(cluster)["phase"] == "CreatingTarget"


def test_a_whole_transfer_records_each_step_and_ends_on_the_target_only(cluster, mq):
    seed_name_service(cluster)
    cluster.seed(TOPIC_TRANSFERS, transfer())
    phases = run_until(cluster, mq, "Draining")
    assert mq.topics[("a", "orders")] == (4, 4, 4) and mq.topics[("b", "orders")] == (4, 4, 6)
    assert mq.groups["b"]["g1"] == {"groupName": "g1", "retryMaxTimes": 3}  # copied from the source
    # before consumers come
    assert mq.calls.index("create_subscription_group") < mq.calls.index("create_topic")
    sync(cluster, mq)
    assert "group g1 is 5 messages behind" in ready(cluster)["message"] and (
        status(cluster)["lag"] == {"g1": 5})
    mq.consumed[("g1", "a")] = 0
    phases += [p for p in run_until(cluster, mq, "Done") if p != "Draining"]
    assert phases == ["CreatingTarget", "Fencing", "Draining", "Deleting", "Done"]
    assert ("a", "orders") not in mq.topics and ("b", "%RETRY%g1") in mq.topics
    assert [s["name"] for s in status(cluster)["steps"]] == ["TargetCreated", "SourceFenced", "Drained",
                                                            "SourceDeleted", "RetryTopicsCreated"]
    assert ready(cluster)["status"] == "True"
    assert "Warning" not in {e.type for e in cluster.recorder.events}
    assert {"TargetCreated", "SourceFenced", "Drained", "SourceDeleted", "RetryTopicsCreated"} <= set(
        cluster.recorder.reasons("Normal"))


def test_a_finished_transfer_is_never_repeated_and_costs_no_call_or_write(cluster, mq):
    seed_name_service(cluster)
    cluster.seed(TOPIC_TRANSFERS, transfer())
    mq.consumed[("g1", "a")] = 0
    run_until(cluster, mq, "Done")
    mq.topics[("a", "orders")] = (4, 4, 6)  # someone creates the topic on the source again
    mq.calls.clear()
    cluster.api.clear()
    assert sync(cluster, mq) is None
    assert (mq.calls, cluster.api.actions) == ([], [])


def test_a_refused_step_fails_the_transfer_and_rolls_back_what_was_done(cluster, mq):
    seed_name_service(cluster)
    cluster.seed(TOPIC_TRANSFERS, transfer())
    run_until(cluster, mq, "Fencing")
    mq.refuse.add("create_topic")
    phases = run_until(cluster, mq, "RolledBack")
    assert phases[0] == "Failed" and status(cluster)["failedIn"] == "Fencing"
    assert mq.topics == {("a", "orders"): (4, 4, 6)} and "g1" not in mq.groups["b"]
    assert "StepFailed" in cluster.recorder.reasons("Warning") and (
        "RolledBack" in cluster.recorder.reasons("Warning"))


def test_unreachable_rocketmq_is_a_condition_with_a_growing_recheck_and_no_phase_change(cluster, mq):
    seed_name_service(cluster)
    cluster.seed(TOPIC_TRANSFERS, transfer())
    mq.down = True
    first = sync(cluster, mq)
    assert (ready(cluster)["reason"], status(cluster)["phase"]) == ("RocketMQUnreachable", "Pending")
    assert "connection refused" in ready(cluster)["message"] and first.requeue_after == 5
    cluster.clock.step(40)
    cluster.api.clear()
    assert sync(cluster, mq).requeue_after == 40
    assert cluster.api.actions == []  # the same condition: nothing written again
    mq.down = False
    sync(cluster, mq)
    assert status(cluster)["phase"] == "CreatingTarget"
    assert "RocketMQUnreachable" not in {c["type"] for c in status(cluster)["conditions"]}


def test_a_draining_transfer_whose_lag_does_not_change_writes_nothing(cluster, mq):
    seed_name_service(cluster)
    cluster.seed(TOPIC_TRANSFERS, transfer())
    run_until(cluster, mq, "Draining")
    sync(cluster, mq)
    cluster.api.clear()
    cluster.clock.step(5)
    assert sync(cluster, mq).requeue_after == 5
    assert cluster.api.actions == []


def test_a_paused_transfer_changes_nothing_in_rocketmq_until_resumed(cluster, mq):
    seed_name_service(cluster)
    obj = transfer()
    obj["metadata"]["annotations"] = {"rocketmq.apache.org/pause-reconcile": "true"}
    cluster.seed(TOPIC_TRANSFERS, obj)
    assert sync(cluster, mq) is None and mq.calls == []
    assert "Paused" in {c["type"] for c in status(cluster)["conditions"]}
    obj = cluster.get(TOPIC_TRANSFERS, "default", "move")
    obj["metadata"]["annotations"] = {}
    cluster.seed(TOPIC_TRANSFERS, obj)
    sync(cluster, mq)
    assert status(cluster)["phase"] == "CreatingTarget"
    assert "Paused" not in {c["type"] for c in status(cluster)["conditions"]}


def test_a_spec_change_after_done_is_reported_once(cluster, mq):
    seed_name_service(cluster)
    cluster.seed(TOPIC_TRANSFERS, transfer())
    mq.consumed[("g1", "a")] = 0
    run_until(cluster, mq, "Done")
    obj = cluster.get(TOPIC_TRANSFERS, "default", "move")
    obj["spec"]["drainTimeoutSeconds"] = 60
    obj["metadata"]["generation"] = 2
    cluster.seed(TOPIC_TRANSFERS, obj)
    mq.calls.clear()
    sync(cluster, mq)
    sync(cluster, mq)
    assert cluster.recorder.reasons("Warning") == ["SpecChangeIgnored"] and mq.calls == []
    assert status(cluster)["phase"] == "Done"


def test_a_drain_past_its_timeout_makes_the_source_writable_again_and_removes_the_target_additions(
        cluster, mq):
    seed_name_service(cluster)
    cluster.seed(TOPIC_TRANSFERS, transfer(drainTimeoutSeconds=30))
    run_until(cluster, mq, "Draining")
    assert mq.topics[("a", "orders")] == (4, 4, 4)
    phases = run_until(cluster, mq, "RolledBack")
    assert phases[:2] == ["Draining", "Failed"] and status(cluster)["failedIn"] == "Draining"
    assert mq.topics == {("a", "orders"): (4, 4, 6)} and "g1" not in mq.groups["b"]
    assert "DrainTimedOut" in cluster.recorder.reasons("Warning")
    assert "nothing was deleted" in next(e.message for e in cluster.recorder.events
                                         if e.reason == "DrainTimedOut")


# -- the rollback finalizer --------------------------------------------------------------------------------

def test_the_first_sync_only_adds_the_finalizer_and_rocketmq_is_touched_on_the_next(cluster, mq):
    seed_name_service(cluster)
    cluster.seed(TOPIC_TRANSFERS, transfer(finalizer=False))
    result = sync(cluster, mq)
    assert cluster.api.heads() == [("update", "topictransfers", None, "default", "move")]
    assert mq.calls == [] and result.requeue_after > 0
    assert cluster.get(TOPIC_TRANSFERS, "default", "move")["metadata"]["finalizers"] == [FINALIZER]
    cluster.api.clear()
    sync(cluster, mq)
    assert status(cluster)["phase"] == "CreatingTarget"
    assert ("update", "topictransfers", None, "default", "move") not in cluster.api.heads()  # added once


def test_a_finalizer_write_that_meets_a_newer_object_touches_no_rocketmq(cluster, mq):
    seed_name_service(cluster)
    cluster.seed(TOPIC_TRANSFERS, transfer(finalizer=False))
    cluster.api.fail("update", TOPIC_TRANSFERS, Conflict("the object has been modified"))
    assert sync(cluster, mq).requeue_after > 0
    assert mq.calls == [] and "finalizers" not in cluster.get(TOPIC_TRANSFERS, "default", "move")["metadata"]


def test_a_transfer_deleted_while_fencing_rolls_back_and_only_then_lets_its_finalizer_go(cluster, mq):
    seed_name_service(cluster)
    cluster.seed(TOPIC_TRANSFERS, transfer())
    run_until(cluster, mq, "Fencing")
    sync(cluster, mq)
    assert mq.topics[("a", "orders")] == (4, 4, 4)  # the source is fenced
    delete(cluster)
    phases, results = [], []
    for _ in range(20):
        results.append(sync(cluster, mq))
        if gone(cluster):
            break
        phases.append(status(cluster)["phase"])
        assert FINALIZER in cluster.get(TOPIC_TRANSFERS, "default", "move")["metadata"]["finalizers"]
    assert gone(cluster) and phases[0] == "Failed" and phases[-1] == "RolledBack"
    # the sync that recorded RolledBack comes back to let the finalizer go
    assert results[-2].requeue_after > 0
    assert mq.topics == {("a", "orders"): (4, 4, 6)} and "g1" not in mq.groups["b"]  # read back: writable
    assert "TransferDeleted" in cluster.recorder.reasons("Warning")
    assert cluster.recorder.reasons()[-1] == "FinalizerRemoved"


def test_a_rollback_that_cannot_reach_rocketmq_keeps_the_finalizer_warns_once_and_retries(cluster, mq):
    seed_name_service(cluster)
    cluster.seed(TOPIC_TRANSFERS, transfer())
    run_until(cluster, mq, "Fencing")
    sync(cluster, mq)
    delete(cluster)
    mq.down = True
    sync(cluster, mq)
    assert status(cluster)["phase"] == "Failed"  # recorded from status alone
    results = []
    for _ in range(3):
        cluster.clock.step(10)
        results.append(sync(cluster, mq))
    assert all(r.requeue_after >= 5 for r in results)
    assert cluster.recorder.reasons("Warning").count("RollbackPending") == 1
    pending = next(c for c in status(cluster)["conditions"] if c["type"] == "RollbackPending")
    assert "cannot reach RocketMQ" in pending["message"] and FINALIZER in pending["message"]
    assert not gone(cluster) and mq.topics[("a", "orders")] == (4, 4, 4)
    mq.down = False
    for _ in range(20):
        sync(cluster, mq)
        if gone(cluster):
            break
    assert gone(cluster) and mq.topics[("a", "orders")] == (4, 4, 6)


def test_a_done_transfer_deleted_lets_its_finalizer_go_without_a_rocketmq_call(cluster, mq):
    seed_name_service(cluster)
    cluster.seed(TOPIC_TRANSFERS, transfer())
    mq.consumed[("g1", "a")] = 0
    run_until(cluster, mq, "Done")
    delete(cluster)
    mq.calls.clear()
    cluster.api.clear()
    assert sync(cluster, mq) is None
    assert mq.calls == [] and cluster.api.heads() == [("update", "topictransfers", None, "default", "move")]
    assert gone(cluster) and ("b", "orders") in mq.topics


def test_a_deleted_transfer_without_the_finalizer_is_left_alone(cluster, mq):
    seed_name_service(cluster)
    cluster.seed(TOPIC_TRANSFERS, transfer(finalizer=False))
    delete(cluster)
    assert sync(cluster, mq) is None
    assert (mq.calls, cluster.api.heads()) == ([], [])


# -- masters the source should have ------------------------------------------------------------------------

def seed_resources(cluster, source_brokers: list[str]) -> None:
    for name, brokers in (("src", source_brokers), ("dst", ["b"])):
        cluster.seed(BROKERS, {"metadata": {"name": name, "namespace": "default"},
                               "status": {"nameServers": NS,
                                          "brokers": [{"brokerName": b} for b in brokers]}})


def test_a_source_master_expected_but_not_registered_holds_the_transfer_naming_it(cluster, mq):
    seed_resources(cluster, ["a", "a2"])  # broker a2 of the source is down: not registered
    cluster.seed(TOPIC_TRANSFERS, transfer("src", "dst"))
    mq.consumed[("g1", "a")] = 0
    run_until(cluster, mq, "Fencing")
    for _ in range(10):
        sync(cluster, mq)
        cluster.clock.step(30)
    assert status(cluster)["phase"] == "Fencing" and mq.topics[("a", "orders")] == (4, 4, 4)
    assert ready(cluster)["reason"] == "MasterNotRegistered" and (
        "broker a2 of C1" in ready(cluster)["message"])
    mq.brokers["a2"] = ("C1", "10.1.0.3:10911")  # it comes back, writable
    mq.groups["a2"] = {}
    mq.topics[("a2", "orders")] = (4, 4, 6)
    run_until(cluster, mq, "Done")
    assert ("a", "orders") not in mq.topics and ("a2", "orders") not in mq.topics


def test_a_rollback_waits_for_a_fenced_source_master_that_went_down_and_lifts_its_fence_too(cluster, mq):
    seed_resources(cluster, ["a", "a2"])
    mq.brokers["a2"], mq.groups["a2"] = ("C1", "10.1.0.3:10911"), {}
    mq.topics[("a2", "orders")] = (4, 4, 6)
    cluster.seed(TOPIC_TRANSFERS, transfer("src", "dst"))
    run_until(cluster, mq, "Fencing")
    sync(cluster, mq)
    assert (mq.topics[("a", "orders")], mq.topics[("a2", "orders")]) == ((4, 4, 4), (4, 4, 4))
    delete(cluster)
    held = mq.brokers.pop("a2")  # a fenced master goes down
    for _ in range(6):
        sync(cluster, mq)
        cluster.clock.step(30)
    assert not gone(cluster) and status(cluster)["phase"] == "Failed"
    assert mq.topics[("a", "orders")] == (4, 4, 6) and "broker a2 of C1" in ready(cluster)["message"]
    assert cluster.recorder.reasons("Warning").count("RollbackPending") == 1
    mq.brokers["a2"] = held
    for _ in range(10):
        sync(cluster, mq)
        if gone(cluster):
            break
    assert gone(cluster) and mq.topics[("a2", "orders")] == (4, 4, 6)


def test_expected_brokers_come_from_status_and_once_the_prefix_is_known_from_spec_and_pods(cluster):
    obj = {"metadata": {"name": "bc", "namespace": "default"}, "spec": {"groupReplica": 2},
           "status": {"brokers": [{"brokerName": "broker-0"}]}}
    assert expected_brokers("BrokerCluster", obj, cluster.lister(PODS)) == {"broker-0"}
    obj["status"]["brokerNamePrefix"] = "bc"
    cluster.seed(PODS, {"metadata": {"name": "bc-2-0", "namespace": "default", "labels": {
        "app": "rocketmq-broker", "rocketmq.apache.org/cluster": "bc", "rocketmq.apache.org/group": "2"}}})
    assert expected_brokers("BrokerCluster", obj, cluster.lister(PODS)) == {
        "broker-0", "bc-0", "bc-1", "bc-2"}
