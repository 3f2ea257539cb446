"""The operator's ServiceAccount and RBAC from manifests/rbac, installed under test-specific names.

The e2e operator runs with a token of this ServiceAccount, so every API call it makes is checked
against the manifests' rules. The cluster-scoped objects get their own names so that the tests of the
manifests themselves can apply and delete the originals.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml
from kubernetes import client

from tests.e2e.conftest import ROOT, kubectl

Rules = list[dict]


def install_operator_identity(kubeconfig: str, api_client, *, namespace: str, suffix: str,
                              edit_rules: Callable[[Rules], Rules] | None = None) -> None:
    """Applies manifests/rbac with the ServiceAccount in ``namespace`` and ``-<suffix>`` names."""
    docs = list(yaml.safe_load_all(kubectl(kubeconfig, "kustomize", str(ROOT / "manifests" / "rbac")).stdout))
    for doc in docs:
        meta = doc["metadata"]
        if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            meta["namespace"] = namespace
        if doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            meta["name"] = f"{meta['name']}-{suffix}"
        if doc["kind"] == "ClusterRoleBinding":
            doc["roleRef"]["name"] = f"{doc['roleRef']['name']}-{suffix}"
        for subject in doc.get("subjects") or ():
            subject["namespace"] = namespace
        if doc["kind"] == "ClusterRole" and edit_rules is not None:
            doc["rules"] = edit_rules(doc["rules"])
    core = client.CoreV1Api(api_client)
    if namespace not in [n.metadata.name for n in core.list_namespace().items]:
        core.create_namespace({"metadata": {"name": namespace}})
    kubectl(kubeconfig, "apply", "-f", "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))


def remove_operator_identity(kubeconfig: str, *, namespace: str, suffix: str) -> None:
    kubectl(kubeconfig, "delete", "clusterrolebinding", f"rocketmq-operator-{suffix}", "--ignore-not-found")
    kubectl(kubeconfig, "delete", "clusterrole", f"rocketmq-operator-{suffix}", "--ignore-not-found")
    kubectl(kubeconfig, "delete", "namespace", namespace, "--ignore-not-found", "--wait=false")


def service_account_kubeconfig(api_client, *, namespace: str, path: Path,
                               name: str = "rocketmq-operator") -> str:
    """A kubeconfig that authenticates as ServiceAccount ``name`` with a TokenRequest token."""
    token = client.CoreV1Api(api_client).create_namespaced_service_account_token(
        name, namespace, {"spec": {"expirationSeconds": 86400}}).status.token
    conf = api_client.configuration
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "operator",
        "clusters": [{"name": "c", "cluster": {"server": conf.host,
                                               "certificate-authority": conf.ssl_ca_cert}}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "c", "user": "operator",
                                                       "namespace": namespace}}],
    }))
    return str(path)
