"""The Helm chart on the cluster under test: ``helm install``, ``helm upgrade`` with a changed value, ``helm
uninstall``, and the operator running under the chart's ServiceAccount and RBAC.

KWOK pods run no container, so the chart's Deployment only proves it rolls out; the operator itself runs
here as a process with a token of the chart's ServiceAccount and the arguments and environment of the
Deployment the chart installed (only the metrics address is moved to a free local port), as
tests/e2e/test_in_cluster.py does for the kustomize manifests. Any call the chart's RBAC does not allow
shows as Forbidden in its log and fails the test. Its /metrics shows each cluster while it exists.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
from kubernetes import client

from tests.chart import CHART, helm
from tests.e2e.clusters import KINDS, create_cr, wait_ready
from tests.e2e.conftest import ROOT, kubectl, needs_exclusive_cluster
from tests.e2e.rbac import service_account_kubeconfig
from tests.e2e.test_brokercluster import small_cluster
from tests.e2e.test_operator_process import free_port
from tests.e2e.waiting import eventually

pytestmark = needs_exclusive_cluster


class ChartOperator:
    """The operator as the chart's Deployment would run it, as a local process under the chart's identity."""

    def __init__(self, api_client, deployment: dict, *, release_namespace: str, tmp_path: Path,
                 identity: str):
        sa = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        kubeconfig = service_account_kubeconfig(api_client, namespace=release_namespace,
                                                 path=tmp_path / f"{identity}-kubeconfig", name=sa)
        c = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env.update(_env(deployment))
        self.port = free_port()
        env.update(POD_NAME=identity, POD_NAMESPACE=release_namespace, PYTHONUNBUFFERED="1",
                   METRICS_BIND_ADDRESS=f"127.0.0.1:{self.port}")
        self.log_path = tmp_path / f"{identity}.log"
        with self.log_path.open("w") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "rocketmq_operator.cli", "run",
                                          "--kubeconfig", kubeconfig, *c.get("args", [])],
                                         stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)

    def log(self) -> str:
        return self.log_path.read_text()

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return r.read().decode()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)


def _helm(kubeconfig: str, *args: str) -> str:
    proc = helm(*args, kubeconfig=kubeconfig)
    assert proc.returncode == 0, f"helm {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


def _deployment(api_client, namespace: str, name: str) -> dict:
    return api_client.sanitize_for_serialization(client.AppsV1Api(api_client).read_namespaced_deployment(
        name, namespace))


def _env(deployment: dict) -> dict[str, str]:
    """The container's literal variables (the API server leaves out an empty value)."""
    return {e["name"]: e.get("value") or ""
            for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            if "valueFrom" not in e}


def _names(kubeconfig: str, kind: str, *, namespace: str | None = None, selector: str) -> list[str]:
    ns = ["-n", namespace] if namespace else []
    out = kubectl(kubeconfig, "get", kind, *ns, "-l", selector, "-o", "name").stdout
    return sorted(out.split())


def _run_cluster(api_client, deployment: dict, *, release_namespace: str, namespace: str, name: str,
                 tmp_path: Path, identity: str) -> str:
    """Runs the operator from ``deployment`` until BrokerCluster ``name`` is Ready; returns its log."""
    op = ChartOperator(api_client, deployment, release_namespace=release_namespace, tmp_path=tmp_path,
                       identity=identity)
    try:
        create_cr(api_client, "BrokerCluster", namespace, small_cluster(namespace, name=name, groupReplica=1))
        try:
            wait_ready(api_client, "BrokerCluster", namespace, name, timeout=90)
        except AssertionError as e:
            raise AssertionError(f"{e}\noperator log:\n{op.log()[-3000:]}") from e
        series = (f'rocketmq_cluster_ready{{cluster="{name}",kind="BrokerCluster",'
                  f'namespace="{namespace}"}} 1.0')
        eventually(lambda: series in op.metrics(), timeout=15, what=f"{series} on /metrics")
        # A deleted cluster takes its series along.
        group, version, plural = KINDS["BrokerCluster"]
        client.CustomObjectsApi(api_client).delete_namespaced_custom_object(
            group, version, namespace, plural, name)
        eventually(lambda: f'cluster="{name}"' not in op.metrics(), timeout=30,
                   what=f"the series of {namespace}/{name} to leave /metrics")
    finally:
        code = op.stop()
    text = op.log()
    assert code == 0, text[-2000:]
    assert "became leader" in text, text[-2000:]
    # The chart's operator watches every namespace: objects other tests left in namespaces being deleted
    # fail to reconcile there (NotFound, 403 "being terminated"). Only this test's namespace must be clean,
    # and no call may be refused by the chart's RBAC.
    errors = [line for line in text.splitlines() if '"level": "error"' in line and namespace in line]
    refused = [line for line in text.splitlines() if "Forbidden" in line and "being terminated" not in line]
    assert not errors and not refused, (errors or refused)[:3]
    return text


def _connected(log: str) -> dict:
    return next(json.loads(line) for line in log.splitlines() if '"event": "connected"' in line)


@pytest.fixture
def release(kubeconfig, api_client, crds):
    """A release name and its namespace (created by helm); uninstalled and removed afterwards if a test
    failed."""
    name, ns = f"rmq-{uuid.uuid4().hex[:6]}", f"helm-{uuid.uuid4().hex[:6]}"
    yield name, ns
    helm("uninstall", name, "-n", ns, "--wait", "--timeout", "60s", kubeconfig=kubeconfig)
    kubectl(kubeconfig, "delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)


def test_install_upgrade_and_uninstall_with_the_operator_under_the_charts_rbac(
        kubeconfig, api_client, namespace, release, tmp_path):
    name, release_ns = release
    fullname = f"{name}-rocketmq-operator"
    instance = f"app.kubernetes.io/instance={name}"
    # KWOK pods run no RocketMQ: observation off, through the chart's value.
    _helm(kubeconfig, "install", name, str(CHART), "-n", release_ns, "--create-namespace", "--wait",
          "--timeout", "120s", "--set", "rocketmqObserveInterval=0")
    deployment = _deployment(api_client, release_ns, fullname)
    assert deployment["status"].get("availableReplicas") == 1
    assert (_env(deployment)["WATCH_NAMESPACE"], _env(deployment)["WORKERS"]) == ("", "8")
    assert _names(kubeconfig, "clusterrole", selector=instance) == [
        f"clusterrole.rbac.authorization.k8s.io/{fullname}"]
    text = _run_cluster(api_client, deployment, release_namespace=release_ns, namespace=namespace,
                        name="first", tmp_path=tmp_path, identity="helm-install-0")
    assert _connected(text)["namespaces"] == "all"

    # Upgrade: watch only the test's namespace (a Role there instead of the ClusterRole), fewer workers.
    _helm(kubeconfig, "upgrade", name, str(CHART), "-n", release_ns, "--reuse-values", "--wait",
          "--timeout", "120s", "--set", f"watchNamespaces={{{namespace}}}", "--set", "workers=2")
    history = json.loads(_helm(kubeconfig, "history", name, "-n", release_ns, "-o", "json"))
    assert [h["revision"] for h in history] == [1, 2] and history[-1]["status"] == "deployed"
    deployment = _deployment(api_client, release_ns, fullname)
    assert (_env(deployment)["WATCH_NAMESPACE"], _env(deployment)["WORKERS"],
            _env(deployment)["ROCKETMQ_OBSERVE_INTERVAL"]) == (namespace, "2", "0")
    assert _names(kubeconfig, "clusterrole", selector=instance) == []
    assert _names(kubeconfig, "role", namespace=namespace, selector=instance) == [
        f"role.rbac.authorization.k8s.io/{fullname}"]
    sa = f"system:serviceaccount:{release_ns}:{fullname}"
    can = kubectl(kubeconfig, "auth", "can-i", "list", "pods", f"--as={sa}", "-n", "default", check=False)
    assert can.stdout.strip() == "no"
    text = _run_cluster(api_client, deployment, release_namespace=release_ns, namespace=namespace,
                        name="second", tmp_path=tmp_path, identity="helm-upgrade-0")
    started = [json.loads(line) for line in text.splitlines() if '"controller started"' in line]
    assert {s["controller"]: s["workers"] for s in started}["brokercluster"] == 2
    assert _connected(text)["namespaces"] == [namespace]

    _helm(kubeconfig, "uninstall", name, "-n", release_ns, "--wait", "--timeout", "60s")
    for kind in ("deployment", "serviceaccount", "service", "role", "rolebinding"):
        assert _names(kubeconfig, kind, namespace=release_ns, selector=instance) == [], kind
    assert _names(kubeconfig, "role", namespace=namespace, selector=instance) == []
    crds = kubectl(kubeconfig, "get", "crd", "brokerclusters.rocketmq.huanwei.io", "-o", "name").stdout
    assert crds.strip(), "helm uninstall keeps the CRDs (deleting them would delete every RocketMQ cluster)"
