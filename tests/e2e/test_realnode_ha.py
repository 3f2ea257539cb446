"""RocketMQ 5 high availability on real pods (marker ``realnode``): Controller mode and the Proxy.

A NameService of one, a Controller of three, a Broker of one group of three members in clusterMode
CONTROLLER, and a Proxy of two, all RocketMQ 5.3.3 on the real nodes; an operator of this module's own
OBSERVES RocketMQ (``observe_interval=5``), so status shows the controllers' leader and each group's elected
master. Then, under a continuous producer/consumer (the project's LoadRun, from the host to pod IPs):

- kill -9 the master pod (force delete: the kubelet SIGKILLs it) → the controllers elect an in-sync slave;
  the time to a new master is printed (the issue aims under 15 s); no acknowledged message is lost; the old
  master's pod comes back as a slave;
- a template change (a pod annotation) rolls the brokers: slaves first, mastership handed to an updated
  slave (ELECT_MASTER) before the master restarts; the longest write pause is printed; nothing lost;
- a client sends and receives through the Proxy's Service; a NameService resize rolls the proxies one at a
  time and reaches their configuration.

Figures are printed as ``FIGURE ...`` lines (run with ``-s``).
"""

from __future__ import annotations

import time
import uuid

import pytest
from kubernetes import client

from tests.e2e.clusters import condition, create_cr, get_cr, patch_cr, wait_ready
from tests.e2e.conftest import kubectl
from tests.e2e.realnode import ROCKETMQ_IMAGE, placement
from tests.e2e.waiting import eventually

pytestmark = [pytest.mark.realnode, pytest.mark.timeout(1800)]

NAME_SERVICE, CONTROLLER, BROKER, PROXY = "ha-ns", "ha-controller", "ha", "ha-proxy"
CLUSTER, GROUP, TOPIC = "HaCluster", f"{BROKER}-0", "HaTopic"  # an Apache Broker's group 0: <name>-0
BROKER_PODS = [f"{BROKER}-0-{m}" for m in range(3)]
SMALL_HEAP = [{"name": "HEAP_OPTS", "value": "-Xms128m -Xmx128m -Xmn64m"}]
BROKER_HEAP = [{"name": "HEAP_OPTS", "value": "-Xms256m -Xmx256m -Xmn128m -XX:MaxDirectMemorySize=256m"}]
FIGURES: dict[str, str] = {}


def _pod_options(env: list[dict], memory: str) -> dict:
    return {"imagePullPolicy": "IfNotPresent", "env": env,
            "resources": {"requests": {"cpu": "50m", "memory": memory}}, **placement()}


def _resources(ns: str) -> list[tuple[str, dict]]:
    def meta(name: str) -> dict:
        return {"name": name, "namespace": ns}
    return [
        ("NameService", {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "NameService",
                         "metadata": meta(NAME_SERVICE),
                         "spec": {"size": 1, "nameServiceImage": ROCKETMQ_IMAGE, "storageMode": "EmptyDir",
                                  **_pod_options(SMALL_HEAP, "256Mi")}}),
        ("Controller", {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "Controller",
                        "metadata": meta(CONTROLLER),
                        "spec": {"size": 3, "controllerImage": ROCKETMQ_IMAGE, "storageMode": "EmptyDir",
                                 **_pod_options(SMALL_HEAP, "256Mi")}}),
        ("Broker", {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "Broker", "metadata": meta(BROKER),
                    "spec": {"size": 1, "replicaPerGroup": 2, "clusterMode": "CONTROLLER",
                             "controllerRef": {"name": CONTROLLER}, "nameServiceRef": {"name": NAME_SERVICE},
                             "brokerImage": ROCKETMQ_IMAGE, "storageMode": "EmptyDir",
                             "properties": {"brokerClusterName": CLUSTER},
                             **_pod_options(BROKER_HEAP, "512Mi")}}),
        ("Proxy", {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "Proxy", "metadata": meta(PROXY),
                   "spec": {"size": 2, "proxyImage": ROCKETMQ_IMAGE, "clusterName": CLUSTER,
                            "nameServiceRef": {"name": NAME_SERVICE}, **_pod_options(BROKER_HEAP, "512Mi")}}),
    ]


def _diagnostics(kubeconfig: str, ns: str) -> str:
    out = [kubectl(kubeconfig, "-n", ns, "get", "pods", "-o", "wide", check=False).stdout]
    pods = [*BROKER_PODS, f"{NAME_SERVICE}-0", *(f"{CONTROLLER}-{i}" for i in range(3))]
    for pod in pods:
        logs = kubectl(kubeconfig, "-n", ns, "logs", pod, "--all-containers", "--tail=30", check=False)
        out.append(f"--- logs {pod}\n{(logs.stdout + logs.stderr)[-2000:]}")
    for plural in ("brokers", "controllers", "proxies"):
        out.append(kubectl(kubeconfig, "-n", ns, "get", f"{plural}.rocketmq.apache.org", "-o", "yaml",
                           check=False).stdout[-4000:])
    return "\n".join(out)


@pytest.fixture(scope="module")
def ha_ns(api_client, real_nodes):
    name = f"e2e-ha-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name, "labels": {"e2e": "true"}}})
    yield name
    core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture(scope="module")
def observing_operator(operator_kubeconfig, ha_ns):
    from rocketmq_operator.kube import connect
    from rocketmq_operator.manager import Operator

    op = Operator(connect(operator_kubeconfig), namespaces=[ha_ns], workers=2, resync_period=300,
                  identity="e2e-realnode-ha", observe_interval=5)
    op.start()
    assert op.synced.is_set(), "the operator's caches did not sync"
    yield op
    op.shutdown()


@pytest.fixture(scope="module")
def ha(api_client, kubeconfig, ha_ns, observing_operator):
    start = time.monotonic()
    for kind, body in _resources(ha_ns):
        create_cr(api_client, kind, ha_ns, body)
    try:
        for kind, name in (("NameService", NAME_SERVICE), ("Controller", CONTROLLER), ("Broker", BROKER)):
            wait_ready(api_client, kind, ha_ns, name, timeout=300)
            FIGURES[f"{kind} Ready"] = f"{time.monotonic() - start:.1f}s"
        eventually(lambda: _masters(api_client, ha_ns).get(GROUP), timeout=120, interval=1,
                   what="status.controllerMasters to name the master")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{_diagnostics(kubeconfig, ha_ns)}") from None
    _create_topic(api_client, ha_ns)
    yield ha_ns
    for key, value in FIGURES.items():
        print(f"FIGURE {key}: {value}")


def _pod_ip(api_client, ns: str, name: str) -> str:
    ip = client.CoreV1Api(api_client).read_namespaced_pod(name, ns).status.pod_ip
    assert ip, f"{name} has no IP"
    return ip


def _namesrv(api_client, ns: str) -> str:
    return f"{_pod_ip(api_client, ns, f'{NAME_SERVICE}-0')}:9876"


def _controllers(api_client, ns: str) -> list[str]:
    return [f"{_pod_ip(api_client, ns, f'{CONTROLLER}-{i}')}:9878" for i in range(3)]


def _masters(api_client, ns: str) -> dict[str, str]:
    return (get_cr(api_client, "Broker", ns, BROKER).get("status") or {}).get("controllerMasters") or {}


def _replica_group(api_client, ns: str):
    """The group as the controllers' leader reports it right now (read from the host)."""
    from rocketmq_operator.rocketmq import AdminClient
    from rocketmq_operator.rocketmq.controlleradmin import find_leader, sync_state_data

    with AdminClient(connect_timeout=1.0, request_timeout=3.0) as admin:
        leader, _ = find_leader(admin, _controllers(api_client, ns))
        return sync_state_data(admin, leader, [GROUP]).get(GROUP) if leader else None


def _create_topic(api_client, ns: str) -> None:
    from rocketmq_operator.rocketmq import AdminClient, TopicConfig

    with AdminClient(_namesrv(api_client, ns), connect_timeout=2.0, request_timeout=5.0) as admin:
        eventually(lambda: admin.create_topic(TopicConfig(TOPIC, read_queue_nums=4, write_queue_nums=4),
                                              cluster=CLUSTER), timeout=60, what=f"topic {TOPIC} created")


def _load(api_client, ns: str):
    from rocketmq_operator.rocketmq import LoadRun

    return LoadRun(_namesrv(api_client, ns), TOPIC, rate=50, route_ttl=2.0, drain_timeout=120).start()


def _figure(name: str, report, **extra: str) -> None:
    FIGURES[name] = ", ".join([*(f"{k} {v}" for k, v in extra.items()),
                               f"longest write pause {report.max_send_gap_s:.2f}s", f"sent {report.sent_ok}",
                               f"received {report.received}", f"lost {report.lost}",
                               f"send errors {report.send_errors}"])
    print(f"\nFIGURE {name}: {FIGURES[name]}")


def test_the_controllers_elect_a_leader_and_status_names_it(ha, api_client):
    controller = get_cr(api_client, "Controller", ha, CONTROLLER)
    assert condition(controller, "LeaderElected").get("status") == "True", controller["status"]
    assert controller["status"]["leader"] in [f"{CONTROLLER}-{i}" for i in range(3)]
    assert {m["role"] for m in controller["status"]["members"]} == {"LEADER", "FOLLOWER"}


def test_the_group_has_one_master_the_controller_elected_and_two_in_sync_slaves(ha, api_client):
    broker = get_cr(api_client, "Broker", ha, BROKER)
    roles = sorted(b.get("role") for b in broker["status"]["brokers"])
    assert roles == ["MASTER", "SLAVE", "SLAVE"], broker["status"]
    group = eventually(lambda: (g := _replica_group(api_client, ha)) and len(g.in_sync_slaves) == 2 and g,
                       timeout=120, interval=1, what="two in-sync slaves on the controller")
    master_pod = _masters(api_client, ha)[GROUP]
    assert group.master_addr == f"{_pod_ip(api_client, ha, master_pod)}:10911"


def test_kill_9_of_the_master_pod_makes_an_in_sync_slave_master_without_losing_a_message(
        ha, api_client, kubeconfig):
    old = _masters(api_client, ha)[GROUP]
    old_addr = f"{_pod_ip(api_client, ha, old)}:10911"
    run = _load(api_client, ha)
    try:
        time.sleep(10)
        killed = time.monotonic()
        kubectl(kubeconfig, "-n", ha, "delete", "pod", old, "--grace-period=0", "--force")
        group = eventually(lambda: (g := _replica_group(api_client, ha))
                           and g.master_addr not in (None, old_addr) and g,
                           timeout=60, interval=0.2, what="the controllers to elect a new master")
        elected = time.monotonic() - killed
        eventually(lambda: _masters(api_client, ha).get(GROUP) not in (None, old), timeout=60, interval=1,
                   what="status.controllerMasters to name the new master")
        time.sleep(10)
    finally:
        report = run.stop()
    _figure("kill -9 master", report, **{"new master elected in": f"{elected:.1f}s (aim < 15 s)"})
    assert group.replica(group.master_id).in_sync
    assert report.lost == 0, report.lost_keys

    def rejoined() -> bool:
        entry = next(b for b in get_cr(api_client, "Broker", ha, BROKER)["status"]["brokers"]
                     if b["name"] == old)
        return entry.get("role") == "SLAVE" and bool(entry.get("ready"))
    eventually(rejoined, timeout=240, interval=2, what=f"{old} to come back as a slave")


def test_a_roll_in_controller_mode_hands_mastership_over_and_loses_nothing(ha, api_client, kubeconfig):
    before = _masters(api_client, ha)[GROUP]
    run = _load(api_client, ha)
    started = time.monotonic()
    try:
        time.sleep(5)
        patch_cr(api_client, "Broker", ha, BROKER,
                 {"spec": {"podAnnotations": {"e2e/roll": uuid.uuid4().hex[:8]}}})
        apps = client.AppsV1Api(api_client)

        def rolled():
            sts = apps.read_namespaced_stateful_set(f"{BROKER}-0", ha)
            status = sts.status
            return (status.observed_generation >= sts.metadata.generation and status.updated_replicas == 3
                    and status.ready_replicas == 3 and status.update_revision == status.current_revision)
        eventually(rolled, timeout=900, interval=2, what="the broker group to roll")
        wait_ready(api_client, "Broker", ha, BROKER, timeout=300)
        took = time.monotonic() - started
        time.sleep(5)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{_diagnostics(kubeconfig, ha)}") from None
    finally:
        report = run.stop()
    after = _masters(api_client, ha).get(GROUP)
    _figure("roll in controller mode", report,
            **{"roll took": f"{took:.0f}s", "master": f"{before} -> {after}"})
    assert report.lost == 0, report.lost_keys
    assert after is not None


def test_a_client_goes_through_the_proxy_service_and_a_name_service_resize_reaches_the_proxies(
        ha, api_client):
    from rocketmq_operator.rocketmq import LoadRun

    wait_ready(api_client, "Proxy", ha, PROXY, timeout=300)
    service_ip = client.CoreV1Api(api_client).read_namespaced_service(PROXY, ha).spec.cluster_ip
    run = LoadRun(f"{service_ip}:8080", TOPIC, rate=20, route_ttl=2.0, drain_timeout=120).start()
    try:
        time.sleep(10)
        started = time.monotonic()
        patch_cr(api_client, "NameService", ha, NAME_SERVICE, {"spec": {"size": 2}})
        second = f"{NAME_SERVICE}-1.{NAME_SERVICE}.{ha}.svc"
        eventually(lambda: second in get_cr(api_client, "Proxy", ha, PROXY)["status"]["nameServers"],
                   timeout=60,
                   what="the Proxy to take the second name server")
        proxy = wait_ready(api_client, "Proxy", ha, PROXY, timeout=600)
        took = time.monotonic() - started
        time.sleep(10)
    finally:
        report = run.stop()
    _figure("proxy under a name-service resize", report, **{"proxies rolled in": f"{took:.0f}s"})
    assert proxy["status"]["updatedReplicas"] == 2
    assert report.sent_ok > 0 and report.received > 0
    assert report.lost == 0, report.lost_keys
