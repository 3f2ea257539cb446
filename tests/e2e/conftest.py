"""Fixtures for tests that need a real API server.

The session brings the local control plane up once (``hack/localcluster.py`` in ``.cluster-e2e``) and
takes it down at the end, unless ``E2E_KUBECONFIG`` names a running cluster (kind, or one started by
hand), which is then used as it is.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[2]
IN_CLUSTER_OPERATOR = bool(os.environ.get("E2E_OPERATOR_IN_CLUSTER"))
needs_exclusive_cluster = pytest.mark.skipif(
    IN_CLUSTER_OPERATOR, reason="runs operators of its own, which the deployed operator would race")
E2E_CLUSTER_DIR = ROOT / ".cluster-e2e"


def _localcluster(cmd: str) -> subprocess.CompletedProcess:
    # The API server keeps an audit log of writes (who wrote what, by user agent): the leader-election test
    # reads it to prove that a replica which lost the lease wrote nothing afterwards.
    env = dict(os.environ, LOCAL_CLUSTER_DIR=str(E2E_CLUSTER_DIR), LOCAL_CLUSTER_AUDIT="1")
    return subprocess.run([sys.executable, str(ROOT / "hack" / "localcluster.py"), cmd], check=False, env=env,
                          capture_output=True, text=True)


@pytest.fixture(scope="session")
def local_cluster_dir() -> Path | None:
    """The folder of the local control plane this session started, or None when E2E_KUBECONFIG is used."""
    if os.environ.get("E2E_KUBECONFIG"):
        yield None
        return
    _localcluster("down")  # a cluster left behind by an interrupted session
    up = _localcluster("up")
    if up.returncode != 0:
        pytest.fail(f"the local control plane did not start:\n{up.stderr[-6000:]}", pytrace=False)
    yield E2E_CLUSTER_DIR
    _localcluster("down")


@pytest.fixture(scope="session")
def real_nodes(local_cluster_dir, kubeconfig) -> list[str]:
    """Names of the session cluster's real nodes (kubelet + containerd, see tests/e2e/realnode.py).

    Skips with one line when the session has none because the machine cannot run them (or REAL_NODES=0);
    fails under CI=true when they should be there but did not come up."""
    import json

    from tests.e2e.realnode import NODE_LABEL_KEY, NODE_LABEL_VALUE

    if local_cluster_dir is None:  # E2E_KUBECONFIG: whatever nodes carry the label
        out = kubectl(kubeconfig, "get", "nodes", "-l", f"{NODE_LABEL_KEY}={NODE_LABEL_VALUE}", "-o", "name")
        names = [n.split("/", 1)[1] for n in out.stdout.split()]
        if not names:
            pytest.skip(f"no node labelled {NODE_LABEL_KEY}={NODE_LABEL_VALUE} in the E2E_KUBECONFIG cluster")
        return names
    state = json.loads((local_cluster_dir / "state.json").read_text())
    names = (state.get("realnodes") or {}).get("nodes")
    if names:
        return names
    ci = os.environ.get("CI") == "true"
    if "realnodes_skipped" in state:
        reason = state["realnodes_skipped"]
        if ci and state.get("realnodes_expected"):
            pytest.fail(f"real nodes should run under CI=true but did not: {reason}", pytrace=False)
        pytest.skip(f"no real nodes: {reason}")
    reason = state.get("realnodes_failed", "the local cluster did not start them")
    if ci:
        pytest.fail(f"real nodes failed to come up under CI=true: {reason}", pytrace=False)
    pytest.skip(f"real nodes failed to come up: {reason.splitlines()[0]}")


@pytest.fixture(scope="session")
def kubeconfig(local_cluster_dir) -> str:
    """Path of a kubeconfig with cluster-admin rights on the cluster under test."""
    return os.environ.get("E2E_KUBECONFIG") or str(local_cluster_dir / "kubeconfig")


@pytest.fixture(scope="session")
def api_client(kubeconfig) -> client.ApiClient:
    return config.new_client_from_config(config_file=kubeconfig)


@pytest.fixture
def namespace(api_client) -> str:
    """A fresh namespace, deleted after the test."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name, "labels": {"e2e": "true"}}})
    yield name
    core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture(scope="session")
def crds(kubeconfig) -> None:
    """The project's CRDs, installed and Established."""
    kubectl(kubeconfig, "apply", "-f", str(ROOT / "manifests" / "crds"))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", "crd", "-l",
            "app.kubernetes.io/name=rocketmq-operator")


def kubectl(kubeconfig: str, *args: str, check: bool = True,
            stdin: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(["kubectl", f"--kubeconfig={kubeconfig}", *args], check=False, capture_output=True,
                          text=True,
                          input=stdin, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
    return proc


OPERATOR_NAMESPACE = "rocketmq-e2e-system"


@pytest.fixture(scope="session")
def operator_kubeconfig(kubeconfig, api_client, crds, tmp_path_factory) -> str:
    """Credentials of the operator's ServiceAccount, bound by the RBAC in manifests/rbac."""
    from tests.e2e.rbac import install_operator_identity, remove_operator_identity, service_account_kubeconfig

    install_operator_identity(kubeconfig, api_client, namespace=OPERATOR_NAMESPACE, suffix="e2e")
    path = tmp_path_factory.mktemp("operator") / "kubeconfig"
    yield service_account_kubeconfig(api_client, namespace=OPERATOR_NAMESPACE, path=path)
    remove_operator_identity(kubeconfig, namespace=OPERATOR_NAMESPACE, suffix="e2e")


@pytest.fixture(scope="module")
def operator(operator_kubeconfig):
    """The operator, running in this process under its ServiceAccount (so the manifests' RBAC is what
    allows or denies each call), with its API calls counted. One per test module, so that modules that
    run operators of their own (RBAC, processes, in-cluster) are not raced by this one."""
    from rocketmq_operator.kube import RequestCounter, connect
    from rocketmq_operator.manager import Operator

    if IN_CLUSTER_OPERATOR:
        yield None  # `make e2e`: the operator deployed from manifests/ serves the cluster
        return
    counter = RequestCounter()
    # The KWOK-based tests have no RocketMQ inside their pods: nothing to observe (the real-node tests run
    # operators that observe).
    op = Operator(connect(operator_kubeconfig, counter=counter), namespaces=[], workers=4, resync_period=300,
                  identity="e2e-in-process", observe_interval=0)
    op.counter = counter
    op.start()
    assert op.synced.is_set(), "the operator's caches did not sync"
    yield op
    op.shutdown()
    # Writes into a namespace that a test is deleting are refused with 403 by the namespace lifecycle
    # admission; every other 403 means the RBAC in manifests/ lacks a rule the operator needs.
    denied = [m for m in counter.forbidden() if "because it is being terminated" not in m]
    assert not denied, f"the operator was refused by its RBAC: {denied}"
