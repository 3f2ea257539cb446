"""Covers NameServiceReconciler.sync: Service then StatefulSet then status, no-op resyncs, drift, foreign
objects, pause, an invalid spec, readiness, status-write conflicts and a NameService that is gone."""

from __future__ import annotations

import copy
from typing import Any

from rocketmq_operator.controllers.runtime.common import (
    CONFLICT_RECHECK,
    PAUSE_ANNOTATION,
    STALE_CACHE_RECHECK,
)
from rocketmq_operator.controllers.runtime.runner import Key, Result
from rocketmq_operator.kube import NAME_SERVICES, SERVICES, STATEFUL_SETS, Conflict
from tests.unit.controllers.fakes import Cluster, load_sample

NS, NAME = "rocketmq", "rocketmq-nameserver"
KEY = Key(NS, NAME)
CREATE_ALL = [("create", "services", None, NS, NAME), ("create", "statefulsets", None, NS, NAME),
              ("create", "poddisruptionbudgets", None, NS, NAME),
              ("update", "nameservices", "status", NS, NAME)]
STATUS = ("update", "nameservices", "status", NS, NAME)


def name_service(**spec: Any) -> dict[str, Any]:
    obj = load_sample("nameserver.yaml", uid="uid-ns")
    obj["spec"].update(spec)
    return obj


def synced(cluster: Cluster, obj: dict[str, Any]) -> None:
    cluster.seed(NAME_SERVICES, obj)
    cluster.name_service_reconciler().sync(KEY)
    cluster.catch_up()
    cluster.api.clear()
    cluster.recorder.events.clear()


def ready_condition(status: dict[str, Any], type_: str = "Ready") -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or () if c["type"] == type_), None)


def rolled_out(cluster: Cluster, *, ready: int, replicas: int | None = None) -> None:
    sts = cluster.get(STATEFUL_SETS, NS, NAME)
    sts["status"] = {"observedGeneration": sts["metadata"]["generation"], "readyReplicas": ready,
                     "replicas": sts["spec"]["replicas"] if replicas is None else replicas,
                     "updatedReplicas": sts["spec"]["replicas"], "currentRevision": "r1",
                     "updateRevision": "r1"}
    cluster.seed(STATEFUL_SETS, sts)


def test_a_new_name_service_gets_its_headless_service_its_statefulset_and_budget_then_status(cluster):
    cluster.seed(NAME_SERVICES, name_service())
    assert cluster.name_service_reconciler().sync(KEY) is None
    assert cluster.api.heads() == CREATE_ALL
    assert cluster.api.actions[1].body["spec"]["replicas"] == 2
    status = cluster.api.actions[-1].body["status"]
    assert status["nameServers"] == [f"{NAME}-0.{NAME}.{NS}.svc.cluster.local:9876",
                                     f"{NAME}-1.{NAME}.{NS}.svc.cluster.local:9876"]
    assert (status["size"], status["readyReplicas"]) == (2, 0)
    assert ready_condition(status)["reason"] == "Progressing"


def test_a_second_sync_over_what_the_first_created_writes_nothing(cluster):
    synced(cluster, name_service())
    cluster.clock.step(3600)
    cluster.name_service_reconciler().sync(KEY)
    assert cluster.api.actions == [] and cluster.recorder.events == []


def test_ready_and_rolled_out_name_servers_turn_ready_true_in_one_status_write(cluster):
    synced(cluster, name_service())
    rolled_out(cluster, ready=2)
    cluster.name_service_reconciler().sync(KEY)
    assert cluster.api.heads() == [STATUS]
    condition = ready_condition(cluster.api.actions[0].body["status"])
    assert (condition["status"], condition["reason"], condition["message"]) == (
        "True", "AllNameServersReady", "2/2 name servers ready")


def test_name_servers_ready_on_an_old_revision_are_still_progressing(cluster):
    synced(cluster, name_service())
    rolled_out(cluster, ready=2)
    sts = cluster.get(STATEFUL_SETS, NS, NAME)
    sts["status"]["updateRevision"] = "r2"
    cluster.seed(STATEFUL_SETS, sts)
    cluster.name_service_reconciler().sync(KEY)
    assert ready_condition(cluster.api.actions[0].body["status"])["reason"] == "Progressing"


def test_a_scaled_name_service_replaces_its_statefulset_once(cluster):
    synced(cluster, name_service())
    scaled = cluster.get(NAME_SERVICES, NS, NAME)
    scaled["spec"]["size"] = 3
    scaled["metadata"]["generation"] = 2
    del scaled["metadata"]["resourceVersion"]
    cluster.seed(NAME_SERVICES, scaled)
    cluster.name_service_reconciler().sync(KEY)
    assert cluster.api.heads() == [("update", "statefulsets", None, NS, NAME), STATUS]
    assert cluster.api.actions[0].body["spec"]["replicas"] == 3


def test_a_foreign_service_with_the_same_name_is_left_alone_and_reported(cluster):
    cluster.seed(SERVICES, {"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": NAME, "namespace": NS},
                            "spec": {"ports": [{"port": 80}]}})
    cluster.seed(NAME_SERVICES, name_service())
    assert cluster.name_service_reconciler().sync(KEY) == Result(requeue_after=CONFLICT_RECHECK)
    assert cluster.api.heads() == CREATE_ALL[1:]
    assert cluster.recorder.reasons("Warning") == ["ResourceConflict"]
    condition = ready_condition(cluster.api.actions[-1].body["status"])
    assert (condition["status"], condition["reason"]) == ("False", "ResourceConflict")


def test_a_paused_name_service_gets_only_a_paused_condition_once(cluster):
    obj = name_service()
    obj["metadata"]["annotations"] = {PAUSE_ANNOTATION: "True"}
    cluster.seed(NAME_SERVICES, obj)
    reconciler = cluster.name_service_reconciler()
    reconciler.sync(KEY)
    assert cluster.api.heads() == [STATUS]
    assert ready_condition(cluster.api.actions[0].body["status"], "Paused")["status"] == "True"
    cluster.catch_up()
    cluster.api.clear()
    reconciler.sync(KEY)
    assert cluster.api.actions == []


def test_a_name_service_without_an_image_gets_one_warning_and_ready_false_and_no_children(cluster):
    obj = name_service()
    del obj["spec"]["nameServiceImage"]
    cluster.seed(NAME_SERVICES, obj)
    reconciler = cluster.name_service_reconciler()
    reconciler.sync(KEY)
    assert cluster.api.heads() == [STATUS]
    condition = ready_condition(cluster.api.actions[0].body["status"])
    assert (condition["status"], condition["reason"]) == ("False", "InvalidSpec")
    assert cluster.recorder.reasons("Warning") == ["InvalidSpec"]
    cluster.catch_up()
    cluster.api.clear()
    reconciler.sync(KEY)
    assert cluster.api.actions == [] and cluster.recorder.reasons("Warning") == ["InvalidSpec"]


def test_a_conflict_on_the_status_write_is_swallowed(cluster):
    cluster.seed(NAME_SERVICES, name_service())
    cluster.api.fail("update", NAME_SERVICES, Conflict("modified"), subresource="status")
    assert cluster.name_service_reconciler().sync(KEY) is None
    assert cluster.api.heads() == CREATE_ALL


def test_a_conflict_replacing_the_statefulset_is_quiet_and_the_sync_runs_again_soon(cluster):
    synced(cluster, name_service())
    sts = copy.deepcopy(cluster.get(STATEFUL_SETS, NS, NAME))
    sts["spec"]["replicas"] = 9
    cluster.seed(STATEFUL_SETS, sts)
    cluster.api.fail("update", STATEFUL_SETS, Conflict("modified"))
    assert cluster.name_service_reconciler().sync(KEY) == Result(requeue_after=STALE_CACHE_RECHECK)
    assert cluster.api.heads()[0] == ("update", "statefulsets", None, NS, NAME)


def test_a_name_service_that_is_gone_gives_no_actions(cluster):
    assert cluster.name_service_reconciler().sync(KEY) is None
    assert cluster.api.actions == []


def test_name_servers_still_scaling_down_are_not_ready_yet(cluster):
    synced(cluster, name_service())
    rolled_out(cluster, ready=5, replicas=5)  # the StatefulSet still runs the 5 pods of before
    cluster.name_service_reconciler().sync(KEY)
    assert ready_condition(cluster.api.actions[0].body["status"])["reason"] == "Progressing"
