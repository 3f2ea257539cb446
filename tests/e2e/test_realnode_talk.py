"""The talk demo, for real: a NameService and a 2-master/2-slave BrokerCluster on a real node.

Pods run RocketMQ 5.3.3 in containerd on ``real-node-0``; an operator of this module's own, watching only
this module's namespace, OBSERVES RocketMQ (``observe_interval=10``), so the BrokerCluster is Ready only
once every broker is registered on the name servers. Then: the slave's broker.conf, ``mqadmin
clusterList``, a keyed message sent and received from the host through the project's own client, and a
name-server resize 2→3 that every broker picks up without a pod restart (issue 11).
"""

from __future__ import annotations

import time
import uuid

import pytest
from kubernetes import client

from tests.e2e.clusters import condition, create_cr, get_cr, patch_cr, wait_ready
from tests.e2e.conftest import kubectl
from tests.e2e.realnode import CLUSTER_DOMAIN, ROCKETMQ_IMAGE, placement
from tests.e2e.realnode import observing_operator as observing_operator_in
from tests.e2e.waiting import eventually

pytestmark = pytest.mark.realnode

NAME_SERVICE = "rocketmq-nameserver"
CLUSTER = "mybrokercluster"
TOPIC = "TalkTopic"
BROKER_PODS = [f"{CLUSTER}-{g}-{m}" for g in (0, 1) for m in (0, 1)]
FIGURES: dict[str, str] = {}


def _name_service() -> dict:
    return {
        "apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "NameService",
        "metadata": {"name": NAME_SERVICE},
        "spec": {
            "size": 2, "nameServiceImage": ROCKETMQ_IMAGE, "imagePullPolicy": "IfNotPresent",
            "storageMode": "EmptyDir", "dnsPolicy": "ClusterFirst",
            "env": [{"name": "HEAP_OPTS", "value": "-Xms128m -Xmx128m -Xmn64m"}],
            "resources": {"requests": {"cpu": "50m", "memory": "256Mi"}},
            **placement(),
        },
    }


def _broker_cluster() -> dict:
    return {
        "apiVersion": "rocketmq.huanwei.io/v1alpha1", "kind": "BrokerCluster",
        "metadata": {"name": CLUSTER},
        "spec": {
            "brokerImage": ROCKETMQ_IMAGE, "imagePullPolicy": "IfNotPresent",
            "nameServiceRef": {"name": NAME_SERVICE},
            "allMaster": False, "replicationMode": "SYNC", "groupReplica": 2, "membersPerGroup": 2,
            "storageMode": "EmptyDir",
            "env": [{"name": "HEAP_OPTS",
                     "value": "-Xms256m -Xmx256m -Xmn128m -XX:MaxDirectMemorySize=256m"}],
            "resources": {"requests": {"cpu": "50m", "memory": "512Mi"}},
            **placement(),
        },
    }


def _diagnostics(kubeconfig: str, ns: str) -> str:
    out = [kubectl(kubeconfig, "-n", ns, "get", "pods", "-o", "wide", check=False).stdout,
           kubectl(kubeconfig, "-n", ns, "describe", "pods", check=False).stdout[-6000:]]
    for pod in BROKER_PODS + [f"{NAME_SERVICE}-{i}" for i in range(3)]:
        logs = kubectl(kubeconfig, "-n", ns, "logs", pod, "--all-containers", "--tail=30", check=False)
        out.append(f"--- logs {pod}\n{(logs.stdout + logs.stderr)[-2000:]}")
    for kind, plural in (("BrokerCluster", "brokerclusters.rocketmq.huanwei.io"),
                         ("NameService", "nameservices.rocketmq.apache.org")):
        out.append(f"--- {kind}\n" + kubectl(kubeconfig, "-n", ns, "get", plural, "-o", "yaml",
                                             check=False).stdout[-4000:])
    return "\n".join(out)


@pytest.fixture(scope="module")
def talk_ns(api_client, real_nodes):
    name = f"e2e-talk-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name, "labels": {"e2e": "true"}}})
    yield name
    core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture(scope="module")
def observing_operator(operator_kubeconfig, talk_ns):
    """An operator that observes RocketMQ, watching only this module's namespace."""
    with observing_operator_in(operator_kubeconfig, [talk_ns], identity="e2e-realnode-talk") as op:
        yield op


@pytest.fixture(scope="module")
def talk(api_client, kubeconfig, talk_ns, observing_operator):
    """The NameService and the BrokerCluster, Ready (brokers registered); yields the namespace."""
    ns = talk_ns
    start = time.monotonic()
    create_cr(api_client, "NameService", ns, _name_service())
    create_cr(api_client, "BrokerCluster", ns, _broker_cluster())
    try:
        wait_ready(api_client, "NameService", ns, NAME_SERVICE, timeout=180)
        FIGURES["NameService Ready"] = f"{time.monotonic() - start:.1f}s"
        bc = wait_ready(api_client, "BrokerCluster", ns, CLUSTER, timeout=240)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{_diagnostics(kubeconfig, ns)}") from None
    FIGURES["BrokerCluster Ready"] = f"{time.monotonic() - start:.1f}s"
    print(f"\nBrokerCluster Ready after {FIGURES['BrokerCluster Ready']}")
    yield {"ns": ns, "ready": bc}
    for key, value in FIGURES.items():
        print(f"FIGURE {key}: {value}")


def _pod_exec(kubeconfig, ns, pod, *cmd):
    """kubectl exec into the pod's first container."""
    return kubectl(kubeconfig, "-n", ns, "exec", pod, "--", *cmd)


def _name_server_ips(api_client, ns: str) -> list[str]:
    core = client.CoreV1Api(api_client)
    size = get_cr(api_client, "NameService", ns, NAME_SERVICE)["spec"]["size"]
    ips = []
    for i in range(size):
        pod = core.read_namespaced_pod(f"{NAME_SERVICE}-{i}", ns)
        assert pod.status.pod_ip, f"{pod.metadata.name} has no IP"
        ips.append(pod.status.pod_ip)
    return ips


def test_ready_with_every_broker_registered_as_rocketmq_reports(talk, api_client, kubeconfig):
    # Ready needs each broker on some name server; BrokersRegistered, on every one (a heartbeat later).
    bc = eventually(lambda: condition(b := get_cr(api_client, "BrokerCluster", talk["ns"], CLUSTER),
                                      "BrokersRegistered").get("status") == "True" and b,
                    timeout=60, interval=1, what="BrokersRegistered")
    status = bc["status"]
    diag = f"status={status}"
    assert condition(bc, "Ready").get("status") == "True", diag
    assert condition(bc, "BrokersRegistered").get("status") == "True", diag
    assert status.get("registeredMembers") == 4, diag
    brokers = {b["name"]: b for b in status.get("brokers") or ()}
    assert sorted(brokers) == BROKER_PODS, diag
    for g in (0, 1):
        master, slave = brokers[f"{CLUSTER}-{g}-0"], brokers[f"{CLUSTER}-{g}-1"]
        assert (master["brokerName"], master["brokerId"], master["role"]) == (
            f"broker-{g}", 0, "MASTER"), diag
        assert (slave["brokerName"], slave["brokerId"], slave["role"]) == (f"broker-{g}", 1, "SLAVE"), diag
        assert master.get("registeredOn") == 2 and slave.get("registeredOn") == 2, diag
    core = client.CoreV1Api(api_client)
    for pod in BROKER_PODS + [f"{NAME_SERVICE}-0", f"{NAME_SERVICE}-1"]:
        out = kubectl(kubeconfig, "-n", talk["ns"], "exec", pod, "--", "grep", "VmRSS", "/proc/1/status",
                      check=False).stdout.strip()
        node = core.read_namespaced_pod(pod, talk["ns"]).spec.node_name
        FIGURES[f"RSS {pod}"] = f"{out.split(':', 1)[-1].strip() or '?'} on {node}"


def test_the_slave_runs_with_the_broker_conf_the_operator_wrote(talk, kubeconfig):
    from rocketmq_operator.resources.brokers import RUN_DIR

    conf = _pod_exec(kubeconfig, talk["ns"], f"{CLUSTER}-0-1", "cat", f"{RUN_DIR}/broker.conf").stdout
    lines = {line.strip() for line in conf.splitlines()}
    assert {"brokerId=1", "brokerRole=SLAVE", "brokerName=broker-0"} <= lines, conf


def test_mqadmin_cluster_list_shows_both_groups_with_master_and_slave(talk, kubeconfig):
    from rocketmq_operator.resources.naming import pod_fqdn

    ns = talk["ns"]
    nsrv = pod_fqdn(f"{NAME_SERVICE}-0", NAME_SERVICE, ns, cluster_domain=CLUSTER_DOMAIN)
    out = _pod_exec(kubeconfig, ns, f"{CLUSTER}-0-0", "sh", "mqadmin", "clusterList", "-n",
                    f"{nsrv}:9876").stdout
    print(f"\nmqadmin clusterList -n {nsrv}:9876\n{out}")
    FIGURES["clusterList"] = "\n" + out
    rows = [line.split() for line in out.splitlines() if "broker-" in line]
    pairs = {(r[1], r[2]) for r in rows if len(r) > 2}
    assert pairs == {("broker-0", "0"), ("broker-0", "1"), ("broker-1", "0"), ("broker-1", "1")}, out


def test_a_keyed_message_sent_is_received(talk, api_client, kubeconfig):
    from rocketmq_operator.rocketmq import Message, Producer, PullConsumer

    ns = talk["ns"]
    out = _pod_exec(kubeconfig, ns, f"{CLUSTER}-0-0", "sh", "mqadmin", "updateTopic", "-c", "DefaultCluster",
                    "-t", TOPIC, "-n",
                    f"{NAME_SERVICE}-0.{NAME_SERVICE}.{ns}.svc.{CLUSTER_DOMAIN}:9876").stdout
    assert "success" in out.lower(), out
    namesrv = [f"{ip}:9876" for ip in _name_server_ips(api_client, ns)]
    key = f"talk-{uuid.uuid4().hex[:8]}"
    with Producer(namesrv, group="talk-producer") as producer:
        sent = eventually(lambda: producer.send(Message(TOPIC, b"hello from the talk", keys=(key,))),
                          timeout=30, what="a send to TalkTopic")
    assert sent.status.name == "SEND_OK", sent
    received = []
    with PullConsumer(namesrv, group=f"talk-consumer-{key}", topic=TOPIC) as consumer:
        def got():
            received.extend(consumer.poll())
            return [m for m in received if key in m.keys]
        mine = eventually(got, timeout=30, interval=0.5, what=f"the message with key {key}")
    assert len(mine) == 1 and mine[0].body == b"hello from the talk", received
    assert mine[0].uniq_key == sent.msg_id, (mine[0], sent)


def _broker_ips(api_client, ns: str) -> list[str]:
    core = client.CoreV1Api(api_client)
    return [core.read_namespaced_pod(p, ns).status.pod_ip for p in BROKER_PODS]


def test_name_server_resize_2_3_2_reaches_every_broker_without_a_restart(talk, api_client, kubeconfig):
    from rocketmq_operator.rocketmq.admin import AdminClient

    ns = talk["ns"]
    core = client.CoreV1Api(api_client)

    def pods():
        return {p: core.read_namespaced_pod(p, ns) for p in BROKER_PODS}

    def identity(ps):
        return {n: (p.metadata.uid, tuple(c.restart_count for c in p.status.container_statuses or ()))
                for n, p in ps.items()}

    before = identity(pods())
    not_ready: list[str] = []

    def sample(check):
        def sampled():
            bc = get_cr(api_client, "BrokerCluster", ns, CLUSTER)
            if condition(bc, "Ready").get("status") != "True":
                not_ready.append(condition(bc, "Ready").get("message", ""))
            return check(bc)
        return sampled

    def on_all(n):
        return lambda bc: len(brokers := (bc.get("status") or {}).get("brokers") or ()) == 4 and all(
            b.get("registeredOn") == n for b in brokers)

    start = time.monotonic()
    patch_cr(api_client, "NameService", ns, NAME_SERVICE, {"spec": {"size": 3}})
    new_pod = f"{NAME_SERVICE}-2"
    eventually(sample(lambda bc: any(c.type == "Ready" and c.status == "True" for c in
                                     core.read_namespaced_pod(new_pod, ns).status.conditions or ())),
               timeout=120, interval=1, what=f"{new_pod} Ready")
    serving = time.monotonic()
    try:
        eventually(sample(on_all(3)), timeout=180, interval=1,
                   what="every broker registered on 3 name servers")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{_diagnostics(kubeconfig, ns)}") from None
    took, since_ready = time.monotonic() - start, time.monotonic() - serving
    FIGURES["resize 2→3: all brokers registered on 3 after the patch"] = f"{took:.1f}s"
    FIGURES["resize 2→3: ... after the new name server was Ready"] = f"{since_ready:.1f}s"
    print(f"\nname-server resize 2→3: every broker registered on 3 after {took:.1f}s "
          f"({since_ready:.1f}s after {new_pod} was Ready)")
    new_ip = core.read_namespaced_pod(new_pod, ns).status.pod_ip
    with AdminClient(f"{new_ip}:9876", connect_timeout=5, request_timeout=10) as admin:
        info = admin.cluster_info()
    addrs = {(b.name, i) for b in info.brokers_in("DefaultCluster") for i in b.addrs}
    assert addrs == {("broker-0", 0), ("broker-0", 1), ("broker-1", 0), ("broker-1", 1)}, info
    assert since_ready <= 60, f"brokers took {since_ready:.1f}s to register on the new name server"

    patch_cr(api_client, "NameService", ns, NAME_SERVICE, {"spec": {"size": 2}})
    two = {f"{NAME_SERVICE}-{i}.{NAME_SERVICE}.{ns}.svc.{CLUSTER_DOMAIN}:9876" for i in range(2)}

    def brokers_use_two(_bc):
        with AdminClient([f"{ip}:9876" for ip in _name_server_ips(api_client, ns)[:2]], connect_timeout=5,
                         request_timeout=10) as admin:
            return all(set(admin.broker_config(f"{ip}:10911").get("namesrvAddr", "").split(";")) == two
                       for ip in _broker_ips(api_client, ns))
    start = time.monotonic()
    eventually(sample(brokers_use_two), timeout=120, interval=1, what="every broker's namesrvAddr back to 2")
    eventually(sample(on_all(2)), timeout=120, interval=1,
               what="every broker registered on the 2 name servers")
    FIGURES["resize 3→2: every broker's namesrvAddr back to 2"] = f"{time.monotonic() - start:.1f}s"
    after = identity(pods())
    assert after == before, f"broker pods restarted or were replaced: before={before} after={after}"
    assert not not_ready, f"the BrokerCluster was not Ready during the resizes: {not_ready[:3]}"


def test_kubectl_rocketmq_status_and_cluster_list_show_the_observed_cluster(talk, kubeconfig):
    from tests.e2e.test_plugin import kubectl_rocketmq

    status = kubectl_rocketmq(kubeconfig, "status", CLUSTER, "-n", talk["ns"])
    print(f"\nkubectl rocketmq status {CLUSTER}\n{status.stdout}")
    FIGURES["kubectl rocketmq status"] = "\n" + status.stdout
    assert status.returncode == 0, status.stderr
    assert "4/4 registered" in status.stdout, status.stdout
    rows = [line.split() for line in status.stdout.splitlines() if line.startswith(("0 ", "1 "))]
    assert {(r[2], r[3], r[4]) for r in rows} >= {("broker-0", "0", "MASTER"), ("broker-0", "1", "SLAVE"),
                                                  ("broker-1", "0", "MASTER"),
                                                  ("broker-1", "1", "SLAVE")}, rows
    listed = kubectl_rocketmq(kubeconfig, "cluster-list", CLUSTER, "-n", talk["ns"])
    assert listed.returncode == 0, listed.stderr
    assert "broker-0" in listed.stdout and "broker-1" in listed.stdout, listed.stdout
