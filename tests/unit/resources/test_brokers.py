"""Covers the broker builders: the cluster's headless Service and PodDisruptionBudget, per-group ConfigMap and
StatefulSet, and the own Service of a group created before one Service served the cluster."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from rocketmq_operator.resources import brokers, meta, model

OWNER = {
    "apiVersion": "rocketmq.huanwei.io/v1alpha1",
    "kind": "BrokerCluster",
    "name": "mybrokercluster",
    "uid": "uid-1234",
    "controller": True,
    "blockOwnerDeletion": True,
}


@pytest.fixture
def talk_model(cluster_2m_2s):
    return model.from_broker_cluster(cluster_2m_2s)


def _by_kind(objs):
    return {(o["kind"], o["metadata"]["name"]) for o in objs}


def _container(sts):
    return sts["spec"]["template"]["spec"]["containers"][0]


def test_the_cluster_gets_one_service_config_map_and_budget_and_each_group_a_statefulset(talk_model):
    objs = brokers.broker_cluster_objects(talk_model)
    assert [o["kind"] for o in objs] == ["Service", "ConfigMap", "StatefulSet", "StatefulSet",
                                         "PodDisruptionBudget"]
    assert _by_kind(objs) == {
        ("Service", "mybrokercluster-brokers"),
        ("ConfigMap", "mybrokercluster-brokers"),
        ("StatefulSet", "mybrokercluster-0"),
        ("StatefulSet", "mybrokercluster-1"),
        ("PodDisruptionBudget", "mybrokercluster-brokers"),
    }


def test_each_group_mounts_its_own_members_files_from_the_clusters_config_map(talk_model):
    cm = brokers.cluster_config_map(talk_model, [0, 1])
    assert sorted(cm["data"]) == ["broker-probe.sh", "group-0-broker-0.conf", "group-0-broker-1.conf",
                                  "group-1-broker-0.conf", "group-1-broker-1.conf", "start-broker.sh"]
    assert "brokerName=broker-1" in cm["data"]["group-1-broker-0.conf"]
    sts = brokers.broker_group_objects(talk_model, 1)[-1]
    volume = next(v for v in sts["spec"]["template"]["spec"]["volumes"]
                  if v["name"] == "rocketmq-operator-config")
    assert volume["configMap"]["name"] == "mybrokercluster-brokers"
    assert {i["key"]: i["path"] for i in volume["configMap"]["items"]} == {
        "group-1-broker-0.conf": "broker-0.conf", "group-1-broker-1.conf": "broker-1.conf",
        "start-broker.sh": "start-broker.sh", "broker-probe.sh": "broker-probe.sh"}


def test_a_draining_group_keeps_its_files_in_the_clusters_config_map(talk_model):
    one_group = replace(talk_model, groups=1)
    data = next(o for o in brokers.broker_cluster_objects(one_group, draining=(1,))
                if o["kind"] == "ConfigMap")["data"]
    assert "group-1-broker-0.conf" in data


def test_the_template_hash_is_the_same_whichever_config_map_carries_the_files(talk_model):
    def template_hash(m):
        sts = brokers.broker_group_objects(m, 0)[-1]
        return sts["spec"]["template"]["metadata"]["annotations"][meta.ANNOTATION_CONFIG_HASH]

    assert template_hash(talk_model) == template_hash(replace(talk_model, legacy_groups=frozenset({0})))
    assert template_hash(talk_model) == brokers.config_hash(brokers.broker_config_map(talk_model, 0))


def test_a_group_created_with_its_own_service_keeps_it_and_its_pods_dns_names(talk_model):
    legacy = replace(talk_model, legacy_groups=frozenset({0}))
    objs = brokers.broker_cluster_objects(legacy)
    kinds = _by_kind(objs)
    assert {("Service", "mybrokercluster-0"), ("ConfigMap", "mybrokercluster-0-config")} <= kinds
    assert ("Service", "mybrokercluster-1") not in kinds and (
        "ConfigMap", "mybrokercluster-1-config") not in kinds
    sets = {o["metadata"]["name"]: o["spec"]["serviceName"] for o in objs if o["kind"] == "StatefulSet"}
    assert sets == {"mybrokercluster-0": "mybrokercluster-0", "mybrokercluster-1": "mybrokercluster-brokers"}
    own = brokers.broker_service(legacy, 0)
    assert own["spec"]["selector"]["rocketmq.apache.org/group"] == "0"
    legacy_volume = next(v for v in objs[-3]["spec"]["template"]["spec"]["volumes"]
                         if v["name"] == "rocketmq-operator-config")
    assert legacy_volume["configMap"] == {"name": "mybrokercluster-0-config", "defaultMode": 0o555}
    shared = next(o for o in objs
                  if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "mybrokercluster-brokers")
    assert not [k for k in shared["data"] if k.startswith("group-0-")]


def test_every_object_is_owned_by_the_cluster_and_carries_the_standard_labels(talk_model):
    for obj in brokers.broker_cluster_objects(talk_model):
        assert obj["metadata"]["namespace"] == "rocketmq-operator"
        assert obj["metadata"]["ownerReferences"] == [OWNER]
        labels = obj["metadata"]["labels"]
        assert labels[meta.LABEL_NAME] == "rocketmq"
        assert labels[meta.LABEL_INSTANCE] == "mybrokercluster"
        assert labels[meta.LABEL_MANAGED_BY] == "rocketmq-operator"


def test_the_cluster_resources_own_labels_are_copied_but_never_override_ours(cluster_2m_2s):
    cluster_2m_2s["metadata"]["labels"] = {"team": "payments", "app": "mine"}
    sts = brokers.broker_statefulset(model.from_broker_cluster(cluster_2m_2s), 0, config_hash="h")
    assert sts["metadata"]["labels"]["team"] == "payments"
    assert sts["metadata"]["labels"]["app"] == "rocketmq-broker"


def test_the_statefulset_runs_the_group_members_behind_its_headless_service(talk_model):
    sts = brokers.broker_statefulset(talk_model, 1, config_hash="h")
    spec = sts["spec"]
    assert (spec["replicas"], spec["serviceName"]) == (2, "mybrokercluster-brokers")
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["selector"]["matchLabels"] == {
        "app": "rocketmq-broker",
        "rocketmq.apache.org/cluster": "mybrokercluster",
        "rocketmq.apache.org/group": "1",
    }
    pod_labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pod_labels[meta.LABEL_MANAGED_BY] == "rocketmq-operator"


def test_the_broker_container_starts_through_the_script_with_pod_ip_and_a_registration_probe(talk_model):
    container = _container(brokers.broker_statefulset(talk_model, 0, config_hash="h"))
    assert container["image"] == "huanwei/rocketmq-broker:4.3.0-operator"
    assert container["command"] == ["/bin/sh", "/etc/rocketmq-operator/start-broker.sh"]
    assert "bash /etc/rocketmq-operator/broker-probe.sh ready" in (
        container["readinessProbe"]["exec"]["command"][-1])
    assert "bash /etc/rocketmq-operator/broker-probe.sh alive" in (
        container["livenessProbe"]["exec"]["command"][-1])
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert [p["containerPort"] for p in container["ports"]] == [10911, 10909, 10912]


def test_members_of_a_group_are_spread_over_nodes_by_default(talk_model):
    pod_spec = brokers.broker_statefulset(talk_model, 0, config_hash="h")["spec"]["template"]["spec"]
    term = pod_spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"]["rocketmq.apache.org/group"] == "0"


def test_a_user_affinity_replaces_the_default_spread(cluster_2m_2s, with_spec):
    affinity = {"nodeAffinity": {"x": 1}}
    m = model.from_broker_cluster(with_spec(cluster_2m_2s, affinity=affinity))
    assert (
        brokers.broker_statefulset(m, 0, config_hash="h")["spec"]["template"]["spec"]["affinity"] == affinity
    )


def test_pod_options_are_passed_through(apache_broker, with_spec):
    obj = with_spec(
        apache_broker,
        tolerations=[{"key": "k", "operator": "Exists"}],
        nodeSelector={"disk": "ssd"},
        imagePullSecrets=[{"name": "reg"}],
        podAnnotations={"a": "b"},
        priorityClassName="high",
        securityContext={"runAsUser": 1000},
    )
    sts = brokers.broker_statefulset(model.from_broker(obj), 0, config_hash="h")
    pod_spec = sts["spec"]["template"]["spec"]
    assert pod_spec["tolerations"] == [{"key": "k", "operator": "Exists"}]
    assert pod_spec["nodeSelector"] == {"disk": "ssd"}
    assert pod_spec["imagePullSecrets"] == [{"name": "reg"}]
    assert pod_spec["priorityClassName"] == "high"
    assert pod_spec["securityContext"] == {"runAsUser": 1000}
    assert sts["spec"]["template"]["metadata"]["annotations"]["a"] == "b"
    assert _container(sts)["resources"]["requests"] == {"memory": "2Gi", "cpu": "1"}


def test_the_config_map_holds_each_members_conf_the_start_script_and_the_readiness_check(talk_model):
    cm = brokers.broker_config_map(talk_model, 0)
    assert sorted(cm["data"]) == ["broker-0.conf", "broker-1.conf", "broker-probe.sh", "start-broker.sh"]
    assert cm["data"]["start-broker.sh"].startswith("#!/bin/sh")
    assert cm["data"]["broker-probe.sh"].startswith("#!/bin/bash")
    assert "brokerRole=SLAVE" in cm["data"]["broker-1.conf"]


def test_a_config_change_changes_the_pod_template_hash(cluster_2m_2s, with_spec):
    def template_hash(obj):
        sts = brokers.broker_group_objects(model.from_broker_cluster(obj), 0)[-1]
        return sts["spec"]["template"]["metadata"]["annotations"][meta.ANNOTATION_CONFIG_HASH]

    before = template_hash(cluster_2m_2s)
    assert template_hash(cluster_2m_2s) == before
    assert template_hash(with_spec(cluster_2m_2s, properties={"fileReservedTime": "72"})) != before


def test_the_headless_service_publishes_not_ready_members(talk_model):
    svc = brokers.cluster_service(talk_model)
    assert svc["spec"]["selector"] == brokers.cluster_selector(talk_model)
    assert "rocketmq.apache.org/group" not in svc["spec"]["selector"]
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["publishNotReadyAddresses"] is True
    assert [p["port"] for p in svc["spec"]["ports"]] == [10911, 10909, 10912]


def test_dledger_groups_also_expose_the_dledger_port(sample):
    m = model.from_broker(sample("rocketmq-cluster-dledger.yaml"))
    assert [p["port"] for p in brokers.broker_service(m, 0)["spec"]["ports"]][-1] == 40911
    assert brokers.broker_statefulset(m, 0, config_hash="h")["spec"]["replicas"] == 3


def test_the_pdb_lets_one_broker_of_the_cluster_go_at_a_time(talk_model):
    pdb = brokers.cluster_pdb(talk_model)
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == brokers.cluster_selector(talk_model)
    assert "rocketmq.apache.org/group" not in pdb["spec"]["selector"]["matchLabels"]


def test_storage_class_mode_adds_claim_templates_and_the_retention_policy(apache_broker, with_spec):
    obj = with_spec(apache_broker, persistentVolumeClaimRetentionPolicy={"whenScaled": "Delete"})
    sts = brokers.broker_statefulset(model.from_broker(obj), 0, config_hash="h")
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "broker-storage"
    assert claim["spec"]["storageClassName"] == "rocketmq-storage"
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Delete",
    }
    volumes = [v["name"] for v in sts["spec"]["template"]["spec"]["volumes"]]
    assert "broker-storage" not in volumes  # the claim template provides it
    mounts = {m["mountPath"]: m for m in _container(sts)["volumeMounts"]}
    assert mounts["/home/rocketmq/store"] == {
        "name": "broker-storage",
        "mountPath": "/home/rocketmq/store",
        "subPath": "store",
    }


def test_host_path_mode_gives_each_pod_its_own_directory(apache_broker, with_spec):
    obj = with_spec(apache_broker, storageMode="HostPath", hostPath="/data/rocketmq")
    sts = brokers.broker_statefulset(model.from_broker(obj), 0, config_hash="h")
    assert "volumeClaimTemplates" not in sts["spec"]
    volume = next(v for v in sts["spec"]["template"]["spec"]["volumes"] if v["name"] == "broker-storage")
    assert volume["hostPath"] == {"path": "/data/rocketmq", "type": "DirectoryOrCreate"}
    store = next(m for m in _container(sts)["volumeMounts"] if m["mountPath"] == "/home/rocketmq/store")
    assert store["subPathExpr"] == "$(POD_NAME)/store"


def test_empty_dir_mode_uses_an_empty_dir_volume(talk_model):
    sts = brokers.broker_statefulset(talk_model, 0, config_hash="h")
    volume = next(v for v in sts["spec"]["template"]["spec"]["volumes"] if v["name"] == "broker-storage")
    assert volume == {"name": "broker-storage", "emptyDir": {}}


def test_builders_do_not_share_mutable_state_with_the_model(apache_broker):
    m = model.from_broker(apache_broker)
    sts = brokers.broker_statefulset(m, 0, config_hash="h")
    _container(sts)["resources"]["requests"]["cpu"] = "99"
    _container(sts)["env"].append({"name": "X"})
    assert m.pod.resources["requests"]["cpu"] == "1"
    assert len(m.pod.env) == 1


def test_a_cluster_that_does_not_allow_restarts_holds_its_pods_with_the_partition(talk_model):
    from dataclasses import replace

    held = replace(talk_model, allow_restart=False)
    spec = brokers.broker_statefulset(held, 0, config_hash="h")["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}


def test_the_pod_spec_keeps_the_users_volume_beside_the_operators_under_distinct_names(
    apache_broker, with_spec
):
    volume = {"name": "broker-config", "configMap": {"name": "broker-config"}}
    m = model.from_broker(with_spec(apache_broker, volumes=[volume], storageMode="EmptyDir"))
    pod_spec = brokers.broker_statefulset(m, 0, config_hash="h")["spec"]["template"]["spec"]
    names = [v["name"] for v in pod_spec["volumes"]]
    assert names == ["rocketmq-operator-config", "rocketmq-operator-run", "broker-storage", "broker-config"]
    mounts = [mount["name"] for mount in pod_spec["containers"][0]["volumeMounts"]]
    assert set(mounts) <= set(names)


def _pod_spec(m):
    return brokers.broker_statefulset(m, 0, config_hash="h")["spec"]["template"]["spec"]


def test_brokers_get_a_port_startup_probe_then_probes_the_broker_must_answer(talk_model):
    container = _pod_spec(talk_model)["containers"][0]
    startup, live = container["startupProbe"], container["livenessProbe"]
    assert startup == {"tcpSocket": {"port": 10911}, "periodSeconds": 5, "failureThreshold": 60}
    assert live["exec"]["command"][-1].endswith("broker-probe.sh alive")
    assert (live["periodSeconds"], live["timeoutSeconds"], live["failureThreshold"]) == (10, 5, 3)
    assert container["readinessProbe"]["timeoutSeconds"] == 5


def test_pods_run_as_the_images_user_without_privileges_by_default(apache_broker):
    pod_spec = _pod_spec(model.from_broker(apache_broker))
    assert pod_spec["securityContext"] == {
        "runAsUser": 3000,
        "runAsGroup": 3000,
        "runAsNonRoot": True,
        "fsGroup": 3000,
        "fsGroupChangePolicy": "OnRootMismatch",
    }
    assert pod_spec["containers"][0]["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }


def test_the_users_security_contexts_replace_the_defaults(apache_broker, with_spec):
    obj = with_spec(
        apache_broker, securityContext={"runAsUser": 0}, containerSecurityContext={"privileged": True}
    )
    pod_spec = _pod_spec(model.from_broker(obj))
    assert pod_spec["securityContext"] == {"runAsUser": 0}
    assert pod_spec["containers"][0]["securityContext"] == {"privileged": True}


@pytest.mark.parametrize(
    "image", ["apacherocketmq/rocketmq-broker:4.5.0-alpine-operator-0.3.0", "docker.io/apacherocketmq/x:1"]
)
def test_the_apache_operators_root_images_only_get_the_volume_group(apache_broker, with_spec, image):
    pod_spec = _pod_spec(model.from_broker(with_spec(apache_broker, brokerImage=image)))
    assert pod_spec["securityContext"] == {"fsGroup": 3000, "fsGroupChangePolicy": "OnRootMismatch"}


def test_members_of_a_group_are_spread_softly_over_zones_by_default(talk_model):
    (spread,) = _pod_spec(talk_model)["topologySpreadConstraints"]
    assert spread == {
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": brokers.group_selector(talk_model, 0)},
    }


def test_user_affinity_or_spread_constraints_replace_the_zone_spread(cluster_2m_2s, with_spec):
    with_affinity = _pod_spec(
        model.from_broker_cluster(with_spec(cluster_2m_2s, affinity={"nodeAffinity": {}}))
    )
    assert "topologySpreadConstraints" not in with_affinity
    mine = [{"maxSkew": 2, "topologyKey": "rack", "whenUnsatisfiable": "DoNotSchedule"}]
    with_spread = _pod_spec(
        model.from_broker_cluster(with_spec(cluster_2m_2s, topologySpreadConstraints=mine))
    )
    assert with_spread["topologySpreadConstraints"] == mine
    assert with_spread["affinity"]["podAntiAffinity"]  # the node spread stays


def test_brokers_stop_cleanly_a_pause_before_sigterm_and_a_grace_period_for_the_shutdown(talk_model):
    spec = brokers.broker_statefulset(talk_model, 0, config_hash="h")["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] == 90
    assert spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"] == ["/bin/sh", "-c", "sleep 5"]


def test_host_path_and_claim_storage_get_an_init_container_that_chowns_only_the_mount_points(talk_model):
    from dataclasses import replace

    from rocketmq_operator.resources.modelparts import Storage

    claims = replace(talk_model, storage=Storage(mode="StorageClass", claim_templates=(
        {"metadata": {"name": "broker-storage"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}},)))
    spec = brokers.broker_statefulset(claims, 0, config_hash="h")["spec"]["template"]["spec"]
    [init] = spec["initContainers"]
    assert init["command"] == ["/bin/sh", "-c", "chown 3000:3000 /home/rocketmq/logs /home/rocketmq/store"]
    assert init["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN"]}
    assert [m["mountPath"] for m in init["volumeMounts"]] == ["/home/rocketmq/logs", "/home/rocketmq/store"]
    empty = replace(talk_model, storage=Storage(mode="EmptyDir"))
    assert "initContainers" not in (
        brokers.broker_statefulset(empty, 0, config_hash="h")["spec"]["template"]["spec"])


def test_the_restart_annotation_goes_into_the_pod_template_and_a_new_value_changes_it(cluster_2m_2s):
    from rocketmq_operator.resources.diff import needs_update

    def statefulset(restart):
        obj = copy.deepcopy(cluster_2m_2s)
        if restart is not None:
            obj["metadata"]["annotations"] = {meta.ANNOTATION_RESTART: restart}
        return brokers.broker_group_objects(model.from_broker_cluster(obj), 0)[-1]

    plain, first, again, second = (statefulset(v) for v in (None, "2026-12-01T10:00:00Z",
                                                             "2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z"))
    assert meta.ANNOTATION_RESTART not in plain["spec"]["template"]["metadata"]["annotations"]
    assert first["spec"]["template"]["metadata"]["annotations"][meta.ANNOTATION_RESTART] == (
        "2026-12-01T10:00:00Z")
    assert needs_update(first, plain) and not needs_update(again, first) and needs_update(second, first)
    # the same config hash: only the restart value differs
    hashes = {s["spec"]["template"]["metadata"]["annotations"][meta.ANNOTATION_CONFIG_HASH]
              for s in (plain, second)}
    assert len(hashes) == 1
    # removing the annotation asks for nothing: the live template (with the last value) still
    # contains the desired
    assert not needs_update(plain, second)
