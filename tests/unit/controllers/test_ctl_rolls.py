"""Covers rolls through the reconciler with a played StatefulSet controller: a template change replaces one
broker at a time across the cluster (slaves of every group, then the masters), and with RocketMQ observed a
master is fenced, drained and restored around its restart, the fence kept in status."""

from __future__ import annotations

from typing import Any

from ctl_fakes import Cluster, InlinePool, World, load_sample, play_statefulset_controller

from rocketmq_operator.controllers.observer import Observer
from rocketmq_operator.controllers.runner import Key
from rocketmq_operator.kube import BROKER_CLUSTERS

NS, NAME = "rocketmq-operator", "mybrokercluster"
KEY = Key(NS, NAME)


def upgrade(cluster: Cluster, image: str) -> None:
    obj = cluster.get(BROKER_CLUSTERS, NS, NAME)
    obj["spec"]["brokerImage"] = image
    obj["metadata"]["generation"] += 1
    del obj["metadata"]["resourceVersion"]
    cluster.seed(BROKER_CLUSTERS, obj)


def roll(cluster: Cluster, reconciler, *, rounds: int, ips=None, step: float = 0.0) -> list[list[str]]:
    replaced = []
    for _ in range(rounds):
        reconciler.sync(KEY)
        replaced.append(play_statefulset_controller(cluster, NS, ips))
        cluster.clock.step(step)
    return [r for r in replaced if r]


def test_an_image_upgrade_replaces_one_broker_at_a_time_slaves_of_every_group_first():
    cluster = Cluster()
    cluster.seed(BROKER_CLUSTERS, load_sample("04-cluster-2m-2s.yaml", uid="uid-bc"))
    reconciler = cluster.broker_cluster_reconciler()
    roll(cluster, reconciler, rounds=2)
    upgrade(cluster, "apache/rocketmq:5.3.3")
    assert roll(cluster, reconciler, rounds=8) == [
        ["mybrokercluster-0-1"], ["mybrokercluster-1-1"], ["mybrokercluster-0-0"], ["mybrokercluster-1-0"]]
    status = cluster.get(BROKER_CLUSTERS, NS, NAME)["status"]
    assert "roll" not in status and "Rolling" not in {c["type"] for c in status["conditions"]}


def test_with_rocketmq_observed_a_master_is_fenced_drained_and_restored_around_its_restart():
    world = World()
    cluster = Cluster()
    obj = load_sample("04-cluster-2m-2s.yaml", uid="uid-bc")
    obj["spec"]["groupReplica"] = 1
    cluster.seed(BROKER_CLUSTERS, obj)
    obs = Observer(interval=30.0, clock=cluster.clock, admin_factory=world.admin)
    obs._pool = InlinePool()
    reconciler = cluster.broker_cluster_reconciler(obs)
    ips = {"mybrokercluster-0-0": "10.0.0.1", "mybrokercluster-0-1": "10.0.0.2"}
    roll(cluster, reconciler, rounds=3, ips=ips)
    upgrade(cluster, "apache/rocketmq:5.3.3")
    seen: list[Any] = []
    for _ in range(12):
        reconciler.sync(KEY)
        cluster.catch_up()
        status = cluster.get(BROKER_CLUSTERS, NS, NAME)["status"]
        seen.append((play_statefulset_controller(cluster, NS, ips), status.get("roll", {}).get("fenced"),
                     list(world.fences)))
        cluster.clock.step(8)
    replaced = [r for r, _, _ in seen if r]
    assert replaced == [["mybrokercluster-0-1"], ["mybrokercluster-0-0"]]
    master_round = next(i for i, (r, _, _) in enumerate(seen) if r == ["mybrokercluster-0-0"])
    assert seen[master_round][1] == "broker-0"  # fenced in status while the master restarted
    assert ("wipe", "broker-0") in seen[master_round][2]
    assert world.fences[-1] == ("add", "broker-0")
    assert "roll" not in cluster.get(BROKER_CLUSTERS, NS, NAME)["status"]
