"""Seed 000 for real, on a real node, under the operator's own Deployment: ``manifests/overlays/namespaced``
(namespace ``rocketmq``, a Role, the operator image built here) runs in-cluster on the real node, and serves
the seed's NameService and Broker manifests in that namespace (so the Broker's literal ``nameServers``
resolves), store on StorageClass claims bound to host directories.

What is changed from the seed, and why: the image (the one built here), placement on the real node, and
resources and heap (the seed asks for 1 CPU and 2 GiB per broker; this machine has 2 cores for five brokers,
two name servers and the control plane). Everything else — size, storageMode, volumeClaimTemplates,
scalePodName, properties — is the seed's.

Then: ``kubectl patch`` size 3→5 (the seed's own command) → five groups registered; a message written to a
group survives the deletion of its pod (same claim, same store); a frozen broker (SIGSTOP from the host, so
its port still accepts) fails its liveness probe and is restarted, and its pod turns Ready again only once
the broker is registered on the name servers.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from kubernetes import client

from tests.e2e.clusters import condition, create_cr, get_cr, wait_ready
from tests.e2e.conftest import ROOT, kubectl
from tests.e2e.realnode import NODE_SELECTOR, OPERATOR_IMAGE, ROCKETMQ_IMAGE, TOLERATION, host_pid, placement
from tests.e2e.waiting import eventually

pytestmark = pytest.mark.realnode

NS = "rocketmq"
NAME_SERVICE = "rocketmq-nameserver"
BROKER = "rocketmq-cluster"
STORAGE_CLASS = "rocketmq-storage"
TOPIC = "SeedTopic"
FIGURES: dict[str, str] = {}


def _name_service() -> dict:
    return {
        "apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "NameService",
        "metadata": {"name": NAME_SERVICE, "namespace": NS},
        "spec": {
            "size": 2, "nameServiceImage": ROCKETMQ_IMAGE, "imagePullPolicy": "IfNotPresent",
            "resources": {"requests": {"memory": "256Mi", "cpu": "50m"},
                          "limits": {"memory": "1Gi", "cpu": "500m"}},
            "hostNetwork": False, "dnsPolicy": "ClusterFirst",
            "env": [{"name": "HEAP_OPTS", "value": "-Xms128m -Xmx128m -Xmn64m"}],
            **placement(),
        },
    }


def _broker() -> dict:
    return {
        "apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "Broker",
        "metadata": {"name": BROKER, "namespace": NS},
        "spec": {
            "size": 3,
            "nameServers": "rocketmq-nameserver-0.rocketmq-nameserver.rocketmq.svc.cluster.local:9876",
            "brokerImage": ROCKETMQ_IMAGE, "imagePullPolicy": "IfNotPresent",
            "resources": {"requests": {"memory": "512Mi", "cpu": "50m"},
                          "limits": {"memory": "1Gi", "cpu": "1"}},
            "storageMode": "StorageClass", "hostPath": "", "scalePodName": "broker-0",
            "volumeClaimTemplates": [{
                "metadata": {"name": "broker-storage"},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": STORAGE_CLASS,
                         "resources": {"requests": {"storage": "100Gi"}}}}],
            "properties": {"brokerClusterName": "DefaultCluster", "brokerRole": "ASYNC_MASTER",
                           "flushDiskType": "ASYNC_FLUSH", "deleteWhen": "04", "fileReservedTime": "48"},
            "env": [{"name": "JAVA_OPT_EXT",
                     "value": "-Xms256m -Xmx256m -Xmn128m -XX:MaxDirectMemorySize=256m"}],
            **placement(),
        },
    }


def _diagnostics(kubeconfig: str) -> str:
    out = [kubectl(kubeconfig, "-n", NS, "get", "pods,pvc", "-o", "wide", check=False).stdout,
           kubectl(kubeconfig, "-n", NS, "get", "brokers.rocketmq.apache.org", "-o", "yaml",
                   check=False).stdout[-5000:],
           kubectl(kubeconfig, "-n", NS, "get", "events", "--sort-by=.lastTimestamp",
                   check=False).stdout[-3000:]]
    return "\n".join(out)


def _operator_manifests() -> str:
    """manifests/overlays/namespaced as kustomize renders it, placed on the real node."""
    import json

    import yaml

    objs = [o for o in yaml.safe_load_all(
        kubectl_text("kustomize", str(ROOT / "manifests" / "overlays" / "namespaced"))) if o]
    for obj in objs:
        if obj["kind"] == "Deployment":
            pod = obj["spec"]["template"]["spec"]
            pod["nodeSelector"] = {**(pod.get("nodeSelector") or {}), **NODE_SELECTOR}
            pod["tolerations"] = [*(pod.get("tolerations") or []), TOLERATION]
            container = pod["containers"][0]
            assert container["image"] == OPERATOR_IMAGE, container["image"]
            container["imagePullPolicy"] = "Never"  # imported into the node's containerd, no registry
            env = [e for e in container["env"] if e["name"] != "ROCKETMQ_OBSERVE_INTERVAL"]
            container["env"] = [*env, {"name": "ROCKETMQ_OBSERVE_INTERVAL", "value": "10"}]  # the tests' pace
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": objs})


def kubectl_text(*args: str) -> str:
    import subprocess

    return subprocess.run(["kubectl", *args], check=True, capture_output=True, text=True, timeout=60).stdout


@pytest.fixture(scope="module")
def seed(api_client, kubeconfig, real_nodes, crds):
    core = client.CoreV1Api(api_client)
    kubectl(kubeconfig, "delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=180s")
    storage = client.StorageV1Api(api_client)
    storage.create_storage_class({"metadata": {"name": STORAGE_CLASS},
                                  "provisioner": "kubernetes.io/host-path",
                                  "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"})
    try:
        start = time.monotonic()
        kubectl(kubeconfig, "apply", "-f", "-", stdin=_operator_manifests())
        try:
            kubectl(kubeconfig, "-n", NS, "rollout", "status", "deployment/rocketmq-operator",
                    "--timeout=180s")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{_diagnostics(kubeconfig)}") from None
        FIGURES["operator Deployment available"] = f"{time.monotonic() - start:.1f}s"
        start = time.monotonic()
        create_cr(api_client, "NameService", NS, _name_service())
        create_cr(api_client, "Broker", NS, _broker())
        try:
            wait_ready(api_client, "NameService", NS, NAME_SERVICE, timeout=180)
            wait_ready(api_client, "Broker", NS, BROKER, timeout=240)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{_diagnostics(kubeconfig)}") from None
        FIGURES["3 groups Ready and registered"] = f"{time.monotonic() - start:.1f}s"
        yield core
    finally:
        kubectl(kubeconfig, "delete", "namespace", NS, "--wait=true", "--timeout=180s", check=False)
        storage.delete_storage_class(STORAGE_CLASS)
        for key, value in FIGURES.items():
            print(f"FIGURE seed {key}: {value}")


def test_the_operators_own_deployment_serves_in_cluster_on_the_real_node_locked_down(
        seed, kubeconfig, real_nodes):
    pod = seed.list_namespaced_pod(NS, label_selector="name=rocketmq-operator").items[0]
    assert pod.spec.node_name in real_nodes, pod.spec.node_name
    container = pod.spec.containers[0]
    assert container.image == OPERATOR_IMAGE
    assert container.security_context.read_only_root_filesystem is True
    assert pod.spec.security_context.run_as_non_root is True and (
        pod.spec.security_context.run_as_user == 65532)
    assert pod.status.container_statuses[0].restart_count == 0
    lease = client.CoordinationV1Api(seed.api_client).read_namespaced_lease("rocketmq-operator-lock", NS)
    assert lease.spec.holder_identity == pod.metadata.name, lease.spec.holder_identity
    logs = kubectl(kubeconfig, "-n", NS, "logs", pod.metadata.name).stdout
    errors = [line for line in logs.splitlines() if '"level": "error"' in line or "Forbidden" in line]
    assert not errors, errors[:5]
    mem = kubectl(kubeconfig, "-n", NS, "exec", pod.metadata.name, "--", "python", "-c",
                  "print(open('/proc/1/status').read().split('VmRSS:')[1].split()[0])",
                  check=False).stdout.strip()
    FIGURES["operator RSS in cluster"] = f"{mem} kB"


def _namesrv(core) -> list[str]:
    return [f"{core.read_namespaced_pod(f'{NAME_SERVICE}-{i}', NS).status.pod_ip}:9876" for i in range(2)]


def _registered_groups(core) -> set[str]:
    from rocketmq_operator.rocketmq.admin import AdminClient

    with AdminClient(_namesrv(core)[0], connect_timeout=5, request_timeout=10) as admin:
        info = admin.cluster_info()
    return {b.name for b in info.brokers_in("DefaultCluster") if 0 in b.addrs}


def test_the_seeds_broker_runs_three_groups_on_bound_claims(seed, kubeconfig):
    claims = seed.list_namespaced_persistent_volume_claim(NS).items
    assert len(claims) == 3 and all(c.status.phase == "Bound" for c in claims), [
        c.status.phase for c in claims]
    assert _registered_groups(seed) == {f"{BROKER}-{g}" for g in range(3)}  # <Broker name>-<g>
    broker = get_cr(seed.api_client, "Broker", NS, BROKER)
    assert broker["status"].get("registeredMembers") == 3, broker["status"]


def test_kubectl_patch_size_3_to_5_registers_five_groups(seed, kubeconfig):
    start = time.monotonic()
    kubectl(kubeconfig, "patch", "broker", BROKER, "-n", NS, "--type=json",
            "-p", '[{"op": "replace", "path": "/spec/size", "value": 5}]')
    try:
        wait_ready(seed.api_client, "Broker", NS, BROKER, timeout=240)
        groups = eventually(lambda: len(_registered_groups(seed)) == 5 and _registered_groups(seed),
                            timeout=60,
                            what="five groups in the cluster info")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{_diagnostics(kubeconfig)}") from None
    FIGURES["size 3→5 to five groups registered"] = f"{time.monotonic() - start:.1f}s"
    assert groups == {f"{BROKER}-{g}" for g in range(5)}, groups
    status = get_cr(seed.api_client, "Broker", NS, BROKER)["status"]
    assert status["registeredMembers"] == 5 and len(status["brokers"]) == 5, status
    assert len(seed.list_namespaced_persistent_volume_claim(NS).items) == 5


def _pod_at(core, addr: str):
    ip = addr.rsplit(":", 1)[0]
    return next(p for p in core.list_namespaced_pod(NS, label_selector="app=rocketmq-broker").items
                if p.status.pod_ip == ip)


def test_a_message_survives_the_deletion_of_its_brokers_pod(seed, kubeconfig):
    from rocketmq_operator.rocketmq import Message, Producer, PullConsumer

    pod0 = seed.list_namespaced_pod(NS, label_selector="app=rocketmq-broker").items[0].metadata.name
    out = kubectl(kubeconfig, "-n", NS, "exec", pod0, "--", "sh", "mqadmin", "updateTopic", "-c",
                  "DefaultCluster", "-t", TOPIC, "-n",
                  "rocketmq-nameserver-0.rocketmq-nameserver.rocketmq.svc.cluster.local:9876").stdout
    assert "success" in out.lower(), out
    key = f"seed-{uuid.uuid4().hex[:8]}"
    with Producer(_namesrv(seed), group="seed-producer") as producer:
        sent = eventually(lambda: producer.send(Message(TOPIC, b"kept on the claim", keys=(key,))),
                          timeout=30,
                          what="a send to SeedTopic")
    assert sent.status.name == "SEND_OK", sent
    pod = _pod_at(seed, sent.broker_addr)
    name, uid = pod.metadata.name, pod.metadata.uid
    claim = next(v.persistent_volume_claim.claim_name for v in pod.spec.volumes if v.persistent_volume_claim)
    seed.delete_namespaced_pod(name, NS)
    start = time.monotonic()

    def back():
        p = seed.read_namespaced_pod(name, NS)
        ready = any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or ())
        return p.metadata.uid != uid and ready and p
    try:
        new = eventually(back, timeout=240, interval=1, what=f"{name} recreated and Ready")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{_diagnostics(kubeconfig)}") from None
    FIGURES["broker pod deleted to Ready again"] = f"{time.monotonic() - start:.1f}s"
    assert claim in {v.persistent_volume_claim.claim_name for v in new.spec.volumes
                     if v.persistent_volume_claim}
    received = []
    with PullConsumer(_namesrv(seed), group=f"seed-consumer-{key}", topic=TOPIC) as consumer:
        def got():
            received.extend(consumer.poll())
            return [m for m in received if key in m.keys]
        mine = eventually(got, timeout=60, interval=0.5, what=f"the message with key {key} after the restart")
    assert len(mine) == 1 and mine[0].body == b"kept on the claim", received


def test_a_frozen_broker_is_restarted_by_its_liveness_probe_and_ready_only_once_registered(seed, kubeconfig):
    from rocketmq_operator.rocketmq.admin import AdminClient

    name = f"{BROKER}-1-0"
    pod = seed.read_namespaced_pod(name, NS)
    restarts = pod.status.container_statuses[0].restart_count
    pid = host_pid(pod, "BrokerStartup")
    os.kill(pid, signal.SIGSTOP)  # the port still accepts connections; the JVM answers nothing
    start = time.monotonic()
    samples: list[tuple[float, bool, bool]] = []  # (seconds, pod ready, listed by a name server)
    addr = f"{pod.status.pod_ip}:10911"

    def restarted_and_ready():
        p = seed.read_namespaced_pod(name, NS)
        ready = any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or ())
        try:
            with AdminClient(_namesrv(seed)[0], connect_timeout=2, request_timeout=3) as admin:
                listed = any(addr in b.addrs.values()
                             for b in admin.cluster_info().brokers_in("DefaultCluster"))
        except Exception:  # noqa: BLE001 - a name server busy for a moment is a sample lost, not a failure
            return False
        samples.append((time.monotonic() - start, ready, listed))
        count = p.status.container_statuses[0].restart_count
        return count > restarts and ready and p
    try:
        eventually(restarted_and_ready, timeout=300, interval=1, what=f"{name} restarted and Ready again")
    except AssertionError as e:
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGCONT)
        raise AssertionError(f"{e}\nsamples={samples[-10:]}\n{_diagnostics(kubeconfig)}") from None
    FIGURES["frozen broker to restarted and Ready"] = f"{time.monotonic() - start:.1f}s"
    unready = [s for s in samples if not s[1]]
    assert unready, f"the pod never turned unready: {samples}"
    # After the restart began (first unready sample), Ready never showed before the broker was listed.
    after = samples[samples.index(unready[0]):]
    assert all(listed for _, ready, listed in after if ready), after
    # The operator reports Ready once it has itself seen the broker registered again (its next observation,
    # then a sync): shortly after the pod, not at the same instant.
    broker = eventually(lambda: (b := get_cr(seed.api_client, "Broker", NS, BROKER))
                        and condition(b, "Ready").get("status") == "True" and b, timeout=60, interval=1,
                        what="the Broker to report Ready again")
    assert condition(broker, "Ready").get("status") == "True", broker["status"]
