"""Cluster modes on real RocketMQ, side by side on one NameService of a real node (issues 31 and 23).

One namespace, one NameService, and in it: an allMaster BrokerCluster of two groups (the shape that never
became Ready while its masters were looked up as ``broker-<g>``) and two Apache Brokers of 2 groups x 2 members
with ``nameServers: ""`` (both on the namespace's NameService). Each has a cluster name of its own. Then, as
RocketMQ reports it: every cluster Ready with all its brokers registered, distinct broker names on the shared
name server (``<Broker name>-<g>`` for Apache Brokers, pod names for allMaster), a topic created with
``-c <cluster>`` on every broker name of that cluster and messages sent to it all consumed; an allMaster
scale-out copies the topic to the new master before it is Ready; a BrokerCluster asking for broker names
another cluster holds is refused before any pod starts. Heaps are small and pods share one name server, so
the module adds about ten brokers to the session.
"""

from __future__ import annotations

import time
import uuid

import pytest
from kubernetes import client

from tests.e2e.clusters import condition, create_cr, get_cr, patch_cr, wait_ready
from tests.e2e.conftest import kubectl
from tests.e2e.realnode import ROCKETMQ_IMAGE, placement
from tests.e2e.realnode import observing_operator as observing_operator_in
from tests.e2e.waiting import eventually

pytestmark = pytest.mark.realnode

NAME_SERVICE = "modes-ns"
HEAP = [{"name": "HEAP_OPTS", "value": "-Xms192m -Xmx192m -Xmn96m -XX:MaxDirectMemorySize=192m"}]
POD = {"imagePullPolicy": "IfNotPresent", "storageMode": "EmptyDir", "env": HEAP,
       "resources": {"requests": {"cpu": "20m", "memory": "384Mi"}}}
CLUSTERS = {  # resource → (kind, RocketMQ cluster name, broker names)
    "am": ("BrokerCluster", "AllMasterCluster", ["am-0-0", "am-1-0"]),
    "ab": ("Broker", "ClusterB", ["ab-0", "ab-1"]),
    "ac": ("Broker", "ClusterC", ["ac-0", "ac-1"]),
}
FIGURES: dict[str, str] = {}


def _name_service() -> dict:
    return {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "NameService", "metadata": {"name": NAME_SERVICE},
            "spec": {"size": 1, "nameServiceImage": ROCKETMQ_IMAGE, "imagePullPolicy": "IfNotPresent",
                     "storageMode": "EmptyDir", "dnsPolicy": "ClusterFirst",
                     "env": [{"name": "HEAP_OPTS", "value": "-Xms96m -Xmx96m -Xmn48m"}],
                     "resources": {"requests": {"cpu": "20m", "memory": "192Mi"}}, **placement()}}


def _all_master() -> dict:
    return {"apiVersion": "rocketmq.huanwei.io/v1alpha1", "kind": "BrokerCluster", "metadata": {"name": "am"},
            "spec": {"brokerImage": ROCKETMQ_IMAGE, "nameServiceRef": {"name": NAME_SERVICE}, "allMaster": True,
                     "groupReplica": 2, "membersPerGroup": 1, "clusterName": "AllMasterCluster", **POD,
                     **placement()}}


def _apache_broker(name: str, cluster: str) -> dict:
    return {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "Broker", "metadata": {"name": name},
            "spec": {"size": 2, "replicaPerGroup": 1, "brokerImage": ROCKETMQ_IMAGE, "nameServers": "",
                     "replicationMode": "ASYNC", "properties": {"brokerClusterName": cluster}, **POD, **placement()}}


@pytest.fixture(scope="module")
def modes_ns(api_client, real_nodes):
    name = f"e2e-modes-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name, "labels": {"e2e": "true"}}})
    yield name
    core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture(scope="module")
def modes(api_client, kubeconfig, operator_kubeconfig, modes_ns):
    """The NameService and the three clusters, each Ready; yields the namespace and the name-server address."""
    ns = modes_ns
    with observing_operator_in(operator_kubeconfig, [ns], identity="e2e-realnode-modes"):
        start = time.monotonic()
        create_cr(api_client, "NameService", ns, _name_service())
        create_cr(api_client, "BrokerCluster", ns, _all_master())
        create_cr(api_client, "Broker", ns, _apache_broker("ab", "ClusterB"))
        create_cr(api_client, "Broker", ns, _apache_broker("ac", "ClusterC"))
        try:
            for name, (kind, _, _) in CLUSTERS.items():
                wait_ready(api_client, kind, ns, name, timeout=420)
                FIGURES[f"{kind} {name} Ready"] = f"{time.monotonic() - start:.1f}s"
        except AssertionError as e:
            pods = kubectl(kubeconfig, "-n", ns, "get", "pods", "-o", "wide", check=False).stdout
            crs = kubectl(kubeconfig, "-n", ns, "get", "brokerclusters,brokers", "-o", "yaml", check=False).stdout
            raise AssertionError(f"{e}\n{pods}\n{crs[-6000:]}") from None
        ip = client.CoreV1Api(api_client).read_namespaced_pod(f"{NAME_SERVICE}-0", ns).status.pod_ip
        yield {"ns": ns, "namesrv": f"{ip}:9876"}
    for key, value in FIGURES.items():
        print(f"FIGURE {key}: {value}")


def _cluster_info(namesrv: str):
    from rocketmq_operator.rocketmq import AdminClient

    with AdminClient([namesrv]) as admin:
        return admin.cluster_info()


def test_every_mode_is_ready_with_distinct_broker_names_on_the_shared_name_server(modes, api_client):
    info = _cluster_info(modes["namesrv"])
    for name, (kind, cluster, names) in CLUSTERS.items():
        obj = get_cr(api_client, kind, modes["ns"], name)
        assert condition(obj, "BrokersRegistered").get("status") in ("True", "False"), obj["status"]
        assert sorted(info.clusters.get(cluster, ())) == names, (cluster, info.clusters)
        assert sorted({b["brokerName"] for b in obj["status"]["brokers"]}) == names, obj["status"]["brokers"]
    addrs = [a for b in info.brokers.values() for a in b.addrs.values()]
    assert len(addrs) == len(set(addrs)) == 2 + 4 + 4, info.brokers  # two masters and two groups of two, twice
    assert all(len(info.brokers[n].addrs) == 2 for n in ("ab-0", "ab-1", "ac-0", "ac-1")), info.brokers


@pytest.mark.parametrize("name", list(CLUSTERS))
def test_a_cluster_topic_has_queues_on_every_broker_and_every_message_is_consumed(modes, name):
    from rocketmq_operator.rocketmq import AdminClient, LoadRun, TopicConfig

    _, cluster, names = CLUSTERS[name]
    topic = f"Modes-{name}"
    with AdminClient([modes["namesrv"]]) as admin:
        admin.create_topic(TopicConfig(topic, read_queue_nums=2, write_queue_nums=2), cluster=cluster)
        route = eventually(lambda: (r := admin.topic_route(topic)) and len(r.queues) == len(names) and r,
                           timeout=60, interval=1, what=f"the route of {topic} on every broker of {cluster}")
    assert sorted(q.broker_name for q in route.queues) == names
    run = LoadRun([modes["namesrv"]], topic, rate=40, group=f"modes-{name}", route_ttl=2.0, drain_timeout=60,
                  start_from="earliest").start()
    time.sleep(5)  # real traffic for a few seconds: the figure is what was sent, not a fixed count
    report = run.stop()
    FIGURES[f"{name} sent/received"] = f"{report.sent_ok}/{report.received}"
    assert report.sent_ok > 0 and report.lost == 0 and report.received == report.sent_ok, report.to_json()


def test_an_allmaster_scale_out_copies_topics_to_the_new_master_before_it_is_ready(modes, api_client):
    from rocketmq_operator.rocketmq import AdminClient, TopicConfig

    ns = modes["ns"]
    with AdminClient([modes["namesrv"]]) as admin:
        admin.create_topic(TopicConfig("Modes-copied", read_queue_nums=4, write_queue_nums=4),
                           cluster="AllMasterCluster")
        patch_cr(api_client, "BrokerCluster", ns, "am", {"spec": {"groupReplica": 3}})
        start = time.monotonic()
        obj = wait_ready(api_client, "BrokerCluster", ns, "am", timeout=300)
        FIGURES["allMaster 2 -> 3 Ready"] = f"{time.monotonic() - start:.1f}s"
        new = next(b for b in _cluster_info(modes["namesrv"]).brokers.values() if b.name == "am-2-0")
        configs = admin.topic_configs(new.addrs[0])
    assert "Modes-copied" in configs, sorted(configs)
    assert configs["Modes-copied"].write_queue_nums == 4
    assert 2 in obj["status"]["scaleOut"]["copiedGroups"], obj["status"]


def test_a_cluster_asking_for_broker_names_another_holds_is_refused_before_its_pods_start(modes, api_client):
    ns = modes["ns"]
    clash = {"apiVersion": "rocketmq.huanwei.io/v1alpha1", "kind": "BrokerCluster", "metadata": {"name": "late"},
             "spec": {"brokerImage": ROCKETMQ_IMAGE, "nameServiceRef": {"name": NAME_SERVICE},
                      "brokerNamePrefix": "ab", "groupReplica": 1, "membersPerGroup": 1, **POD, **placement()}}
    create_cr(api_client, "BrokerCluster", ns, clash)
    ready = eventually(lambda: (c := condition(get_cr(api_client, "BrokerCluster", ns, "late"), "Ready"))
                       .get("reason") == "BrokerNameClash" and c, timeout=60, interval=1, what="BrokerNameClash")
    assert "Broker ab" in ready["message"] and "brokerNamePrefix" in ready["message"], ready
    sets = client.AppsV1Api(api_client).list_namespaced_stateful_set(ns, label_selector="rocketmq.apache.org/cluster=late")
    assert sets.items == []
