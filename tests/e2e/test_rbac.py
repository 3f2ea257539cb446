"""The operator under its manifests' RBAC: a missing rule is reported, not a crash."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.clusters import create_cr, wait_condition, wait_event
from tests.e2e.conftest import needs_exclusive_cluster
from tests.e2e.rbac import install_operator_identity, remove_operator_identity, service_account_kubeconfig
from tests.e2e.test_brokercluster import small_cluster
from tests.e2e.test_operator_process import OperatorProcess
from tests.e2e.waiting import eventually

pytestmark = needs_exclusive_cluster


def without_pdb_create(rules: list[dict]) -> list[dict]:
    out = []
    for rule in rules:
        rule = dict(rule)
        if "poddisruptionbudgets" in rule.get("resources", ()):
            rule["verbs"] = [v for v in rule["verbs"] if v != "create"]
        out.append(rule)
    return out


@pytest.fixture
def narrowed_operator(kubeconfig, api_client, crds, tmp_path):
    system = f"rbac-{uuid.uuid4().hex[:6]}"
    install_operator_identity(kubeconfig, api_client, namespace=system, suffix=system,
                              edit_rules=without_pdb_create)
    path = service_account_kubeconfig(api_client, namespace=system, path=tmp_path / "kubeconfig")
    yield path
    remove_operator_identity(kubeconfig, namespace=system, suffix=system)


def test_a_removed_rule_gives_a_forbidden_condition_an_event_and_a_log_line(
        narrowed_operator, api_client, namespace, tmp_path):
    op = OperatorProcess(narrowed_operator, "--namespace", namespace, identity="narrow", log_dir=tmp_path)
    try:
        eventually(lambda: op.get("/readyz")[0] == 200, timeout=60, what="the operator to be ready")
        create_cr(api_client, "BrokerCluster", namespace, small_cluster(namespace, groupReplica=1))
        c = wait_condition(api_client, "BrokerCluster", namespace, "bc", "Ready", "False", reason="Forbidden")
        assert "PodDisruptionBudget bc-brokers" in c["message"] and "RBAC" in c["message"]
        wait_event(api_client, namespace, "bc", reason="Forbidden", type_="Warning")
        assert "permission denied" in op.log()
        assert op.proc.poll() is None and op.get("/healthz")[0] == 200
    finally:
        assert op.stop() == 0
