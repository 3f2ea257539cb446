"""Covers controllers/runtime/conditions.py and the status Report: lastTransitionTime kept until a condition
flips, equal findings giving an equal status, and what each finding puts in the status."""

from __future__ import annotations

from typing import Any

from rocketmq_operator.controllers.brokers.doors import BROKER_CLUSTER_DOOR, BROKER_DOOR
from rocketmq_operator.controllers.brokers.drain import DrainStep
from rocketmq_operator.controllers.brokers.status import Report
from rocketmq_operator.controllers.runtime.conditions import (
    FALSE,
    TRUE,
    get_condition,
    remove_condition,
    rfc3339,
    set_condition,
)
from rocketmq_operator.controllers.runtime.control import ApplyReport
from rocketmq_operator.resources import meta
from rocketmq_operator.resources.model import BrokerClusterModel, from_broker_cluster
from tests.unit.controllers.fakes import load_sample

T1, T2 = "2023-11-14T22:13:20Z", "2023-11-14T23:13:20Z"


def ready(conditions: list[dict[str, Any]], status: str, *, reason: str = "R", message: str = "m",
          now: str = T2, generation: int = 1) -> list[dict[str, Any]]:
    return set_condition(conditions, "Ready", status, reason=reason, message=message, generation=generation,
                         now=now)


# -- conditions ----------------------------------------------------------------------------------------------

def test_rfc3339_is_whole_seconds_in_utc():
    assert rfc3339(1_700_000_000.75) == T1


def test_a_new_condition_takes_now_as_its_transition_time():
    assert ready([], TRUE) == [{"type": "Ready", "status": "True", "reason": "R", "message": "m",
                                "observedGeneration": 1, "lastTransitionTime": T2}]


def test_the_transition_time_is_kept_when_the_status_did_not_change():
    before = ready([], FALSE, now=T1)
    after = ready(before, FALSE, reason="Other", message="new words", generation=2, now=T2)
    assert after[0]["lastTransitionTime"] == T1
    assert (after[0]["reason"], after[0]["message"], after[0]["observedGeneration"]) == (
        "Other", "new words", 2)


def test_the_transition_time_moves_when_the_status_flips():
    before = ready([], FALSE, now=T1)
    assert ready(before, TRUE, now=T2)[0]["lastTransitionTime"] == T2


def test_setting_the_same_condition_again_gives_an_equal_list():
    before = ready([], TRUE, now=T1)
    assert ready(before, TRUE, now=T2) == before


def test_set_condition_returns_a_new_sorted_list_and_leaves_its_input_alone():
    paused = set_condition([], "Paused", TRUE, reason="P", message="p", generation=1, now=T1)
    both = ready(paused, TRUE)
    assert [c["type"] for c in both] == ["Paused", "Ready"]
    assert [c["type"] for c in paused] == ["Paused"]
    both[0]["status"] = "changed"
    assert paused[0]["status"] == TRUE


def test_remove_condition_drops_only_that_type():
    conditions = ready(set_condition([], "Paused", TRUE, reason="P", message="p", generation=1, now=T1), TRUE)
    assert [c["type"] for c in remove_condition(conditions, "Paused")] == ["Ready"]


def test_get_condition_finds_a_condition_by_type_or_none():
    obj = {"status": {"conditions": ready([], TRUE)}}
    assert get_condition(obj, "Ready")["status"] == TRUE
    assert get_condition(obj, "Paused") is None
    assert get_condition({}, "Ready") is None


# -- Report --------------------------------------------------------------------------------------------------

def cluster(status: dict[str, Any] | None = None) -> dict[str, Any]:
    obj = load_sample("04-cluster-2m-2s.yaml", uid="uid-bc")
    if status is not None:
        obj["status"] = status
    return obj


def model_of(obj: dict[str, Any]) -> BrokerClusterModel:
    return from_broker_cluster(obj)


def pod(group: int, member: int, *, ready_: bool = True, deleting: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": f"mybrokercluster-{group}-{member}",
                                "labels": {meta.LABEL_GROUP: str(group)}}
    if deleting:
        metadata["deletionTimestamp"] = T1
    return {"metadata": metadata,
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready_ else "False"}]}}


ALL_PODS = [pod(g, m) for g in (0, 1) for m in (0, 1)]


def status_of(obj: dict[str, Any], *, now: str, pods: list[dict[str, Any]] = ALL_PODS,
              kind: str = "BrokerCluster",
              findings=lambda report: None) -> dict[str, Any]:
    report = Report(obj, now=now)
    findings(report)
    model = model_of(obj)
    return report.status(model, pods=pods,
                         extra={"Broker": BROKER_DOOR,
                                "BrokerCluster": BROKER_CLUSTER_DOOR}[kind].extra_status(model, pods))


def conditions_by_type(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_equal_findings_later_give_an_equal_status():
    first = status_of(cluster(), now=T1)
    assert status_of(cluster(first), now=T2) == first


def test_equal_findings_with_a_problem_later_give_an_equal_status():
    def broken(report: Report) -> None:
        report.invalid("spec.x is wrong", reason="InvalidSpec")
    first = status_of(cluster(), now=T1, findings=broken)
    assert status_of(cluster(first), now=T2, findings=broken) == first


def test_ready_pods_make_the_cluster_ready_with_counts_and_broker_roles():
    status = status_of(cluster(), now=T1)
    assert conditions_by_type(status)["Ready"]["reason"] == "AllBrokersReady"
    assert (status["groups"], status["readyGroups"], status["members"], status["readyMembers"]) == (
        2, 2, 4, 4)
    assert [(b["group"], b["brokerName"], b["brokerId"], b["role"]) for b in status["brokers"]] == [
        (0, "broker-0", 0, "SYNC_MASTER"), (0, "broker-0", 1, "SLAVE"),
        (1, "broker-1", 0, "SYNC_MASTER"), (1, "broker-1", 1, "SLAVE")]


def test_a_terminating_pod_is_not_ready_and_its_group_is_not_counted_ready():
    pods = [pod(0, 0), pod(0, 1, deleting=True), pod(1, 0), pod(1, 1)]
    status = status_of(cluster(), now=T1, pods=pods)
    assert (status["readyGroups"], status["readyMembers"]) == (1, 3)
    assert conditions_by_type(status)["Ready"]["status"] == FALSE


def test_the_ready_condition_flips_and_takes_a_new_transition_time_when_a_pod_stops_being_ready():
    first = status_of(cluster(), now=T1)
    later = status_of(cluster(first), now=T2, pods=[*ALL_PODS[:3], pod(1, 1, ready_=False)])
    ready_ = conditions_by_type(later)["Ready"]
    assert (ready_["status"], ready_["reason"], ready_["lastTransitionTime"]) == (FALSE, "Progressing", T2)


def test_the_first_problem_names_the_reason_and_every_problem_is_in_the_message():
    def two_problems(report: Report) -> None:
        report.invalid("one", reason="NameServiceNotFound")
        report.invalid("two", reason="InvalidSpec")
    ready_ = conditions_by_type(status_of(cluster(), now=T1, findings=two_problems))["Ready"]
    assert (ready_["status"], ready_["reason"], ready_["message"]) == (
        FALSE, "NameServiceNotFound", "one; two")


def test_a_conflict_outranks_progress_in_the_ready_condition():
    def findings(report: Report) -> None:
        report.progressing("rolling")
        report.absorb(ApplyReport(conflicts=["ConfigMap x is not ours"]))
    ready_ = conditions_by_type(status_of(cluster(), now=T1, findings=findings))["Ready"]
    assert (ready_["reason"], ready_["message"]) == ("ResourceConflict", "ConfigMap x is not ours")


def test_the_first_progress_message_is_the_one_reported():
    def findings(report: Report) -> None:
        report.progressing("group 0 first")
        report.progressing("group 1 second")
    assert conditions_by_type(status_of(cluster(), now=T1, findings=findings))["Ready"]["message"] == (
        "group 0 first")


def test_optional_conditions_appear_while_found_and_disappear_after():
    def findings(report: Report) -> None:
        report.scale_down_refused("keeping group 1")
        report.restart_pending("old template")
    with_them = status_of(cluster(), now=T1, findings=findings)
    assert set(conditions_by_type(with_them)) == {"Ready", "ScaleDownRefused", "RestartPending"}
    assert conditions_by_type(with_them)["RestartPending"]["reason"] == "RestartNotAllowed"
    assert set(conditions_by_type(status_of(cluster(with_them), now=T2))) == {"Ready"}


def test_a_drain_that_waits_is_condition_draining_naming_what_it_waits_for_and_a_stopped_one_is_refused():
    waiting = DrainStep(drain={"group": 1, "startedAt": 1.0}, reason="StateUnknown",
                        waiting="draining broker group 1: what it holds is not known: timed out")
    status = status_of(cluster(), now=T1, findings=lambda report: report.draining(waiting))
    draining = conditions_by_type(status)["Draining"]
    assert (draining["status"], draining["reason"], draining["message"]) == (
        "True", "StateUnknown", waiting.waiting)
    assert conditions_by_type(status)["Ready"]["status"] == "False" and status["drain"] == dict(waiting.drain)
    stuck = DrainStep(drain={}, reason="NotObserved", stuck="refusing to remove broker groups [1]")
    status = status_of(cluster(status), now=T2, findings=lambda report: report.draining(stuck))
    assert "Draining" not in conditions_by_type(status) and "drain" not in status
    assert conditions_by_type(status)["ScaleDownRefused"]["reason"] == "NotObserved"


def test_a_paused_report_keeps_the_old_status_and_only_adds_the_paused_condition():
    first = status_of(cluster(), now=T1)
    report = Report(cluster(first), now=T2)
    report.paused()
    paused = report.status(None, pods=[])
    assert {k: v for k, v in paused.items() if k != "conditions"} == {
        k: v for k, v in first.items() if k != "conditions"}
    assert conditions_by_type(paused)["Paused"]["lastTransitionTime"] == T2
    assert conditions_by_type(paused)["Ready"] == conditions_by_type(first)["Ready"]


def test_a_broker_status_also_carries_the_apache_operators_size_and_nodes():
    status = status_of(cluster(), now=T1, kind="Broker")
    assert status["size"] == 2
    assert status["nodes"] == [f"mybrokercluster-{g}-{m}" for g in (0, 1) for m in (0, 1)]
    assert "size" not in status_of(cluster(), now=T1)
