"""Covers rolls through the reconciler with a played StatefulSet controller: a template change replaces one
broker at a time across the cluster (slaves of every group, then the masters), and with RocketMQ observed a
master is fenced, drained and restored around its restart, the fence kept in status; in controller mode
the controllers hand mastership to the updated slave before the old master restarts; a restart annotation
rolls the same way, once per value."""

from __future__ import annotations

import json
from typing import Any

from rocketmq_operator.controllers.observe.observer import Observer
from rocketmq_operator.controllers.runtime.common import PAUSE_ANNOTATION
from rocketmq_operator.controllers.runtime.runner import Key
from rocketmq_operator.kube import BROKER_CLUSTERS, BROKERS, CONTROLLERS, STATEFUL_SETS
from rocketmq_operator.resources import meta
from rocketmq_operator.rocketmq.controlleradmin import (
    CONTROLLER_ELECT_MASTER,
    CONTROLLER_GET_METADATA_INFO,
    CONTROLLER_GET_SYNC_STATE_DATA,
    CONTROLLER_MASTER_STILL_EXIST,
)
from rocketmq_operator.rocketmq.protocol import RemotingCommand
from rocketmq_operator.rocketmq.types import BrokerData, BrokerRuntimeInfo, ClusterInfo
from tests.unit.controllers.fakes import (
    TALK_NAME_SERVER_IPS,
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
    cluster.seed(BROKER_CLUSTERS, load_sample("04-cluster-2m-2s.yaml", uid="uid-bc", claims=True))
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
    obj = load_sample("04-cluster-2m-2s.yaml", uid="uid-bc", claims=True)
    obj["spec"]["groupReplica"] = 1
    cluster.seed(BROKER_CLUSTERS, obj)
    seed_name_service(cluster, NS, size=2, ips=TALK_NAME_SERVER_IPS)  # the namespace's own name servers
    obs = Observer(interval=30.0, clock=cluster.clock, admin_factory=world.admin, pool=InlinePool())
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


# -- CONTROLLER mode: the reconciler asks the controllers to hand mastership over ---------------------------

class ControllerWorld:
    """Name servers, brokers and a controller leader of one group of two; an election moves the master."""

    def __init__(self) -> None:
        self.pod_addrs = {"mybrokercluster-0-0": "10.0.0.1:10911", "mybrokercluster-0-1": "10.0.0.2:10911"}
        self.ids = {"10.0.0.1:10911": 1, "10.0.0.2:10911": 2}
        self.master = 1
        self.elections: list[tuple[str, int]] = []

    def admin(self, addrs: tuple[str, ...]) -> ControllerWorld:
        return self

    def close(self) -> None:
        pass

    def cluster_info(self) -> ClusterInfo:
        addrs = {0 if i == self.master else i: addr for addr, i in self.ids.items()}
        data = BrokerData(cluster="DefaultCluster", name="broker-0", addrs=addrs)
        return ClusterInfo(brokers={"broker-0": data}, clusters={"DefaultCluster": frozenset({"broker-0"})})

    def broker_runtime_info(self, addr: str) -> BrokerRuntimeInfo:
        return BrokerRuntimeInfo(version_desc="V5_3_3", version=1, active=True, commit_log_min_offset=0,
                                 commit_log_max_offset=100, dispatch_behind_bytes=0, table={})

    def broker_config(self, addr: str) -> dict[str, str]:
        return {"namesrvAddr": "10.10.103.181:9876;10.10.101.98:9876"}

    def invoke(self, addr: str, code: int, *, body: bytes = b"", **_: Any) -> RemotingCommand:
        if code == CONTROLLER_GET_METADATA_INFO:
            return RemotingCommand(code=0, ext_fields={"isLeader": str(addr.startswith("c-0")).lower()})
        assert code == CONTROLLER_GET_SYNC_STATE_DATA and json.loads(body) == ["broker-0"]
        replicas = [{"brokerId": i, "brokerAddress": a, "alive": True} for a, i in self.ids.items()]
        table = {"broker-0": {"masterBrokerId": self.master, "masterEpoch": 1, "syncStateSetEpoch": 1,
                              "inSyncReplicas": replicas, "notInSyncReplicas": []}}
        return RemotingCommand(code=0, body=json.dumps({"replicasInfoTable": table}).encode())

    def request(self, addr: str, code: int, *, fields: dict[str, Any], **_: Any) -> RemotingCommand:
        assert code == CONTROLLER_ELECT_MASTER and fields["designateElect"] is True
        self.elections.append((fields["brokerName"], fields["brokerId"]))
        changed = self.master != fields["brokerId"]
        self.master = fields["brokerId"]
        return RemotingCommand(code=0 if changed else CONTROLLER_MASTER_STILL_EXIST,
                               ext_fields={"masterBrokerId": str(self.master), "masterEpoch": "2"})


def test_in_controller_mode_the_master_hands_over_to_the_updated_slave_then_restarts_as_a_slave():
    world = ControllerWorld()
    cluster = Cluster()
    obj = load_sample("04-cluster-2m-2s.yaml", uid="uid-bc", claims=True)
    obj["spec"].update(groupReplica=1, replicationMode="ASYNC", clusterMode="CONTROLLER",
                       controllerRef={"name": "c"})
    cluster.seed(BROKER_CLUSTERS, obj)
    controller = load_sample("rocketmq-controller.yaml", uid="uid-c")
    controller["metadata"].update(name="c", namespace=NS)
    controller["spec"]["size"] = 1
    cluster.seed(CONTROLLERS, controller)
    obs = Observer(interval=1.0, clock=cluster.clock, admin_factory=world.admin, pool=InlinePool())
    reconciler = cluster.broker_cluster_reconciler(obs)
    ips = {pod: addr.split(":")[0] for pod, addr in world.pod_addrs.items()}
    roll(cluster, reconciler, rounds=3, ips=ips, step=2)
    assert cluster.get(BROKER_CLUSTERS, NS, NAME)["status"]["controllerMasters"] == {
        "broker-0": "mybrokercluster-0-0"}
    upgrade(cluster, "apache/rocketmq:5.3.3")
    rounds = []
    for _ in range(10):
        reconciler.sync(KEY)
        rounds.append((play_statefulset_controller(cluster, NS, ips), list(world.elections)))
        cluster.clock.step(2)
    replaced = [r for r, _ in rounds if r]
    assert replaced == [["mybrokercluster-0-1"], ["mybrokercluster-0-0"]]
    master_round = next(i for i, (r, _) in enumerate(rounds) if r == ["mybrokercluster-0-0"])
    assert rounds[master_round][1][0] == ("broker-0", 2)  # elected before the old master was released
    assert cluster.get(BROKER_CLUSTERS, NS, NAME)["status"]["controllerMasters"] == {
        "broker-0": "mybrokercluster-0-1"}


def annotate_restart(cluster: Cluster, value: str) -> None:
    obj = cluster.get(BROKER_CLUSTERS, NS, NAME)
    obj["metadata"].setdefault("annotations", {})[meta.ANNOTATION_RESTART] = value
    del obj["metadata"]["resourceVersion"]  # metadata changes leave the generation alone
    cluster.seed(BROKER_CLUSTERS, obj)


def test_a_restart_annotation_changes_each_template_once_and_restarts_one_broker_at_a_time():
    cluster = Cluster()
    cluster.seed(BROKER_CLUSTERS, load_sample("04-cluster-2m-2s.yaml", uid="uid-bc", claims=True))
    reconciler = cluster.broker_cluster_reconciler()
    roll(cluster, reconciler, rounds=2)
    before = {s: cluster.get(STATEFUL_SETS, NS, f"{NAME}-{s}")["spec"]["template"] for s in (0, 1)}
    cluster.api.clear()
    annotate_restart(cluster, "2026-12-01T10:00:00Z")
    assert roll(cluster, reconciler, rounds=8) == [
        ["mybrokercluster-0-1"], ["mybrokercluster-1-1"], ["mybrokercluster-0-0"], ["mybrokercluster-1-0"]]
    for group in (0, 1):
        name = f"{NAME}-{group}"
        changed = [a.body["spec"]["template"] for a in cluster.api.writes_to(name)
                   if a.resource == "statefulsets" and a.body["spec"]["template"] != before[group]]
        assert changed and all(t == changed[0] for t in changed)  # one new template, written once, kept
        assert changed[0]["metadata"]["annotations"][meta.ANNOTATION_RESTART] == "2026-12-01T10:00:00Z"
    cluster.api.clear()
    for _ in range(3):  # the same annotation again: converged, nothing to write
        reconciler.sync(KEY)
        cluster.catch_up()
    assert cluster.api.heads() == []


def test_a_paused_cluster_takes_a_restart_only_once_resumed():
    cluster = Cluster()
    obj = load_sample("04-cluster-2m-2s.yaml", uid="uid-bc", claims=True)
    obj["spec"]["groupReplica"] = 1
    cluster.seed(BROKER_CLUSTERS, obj)
    reconciler = cluster.broker_cluster_reconciler()
    roll(cluster, reconciler, rounds=2)
    paused = cluster.get(BROKER_CLUSTERS, NS, NAME)
    paused["metadata"]["annotations"] = {PAUSE_ANNOTATION: "true"}
    del paused["metadata"]["resourceVersion"]
    cluster.seed(BROKER_CLUSTERS, paused)
    annotate_restart(cluster, "2026-12-01T10:00:00Z")
    assert roll(cluster, reconciler, rounds=3) == []
    resumed = cluster.get(BROKER_CLUSTERS, NS, NAME)
    del resumed["metadata"]["annotations"][PAUSE_ANNOTATION], resumed["metadata"]["resourceVersion"]
    cluster.seed(BROKER_CLUSTERS, resumed)
    assert roll(cluster, reconciler, rounds=4) == [["mybrokercluster-0-1"], ["mybrokercluster-0-0"]]


# -- fences are lifted when the roll cannot go on, and allMaster pods are fenced one by one ------------------

def _observed_cluster(*, all_master: bool = False):
    world = World()
    cluster = Cluster()
    obj = load_sample("04-cluster-2m-2s.yaml", uid="uid-bc", claims=True)
    obj["spec"]["groupReplica"] = 1
    if all_master:
        obj["spec"]["allMaster"] = True
        world.registered = {"mybrokercluster-0-0": {0: "10.0.0.1:10911"},
                            "mybrokercluster-0-1": {0: "10.0.0.2:10911"}}
    cluster.seed(BROKER_CLUSTERS, obj)
    seed_name_service(cluster, NS, size=2, ips=TALK_NAME_SERVER_IPS)  # the namespace's own name servers
    obs = Observer(interval=30.0, clock=cluster.clock, admin_factory=world.admin, pool=InlinePool())
    reconciler = cluster.broker_cluster_reconciler(obs)
    ips = {"mybrokercluster-0-0": "10.0.0.1", "mybrokercluster-0-1": "10.0.0.2"}
    roll(cluster, reconciler, rounds=3, ips=ips)
    return world, cluster, reconciler, ips


def _edit(cluster: Cluster, change) -> None:
    obj = cluster.get(BROKER_CLUSTERS, NS, NAME)
    change(obj)
    del obj["metadata"]["resourceVersion"]
    cluster.seed(BROKER_CLUSTERS, obj)


def test_pausing_a_cluster_whose_master_is_fenced_gives_the_master_its_writes_back():
    world, cluster, reconciler, ips = _observed_cluster()
    upgrade(cluster, "apache/rocketmq:5.3.3")
    sync_until_fenced(world, cluster, reconciler, KEY, ips, "broker-0")
    _edit(cluster, lambda o: o["metadata"].setdefault("annotations", {}).update({PAUSE_ANNOTATION: "true"}))
    reconciler.sync(KEY)
    cluster.catch_up()
    assert world.fences[-1] == ("add", "broker-0")
    assert "fenced" not in cluster.get(BROKER_CLUSTERS, NS, NAME)["status"].get("roll", {})


def test_forbidding_restarts_while_a_master_is_fenced_gives_the_master_its_writes_back():
    world, cluster = World(), Cluster()
    world.registered = {"mybroker-0": {0: "10.0.0.1:10911", 1: "10.0.0.2:10911"}}
    cluster.seed(BROKERS, {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "Broker",
                           "metadata": {"name": "mybroker", "namespace": NS, "uid": "uid-b", "generation": 1},
                           "spec": {"size": 1, "replicaPerGroup": 1, "brokerImage": "apache/rocketmq:5.3.2",
                                    "nameServers": f"ns-0.ns.{NS}.svc.cluster.local:9876",
                                    "allowRestart": True,
                                    "volumeClaimTemplates": [{"metadata": {"name": "broker-storage"},
                                                              "spec": {}}]}})
    seed_name_service(cluster, NS, size=1)  # the namespace's own name server, by its DNS name
    obs = Observer(interval=30.0, clock=cluster.clock, admin_factory=world.admin, pool=InlinePool())
    reconciler, key = cluster.broker_reconciler(obs), Key(NS, "mybroker")
    ips = {"mybroker-0-0": "10.0.0.1", "mybroker-0-1": "10.0.0.2"}

    def edit(change) -> None:
        obj = cluster.get(BROKERS, NS, "mybroker")
        change(obj["spec"])
        obj["metadata"]["generation"] += 1
        del obj["metadata"]["resourceVersion"]
        cluster.seed(BROKERS, obj)
    for _ in range(3):
        reconciler.sync(key)
        play_statefulset_controller(cluster, NS, ips)
    edit(lambda spec: spec.update(brokerImage="apache/rocketmq:5.3.3"))
    sync_until_fenced(world, cluster, reconciler, key, ips, "mybroker-0")
    assert world.fences[-1] == ("wipe", "mybroker-0")
    edit(lambda spec: spec.update(allowRestart=False))
    reconciler.sync(key)
    cluster.catch_up()
    assert world.fences[-1] == ("add", "mybroker-0")
    assert "fenced" not in cluster.get(BROKERS, NS, "mybroker")["status"].get("roll", {})


def test_an_allmaster_roll_fences_each_pod_on_its_own_broker_name_before_it_restarts():
    world, cluster, reconciler, ips = _observed_cluster(all_master=True)
    upgrade(cluster, "apache/rocketmq:5.3.3")
    replaced = []
    for _ in range(16):
        reconciler.sync(KEY)
        cluster.catch_up()
        fenced = cluster.get(BROKER_CLUSTERS, NS, NAME)["status"].get("roll", {}).get("fenced")
        for pod in play_statefulset_controller(cluster, NS, ips):
            replaced.append((pod, fenced))
        cluster.clock.step(8)
    assert replaced == [("mybrokercluster-0-1", "mybrokercluster-0-1"),
                        ("mybrokercluster-0-0", "mybrokercluster-0-0")]
    adds = [name for verb, name in world.fences if verb == "add"]
    wipes = list(dict.fromkeys(name for verb, name in world.fences if verb == "wipe"))
    assert wipes == adds == ["mybrokercluster-0-1", "mybrokercluster-0-0"]
    assert "roll" not in cluster.get(BROKER_CLUSTERS, NS, NAME)["status"]


def test_an_emptydir_cluster_rolls_its_slaves_but_never_restarts_a_master_and_says_why_once():
    cluster = Cluster()
    cluster.seed(BROKER_CLUSTERS, load_sample("04-cluster-2m-2s.yaml", uid="uid-bc"))  # emptyDir stores
    reconciler = cluster.broker_cluster_reconciler()
    roll(cluster, reconciler, rounds=2)
    assert cluster.recorder.reasons("Warning") == ["EphemeralStorage"]  # said once, at creation
    upgrade(cluster, "apache/rocketmq:5.3.3")
    assert roll(cluster, reconciler, rounds=8) == [["mybrokercluster-0-1"], ["mybrokercluster-1-1"]]
    conditions = {c["type"]: c for c in cluster.get(BROKER_CLUSTERS, NS, NAME)["status"]["conditions"]}
    assert (conditions["RestartPending"]["reason"], conditions["Ready"]["status"]) == (
        "EphemeralStorage", "True")
    assert "not restarting master mybrokercluster-0-0" in conditions["RestartPending"]["message"]
    assert cluster.recorder.reasons("Warning") == ["EphemeralStorage", "RestartRefused"]
