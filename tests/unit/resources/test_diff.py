"""Covers needs_update and merged: API-server defaults tolerated, real drift found, PUT bodies stay valid."""

from __future__ import annotations

import copy

import pytest

from rocketmq_operator.resources import brokers, diff, model


@pytest.fixture
def desired_sts(apache_broker):
    return brokers.broker_group_objects(model.from_broker(apache_broker), 0)[-1]


def _as_served(desired: dict) -> dict:
    """What the API server returns for ``desired``: defaults added, quantities canonical, metadata filled."""
    current = copy.deepcopy(desired)
    del current["apiVersion"], current["kind"]  # list items come without them
    current["metadata"].update(
        resourceVersion="42", uid="sts-uid", generation=1, creationTimestamp="2025-01-01T00:00:00Z"
    )
    current["metadata"]["annotations"] = {**(current["metadata"].get("annotations") or {}),
                                          "deprecated.daemonset.template.generation": "1"}
    spec = current["spec"]
    spec["revisionHistoryLimit"] = 10
    spec["minReadySeconds"] = 0
    pod_spec = spec["template"]["spec"]
    pod_spec.update(restartPolicy="Always", schedulerName="default-scheduler")
    pod_spec.setdefault("terminationGracePeriodSeconds", 30)
    for container in pod_spec["containers"]:
        container.update(terminationMessagePath="/dev/termination-log", terminationMessagePolicy="File")
        container["readinessProbe"].setdefault("timeoutSeconds", 1)
        container["readinessProbe"].setdefault("successThreshold", 1)
        for var in container["env"]:
            if "valueFrom" in var:
                var["valueFrom"]["fieldRef"]["apiVersion"] = "v1"
        container["resources"]["requests"]["cpu"] = "1000m"  # the same quantity, spelled differently
    for claim in spec.get("volumeClaimTemplates", []):
        claim["spec"]["volumeMode"] = "Filesystem"
        claim["status"] = {"phase": "Pending"}
    current["status"] = {"replicas": 1, "readyReplicas": 0}
    return current


def _container(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]["containers"][0]


def test_an_object_as_the_server_returns_it_needs_no_update(desired_sts):
    assert diff.needs_update(desired_sts, _as_served(desired_sts)) is False


def test_a_changed_image_needs_an_update(desired_sts):
    current = _as_served(desired_sts)
    _container(current)["image"] = "apache/rocketmq:4.9.7"
    assert diff.needs_update(desired_sts, current) is True


def test_a_changed_pod_template_hash_needs_an_update(desired_sts):
    current = _as_served(desired_sts)
    current["spec"]["template"]["metadata"]["annotations"]["rocketmq.apache.org/config-hash"] = "old"
    assert diff.needs_update(desired_sts, current) is True


def test_a_missing_or_extra_list_element_needs_an_update(desired_sts):
    current = _as_served(desired_sts)
    _container(current)["env"].append({"name": "EXTRA", "value": "1"})
    assert diff.needs_update(desired_sts, current) is True
    current = _as_served(desired_sts)
    _container(current)["env"].pop()
    assert diff.needs_update(desired_sts, current) is True


def test_labels_added_by_others_are_tolerated_but_ours_must_be_there(desired_sts):
    current = _as_served(desired_sts)
    current["metadata"]["labels"]["team"] = "x"
    assert diff.needs_update(desired_sts, current) is False
    del current["metadata"]["labels"]["app"]
    assert diff.needs_update(desired_sts, current) is True


def test_a_missing_owner_reference_needs_an_update_but_other_owners_are_fine(desired_sts):
    current = _as_served(desired_sts)
    current["metadata"]["ownerReferences"].append({"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u"})
    assert diff.needs_update(desired_sts, current) is False
    current["metadata"]["ownerReferences"] = current["metadata"]["ownerReferences"][1:]
    assert diff.needs_update(desired_sts, current) is True


@pytest.mark.parametrize(
    ("desired", "served"),
    [("0.5", "500m"), (1, "1"), ("2048Mi", "2Gi"), ("1G", "1000M"), ("100Gi", "100Gi")],
)
def test_quantities_compare_by_value(desired, served):
    assert diff.contains({"requests": {"x": desired}}, {"requests": {"x": served}}) is True


def test_different_quantities_differ():
    assert diff.contains({"limits": {"cpu": "2"}}, {"limits": {"cpu": "1"}}) is False


def test_strings_outside_resource_maps_are_not_read_as_quantities():
    assert diff.contains({"value": "1k"}, {"value": "1000"}) is False


def test_empty_desired_values_match_fields_the_server_omits():
    assert diff.contains({"a": {}, "b": [], "c": False, "d": ""}, {}) is True
    assert diff.contains({"hostNetwork": True}, {}) is False


def test_booleans_are_not_numbers():
    assert diff.contains({"x": True}, {"x": 1}) is False
    assert diff.contains({"x": 0}, {"x": False}) is False


def test_merging_an_unchanged_object_sends_back_the_current_one_without_status(desired_sts):
    current = _as_served(desired_sts)
    body = diff.merged(desired_sts, current)
    expected = {k: v for k, v in current.items() if k != "status"}
    assert body == {**expected, "apiVersion": "apps/v1", "kind": "StatefulSet"}


def test_merging_takes_changed_fields_and_keeps_unchanged_ones_byte_for_byte(desired_sts):
    current = _as_served(desired_sts)
    _container(current)["image"] = "old"
    body = diff.merged(desired_sts, current)
    assert _container(body)["image"] == desired_sts["spec"]["template"]["spec"]["containers"][0]["image"]
    # immutable, unchanged: sent back exactly as served, defaults and all
    assert body["spec"]["volumeClaimTemplates"] == current["spec"]["volumeClaimTemplates"]
    assert body["spec"]["selector"] == current["spec"]["selector"]
    # a changed dict is rebuilt from desired keys; the server defaults the rest again
    assert "revisionHistoryLimit" not in body["spec"]
    assert body["metadata"]["resourceVersion"] == "42"
    assert diff.needs_update(desired_sts, body) is False


def test_a_changed_one_of_field_does_not_keep_the_old_variant(desired_sts):
    current = _as_served(desired_sts)
    current["spec"]["updateStrategy"] = {"type": "OnDelete"}
    _container(current)["readinessProbe"] = {"tcpSocket": {"port": 10911}, "timeoutSeconds": 1}
    body = diff.merged(desired_sts, current)
    assert body["spec"]["updateStrategy"] == desired_sts["spec"]["updateStrategy"] != {"type": "OnDelete"}
    assert "tcpSocket" not in _container(body)["readinessProbe"]


def test_merging_metadata_keeps_foreign_labels_annotations_and_owners(desired_sts):
    current = _as_served(desired_sts)
    current["metadata"]["labels"] = {"team": "x", "app": "old"}
    current["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u"}]
    body = diff.merged(desired_sts, current)
    assert body["metadata"]["labels"]["team"] == "x"
    assert body["metadata"]["labels"]["app"] == "rocketmq-broker"
    assert body["metadata"]["annotations"] == {"deprecated.daemonset.template.generation": "1",
                                               "rocketmq.apache.org/broker-name-prefix": "rocketmq-cluster"}
    assert [ref["uid"] for ref in body["metadata"]["ownerReferences"]] == ["uid-1234", "u"]


def test_merging_a_service_keeps_its_allocated_cluster_ip():
    desired = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"type": "ClusterIP", "ports": [{"port": 80}]},
    }
    current = {
        "metadata": {"name": "s", "resourceVersion": "1"},
        "spec": {
            "type": "ClusterIP",
            "ports": [{"port": 8080, "protocol": "TCP"}],
            "clusterIP": "10.96.0.7",
            "clusterIPs": ["10.96.0.7"],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
        },
    }
    body = diff.merged(desired, current)
    assert body["spec"]["ports"] == [{"port": 80}]
    assert body["spec"]["clusterIP"] == "10.96.0.7"
    assert body["spec"]["clusterIPs"] == ["10.96.0.7"]
    assert body["spec"]["ipFamilies"] == ["IPv4"]


def test_merging_never_changes_its_inputs(desired_sts):
    current = _as_served(desired_sts)
    before = (copy.deepcopy(desired_sts), copy.deepcopy(current))
    body = diff.merged(desired_sts, current)
    body["spec"]["template"]["spec"]["containers"][0]["image"] = "changed"
    assert (desired_sts, current) == before


def test_the_memo_compares_a_spec_once_per_object_version_and_answers_as_contains_does(monkeypatch):

    walks = []
    real = diff.contains
    monkeypatch.setattr(diff, "contains", lambda d, c, path=(): walks.append(path) or real(d, c, path=path))
    memo = diff.ContainsMemo()

    def sts(generation: int, image: str, uid: str = "u1") -> dict:
        return {"metadata": {"uid": uid, "generation": generation, "name": "s"},
                "spec": {"replicas": 2, "template": {"spec": {"containers": [
                    {"image": image, "imagePullPolicy": "IfNotPresent"}]}}}}

    desired = {"replicas": 2, "template": {"spec": {"containers": [{"image": "rocketmq:5.3.3"}]}}}
    assert memo.contains(desired, sts(1, "rocketmq:5.3.3"), ("spec",)) is True
    assert memo.contains(desired, sts(1, "rocketmq:5.3.3"), ("spec",)) is True
    assert len(walks) == 1  # the second look at generation 1 was remembered
    assert memo.contains(desired, sts(2, "rocketmq:5.3.4"), ("spec",)) is False  # a new version is walked
    # new desired
    assert memo.contains({**desired, "replicas": 3}, sts(1, "rocketmq:5.3.3"), ("spec",)) is False
    assert memo.contains(desired, sts(1, "rocketmq:5.3.4", uid="u2"), ("spec",)) is False  # another object
    assert len(walks) == 4
    template = desired["template"]
    assert memo.contains(template, sts(2, "rocketmq:5.3.4"), ("spec", "template")) is False
    assert memo.contains(template, sts(1, "rocketmq:5.3.3"), ("spec", "template")) is True
    no_generation = {"metadata": {"uid": "u3"}, "spec": {"replicas": 2}}
    memo.contains({"replicas": 2}, no_generation, ("spec",))
    memo.contains({"replicas": 2}, no_generation, ("spec",))
    assert len(walks) == 8  # without a generation nothing names the version: compared each time


def test_needs_update_with_a_memo_agrees_with_needs_update_without():

    memo = diff.ContainsMemo()
    current = {"metadata": {"uid": "u", "generation": 3, "name": "s", "labels": {"a": "1"}},
               "spec": {"replicas": 2, "serviceName": "x"}, "status": {"replicas": 2}}
    for desired in ({"metadata": {"name": "s", "labels": {"a": "1"}}, "spec": {"replicas": 2}},
                    {"metadata": {"name": "s", "labels": {"a": "2"}}, "spec": {"replicas": 2}},
                    {"metadata": {"name": "s"}, "spec": {"replicas": 3}},
                    {"metadata": {"name": "s"}, "spec": {"replicas": True}}):
        for _ in range(2):
            assert diff.needs_update(desired, current, memo=memo) == diff.needs_update(desired, current)
