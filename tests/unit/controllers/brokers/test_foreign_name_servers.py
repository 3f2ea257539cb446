"""Covers the broker reconciler on name servers it does not own (another namespace's NameService, an external
host): with RocketMQ observed no write permission is ever wiped or restored through them — the roll holds
before the master, a drain waits and deletes nothing, a paused cluster's fence is not lifted — with condition
NameServersForeign and one Warning; the field and the operator flag together allow it, either alone does not;
the namespace's own NameService (by nameServiceRef, literal DNS names or pod IPs) changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from rocketmq_operator.controllers.observe.observer import Observer
from rocketmq_operator.controllers.runtime.common import PAUSE_ANNOTATION
from rocketmq_operator.controllers.runtime.runner import Key
from rocketmq_operator.kube import BROKER_CLUSTERS, BROKERS, STATEFUL_SETS
from tests.unit.controllers.fakes import (
    Cluster,
    InlinePool,
    World,
    load_sample,
    play_statefulset_controller,
    seed_name_service,
    sync_until_fenced,
)

NS, NAME = "rocketmq-operator", "mybrokercluster"
KEY = Key(NS, NAME)
OTHER_NS = "team-b"
FOREIGN = f"other-ns-0.other-ns.{OTHER_NS}.svc.cluster.local:9876"
OWN = f"ns-0.ns.{NS}.svc.cluster.local:9876"
IPS = {"mybrokercluster-0-0": "10.0.0.1", "mybrokercluster-0-1": "10.0.0.2"}


def observed(spec: dict[str, Any], *, flag: bool = False, world: World | None = None):
    """A running one-group cluster of two (master, slave) with ``spec`` on the sample's, RocketMQ observed;
    the namespace has NameService ``ns`` and team-b has ``other-ns``, each of one pod."""
    world = world or World()
    cluster = Cluster()
    seed_name_service(cluster, NS, "ns", ips=("10.9.0.1",))
    seed_name_service(cluster, OTHER_NS, "other-ns", ips=("10.8.0.1",))
    obj = load_sample("04-cluster-2m-2s.yaml", uid="uid-bc", claims=True)
    obj["spec"].update({"groupReplica": 1, **spec})
    cluster.seed(BROKER_CLUSTERS, obj)
    obs = Observer(interval=30.0, clock=cluster.clock, admin_factory=world.admin, pool=InlinePool())
    reconciler = cluster.broker_cluster_reconciler(obs, allow_external_name_servers=flag)
    for _ in range(3):
        reconciler.sync(KEY)
        play_statefulset_controller(cluster, NS, IPS)
    return world, cluster, reconciler


def edit(cluster: Cluster, change, *, kind=BROKER_CLUSTERS, name: str = NAME) -> None:
    obj = cluster.get(kind, NS, name)
    change(obj)
    obj["metadata"]["generation"] += 1
    del obj["metadata"]["resourceVersion"]
    cluster.seed(kind, obj)


def upgrade_and_roll(cluster: Cluster, reconciler, *, rounds: int = 12) -> list[str]:
    edit(cluster, lambda o: o["spec"].update(brokerImage="apache/rocketmq:5.3.3"))
    replaced = []
    for _ in range(rounds):
        reconciler.sync(KEY)
        replaced += play_statefulset_controller(cluster, NS, IPS)
        cluster.clock.step(8)
    cluster.catch_up()
    return replaced


def conditions(cluster: Cluster, kind=BROKER_CLUSTERS, name: str = NAME) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in cluster.get(kind, NS, name)["status"]["conditions"]}


# -- rolls ---------------------------------------------------------------------------------------------------

def test_a_cross_namespace_name_server_is_never_wiped_and_the_roll_waits_at_the_master():
    world, cluster, reconciler = observed({"nameServers": FOREIGN})
    assert upgrade_and_roll(cluster, reconciler) == ["mybrokercluster-0-1"]  # the slave only
    assert world.fences == []
    found = conditions(cluster)
    foreign = found["NameServersForeign"]
    assert (foreign["status"], foreign["reason"]) == ("True", "WritesRefused")
    assert FOREIGN in foreign["message"] and "--allow-external-name-servers" in foreign["message"]
    assert "wiping write permission of broker-0" in found["Rolling"]["message"]
    assert "allowExternalNameServers" in found["Rolling"]["message"]
    assert "fenced" not in cluster.get(BROKER_CLUSTERS, NS, NAME)["status"].get("roll", {})
    assert cluster.recorder.reasons("Warning") == ["NameServersForeign"]


def test_the_pod_ip_of_another_namespaces_name_server_is_refused_too():
    world, cluster, reconciler = observed({"nameServers": "10.8.0.1:9876"})
    assert upgrade_and_roll(cluster, reconciler) == ["mybrokercluster-0-1"]
    assert world.fences == []
    assert "10.8.0.1:9876" in conditions(cluster)["NameServersForeign"]["message"]


def test_with_the_field_and_the_flag_the_master_is_fenced_and_restored_through_the_foreign_name_server():
    world, cluster, reconciler = observed({"nameServers": FOREIGN, "allowExternalNameServers": True},
                                          flag=True)
    assert upgrade_and_roll(cluster, reconciler) == ["mybrokercluster-0-1", "mybrokercluster-0-0"]
    assert ("wipe", "broker-0") in world.fences and world.fences[-1] == ("add", "broker-0")
    assert "NameServersForeign" not in conditions(cluster)
    assert "NameServersForeign" not in cluster.recorder.reasons()


@pytest.mark.parametrize(("field", "flag"), [(True, False), (False, True)])
def test_with_only_one_of_the_field_and_the_flag_the_fence_is_refused(field, flag):
    world, cluster, reconciler = observed({"nameServers": FOREIGN, "allowExternalNameServers": field},
                                          flag=flag)
    assert upgrade_and_roll(cluster, reconciler) == ["mybrokercluster-0-1"]
    assert world.fences == []
    assert conditions(cluster)["NameServersForeign"]["status"] == "True"


@pytest.mark.parametrize("spec", [{"nameServers": OWN},
                                  {"nameServers": "10.9.0.1:9876"},
                                  {"nameServers": "", "nameServiceRef": {"name": "ns"}}],
                         ids=["literal-dns-name", "pod-ip", "name-service-ref"])
def test_the_namespaces_own_name_service_is_fenced_as_before(spec):
    world, cluster, reconciler = observed(spec)
    assert upgrade_and_roll(cluster, reconciler) == ["mybrokercluster-0-1", "mybrokercluster-0-0"]
    assert ("wipe", "broker-0") in world.fences and world.fences[-1] == ("add", "broker-0")
    assert "NameServersForeign" not in conditions(cluster)
    assert cluster.recorder.reasons("Warning") == []


def test_an_apache_broker_on_an_external_name_server_is_refused_the_same_way():
    world, cluster = World(), Cluster()
    world.registered = {"mybroker-0": {0: "10.0.0.1:10911", 1: "10.0.0.2:10911"}}
    cluster.seed(BROKERS, {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "Broker",
                           "metadata": {"name": "mybroker", "namespace": NS, "uid": "uid-b", "generation": 1},
                           "spec": {"size": 1, "replicaPerGroup": 1, "brokerImage": "apache/rocketmq:5.3.2",
                                    "nameServers": "mq.example.com:9876",
                                    "volumeClaimTemplates": [{"metadata": {"name": "broker-storage"},
                                                              "spec": {}}]}})
    obs = Observer(interval=30.0, clock=cluster.clock, admin_factory=world.admin, pool=InlinePool())
    reconciler, key = cluster.broker_reconciler(obs, allow_external_name_servers=True), Key(NS, "mybroker")
    ips = {"mybroker-0-0": "10.0.0.1", "mybroker-0-1": "10.0.0.2"}
    for _ in range(3):
        reconciler.sync(key)
        play_statefulset_controller(cluster, NS, ips)
    edit(cluster, lambda o: o["spec"].update(brokerImage="apache/rocketmq:5.3.3"), kind=BROKERS,
         name="mybroker")
    replaced = []
    for _ in range(12):
        reconciler.sync(key)
        replaced += play_statefulset_controller(cluster, NS, ips)
        cluster.clock.step(8)
    cluster.catch_up()
    assert replaced == ["mybroker-0-1"] and world.fences == []
    assert "spec.allowExternalNameServers is not true" in conditions(cluster, BROKERS, "mybroker")[
        "NameServersForeign"]["message"]


def test_a_paused_cluster_whose_name_servers_became_foreign_keeps_the_fence_and_says_why():
    world, cluster, reconciler = observed({"nameServers": OWN})
    edit(cluster, lambda o: o["spec"].update(brokerImage="apache/rocketmq:5.3.3"))
    sync_until_fenced(world, cluster, reconciler, KEY, IPS, "broker-0")
    assert world.fences == [("wipe", "broker-0")]
    status = cluster.get(BROKER_CLUSTERS, NS, NAME)["status"]
    status["nameServers"] = FOREIGN  # as if the spec had moved to the other namespace's name servers
    cluster.seed(BROKER_CLUSTERS, {**cluster.get(BROKER_CLUSTERS, NS, NAME), "status": status})
    edit(cluster, lambda o: o["metadata"].setdefault("annotations", {}).update({PAUSE_ANNOTATION: "true"}))
    reconciler.sync(KEY)
    cluster.catch_up()
    # not restored through a name server the cluster does not own
    assert world.fences == [("wipe", "broker-0")]
    status = cluster.get(BROKER_CLUSTERS, NS, NAME)["status"]
    assert status["roll"]["fenced"] == "broker-0"
    assert FOREIGN in conditions(cluster)["Rolling"]["message"]


# -- drains --------------------------------------------------------------------------------------------------

def two_groups_scaled_to_one(spec: dict[str, Any], *, flag: bool = False):
    world = World()
    world.registered = {"broker-0": {0: "10.0.0.1:10911", 1: "10.0.0.2:10911"},
                        "broker-1": {0: "10.0.0.3:10911", 1: "10.0.0.4:10911"}}
    ips = {**IPS, "mybrokercluster-1-0": "10.0.0.3", "mybrokercluster-1-1": "10.0.0.4"}
    world_, cluster, reconciler = observed({**spec, "groupReplica": 2}, flag=flag, world=world)
    play_statefulset_controller(cluster, NS, ips)
    reconciler.sync(KEY)
    edit(cluster, lambda o: o["spec"].update(groupReplica=1, allowGroupScaleDown=True))
    for _ in range(6):
        reconciler.sync(KEY)
        cluster.catch_up()
        cluster.clock.step(20)
    return world_, cluster


def test_a_drain_through_a_cross_namespace_name_server_waits_wipes_nothing_and_deletes_nothing():
    world, cluster = two_groups_scaled_to_one({"nameServers": FOREIGN})
    assert world.fences == []
    assert [a for a in cluster.api.actions if a.verb == "delete"] == []
    assert cluster.lister(STATEFUL_SETS).get(NS, f"{NAME}-1") is not None
    draining = conditions(cluster)["Draining"]
    assert draining["reason"] == "NameServersForeign" and "nothing is deleted" in draining["message"]
    assert cluster.recorder.reasons("Warning") == ["NameServersForeign"]


def test_a_drain_with_the_field_and_the_flag_wipes_through_the_foreign_name_server_and_removes_the_group():
    world, cluster = two_groups_scaled_to_one({"nameServers": FOREIGN, "allowExternalNameServers": True},
                                              flag=True)
    assert ("wipe", "broker-1") in world.fences
    assert ("delete", "statefulsets", None, NS, f"{NAME}-1") in cluster.api.heads()
