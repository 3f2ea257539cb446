"""Covers ConsoleReconciler.sync: the Deployment (with the name-server address injected) and its Service,
the address taken from spec or from the namespace's only NameService, conflicts, pause, and no-op resyncs."""

from __future__ import annotations

from typing import Any

from rocketmq_operator.controllers.runtime.common import CONFLICT_RECHECK, PAUSE_ANNOTATION
from rocketmq_operator.controllers.runtime.runner import Key, Result
from rocketmq_operator.kube import CONSOLES, DEPLOYMENTS, NAME_SERVICES, Conflict
from tests.unit.controllers.fakes import Cluster, load_sample

NS, NAME = "rocketmq", "console"
KEY = Key(NS, NAME)
STATUS = ("update", "consoles", "status", NS, NAME)
CREATE_ALL = [("create", "deployments", None, NS, NAME), ("create", "services", None, NS, NAME), STATUS]


def console(**spec: Any) -> dict[str, Any]:
    obj = load_sample("rocketmq_v1alpha1_console_cr.yaml", uid="uid-console")
    for field, value in spec.items():
        if value is None:
            obj["spec"].pop(field, None)
        else:
            obj["spec"][field] = value
    return obj


def name_service(name: str, size: int) -> dict[str, Any]:
    return {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "NameService",
            "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}"},
            "spec": {"size": size, "nameServiceImage": "apache/rocketmq:5.0.0"}}


def java_opts(deployment: dict[str, Any]) -> str:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return next(v["value"] for v in container["env"] if v["name"] == "JAVA_OPTS")


def ready_condition(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def test_a_console_with_name_servers_gets_a_deployment_then_a_service_then_status(cluster):
    cluster.seed(CONSOLES, console())
    assert cluster.console_reconciler().sync(KEY) is None
    assert cluster.api.heads() == CREATE_ALL
    address = console()["spec"]["nameServers"]
    assert java_opts(cluster.api.actions[0].body) == f"-Drocketmq.namesrv.addr={address}"
    assert cluster.api.actions[2].body["status"]["nameServers"] == address


def test_a_second_sync_over_what_the_first_created_writes_nothing(cluster):
    cluster.seed(CONSOLES, console())
    reconciler = cluster.console_reconciler()
    reconciler.sync(KEY)
    cluster.catch_up()
    cluster.api.clear()
    cluster.clock.step(3600)
    reconciler.sync(KEY)
    assert cluster.api.actions == []


def test_without_name_servers_the_namespaces_only_name_service_gives_the_address(cluster):
    cluster.seed(NAME_SERVICES, name_service("ns1", 2))
    cluster.seed(CONSOLES, console(nameServers=None))
    cluster.console_reconciler().sync(KEY)
    assert java_opts(cluster.api.actions[0].body) == (
        f"-Drocketmq.namesrv.addr=ns1-0.ns1.{NS}.svc.cluster.local:9876;ns1-1.ns1.{NS}.svc.cluster.local:9876")


def test_scaling_the_name_service_updates_the_console_deployment_once(cluster):
    cluster.seed(NAME_SERVICES, name_service("ns1", 1))
    cluster.seed(CONSOLES, console(nameServers=None))
    reconciler = cluster.console_reconciler()
    reconciler.sync(KEY)
    cluster.catch_up()
    cluster.api.clear()
    cluster.seed(NAME_SERVICES, name_service("ns1", 2))
    reconciler.sync(KEY)
    assert cluster.api.heads() == [("update", "deployments", None, NS, NAME), STATUS]
    assert "ns1-1.ns1" in java_opts(cluster.api.actions[0].body)


def test_without_name_servers_and_two_name_services_nothing_is_created_and_one_warning_is_sent(cluster):
    cluster.seed(NAME_SERVICES, name_service("ns1", 1))
    cluster.seed(NAME_SERVICES, name_service("ns2", 1))
    cluster.seed(CONSOLES, console(nameServers=None))
    reconciler = cluster.console_reconciler()
    reconciler.sync(KEY)
    assert cluster.api.heads() == [STATUS]
    condition = ready_condition(cluster.api.actions[0].body["status"])
    assert (condition["status"], condition["reason"]) == ("False", "NameServersUnknown")
    assert "(ns1, ns2)" in condition["message"]
    cluster.catch_up()
    cluster.api.clear()
    reconciler.sync(KEY)
    assert cluster.api.actions == []
    assert cluster.recorder.reasons("Warning") == ["NameServersUnknown"]


def test_a_foreign_deployment_with_the_same_name_is_left_alone_and_reported(cluster):
    cluster.seed(DEPLOYMENTS, {"apiVersion": "apps/v1", "kind": "Deployment",
                               "metadata": {"name": NAME, "namespace": NS}, "spec": {"replicas": 3}})
    cluster.seed(CONSOLES, console())
    assert cluster.console_reconciler().sync(KEY) == Result(requeue_after=CONFLICT_RECHECK)
    assert cluster.api.heads() == CREATE_ALL[1:]
    assert cluster.recorder.reasons("Warning") == ["ResourceConflict"]
    assert ready_condition(cluster.api.actions[-1].body["status"])["reason"] == "ResourceConflict"


def test_a_paused_console_gets_only_a_paused_condition(cluster):
    obj = console()
    obj["metadata"]["annotations"] = {PAUSE_ANNOTATION: "true"}
    cluster.seed(CONSOLES, obj)
    cluster.console_reconciler().sync(KEY)
    assert cluster.api.heads() == [STATUS]
    [condition] = cluster.api.actions[0].body["status"]["conditions"]
    assert (condition["type"], condition["status"]) == ("Paused", "True")


def test_a_conflict_on_the_status_write_is_swallowed(cluster):
    cluster.seed(CONSOLES, console())
    cluster.api.fail("update", CONSOLES, Conflict("modified"), subresource="status")
    assert cluster.console_reconciler().sync(KEY) is None
    assert cluster.api.heads() == CREATE_ALL


def test_a_console_that_is_gone_gives_no_actions(cluster: Cluster):
    assert cluster.console_reconciler().sync(KEY) is None
    assert cluster.api.actions == []
