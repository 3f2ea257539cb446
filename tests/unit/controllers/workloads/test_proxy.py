"""Covers ProxyReconciler.sync: Service, Deployment and budget then status, a second pass writing nothing, a
NameService resize reaching the Deployment, and a proxy without name servers."""

from __future__ import annotations

from rocketmq_operator.controllers.runtime.runner import Key
from rocketmq_operator.kube import DEPLOYMENTS, NAME_SERVICES, PROXIES
from tests.unit.controllers.fakes import Cluster, load_sample

NS, NAME = "rocketmq", "rocketmq-proxy"
KEY = Key(NS, NAME)


def ready(status):
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def config_of(cluster: Cluster) -> str:
    deployment = cluster.get(DEPLOYMENTS, NS, NAME)
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    return next(e["value"] for e in env if e["name"] == "ROCKETMQ_PROXY_CONFIG")


def seeded(cluster: Cluster) -> None:
    cluster.seed(NAME_SERVICES, load_sample("nameserver.yaml", uid="uid-ns"))
    cluster.seed(PROXIES, load_sample("rocketmq-proxy.yaml", uid="uid-p"))


def test_a_new_proxy_gets_its_service_deployment_and_budget_then_status(cluster):
    seeded(cluster)
    cluster.proxy_reconciler().sync(KEY)
    assert [a[:3] for a in cluster.api.heads()] == [
        ("create", "services", None), ("create", "deployments", None),
        ("create", "poddisruptionbudgets", None),
        ("update", "proxies", "status")]
    status = cluster.api.actions[-1].body["status"]
    assert status["nameServers"].count(":9876") == 2 and ready(status)["reason"] == "Progressing"


def test_ready_proxies_are_ready_and_a_second_pass_writes_nothing(cluster):
    seeded(cluster)
    cluster.proxy_reconciler().sync(KEY)
    cluster.catch_up()
    deployment = cluster.get(DEPLOYMENTS, NS, NAME)
    deployment["status"] = {"observedGeneration": deployment["metadata"]["generation"], "replicas": 2,
                            "readyReplicas": 2, "updatedReplicas": 2}
    cluster.seed(DEPLOYMENTS, deployment)
    cluster.api.clear()
    cluster.proxy_reconciler().sync(KEY)
    assert ready(cluster.api.actions[-1].body["status"])["status"] == "True"
    cluster.catch_up()
    cluster.api.clear()
    cluster.proxy_reconciler().sync(KEY)
    assert cluster.api.actions == []


def test_a_name_service_resize_reaches_the_proxies_configuration(cluster):
    seeded(cluster)
    cluster.proxy_reconciler().sync(KEY)
    cluster.catch_up()
    assert "rocketmq-nameserver-2" not in config_of(cluster)
    ns = cluster.get(NAME_SERVICES, NS, "rocketmq-nameserver")
    ns["spec"]["size"] = 3
    cluster.seed(NAME_SERVICES, ns)
    cluster.api.clear()
    cluster.proxy_reconciler().sync(KEY)
    assert ("update", "deployments", None) in [a[:3] for a in cluster.api.heads()]
    assert "rocketmq-nameserver-2.rocketmq-nameserver.rocketmq.svc.cluster.local:9876" in config_of(cluster)


def test_without_name_servers_it_says_so_once_and_creates_nothing(cluster):
    obj = load_sample("rocketmq-proxy.yaml", uid="uid-p")
    cluster.seed(PROXIES, obj)
    cluster.proxy_reconciler().sync(KEY)
    assert [a.verb for a in cluster.api.actions] == ["update"]
    assert ready(cluster.api.actions[0].body["status"])["reason"] == "NameServersUnknown"
    assert cluster.recorder.reasons("Warning") == ["NameServersUnknown"]
