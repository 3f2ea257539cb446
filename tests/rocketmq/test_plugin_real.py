"""Covers kubectl rocketmq's topics and cluster-list against a real name server and master/slave pair: the
endpoints come from a Broker resource whose literal nameServers point at them, through the operator's
model."""

from __future__ import annotations

import uuid

import pytest

from rocketmq_operator.informers.lister import Lister
from rocketmq_operator.informers.store import Store
from rocketmq_operator.kube import PODS
from rocketmq_operator.plugin import mq
from rocketmq_operator.plugin.render import render_cluster_list, render_topics
from rocketmq_operator.plugin.target import PluginError, endpoints_of
from rocketmq_operator.resources.model import from_broker
from rocketmq_operator.rocketmq import TopicConfig
from tests.rocketmq.rmq_servers import BROKER, CLUSTER, RocketMQ

pytestmark = [pytest.mark.rocketmq, pytest.mark.timeout(900)]


def broker_resource(name_servers: str, cluster: str = CLUSTER) -> dict:
    """An Apache Broker naming the test's name server, its cluster name given as the Apache operator's users
    do."""
    return {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "Broker",
            "metadata": {"name": "plugin", "namespace": "default", "uid": "uid-plugin", "generation": 1},
            "spec": {"size": 1, "replicaPerGroup": 1, "brokerImage": "apache/rocketmq:5.3.3",
                     "nameServers": name_servers, "properties": {"brokerClusterName": cluster}}}


def where(rocketmq: RocketMQ, cluster: str = CLUSTER):
    no_pods = Lister(Store(), PODS)  # the addresses are IPs: no pod is looked up
    return endpoints_of(from_broker(broker_resource(rocketmq.namesrv, cluster)), pods=no_pods)


def test_cluster_list_shows_the_master_and_slave_the_name_server_registered(rocketmq: RocketMQ):
    endpoints = where(rocketmq)
    assert endpoints.name_servers == (rocketmq.namesrv,) and endpoints.cluster_name == CLUSTER
    with mq.connect(endpoints, timeout=5.0) as admin:
        rows = mq.broker_rows(admin, endpoints)
    assert [(r.cluster, r.broker_name, r.broker_id, r.addr, r.error) for r in rows] == [
        (CLUSTER, BROKER, 0, rocketmq.master, ""), (CLUSTER, BROKER, 1, rocketmq.slave, "")]
    assert {r.version for r in rows} == {rocketmq.jars.version_desc}
    lines = render_cluster_list(rows).splitlines()
    assert lines[1].split()[:5] == [CLUSTER, BROKER, "0", "MASTER", rocketmq.master]
    assert lines[2].split()[:5] == [CLUSTER, BROKER, "1", "SLAVE", rocketmq.slave]


def test_topics_lists_a_created_topic_with_its_queues_and_hides_rocketmqs_own(rocketmq: RocketMQ, admin):
    topic = f"plugin-{uuid.uuid4().hex[:8]}"
    admin.create_topic(TopicConfig(topic, read_queue_nums=4, write_queue_nums=2), cluster=CLUSTER)
    endpoints = where(rocketmq)
    with mq.connect(endpoints, timeout=5.0) as client:
        rows, errors = mq.topic_rows(client, endpoints)
        everything, _ = mq.topic_rows(client, endpoints, include_system=True)
    assert errors == []
    mine = next(r for r in rows if r.topic == topic)
    assert (mine.brokers, mine.read_queues, mine.write_queues, mine.perm) == ((BROKER,), 4, 2, "RW")
    hidden = {r.topic for r in everything} - {r.topic for r in rows}
    assert hidden and all(mq.system_topic(t) or t in (CLUSTER, BROKER) for t in hidden)
    assert [topic, BROKER, "4", "2", "RW"] in [line.split() for line in render_topics(rows).splitlines()]


def test_a_cluster_name_the_name_server_does_not_know_is_a_clear_error(rocketmq: RocketMQ):
    endpoints = where(rocketmq, cluster="NoSuchCluster")
    with pytest.raises(PluginError,
                       match=rf"cluster 'NoSuchCluster' is not registered "
                             rf".*registered clusters: {CLUSTER}"), \
            mq.connect(endpoints, timeout=5.0) as admin:
        mq.broker_rows(admin, endpoints)
