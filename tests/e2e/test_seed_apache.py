"""Seed 000's walkthrough against this operator: CRDs, NameService, Broker, patch, upgrade, config, DLedger,
metrics, two namespaces, backup and restore, Console."""

from __future__ import annotations

import urllib.request

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.e2e.clusters import SAMPLES, RestartRecorder, condition, get_cr, wait_condition, wait_ready
from tests.e2e.conftest import kubectl
from tests.e2e.waiting import eventually

SEED_NS = "rocketmq"


@pytest.fixture
def seed_namespace(api_client):
    """Seed 000 works in namespace ``rocketmq`` with a StorageClass ``rocketmq-storage``."""
    core, storage = client.CoreV1Api(api_client), client.StorageV1Api(api_client)
    core.create_namespace({"metadata": {"name": SEED_NS}})
    default = next((c for c in storage.list_storage_class().items
                    if (c.metadata.annotations or {}).get("storageclass.kubernetes.io/is-default-class")
                    == "true"),
                   None)  # the cluster's own provisioner: host-path here, local-path on kind
    try:
        storage.create_storage_class({
            "metadata": {"name": "rocketmq-storage"},
            "provisioner": default.provisioner if default else "kubernetes.io/host-path",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": (default.volume_binding_mode if default else None) or "Immediate"})
    except ApiException as e:
        if e.status != 409:
            raise
    yield SEED_NS
    core.delete_namespace(SEED_NS)
    eventually(lambda: SEED_NS not in [n.metadata.name for n in core.list_namespace().items], timeout=90,
               what="the seed namespace to go")


def seed_text(name: str) -> str:
    return (SAMPLES / name).read_text()


def brokers_conf(api_client, namespace: str, name: str, group: int, member: int = 0) -> str:
    cm = client.CoreV1Api(api_client).read_namespaced_config_map(f"{name}-brokers", namespace)
    return cm.data[f"group-{group}-broker-{member}.conf"]


def test_kubectl_lists_the_rocketmq_crds(kubeconfig, crds):
    out = kubectl(kubeconfig, "get", "crd").stdout
    names = sorted(line.split()[0] for line in out.splitlines() if "rocketmq" in line)
    assert names == ["brokerclusters.rocketmq.huanwei.io", "brokers.rocketmq.apache.org",
                     "consoles.rocketmq.apache.org", "controllers.rocketmq.apache.org",
                     "nameservices.rocketmq.apache.org", "proxies.rocketmq.apache.org",
                     "topictransfers.rocketmq.apache.org"]


def test_the_seed_walkthrough_runs_unchanged(operator, api_client, kubeconfig, seed_namespace, tmp_path):
    kubectl(kubeconfig, "apply", "-f", str(SAMPLES / "nameserver.yaml"))
    kubectl(kubeconfig, "apply", "-f", str(SAMPLES / "rocketmq-cluster.yaml"))
    wait_ready(api_client, "NameService", SEED_NS, "rocketmq-nameserver")
    broker = wait_ready(api_client, "Broker", SEED_NS, "rocketmq-cluster")
    assert broker["status"]["size"] == 3
    assert broker["status"]["nodes"] == ["rocketmq-cluster-0-0", "rocketmq-cluster-1-0",
                                         "rocketmq-cluster-2-0"]
    assert "rocketmq-cluster" in kubectl(kubeconfig, "get", "broker", "-n", SEED_NS).stdout
    listed = kubectl(kubeconfig, "get", "statefulset,svc,pvc", "-n", SEED_NS).stdout
    assert "rocketmq-cluster-2" in listed and "broker-storage-rocketmq-cluster-0-0" in listed
    pods = kubectl(kubeconfig, "get", "pods", "-n", SEED_NS, "-l", "app=rocketmq-nameserver").stdout
    assert "rocketmq-nameserver-1" in pods
    described = kubectl(kubeconfig, "describe", "broker", "rocketmq-cluster", "-n", SEED_NS).stdout
    assert "Type:" in described and "Ready" in described and "Size:" in described

    # 4.1 scale with kubectl patch
    kubectl(kubeconfig, "patch", "broker", "rocketmq-cluster", "-n", SEED_NS, "--type=json",
            '-p=[{"op": "replace", "path": "/spec/size", "value": 5}]')
    broker = wait_ready(api_client, "Broker", SEED_NS, "rocketmq-cluster")
    assert broker["status"]["size"] == 5 and len(broker["status"]["nodes"]) == 5

    # 4.2 upgrade: the manifest with a new image, re-applied; rollout status follows it
    # (the file now also says size: 5, as it would for a user who keeps the file in step with the cluster)
    upgraded = seed_text("rocketmq-cluster.yaml").replace("brokerImage: apache/rocketmq:5.0.0",
                                                          "brokerImage: apache/rocketmq:5.1.0").replace(
        "size: 3", "size: 5")
    kubectl(kubeconfig, "apply", "-f", "-", stdin=upgraded)
    eventually(lambda: client.AppsV1Api(api_client).read_namespaced_stateful_set(
        "rocketmq-cluster-0", SEED_NS).spec.template.spec.containers[0].image == "apache/rocketmq:5.1.0",
        timeout=30, what="the new image in the template")
    kubectl(kubeconfig, "rollout", "status", "statefulset", "rocketmq-cluster-0", "-n", SEED_NS,
            "--timeout=120s")

    # 4.3 a configuration change restarts the pods
    recorder = RestartRecorder(api_client, SEED_NS)
    reconfigured = upgraded.replace("brokerRole: ASYNC_MASTER", "brokerRole: SYNC_MASTER").replace(
        "flushDiskType: ASYNC_FLUSH", "flushDiskType: SYNC_FLUSH")
    kubectl(kubeconfig, "apply", "-f", "-", stdin=reconfigured)
    eventually(lambda: "flushDiskType=SYNC_FLUSH" in brokers_conf(api_client, SEED_NS, "rocketmq-cluster", 0),
               timeout=30, what="the new broker.conf")
    eventually(lambda: "rocketmq-cluster-0-0" in recorder.order(), timeout=60, what="the broker to restart")
    recorder.stop()
    assert "brokerRole=SYNC_MASTER" in brokers_conf(api_client, SEED_NS, "rocketmq-cluster", 0)
    wait_ready(api_client, "Broker", SEED_NS, "rocketmq-cluster", timeout=120)

    # 7.3 backup, delete, restore: the same cluster comes back on the same data claims
    claims_before = {c.metadata.name: c.metadata.uid
                     for c in client.CoreV1Api(api_client).list_namespaced_persistent_volume_claim(
                         SEED_NS).items}
    backup = tmp_path / "backup.yaml"
    backup.write_text(kubectl(kubeconfig, "get", "broker", "rocketmq-cluster", "-n", SEED_NS, "-o",
                              "yaml").stdout)
    kubectl(kubeconfig, "delete", "broker", "rocketmq-cluster", "-n", SEED_NS, "--wait=true")
    eventually(lambda: not client.AppsV1Api(api_client).list_namespaced_stateful_set(
        SEED_NS, label_selector="rocketmq.apache.org/cluster=rocketmq-cluster").items, timeout=60,
        what="the StatefulSets to be collected")
    kubectl(kubeconfig, "apply", "-f", str(backup))
    restored = wait_ready(api_client, "Broker", SEED_NS, "rocketmq-cluster", timeout=120)
    assert restored["status"]["size"] == 5
    claims_after = {c.metadata.name: c.metadata.uid
                    for c in client.CoreV1Api(api_client).list_namespaced_persistent_volume_claim(
                        SEED_NS).items}
    assert claims_after == claims_before


def test_dledger_groups_of_three_get_three_peers(operator, api_client, namespace):
    body = yaml.safe_load(seed_text("rocketmq-cluster-dledger.yaml"))
    body["metadata"]["namespace"] = namespace
    body["spec"]["size"] = 1
    for claim in body["spec"].get("volumeClaimTemplates") or ():
        claim["spec"].pop("storageClassName", None)
    client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        "rocketmq.apache.org", "v1alpha1", namespace, "brokers", body)
    name = body["metadata"]["name"]
    broker = wait_ready(api_client, "Broker", namespace, name)
    assert len(broker["status"]["nodes"]) == 3
    conf = brokers_conf(api_client, namespace, name, 0, member=2).splitlines()
    assert "enableDLegerCommitLog=true" in conf and "dLegerSelfId=n2" in conf
    peers = next(line for line in conf if line.startswith("dLegerPeers=")).split("=", 1)[1].split(";")
    assert len(peers) == 3 and all(p.endswith(":40911") for p in peers)


def test_an_empty_name_servers_uses_the_namespace_name_service_or_says_which_to_choose(
        operator, api_client, namespace):
    ns = yaml.safe_load(seed_text("nameserver.yaml"))
    ns["metadata"]["namespace"] = namespace
    objs = client.CustomObjectsApi(api_client)
    objs.create_namespaced_custom_object("rocketmq.apache.org", "v1alpha1", namespace, "nameservices", ns)
    broker = yaml.safe_load(seed_text("rocketmq-cluster.yaml"))
    broker["metadata"]["namespace"] = namespace
    broker["spec"].update(nameServers="", size=1)
    broker["spec"].pop("volumeClaimTemplates")
    broker["spec"]["storageMode"] = "EmptyDir"
    objs.create_namespaced_custom_object("rocketmq.apache.org", "v1alpha1", namespace, "brokers", broker)
    wait_ready(api_client, "Broker", namespace, "rocketmq-cluster")
    assert f"rocketmq-nameserver-0.rocketmq-nameserver.{namespace}.svc.cluster.local:9876" in brokers_conf(
        api_client, namespace, "rocketmq-cluster", 0)

    ns["metadata"]["name"] = "second"
    objs.create_namespaced_custom_object("rocketmq.apache.org", "v1alpha1", namespace, "nameservices", ns)
    c = wait_condition(api_client, "Broker", namespace, "rocketmq-cluster", "Ready", "False")
    assert "set spec.nameServers" in c["message"]


def test_the_metrics_endpoint_serves_the_seed_metric_names(kubeconfig, crds, tmp_path):
    from tests.e2e.test_operator_process import OperatorProcess

    op = OperatorProcess(kubeconfig, "--namespace", "metrics-only", identity="metrics", log_dir=tmp_path)
    try:
        def body():
            with urllib.request.urlopen(f"http://127.0.0.1:{op.port}/metrics", timeout=2) as r:
                return r.read().decode()

        text = eventually(body, timeout=60, what="/metrics")
        for metric in ("rocketmq_broker_reconcile_total", "rocketmq_broker_reconcile_errors_total",
                       "rocketmq_nameserver_reconcile_total", "workqueue_depth", "workqueue_adds_total"):
            assert metric in text
    finally:
        op.stop()


def test_a_console_gets_the_name_server_address_and_follows_it(operator, api_client, namespace):
    objs = client.CustomObjectsApi(api_client)
    ns = yaml.safe_load(seed_text("nameserver.yaml"))
    ns["metadata"]["namespace"] = namespace
    objs.create_namespaced_custom_object("rocketmq.apache.org", "v1alpha1", namespace, "nameservices", ns)
    console = yaml.safe_load(seed_text("rocketmq_v1alpha1_console_cr.yaml"))
    console["metadata"]["namespace"] = namespace
    console["spec"]["nameServers"] = ""
    objs.create_namespaced_custom_object("rocketmq.apache.org", "v1alpha1", namespace, "consoles", console)
    wait_ready(api_client, "Console", namespace, "console")
    apps = client.AppsV1Api(api_client)

    def java_opts() -> str:
        dep = apps.read_namespaced_deployment("console", namespace)
        return next(e.value for e in dep.spec.template.spec.containers[0].env if e.name == "JAVA_OPTS")

    assert java_opts().count("rocketmq-nameserver-") == 2
    client.CoreV1Api(api_client).read_namespaced_service("console", namespace)
    objs.patch_namespaced_custom_object("rocketmq.apache.org", "v1alpha1", namespace, "nameservices",
                                        "rocketmq-nameserver", {"spec": {"size": 3}})
    eventually(lambda: java_opts().count("rocketmq-nameserver-") == 3, timeout=30,
               what="the console to follow the name servers")
    assert condition(get_cr(api_client, "Console", namespace, "console"), "Ready")


def test_brokers_in_two_namespaces_are_served_by_one_operator(operator, api_client, namespace):
    core = client.CoreV1Api(api_client)
    other = f"{namespace}-2"
    core.create_namespace({"metadata": {"name": other}})
    try:
        for ns, size in ((namespace, 1), (other, 2)):
            broker = yaml.safe_load(seed_text("rocketmq-cluster.yaml"))
            broker["metadata"].update(namespace=ns, name=f"cluster-{size}")
            broker["spec"].update(size=size, nameServers=f"ns-{size}.example:9876", storageMode="EmptyDir")
            broker["spec"].pop("volumeClaimTemplates")
            client.CustomObjectsApi(api_client).create_namespaced_custom_object(
                "rocketmq.apache.org", "v1alpha1", ns, "brokers", broker)
        one = wait_ready(api_client, "Broker", namespace, "cluster-1")
        two = wait_ready(api_client, "Broker", other, "cluster-2")
        assert (one["status"]["size"], two["status"]["size"]) == (1, 2)
        assert "namesrvAddr=ns-1.example:9876" in brokers_conf(api_client, namespace, "cluster-1", 0)
        assert "namesrvAddr=ns-2.example:9876" in brokers_conf(api_client, other, "cluster-2", 1)
    finally:
        core.delete_namespace(other)
