"""Smoke test of the real nodes: pods of the RocketMQ image built here run in real containers.

One name server pod behind a headless Service and one client pod, both on a real node: the JVM runs,
``kubectl logs`` and ``kubectl exec`` work, the client resolves the name server's pod DNS name and talks
TCP to it, and the host (where the operator runs in the tests) reaches the pod IP and speaks RocketMQ's
remoting protocol to it. A pod of the operator image, locked down like the operator's Deployment
(non-root, read-only root filesystem, RuntimeDefault seccomp), reaches the API server the in-cluster way:
``KUBERNETES_SERVICE_HOST`` (the ``kubernetes`` Service's ClusterIP, through kube-proxy) and its
ServiceAccount token.
"""

from __future__ import annotations

import socket

import pytest
from kubernetes import client

from tests.e2e.conftest import kubectl
from tests.e2e.realnode import (
    CLUSTER_DOMAIN,
    HOST_IP,
    NODE_SELECTOR,
    OPERATOR_IMAGE,
    ROCKETMQ_IMAGE,
    on_real_node,
)
from tests.e2e.waiting import eventually

pytestmark = pytest.mark.realnode

SMALL_JVM = [{"name": "HEAP_OPTS", "value": "-Xms128m -Xmx128m -Xmn64m"}]


def _pod(name: str, spec: dict, labels: dict | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": on_real_node(spec)}


@pytest.fixture(scope="module")
def pods(api_client, real_nodes, kubeconfig):
    """A namespace with the name server ``nsrv-0`` (headless Service ``nsrv``) and a ``client`` pod."""
    core = client.CoreV1Api(api_client)
    ns = "e2e-realnode-smoke"
    kubectl(kubeconfig, "delete", "namespace", ns, "--ignore-not-found", "--wait=true", "--timeout=120s")
    core.create_namespace({"metadata": {"name": ns, "labels": {"e2e": "true"}}})
    core.create_namespaced_service(ns, {
        "metadata": {"name": "nsrv"},
        "spec": {"clusterIP": "None", "selector": {"app": "nsrv"},
                 "ports": [{"name": "main", "port": 9876}]}})
    core.create_namespaced_pod(ns, _pod("nsrv-0", {
        "hostname": "nsrv-0", "subdomain": "nsrv", "terminationGracePeriodSeconds": 5,
        "containers": [{"name": "namesrv", "image": ROCKETMQ_IMAGE, "imagePullPolicy": "Never",
                        "args": ["nameserver"], "env": SMALL_JVM, "ports": [{"containerPort": 9876}],
                        "readinessProbe": {"tcpSocket": {"port": 9876}, "periodSeconds": 2}}]},
        labels={"app": "nsrv"}))
    core.create_namespaced_pod(ns, _pod("client", {
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "client", "image": ROCKETMQ_IMAGE, "imagePullPolicy": "Never",
                        "args": ["sleep", "infinity"]}]}))

    def ready(name):
        pod = core.read_namespaced_pod(name, ns)
        return pod if any(c.type == "Ready" and c.status == "True"
                          for c in pod.status.conditions or []) else None

    try:
        nsrv = eventually(lambda: ready("nsrv-0"), timeout=180, what="the name server pod Ready")
        cli = eventually(lambda: ready("client"), timeout=120, what="the client pod Ready")
        yield {"namespace": ns, "nsrv": nsrv, "client": cli}
    except AssertionError:
        print(kubectl(kubeconfig, "-n", ns, "describe", "pods", check=False).stdout[-4000:])
        raise
    finally:
        core.delete_namespace(ns, propagation_policy="Background")


def _exec(kubeconfig, pods, *cmd: str, pod: str = "client"):
    return kubectl(kubeconfig, "-n", pods["namespace"], "exec", pod, "--", *cmd)


def test_pods_run_on_the_real_node_with_its_label_and_pod_ips(pods, real_nodes, api_client):
    for pod in (pods["nsrv"], pods["client"]):
        assert pod.spec.node_name in real_nodes
        assert pod.status.pod_ip and pod.status.pod_ip != HOST_IP
    node = client.CoreV1Api(api_client).read_node(pods["nsrv"].spec.node_name)
    assert all(node.metadata.labels.get(k) == v for k, v in NODE_SELECTOR.items())


def test_java_runs_in_the_rocketmq_image_and_kubectl_logs_shows_the_name_server(pods, kubeconfig):
    version = _exec(kubeconfig, pods, "java", "-version")
    assert "openjdk version \"17" in version.stderr + version.stdout
    assert _exec(kubeconfig, pods, "id", "-u").stdout.strip() == "3000"

    def booted():
        return "boot success" in kubectl(kubeconfig, "-n", pods["namespace"], "logs", "nsrv-0").stdout
    eventually(booted, timeout=60, what="'The Name Server boot success' in kubectl logs")


def test_a_pod_resolves_a_headless_service_pod_name_to_the_pod_ip(pods, kubeconfig):
    name = f"nsrv-0.nsrv.{pods['namespace']}.svc.{CLUSTER_DOMAIN}"
    out = _exec(kubeconfig, pods, "getent", "hosts", name).stdout.split()
    assert out[0] == pods["nsrv"].status.pod_ip, out
    assert _exec(kubeconfig, pods, "grep", "-c", f"nameserver {HOST_IP}",
                 "/etc/resolv.conf").stdout.strip() == "1"
    missing = kubectl(kubeconfig, "-n", pods["namespace"], "exec", "client", "--", "getent", "hosts",
                      "no-such-host.example.com", check=False)
    assert missing.returncode != 0  # nothing outside the cluster domain resolves


def test_two_pods_talk_tcp(pods, kubeconfig):
    name = f"nsrv-0.nsrv.{pods['namespace']}.svc.{CLUSTER_DOMAIN}"
    out = _exec(kubeconfig, pods, "bash", "-c", f"exec 3<>/dev/tcp/{name}/9876 && echo connected")
    assert out.stdout.strip() == "connected"


def test_the_host_reaches_a_pod_ip_and_speaks_rocketmq_to_it(pods):
    from rocketmq_operator.rocketmq.admin import AdminClient

    ip = pods["nsrv"].status.pod_ip
    with socket.create_connection((ip, 9876), timeout=5):
        pass
    with AdminClient(f"{ip}:9876", connect_timeout=5, request_timeout=10) as admin:
        info = admin.cluster_info()
    assert info is not None


IN_CLUSTER_CHECK = """
import json, os, ssl, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
req = urllib.request.Request(f"https://{host}:{port}/version",
                             headers={"Authorization": "Bearer " + open(sa + "/token").read()})
body = json.load(urllib.request.urlopen(req, context=ssl.create_default_context(cafile=sa + "/ca.crt"), timeout=10))
seccomp = open("/proc/self/status").read().split("Seccomp:")[1].split()[0]
print(json.dumps({"host": host, "major": body["major"], "uid": os.getuid(), "seccomp": seccomp}))
"""  # noqa: E501, RUF100 - a line of the program the pod runs: wrapping it would change the string


def test_a_locked_down_pod_reaches_the_api_server_through_the_kubernetes_service(
        pods, api_client, kubeconfig):
    import json

    core = client.CoreV1Api(api_client)
    ns = pods["namespace"]
    core.create_namespaced_pod(ns, _pod("in-cluster", {
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "check", "image": OPERATOR_IMAGE, "imagePullPolicy": "Never",
                        "command": ["python3", "-c", IN_CLUSTER_CHECK],
                        "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"]}}}]}))

    def finished():
        phase = core.read_namespaced_pod("in-cluster", ns).status.phase
        return phase if phase in ("Succeeded", "Failed") else None

    phase = eventually(finished, timeout=120, what="the in-cluster check pod to finish")
    logs = kubectl(kubeconfig, "-n", ns, "logs", "in-cluster").stdout
    assert phase == "Succeeded", logs
    result = json.loads(logs.strip().splitlines()[-1])
    service_ip = core.read_namespaced_service("kubernetes", "default").spec.cluster_ip
    assert result == {"host": service_ip, "major": "1", "uid": 65532, "seccomp": "2"}, result  # 2: filtering
