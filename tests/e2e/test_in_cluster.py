"""The operator in in-cluster mode: KUBERNETES_SERVICE_HOST/PORT and the ServiceAccount token, CA and
namespace at the usual paths (a private mount namespace puts them there), under the manifests' RBAC."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
from kubernetes import client

from tests.e2e.clusters import create_cr, wait_ready
from tests.e2e.conftest import ROOT, needs_exclusive_cluster
from tests.e2e.rbac import install_operator_identity, remove_operator_identity, service_account_kubeconfig
from tests.e2e.test_brokercluster import small_cluster
from tests.e2e.test_operator_process import free_port
from tests.e2e.waiting import eventually

SA_DIR = "/run/secrets/kubernetes.io/serviceaccount"  # /var/run is a link to /run


def _can_unshare() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-m", "true"], check=False, capture_output=True).returncode == 0


pytestmark = [needs_exclusive_cluster,
              pytest.mark.skipif(not _can_unshare(),
                                 reason="needs root and unshare for a private mount namespace")]


def test_the_operator_runs_in_cluster_mode_under_its_service_account(kubeconfig, api_client, crds, namespace,
                                                                     tmp_path):
    system = f"incluster-{uuid.uuid4().hex[:6]}"
    install_operator_identity(kubeconfig, api_client, namespace=system, suffix=system)
    try:
        sa_path = service_account_kubeconfig(api_client, namespace=system, path=tmp_path / "sa-kubeconfig")
        sa_kubeconfig = json.loads(Path(sa_path).read_text())
        (tmp_path / "token").write_text(sa_kubeconfig["users"][0]["user"]["token"])
        shutil.copy(api_client.configuration.ssl_ca_cert, tmp_path / "ca.crt")
        (tmp_path / "namespace").write_text(system)
        server = urlparse(api_client.configuration.host)
        port = free_port()
        script = (f"mount -t tmpfs tmpfs /run && mkdir -p {SA_DIR} && "
                  f"cp {tmp_path}/token {tmp_path}/ca.crt {tmp_path}/namespace {SA_DIR}/ && "
                  f"exec {sys.executable} -m rocketmq_operator.cli run --leader-elect "
                  f"--namespace {namespace} --metrics-bind-address 127.0.0.1:{port} --log-format json")
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env.update(KUBERNETES_SERVICE_HOST=server.hostname, KUBERNETES_SERVICE_PORT=str(server.port),
                   POD_NAME="in-cluster-0", HOME=str(tmp_path), PYTHONUNBUFFERED="1",
                   ROCKETMQ_OBSERVE_INTERVAL="0")  # KWOK pods run no RocketMQ to observe
        log = tmp_path / "operator.log"
        with log.open("w") as out:
            proc = subprocess.Popen(["unshare", "-m", "sh", "-c", script], stdout=out,
                                    stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        try:
            create_cr(api_client, "BrokerCluster", namespace, small_cluster(namespace, groupReplica=1))
            try:
                wait_ready(api_client, "BrokerCluster", namespace, "bc", timeout=90)
            except AssertionError as e:
                raise AssertionError(f"{e}\noperator log:\n{log.read_text()[-3000:]}") from e
            text = log.read_text()
            assert '"connected"' in text and "became leader" in text, text[-2000:]
            errors = [line for line in text.splitlines() if '"level": "error"' in line]
            assert not errors and "Forbidden" not in text, text[-2000:]
        finally:
            proc.terminate()
            assert proc.wait(30) == 0, log.read_text()[-2000:]
        lease = eventually(lambda: client.CoordinationV1Api(api_client).read_namespaced_lease(
            "rocketmq-operator-lock", system), timeout=10, what="the lease")
        assert lease.spec.holder_identity in ("", None)  # released on a clean shutdown
    finally:
        remove_operator_identity(kubeconfig, namespace=system, suffix=system)
