"""Covers the broker-cluster reconciler with RocketMQ observed (a scripted admin client in an inline
observer): status lists what RocketMQ reports, Ready waits for registration, unreachable name servers are a
condition and one Warning, and a name-server change leaves the pod template alone (it is pushed instead)."""

from __future__ import annotations

import copy
from typing import Any

from rocketmq_operator.controllers.observe.observer import Observer
from rocketmq_operator.controllers.runtime.runner import Key, Result
from rocketmq_operator.kube import BROKER_CLUSTERS, PODS, STATEFUL_SETS
from tests.unit.controllers.fakes import (
    TALK_NAME_SERVER_IPS,
    Cluster,
    InlinePool,
    World,
    load_sample,
    seed_name_service,
)

NS, NAME = "rocketmq-operator", "mybrokercluster"
KEY = Key(NS, NAME)
IPS = {"mybrokercluster-0-0": "10.0.0.1", "mybrokercluster-0-1": "10.0.0.2"}


def one_group() -> dict[str, Any]:
    obj = load_sample("04-cluster-2m-2s.yaml", uid="uid-bc", claims=True)
    obj["spec"]["groupReplica"] = 1
    return obj


def running(cluster: Cluster) -> None:
    """The StatefulSet controller and kubelet: pods exist with IPs, Ready."""
    cluster.catch_up()
    for sts in cluster.lister(STATEFUL_SETS).list(NS):
        sts = copy.deepcopy(sts)
        n = sts["spec"]["replicas"]
        sts["status"] = {"observedGeneration": sts["metadata"]["generation"], "replicas": n,
                         "updatedReplicas": n, "readyReplicas": n}
        cluster.seed(STATEFUL_SETS, sts)
        for m in range(n):
            name = f"{sts['metadata']['name']}-{m}"
            cluster.seed(PODS, {"metadata": {"name": name, "namespace": NS,
                                             "labels": sts["spec"]["template"]["metadata"]["labels"]},
                                "status": {"podIP": IPS[name],
                                           "conditions": [{"type": "Ready", "status": "True"}]}})


def observed_cluster(world: World) -> tuple[Cluster, Observer]:
    cluster = Cluster()
    obs = Observer(interval=30.0, clock=cluster.clock, admin_factory=world.admin, pool=InlinePool())
    seed_name_service(cluster, NS, size=2, ips=TALK_NAME_SERVER_IPS)  # the namespace's own name servers
    cluster.seed(BROKER_CLUSTERS, one_group())
    cluster.broker_cluster_reconciler(obs).sync(KEY)
    running(cluster)
    return cluster, obs


def last_status(cluster: Cluster) -> dict[str, Any]:
    return [a.body for a in cluster.api.actions if a.subresource == "status"][-1]["status"]


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_registered_brokers_make_the_cluster_ready_with_rocketmqs_roles_in_status():
    cluster, obs = observed_cluster(World())
    result = cluster.broker_cluster_reconciler(obs).sync(KEY)
    assert result == Result(requeue_after=30.0)
    status = last_status(cluster)
    assert status["registeredMembers"] == 2
    assert conditions(status)["BrokersRegistered"]["status"] == "True"
    assert conditions(status)["Ready"]["status"] == "True"
    master, slave = status["brokers"]
    assert (master["role"], master["address"], master["version"], master["registeredOn"]) == (
        "MASTER", "10.0.0.1:10911", "V5_3_3", 2)
    assert (slave["role"], slave["lagBytes"], slave["nameServersSynced"]) == ("SLAVE", 800, True)


def test_a_member_missing_on_every_name_server_keeps_ready_false_with_the_reason():
    world = World()
    world.without_slave.update({"10.10.101.98:9876", "10.10.103.181:9876"})
    cluster, obs = observed_cluster(world)
    cluster.broker_cluster_reconciler(obs).sync(KEY)
    status = last_status(cluster)
    assert conditions(status)["BrokersRegistered"]["reason"] == "NotRegistered"
    assert conditions(status)["Ready"]["status"] == "False"
    assert "waiting for mybrokercluster-0-1" in conditions(status)["Ready"]["message"]


def test_a_member_missing_on_one_name_server_is_ready_while_registration_propagates():
    world = World()
    world.without_slave.add("10.10.101.98:9876")
    cluster, obs = observed_cluster(world)
    cluster.broker_cluster_reconciler(obs).sync(KEY)
    status = last_status(cluster)
    assert conditions(status)["BrokersRegistered"]["reason"] == "Propagating"
    assert "mybrokercluster-0-1 on 1" in conditions(status)["BrokersRegistered"]["message"]
    assert conditions(status)["Ready"]["status"] == "True"
    assert status["registeredMembers"] == 2


def test_unreachable_name_servers_are_a_condition_and_one_warning():
    world = World()
    world.dead.update({"10.10.103.181:9876", "10.10.101.98:9876"})
    cluster, obs = observed_cluster(world)
    cluster.broker_cluster_reconciler(obs).sync(KEY)
    assert conditions(last_status(cluster))["Ready"]["reason"] == "RocketMQUnreachable"
    assert cluster.recorder.reasons("Warning") == ["NameServersUnreachable"]
    cluster.catch_up()
    cluster.recorder.events.clear()
    cluster.clock.step(31)
    cluster.broker_cluster_reconciler(obs).sync(KEY)
    assert cluster.recorder.reasons("Warning") == []


def test_a_second_pass_with_nothing_new_writes_nothing():
    cluster, obs = observed_cluster(World())
    cluster.broker_cluster_reconciler(obs).sync(KEY)
    cluster.catch_up()
    cluster.api.clear()
    cluster.clock.step(31)
    cluster.broker_cluster_reconciler(obs).sync(KEY)
    assert cluster.api.actions == []


def test_a_name_server_change_updates_broker_conf_but_not_the_pod_template_and_is_pushed():
    world = World()
    cluster, obs = observed_cluster(world)
    cluster.broker_cluster_reconciler(obs).sync(KEY)
    cluster.catch_up()
    cluster.api.clear()
    changed = cluster.get(BROKER_CLUSTERS, NS, NAME)
    changed["spec"]["nameServers"] = "10.10.103.181:9876"
    del changed["metadata"]["resourceVersion"]
    cluster.seed(BROKER_CLUSTERS, changed)
    cluster.broker_cluster_reconciler(obs).sync(KEY)
    updated = [(a.resource, a.name) for a in cluster.api.actions
               if a.verb == "update" and a.subresource is None]
    assert updated == [("configmaps", f"{NAME}-brokers")]  # one ConfigMap holds every group's files
    assert ("10.0.0.1:10911", "10.10.103.181:9876") in world.pushes


def test_the_pods_of_a_group_beyond_the_spec_are_still_observed_so_its_drain_can_read_its_master():
    from rocketmq_operator.resources import meta

    cluster, obs = observed_cluster(World())
    pod = copy.deepcopy(cluster.lister(PODS).get(NS, "mybrokercluster-0-0"))
    pod["metadata"]["name"] = "mybrokercluster-1-0"
    pod["metadata"]["labels"] = {**pod["metadata"]["labels"], meta.LABEL_GROUP: "1"}
    cluster.seed(PODS, pod)
    cluster.broker_cluster_reconciler(obs).sync(KEY)
    members = {m.pod: m for m in obs.facts(("BrokerCluster", NS, NAME)).target.members}
    assert members["mybrokercluster-1-0"].broker_name == "broker-1"


NS_PODS = ("ns-0", "ns-1")
NS_ADDRS = ";".join(f"{p}.ns.{NS}.svc.cluster.local:9876" for p in NS_PODS)


def with_pod_name_servers(world: World) -> tuple[Cluster, Observer]:
    """A cluster whose name servers are pods of the same namespace (as a NameService's are), not yet
    created."""
    cluster = Cluster()
    obs = Observer(interval=30.0, clock=cluster.clock, admin_factory=world.admin, pool=InlinePool())
    seed_name_service(cluster, NS, size=len(NS_PODS))  # its pods come later
    obj = one_group()
    obj["spec"]["nameServers"] = NS_ADDRS
    cluster.seed(BROKER_CLUSTERS, obj)
    cluster.broker_cluster_reconciler(obs).sync(KEY)
    running(cluster)
    return cluster, obs


def name_server_pods(cluster: Cluster, *, ready: bool) -> None:
    for i, name in enumerate(NS_PODS):
        cluster.seed(PODS, {"metadata": {"name": name, "namespace": NS, "labels": {"app": "name-service"}},
                            "status": {"podIP": f"10.0.1.{i + 1}",
                                       "conditions": [{"type": "Ready", "status": str(ready)}]}})


def test_name_servers_still_coming_up_are_waited_for_without_a_warning():
    world = World()
    world.dead.update(f"{p}.ns.{NS}.svc.cluster.local:9876" for p in NS_PODS)
    world.dead.update({"10.0.1.1:9876", "10.0.1.2:9876"})
    cluster, obs = with_pod_name_servers(world)
    cluster.broker_cluster_reconciler(obs).sync(KEY)
    registered = conditions(last_status(cluster))["BrokersRegistered"]
    assert (registered["status"], registered["reason"]) == ("Unknown", "WaitingForNameServers")
    assert conditions(last_status(cluster))["Ready"]["reason"] == "Progressing"
    assert cluster.recorder.reasons("Warning") == []

    name_server_pods(cluster, ready=False)  # created, JVMs starting: still waiting
    cluster.catch_up()
    cluster.clock.step(31)
    cluster.broker_cluster_reconciler(obs).sync(KEY)
    assert conditions(last_status(cluster))["BrokersRegistered"]["reason"] == "WaitingForNameServers"
    assert cluster.recorder.reasons("Warning") == []

    name_server_pods(cluster, ready=True)  # Ready, yet nothing answers: that is worth a Warning
    cluster.catch_up()
    cluster.clock.step(31)
    cluster.broker_cluster_reconciler(obs).sync(KEY)
    assert conditions(last_status(cluster))["Ready"]["reason"] == "RocketMQUnreachable"
    assert cluster.recorder.reasons("Warning") == ["NameServersUnreachable"]


def test_name_servers_that_came_up_are_read_through_their_pod_ips():
    world = World()
    cluster, obs = with_pod_name_servers(world)
    name_server_pods(cluster, ready=True)
    cluster.catch_up()
    cluster.clock.step(31)
    cluster.broker_cluster_reconciler(obs).sync(KEY)
    assert conditions(last_status(cluster))["BrokersRegistered"]["reason"] == "AllRegistered"
    assert conditions(last_status(cluster))["Ready"]["status"] == "True"
