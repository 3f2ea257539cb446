"""The informer and the operator process across a kube-apiserver crash (local control plane only)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid

import pytest

from rocketmq_operator.informers import SharedInformerFactory
from rocketmq_operator.kube import CONFIG_MAPS, NAMESPACES, RetryPolicy, TransportError, connect
from tests.e2e.conftest import E2E_CLUSTER_DIR, ROOT
from tests.e2e.test_operator_process import OperatorProcess
from tests.e2e.waiting import eventually

pytestmark = pytest.mark.skipif(bool(os.environ.get("E2E_KUBECONFIG")),
                                reason="restarting kube-apiserver needs the local control plane")


def restart_apiserver() -> None:
    env = dict(os.environ, LOCAL_CLUSTER_DIR=str(E2E_CLUSTER_DIR))
    proc = subprocess.run([sys.executable, str(ROOT / "hack" / "localcluster.py"), "restart",
                           "kube-apiserver"],
                          check=False, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr


def test_an_informer_recovers_from_an_apiserver_crash_and_converges(kubeconfig, local_cluster_dir, crds,
                                                                    tmp_path):
    kube = connect(kubeconfig, retry=RetryPolicy(attempts=30, initial=0.2, cap=1.0))
    ns = f"restart-{uuid.uuid4().hex[:6]}"
    kube.create(NAMESPACES, {"metadata": {"name": ns}})
    factory = SharedInformerFactory(kube, namespaces=[ns])
    informer = factory.informer(CONFIG_MAPS)
    factory.start()
    operator = OperatorProcess(kubeconfig, "--namespace", ns, identity="restart", log_dir=tmp_path)
    try:
        assert factory.wait_for_cache_sync(30)
        eventually(lambda: operator.get("/readyz")[0] == 200, timeout=60, what="operator ready")
        for i in range(20):
            kube.create(CONFIG_MAPS, {"metadata": {"name": f"before-{i}"}}, namespace=ns)

        healthz_during: list[int] = []
        done = threading.Event()

        def probe() -> None:
            while not done.is_set():
                healthz_during.append(operator.get("/healthz")[0])
                done.wait(0.2)

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        restart_apiserver()
        for i in range(20):
            kube.create(CONFIG_MAPS, {"metadata": {"name": f"after-{i}"}}, namespace=ns)
        kube.delete(CONFIG_MAPS, "before-0", namespace=ns)
        done.set()
        prober.join(5)

        def converged() -> bool:
            fresh = {o["metadata"]["name"]: o["metadata"]["resourceVersion"]
                     for o in kube.list(CONFIG_MAPS, namespace=ns).items}
            cached = {o["metadata"]["name"]: o["metadata"]["resourceVersion"]
                      for o in informer.lister().list(ns)}
            return cached == fresh

        eventually(converged, timeout=90, what="the cache to equal a fresh list after the restart")
        assert healthz_during and set(healthz_during) == {200}
        assert operator.proc.poll() is None, "the operator process exited during the restart"
    finally:
        factory.stop()
        operator.stop()
        try:
            kube.delete(NAMESPACES, ns)
        except TransportError:
            pass
