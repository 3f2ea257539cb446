"""Covers the broker ConfigMaps through the reconciler with a played StatefulSet controller: a ConfigMap write
that fails holds every group mounting it (StatefulSet, template and partition unchanged, no pod released,
Ready says why, one Warning) and the roll goes on once it is written; a group with a ConfigMap of its own is
held alone; a running cluster keeps its layout (no write); a group added past half the limit gets a ConfigMap
of its own; a removed group's ConfigMap goes with it."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from rocketmq_operator.controllers.runtime.runner import Key
from rocketmq_operator.kube import (
    BROKER_CLUSTERS,
    CONFIG_MAPS,
    STATEFUL_SETS,
    ApiError,
    Invalid,
    ServerError,
    TransportError,
)
from rocketmq_operator.resources.brokers import broker_cluster_objects
from rocketmq_operator.resources.model import from_broker_cluster
from tests.unit.controllers.fakes import Cluster, load_sample, play_statefulset_controller, with_claims

NS, NAME = "rocketmq-operator", "mybrokercluster"
KEY = Key(NS, NAME)
SHARED = f"{NAME}-brokers"
TOO_LARGE = ApiError("Request entity too large: limit is 3145728", status=413)
TOO_LONG = Invalid(f'ConfigMap "{SHARED}" is invalid: []: Too long: must have at most 1048576 bytes',
                   reason="Invalid")


def sample() -> dict[str, Any]:
    """The talk's cluster of two groups of two, its stores on claims (a roll restarts masters too)."""
    return with_claims(load_sample("04-cluster-2m-2s.yaml", uid="uid-bc"))


def running(cluster: Cluster, **spec: Any) -> Any:
    """A cluster of two groups of two, every pod Ready on the current template; its reconciler."""
    obj = sample()
    obj["spec"].update(spec)
    cluster.seed(BROKER_CLUSTERS, obj)
    reconciler = cluster.broker_cluster_reconciler()
    for _ in range(2):
        reconciler.sync(KEY)
        play_statefulset_controller(cluster, NS)
    reconciler.sync(KEY)
    cluster.catch_up()
    cluster.api.clear()
    cluster.recorder.events.clear()
    return reconciler


def change_spec(cluster: Cluster, **spec: Any) -> None:
    obj = cluster.get(BROKER_CLUSTERS, NS, NAME)
    obj["spec"].update(spec)
    obj["metadata"]["generation"] += 1
    del obj["metadata"]["resourceVersion"]
    cluster.seed(BROKER_CLUSTERS, obj)


def sets(cluster: Cluster) -> dict[str, dict[str, Any]]:
    return {s["metadata"]["name"]: copy.deepcopy(s["spec"]) for s in cluster.lister(STATEFUL_SETS).list(NS)}


def ready_condition(cluster: Cluster) -> dict[str, Any]:
    conditions = cluster.get(BROKER_CLUSTERS, NS, NAME)["status"]["conditions"]
    return next(c for c in conditions if c["type"] == "Ready")


@pytest.mark.parametrize("error", [TOO_LARGE, TOO_LONG,
                                   ServerError("etcdserver: request timed out", status=500),
                                   TransportError("connection reset by peer", not_sent=False)],
                         ids=["413", "422", "500", "no-answer"])
def test_a_config_map_write_that_fails_holds_every_group_mounting_it_and_says_why_once(cluster, error):
    reconciler = running(cluster)
    before = sets(cluster)
    # a new broker.conf: a roll, once it is written
    change_spec(cluster, properties={"fileReservedTime": "72"})
    replaced = []
    for _ in range(3):
        cluster.api.fail("update", CONFIG_MAPS, error, name=SHARED)
        reconciler.sync(KEY)
        replaced += play_statefulset_controller(cluster, NS)
    assert replaced == []
    assert sets(cluster) == before  # old template (its config hash) and partition
    assert [a.name for a in cluster.api.actions if a.resource == "statefulsets"] == []
    ready = ready_condition(cluster)
    assert (ready["status"], ready["reason"]) == ("False", "ConfigNotWritten")
    assert ready["message"].startswith(f"ConfigMap {SHARED} was not written (")
    assert error.message in ready["message"]
    assert ready["message"].endswith("broker groups 0-1 keep their pod templates and none of their pods "
                                     "restarts until it is")
    assert cluster.recorder.reasons("Warning") == ["ConfigNotWritten"]


def test_once_the_config_map_is_written_the_held_roll_goes_on_one_broker_at_a_time(cluster):
    reconciler = running(cluster)
    change_spec(cluster, properties={"fileReservedTime": "72"})
    cluster.api.fail("update", CONFIG_MAPS, TOO_LARGE, name=SHARED)
    reconciler.sync(KEY)
    play_statefulset_controller(cluster, NS)
    replaced = []
    for _ in range(8):
        reconciler.sync(KEY)
        replaced.append(play_statefulset_controller(cluster, NS))
    assert [r for r in replaced if r] == [[f"{NAME}-0-1"], [f"{NAME}-1-1"], [f"{NAME}-0-0"], [f"{NAME}-1-0"]]
    assert "fileReservedTime=72" in cluster.get(CONFIG_MAPS, NS, SHARED)["data"]["group-0-broker-0.conf"]
    assert ready_condition(cluster)["reason"] == "AllBrokersReady"


def test_a_new_cluster_whose_config_map_cannot_be_written_creates_no_statefulset(cluster):
    cluster.seed(BROKER_CLUSTERS, sample())
    cluster.api.fail("create", CONFIG_MAPS, TOO_LARGE)
    cluster.broker_cluster_reconciler().sync(KEY)
    assert [a.resource for a in cluster.api.actions if a.verb == "create"] == [
        "configmaps", "services", "poddisruptionbudgets"]
    assert ready_condition(cluster)["reason"] == "ConfigNotWritten"


def seeded_with_own_config(cluster: Cluster, group: int) -> Any:
    """A running cluster whose group ``group`` has a ConfigMap of its own (its files did not fit)."""
    obj = sample()
    cluster.seed(BROKER_CLUSTERS, obj)
    model = replace(from_broker_cluster(obj), own_config_groups=frozenset({group}))
    kinds = {"ConfigMap": CONFIG_MAPS, "StatefulSet": STATEFUL_SETS}
    for child in broker_cluster_objects(model):
        if child["kind"] in kinds:
            cluster.seed(kinds[child["kind"]], {**child, "metadata": {**child["metadata"], "generation": 1}})
    return running_again(cluster)


def running_again(cluster: Cluster) -> Any:
    reconciler = cluster.broker_cluster_reconciler()
    play_statefulset_controller(cluster, NS)
    reconciler.sync(KEY)
    play_statefulset_controller(cluster, NS)
    cluster.api.clear()
    cluster.recorder.events.clear()
    return reconciler


def test_a_group_whose_own_config_map_cannot_be_written_is_held_alone_while_the_others_roll(cluster):
    reconciler = seeded_with_own_config(cluster, 1)
    held = sets(cluster)[f"{NAME}-1"]
    change_spec(cluster, properties={"fileReservedTime": "72"})
    replaced = []
    for _ in range(6):
        cluster.api.fail("update", CONFIG_MAPS, TOO_LARGE, name=f"{NAME}-1-config")
        reconciler.sync(KEY)
        replaced.append(play_statefulset_controller(cluster, NS))
    assert [r for r in replaced if r] == [[f"{NAME}-0-1"], [f"{NAME}-0-0"]]
    assert sets(cluster)[f"{NAME}-1"] == held
    assert ready_condition(cluster)["message"].endswith(
        "broker group 1 keeps its pod template and none of its pods restarts until it is")
    assert cluster.recorder.reasons("Warning") == ["ConfigNotWritten"]


def test_a_running_cluster_keeps_its_layout_and_a_fresh_operator_writes_nothing(cluster):
    running(cluster)
    cluster.broker_cluster_reconciler().sync(KEY)  # as after an upgrade: no memory of the last writes
    assert cluster.api.actions == []
    assert [c["metadata"]["name"] for c in cluster.lister(CONFIG_MAPS).list(NS)] == [SHARED]


BIG = {"bigProperty": "x" * 150_000}  # 4 members: 600 KB, above half the limit


def test_files_grown_above_half_the_limit_stay_in_the_clusters_config_map_and_a_new_group_gets_its_own(
        cluster):
    reconciler = running(cluster)
    change_spec(cluster, properties=BIG)  # a new broker.conf: rolled, in the same ConfigMap
    for _ in range(8):
        reconciler.sync(KEY)
        play_statefulset_controller(cluster, NS)
    assert [c["metadata"]["name"] for c in cluster.lister(CONFIG_MAPS).list(NS)] == [SHARED]
    assert ready_condition(cluster)["reason"] == "AllBrokersReady"
    before = sets(cluster)
    cluster.api.clear()
    change_spec(cluster, groupReplica=3)
    reconciler.sync(KEY)
    writes = [(a.verb, a.resource, a.name) for a in cluster.api.actions if a.resource != "brokerclusters"]
    assert writes == [("create", "configmaps", f"{NAME}-2-config"), ("create", "statefulsets", f"{NAME}-2")]
    cluster.catch_up()
    assert {k: v for k, v in sets(cluster).items() if k != f"{NAME}-2"} == before  # nothing else rolls
    assert not [key for key in cluster.get(CONFIG_MAPS, NS, SHARED)["data"] if key.startswith("group-2-")]


def test_removing_a_group_with_its_own_config_map_deletes_it_with_the_statefulset(cluster):
    seeded_with_own_config(cluster, 1)
    change_spec(cluster, groupReplica=1, allowGroupScaleDown=True, drainAcceptMessageLoss=True)
    cluster.broker_cluster_reconciler().sync(KEY)
    deleted = [(a.resource, a.name) for a in cluster.api.actions if a.verb == "delete"]
    assert deleted == [("statefulsets", f"{NAME}-1"), ("configmaps", f"{NAME}-1-config")]
