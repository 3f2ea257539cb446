"""Covers a roll's fence lifted on real RocketMQ when the cluster is paused: the session's master had its
write permission wiped by a roll (status.roll.fenced names it), the cluster is paused before the master
restarts, and the broker reconciler — wired as production wires it, over in-memory listers, with the real
AdminClient — gives the master its writes back through the name server the status names; the route read back
from the name server shows it writable, and status.roll no longer records the fence. While the name server
refuses (its port refuses connections) the fence stays recorded with the error."""

from __future__ import annotations

import socket
import uuid

import pytest

from rocketmq_operator.controllers.observe.observer import Observer
from rocketmq_operator.controllers.runtime.common import PAUSE_ANNOTATION
from rocketmq_operator.controllers.runtime.runner import Key
from rocketmq_operator.kube import BROKER_CLUSTERS
from rocketmq_operator.rocketmq import AdminClient, TopicConfig
from tests.rocketmq.rmq_servers import wait_until
from tests.unit.controllers.fakes import Cluster

pytestmark = [pytest.mark.rocketmq, pytest.mark.timeout(300)]

NS, NAME = "default", "fenced"


def _paused_mid_roll(name_servers: str, broker: str) -> Cluster:
    """A paused BrokerCluster whose roll wiped ``broker``'s writes, on name servers it is allowed to write
    to."""
    cluster = Cluster()
    cluster.seed(BROKER_CLUSTERS, {
        "apiVersion": "rocketmq.huanwei.io/v1alpha1", "kind": "BrokerCluster",
        "metadata": {"name": NAME, "namespace": NS, "uid": "uid-fenced", "generation": 2,
                     "annotations": {PAUSE_ANNOTATION: "true"}},
        "spec": {"brokerImage": "apache/rocketmq:5.3.3", "nameServers": name_servers, "groupReplica": 1,
                 "membersPerGroup": 2, "allowExternalNameServers": True},
        "status": {"observedGeneration": 1, "nameServers": name_servers, "brokerNamePrefix": "broker",
                   "roll": {"fenced": broker, "wipedAt": 1.0}}})
    return cluster


def _writable(admin: AdminClient, topic: str) -> set[bool]:
    return {q.writable for q in admin.topic_route(topic).queues}


def test_pausing_a_cluster_mid_roll_gives_the_fenced_master_its_writes_back_on_the_name_server(rocketmq):
    topic = f"fence_{uuid.uuid4().hex[:6]}"
    with AdminClient(rocketmq.namesrv) as admin:
        admin.create_topic(TopicConfig(topic, read_queue_nums=2, write_queue_nums=2),
                           cluster=rocketmq.cluster)
        wait_until(lambda: _writable(admin, topic) == {True}, timeout=30, what="the topic's route")
        try:
            assert admin.wipe_write_perm(rocketmq.broker_name).counts  # what the roll's fence did
            assert _writable(admin, topic) == {False}
            cluster = _paused_mid_roll(rocketmq.namesrv, rocketmq.broker_name)
            reconciler = cluster.broker_cluster_reconciler(Observer(interval=30.0),
                                                           allow_external_name_servers=True)
            reconciler.sync(Key(NS, NAME))
            cluster.catch_up()
            assert _writable(admin, topic) == {True}  # read back from the name server
            status = cluster.get(BROKER_CLUSTERS, NS, NAME)["status"]
            assert "fenced" not in status.get("roll", {}), status
            assert {c["type"]: c["status"] for c in status["conditions"]}.get("Paused") == "True", status
        finally:
            admin.add_write_perm(rocketmq.broker_name)


def test_a_fence_that_cannot_be_lifted_stays_recorded_with_the_error(rocketmq):
    """The status names a name server nobody listens on: nothing can be restored, so the fence stays, with
    the error in the Ready condition."""
    with socket.socket() as s:  # a port that was free a moment ago: connections to it are refused
        s.bind(("127.0.0.1", 0))
        gone = f"127.0.0.1:{s.getsockname()[1]}"
    cluster = _paused_mid_roll(gone, rocketmq.broker_name)
    reconciler = cluster.broker_cluster_reconciler(Observer(interval=30.0), allow_external_name_servers=True)
    reconciler.sync(Key(NS, NAME))
    cluster.catch_up()
    status = cluster.get(BROKER_CLUSTERS, NS, NAME)["status"]
    assert status["roll"]["fenced"] == rocketmq.broker_name, status
    messages = " | ".join(c.get("message", "") for c in status["conditions"])
    assert f"paused with {rocketmq.broker_name} fenced" in messages, messages
