"""Covers the one broker identity: every mode's brokerName, brokerId and role, the prefix each kind gets, and
that broker.conf, status, the observation target, the roll planner's inputs and the scale-out copy all say
what identity says — so a second spelling of a broker name anywhere fails here."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import ClassVar

import pytest

from rocketmq_operator.controllers.brokers import metadata, registration, rolling
from rocketmq_operator.controllers.brokers import status as st
from rocketmq_operator.controllers.observe.observer import BrokerFacts, ClusterFacts
from rocketmq_operator.resources import brokerconf, brokers, identity
from rocketmq_operator.resources.model import from_broker, from_broker_cluster

PACKAGE = Path(identity.__file__).resolve().parents[1]


def cluster(mode: str, *, groups: int = 2, members: int = 2):
    """A model of each mode the operator serves (the Apache Broker's size/replicaPerGroup in 'apache')."""
    meta = {"name": "c", "namespace": "ns", "uid": "u"}
    if mode == "apache":
        return from_broker({"metadata": {**meta, "name": "mybroker"},
                            "spec": {"size": groups, "replicaPerGroup": members - 1, "brokerImage": "x",
                                     "nameServers": "n:9876"}})
    spec = {"brokerImage": "x", "groupReplica": groups, "membersPerGroup": members, "nameServers": "n:9876"}
    spec.update({"allMaster": {"allMaster": True}, "sync": {"replicationMode": "SYNC"},
                 "async": {"replicationMode": "ASYNC"}, "dledger": {"replicationMode": "DLEDGER"},
                 "controller": {"clusterMode": "CONTROLLER", "controllerAddress": "ctl:9878"}}[mode])
    return from_broker_cluster({"metadata": meta, "spec": spec})


MODES = ("allMaster", "sync", "async", "dledger", "controller", "apache")
EXPECTED = {  # (group 1, member 1): brokerName, brokerId, brokerRole
    "allMaster": ("c-1-1", 0, "ASYNC_MASTER"), "sync": ("broker-1", 1, "SLAVE"),
    "async": ("broker-1", 1, "SLAVE"), "dledger": ("broker-1", 1, None),
    "controller": ("broker-1", -1, "SLAVE"), "apache": ("mybroker-1", 1, "SLAVE"),
}


def pod(name: str, group: int, ip: str = "10.0.0.1") -> dict:
    return {"metadata": {"name": name, "namespace": "ns",
                         "labels": {"rocketmq.apache.org/group": str(group)}},
            "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]}}


def conf(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_names_its_members_once_and_each_consumer_agrees(mode):
    m = cluster(mode if mode != "dledger" else "dledger", members=3 if mode == "dledger" else 2)
    me = identity.member(m.layout, 1, 1)
    assert (me.broker_name, me.broker_id, me.role) == EXPECTED[mode]
    written = conf(brokerconf.broker_conf(m, group=1, member=1))
    assert written["brokerName"] == me.broker_name and int(written["brokerId"]) == me.broker_id
    assert written.get("brokerRole") == me.role
    if mode == "dledger":
        assert written["dLegerGroup"] == identity.group_broker_name(m.layout, 1)
    pods = [pod(f"{m.name}-{g}-{i}", g) for g in range(m.groups) for i in range(m.members_per_group)]
    target = registration.observe_target(m, pods, pod_lister=_NoPods())
    assert {t.pod: t.broker_name for t in target.members} == {
        p["metadata"]["name"]: identity.member(m.layout, *registration.member_of(p)).broker_name
        for p in pods}
    entry = st._broker_entry(pods[3], m)
    assert entry["brokerName"] == me.broker_name
    desired = {o["metadata"]["labels"]["rocketmq.apache.org/group"]: o
               for o in brokers.broker_cluster_objects(m)
               if o["kind"] == "StatefulSet"}
    groups, states = rolling.roll_inputs(m, {int(g): o for g, o in desired.items()}, {}, pods, None)
    assert [g.brokers for g in groups] == [identity.group_brokers(m.layout, g) for g in range(m.groups)]
    assert {s.name: s.broker_name for s in states} == {t.pod: t.broker_name for t in target.members}


@pytest.mark.parametrize("mode, names", [
    ("allMaster", ("c-0-0", "c-0-1", "c-1-0", "c-1-1")), ("async", ("broker-0", "broker-1")),
    ("apache", ("mybroker-0", "mybroker-1")),
])
def test_a_cluster_lists_one_broker_name_per_master(mode, names):
    assert identity.cluster_brokers(cluster(mode).layout) == names


def test_groups_of_an_earlier_version_keep_broker_g_and_new_ones_record_their_prefix():
    m = cluster("apache")
    sts = next(o for o in brokers.broker_cluster_objects(m) if o["kind"] == "StatefulSet")
    assert sts["metadata"]["annotations"][identity.ANNOTATION_PREFIX] == "mybroker"
    assert identity.recorded_prefix([sts]) == "mybroker"
    legacy = {"metadata": {"name": "mybroker-0", "annotations": {}}}
    assert identity.recorded_prefix([legacy]) == "broker"
    assert identity.recorded_prefix([]) is None


def test_a_prefix_the_spec_names_wins_for_either_kind():
    obj = {"metadata": {"name": "x"}, "spec": {"brokerNamePrefix": "team-a"}}
    assert identity.requested_prefix("BrokerCluster", obj) == identity.requested_prefix("Broker", obj) == (
        "team-a")
    assert identity.requested_prefix("BrokerCluster", {"metadata": {"name": "x"}}) == "broker"
    assert identity.requested_prefix("Broker", {"metadata": {"name": "x"}}) == "x"


def test_clusters_on_one_name_server_clash_on_any_shared_broker_name():
    other = {"metadata": {"name": "first"}, "spec": {"groupReplica": 3, "nameServers": "a:9876"}}
    assert identity.clashes(["broker-2", "broker-9"], [("BrokerCluster", other)]) == [
        ("BrokerCluster", "first", ["broker-2"])]
    assert identity.clashes(["first-0"], [("BrokerCluster", other)]) == []
    running = {"metadata": {"name": "r"}, "spec": {}, "status": {"brokerNamePrefix": "x", "brokers": [
        {"brokerName": "x-7"}]}}
    assert identity.clashes(["x-7"], [("Broker", running)]) == [("Broker", "r", ["x-7"])]


@pytest.mark.parametrize("a, b, shared", [
    ({"nameServers": "h:1;g:1"}, {"nameServers": "g:1"}, True),
    ({"nameServers": "h:1"}, {"nameServers": "g:1"}, False),
    ({"nameServers": ""}, {"nameServiceRef": {"name": "ns"}}, True),
    ({"nameServiceRef": {"name": "a"}}, {"nameServiceRef": {"name": "b"}}, False),
    ({"nameServers": "h:1"}, {"nameServiceRef": {"name": "b"}}, False),
])
def test_two_specs_share_name_servers_when_they_may_name_the_same_one(a, b, shared):
    tokens = identity.name_server_tokens({"spec": a}), identity.name_server_tokens({"spec": b})
    assert identity.share_name_servers(*tokens) is shared


def test_the_allmaster_copy_goes_to_every_master_but_the_source_and_records_each():
    m = cluster("allMaster")
    admin = _CopyAdmin()
    facts = _facts(m, ("c-0-0", "c-0-1", "c-1-0", "c-1-1"))
    result = metadata.copy_metadata(m, facts, (), admin_factory=lambda _: admin)
    assert result.waiting is None and result.error is None
    assert result.brokers == ("c-0-1", "c-1-0", "c-1-1") and result.copied == (1,)
    assert sorted(admin.created) == [("c-0-1", "orders"), ("c-1-0", "orders"), ("c-1-1", "orders")]


def test_the_allmaster_copy_waits_for_a_member_that_is_not_registered_and_names_it():
    m = cluster("allMaster")
    result = metadata.copy_metadata(m, _facts(m, ("c-0-0", "c-0-1")), (),
                                    admin_factory=lambda _: _CopyAdmin())
    assert "c-1-0" in result.waiting and result.brokers == ("c-0-1",)


def test_no_module_but_identity_formats_a_broker_name():
    """brokerName is spelled in resources/identity.py only: no other module builds 'broker-<g>' or picks the
    pod name for allMaster on its own."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "identity.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr) and len(node.values) == 2 \
                    and isinstance(node.values[0], ast.Constant) and node.values[0].value == "broker-":
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr == "broker_name" \
                    and isinstance(node.value, ast.Name) and node.value.id == "naming":
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


class _NoPods:
    def get(self, namespace, name):
        from rocketmq_operator.kube import NotFound
        raise NotFound(name)


class _CopyAdmin:
    def __init__(self):
        self.created: list[tuple[str, str]] = []
        self.by_addr = {"10.0.0.1:10911": {"orders": {"topicName": "orders"}}}

    def topic_configs(self, addr):
        return dict(self.by_addr.get(addr, {}))

    def subscription_groups(self, addr):
        return {}

    def create_topic(self, config, *, broker_addr):
        self.by_addr.setdefault(broker_addr, {})[config["topicName"]] = config
        self.created.append((self.name_of[broker_addr], config["topicName"]))

    def close(self):
        pass

    name_of: ClassVar[dict[str, str]] = {f"10.0.0.{i + 1}:10911": n
                                         for i, n in enumerate(("c-0-0", "c-0-1", "c-1-0", "c-1-1"))}


def _facts(m, registered):
    addr = {n: a for a, n in _CopyAdmin.name_of.items()}
    found = tuple(BrokerFacts(pod=n, addr=addr[n], broker_name=n, broker_id=0, registered_on=1)
                  for n in registered)
    target = registration.observe_target(m, [], pod_lister=_NoPods())
    return ClusterFacts(target=target, read_at=0.0, name_servers_up=1, name_server_errors=(), brokers=found)
