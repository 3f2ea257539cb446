"""Classic DLedger on real pods (marker ``realnode``): seed 000 §6.1's three-member DLedger group elects a
leader, status shows the leader and its followers as RocketMQ reports them, and killing the leader's pod
(force delete: SIGKILL) gives a new leader within a measured time under a continuous producer/consumer, with
no acknowledged message lost; the old leader's pod rejoins as a follower. Figures print as ``FIGURE`` lines.
"""

from __future__ import annotations

import time
import uuid

import pytest
from kubernetes import client

from tests.e2e.clusters import create_cr, get_cr, wait_ready
from tests.e2e.conftest import kubectl
from tests.e2e.realnode import ROCKETMQ_IMAGE, placement
from tests.e2e.waiting import eventually

pytestmark = [pytest.mark.realnode, pytest.mark.timeout(1200)]

NAME_SERVICE, BROKER, CLUSTER, TOPIC = "dl-ns", "dl", "DledgerCluster", "DledgerTopic"
HEAP = "-Xms256m -Xmx256m -Xmn128m -XX:MaxDirectMemorySize=256m"


def _resources(ns: str) -> list[tuple[str, dict]]:
    pod = {"imagePullPolicy": "IfNotPresent", "storageMode": "EmptyDir", **placement()}
    return [
        ("NameService", {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "NameService",
                         "metadata": {"name": NAME_SERVICE, "namespace": ns},
                         "spec": {"size": 1, "nameServiceImage": ROCKETMQ_IMAGE,
                                  "env": [{"name": "HEAP_OPTS", "value": "-Xms128m -Xmx128m -Xmn64m"}],
                                  "resources": {"requests": {"cpu": "50m", "memory": "256Mi"}}, **pod}}),
        ("Broker", {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "Broker",
                    "metadata": {"name": BROKER, "namespace": ns},
                    "spec": {"size": 1, "replicaPerGroup": 3, "replicationMode": "DLEDGER",
                             "nameServiceRef": {"name": NAME_SERVICE}, "brokerImage": ROCKETMQ_IMAGE,
                             "properties": {"brokerClusterName": CLUSTER},
                             "env": [{"name": "HEAP_OPTS", "value": HEAP}],
                             "resources": {"requests": {"cpu": "50m", "memory": "512Mi"}}, **pod}}),
    ]


@pytest.fixture(scope="module")
def dledger(api_client, kubeconfig, operator_kubeconfig, real_nodes):
    from rocketmq_operator.kube import connect
    from rocketmq_operator.manager import Operator

    ns = f"e2e-dledger-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": ns, "labels": {"e2e": "true"}}})
    op = Operator(connect(operator_kubeconfig), namespaces=[ns], workers=2, resync_period=300,
                  identity="e2e-realnode-dledger", observe_interval=5)
    op.start()
    try:
        for kind, body in _resources(ns):
            create_cr(api_client, kind, ns, body)
        started = time.monotonic()
        try:
            wait_ready(api_client, "Broker", ns, BROKER, timeout=300)
        except AssertionError as e:
            pods = kubectl(kubeconfig, "-n", ns, "get", "pods", "-o", "wide", check=False).stdout
            raise AssertionError(f"{e}\n{pods}") from None
        print(f"\nFIGURE DLedger group Ready: {time.monotonic() - started:.1f}s")
        yield ns
    finally:
        op.shutdown()
        core.delete_namespace(ns, propagation_policy="Background")


def _roles(api_client, ns: str) -> dict[str, str]:
    status = get_cr(api_client, "Broker", ns, BROKER).get("status") or {}
    return {b["name"]: b.get("role", "") for b in status.get("brokers") or ()}


def _leader(api_client, ns: str) -> str | None:
    leaders = [pod for pod, role in _roles(api_client, ns).items() if role == "LEADER"]
    return leaders[0] if len(leaders) == 1 else None


def test_the_dledger_group_elects_one_leader_and_status_shows_its_followers(dledger, api_client):
    roles = eventually(lambda: (r := _roles(api_client, dledger))
                       and sorted(r.values()) == ["FOLLOWER", "FOLLOWER", "LEADER"] and r,
                       timeout=120, interval=1, what="one LEADER and two FOLLOWERs in status")
    assert sorted(roles) == [f"{BROKER}-0-{m}" for m in range(3)]


def test_killing_the_leaders_pod_elects_a_new_leader_without_losing_a_message(
        dledger, api_client, kubeconfig):
    from rocketmq_operator.rocketmq import AdminClient, LoadRun, TopicConfig

    ns_ip = client.CoreV1Api(api_client).read_namespaced_pod(f"{NAME_SERVICE}-0", dledger).status.pod_ip
    namesrv = f"{ns_ip}:9876"
    with AdminClient(namesrv, connect_timeout=2.0, request_timeout=5.0) as admin:
        eventually(lambda: admin.create_topic(TopicConfig(TOPIC, read_queue_nums=4, write_queue_nums=4),
                                              cluster=CLUSTER), timeout=60, what=f"topic {TOPIC} created")
    old = eventually(lambda: _leader(api_client, dledger), timeout=60, what="the leader")
    run = LoadRun(namesrv, TOPIC, rate=50, route_ttl=2.0, drain_timeout=120).start()
    try:
        time.sleep(10)
        killed = time.monotonic()
        kubectl(kubeconfig, "-n", dledger, "delete", "pod", old, "--grace-period=0", "--force")

        def new_master() -> bool:
            with AdminClient(namesrv, connect_timeout=1.0, request_timeout=3.0) as admin:
                broker = admin.cluster_info().brokers.get(f"{BROKER}-0")  # <Broker name>-<g>
            return bool(broker and broker.master_addr)
        eventually(lambda: _leader(api_client, dledger) not in (None, old) or None, timeout=90, interval=0.5,
                   what="status to name a new leader")
        eventually(new_master, timeout=60, interval=0.2, what=f"a master registered for {BROKER}-0")
        took = time.monotonic() - killed
        time.sleep(10)
    finally:
        report = run.stop()
    print(f"\nFIGURE DLedger kill -9 leader: new leader in {took:.1f}s; longest write pause "
          f"{report.max_send_gap_s:.2f}s; sent {report.sent_ok}, received {report.received}, "
          f"lost {report.lost}, send errors {report.send_errors}")
    assert report.lost == 0, report.lost_keys
    eventually(lambda: _roles(api_client, dledger).get(old) == "FOLLOWER", timeout=300, interval=2,
               what=f"{old} to rejoin as a follower")
