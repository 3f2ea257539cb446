"""Producer and PullConsumer against a real name server and master/slave pair; RocketMQ's own tools
(mqadmin sendMessage and queryMsgByKey, which run the Java client) cross-check the wire format."""

from __future__ import annotations

import os
import re
import time
import uuid

import pytest

from rocketmq_operator.rocketmq import AdminClient, TopicConfig
from rocketmq_operator.rocketmq.consumer import PullConsumer
from rocketmq_operator.rocketmq.message import COMPRESSED_FLAG, Message, MessageExt
from rocketmq_operator.rocketmq.producer import Producer, SendStatus
from tests.rocketmq.rmq_servers import BROKER, CLUSTER, RocketMQ, wait_until

pytestmark = [pytest.mark.rocketmq, pytest.mark.timeout(120)]


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def create_topic(admin: AdminClient, *, queues: int = 4) -> str:
    topic = unique("msg")
    admin.create_topic(TopicConfig(topic, read_queue_nums=queues, write_queue_nums=queues), cluster=CLUSTER)
    wait_until(lambda: admin.topic_route(topic).queues, timeout=20, what=f"a route for {topic}")
    return topic


def receive(consumer: PullConsumer, count: int, *, timeout: float = 20.0) -> list[MessageExt]:
    """Poll until ``count`` messages arrived (more may arrive: duplicates are the caller's to see)."""
    received: list[MessageExt] = []
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        batch = consumer.poll()
        received += batch
        if not batch:
            time.sleep(0.05)
    return received


@pytest.fixture
def producer(rocketmq: RocketMQ):
    with Producer(rocketmq.namesrv, group=unique("producer")) as client:
        yield client


def test_n_keyed_messages_sent_are_received_exactly_once_with_their_keys_tags_and_ids(
    rocketmq: RocketMQ, admin, producer
):
    topic = create_topic(admin)
    results = {}
    for index in range(200):
        key = f"key-{index:04d}"
        results[key] = producer.send(
            Message(topic, f"body {index}".encode(), keys=(key, "extra"), tags="TagA")
        )
    assert {r.status for r in results.values()} == {SendStatus.SEND_OK}
    assert {r.queue.queue_id for r in results.values()} == {0, 1, 2, 3}  # round-robin over the queues

    with PullConsumer(rocketmq.namesrv, group=unique("consumer"), topic=topic) as consumer:
        received = receive(consumer, 200)
        assert consumer.poll() == []  # nothing more: no duplicates behind the 200
    by_key = {m.keys[0]: m for m in received}
    assert len(received) == 200 and set(by_key) == set(results)
    for key, message in by_key.items():
        sent = results[key]
        assert message.keys == (key, "extra") and message.tags == "TagA"
        assert message.body == f"body {int(key[4:])}".encode()
        assert message.uniq_key == sent.msg_id
        assert message.offset_msg_id == sent.offset_msg_id
        assert (message.topic, message.queue_id, message.queue_offset) == (
            topic,
            sent.queue.queue_id,
            sent.queue_offset,
        )
        assert message.store_host == rocketmq.master


def test_a_body_over_the_compress_threshold_goes_compressed_and_decodes(rocketmq: RocketMQ, admin, producer):
    topic = create_topic(admin, queues=1)
    body = b"".join(f"line {i} of a compressible body\n".encode() for i in range(4000))  # ~130 KiB
    small = os.urandom(100)
    producer.send(Message(topic, body, keys=("big",)))
    producer.send(Message(topic, small, keys=("small",)))

    with PullConsumer(rocketmq.namesrv, group=unique("consumer"), topic=topic) as consumer:
        big_message, small_message = receive(consumer, 2)
    assert big_message.body == body and big_message.sys_flag & COMPRESSED_FLAG
    assert big_message.store_size < len(body) // 4  # stored compressed
    assert small_message.body == small and not small_message.sys_flag & COMPRESSED_FLAG


def test_committed_offsets_are_the_groups_progress_on_the_broker(rocketmq: RocketMQ, admin, producer):
    topic, group = create_topic(admin, queues=2), unique("consumer")
    for index in range(20):
        producer.send(Message(topic, b"x", keys=(f"k{index}",)))

    with PullConsumer(rocketmq.namesrv, group=group, topic=topic) as consumer:
        assert len(receive(consumer, 20)) == 20
        assert consumer.commit() == 2
        stats = admin.consume_stats(group, topic=topic)
        assert stats.lag == 0 and len(stats.offsets) == 2
        assert all(o.consumer_offset == o.broker_offset > 0 for o in stats.offsets.values())
        assert sum(o.broker_offset for o in stats.offsets.values()) == 20

        for index in range(5):
            producer.send(Message(topic, b"y", keys=(f"later{index}",)))
        assert admin.consume_stats(group, topic=topic).lag == 5  # sent, not consumed
        assert consumer.commit() == 0  # nothing moved

    with PullConsumer(rocketmq.namesrv, group=group, topic=topic) as restarted:
        later = receive(restarted, 5)  # starts at the committed offsets, not at the beginning
        assert sorted(m.keys[0] for m in later) == [f"later{i}" for i in range(5)]
        assert restarted.commit() == 2
    assert admin.consume_stats(group, topic=topic).lag == 0


def test_mqadmin_finds_our_messages_by_key_and_we_decode_what_the_java_client_sent(
    rocketmq: RocketMQ, admin, producer
):
    topic = create_topic(admin, queues=1)
    key = unique("ours")
    sent = producer.send(Message(topic, b"from python", keys=(key,)))

    def found_by_mqadmin() -> bool:
        shown = rocketmq.mqadmin("queryMsgByKey", "-n", rocketmq.namesrv, "-t", topic, "-k", key)
        return re.search(rf"^{sent.msg_id}\s+0\s+{sent.queue_offset}$", shown, re.MULTILINE) is not None

    wait_until(found_by_mqadmin, timeout=30, interval=1, what=f"mqadmin queryMsgByKey to find {key}")

    java_key = unique("java")
    shown = rocketmq.mqadmin(
        "sendMessage", "-n", rocketmq.namesrv, "-t", topic, "-p", "from java", "-k", java_key, "-c", "TagJ"
    )
    assert re.search(rf"^{BROKER}\s+0\s+SEND_OK\s+(\w+)$", shown, re.MULTILINE), shown
    java_msg_id = re.search(r"SEND_OK\s+(\w+)$", shown, re.MULTILINE).group(1)

    with PullConsumer(rocketmq.namesrv, group=unique("consumer"), topic=topic) as consumer:
        ours, theirs = receive(consumer, 2)
    assert (ours.keys, ours.body, ours.uniq_key) == ((key,), b"from python", sent.msg_id)
    assert (theirs.keys, theirs.tags, theirs.body) == ((java_key,), "TagJ", b"from java")
    assert theirs.uniq_key == java_msg_id
