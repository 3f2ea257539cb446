"""Covers controllers/clustermetrics: observed facts and status become RocketMQ series on /metrics, with
bounded cardinality (a broker, role, roll or cluster that goes takes its series along), and the
broker-cluster reconciler publishes on each sync and forgets a deleted resource."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from rocketmq_operator.controllers.observe.clustermetrics import FAMILIES, ClusterMetrics
from rocketmq_operator.controllers.observe.observer import BrokerFacts, ClusterFacts, ObserveTarget
from tests.fakeclock import FakeClock

KEY = ("BrokerCluster", "shop", "orders")
CLUSTER = {"kind": "BrokerCluster", "namespace": "shop", "cluster": "orders"}
TARGET = ObserveTarget(cluster_name="DefaultCluster", name_servers=("ns-0:9876", "ns-1:9876"),
                       namesrv_addr="", members=())


def broker(name: str, **labels: str) -> dict[str, str]:
    return {**CLUSTER, "broker": name, **labels}


def facts(*brokers: BrokerFacts, up: int = 2) -> ClusterFacts:
    return ClusterFacts(target=TARGET, read_at=0.0, name_servers_up=up, name_server_errors=(),
                        brokers=brokers)


MASTER = BrokerFacts(pod="orders-0-0", addr="10.0.0.1:10911", broker_name="broker-0", broker_id=0,
                     role="MASTER", registered_on=2, max_offset=5000, put_tps=120.5, get_tps=80.0)
SLAVE = BrokerFacts(pod="orders-0-1", addr="10.0.0.2:10911", broker_name="broker-0", broker_id=1,
                    role="SLAVE", registered_on=1, max_offset=4200, lag_bytes=800, put_tps=0.0, get_tps=3.5)


def status(*, brokers=("orders-0-0", "orders-0-1"), roles=("MASTER", "SLAVE"), ready=True, **extra) -> dict:
    return {"groups": 1, "readyGroups": 1 if ready else 0, "members": len(brokers),
            "readyMembers": len(brokers) if ready else 0, "registeredMembers": 1,
            "brokers": [{"name": n, "role": r, "ready": ready} for n, r in zip(brokers, roles, strict=False)],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}], **extra}


def make() -> tuple[CollectorRegistry, ClusterMetrics, FakeClock]:
    registry, clock = CollectorRegistry(), FakeClock(start=10_000.0)
    return registry, ClusterMetrics(registry, clock=clock), clock


def series(registry: CollectorRegistry, prefix: str = "rocketmq_") -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in registry.collect() for s in family.samples if s.name.startswith(prefix)}


def test_observed_brokers_export_up_registration_role_lag_and_tps():
    registry, metrics, _ = make()
    metrics.publish(KEY, status(), facts(MASTER, SLAVE), observed=True)
    value = registry.get_sample_value
    assert value("rocketmq_broker_up", broker("orders-0-0")) == 1.0
    assert value("rocketmq_broker_registered_name_servers", broker("orders-0-0")) == 2.0
    assert value("rocketmq_broker_registered_name_servers", broker("orders-0-1")) == 1.0
    assert value("rocketmq_broker_role", broker("orders-0-0", broker_name="broker-0", role="MASTER")) == 1.0
    assert value("rocketmq_broker_role", broker("orders-0-1", broker_name="broker-0", role="SLAVE")) == 1.0
    assert value("rocketmq_broker_replication_lag_bytes", broker("orders-0-1")) == 800.0
    assert value("rocketmq_broker_replication_lag_bytes", broker("orders-0-0")) is None  # a master has no lag
    assert (value("rocketmq_broker_put_tps", broker("orders-0-0")),
            value("rocketmq_broker_get_tps", broker("orders-0-0"))) == (120.5, 80.0)
    assert value("rocketmq_broker_ready", broker("orders-0-1")) == 1.0
    assert value("rocketmq_cluster_name_servers_up", CLUSTER) == 2.0
    assert value("rocketmq_cluster_registered_members", CLUSTER) == 1.0


def test_cluster_series_count_groups_and_members_ready_of_total():
    registry, metrics, _ = make()
    metrics.publish(KEY, status(ready=False), facts(MASTER, SLAVE), observed=True)
    value = registry.get_sample_value
    assert [value(f"rocketmq_cluster_{n}", CLUSTER) for n in ("ready", "groups", "ready_groups", "members",
                                                                "ready_members")] == [0.0, 1.0, 0.0, 2.0, 0.0]


def test_a_broker_that_did_not_answer_or_was_not_seen_is_down_and_unregistered():
    registry, metrics, _ = make()
    failed = BrokerFacts(pod="orders-0-1", addr="10.0.0.2:10911", error="broker 10.0.0.2:10911: timed out")
    metrics.publish(KEY, status(brokers=("orders-0-0", "orders-0-1", "orders-0-2"),
                                roles=("MASTER", "SLAVE", "SLAVE")),
                    facts(MASTER, failed), observed=True)
    assert registry.get_sample_value("rocketmq_broker_up", broker("orders-0-1")) == 0.0
    assert registry.get_sample_value("rocketmq_broker_up", broker("orders-0-2")) == 0.0  # no pod IP yet
    assert registry.get_sample_value("rocketmq_broker_registered_name_servers", broker("orders-0-2")) == 0.0
    # unregistered: RocketMQ reports no role
    assert registry.get_sample_value("rocketmq_broker_role",
                                     broker("orders-0-1", broker_name="", role="SLAVE")) is None


def test_stale_facts_leave_every_broker_down_but_listed():
    registry, metrics, _ = make()
    metrics.publish(KEY, status(), None, observed=True)
    assert registry.get_sample_value("rocketmq_broker_up", broker("orders-0-0")) == 0.0
    assert registry.get_sample_value("rocketmq_cluster_name_servers_up", CLUSTER) is None


def test_without_observation_only_the_kubernetes_side_is_exported():
    registry, metrics, _ = make()
    metrics.publish(KEY, status(), None, observed=False)
    names = {name for name, _ in series(registry)}
    assert not any(n.startswith("rocketmq_broker_") for n in names)
    assert "rocketmq_cluster_registered_members" not in names
    assert registry.get_sample_value("rocketmq_cluster_ready_members", CLUSTER) == 2.0


def test_a_removed_broker_and_a_changed_role_leave_no_stale_series():
    registry, metrics, _ = make()
    metrics.publish(KEY, status(), facts(MASTER, SLAVE), observed=True)
    promoted = BrokerFacts(pod="orders-0-0", addr="10.0.0.1:10911", broker_name="broker-0", broker_id=1,
                           role="SLAVE", registered_on=2)
    metrics.publish(KEY, status(brokers=("orders-0-0",), roles=("SLAVE",)), facts(promoted), observed=True)
    now = series(registry, "rocketmq_broker_")
    assert not [k for k in now if ("broker", "orders-0-1") in k[1]]
    roles = [dict(labels)["role"] for name, labels in now if name == "rocketmq_broker_role"]
    assert roles == ["SLAVE"]


def test_forgetting_a_cluster_removes_all_its_series_and_only_its_own():
    registry, metrics, _ = make()
    other = ("Broker", "shop", "payments")
    metrics.publish(KEY, status(roll={"pod": "orders-0-1"}), facts(MASTER, SLAVE), observed=True)
    metrics.publish(other, status(brokers=("payments-0-0",)), None, observed=True)
    metrics.forget(KEY)
    left = series(registry)
    assert left and all(("cluster", "payments") in labels for _, labels in left)
    metrics.forget(other)
    assert series(registry) == {}


def test_a_roll_exports_its_step_and_how_long_it_has_run_and_nothing_once_done():
    registry, metrics, clock = make()
    rolling = {"type": "Rolling", "status": "True", "reason": "OneAtATime",
               "message": "restarting orders-0-1"}
    metrics.publish(KEY, status(roll={"pod": "orders-0-1"}, conditions=[rolling]), facts(MASTER, SLAVE),
                    observed=True)
    clock.step(40)
    metrics.publish(KEY, status(roll={"pod": "orders-0-1", "fenced": "broker-0"}, conditions=[rolling]),
                    facts(MASTER, SLAVE), observed=True)
    clock.step(20)
    value = registry.get_sample_value
    assert value("rocketmq_roll_in_progress", CLUSTER) == 1.0
    assert value("rocketmq_roll_step", {**CLUSTER, "step": "fencing"}) == 1.0
    assert value("rocketmq_roll_step", {**CLUSTER, "step": "restarting"}) is None
    assert value("rocketmq_roll_duration_seconds", CLUSTER) == 60.0
    metrics.publish(KEY, status(roll={"pod": "orders-0-0", "fenced": "broker-0", "wipedAt": 1.0},
                                conditions=[rolling]),
                    facts(MASTER, SLAVE), observed=True)
    assert value("rocketmq_roll_step", {**CLUSTER, "step": "fenced"}) == 1.0
    metrics.publish(KEY, status(), facts(MASTER, SLAVE), observed=True)
    assert value("rocketmq_roll_in_progress", CLUSTER) == 0.0
    assert [n for n, _ in series(registry)
            if n.startswith(("rocketmq_roll_step", "rocketmq_roll_duration"))] == []
    clock.step(5)  # a new roll counts from its own start
    metrics.publish(KEY, status(conditions=[rolling]), facts(MASTER, SLAVE), observed=True)
    clock.step(3)
    assert value("rocketmq_roll_step", {**CLUSTER, "step": "waiting"}) == 1.0
    assert value("rocketmq_roll_duration_seconds", CLUSTER) == 3.0


def test_a_drain_exports_its_group_step_and_duration_from_status():
    registry, metrics, clock = make()
    metrics.publish(KEY, status(drain={"group": 2, "startedAt": 10_000.0 - 90}), None, observed=True)
    value = registry.get_sample_value
    assert (value("rocketmq_drain_in_progress", CLUSTER), value("rocketmq_drain_group", CLUSTER)) == (
        1.0, 2.0)
    assert value("rocketmq_drain_step", {**CLUSTER, "step": "draining"}) == 1.0
    assert value("rocketmq_drain_duration_seconds", CLUSTER) == 90.0
    stuck = {"type": "ScaleDownRefused", "status": "True", "reason": "DrainTimedOut", "message": "..."}
    clock.step(600)
    metrics.publish(KEY, status(drain={"group": 2, "startedAt": 10_000.0 - 90}, conditions=[stuck]), None,
                    observed=True)
    assert value("rocketmq_drain_step", {**CLUSTER, "step": "timed_out"}) == 1.0
    assert value("rocketmq_drain_step", {**CLUSTER, "step": "draining"}) is None
    assert value("rocketmq_drain_duration_seconds", CLUSTER) == 690.0
    metrics.publish(KEY, status(), None, observed=True)
    assert value("rocketmq_drain_in_progress", CLUSTER) == 0.0
    assert value("rocketmq_drain_duration_seconds", CLUSTER) is None


def test_every_family_is_described_so_the_registry_knows_its_names_before_any_cluster():
    registry, _, _ = make()
    assert {m.name for m in registry.collect() if m.name.startswith("rocketmq_")} == set(FAMILIES)


def test_one_collector_per_registry_is_shared_by_both_front_doors():
    shared = CollectorRegistry()
    assert ClusterMetrics.for_registry(shared) is ClusterMetrics.for_registry(shared)
    assert ClusterMetrics.for_registry(shared) is not ClusterMetrics.for_registry(CollectorRegistry())


def test_the_reconciler_publishes_what_it_observed_and_forgets_a_deleted_cluster():
    from rocketmq_operator.controllers.observe.observer import Observer
    from rocketmq_operator.kube import BROKER_CLUSTERS
    from tests.unit.controllers.brokers.test_observed_cluster import KEY as SYNC_KEY
    from tests.unit.controllers.brokers.test_observed_cluster import NAME, NS, one_group, running
    from tests.unit.controllers.fakes import Cluster, InlinePool, World

    registry, cluster = CollectorRegistry(), Cluster()
    metrics = ClusterMetrics(registry, clock=cluster.clock)
    obs = Observer(interval=30.0, clock=cluster.clock, admin_factory=World().admin, pool=InlinePool())
    obj = cluster.seed(BROKER_CLUSTERS, one_group())
    reconciler = cluster.broker_cluster_reconciler(obs, metrics=metrics)
    reconciler.sync(SYNC_KEY)
    running(cluster)
    reconciler.sync(SYNC_KEY)
    labels = {"kind": "BrokerCluster", "namespace": NS, "cluster": NAME}
    value = registry.get_sample_value
    assert value("rocketmq_cluster_ready_members", labels) == 2.0
    assert value("rocketmq_broker_up", {**labels, "broker": f"{NAME}-0-0"}) == 1.0
    assert value("rocketmq_broker_replication_lag_bytes", {**labels, "broker": f"{NAME}-0-1"}) == 800.0
    cluster.unseed(BROKER_CLUSTERS, obj)
    reconciler.sync(SYNC_KEY)
    assert series(registry) == {}
