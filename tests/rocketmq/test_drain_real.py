"""The drain's rule against a real RocketMQ 5.3.3 master of its own (on a name server of its own, so the
session's brokers keep their write permission): a lagging group, a topic nobody consumes, delay and
transactional half messages keep the group; a consumer that took everything lets it go. Also what the
broker answers that the rule relies on: consume stats of a group without offsets, the delay figures of
the runtime info before and after delivery. Timer messages are left to the unit tests: in these
fixtures the broker's timer wheel stalled (its JVM has 64 MiB of direct memory, and a send ran out of it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from rocketmq_operator.controllers.brokers.drain import PRODUCER_GRACE, drain_step
from rocketmq_operator.controllers.brokers.holdings import read_holdings
from rocketmq_operator.controllers.observe.observer import BrokerFacts, ClusterFacts, ObserveTarget
from rocketmq_operator.rocketmq import AdminClient, PullConsumer, TopicConfig
from rocketmq_operator.rocketmq.message import encode_properties
from rocketmq_operator.rocketmq.protocol import RequestCode
from tests.rocketmq.rmq_servers import Jars, start_broker, start_namesrv, stop_all, wait_until

pytestmark = [pytest.mark.rocketmq, pytest.mark.timeout(300)]

CLUSTER, BROKER = "DrainCluster", "broker-drain"
NOW = 10_000.0
FENCED = {"group": 1, "startedAt": NOW - 60, "wipedAt": NOW - PRODUCER_GRACE}
TRANSACTION_PREPARED = 0x4  # sysFlag of a half message


@pytest.fixture(scope="module")
def drained(rocketmq_jars: Jars, tmp_path_factory) -> Iterator[tuple[str, str]]:
    """A fresh master and its name server: (name server, master address), its writes wiped."""
    home = tmp_path_factory.mktemp("drain")
    processes = []
    try:
        namesrv_proc, namesrv = start_namesrv(rocketmq_jars, home / "namesrv")
        processes.append(namesrv_proc)
        namesrv_proc.wait_booted()
        broker_proc, master = start_broker(rocketmq_jars, home / "master", namesrv=namesrv, cluster=CLUSTER,
                                           name=BROKER, broker_id=0)
        processes.append(broker_proc)
        broker_proc.wait_booted()
        with AdminClient(namesrv) as admin:
            wait_until(lambda: BROKER in admin.cluster_info().brokers and admin.broker_runtime_info(master),
                       timeout=60, what="the drain master registered")
        yield namesrv, master
    finally:
        stop_all(processes)


@pytest.fixture
def admin(drained) -> Iterator[AdminClient]:
    namesrv, _ = drained
    with AdminClient(namesrv, request_timeout=5.0) as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def send(admin: AdminClient, addr: str, topic: str, *, count: int = 1, sys_flag: int = 0,
         properties: dict[str, str] | None = None) -> None:
    """Straight to the master (its name-server routes are read-only while it is drained)."""
    for index in range(count):
        fields = {"producerGroup": "drain-test", "topic": topic, "defaultTopic": "TBW102",
                  "defaultTopicQueueNums": 2, "queueId": 0, "sysFlag": sys_flag, "bornTimestamp": 0,
                  "flag": 0, "properties": encode_properties(properties or {}), "reconsumeTimes": 0,
                  "unitMode": False, "batch": False}
        admin.invoke(addr, RequestCode.SEND_MESSAGE, fields=fields, body=f"message {index}".encode())


def step(drained, *, accept_loss: bool = False):
    namesrv, master = drained
    target = ObserveTarget(cluster_name=CLUSTER, name_servers=(namesrv,), namesrv_addr=namesrv, members=())
    facts = ClusterFacts(target=target, read_at=0, name_servers_up=1, name_server_errors=(), brokers=(
        BrokerFacts("drain-0", master, broker_name=BROKER, broker_id=0, role="MASTER", registered_on=1),))
    return drain_step([1], FENCED, facts, now=NOW, timeout=600, brokers=lambda g: (BROKER,),
                      admin_factory=lambda addrs: AdminClient(addrs, request_timeout=5.0),
                      name_servers=(namesrv,),
                      accept_loss=accept_loss)


def consume_all(namesrv: str, group: str, topic: str, count: int) -> None:
    with AdminClient(namesrv) as admin:
        admin.create_subscription_group(admin.cluster_info().brokers[BROKER].master_addr,
                                        {"groupName": group})
    with PullConsumer(namesrv, group=group, topic=topic) as consumer:
        got: list = []
        wait_until(lambda: got.extend(consumer.poll()) or len(got) >= count, timeout=30,
                   what=f"{group} to pull {count} messages of {topic}")
        consumer.commit()


def test_a_fresh_master_holds_nothing_and_is_deleted(drained, admin):
    admin.wipe_write_perm(BROKER)  # the fence is in place since FENCED's wipedAt
    assert step(drained).delete == 1


def test_a_group_without_offsets_reads_as_offset_zero_on_every_queue(drained, admin):
    _, master = drained
    topic = unique("plain")
    admin.create_topic(TopicConfig(topic, read_queue_nums=2, write_queue_nums=2), broker_addr=master)
    send(admin, master, topic, count=3)
    stats = admin.broker_consume_stats(master, unique("nobody"), topic=topic)
    assert sorted((q.queue_id, o.broker_offset, o.consumer_offset) for q, o in stats.offsets.items()) == [
        (0, 3, 0), (1, 0, 0)]
    admin.delete_topic_in_broker(master, topic)
    assert step(drained).delete == 1  # a deleted topic holds nothing


def test_a_lagging_group_keeps_the_master_and_one_that_consumed_everything_lets_it_go(drained, admin):
    namesrv, master = drained
    topic, group = unique("orders"), unique("audit")
    admin.create_topic(TopicConfig(topic, read_queue_nums=2, write_queue_nums=2), broker_addr=master)
    admin.create_subscription_group(master, {"groupName": group})
    send(admin, master, topic, count=5)
    admin.invoke(master, RequestCode.UPDATE_CONSUMER_OFFSET,
                 fields={"consumerGroup": group, "topic": topic, "queueId": 0, "commitOffset": 2})
    waiting = step(drained)
    assert waiting.delete is None and waiting.reason == "MessagesHeld"
    assert f"3 messages of {topic} for group {group}" in waiting.waiting

    consume_all(namesrv, group, topic, 3)  # from its committed offset 2
    assert step(drained).delete == 1


def test_a_topic_with_messages_and_no_consumer_group_keeps_the_master(drained, admin):
    _, master = drained
    topic = unique("nobody-reads")
    admin.create_topic(TopicConfig(topic, read_queue_nums=1, write_queue_nums=1), broker_addr=master)
    send(admin, master, topic, count=2)
    waiting = step(drained)
    assert waiting.delete is None and (
        f"2 messages of {topic}, which no consumer group consumes" in waiting.waiting)
    assert step(drained, accept_loss=True).delete is None  # the loss is accepted only after the timeout
    admin.delete_topic_in_broker(master, topic)
    assert step(drained).delete == 1


def test_delay_messages_keep_the_master_until_delivered_and_consumed(drained, admin):
    namesrv, master = drained
    topic, group = unique("later"), unique("reader")
    admin.create_topic(TopicConfig(topic, read_queue_nums=1, write_queue_nums=1), broker_addr=master)
    send(admin, master, topic, count=2, properties={"DELAY": "2"})  # level 2: 5 s
    held = read_holdings(admin, master, BROKER)
    assert held.delayed == 2 and "2 delay messages not delivered yet" in step(drained).waiting

    delivered = wait_until(lambda: admin.deferred_messages(master).delay_levels.get(2) == (2, 2) and
                           read_holdings(admin, master, BROKER), timeout=30,
                           what="the delay level to deliver")
    assert delivered.delayed == 0 and dict(delivered.unsubscribed) == {topic: 2}  # on the real topic now
    consume_all(namesrv, group, topic, 2)
    assert step(drained).delete == 1


def test_a_half_message_keeps_the_master(drained, admin):
    _, master = drained
    topic = unique("transfer")
    admin.create_topic(TopicConfig(topic, read_queue_nums=1, write_queue_nums=1), broker_addr=master)
    send(admin, master, topic, sys_flag=TRANSACTION_PREPARED,
         properties={"TRAN_MSG": "true", "PGROUP": "drain-test"})
    waiting = step(drained)
    assert waiting.delete is None
    assert "1 transactional half messages not committed or rolled back yet" in waiting.waiting
