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


def test_the_five_kinds_have_a_crd_file_each():
    assert [p.name for p in CRD_FILES] == [
        "rocketmq.apache.org_brokers_crd.yaml",
        "rocketmq.apache.org_consoles_crd.yaml",
        "rocketmq.apache.org_nameservices_crd.yaml",
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
