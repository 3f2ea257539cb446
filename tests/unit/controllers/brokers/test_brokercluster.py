"""Covers BrokerClusterReconciler.sync: the ordered API actions for create, no-op, drift, foreign objects,
status conflicts, pause, a missing NameService, group scale-down, and a parent that is gone."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from rocketmq_operator.controllers.runtime.common import (
    CONFLICT_RECHECK,
    PAUSE_ANNOTATION,
    STALE_CACHE_RECHECK,
)
from rocketmq_operator.controllers.runtime.runner import Key, Result
from rocketmq_operator.kube import (
    BROKER_CLUSTERS,
    CONFIG_MAPS,
    FAILED_CREATE_EVENTS,
    NAME_SERVICES,
    POD_DISRUPTION_BUDGETS,
    PODS,
    SERVICES,
    STATEFUL_SETS,
    AlreadyExists,
    Conflict,
    Invalid,
    NotFound,
)
from rocketmq_operator.resources import meta
from rocketmq_operator.resources.brokers import broker_cluster_objects, cluster_pdb, group_selector
from rocketmq_operator.resources.model import from_broker_cluster
from tests.unit.controllers.fakes import Cluster, load_sample, with_claims

NS, NAME, UID = "rocketmq-operator", "mybrokercluster", "uid-bc"
KEY = Key(NS, NAME)


SHARED = f"{NAME}-brokers"  # the cluster's Service, ConfigMap and PodDisruptionBudget


def cluster_heads(verb: str) -> list[tuple]:
    """The writes of a new cluster of two groups: its ConfigMap (before anything that mounts it), its Service,
    each group's StatefulSet, its budget."""
    return [(verb, "configmaps", None, NS, SHARED), (verb, "services", None, NS, SHARED),
            (verb, "statefulsets", None, NS, f"{NAME}-0"), (verb, "statefulsets", None, NS, f"{NAME}-1"),
            (verb, "poddisruptionbudgets", None, NS, SHARED)]


def config_map_writes(cluster: Cluster) -> list:
    return [a for a in cluster.api.actions if a.resource == "configmaps"]


STATUS = ("update", "brokerclusters", "status", NS, NAME)


def sample(**spec: Any) -> dict[str, Any]:
    obj = load_sample("04-cluster-2m-2s.yaml", uid=UID)
    for field, value in spec.items():
        if value is None:
            obj["spec"].pop(field, None)
        else:
            obj["spec"][field] = value
    return obj


def ready(cluster: Cluster) -> None:
    """Plays the StatefulSet controller: each group's pods are Ready on the current template."""
    cluster.catch_up()
    for sts in cluster.lister(STATEFUL_SETS).list(NS):
        sts = copy.deepcopy(sts)
        replicas = sts["spec"]["replicas"]
        sts["status"] = {"observedGeneration": sts["metadata"]["generation"], "replicas": replicas,
                         "updatedReplicas": replicas, "readyReplicas": replicas}
        cluster.seed(STATEFUL_SETS, sts)
        for member in range(replicas):
            cluster.seed(PODS, {"metadata": {"name": f"{sts['metadata']['name']}-{member}", "namespace": NS,
                                             "labels": sts["spec"]["template"]["metadata"]["labels"]},
                                "status": {"conditions": [{"type": "Ready", "status": "True"}]}})


def ready_condition(status: dict[str, Any], type_: str = "Ready") -> dict[str, Any] | None:
    return next((c for c in status.get("conditions") or () if c["type"] == type_), None)


def synced(cluster: Cluster, obj: dict[str, Any]) -> None:
    """Seeds ``obj``, syncs once, lets the watches catch up and forgets the actions."""
    cluster.seed(BROKER_CLUSTERS, obj)
    cluster.broker_cluster_reconciler().sync(KEY)
    cluster.catch_up()
    cluster.api.clear()
    cluster.recorder.events.clear()


# -- create and steady state ---------------------------------------------------------------------------------

def test_a_new_cluster_gets_a_service_configmap_and_statefulset_per_group_a_budget_then_status(cluster):
    cluster.seed(BROKER_CLUSTERS, sample())
    result = cluster.broker_cluster_reconciler().sync(KEY)
    assert result is None
    assert cluster.api.heads() == [*cluster_heads("create"), STATUS]


def test_children_are_created_with_a_controlling_owner_reference_to_the_cluster(cluster):
    cluster.seed(BROKER_CLUSTERS, sample())
    cluster.broker_cluster_reconciler().sync(KEY)
    for action in cluster.api.actions[:-1]:
        refs = action.body["metadata"]["ownerReferences"]
        assert refs == [{"apiVersion": "rocketmq.huanwei.io/v1alpha1", "kind": "BrokerCluster", "name": NAME,
                         "uid": UID, "controller": True, "blockOwnerDeletion": True}], action.head


def test_the_first_status_says_what_the_sync_found_with_the_name_servers_of_the_spec(cluster):
    cluster.seed(BROKER_CLUSTERS, sample())
    cluster.broker_cluster_reconciler().sync(KEY)
    status = cluster.api.actions[-1].body["status"]
    assert status["groups"] == 2 and status["observedGeneration"] == 1
    assert status["nameServers"] == "10.10.103.181:9876;10.10.101.98:9876"
    assert ready_condition(status) == {
        "type": "Ready", "status": "False", "reason": "Progressing",
        "message": "broker group 0: waiting for the StatefulSet controller", "observedGeneration": 1,
        "lastTransitionTime": "2023-11-14T22:13:20Z"}


def test_a_second_sync_over_what_the_first_created_writes_nothing_not_even_status(cluster):
    synced(cluster, sample())
    cluster.clock.step(3600)  # a later timestamp must not make the status differ
    assert cluster.broker_cluster_reconciler().sync(KEY) is None
    assert cluster.api.actions == []
    assert cluster.recorder.events == []


def test_ready_brokers_turn_the_cluster_ready_in_one_status_write_and_then_nothing(cluster):
    synced(cluster, sample())
    ready(cluster)
    reconciler = cluster.broker_cluster_reconciler()
    reconciler.sync(KEY)
    assert cluster.api.heads() == [STATUS]
    status = cluster.api.actions[0].body["status"]
    assert ready_condition(status)["status"] == "True"
    assert ready_condition(status)["reason"] == "AllBrokersReady"
    assert (status["readyGroups"], status["readyMembers"]) == (2, 4)
    assert [(b["name"], b["brokerId"], b["role"]) for b in status["brokers"]] == [
        (f"{NAME}-0-0", 0, "SYNC_MASTER"), (f"{NAME}-0-1", 1, "SLAVE"),
        (f"{NAME}-1-0", 0, "SYNC_MASTER"), (f"{NAME}-1-1", 1, "SLAVE")]
    cluster.catch_up()
    cluster.api.clear()
    reconciler.sync(KEY)
    assert cluster.api.actions == []


# -- drift ---------------------------------------------------------------------------------------------------

def drift_replicas(cluster: Cluster, name: str, replicas: int) -> dict[str, Any]:
    sts = cluster.get(STATEFUL_SETS, NS, name)
    sts["spec"]["replicas"] = replicas
    del sts["metadata"]["resourceVersion"]
    return cluster.seed(STATEFUL_SETS, sts)


def test_a_statefulset_whose_replicas_drifted_is_replaced_once_with_the_cached_resource_version(cluster):
    synced(cluster, sample())
    drifted = drift_replicas(cluster, f"{NAME}-1", 5)
    assert cluster.broker_cluster_reconciler().sync(KEY) is None
    assert cluster.api.heads() == [("update", "statefulsets", None, NS, f"{NAME}-1")]
    body = cluster.api.actions[0].body
    assert body["spec"]["replicas"] == 2
    assert body["metadata"]["resourceVersion"] == drifted["metadata"]["resourceVersion"]
    assert cluster.recorder.reasons() == ["Updated"]


def test_a_conflict_replacing_a_drifted_statefulset_is_quiet_and_the_sync_runs_again_soon(cluster):
    synced(cluster, sample())
    drift_replicas(cluster, f"{NAME}-0", 5)
    cluster.api.fail("update", STATEFUL_SETS, Conflict("the object has been modified"))
    assert cluster.broker_cluster_reconciler().sync(KEY) == Result(requeue_after=STALE_CACHE_RECHECK)
    assert cluster.api.heads()[0] == ("update", "statefulsets", None, NS, f"{NAME}-0")
    assert cluster.recorder.reasons("Warning") == []


def test_a_create_that_finds_the_name_taken_is_quiet_and_the_groups_mounting_it_wait_for_the_next_sync(
        cluster):
    cluster.seed(BROKER_CLUSTERS, with_claims(sample()))
    cluster.api.fail("create", CONFIG_MAPS, AlreadyExists("exists", reason="AlreadyExists"))
    result = cluster.broker_cluster_reconciler().sync(KEY)
    assert result == Result(requeue_after=STALE_CACHE_RECHECK)
    assert cluster.api.heads() == [h for h in cluster_heads("create") if h[1] != "statefulsets"] + [STATUS]
    assert cluster.recorder.reasons("Warning") == []
    assert ready_condition(cluster.api.actions[-1].body["status"])["reason"] == "Progressing"


def invalid_claim_template() -> Invalid:
    body = {"kind": "Status", "code": 422, "reason": "Invalid",
            "details": {"causes": [{"field": "spec", "reason": "FieldValueForbidden"}]}}
    return Invalid("StatefulSet.apps \"mybrokercluster-0\" is invalid: spec: Forbidden: updates to "
                   "statefulset spec for fields other than 'replicas', 'template' ... are forbidden",
                   reason="Invalid", body=body)


def test_an_update_the_server_rejects_as_invalid_becomes_a_condition_naming_the_field_not_a_retry(cluster):
    synced(cluster, sample())
    drift_replicas(cluster, f"{NAME}-0", 5)
    cluster.api.fail("update", STATEFUL_SETS, invalid_claim_template(), name=f"{NAME}-0")
    assert cluster.broker_cluster_reconciler().sync(KEY) is None
    ready_ = ready_condition(cluster.api.actions[-1].body["status"])
    assert (ready_["status"], ready_["reason"]) == ("False", "InvalidObject")
    assert "StatefulSet mybrokercluster-0 (field spec)" in ready_["message"]
    assert cluster.recorder.reasons("Warning") == ["InvalidObject"]


def test_an_invalid_object_is_warned_about_once_while_it_stays(cluster):
    synced(cluster, sample())
    drift_replicas(cluster, f"{NAME}-0", 5)
    cluster.api.fail("update", STATEFUL_SETS, invalid_claim_template(), name=f"{NAME}-0")
    cluster.broker_cluster_reconciler().sync(KEY)
    cluster.catch_up()
    cluster.recorder.events.clear()
    cluster.api.fail("update", STATEFUL_SETS, invalid_claim_template(), name=f"{NAME}-0")
    cluster.broker_cluster_reconciler().sync(KEY)
    assert cluster.recorder.reasons("Warning") == []


# -- objects the operator does not control -------------------------------------------------------------------

def foreign_config_map(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS},
            "data": {"mine": "yes"}}


def test_a_foreign_configmap_with_the_same_name_is_left_alone_reported_as_a_conflict_and_mounted_by_no_group(
        cluster):
    cluster.seed(CONFIG_MAPS, foreign_config_map(SHARED))
    cluster.seed(BROKER_CLUSTERS, with_claims(sample()))
    result = cluster.broker_cluster_reconciler().sync(KEY)
    assert result == Result(requeue_after=CONFLICT_RECHECK)
    assert config_map_writes(cluster) == []
    assert cluster.api.heads() == [h for h in cluster_heads("create")
                                   if h[1] not in ("configmaps", "statefulsets")] + [STATUS]
    warnings = [e for e in cluster.recorder.events if e.type == "Warning"]
    assert [(w.reason, f"ConfigMap {SHARED}" in w.message) for w in warnings] == [("ResourceConflict", True)]
    condition = ready_condition(cluster.api.actions[-1].body["status"])
    assert (condition["status"], condition["reason"]) == ("False", "ResourceConflict")


def test_a_configmap_controlled_by_another_owner_is_not_adopted(cluster):
    taken = foreign_config_map(SHARED)
    taken["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "BrokerCluster", "name": NAME,
                                             "uid": "uid-of-a-previous-cluster", "controller": True}]
    cluster.seed(CONFIG_MAPS, taken)
    cluster.seed(BROKER_CLUSTERS, sample())
    assert cluster.broker_cluster_reconciler().sync(KEY) == Result(requeue_after=CONFLICT_RECHECK)
    assert config_map_writes(cluster) == []


def test_the_conflict_status_is_written_once_while_the_foreign_object_stays(cluster):
    cluster.seed(CONFIG_MAPS, foreign_config_map(SHARED))
    synced(cluster, sample())
    assert cluster.broker_cluster_reconciler().sync(KEY) == Result(requeue_after=CONFLICT_RECHECK)
    assert cluster.api.actions == []


def test_a_lasting_conflict_sends_its_warning_event_once_not_on_every_requeue(cluster):
    cluster.seed(CONFIG_MAPS, foreign_config_map(SHARED))
    synced(cluster, sample())
    cluster.broker_cluster_reconciler().sync(KEY)
    assert cluster.recorder.reasons("Warning") == []


# -- status write errors -------------------------------------------------------------------------------------

def test_a_conflict_on_the_status_write_is_swallowed_the_next_watch_event_brings_another_sync(cluster):
    cluster.seed(BROKER_CLUSTERS, sample())
    cluster.api.fail("update", BROKER_CLUSTERS, Conflict("the object has been modified"),
                     subresource="status")
    assert cluster.broker_cluster_reconciler().sync(KEY) is None
    assert cluster.api.heads()[-1] == STATUS


def test_a_status_write_for_a_cluster_deleted_meanwhile_is_swallowed(cluster):
    cluster.seed(BROKER_CLUSTERS, sample())
    cluster.api.fail("update", BROKER_CLUSTERS, NotFound("gone"), subresource="status")
    assert cluster.broker_cluster_reconciler().sync(KEY) is None


def test_a_stale_cached_cluster_makes_the_status_write_conflict_without_failing_the_sync(cluster):
    cluster.seed(BROKER_CLUSTERS, sample())
    newer = cluster.get(BROKER_CLUSTERS, NS, NAME)
    del newer["metadata"]["resourceVersion"]
    cluster.api.store(BROKER_CLUSTERS, newer)  # the server moved on; the cache has not seen it
    assert cluster.broker_cluster_reconciler().sync(KEY) is None
    assert cluster.api.heads()[-1] == STATUS


# -- pause ---------------------------------------------------------------------------------------------------

def paused(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"]["annotations"] = {PAUSE_ANNOTATION: "true"}
    return obj


def test_a_paused_cluster_gets_only_a_paused_condition(cluster):
    cluster.seed(BROKER_CLUSTERS, paused(sample()))
    assert cluster.broker_cluster_reconciler().sync(KEY) is None
    assert cluster.api.heads() == [STATUS]
    assert cluster.api.actions[0].body["status"] == {"conditions": [{
        "type": "Paused", "status": "True", "reason": "PauseAnnotation",
        "message": "reconciliation is paused by annotation", "observedGeneration": 1,
        "lastTransitionTime": "2023-11-14T22:13:20Z"}]}


def test_a_paused_cluster_leaves_a_drifted_statefulset_alone_and_then_writes_nothing(cluster):
    synced(cluster, sample())
    drift_replicas(cluster, f"{NAME}-0", 5)
    cluster.seed(BROKER_CLUSTERS, paused(cluster.get(BROKER_CLUSTERS, NS, NAME)))
    reconciler = cluster.broker_cluster_reconciler()
    reconciler.sync(KEY)
    assert cluster.api.heads() == [STATUS]
    cluster.catch_up()
    cluster.api.clear()
    reconciler.sync(KEY)
    assert cluster.api.actions == []


def test_unpausing_removes_the_paused_condition_and_creates_the_children(cluster):
    synced(cluster, paused(sample()))
    unpaused = cluster.get(BROKER_CLUSTERS, NS, NAME)
    unpaused["metadata"]["annotations"] = {}
    cluster.seed(BROKER_CLUSTERS, unpaused)
    cluster.broker_cluster_reconciler().sync(KEY)
    assert cluster.api.heads() == [*cluster_heads("create"), STATUS]
    assert ready_condition(cluster.api.actions[-1].body["status"], "Paused") is None


# -- what the cluster refers to ------------------------------------------------------------------------------

def name_service() -> dict[str, Any]:
    obj = load_sample("nameserver.yaml", uid="uid-ns")
    obj["metadata"]["namespace"] = NS
    return obj


def with_name_service_ref(name: str) -> dict[str, Any]:
    return sample(nameServers=None, nameServiceRef={"name": name})


def test_a_missing_name_service_sets_ready_false_with_a_warning_and_touches_no_child(cluster):
    cluster.seed(BROKER_CLUSTERS, with_name_service_ref("nowhere"))
    assert cluster.broker_cluster_reconciler().sync(KEY) is None
    assert cluster.api.heads() == [STATUS]
    condition = ready_condition(cluster.api.actions[0].body["status"])
    assert condition["status"] == "False" and "'nowhere'" in condition["message"]
    [warning] = cluster.recorder.events
    assert (warning.type, warning.reason, warning.message) == (
        "Warning", condition["reason"], condition["message"])


def test_a_missing_name_service_is_warned_about_once_not_on_every_sync(cluster):
    synced(cluster, with_name_service_ref("nowhere"))
    cluster.broker_cluster_reconciler().sync(KEY)
    assert cluster.api.actions == [] and cluster.recorder.events == []


def test_the_name_service_ref_becomes_the_brokers_name_server_address(cluster):
    cluster.seed(BROKER_CLUSTERS, with_name_service_ref("rocketmq-nameserver"))
    cluster.seed(NAME_SERVICES, name_service())
    cluster.broker_cluster_reconciler().sync(KEY)
    assert cluster.api.actions[-1].body["status"]["nameServers"] == (
        f"rocketmq-nameserver-0.rocketmq-nameserver.{NS}.svc.cluster.local:9876;"
        f"rocketmq-nameserver-1.rocketmq-nameserver.{NS}.svc.cluster.local:9876")
    config = cluster.api.actions[0].body["data"]  # the cluster's ConfigMap, first
    assert any("rocketmq-nameserver-1.rocketmq-nameserver" in text for text in config.values())


# -- group scale-down ----------------------------------------------------------------------------------------

def scaled_to_one_group(cluster: Cluster, **spec: Any) -> None:
    obj = cluster.get(BROKER_CLUSTERS, NS, NAME)
    obj["spec"].update(groupReplica=1, **spec)
    obj["metadata"]["generation"] = 2
    del obj["metadata"]["resourceVersion"]
    cluster.seed(BROKER_CLUSTERS, obj)


def test_removing_a_group_without_allow_group_scale_down_is_refused_and_nothing_is_deleted(cluster):
    synced(cluster, sample())
    scaled_to_one_group(cluster)
    cluster.broker_cluster_reconciler().sync(KEY)
    assert [a.verb for a in cluster.api.actions] == ["update"]
    assert cluster.api.heads() == [STATUS]
    refused = ready_condition(cluster.api.actions[0].body["status"], "ScaleDownRefused")
    assert (refused["status"], refused["reason"]) == ("True", "GroupsHoldMessages")
    assert "[1]" in refused["message"]
    assert cluster.recorder.reasons("Warning") == ["ScaleDownRefused"]


def test_a_refused_scale_down_is_warned_about_once(cluster):
    synced(cluster, sample())
    scaled_to_one_group(cluster)
    reconciler = cluster.broker_cluster_reconciler()
    reconciler.sync(KEY)
    cluster.catch_up()
    cluster.api.clear()
    cluster.recorder.events.clear()
    reconciler.sync(KEY)
    assert cluster.api.actions == [] and cluster.recorder.events == []


def test_without_rocketmq_observed_removing_a_group_is_refused_with_how_to_proceed_and_warned_once(cluster):
    synced(cluster, sample())
    scaled_to_one_group(cluster, allowGroupScaleDown=True)
    reconciler = cluster.broker_cluster_reconciler()
    reconciler.sync(KEY)
    assert cluster.api.heads() == [STATUS]
    refused = ready_condition(cluster.api.actions[0].body["status"], "ScaleDownRefused")
    assert (refused["status"], refused["reason"]) == ("True", "NotObserved")
    assert "--rocketmq-observe-interval" in refused["message"] and (
        "drainAcceptMessageLoss" in refused["message"])
    assert cluster.recorder.reasons("Warning") == ["NotObserved"]
    cluster.catch_up()
    cluster.api.clear()
    cluster.recorder.events.clear()
    reconciler.sync(KEY)
    assert cluster.api.actions == [] and cluster.recorder.events == []


def test_removing_a_group_with_the_loss_accepted_deletes_that_groups_objects_then_writes_status(cluster):
    synced(cluster, sample())
    scaled_to_one_group(cluster, allowGroupScaleDown=True, drainAcceptMessageLoss=True)
    cluster.broker_cluster_reconciler().sync(KEY)
    # The cluster's Service, ConfigMap and budget stay: group 0 still uses them, and group 1's files stay
    # in the ConfigMap until its StatefulSet is gone.
    assert cluster.api.heads() == [("delete", "statefulsets", None, NS, f"{NAME}-1"), STATUS]
    sts_delete = cluster.api.actions[0].body
    assert sts_delete == {"propagationPolicy": "Background",
                          "preconditions": {"uid": f"uid-statefulsets-{NAME}-1"}}
    assert ready_condition(cluster.api.actions[-1].body["status"], "ScaleDownRefused") is None
    assert cluster.recorder.reasons() == ["DeletedUndrained", "ScaledDown"]
    cluster.catch_up()
    cluster.api.clear()
    cluster.broker_cluster_reconciler().sync(KEY)  # the sync the StatefulSet's deletion brings
    assert cluster.api.heads() == [("update", "configmaps", None, NS, SHARED)]
    assert not [key for key in cluster.get(CONFIG_MAPS, NS, SHARED)["data"] if key.startswith("group-1-")]
    cluster.catch_up()
    cluster.api.clear()
    cluster.broker_cluster_reconciler().sync(KEY)
    assert cluster.api.actions == []


def test_a_group_object_already_gone_when_deleted_does_not_stop_the_scale_down(cluster):
    synced(cluster, sample())
    scaled_to_one_group(cluster, allowGroupScaleDown=True, drainAcceptMessageLoss=True)
    cluster.api.fail("delete", STATEFUL_SETS, NotFound("gone"))
    cluster.broker_cluster_reconciler().sync(KEY)
    assert [a.resource for a in cluster.api.actions] == ["statefulsets", "brokerclusters"]
    assert cluster.recorder.reasons() == ["DeletedUndrained"]


def test_scale_down_leaves_objects_of_the_removed_group_that_another_owner_controls(cluster):
    legacy_cluster(cluster)  # a group with a ConfigMap of its own
    cluster.broker_cluster_reconciler().sync(KEY)
    cluster.catch_up()
    foreign = cluster.get(CONFIG_MAPS, NS, f"{NAME}-1-config")
    foreign["metadata"]["ownerReferences"] = []
    cluster.seed(CONFIG_MAPS, foreign)
    scaled_to_one_group(cluster, allowGroupScaleDown=True, drainAcceptMessageLoss=True)
    cluster.broker_cluster_reconciler().sync(KEY)
    assert cluster.api.writes_to(f"{NAME}-1-config") == []


def test_a_statefulset_of_another_cluster_with_matching_labels_is_not_counted_as_an_extra_group(cluster):
    synced(cluster, sample())
    stranger = cluster.get(STATEFUL_SETS, NS, f"{NAME}-1")
    stranger["metadata"].update(name="stranger-7", uid="uid-stranger")
    stranger["metadata"]["labels"][meta.LABEL_GROUP] = "7"
    stranger["metadata"]["ownerReferences"][0]["uid"] = "uid-other"
    cluster.seed(STATEFUL_SETS, stranger)
    cluster.broker_cluster_reconciler().sync(KEY)
    assert cluster.api.actions == []


# -- the parent is gone --------------------------------------------------------------------------------------

def test_a_cluster_that_is_gone_from_the_cache_gives_no_actions(cluster):
    assert cluster.broker_cluster_reconciler().sync(KEY) is None
    assert cluster.api.actions == [] and cluster.recorder.events == []


def test_a_cluster_deleted_after_its_children_were_created_gives_no_actions(cluster):
    synced(cluster, sample())
    cluster.unseed(BROKER_CLUSTERS, cluster.get(BROKER_CLUSTERS, NS, NAME))
    assert cluster.broker_cluster_reconciler().sync(KEY) is None
    assert cluster.api.actions == []


# -- pods the StatefulSet controller cannot create -----------------------------------------------------------

def failed_create(cluster: Cluster, sts_name: str, message: str) -> None:
    sts = cluster.get(STATEFUL_SETS, NS, sts_name)
    cluster.seed(FAILED_CREATE_EVENTS, {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{sts_name}.1", "namespace": NS},
        "involvedObject": {"kind": "StatefulSet", "namespace": NS, "name": sts_name,
                           "uid": sts["metadata"]["uid"]},
        "reason": "FailedCreate", "type": "Warning", "message": message,
        "lastTimestamp": "2023-11-14T22:13:25Z"})


def test_a_failed_create_of_the_statefulset_controller_is_the_ready_reason_and_one_warning(cluster):
    synced(cluster, sample())
    message = ('create Pod mybrokercluster-0-0 failed error: Pod is invalid: spec.volumes[3].name: '
               'Duplicate value')
    failed_create(cluster, f"{NAME}-0", message)
    cluster.broker_cluster_reconciler().sync(KEY)
    ready_ = ready_condition(cluster.api.actions[-1].body["status"])
    assert (ready_["status"], ready_["reason"]) == ("False", "FailedCreate")
    assert ready_["message"] == f"StatefulSet {NAME}-0 cannot create pods: {message}"
    assert cluster.recorder.reasons("Warning") == ["FailedCreate"]
    cluster.catch_up()
    cluster.recorder.events.clear()
    cluster.api.clear()
    cluster.broker_cluster_reconciler().sync(KEY)
    assert cluster.recorder.events == [] and cluster.api.actions == []


def test_an_old_failed_create_is_ignored_once_the_pods_exist(cluster):
    synced(cluster, sample())
    failed_create(cluster, f"{NAME}-0", "quota exceeded")
    ready(cluster)
    cluster.broker_cluster_reconciler().sync(KEY)
    assert ready_condition(cluster.api.actions[-1].body["status"])["reason"] == "AllBrokersReady"


# -- clusters left by earlier versions: a Service and a budget per group -------------------------------------

def legacy_cluster(cluster: Cluster) -> dict[str, Any]:
    """Seeds a cluster as an earlier version left it: each group with a headless Service and a
    PodDisruptionBudget of its own, its StatefulSets governed by those Services, every pod Ready."""
    obj = sample()
    cluster.seed(BROKER_CLUSTERS, obj)
    legacy = replace(from_broker_cluster(obj), legacy_groups=frozenset({0, 1}))
    kinds = {"ConfigMap": CONFIG_MAPS, "Service": SERVICES, "StatefulSet": STATEFUL_SETS}
    for child in broker_cluster_objects(legacy):
        if child["kind"] in kinds and not child["metadata"]["name"].endswith("-brokers"):
            child["metadata"]["generation"] = 1
            cluster.seed(kinds[child["kind"]], child)
    for group in (0, 1):
        budget = copy.deepcopy(cluster_pdb(legacy))
        budget["metadata"]["name"] = f"{NAME}-{group}"
        budget["spec"]["selector"]["matchLabels"] = group_selector(legacy, group)
        cluster.seed(POD_DISRUPTION_BUDGETS, budget)
    ready(cluster)
    return obj


def test_a_cluster_from_an_earlier_version_keeps_its_pods_and_trades_its_group_budgets_for_one(cluster):
    legacy_cluster(cluster)
    sets_before = {s["metadata"]["name"]: copy.deepcopy(s) for s in cluster.lister(STATEFUL_SETS).list(NS)}
    reconciler = cluster.broker_cluster_reconciler()
    reconciler.sync(KEY)
    # The cluster's Service (for groups to come) and budget, then the groups' budgets go: the brokers are
    # never without one. No StatefulSet, ConfigMap or group Service is written, so no pod restarts and the
    # pods keep their DNS names.
    assert cluster.api.heads() == [
        ("create", "services", None, NS, f"{NAME}-brokers"),
        ("create", "poddisruptionbudgets", None, NS, f"{NAME}-brokers"),
        ("delete", "poddisruptionbudgets", None, NS, f"{NAME}-0"),
        ("delete", "poddisruptionbudgets", None, NS, f"{NAME}-1"),
        STATUS]
    assert {s["metadata"]["name"]: s for s in cluster.lister(STATEFUL_SETS).list(NS)} == sets_before
    assert ready_condition(cluster.api.actions[-1].body["status"])["status"] == "True"
    cluster.catch_up()
    cluster.api.clear()
    reconciler.sync(KEY)
    assert cluster.api.actions == []  # migrated: the next sync writes nothing


def test_a_group_added_to_a_cluster_from_an_earlier_version_uses_the_clusters_service(cluster):
    obj = legacy_cluster(cluster)
    obj = copy.deepcopy(cluster.get(BROKER_CLUSTERS, NS, NAME))
    obj["spec"]["groupReplica"] = 3
    obj["metadata"]["generation"] = 2
    cluster.seed(BROKER_CLUSTERS, obj)
    cluster.broker_cluster_reconciler().sync(KEY)
    created = {(a.resource, a.name) for a in cluster.api.actions if a.verb == "create"}
    assert ("services", f"{NAME}-2") not in created
    assert cluster.get(STATEFUL_SETS, NS, f"{NAME}-2")["spec"]["serviceName"] == f"{NAME}-brokers"
    assert cluster.get(STATEFUL_SETS, NS, f"{NAME}-0")["spec"]["serviceName"] == f"{NAME}-0"


def test_pods_that_appear_before_the_statefulset_reports_its_revision_are_not_a_roll(cluster):
    """A new StatefulSet's pods (revision label set) come before the StatefulSet controller writes the update
    revision into its status: they are on its only revision, so nothing rolls and no Rolling condition
    flickers into status (two status writes for a new cluster: Progressing, then Ready)."""
    synced(cluster, sample())
    for sts in cluster.lister(STATEFUL_SETS).list(NS):
        sts = copy.deepcopy(sts)
        sts["status"] = {"observedGeneration": sts["metadata"]["generation"], "replicas": 0}
        cluster.seed(STATEFUL_SETS, sts)
        for member in range(2):
            labels = {**sts["spec"]["template"]["metadata"]["labels"], "controller-revision-hash": "rev-1"}
            cluster.seed(PODS, {"metadata": {"name": f"{sts['metadata']['name']}-{member}", "namespace": NS,
                                             "labels": labels}, "status": {}})
    cluster.broker_cluster_reconciler().sync(KEY)
    statuses = [a.body["status"] for a in cluster.api.actions if a.subresource == "status"]
    assert all(ready_condition(s, "Rolling") is None for s in statuses)
    assert [a for a in cluster.api.actions if a.resource == "statefulsets"] == []


def test_the_status_writer_knows_its_own_echo_and_a_cache_still_behind_it(cluster):
    cluster.seed(BROKER_CLUSTERS, sample())
    reconciler = cluster.broker_cluster_reconciler()
    before = cluster.lister(BROKER_CLUSTERS).get(NS, NAME)
    reconciler.sync(KEY)
    writer = reconciler.status_writer
    assert writer.cache_behind(before)  # the cache still holds the version the write replaced
    cluster.api.clear()
    assert reconciler.sync(KEY) == Result(requeue_after=STALE_CACHE_RECHECK)
    assert [a for a in cluster.api.actions if a.subresource == "status"] == []  # no write bound to conflict
    cluster.catch_up()
    after = cluster.lister(BROKER_CLUSTERS).get(NS, NAME)
    assert writer.is_echo(after) and not writer.cache_behind(after)
