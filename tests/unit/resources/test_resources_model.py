"""Covers the model front doors: BrokerCluster and Apache Broker mapping, NameService, reported problems."""

from __future__ import annotations

import pytest

from rocketmq_operator.resources import model
from rocketmq_operator.resources.modelparts import Problem


def _fields(problems: tuple[Problem, ...]) -> list[str]:
    return [p.field for p in problems]


def test_the_talks_2m_2s_cluster_is_two_groups_of_a_sync_master_and_a_slave(cluster_2m_2s):
    m = model.from_broker_cluster(cluster_2m_2s)
    assert (m.name, m.namespace, m.parent.uid) == ("mybrokercluster", "rocketmq-operator", "uid-1234")
    assert (m.groups, m.members_per_group, m.replication_mode) == (2, 2, "SYNC")
    assert m.master_role == "SYNC_MASTER"
    assert m.cluster_name == "DefaultCluster"
    assert m.image == "huanwei/rocketmq-broker:4.3.0-operator"
    assert m.name_server_address == "10.10.103.181:9876;10.10.101.98:9876"
    assert m.storage.mode == "EmptyDir"
    assert m.problems == ()


def test_seed_000s_broker_maps_size_to_groups_and_takes_its_names_from_properties(apache_broker):
    m = model.from_broker(apache_broker)
    assert (m.parent.kind, m.parent.api_version) == ("Broker", "rocketmq.apache.org/v1alpha1")
    assert (m.groups, m.members_per_group) == (3, 1)
    assert m.cluster_name == "DefaultCluster"
    assert m.replication_mode == "ASYNC"  # from properties.brokerRole: ASYNC_MASTER
    assert m.image_pull_policy == "IfNotPresent"
    assert m.pod.resources["limits"] == {"memory": "4Gi", "cpu": "2"}
    assert m.pod.env == ({"name": "JAVA_OPT_EXT", "value": "-Xms2g -Xmx2g -Xmn1g"},)
    assert m.storage.mode == "StorageClass" and m.storage.volume_name == "broker-storage"
    assert m.metadata_source_pod == "broker-0"
    assert m.allow_restart is True


def test_seed_000s_restated_identity_properties_are_not_problems(apache_broker):
    m = model.from_broker(apache_broker)
    assert m.problems == ()
    assert dict(m.properties) == {
        "flushDiskType": "ASYNC_FLUSH",
        "deleteWhen": "04",
        "fileReservedTime": "48",
    }


def test_replica_per_group_counts_slaves_so_a_group_has_one_more_member(apache_broker, with_spec):
    m = model.from_broker(with_spec(apache_broker, replicaPerGroup=2))
    assert m.members_per_group == 3


def test_in_dledger_mode_replica_per_group_is_the_dledger_group_size(apache_broker, with_spec):
    m = model.from_broker(with_spec(apache_broker, replicaPerGroup=3, replicationMode="DLEDGER"))
    assert (m.members_per_group, m.dledger, m.master_role) == (3, True, None)
    assert "spec.properties.brokerRole" in _fields(m.problems)  # ASYNC_MASTER means nothing to DLedger


def test_broker_role_sync_master_in_properties_means_sync_replication(apache_broker):
    apache_broker["spec"]["properties"]["brokerRole"] = "SYNC_MASTER"
    m = model.from_broker(apache_broker)
    assert (m.replication_mode, m.master_role, m.problems) == ("SYNC", "SYNC_MASTER", ())


def test_a_broker_role_that_contradicts_replication_mode_is_reported(apache_broker, with_spec):
    m = model.from_broker(with_spec(apache_broker, replicationMode="SYNC"))
    assert _fields(m.problems) == ["spec.properties.brokerRole"]
    assert "ASYNC_MASTER" in m.problems[0].message and "SYNC_MASTER" in m.problems[0].message
    assert "brokerRole" not in m.properties


@pytest.mark.parametrize("key", ["brokerName", "brokerId", "brokerIP1", "dLegerSelfId"])
def test_per_broker_keys_in_properties_are_reported_and_not_applied(cluster_2m_2s, with_spec, key):
    m = model.from_broker_cluster(with_spec(cluster_2m_2s, properties={key: "x", "other": "y"}))
    assert _fields(m.problems) == [f"spec.properties.{key}"]
    assert dict(m.properties) == {"other": "y"}


def test_a_cluster_name_property_that_differs_from_the_cluster_name_is_a_clash(cluster_2m_2s, with_spec):
    m = model.from_broker_cluster(with_spec(cluster_2m_2s, properties={"brokerClusterName": "Other"}))
    assert _fields(m.problems) == ["spec.properties.brokerClusterName"]
    assert m.cluster_name == "DefaultCluster"


def test_the_cluster_name_comes_from_spec_cluster_name(cluster_2m_2s, with_spec):
    m = model.from_broker_cluster(with_spec(cluster_2m_2s, clusterName="Orders"))
    assert m.cluster_name == "Orders"


def test_a_namesrv_addr_property_clashing_with_name_servers_is_reported(cluster_2m_2s, with_spec):
    m = model.from_broker_cluster(with_spec(cluster_2m_2s, properties={"namesrvAddr": "1.2.3.4:9876"}))
    assert _fields(m.problems) == ["spec.properties.namesrvAddr"]


def test_a_namesrv_addr_property_is_the_address_when_nothing_else_gives_one(cluster_2m_2s, with_spec):
    obj = with_spec(cluster_2m_2s, nameServers=None, properties={"namesrvAddr": "1.2.3.4:9876"})
    m = model.from_broker_cluster(obj)
    assert (m.name_server_address, m.problems) == ("1.2.3.4:9876", ())


def test_non_scalar_and_badly_named_properties_are_reported(cluster_2m_2s, with_spec):
    m = model.from_broker_cluster(
        with_spec(cluster_2m_2s, properties={"a": [1], "b c": "x", "n": 3, "t": True})
    )
    assert sorted(_fields(m.problems)) == ["spec.properties.a", "spec.properties.b c"]
    assert dict(m.properties) == {"n": "3", "t": "true"}


def test_problems_are_data_and_never_raised(cluster_2m_2s, with_spec):
    obj = with_spec(
        cluster_2m_2s, replicationMode="DLEDGER", membersPerGroup=2, allMaster=True, brokerImage=""
    )
    m = model.from_broker_cluster(obj)
    assert {"spec", "spec.allMaster", "spec.brokerImage"} <= set(_fields(m.problems))
    assert all(str(p).startswith(p.field) for p in m.problems)


def test_name_service_ref_resolves_to_the_stable_dns_names_of_its_pods(
    cluster_2m_2s, with_spec, name_service
):
    obj = with_spec(cluster_2m_2s, nameServers=None, nameServiceRef={"name": "rocketmq-nameserver"})
    obj["metadata"]["namespace"] = "rocketmq"
    m = model.from_broker_cluster(obj, name_service=name_service)
    host = "rocketmq-nameserver-{}.rocketmq-nameserver.rocketmq.svc.cluster.local:9876"
    assert m.name_server_address == f"{host.format(0)};{host.format(1)}"
    assert m.problems == ()


def test_a_missing_name_service_is_a_problem(cluster_2m_2s, with_spec):
    obj = with_spec(cluster_2m_2s, nameServers=None, nameServiceRef={"name": "gone"})
    m = model.from_broker_cluster(obj, name_service=None)
    assert _fields(m.problems) == ["spec.nameServiceRef"]
    assert m.name_server_address == ""


def test_a_broker_without_name_servers_uses_the_name_service_given(apache_broker, with_spec, name_service):
    m = model.from_broker(with_spec(apache_broker, nameServers=""), name_service=name_service)
    assert m.name_server_address.startswith("rocketmq-nameserver-0.rocketmq-nameserver.rocketmq.svc")


def test_config_map_properties_apply_under_spec_properties(cluster_2m_2s, with_spec):
    config_map = {"data": {"broker.conf": "a=1\n# comment\nb = 2\n", "b": "3", "c": "4"}}
    obj = with_spec(cluster_2m_2s, config={"name": "cm"}, properties={"c": "5"})
    m = model.from_broker_cluster(obj, config_map=config_map)
    assert dict(m.properties) == {"a": "1", "b": "3", "c": "5"}


def test_storage_class_mode_takes_the_talks_single_claim_template(cluster_2m_2s, with_spec):
    claim = {"spec": {"resources": {"requests": {"storage": "1Gi"}}}}
    m = model.from_broker_cluster(with_spec(cluster_2m_2s, volumeClaimTemplate=claim))
    assert m.storage.mode == "StorageClass"
    assert m.storage.claim_templates[0]["metadata"] == {"name": "broker-storage"}


def test_storage_modes_without_their_inputs_are_reported_and_fall_back_to_empty_dir(apache_broker, with_spec):
    m = model.from_broker(with_spec(apache_broker, storageMode="HostPath", hostPath=""))
    assert (m.storage.mode, _fields(m.problems)) == ("EmptyDir", ["spec.hostPath"])


def test_retention_policy_and_group_scale_down_are_read(cluster_2m_2s, with_spec):
    obj = with_spec(
        cluster_2m_2s,
        persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete"},
        allowGroupScaleDown=True,
    )
    m = model.from_broker_cluster(obj)
    assert (m.storage.retention.when_deleted, m.storage.retention.when_scaled) == ("Delete", "Retain")
    assert m.allow_group_scale_down is True


def test_controller_mode_brokers_are_reported_as_unsupported(apache_broker, with_spec):
    m = model.from_broker(with_spec(apache_broker, clusterMode="CONTROLLER"))
    assert "spec.clusterMode" in _fields(m.problems)


def test_seed_000s_name_service_is_two_name_servers_with_stable_addresses(name_service):
    m = model.from_name_service(name_service)
    assert (m.name, m.size, m.image, m.pod.dns_policy, m.pod.host_network) == (
        "rocketmq-nameserver",
        2,
        "apache/rocketmq:5.0.0",
        "ClusterFirst",
        False,
    )
    assert (
        m.address.split(";")[1] == "rocketmq-nameserver-1.rocketmq-nameserver.rocketmq.svc.cluster.local:9876"
    )
    assert m.problems == ()
