"""Covers manifests/: every CRD and sample parses, every sample's kind has a CRD, CRDs share conventions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

MANIFESTS = Path(__file__).resolve().parents[3] / "manifests"
CRD_FILES = sorted((MANIFESTS / "crds").glob("*.yaml"))
SAMPLE_FILES = sorted((MANIFESTS / "samples").glob("*.yaml"))


def _documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _crds() -> dict[tuple[str, str], dict]:
    """``(group/version, kind) -> CRD`` for every served version."""
    served = {}
    for path in CRD_FILES:
        for crd in _documents(path):
            for version in crd["spec"]["versions"]:
                served[(f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])] = crd
    return served


def test_the_seven_kinds_have_a_crd_file_each():
    assert [p.name for p in CRD_FILES] == [
        "rocketmq.apache.org_brokers_crd.yaml",
        "rocketmq.apache.org_consoles_crd.yaml",
        "rocketmq.apache.org_controllers_crd.yaml",
        "rocketmq.apache.org_nameservices_crd.yaml",
        "rocketmq.apache.org_proxies_crd.yaml",
        "rocketmq.apache.org_topictransfers_crd.yaml",
        "rocketmq.huanwei.io_brokerclusters_crd.yaml",
    ]


@pytest.mark.parametrize("path", CRD_FILES + SAMPLE_FILES, ids=lambda p: p.name)
def test_every_manifest_parses_as_yaml(path):
    assert _documents(path)


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_every_samples_kind_has_a_crd(path):
    served = _crds()
    for doc in _documents(path):
        assert (doc["apiVersion"], doc["kind"]) in served


@pytest.mark.parametrize("path", CRD_FILES, ids=lambda p: p.name)
def test_every_crd_is_listed_by_kubectl_get_rocketmq_and_has_a_status_subresource(path):
    (crd,) = _documents(path)
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == f"{crd['spec']['names']['plural']}.{crd['spec']['group']}"
    assert "rocketmq" in crd["spec"]["names"]["categories"]
    assert "ns" not in crd["spec"]["names"].get("shortNames", [])  # taken by namespaces
    for version in crd["spec"]["versions"]:
        assert version["subresources"] == {"status": {}}
        assert version["additionalPrinterColumns"][-1]["name"] == "Age"


def test_the_talks_samples_are_kept_as_printed():
    two_m_two_s = (MANIFESTS / "samples" / "04-cluster-2m-2s.yaml").read_text()
    assert two_m_two_s.startswith('apiVersion: "rocketmq.huanwei.io/v1alpha1"\nkind: BrokerCluster\n')
    assert "  namespace : rocketmq-operator\n" in two_m_two_s
    two_m = (MANIFESTS / "samples" / "04-cluster-2m.yaml").read_text()
    assert two_m == two_m_two_s.replace("allMaster: false", "allMaster: true")


def test_the_kustomization_lists_every_crd_file():
    kustomization = yaml.safe_load((MANIFESTS / "crds" / "Kustomization").read_text())
    assert sorted(kustomization["resources"]) == [p.name for p in CRD_FILES]


@pytest.mark.parametrize("path", CRD_FILES, ids=lambda p: p.name)
def test_every_crd_is_labelled_as_the_operators(path):
    (crd,) = _documents(path)
    assert crd["metadata"]["labels"] == {"app.kubernetes.io/name": "rocketmq-operator"}


def _spec_schema(kind: str) -> dict:
    (crd,) = [c for (_, k), c in _crds().items() if k == kind]
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


# The json names of the Apache RocketMQ operator's ControllerSpec (api/v1alpha1/controller_types.go)
# and the fields of its example Controller (example/rocketmq_v1alpha1_controller_cr.yaml).
APACHE_CONTROLLER_SPEC = [
    "size",
    "controllerImage",
    "imagePullPolicy",
    "resources",
    "storageMode",
    "hostPath",
    "env",
    "volumeClaimTemplates",
    "securityContext",
    "podAnnotations",
    "containerSecurityContext",
    "imagePullSecrets",
    "affinity",
    "tolerations",
    "nodeSelector",
    "priorityClassName",
    "serviceAccountName",
]
APACHE_CONTROLLER_EXAMPLE = {
    "size": 1,
    "controllerImage": "apacherocketmq/rocketmq-nameserver:5.0.0-alpine-operator-0.4.0",
    "imagePullPolicy": "IfNotPresent",
    "resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "2Gi"}},
    "storageMode": "HostPath",
    "hostPath": "/data/rocketmq/controller",
    "volumeClaimTemplates": [{"metadata": {"name": "controller-storage"}, "spec": {}}],
}


def test_the_controller_crd_accepts_every_field_of_the_apache_operators_controller():
    schema = _spec_schema("Controller")
    assert set(APACHE_CONTROLLER_SPEC) | {"hostNetwork", "dnsPolicy"} <= set(schema["properties"])
    assert set(schema["required"]) <= set(APACHE_CONTROLLER_EXAMPLE)
    assert APACHE_CONTROLLER_EXAMPLE["storageMode"] in schema["properties"]["storageMode"]["enum"]


def test_a_broker_can_allow_group_scale_down_and_only_then_lower_its_size():
    schema = _spec_schema("Broker")
    field = schema["properties"]["allowGroupScaleDown"]
    assert (field["type"], field["default"]) == ("boolean", False)
    assert "removing broker groups" in field["description"].lower()
    assert any("allowGroupScaleDown" in rule["rule"] for rule in schema["x-kubernetes-validations"])


@pytest.mark.parametrize("kind", ["Broker", "BrokerCluster", "NameService"])
def test_pod_kinds_accept_topology_spread_constraints(kind):
    assert _spec_schema(kind)["properties"]["topologySpreadConstraints"]["type"] == "array"


def _undescribed(schema: dict, path: str) -> list[str]:
    missing = [] if schema.get("description") else [path]
    for name, child in (schema.get("properties") or {}).items():
        missing += _undescribed(child, f"{path}.{name}")
    if "items" in schema:
        missing += _undescribed(schema["items"], f"{path}[]")
    return missing


@pytest.mark.parametrize("name", ["rocketmq.apache.org_controllers_crd.yaml",
                                  "rocketmq.apache.org_proxies_crd.yaml"])
def test_every_field_of_the_rocketmq5_kinds_is_described(name):
    (crd,) = _documents(MANIFESTS / "crds" / name)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    # the API server forbids a description on metadata; items of string lists need none
    undescribed = [p for p in _undescribed(schema, "") if not p.endswith("[]") and p != ".metadata"]
    assert undescribed == []
