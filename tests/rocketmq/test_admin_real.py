"""AdminClient against a real name server and master/slave pair, cross-checked with mqadmin's output."""

from __future__ import annotations

import argparse
import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from rocketmq_operator.rocketmq import (
    PERM_READ,
    PERM_WRITE,
    AdminClient,
    MessageQueue,
    ResponseError,
    TopicConfig,
    TopicNotFound,
    fastjson,
)
from rocketmq_operator.rocketmq.cli import add_admin_parser, run_admin
from rocketmq_operator.rocketmq.protocol import RequestCode
from rocketmq_operator.rocketmq.transport import ConnectionPool
from tests.rocketmq.rmq_servers import BROKER, CLUSTER, RocketMQ, wait_until

pytestmark = [pytest.mark.rocketmq, pytest.mark.timeout(900)]


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def send_messages(admin: AdminClient, addr: str, topic: str, *, queue_id: int, count: int) -> None:
    for index in range(count):
        fields = {
            "producerGroup": "admin-test-producer",
            "topic": topic,
            "defaultTopic": "TBW102",
            "defaultTopicQueueNums": 4,
            "queueId": queue_id,
            "sysFlag": 0,
            "bornTimestamp": int(time.time() * 1000),
            "flag": 0,
            "properties": "",
            "reconsumeTimes": 0,
            "unitMode": False,
            "batch": False,
        }
        admin.invoke(addr, RequestCode.SEND_MESSAGE, fields=fields, body=f"message {index}".encode())


def admin_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_admin_parser(parser.add_subparsers(dest="command"))
    return run_admin(parser.parse_args(["admin", *argv]))


def table_rows(text: str) -> list[list[str]]:
    """Rows of a whitespace-aligned mqadmin table, header line (starting with '#') excluded."""
    rows = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(line.split())
    return rows


def test_cluster_info_lists_the_master_and_slave_that_mqadmin_cluster_list_shows(
    rocketmq: RocketMQ, admin, capsys
):
    info = admin.cluster_info()
    assert dict(info.clusters) == {CLUSTER: frozenset({BROKER})}
    broker = info.brokers[BROKER]
    assert (broker.cluster, dict(broker.addrs)) == (CLUSTER, {0: rocketmq.master, 1: rocketmq.slave})
    assert broker.master_addr == rocketmq.master

    mqadmin_rows = table_rows(rocketmq.mqadmin("clusterList", "-n", rocketmq.namesrv))
    assert admin_cli("cluster-list", "-n", rocketmq.namesrv) == 0
    our_rows = table_rows(capsys.readouterr().out)

    expected = [
        [CLUSTER, BROKER, "0", rocketmq.master, rocketmq.jars.version_desc],
        [CLUSTER, BROKER, "1", rocketmq.slave, rocketmq.jars.version_desc],
    ]
    assert [row[:5] for row in mqadmin_rows] == expected
    assert our_rows == expected


def test_cluster_info_fails_over_to_the_next_name_server(rocketmq: RocketMQ):
    with AdminClient(f"127.0.0.1:1;{rocketmq.namesrv}") as client:
        assert BROKER in client.cluster_info().brokers


def test_broker_config_update_is_read_back_by_the_client_and_by_mqadmin(rocketmq: RocketMQ, admin, capsys):
    before = admin.broker_config(rocketmq.master)
    assert before["brokerName"] == BROKER and before["brokerRole"] == "ASYNC_MASTER"
    assert before["namesrvAddr"] == rocketmq.namesrv
    new_value = str(int(before["fileReservedTime"]) + 1)

    admin.update_broker_config(rocketmq.master, {"fileReservedTime": new_value})

    assert admin.broker_config(rocketmq.master)["fileReservedTime"] == new_value
    shown = rocketmq.mqadmin("getBrokerConfig", "-b", rocketmq.master, "-n", rocketmq.namesrv)
    assert re.search(rf"^fileReservedTime\s+=\s+{new_value}$", shown, re.MULTILINE), shown
    assert admin_cli("broker-config", "-b", rocketmq.master, "-k", "fileReservedTime") == 0
    assert re.search(rf"^fileReservedTime\s+=\s+{new_value}$", capsys.readouterr().out, re.MULTILINE)


def test_broker_config_update_of_a_forbidden_key_is_a_response_error(rocketmq: RocketMQ, admin):
    with pytest.raises(ResponseError) as caught:
        admin.update_broker_config(rocketmq.master, {"brokerConfigPath": "/tmp/elsewhere"})
    assert caught.value.code != 0 and caught.value.addr == rocketmq.master


def test_broker_config_update_round_trips_values_that_need_escaping(rocketmq: RocketMQ, admin):
    value = "a=b:c #!\\ d é"
    admin.update_broker_config(rocketmq.master, {"msgTraceTopicName": value})
    try:
        assert admin.broker_config(rocketmq.master)["msgTraceTopicName"] == value
    finally:
        admin.update_broker_config(rocketmq.master, {"msgTraceTopicName": "RMQ_SYS_TRACE_TOPIC"})


def test_runtime_info_and_ha_status_show_the_slave_catching_up(rocketmq: RocketMQ, admin):
    topic = unique("ha")
    admin.create_topic(TopicConfig(topic, read_queue_nums=1, write_queue_nums=1), broker_addr=rocketmq.master)
    send_messages(admin, rocketmq.master, topic, queue_id=0, count=5)

    master = admin.broker_runtime_info(rocketmq.master)
    assert master.active and master.version_desc == rocketmq.jars.version_desc
    assert master.commit_log_max_offset > 0
    wait_until(
        lambda: (
            admin.broker_runtime_info(rocketmq.slave).commit_log_max_offset >= master.commit_log_max_offset
        ),
        timeout=30,
        what="the slave to replicate the master's commit log",
    )
    slave = admin.broker_runtime_info(rocketmq.slave)
    assert not slave.active

    ha = wait_until(
        lambda: (
            (s := admin.broker_ha_status(rocketmq.master)).connections
            and s.connections[0].slave_ack_offset >= master.commit_log_max_offset
            and s
        ),
        timeout=30,
        what="the master to see the slave's acknowledgement",
    )
    assert ha.is_master and ha.in_sync_slave_nums == 1 and ha.connections[0].in_sync
    assert admin.broker_ha_status(rocketmq.slave).slave_max_offset >= master.commit_log_max_offset

    status = rocketmq.mqadmin("brokerStatus", "-b", rocketmq.master, "-n", rocketmq.namesrv)
    shown = dict(re.findall(r"^(\w+)\s+:\s(.*)$", status, re.MULTILINE))
    now = admin.broker_runtime_info(rocketmq.master)
    assert shown["brokerVersionDesc"].strip() == now.version_desc
    assert int(shown["commitLogMaxOffset"]) == now.commit_log_max_offset


def test_topic_create_route_list_and_delete_agree_with_mqadmin(rocketmq: RocketMQ, admin):
    topic = unique("orders")
    assert admin.create_topic(TopicConfig(topic, read_queue_nums=4, write_queue_nums=2), cluster=CLUSTER) == (
        rocketmq.master,
    )

    route = wait_until(lambda: admin.topic_route(topic), timeout=15, what="the route to appear")
    assert [(b.name, dict(b.addrs)) for b in route.brokers] == [
        (BROKER, {0: rocketmq.master, 1: rocketmq.slave})
    ]
    [queues] = route.queues
    assert (queues.broker_name, queues.read_queue_nums, queues.write_queue_nums) == (BROKER, 4, 2)
    assert queues.perm == PERM_READ | PERM_WRITE
    assert topic in admin.topic_list()

    with ThreadPoolExecutor(2) as pool:
        listed = pool.submit(rocketmq.mqadmin, "topicList", "-n", rocketmq.namesrv)
        routed = pool.submit(rocketmq.mqadmin, "topicRoute", "-t", topic, "-n", rocketmq.namesrv)
    assert topic in listed.result().split()
    mqadmin_route = fastjson.loads(routed.result())  # fastjson's pretty output, with {0:"..."} keys
    assert mqadmin_route["brokerDatas"][0]["brokerAddrs"] == {0: rocketmq.master, 1: rocketmq.slave}
    assert mqadmin_route["queueDatas"][0]["readQueueNums"] == 4

    admin.create_topic(TopicConfig(topic, read_queue_nums=8, write_queue_nums=8), broker_addr=rocketmq.master)
    wait_until(
        lambda: admin.topic_route(topic).queues[0].write_queue_nums == 8, timeout=15, what="the update"
    )

    admin.delete_topic(topic, cluster=CLUSTER)
    with pytest.raises(TopicNotFound) as caught:
        admin.topic_route(topic)
    assert caught.value.code == 17 and topic in caught.value.remark
    assert topic not in admin.topic_list()
    assert topic not in rocketmq.mqadmin("topicList", "-n", rocketmq.namesrv).split()


def test_topic_list_cli_prints_what_the_client_returns(rocketmq: RocketMQ, admin, capsys):
    assert admin_cli("topic-list", "-n", rocketmq.namesrv) == 0
    assert capsys.readouterr().out.split() == sorted(admin.topic_list())
    assert {"TBW102", CLUSTER, BROKER} <= admin.topic_list()


def test_wipe_and_add_write_perm_fence_and_unfence_the_broker_on_the_name_server(rocketmq: RocketMQ, admin):
    topic = unique("fenced")
    admin.create_topic(TopicConfig(topic, read_queue_nums=2, write_queue_nums=2), cluster=CLUSTER)
    wait_until(lambda: admin.topic_route(topic), timeout=15, what="the route to appear")
    try:
        wiped = admin.wipe_write_perm(BROKER)
        assert wiped.ok and wiped.counts[rocketmq.namesrv] >= 1
        assert admin.topic_route(topic).queues[0].perm == PERM_READ
    finally:
        added = admin.add_write_perm(BROKER)
    assert added.ok and added.counts[rocketmq.namesrv] == wiped.counts[rocketmq.namesrv]
    assert admin.topic_route(topic).queues[0].perm == PERM_READ | PERM_WRITE
    admin.delete_topic(topic, cluster=CLUSTER)


def test_consume_stats_report_per_queue_offsets_and_lag_like_mqadmin_consumer_progress(
    rocketmq: RocketMQ, admin
):
    topic, group = unique("progress"), unique("group")
    admin.create_topic(TopicConfig(topic, read_queue_nums=2, write_queue_nums=2), cluster=CLUSTER)
    admin.create_topic(TopicConfig(f"%RETRY%{group}", read_queue_nums=1, write_queue_nums=1), cluster=CLUSTER)
    body = json.dumps({"groupName": group}).encode()
    admin.invoke(rocketmq.master, RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=body)
    send_messages(admin, rocketmq.master, topic, queue_id=0, count=5)
    send_messages(admin, rocketmq.master, topic, queue_id=1, count=3)
    offset = {"consumerGroup": group, "topic": topic, "queueId": 0, "commitOffset": 2}
    admin.invoke(rocketmq.master, RequestCode.UPDATE_CONSUMER_OFFSET, fields=offset)

    stats = admin.consume_stats(group, topic=topic)

    q0, q1 = MessageQueue(topic, BROKER, 0), MessageQueue(topic, BROKER, 1)
    assert list(stats.offsets) == [q0, q1]
    assert (stats.offsets[q0].broker_offset, stats.offsets[q0].consumer_offset, stats.offsets[q0].lag) == (
        5,
        2,
        3,
    )
    assert (stats.offsets[q1].broker_offset, stats.offsets[q1].consumer_offset, stats.offsets[q1].lag) == (
        3,
        0,
        3,
    )
    assert stats.offsets[q0].last_timestamp > 0 and stats.lag == 6
    assert admin.consume_stats(group).offsets == stats.offsets  # the broker finds the group's topics

    progress = rocketmq.mqadmin("consumerProgress", "-g", group, "-n", rocketmq.namesrv)
    rows = {(row[0], row[1], int(row[2])): row[3:6] for row in table_rows(progress) if row[0] == topic}
    assert rows == {
        (topic, BROKER, 0): ["5", "2", "3"],
        (topic, BROKER, 1): ["3", "0", "3"],
    }, progress
    assert re.search(r"Consume Diff Total: 6$", progress, re.MULTILINE)


def test_a_missing_group_has_no_progress_rather_than_an_error(admin):
    assert admin.consume_stats(unique("nobody")).offsets == {}


def test_connections_to_a_broker_are_reused_across_calls(rocketmq: RocketMQ):
    pool = ConnectionPool()
    with AdminClient(rocketmq.namesrv, pool=pool) as client:
        for _ in range(5):
            client.broker_runtime_info(rocketmq.master)
        assert (pool.opened_count(rocketmq.master), pool.idle_count(rocketmq.master)) == (1, 1)


def test_a_brokers_topic_configs_list_a_created_topic_with_its_queue_counts(admin, rocketmq):
    from rocketmq_operator.rocketmq import TopicConfig

    admin.create_topic(TopicConfig("ConfigsListed", read_queue_nums=3, write_queue_nums=3),
                       broker_addr=rocketmq.master)
    configs = admin.topic_configs(rocketmq.master)
    assert (configs["ConfigsListed"].read_queue_nums, configs["ConfigsListed"].write_queue_nums) == (3, 3)
    assert "TBW102" in configs or "SCHEDULE_TOPIC_XXXX" in configs  # system topics come too
