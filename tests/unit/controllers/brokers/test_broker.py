"""Covers the Apache Broker front door through the reconciler the registry builds: broker-common.conf from
the ConfigMap of volumes[0], properties the operator overrides (a Warning once, a condition while set),
the namespace's only NameService, the Apache status fields, and the index that follows NameService users."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from rocketmq_operator.controllers.brokers.doors import BROKER_DOOR
from rocketmq_operator.controllers.runtime.refs import IMPLICIT_NAME_SERVICE, name_service_users_index
from rocketmq_operator.controllers.runtime.runner import Key
from rocketmq_operator.kube import BROKERS, CONFIG_MAPS, NAME_SERVICES
from tests.unit.controllers.fakes import Cluster

EXAMPLES = Path(__file__).resolve().parents[3] / "e2e" / "apache-examples"
NS = "default"
KEY = Key(NS, "broker")


def example_objects() -> tuple[dict[str, Any], dict[str, Any]]:
    """The Apache operator's own broker example: its ConfigMap and its Broker, unchanged."""
    docs = list(yaml.safe_load_all((EXAMPLES / "rocketmq_v1alpha1_broker_cr.yaml").read_text()))
    config_map, broker = (copy.deepcopy(d) for d in docs)
    for obj in (config_map, broker):
        obj["metadata"].update(namespace=NS, uid=f"uid-{obj['kind']}", generation=1, resourceVersion="1")
    return config_map, broker


def name_service(name: str = "name-service", size: int = 1) -> dict[str, Any]:
    return {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "NameService",
            "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}"},
            "spec": {"size": size, "nameServiceImage": "apache/rocketmq:5.3.3"}}


def seeded(cluster: Cluster, *, with_config_map: bool = True) -> dict[str, Any]:
    config_map, broker = example_objects()
    if with_config_map:
        cluster.seed(CONFIG_MAPS, config_map)
    cluster.seed(NAME_SERVICES, name_service())
    return cluster.seed(BROKERS, broker)


def created(cluster: Cluster, name: str, resource: str = "configmaps") -> dict[str, Any]:
    return next(a.body for a in cluster.api.actions
                if (a.verb, a.resource, a.name) == ("create", resource, name))


def status(cluster: Cluster) -> dict[str, Any]:
    return [a.body for a in cluster.api.actions if a.subresource == "status"][-1]["status"]


def condition(status_: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in status_.get("conditions") or () if c["type"] == type_), None)


def test_the_example_broker_takes_broker_common_conf_from_the_config_map_of_its_first_volume(cluster):
    seeded(cluster)
    cluster.broker_reconciler().sync(KEY)
    conf = created(cluster, "broker-brokers")["data"]["group-0-broker-0.conf"]
    assert "deleteWhen=04" in conf and "fileReservedTime=48" in conf and "flushDiskType=ASYNC_FLUSH" in conf
    assert "brokerRole=ASYNC_MASTER" in conf  # it restates what the operator writes for member 0


def test_editing_broker_common_conf_changes_the_group_config_and_so_the_pod_template(cluster):
    seeded(cluster)
    cluster.broker_reconciler().sync(KEY)
    cluster.catch_up()
    before = cluster.get(CONFIG_MAPS, NS, "broker-brokers")["data"]["group-0-broker-0.conf"]
    edited = cluster.get(CONFIG_MAPS, NS, "broker-config")
    edited["data"]["broker-common.conf"] += "fileReservedTime=72\n"
    edited["data"]["broker-common.conf"] = edited["data"]["broker-common.conf"].replace(
        "fileReservedTime=48\n", "")
    del edited["metadata"]["resourceVersion"]
    cluster.seed(CONFIG_MAPS, edited)
    cluster.api.clear()
    cluster.broker_reconciler().sync(KEY)
    updated = [a.name for a in cluster.api.actions if a.verb == "update" and a.subresource is None]
    # the cluster's ConfigMap, then the StatefulSet (template hash)
    assert updated == ["broker-brokers", "broker-0"]
    after = cluster.get(CONFIG_MAPS, NS, "broker-brokers")["data"]["group-0-broker-0.conf"]
    assert "fileReservedTime=48" in before and "fileReservedTime=72" in after


def test_a_missing_config_map_of_volumes_0_is_a_problem_naming_the_field_and_creates_nothing(cluster):
    seeded(cluster, with_config_map=False)
    cluster.broker_reconciler().sync(KEY)
    assert [a.subresource for a in cluster.api.actions] == ["status"]
    ready = condition(status(cluster), "Ready")
    assert (ready["reason"], ready["message"]) == (
        "ConfigMapNotFound", "spec.volumes[0].configMap: ConfigMap 'broker-config' not found")


def test_an_operator_owned_key_in_broker_common_conf_is_dropped_with_one_warning_and_a_condition(cluster):
    config_map, broker = example_objects()
    config_map["data"]["broker-common.conf"] += "listenPort=10000\n"
    cluster.seed(CONFIG_MAPS, config_map)
    cluster.seed(NAME_SERVICES, name_service())
    cluster.seed(BROKERS, broker)
    cluster.broker_reconciler().sync(KEY)
    conf = created(cluster, "broker-brokers")["data"]["group-0-broker-0.conf"]
    assert "listenPort" not in conf
    assert cluster.recorder.reasons("Warning") == ["Overridden"]
    assert "listenPort" in cluster.recorder.events[0].message
    ignored = condition(status(cluster), "Overridden")
    assert ignored["status"] == "True" and "listenPort" in ignored["message"]
    cluster.catch_up()
    cluster.recorder.events.clear()
    cluster.broker_reconciler().sync(KEY)
    assert cluster.recorder.reasons("Warning") == []


def test_the_seed_dledger_manifest_with_a_broker_role_is_accepted_and_the_role_ignored(cluster):
    config_map, broker = example_objects()
    broker["spec"].update(replicationMode="DLEDGER", replicaPerGroup=3)
    cluster.seed(CONFIG_MAPS, config_map)
    cluster.seed(NAME_SERVICES, name_service())
    cluster.seed(BROKERS, broker)
    cluster.broker_reconciler().sync(KEY)
    sts = created(cluster, "broker-0", "statefulsets")
    assert sts["spec"]["replicas"] == 3
    assert "brokerRole" not in created(cluster, "broker-brokers")["data"]["group-0-broker-0.conf"]
    assert "brokerRole" in condition(status(cluster), "Overridden")["message"]


def test_an_empty_name_servers_uses_the_namespaces_only_name_service_and_reports_apache_fields(cluster):
    seeded(cluster)
    cluster.broker_reconciler().sync(KEY)
    address = "name-service-0.name-service.default.svc.cluster.local:9876"
    assert f"namesrvAddr={address}" in created(cluster, "broker-brokers")["data"]["group-0-broker-0.conf"]
    status_ = status(cluster)
    assert status_["nameServers"] == address
    assert status_["size"] == 1 and status_["nodes"] == []


def test_two_name_services_and_an_empty_name_servers_is_a_problem_that_names_both(cluster):
    seeded(cluster)
    cluster.seed(NAME_SERVICES, name_service("other"))
    cluster.broker_reconciler().sync(KEY)
    ready = condition(status(cluster), "Ready")
    assert ready["reason"] == "NameServiceNotFound" and "(name-service, other)" in ready["message"]


def test_a_broker_without_name_servers_is_indexed_as_a_user_of_the_namespaces_name_service():
    _, broker = example_objects()
    index = name_service_users_index(BROKER_DOOR.name_service_key)
    assert index(broker) == [f"{NS}/{IMPLICIT_NAME_SERVICE}"]
    del broker["spec"]["nameServers"]  # omitted altogether: the same
    assert index(broker) == [f"{NS}/{IMPLICIT_NAME_SERVICE}"]
    broker["spec"]["nameServers"] = "10.0.0.1:9876"
    assert index(broker) == []
