"""Covers the broker-name prefix a new cluster takes on a name server it shares (see resources.identity): the
first BrokerCluster keeps the talk's ``broker-<g>``, a later one takes its own name, an Apache Broker that
asks for names another cluster holds is refused before any StatefulSet exists — and all of it holds when the
syncs of two new clusters run before either's cache shows the other's status (the same second, two workers,
two kinds), and after an operator restart."""

from __future__ import annotations

import copy
from typing import Any

from rocketmq_operator.controllers.brokers.nameclaims import NameClaims
from rocketmq_operator.controllers.runtime.runner import Key
from rocketmq_operator.kube import BROKER_CLUSTERS, BROKERS, STATEFUL_SETS
from rocketmq_operator.resources.identity import ANNOTATION_PREFIX
from tests.unit.controllers.fakes import Cluster, seed_name_service

NS = "team-a"
CREATED = "2026-12-07T20:30:00Z"  # the API server's timestamps are to the second: both clusters share it


def broker_cluster(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "rocketmq.huanwei.io/v1alpha1", "kind": "BrokerCluster",
            "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "generation": 1,
                         "creationTimestamp": CREATED},
            "spec": {"brokerImage": "apache/rocketmq:5.3.3", "nameServiceRef": {"name": "ns"},
                     "groupReplica": 2, "membersPerGroup": 2, **spec}}


def apache_broker(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "Broker",
            "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "generation": 1,
                         "creationTimestamp": CREATED},
            "spec": {"size": 2, "replicaPerGroup": 1, "brokerImage": "apache/rocketmq:5.3.3",
                     "nameServers": "", **spec}}


def prefixes(cluster: Cluster, name: str) -> set[str]:
    """The prefix annotation on each StatefulSet the reconcilers created for ``name``."""
    return {a.body["metadata"]["annotations"][ANNOTATION_PREFIX] for a in cluster.api.actions
            if a.verb == "create" and a.resource == STATEFUL_SETS.plural and a.name.startswith(f"{name}-")}


def world() -> tuple[Cluster, NameClaims]:
    cluster = Cluster()
    seed_name_service(cluster, NS, "ns")
    return cluster, NameClaims()


def test_the_first_broker_cluster_keeps_broker_g_and_a_later_one_takes_its_own_name():
    cluster, claims = world()
    reconciler = cluster.broker_cluster_reconciler(name_claims=claims)
    cluster.seed(BROKER_CLUSTERS, broker_cluster("first"))
    reconciler.sync(Key(NS, "first"))
    cluster.catch_up()
    later = broker_cluster("later")
    later["metadata"]["creationTimestamp"] = "2026-12-07T20:31:00Z"
    cluster.seed(BROKER_CLUSTERS, later)
    reconciler.sync(Key(NS, "later"))
    cluster.catch_up()
    assert prefixes(cluster, "first") == {"broker"}
    assert prefixes(cluster, "later") == {"later"}
    assert cluster.get(BROKER_CLUSTERS, NS, "later")["status"]["brokerNamePrefix"] == "later"


def test_two_new_clusters_synced_before_either_cache_shows_the_other_never_take_the_same_names():
    """The later by name syncs first, before the other exists in its cache, and takes broker-<g>; the other
    syncs on a cache that shows the first without any status (its write not yet delivered): before, both
    registered broker-0 and broker-1 on one name server and neither cluster became Ready."""
    cluster, claims = world()
    reconciler = cluster.broker_cluster_reconciler(name_claims=claims)
    cluster.seed(BROKER_CLUSTERS, broker_cluster("sy"))
    reconciler.sync(Key(NS, "sy"))  # its StatefulSets and status are written; no watch has delivered them
    cluster.seed(BROKER_CLUSTERS, broker_cluster("ct"))
    stale_sy = copy.deepcopy(cluster.lister(BROKER_CLUSTERS).get(NS, "sy"))
    assert not stale_sy.get("status")
    reconciler.sync(Key(NS, "ct"))
    assert prefixes(cluster, "sy") == {"broker"}
    assert prefixes(cluster, "ct") == {"ct"}
    cluster.catch_up()
    for name in ("sy", "ct"):  # and the next syncs keep what each took
        reconciler.sync(Key(NS, name))
    cluster.catch_up()
    assert {n: cluster.get(BROKER_CLUSTERS, NS, n)["status"]["brokerNamePrefix"] for n in ("sy", "ct")} == {
        "sy": "broker", "ct": "ct"}


def test_a_cluster_keeps_the_prefix_it_took_while_its_own_writes_are_not_yet_in_the_cache():
    """A second sync of a new cluster on a cache without its StatefulSets or status, with an older peer now
    visible that asks for the same names, keeps the names the first sync gave its pods."""
    cluster, claims = world()
    reconciler = cluster.broker_cluster_reconciler(name_claims=claims)
    cluster.seed(BROKER_CLUSTERS, broker_cluster("sy"))
    reconciler.sync(Key(NS, "sy"))
    older = broker_cluster("ab")  # earlier by name at the same second: it would win broker-<g> on age alone
    cluster.seed(BROKER_CLUSTERS, older)
    cluster.api.actions.clear()
    reconciler.sync(Key(NS, "sy"))
    assert not [a for a in cluster.api.actions if a.resource == STATEFUL_SETS.plural], (
        "sy's groups were renamed")
    reconciler.sync(Key(NS, "ab"))
    assert prefixes(cluster, "ab") == {"ab"}


def test_an_apache_broker_racing_a_broker_cluster_for_the_same_names_is_refused_before_any_pod():
    """Two controllers (two kinds), one claims record: the Broker asks for broker-<g> by spec.brokerNamePrefix
    and, earlier by name at the same second, syncs on a cache that does not show the BrokerCluster's status
    yet."""
    cluster, claims = world()
    clusters = cluster.broker_cluster_reconciler(name_claims=claims)
    brokers = cluster.broker_reconciler(name_claims=claims)
    cluster.seed(BROKER_CLUSTERS, broker_cluster("bc"))
    clusters.sync(Key(NS, "bc"))
    cluster.seed(BROKERS, apache_broker("ab", brokerNamePrefix="broker"))
    brokers.sync(Key(NS, "ab"))
    assert prefixes(cluster, "bc") == {"broker"}
    assert prefixes(cluster, "ab") == set()
    ready = {c["type"]: c for c in cluster.get(BROKERS, NS, "ab")["status"]["conditions"]}["Ready"]
    assert ready["reason"] == "BrokerNameClash" and "BrokerCluster bc" in ready["message"], ready
    assert "BrokerNameClash" in cluster.recorder.reasons("Warning")


def test_after_a_restart_the_prefixes_come_from_status_and_the_statefulsets():
    cluster, claims = world()
    reconciler = cluster.broker_cluster_reconciler(name_claims=claims)
    for name in ("sy", "ct"):
        cluster.seed(BROKER_CLUSTERS, broker_cluster(name))
        reconciler.sync(Key(NS, name))
    cluster.catch_up()
    cluster.api.actions.clear()
    restarted = cluster.broker_cluster_reconciler(name_claims=NameClaims())  # a new process: nothing claimed
    for name in ("ct", "sy"):
        restarted.sync(Key(NS, name))
    assert not [a for a in cluster.api.actions if a.resource == STATEFUL_SETS.plural]
    assert {n: cluster.get(BROKER_CLUSTERS, NS, n)["status"]["brokerNamePrefix"] for n in ("sy", "ct")} == {
        "sy": "broker", "ct": "ct"}


def test_a_deleted_cluster_gives_its_names_back():
    cluster, claims = world()
    reconciler = cluster.broker_cluster_reconciler(name_claims=claims)
    cluster.seed(BROKER_CLUSTERS, broker_cluster("old"))
    reconciler.sync(Key(NS, "old"))
    cluster.api.objects.pop((BROKER_CLUSTERS.plural, NS, "old"))
    cluster.catch_up()
    reconciler.sync(Key(NS, "old"))  # gone: its claim goes with it
    for key in [k for k in cluster.api.objects if k[0] == STATEFUL_SETS.plural]:
        cluster.api.objects.pop(key)
    cluster.catch_up()
    cluster.seed(BROKER_CLUSTERS, broker_cluster("new"))
    reconciler.sync(Key(NS, "new"))
    assert prefixes(cluster, "new") == {"broker"}
