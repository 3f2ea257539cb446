"""Covers a whole TopicTransfer on real RocketMQ: the session's cluster (a master and its slave) is the
source, one more broker in a second cluster on the same name server is the target. The TopicTransfer
reconciler runs as production wires it, over in-memory listers and a recording API, with a real AdminClient; a
producer and a pull consumer run throughout. The topic must end on the target only with its subscription and
retry groups there, and the consumer must receive every message that was sent. A transfer deleted while
Fencing, after the source was made read-only, must leave the source writable again (as the name server routes
it) before its finalizer goes."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import pytest

from rocketmq_operator.clock import REAL_CLOCK
from rocketmq_operator.controllers import registry
from rocketmq_operator.controllers.runtime.runner import Key
from rocketmq_operator.kube import NAME_SERVICES, TOPIC_TRANSFERS
from rocketmq_operator.rocketmq import AdminClient, RemotingError, ResponseError, TopicConfig
from rocketmq_operator.rocketmq.consumer import PullConsumer
from rocketmq_operator.rocketmq.message import Message
from rocketmq_operator.rocketmq.producer import Producer
from tests.rocketmq.rmq_servers import RocketMQ, start_broker, stop_all, wait_until
from tests.unit.controllers.fakes import Cluster

pytestmark = [pytest.mark.rocketmq, pytest.mark.timeout(600)]

TARGET_CLUSTER, TARGET_BROKER = "TargetCluster", "broker-t"


@pytest.fixture(scope="module")
def target_broker(rocketmq: RocketMQ, rocketmq_jars, tmp_path_factory):
    proc, addr = start_broker(rocketmq_jars, tmp_path_factory.mktemp("target") / "broker",
                              namesrv=rocketmq.namesrv,
                              cluster=TARGET_CLUSTER, name=TARGET_BROKER, broker_id=0)
    try:
        proc.wait_booted()
        with AdminClient(rocketmq.namesrv) as admin:
            wait_until(lambda: TARGET_CLUSTER in admin.cluster_info().clusters, timeout=60,
                       what="the target broker registered")
        yield addr
    finally:
        stop_all([proc])


@dataclass
class Traffic:
    """A producer and a consumer on one topic, in threads, counting by message key."""

    namesrv: str
    topic: str
    group: str
    sent: set[str] = field(default_factory=set)
    received: set[str] = field(default_factory=set)
    send_errors: int = 0
    stop_sending: threading.Event = field(default_factory=threading.Event)
    stop_consuming: threading.Event = field(default_factory=threading.Event)

    def produce(self, count: int | None = None) -> None:
        with Producer(self.namesrv, route_ttl=1.0, auto_create_topic=False) as producer:
            index = len(self.sent) + self.send_errors
            while not self.stop_sending.is_set() and (count is None or count > 0):
                key = f"k-{index}"
                try:
                    producer.send(Message(self.topic, key.encode(), keys=(key,)))
                    self.sent.add(key)
                except RemotingError:
                    self.send_errors += 1
                index += 1
                if count is not None:
                    count -= 1
                else:
                    time.sleep(0.01)

    def consume(self, *, rounds: int | None = None, pause: float = 0.05) -> None:
        with PullConsumer(self.namesrv, group=self.group, topic=self.topic, route_ttl=1.0,
                          route_min_interval=0.2, batch_size=8) as consumer:
            while not self.stop_consuming.is_set() and (rounds is None or rounds > 0):
                self.received |= {m.keys[0] for m in consumer.poll() if m.keys}
                consumer.commit()
                rounds = None if rounds is None else rounds - 1
                time.sleep(pause)


def drive(new_reconciler, cluster: Cluster, *, timeout: float) -> list[tuple[str, float]]:
    """Sync until Done (the test waits between syncs as the work queue would); phases with their start.

    Every sync is made by a new reconciler, as if the operator restarted before each: all a transfer
    remembers is in its status."""
    started, phases = time.monotonic(), []
    while time.monotonic() - started < timeout:
        result = new_reconciler().sync(Key("default", "move"))
        cluster.catch_up()
        status = cluster.get(TOPIC_TRANSFERS, "default", "move").get("status") or {}
        if not phases or phases[-1][0] != status.get("phase"):
            phases.append((status.get("phase"), time.monotonic() - started))
        if status.get("phase") in ("Done", "RolledBack"):
            return phases
        time.sleep(min(result.requeue_after if result and result.requeue_after else 1.0, 1.0))
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    pytest.fail(f"no end within {timeout}s: {phases}, Ready: {ready}")


def _transfer_world(rocketmq, topic: str, **spec) -> Cluster:
    """Listers holding a NameService on the session's name server and a TopicTransfer ``move`` of ``topic``
    from its cluster to TARGET_CLUSTER."""
    cluster = Cluster()
    cluster.seed(NAME_SERVICES, {"metadata": {"name": "ns", "namespace": "default"},
                                 "status": {"nameServers": [rocketmq.namesrv]}})
    cluster.seed(TOPIC_TRANSFERS, {
        "apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "TopicTransfer",
        "metadata": {"name": "move", "namespace": "default", "generation": 1},
        "spec": {"topic": topic, "sourceCluster": rocketmq.cluster, "targetCluster": TARGET_CLUSTER, **spec}})
    return cluster


def test_a_topic_moves_to_the_other_cluster_under_load_and_consumers_lose_nothing(rocketmq, target_broker,
                                                                                  capsys):
    topic, group = f"moving_{uuid.uuid4().hex[:6]}", f"readers_{uuid.uuid4().hex[:6]}"
    with AdminClient(rocketmq.namesrv) as admin:
        admin.create_topic(TopicConfig(topic, read_queue_nums=2, write_queue_nums=2),
                           cluster=rocketmq.cluster)
        admin.create_subscription_group(rocketmq.master, {"groupName": group, "retryMaxTimes": 5})
        wait_until(lambda: admin.topic_route(topic).queues, timeout=30, what="the topic's route")
    traffic = Traffic(rocketmq.namesrv, topic, group)
    traffic.produce(200)
    traffic.consume(rounds=1)  # the group has offsets (and a lag) on the source before the transfer starts
    assert traffic.received and len(traffic.received) < len(traffic.sent)

    cluster = _transfer_world(rocketmq, topic, drainTimeoutSeconds=120)
    def reconciler():
        return registry.topic_transfer_reconciler(client=cluster.api, lister_for=cluster.lister,
                                                  recorder=cluster.recorder, clock=REAL_CLOCK)
    threads = [threading.Thread(target=traffic.produce, daemon=True),
               threading.Thread(target=traffic.consume, kwargs={"pause": 0.2}, daemon=True)]
    for thread in threads:
        thread.start()
    try:
        phases = drive(reconciler, cluster, timeout=240)
        syncs_done = len(cluster.api.actions)
    finally:
        traffic.stop_sending.set()
        threads[0].join(10)
    wait_until(lambda: traffic.sent <= traffic.received, timeout=60, what="every sent message consumed")
    traffic.stop_consuming.set()
    threads[1].join(10)

    status = cluster.get(TOPIC_TRANSFERS, "default", "move")["status"]
    # the first sync only adds the finalizer: no status yet
    assert [p for p, _ in phases] == [None, "CreatingTarget", "Fencing", "Draining", "Deleting",
                                      "Done"], phases
    assert status["consumerGroups"] == [group] and status["owned"] == {"topic": True,
                                                                       "subscriptionGroups": [group]}
    with AdminClient(rocketmq.namesrv) as admin:
        route = admin.topic_route(topic)
        assert {q.broker_name for q in route.queues} == {TARGET_BROKER}
        assert {(q.read_queue_nums, q.write_queue_nums, q.perm) for q in route.queues} == {(2, 2, 6)}
        assert admin.subscription_groups(target_broker)[group]["retryMaxTimes"] == 5
        assert {q.broker_name for q in admin.topic_route(f"%RETRY%{group}").queues} >= {TARGET_BROKER}
        with pytest.raises(ResponseError):
            admin.topic_stats(rocketmq.master, topic)  # gone from the source broker
    lost = traffic.sent - traffic.received
    assert not lost
    normal = cluster.recorder.reasons("Normal")
    assert [r for r in normal if r in ("TargetCreated", "SourceFenced", "Drained", "SourceDeleted",
                                       "RetryTopicsCreated")] == ["TargetCreated", "SourceFenced", "Drained",
                                                                  "SourceDeleted", "RetryTopicsCreated"]
    # done
    assert reconciler().sync(Key("default", "move")) is None and len(cluster.api.actions) == syncs_done
    with capsys.disabled():
        print(f"\nTopicTransfer: {' → '.join(f'{p} at {t:.1f}s' for p, t in phases if p)}; "
              f"sent {len(traffic.sent)}, received {len(traffic.received)}, lost {len(lost)}, "
              f"send errors {traffic.send_errors}, final lag {status.get('lag')}")


def test_a_transfer_deleted_while_fencing_makes_the_source_writable_again_before_its_finalizer_goes(
        rocketmq, target_broker, capsys):
    topic = f"fenced_{uuid.uuid4().hex[:6]}"
    with AdminClient(rocketmq.namesrv) as admin:
        admin.create_topic(TopicConfig(topic, read_queue_nums=2, write_queue_nums=2),
                           cluster=rocketmq.cluster)
        wait_until(lambda: admin.topic_route(topic).queues, timeout=30, what="the topic's route")
    cluster = _transfer_world(rocketmq, topic)

    def sync() -> dict:
        registry.topic_transfer_reconciler(client=cluster.api, lister_for=cluster.lister,
                                           recorder=cluster.recorder,
                                           clock=REAL_CLOCK).sync(Key("default", "move"))
        cluster.catch_up()
        time.sleep(0.2)  # as the work queue would wait between syncs
        return cluster.api.objects.get(("topictransfers", "default", "move"), {})

    def phase(obj: dict) -> str:
        return (obj.get("status") or {}).get("phase") or "Pending"

    def source_perms(admin: AdminClient) -> set[int]:
        return {q.perm for q in admin.topic_route(topic).queues if q.broker_name != TARGET_BROKER}

    started = time.monotonic()
    with AdminClient(rocketmq.namesrv) as admin:
        while source_perms(admin) != {4}:  # the Fencing step took the write permission away
            obj = sync()
            assert phase(obj) in ("Pending", "CreatingTarget", "Fencing"), obj["status"]
            assert time.monotonic() - started < 60, obj["status"]
        fenced_at = time.monotonic() - started
        assert phase(obj) == "Fencing" and "rocketmq.apache.org/topictransfer-rollback" in \
            obj["metadata"]["finalizers"]
        obj = cluster.get(TOPIC_TRANSFERS, "default", "move")
        obj["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
        del obj["metadata"]["resourceVersion"]
        cluster.seed(TOPIC_TRANSFERS, obj)
        phases = []
        while obj:
            obj = sync()
            if obj and (not phases or phases[-1] != phase(obj)):
                phases.append(phase(obj))
            assert time.monotonic() - started < 120, obj and obj["status"]
        released_at = time.monotonic() - started
        assert source_perms(admin) == {6}  # read back from the name server's route
        # target topic removed
        assert TARGET_BROKER not in {q.broker_name for q in admin.topic_route(topic).queues}
    assert phases[0] == "Failed" and phases[-1] == "RolledBack", phases
    assert cluster.recorder.reasons()[-1] == "FinalizerRemoved"
    with capsys.disabled():
        print(f"\nTopicTransfer deleted while Fencing: fenced at {fenced_at:.1f}s, "
              f"{' → '.join(phases)}, finalizer removed at {released_at:.1f}s")
