"""kubectl explain on the installed CRDs tells what each field does in this operator (the descriptions
docs/reference.md is generated from)."""

from __future__ import annotations

import pytest
import yaml

from tests.e2e.conftest import ROOT, kubectl
from tests.e2e.waiting import eventually


@pytest.mark.parametrize("resource, api_version, crd, path", [
    ("brokers.spec.scalePodName", "rocketmq.apache.org/v1alpha1", "rocketmq.apache.org_brokers_crd.yaml",
     ["spec", "scalePodName"]),
    ("brokerclusters.status.brokers.lagBytes", "rocketmq.huanwei.io/v1alpha1",
     "rocketmq.huanwei.io_brokerclusters_crd.yaml", ["status", "brokers", "lagBytes"]),
])
def test_kubectl_explain_shows_the_fields_description(kubeconfig, crds, resource, api_version, crd, path):
    schema = yaml.safe_load((ROOT / "manifests" / "crds" / crd).read_text())["spec"]["versions"][0]["schema"]
    node = schema["openAPIV3Schema"]
    for key in path:
        node = node["properties"][key]
        node = node.get("items", node)
    words = node["description"].split()

    def explained():
        out = kubectl(kubeconfig, "explain", resource, f"--api-version={api_version}", check=False)
        return out.returncode == 0 and " ".join(out.stdout.split())

    text = eventually(explained, timeout=60, what=f"kubectl explain {resource}")
    assert " ".join(words) in text
