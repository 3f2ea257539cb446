"""Day-2 operations on real pods under a continuous producer and consumer (issue "The operator speaks
RocketMQ"): a roll, a graceful scale-in (its master frozen while the operator reads what it holds: the group
stays), a scale-out, and a TopicTransfer with the operator killed mid-way.

A NameService of one and the talk's 2-master/2-slave BrokerCluster (``allowGroupScaleDown``), plus a
one-broker target cluster, all on the real node. The operator runs as its own process (``rocketmq-operator
run`` under the operator's ServiceAccount, observing RocketMQ every 5 s) so that it can be killed with -9.
Traffic is the project's LoadRun: one producer and one pull consumer from the host to the pod IPs, every
message keyed, so that "lost" means acknowledged by a broker and never received.

Figures are printed as ``FIGURE day2 ...`` lines (run with ``-s``).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
from kubernetes import client

from rocketmq_operator.resources.meta import LABEL_CLUSTER
from tests.e2e.clusters import condition, create_cr, get_cr, patch_cr, wait_ready
from tests.e2e.conftest import kubectl
from tests.e2e.realnode import ROCKETMQ_IMAGE, host_pid, placement
from tests.e2e.test_operator_process import OperatorProcess
from tests.e2e.waiting import eventually

pytestmark = [pytest.mark.realnode, pytest.mark.timeout(2400)]

NAME_SERVICE, CLUSTER, TARGET = "day2-ns", "day2", "day2-target"
TOPIC, DRAINED, MOVING = "Day2Topic", "DrainedTopic", "MovingTopic"
FIGURES: dict[str, str] = {}
BROKER_HEAP = [{"name": "HEAP_OPTS", "value": "-Xms256m -Xmx256m -Xmn128m -XX:MaxDirectMemorySize=256m"}]


def _options(env: list[dict], memory: str, *, claims: bool = False) -> dict:
    # Brokers keep their store on claims (the local cluster's default StorageClass, host directories): a
    # restarted master must come back with its commit log. An EmptyDir master comes back empty, and what
    # its consumers had not read is gone — a roll of EmptyDir brokers is not a safe roll.
    storage = {"storageMode": "StorageClass", "volumeClaimTemplate": {
        "metadata": {"name": "broker-storage"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    } if claims else {"storageMode": "EmptyDir"}
    return {"imagePullPolicy": "IfNotPresent", **storage, "env": env,
            "resources": {"requests": {"cpu": "50m", "memory": memory}}, **placement()}


def _name_service() -> dict:
    return {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "NameService",
            "metadata": {"name": NAME_SERVICE},
            "spec": {"size": 1, "nameServiceImage": ROCKETMQ_IMAGE,
                     **_options([{"name": "HEAP_OPTS", "value": "-Xms128m -Xmx128m -Xmn64m"}], "256Mi")}}


def _cluster(name: str, *, cluster_name: str, groups: int, members: int, all_master: bool = False) -> dict:
    # Two clusters on one name server need distinct broker names: the target runs allMaster (pod names), and
    # a second BrokerCluster on the same name servers would take its own name as the prefix anyway.
    return {"apiVersion": "rocketmq.huanwei.io/v1alpha1", "kind": "BrokerCluster", "metadata": {"name": name},
            "spec": {"brokerImage": ROCKETMQ_IMAGE, "nameServiceRef": {"name": NAME_SERVICE},
                     "clusterName": cluster_name, "allMaster": all_master, "replicationMode": "SYNC",
                     "groupReplica": groups, "membersPerGroup": members, "allowGroupScaleDown": True,
                     "drainTimeoutSeconds": 600, **_options(BROKER_HEAP, "512Mi", claims=True)}}


def _diagnostics(kubeconfig: str, ns: str, op: OperatorProcess | None = None) -> str:
    out = [kubectl(kubeconfig, "-n", ns, "get", "pods,sts", "-o", "wide", check=False).stdout,
           kubectl(kubeconfig, "-n", ns, "get",
                   "brokerclusters.rocketmq.huanwei.io,topictransfers.rocketmq.apache.org",
                   "-o", "yaml", check=False).stdout[-6000:],
           kubectl(kubeconfig, "-n", ns, "get", "events", "--sort-by=.lastTimestamp",
                   check=False).stdout[-3000:]]
    if op is not None:
        out.append("--- operator log\n" + op.log()[-4000:])
    return "\n".join(out)


class Operator:
    """The operator process of this module; ``kill9`` and ``restart`` are the faults under test."""

    def __init__(self, kubeconfig: str, ns: str, log_dir) -> None:
        self.kubeconfig, self.ns, self.log_dir, self.runs = kubeconfig, ns, log_dir, 0
        self.proc = self._start()

    def _start(self) -> OperatorProcess:
        self.runs += 1
        return OperatorProcess(self.kubeconfig, "--namespace", self.ns, "--no-leader-elect", "--workers", "2",
                               "--rocketmq-observe-interval", "5", identity=f"day2-{self.runs}",
                               log_dir=self.log_dir)

    def kill9(self) -> None:
        self.proc.proc.send_signal(signal.SIGKILL)
        self.proc.proc.wait(10)

    def restart(self) -> None:
        self.proc = self._start()

    def log(self) -> str:
        return self.proc.log()


@pytest.fixture(scope="module")
def day2(api_client, kubeconfig, real_nodes, operator_kubeconfig, tmp_path_factory):
    ns = f"e2e-day2-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": ns, "labels": {"e2e": "true"}}})
    op = Operator(operator_kubeconfig, ns, tmp_path_factory.mktemp("day2-operator"))
    try:
        create_cr(api_client, "NameService", ns, _name_service())
        create_cr(api_client, "BrokerCluster", ns,
                  _cluster(CLUSTER, cluster_name="DefaultCluster", groups=2, members=2))
        create_cr(api_client, "BrokerCluster", ns,
                  _cluster(TARGET, cluster_name="TargetCluster", groups=1, members=1, all_master=True))
        try:
            for kind, name in (("NameService", NAME_SERVICE), ("BrokerCluster", CLUSTER),
                               ("BrokerCluster", TARGET)):
                wait_ready(api_client, kind, ns, name, timeout=300)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{_diagnostics(kubeconfig, ns, op)}") from None
        yield {"ns": ns, "op": op, "core": core}
    finally:
        op.proc.stop()
        core.delete_namespace(ns, propagation_policy="Background")
        for key, value in FIGURES.items():
            print(f"FIGURE day2 {key}: {value}")


def _namesrv(core, ns: str) -> str:
    return f"{core.read_namespaced_pod(f'{NAME_SERVICE}-0', ns).status.pod_ip}:9876"


def _create_topic(core, ns: str, topic: str, cluster: str) -> None:
    from rocketmq_operator.rocketmq import AdminClient, TopicConfig

    with AdminClient(_namesrv(core, ns), connect_timeout=2, request_timeout=5) as admin:
        admin.create_topic(TopicConfig(topic, read_queue_nums=4, write_queue_nums=4), cluster=cluster)
        eventually(lambda: admin.topic_route(topic).queues, timeout=30, what=f"the route of {topic}")


def _load(core, ns: str, topic: str, **kw):
    from rocketmq_operator.rocketmq.load import LoadRun

    return LoadRun(_namesrv(core, ns), topic, rate=40, route_ttl=2.0, drain_timeout=120,
                   start_from="earliest", **kw).start()


def _report(name: str, report) -> None:
    FIGURES[f"{name}: sent/received/lost/send errors"] = (
        f"{report.sent_ok}/{report.received}/{report.lost}/{report.send_errors}, longest send gap "
        f"{report.max_send_gap_s:.1f}s, {len(report.error_windows)} error window(s)")
    print(f"\n{name}: {report.to_json()}")


class DownSampler:
    """Samples every second how many broker pods of ``cluster`` are not Ready (per group and in total)."""

    def __init__(self, core, ns: str, cluster: str) -> None:
        self.core, self.ns, self.cluster = core, ns, cluster
        self.samples: list[tuple[float, tuple[str, ...]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._start = time.monotonic()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                pods = self.core.list_namespaced_pod(self.ns,
                                                     label_selector=f"{LABEL_CLUSTER}={self.cluster}").items
            except Exception:  # noqa: BLE001, S112 - a sample lost, not a failure
                continue
            down = tuple(sorted(p.metadata.name for p in pods if not any(
                c.type == "Ready" and c.status == "True" for c in p.status.conditions or ())))
            self.samples.append((time.monotonic() - self._start, down))

    def stop(self) -> list[tuple[float, tuple[str, ...]]]:
        self._stop.set()
        self._thread.join(5)
        return self.samples


def _revisions(api_client, ns: str) -> dict[int, str]:
    apps = client.AppsV1Api(api_client)
    return {g: apps.read_namespaced_stateful_set(f"{CLUSTER}-{g}", ns).status.update_revision for g in (0, 1)}


def _rolled(api_client, ns: str, before: dict[int, str]) -> bool:
    """Every group runs a revision newer than ``before``, all pods updated and Ready, no roll in status."""
    apps = client.AppsV1Api(api_client)
    for g in (0, 1):
        sts = apps.read_namespaced_stateful_set(f"{CLUSTER}-{g}", ns)
        st = sts.status
        if st.update_revision == before[g]:  # the operator has not written the new template yet
            return False
        if sts.metadata.generation != st.observed_generation or st.update_revision != st.current_revision:
            return False
        if (st.updated_replicas or 0) != 2 or (st.ready_replicas or 0) != 2:
            return False
    bc = get_cr(api_client, "BrokerCluster", ns, CLUSTER)
    return not bc["status"].get("roll") and condition(bc, "Ready").get("status") == "True"


def test_a_properties_change_rolls_one_broker_at_a_time_under_load_and_loses_nothing(
        day2, api_client, kubeconfig):
    ns, core = day2["ns"], day2["core"]
    _create_topic(core, ns, TOPIC, "DefaultCluster")
    run = _load(core, ns, TOPIC)
    time.sleep(5)  # traffic flowing before the roll starts
    before = _revisions(api_client, ns)
    sampler = DownSampler(core, ns, CLUSTER)
    start = time.monotonic()
    patch_cr(api_client, "BrokerCluster", ns, CLUSTER,
             {"spec": {"properties": {"maxMessageSize": "4194304"}}})
    try:
        eventually(lambda: _rolled(api_client, ns, before), timeout=1200, interval=2,
                   what="the whole cluster to roll")
    except AssertionError as e:
        sampler.stop()
        run.stop()
        raise AssertionError(f"{e}\n{_diagnostics(kubeconfig, ns, day2['op'])}") from None
    took = time.monotonic() - start
    samples = sampler.stop()
    time.sleep(5)
    report = run.stop()
    _report("roll", report)
    FIGURES["roll: whole cluster (4 brokers)"] = f"{took:.1f}s, {took / 4:.1f}s per broker"
    most = max((len(d) for _, d in samples), default=0)
    FIGURES["roll: most brokers down at once"] = str(most)
    went_down = sorted({p for _, d in samples for p in d})
    # every broker rolled
    assert went_down == [f"{CLUSTER}-{g}-{m}" for g in (0, 1) for m in (0, 1)], went_down
    assert most <= 1, [s for s in samples if len(s[1]) > 1][:5]
    assert report.lost == 0, report.lost_keys
    assert report.drained, report.to_json()
    assert report.sent_ok > 0 and report.received >= report.sent_ok


def _sts_exists(api_client, ns: str, name: str) -> bool:
    try:
        client.AppsV1Api(api_client).read_namespaced_stateful_set(name, ns)
        return True
    except client.ApiException as e:
        if e.status == 404:
            return False
        raise


def test_a_group_with_unconsumed_messages_is_deleted_only_once_they_are_consumed(
        day2, api_client, kubeconfig):
    from rocketmq_operator.rocketmq import Message, Producer, PullConsumer

    ns, core = day2["ns"], day2["core"]
    group = f"drain-readers-{uuid.uuid4().hex[:6]}"
    namesrv = _namesrv(core, ns)
    _create_topic(core, ns, DRAINED, "DefaultCluster")  # only this test's group reads it

    def send(prefix: str, n: int) -> list[str]:
        with Producer(namesrv, group="drain-producer") as producer:
            for i in range(n):
                producer.send(Message(DRAINED, b"to drain", keys=(f"{prefix}-{i}",)))
        return [f"{prefix}-{i}" for i in range(n)]

    warm = set(send("warm", 40))  # every queue gets some: the group reads them and commits offsets everywhere
    with PullConsumer(namesrv, group=group, topic=DRAINED) as consumer:
        seen: set[str] = set()

        def warm_read():
            seen.update(k for m in consumer.poll() for k in m.keys)
            return warm <= seen
        eventually(warm_read, timeout=60, interval=0.1, what="the warm-up messages read")
        consumer.commit()
    keys = send("drain", 200)  # unconsumed: lag on both groups' queues
    start = time.monotonic()
    patch_cr(api_client, "BrokerCluster", ns, CLUSTER, {"spec": {"groupReplica": 1}})
    eventually(lambda: "draining" in condition(get_cr(api_client, "BrokerCluster", ns, CLUSTER), "Ready")
               .get("message", "")
               or (get_cr(api_client, "BrokerCluster", ns, CLUSTER)["status"].get("drain")),
               timeout=60, interval=1, what="the drain of group 1 to start")
    time.sleep(20)  # several observations and syncs: the group must still be there
    assert _sts_exists(api_client, ns, f"{CLUSTER}-1"), "group 1 was deleted with unconsumed messages"
    bc = get_cr(api_client, "BrokerCluster", ns, CLUSTER)
    messages = " | ".join(c.get("message", "") for c in bc["status"].get("conditions") or ())
    assert group in messages, messages  # the status names the consumer group the drain waits for
    _freeze_while_the_drain_reads(api_client, core, ns)
    received: set[str] = set()
    with PullConsumer(namesrv, group=group, topic=DRAINED) as consumer:
        def all_read():
            received.update(k for m in consumer.poll() for k in m.keys)
            consumer.commit()
            return set(keys) <= received
        eventually(all_read, timeout=120, interval=0.2, what="the drain consumer to read every message")
    consumed_at = time.monotonic()
    try:
        eventually(lambda: not _sts_exists(api_client, ns, f"{CLUSTER}-1"), timeout=180, interval=1,
                   what="group 1 deleted once consumed")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{_diagnostics(kubeconfig, ns, day2['op'])}") from None
    FIGURES["scale-in: drain (patch to group deleted)"] = f"{time.monotonic() - start:.1f}s"
    FIGURES["scale-in: consumed to group deleted"] = f"{time.monotonic() - consumed_at:.1f}s"
    wait_ready(api_client, "BrokerCluster", ns, CLUSTER, timeout=120)


def _freeze_while_the_drain_reads(api_client, core, ns: str) -> None:
    """The drained group's master frozen (SIGSTOP from the host: its port accepts, it answers nothing) for
    less than its liveness probe allows: the operator's reads of its holdings time out, the Draining condition
    says what it holds is not known, and the group stays; then it thaws."""
    pid = host_pid(core.read_namespaced_pod(f"{CLUSTER}-1-0", ns), "BrokerStartup")
    os.kill(pid, signal.SIGSTOP)
    frozen = time.monotonic()
    try:
        def unknown():
            bc = get_cr(api_client, "BrokerCluster", ns, CLUSTER)
            return next((c["message"] for c in bc["status"].get("conditions") or ()
                         if "is not known" in c.get("message", "")), None)
        message = eventually(unknown, timeout=25, interval=0.5,
                             what="the drain to say the holdings are not known")
        assert _sts_exists(api_client, ns, f"{CLUSTER}-1"), (
            "group 1 was deleted while its master did not answer")
        FIGURES["scale-in: frozen master to holdings unknown"] = (
            f"{time.monotonic() - frozen:.1f}s ({message[:120]})")
    finally:
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGCONT)
    assert _sts_exists(api_client, ns, f"{CLUSTER}-1")


def test_scale_out_gives_a_new_group_the_topics_of_group_0(day2, api_client, kubeconfig):
    from rocketmq_operator.rocketmq import AdminClient

    # Group 1 comes back on the claims the scale-in kept (its old store); group 2 is new, with empty claims:
    # it has the topic only if the operator copied group 0's metadata to it.
    ns, core = day2["ns"], day2["core"]
    start = time.monotonic()
    patch_cr(api_client, "BrokerCluster", ns, CLUSTER, {"spec": {"groupReplica": 3}})
    try:
        wait_ready(api_client, "BrokerCluster", ns, CLUSTER, timeout=420)
        bc = eventually(lambda: {1, 2} <= set(
            ((b := get_cr(api_client, "BrokerCluster", ns, CLUSTER))["status"].get("scaleOut") or {})
            .get("copiedGroups", ())) and b, timeout=120, interval=1,
            what="groups 1 and 2 given group 0's metadata")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{_diagnostics(kubeconfig, ns, day2['op'])}") from None
    FIGURES["scale-out 1→3: patch to new groups Ready with metadata"] = f"{time.monotonic() - start:.1f}s"
    master = next(b["address"] for b in bc["status"]["brokers"]
                  if b["brokerName"] == "broker-2" and b["brokerId"] == 0)
    with AdminClient(_namesrv(core, ns), connect_timeout=2, request_timeout=5) as admin:
        topics = admin.topic_configs(master)
    assert TOPIC in topics, sorted(topics)


def test_a_topictransfer_under_load_survives_kill_9_of_the_operator_and_loses_nothing(
        day2, api_client, kubeconfig):
    from rocketmq_operator.rocketmq import AdminClient

    ns, core, op = day2["ns"], day2["core"], day2["op"]
    _create_topic(core, ns, MOVING, "DefaultCluster")
    run = _load(core, ns, MOVING)
    time.sleep(5)
    start = time.monotonic()
    create_cr(api_client, "TopicTransfer", ns, {
        "apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "TopicTransfer", "metadata": {"name": "move"},
        "spec": {"topic": MOVING, "sourceCluster": CLUSTER, "targetCluster": TARGET,
                 "drainTimeoutSeconds": 300}})
    phases: list[str] = []

    def phase():
        p = (get_cr(api_client, "TopicTransfer", ns, "move").get("status") or {}).get("phase", "")
        if not phases or phases[-1] != p:
            phases.append(p)
        return p
    try:
        killed_in = eventually(lambda: (p := phase()) not in ("", "Pending") and p, timeout=120, interval=0.1,
                               what="the transfer to start")
        op.kill9()
        time.sleep(3)
        op.restart()
        eventually(lambda: phase() in ("Done", "RolledBack", "Failed"), timeout=420, interval=0.5,
                   what="the transfer to finish")
    except AssertionError as e:
        run.stop()
        raise AssertionError(f"{e}\nphases={phases}\n{_diagnostics(kubeconfig, ns, op)}") from None
    took = time.monotonic() - start
    time.sleep(5)  # traffic on the target only
    report = run.stop()
    _report("topictransfer", report)
    FIGURES["topictransfer: phases"] = " → ".join(phases) + f" (operator killed -9 in {killed_in})"
    FIGURES["topictransfer: created to Done"] = f"{took:.1f}s"
    assert phases[-1] == "Done", phases
    assert report.lost == 0, report.lost_keys
    assert report.drained, report.to_json()
    with AdminClient(_namesrv(core, ns), connect_timeout=2, request_timeout=5) as admin:
        route = admin.topic_route(MOVING)
        info = admin.cluster_info()
    clusters = {info.brokers[q.broker_name].cluster for q in route.queues if q.broker_name in info.brokers}
    assert clusters == {"TargetCluster"}, route
