"""Covers where a broker group's files live: the placement rules (table), the ConfigMaps of the largest
clusters measured as the API server receives them, a small cluster's single ConfigMap, a group with a
ConfigMap of its own, and what the running StatefulSets say each group mounts."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from rocketmq_operator.resources import brokers, configlayout, meta, model
from rocketmq_operator.resources.configlayout import JOIN, LIMIT, Placement, place

MiB = 1024 * 1024
G = 60 * 1024  # a group's files, in the table below


@pytest.mark.parametrize(("sizes", "own", "shared", "draining", "expected"), [
    # new groups join the cluster's ConfigMap while it stays under JOIN, the rest get their own
    ({g: G for g in range(12)}, set(), set(), set(), Placement(tuple(range(8)), frozenset(range(8, 12)))),
    # groups that mount the cluster's keep it while they fit under the limit, above JOIN too;
    # new ones do not join
    ({g: G for g in range(14)}, set(), set(range(12)), set(),
     Placement(tuple(range(12)), frozenset({12, 13}))),
    # past the limit the lowest-numbered stay under JOIN and the others move
    ({g: G for g in range(18)}, set(), set(range(18)), set(),
     Placement(tuple(range(8)), frozenset(range(8, 18)))),
    # ... but a group being drained stays where its pods find their files
    ({g: G for g in range(18)}, set(), set(range(18)), {17},
     Placement((*range(7), 17), frozenset(range(7, 17)))),
    # a group with a ConfigMap of its own keeps it, however much room the cluster's has
    ({0: G, 1: G, 2: G}, {1}, {0}, set(), Placement((0, 2), frozenset({1}))),
    # a group too large for any shared ConfigMap gets its own
    ({0: G, 1: JOIN}, set(), set(), set(), Placement((0,), frozenset({1}))),
])
def test_placement_keeps_running_groups_where_they_are_and_fills_the_clusters_config_map_to_half_the_limit(
        sizes, own, shared, draining, expected):
    assert place(sizes, base=5000, own=own, shared=shared, draining=draining) == expected


def _large(groups: int, members: int, mode: str, apache_dledger) -> model.BrokerClusterModel:
    properties = {f"customProperty{i:02d}": f"value-{i:02d}-" + "x" * 20 for i in range(40)}
    return replace(model.from_broker(apache_dledger), groups=groups, members_per_group=members,
                   replication_mode=mode, properties=properties)


@pytest.fixture
def apache_dledger(sample):
    return sample("rocketmq-cluster-dledger.yaml")


def _config_maps(objs):
    return [o for o in objs if o["kind"] == "ConfigMap"]


def test_every_config_map_of_a_dledger_cluster_of_100_groups_of_17_members_is_well_under_one_mebibyte(
        apache_dledger):
    m = _large(100, 17, "DLEDGER", apache_dledger)
    # all in one: 6.5 MB
    assert sum(configlayout.data_size(brokers.group_confs(m, g)) for g in range(100)) > 6 * MiB
    config_maps = _config_maps(brokers.broker_cluster_objects(m))
    sizes = {c["metadata"]["name"]: len(json.dumps(c).encode()) for c in config_maps}
    # serialized, metadata and scripts included (the cluster's: ~460 KiB)
    assert max(sizes.values()) < 0.6 * MiB
    assert len(config_maps) == 94  # the cluster's with groups 0-6, and one for each of groups 7-99
    assert sizes["rocketmq-dledger-7-config"] < 80 * 1024


def test_a_cluster_of_100_groups_of_4_members_splits_where_the_clusters_config_map_reaches_half_the_limit(
        apache_dledger):
    objs = brokers.broker_cluster_objects(_large(100, 4, "SYNC", apache_dledger))
    shared = next(c for c in _config_maps(objs) if c["metadata"]["name"] == "rocketmq-dledger-brokers")
    assert configlayout.data_size(shared["data"]) <= JOIN < LIMIT
    in_shared = {key.split("-")[1] for key in shared["data"] if key.startswith("group-")}
    own = {c["metadata"]["name"] for c in _config_maps(objs)} - {"rocketmq-dledger-brokers"}
    assert in_shared == {str(g) for g in range(len(in_shared))}
    assert own == {f"rocketmq-dledger-{g}-config" for g in range(len(in_shared), 100)}


def test_a_small_cluster_keeps_one_config_map_for_every_group_whether_new_or_running(cluster_2m_2s):
    talk = model.from_broker_cluster(cluster_2m_2s)
    running = replace(talk, shared_config_groups=frozenset({0, 1}))
    assert brokers.broker_cluster_objects(talk) == brokers.broker_cluster_objects(running)
    assert [o["metadata"]["name"] for o in _config_maps(brokers.broker_cluster_objects(talk))] == [
        "mybrokercluster-brokers"]


def test_a_group_with_a_config_map_of_its_own_mounts_it_whole_with_the_same_files_and_hash(cluster_2m_2s):
    talk = model.from_broker_cluster(cluster_2m_2s)
    objs = brokers.broker_cluster_objects(replace(talk, own_config_groups=frozenset({1})))
    assert [(o["kind"], o["metadata"]["name"]) for o in objs] == [
        ("Service", "mybrokercluster-brokers"), ("ConfigMap", "mybrokercluster-brokers"),
        ("StatefulSet", "mybrokercluster-0"), ("ConfigMap", "mybrokercluster-1-config"),
        ("StatefulSet", "mybrokercluster-1"), ("PodDisruptionBudget", "mybrokercluster-brokers")]
    assert sorted(objs[3]["data"]) == ["broker-0.conf", "broker-1.conf", "broker-probe.sh", "start-broker.sh"]
    assert not [key for key in objs[1]["data"] if key.startswith("group-1-")]
    volume = next(v for v in objs[4]["spec"]["template"]["spec"]["volumes"]
                  if v["name"] == "rocketmq-operator-config")
    assert volume["configMap"] == {"name": "mybrokercluster-1-config", "defaultMode": 0o555}
    assert objs[1]["data"]["start-broker.sh"] == objs[3]["data"]["start-broker.sh"]
    in_shared = brokers.broker_cluster_objects(talk)[-2]
    # only the volume differs: moving rolls the group once
    assert _config_hash(objs[4]) == _config_hash(in_shared)


def _config_hash(sts):
    return sts["spec"]["template"]["metadata"]["annotations"][meta.ANNOTATION_CONFIG_HASH]


def test_the_running_statefulsets_say_which_config_map_and_service_each_group_has(cluster_2m_2s):
    talk = model.from_broker_cluster(cluster_2m_2s)
    legacy = replace(talk, legacy_groups=frozenset({0}))
    own = replace(talk, own_config_groups=frozenset({2}))
    current = {0: brokers.broker_group_objects(legacy, 0)[-1], 1: brokers.broker_group_objects(talk, 1)[-1],
               2: brokers.broker_group_objects(own, 2)[-1]}
    found = configlayout.with_mounts(talk, current)
    assert (found.legacy_groups, found.own_config_groups, found.shared_config_groups) == (
        frozenset({0}), frozenset({0, 2}), frozenset({1}))
    assert configlayout.with_mounts(talk, {}) is talk
