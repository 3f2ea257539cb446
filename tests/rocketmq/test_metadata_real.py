"""Covers the scale-out metadata copy against real RocketMQ: a second broker group started next to the
session's gets the first group's topics and subscription groups through the admin API, read back; a second
run writes nothing."""

from __future__ import annotations

import time

import pytest

from rocketmq_operator.controllers.brokers.metadata import copy_metadata
from rocketmq_operator.controllers.observe.observer import Member, ObserveTarget, default_admin, observe
from rocketmq_operator.resources.model import from_broker_cluster
from rocketmq_operator.rocketmq import AdminClient, TopicConfig
from tests.rocketmq.rmq_servers import start_broker, stop_all, wait_until

pytestmark = pytest.mark.rocketmq


def model(cluster: str):
    return from_broker_cluster({"metadata": {"name": "c", "namespace": "ns", "uid": "u"},
                                "spec": {"brokerImage": "x", "groupReplica": 2, "membersPerGroup": 1,
                                         "clusterName": cluster, "nameServers": "127.0.0.1:9876"}})


CLUSTER = "ScaleOutCluster"


def test_a_new_group_gets_the_topics_and_subscription_groups_of_group_0(rocketmq, rocketmq_jars, tmp_path):
    started = [start_broker(rocketmq_jars, tmp_path / f"broker-{g}", namesrv=rocketmq.namesrv,
                            cluster=CLUSTER,
                            name=f"broker-{g}", broker_id=0) for g in (0, 1)]
    procs, (first, second) = [p for p, _ in started], [a for _, a in started]
    try:
        for proc in procs:
            proc.wait_booted()
        with AdminClient(rocketmq.namesrv) as admin:
            admin.create_topic(TopicConfig("ScaleOutTopic", read_queue_nums=2, write_queue_nums=2),
                               broker_addr=first)
            admin.create_subscription_group(first, {"groupName": "ScaleOutGroup"})
            wait_until(lambda: {"broker-0", "broker-1"} <= set(admin.cluster_info().brokers), timeout=60,
                       what="both groups registered")
        members = (Member("c-0-0", first, "broker-0", 0), Member("c-1-0", second, "broker-1", 0))
        target = ObserveTarget(cluster_name=CLUSTER, name_servers=(rocketmq.namesrv,),
                               namesrv_addr=rocketmq.namesrv, members=members)
        facts = observe(target, admin_factory=default_admin, now=time.monotonic)
        m = model(CLUSTER)
        result = copy_metadata(m, facts, (), admin_factory=default_admin)
        for _ in range(10):  # bounded rounds, as successive syncs would run them, each on fresh facts
            if not result.waiting or result.error:
                break
            time.sleep(1)
            facts = observe(target, admin_factory=default_admin, now=time.monotonic)
            result = copy_metadata(m, facts, result.copied, admin_factory=default_admin)
        assert result.copied == (1,) and result.error is None, result
        with AdminClient(second) as admin:
            assert admin.topic_configs(second)["ScaleOutTopic"].write_queue_nums == 2
            assert "ScaleOutGroup" in admin.subscription_groups(second)
        assert copy_metadata(m, facts, (1,), admin_factory=default_admin).copied == (1,)
    finally:
        stop_all(procs)
