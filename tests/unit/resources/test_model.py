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


def test_seed_000_6_1_dledger_with_a_broker_role_property_is_accepted_and_the_role_noted(
    apache_broker, with_spec
):
    m = model.from_broker(with_spec(apache_broker, replicaPerGroup=3, replicationMode="DLEDGER"))
    assert m.problems == ()
    assert _fields(m.notes) == ["spec.properties.brokerRole"]  # ASYNC_MASTER means nothing to DLedger
    assert "brokerRole=ASYNC_MASTER" in m.notes[0].message and "DLEDGER" in m.notes[0].message
    assert "brokerRole" not in m.properties


def test_broker_role_sync_master_in_properties_means_sync_replication(apache_broker):
    apache_broker["spec"]["properties"]["brokerRole"] = "SYNC_MASTER"
    m = model.from_broker(apache_broker)
    assert (m.replication_mode, m.master_role, m.problems) == ("SYNC", "SYNC_MASTER", ())


def test_a_broker_role_that_contradicts_replication_mode_is_dropped_with_a_note(apache_broker, with_spec):
    m = model.from_broker(with_spec(apache_broker, replicationMode="SYNC"))
    assert (m.problems, _fields(m.notes)) == ((), ["spec.properties.brokerRole"])
    assert "brokerRole=ASYNC_MASTER ignored" in m.notes[0].message
    assert "brokerRole=SYNC_MASTER" in m.notes[0].message  # the value the operator writes instead
    assert "brokerRole" not in m.properties


@pytest.mark.parametrize("key", ["brokerName", "brokerId", "brokerIP1", "dLegerSelfId"])
def test_per_broker_keys_in_properties_are_noted_and_not_applied(cluster_2m_2s, with_spec, key):
    m = model.from_broker_cluster(with_spec(cluster_2m_2s, properties={key: "x", "other": "y"}))
    assert (m.problems, _fields(m.notes)) == ((), [f"spec.properties.{key}"])
    assert key in m.notes[0].message
    assert dict(m.properties) == {"other": "y"}


def test_a_cluster_name_property_that_differs_from_the_cluster_name_is_noted(cluster_2m_2s, with_spec):
    m = model.from_broker_cluster(with_spec(cluster_2m_2s, properties={"brokerClusterName": "Other"}))
    assert (m.problems, _fields(m.notes)) == ((), ["spec.properties.brokerClusterName"])
    assert "brokerClusterName=DefaultCluster" in m.notes[0].message
    assert m.cluster_name == "DefaultCluster"


def test_the_cluster_name_comes_from_spec_cluster_name(cluster_2m_2s, with_spec):
    m = model.from_broker_cluster(with_spec(cluster_2m_2s, clusterName="Orders"))
    assert m.cluster_name == "Orders"


def test_a_namesrv_addr_property_clashing_with_name_servers_is_noted(cluster_2m_2s, with_spec):
    m = model.from_broker_cluster(with_spec(cluster_2m_2s, properties={"namesrvAddr": "1.2.3.4:9876"}))
    assert (m.problems, _fields(m.notes)) == ((), ["spec.properties.namesrvAddr"])
    assert m.name_server_address == "10.10.103.181:9876;10.10.101.98:9876"


def test_a_store_path_property_is_noted_because_the_store_must_be_on_the_volume(cluster_2m_2s, with_spec):
    m = model.from_broker_cluster(with_spec(cluster_2m_2s, properties={"storePathRootDir": "/tmp/x"}))
    assert _fields(m.notes) == ["spec.properties.storePathRootDir"]
    assert "/home/rocketmq/store" in m.notes[0].message
    assert "storePathRootDir" not in m.properties


def test_restating_the_store_path_is_neither_noted_nor_applied(cluster_2m_2s, with_spec):
    props = {"storePathRootDir": "/home/rocketmq/store"}
    m = model.from_broker_cluster(with_spec(cluster_2m_2s, properties=props))
    assert (m.notes, m.problems, dict(m.properties)) == ((), (), {})


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


# The Apache operator's example Broker (example/rocketmq_v1alpha1_broker_cr.yaml), as the API returns it.
APACHE_BROKER_COMMON = """\
# brokerClusterName, brokerName, brokerId are automatically generated by the operator
deleteWhen=04
fileReservedTime=48
flushDiskType=ASYNC_FLUSH
brokerRole=ASYNC_MASTER
"""


def _apache_example_broker(**spec_changes):
    spec = {
        "size": 1,
        "nameServers": "",
        "replicaPerGroup": 1,
        "brokerImage": "apacherocketmq/rocketmq-broker:4.5.0-alpine-operator-0.3.0",
        "storageMode": "HostPath",
        "hostPath": "/data/rocketmq/broker",
        "volumes": [
            {
                "name": "broker-config",
                "configMap": {
                    "name": "broker-config",
                    "items": [{"key": "broker-common.conf", "path": "broker-common.conf"}],
                },
            }
        ],
        **spec_changes,
    }
    return {"metadata": {"name": "broker", "namespace": "default", "uid": "u"}, "spec": spec}


def _broker_config(text=APACHE_BROKER_COMMON, key="broker-common.conf"):
    return {"metadata": {"name": "broker-config"}, "data": {"BROKER_MEM": " -Xms2g ", key: text}}


@pytest.mark.parametrize(
    ("volumes", "name"),
    [
        ([{"name": "v", "configMap": {"name": "cm"}}], "cm"),
        ([{"name": "v", "emptyDir": {}}, {"name": "w", "configMap": {"name": "cm"}}], None),  # only [0]
        ([], None),
        (None, None),
    ],
)
def test_the_broker_common_config_map_is_the_config_map_of_the_first_volume(volumes, name):
    assert model.broker_common_config_map_name({"volumes": volumes}) == name


def test_broker_common_conf_from_the_first_volumes_config_map_gives_the_properties():
    m = model.from_broker(_apache_example_broker(), config_map=_broker_config())
    assert m.problems == ()
    assert dict(m.properties) == {
        "deleteWhen": "04",
        "fileReservedTime": "48",
        "flushDiskType": "ASYNC_FLUSH",
    }
    assert (m.replication_mode, m.master_role) == ("ASYNC", "ASYNC_MASTER")  # from the file's brokerRole


def test_broker_common_conf_is_found_by_the_items_path_whatever_its_key():
    obj = _apache_example_broker()
    obj["spec"]["volumes"][0]["configMap"]["items"] = [{"key": "my.conf", "path": "broker-common.conf"}]
    m = model.from_broker(obj, config_map=_broker_config("fileReservedTime=12\n", key="my.conf"))
    assert m.properties["fileReservedTime"] == "12"


def test_spec_properties_win_over_broker_common_conf():
    obj = _apache_example_broker(properties={"fileReservedTime": "96"})
    m = model.from_broker(obj, config_map=_broker_config())
    assert m.properties["fileReservedTime"] == "96"


def test_a_managed_key_in_broker_common_conf_is_noted_where_it_is():
    obj = _apache_example_broker(replicationMode="DLEDGER", replicaPerGroup=3)
    m = model.from_broker(obj, config_map=_broker_config())
    assert m.problems == ()
    assert _fields(m.notes) == ["configmap/broker-config[broker-common.conf].brokerRole"]


def test_a_bad_value_in_broker_common_conf_is_a_problem_where_it_is():
    m = model.from_broker(_apache_example_broker(), config_map=_broker_config("flushDiskType=SYNC\n"))
    assert _fields(m.problems) == ["configmap/broker-config[broker-common.conf].flushDiskType"]
    assert "ASYNC_FLUSH, SYNC_FLUSH" in m.problems[0].message


def test_a_missing_broker_common_config_map_is_a_problem_unless_optional():
    assert _fields(model.from_broker(_apache_example_broker()).problems) == ["spec.volumes[0].configMap"]
    obj = _apache_example_broker()
    obj["spec"]["volumes"][0]["configMap"]["optional"] = True
    assert model.from_broker(obj).problems == ()


def test_well_known_properties_with_bad_values_are_problems(cluster_2m_2s, with_spec):
    props = {"flushDiskType": "SYNC", "deleteWhen": "4am", "autoCreateTopicEnable": "yes"}
    m = model.from_broker_cluster(with_spec(cluster_2m_2s, properties=props))
    assert sorted(_fields(m.problems)) == [
        "spec.properties.autoCreateTopicEnable",
        "spec.properties.deleteWhen",
        "spec.properties.flushDiskType",
    ]


def test_a_broker_reads_allow_group_scale_down(apache_broker, with_spec):
    assert model.from_broker(apache_broker).allow_group_scale_down is False
    assert (
        model.from_broker(with_spec(apache_broker, allowGroupScaleDown=True)).allow_group_scale_down is True
    )


def test_the_apache_examples_broker_config_volume_no_longer_clashes_with_the_operators():
    m = model.from_broker(_apache_example_broker(), config_map=_broker_config())
    assert m.problems == ()


@pytest.mark.parametrize(
    ("volumes", "problem_at"),
    [
        ([{"name": "rocketmq-operator-config", "emptyDir": {}}], ["spec.volumes[0].name"]),
        ([{"name": "rocketmq-operator-run", "emptyDir": {}}], ["spec.volumes[0].name"]),
        (
            [{"name": "x", "emptyDir": {}}, {"name": "broker-storage", "emptyDir": {}}],
            ["spec.volumes[1].name"],
        ),
        ([{"name": "x", "emptyDir": {}}, {"name": "x", "emptyDir": {}}], ["spec.volumes[1].name"]),
        ([{"emptyDir": {}}], ["spec.volumes[0].name"]),
        ([{"name": "mine", "emptyDir": {}}], []),
    ],
)
def test_user_volumes_that_would_make_the_pod_spec_invalid_are_problems(
    apache_broker, with_spec, volumes, problem_at
):
    m = model.from_broker(with_spec(apache_broker, volumes=volumes))
    assert _fields(m.problems) == problem_at


@pytest.mark.parametrize(
    ("env", "problems", "notes"),
    [
        ([{"name": "POD_IP", "value": "1.2.3.4"}], ["spec.env[0].name"], []),
        ([{"name": "BROKER_CONF_DIR", "value": "/x"}], ["spec.env[0].name"], []),
        ([{"name": "HEAP_OPTS", "value": "-Xmx1g"}], [], []),  # a knob: the user's wins
        ([{"name": "A", "value": "1"}, {"name": "A", "value": "2"}], [], ["spec.env[1].name"]),
    ],
)
def test_user_env_named_like_the_operators_is_refused_and_twice_given_is_noted(
    apache_broker, with_spec, env, problems, notes
):
    m = model.from_broker(with_spec(apache_broker, env=env))
    assert (_fields(m.problems), _fields(m.notes)) == (problems, notes)


def test_a_name_server_refuses_downward_api_env_but_not_broker_ones(name_service, with_spec):
    env = [{"name": "POD_NAME", "value": "x"}, {"name": "BROKER_CONF_DIR", "value": "/x"}]
    m = model.from_name_service(with_spec(name_service, env=env))
    assert _fields(m.problems) == ["spec.env[0].name"]
