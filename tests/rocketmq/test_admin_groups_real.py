"""AdminClient's subscription-group and topic-consumer calls against a real broker, cross-checked with
mqadmin: create, read back, delete a group; which groups consume a topic; a topic's offsets."""

from __future__ import annotations

import uuid

import pytest

from rocketmq_operator.rocketmq import MessageQueue, ResponseError, TopicConfig
from rocketmq_operator.rocketmq.protocol import RequestCode
from tests.rocketmq.rmq_servers import BROKER, CLUSTER, RocketMQ

pytestmark = [pytest.mark.rocketmq, pytest.mark.timeout(900)]


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def send(admin, addr: str, topic: str, *, queue_id: int, count: int) -> None:
    for index in range(count):
        fields = {"producerGroup": "groups-test", "topic": topic, "defaultTopic": "TBW102",
                  "defaultTopicQueueNums": 4, "queueId": queue_id, "sysFlag": 0, "bornTimestamp": 0,
                  "flag": 0, "properties": "", "reconsumeTimes": 0, "unitMode": False, "batch": False}
        admin.invoke(addr, RequestCode.SEND_MESSAGE, fields=fields, body=f"message {index}".encode())


def test_a_subscription_group_is_created_read_back_and_deleted(rocketmq: RocketMQ, admin):
    group = unique("group")
    admin.create_subscription_group(rocketmq.master, {"groupName": group, "retryMaxTimes": 7,
                                                      "consumeBroadcastEnable": False})
    config = admin.subscription_groups(rocketmq.master)[group]
    assert (config["groupName"], config["retryMaxTimes"], config["consumeBroadcastEnable"]) == (
        group, 7, False)
    assert config["consumeEnable"] is True  # the broker's default for what was not given

    admin.delete_subscription_group(rocketmq.master, group)
    assert group not in admin.subscription_groups(rocketmq.master)


def test_a_subscription_group_without_a_name_is_refused_before_sending(rocketmq: RocketMQ, admin):
    with pytest.raises(ValueError, match="groupName"):
        admin.create_subscription_group(rocketmq.master, {"retryMaxTimes": 1})


def test_the_groups_with_offsets_on_a_topic_are_its_consumers(rocketmq: RocketMQ, admin):
    topic, group, idle = unique("consumed"), unique("reader"), unique("idle")
    admin.create_topic(TopicConfig(topic, read_queue_nums=2, write_queue_nums=2), cluster=CLUSTER)
    for name in (group, idle):
        admin.create_subscription_group(rocketmq.master, {"groupName": name})
    send(admin, rocketmq.master, topic, queue_id=0, count=3)
    offset = {"consumerGroup": group, "topic": topic, "queueId": 0, "commitOffset": 1}
    admin.invoke(rocketmq.master, RequestCode.UPDATE_CONSUMER_OFFSET, fields=offset)

    assert admin.topic_consumers(rocketmq.master, topic) == {group}
    assert admin.topic_stats(rocketmq.master, topic) == {MessageQueue(topic, BROKER, 0): (0, 3),
                                                         MessageQueue(topic, BROKER, 1): (0, 0)}
    rows = [line.split() for line in rocketmq.mqadmin("topicStatus", "-t", topic, "-n", rocketmq.namesrv)
            .splitlines() if line.startswith(BROKER)]
    assert sorted((row[1], row[3]) for row in rows) == [("0", "3"), ("1", "0")]  # queue, max offset


def test_topic_stats_of_a_missing_topic_is_a_response_error(rocketmq: RocketMQ, admin):
    with pytest.raises(ResponseError):
        admin.topic_stats(rocketmq.master, unique("missing"))
