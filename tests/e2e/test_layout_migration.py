"""A broker cluster left by an earlier version (a headless Service, a ConfigMap and a PodDisruptionBudget per
group) is taken over in place: no pod restarts, the groups keep their Service and ConfigMap (serviceName is
immutable), the group budgets give way to the cluster's, and ``kubectl rollout status`` still works. A group
added past half the ConfigMap limit gets a ConfigMap of its own, the running groups untouched, and it goes
with the group."""

from __future__ import annotations

import copy
from dataclasses import replace

from kubernetes import client

from rocketmq_operator.controllers.runtime.common import PAUSE_ANNOTATION
from rocketmq_operator.resources.brokers import broker_cluster_objects, cluster_pdb, group_selector
from rocketmq_operator.resources.model import from_broker_cluster
from tests.e2e.clusters import create_cr, get_cr, patch_cr, wait_ready
from tests.e2e.conftest import kubectl
from tests.e2e.test_brokercluster import small_cluster
from tests.e2e.waiting import eventually


def _legacy_objects(cr: dict) -> list[dict]:
    """What an earlier version created for ``cr``: per group a ConfigMap, a Service, a StatefulSet and a
    PodDisruptionBudget of the group's own."""
    legacy = replace(from_broker_cluster(cr), legacy_groups=frozenset(range(cr["spec"]["groupReplica"])))
    objects = [o for o in broker_cluster_objects(legacy) if not o["metadata"]["name"].endswith("-brokers")]
    for group in range(legacy.groups):
        budget = copy.deepcopy(cluster_pdb(legacy))
        budget["metadata"]["name"] = f"{legacy.name}-{group}"
        budget["spec"]["selector"]["matchLabels"] = group_selector(legacy, group)
        objects.append(budget)
    return objects


def test_a_cluster_from_an_earlier_version_is_migrated_in_place(operator, api_client, kubeconfig, namespace):
    core, apps, policy = (client.CoreV1Api(api_client), client.AppsV1Api(api_client),
                          client.PolicyV1Api(api_client))
    body = small_cluster(namespace)
    body["metadata"]["annotations"] = {PAUSE_ANNOTATION: "true"}  # the operator keeps its hands off meanwhile
    cr = create_cr(api_client, "BrokerCluster", namespace, body)
    for obj in _legacy_objects(cr):
        {"ConfigMap": lambda o: core.create_namespaced_config_map(namespace, o),
         "Service": lambda o: core.create_namespaced_service(namespace, o),
         "StatefulSet": lambda o: apps.create_namespaced_stateful_set(namespace, o),
         "PodDisruptionBudget": lambda o: policy.create_namespaced_pod_disruption_budget(namespace, o)
         }[obj["kind"]](obj)

    def all_pods_ready():
        pods = core.list_namespaced_pod(namespace, label_selector="app=rocketmq-broker").items
        ready = [p for p in pods
                 if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or ())]
        return pods if len(ready) == 4 else None

    pods_before = {p.metadata.name: p.metadata.uid for p in eventually(all_pods_ready, timeout=60,
                                                                        what="the legacy pods to be Ready")}
    sets_before = {s.metadata.name: s.metadata.generation
                   for s in apps.list_namespaced_stateful_set(namespace).items}

    patch_cr(api_client, "BrokerCluster", namespace, "bc",
             {"metadata": {"annotations": {PAUSE_ANNOTATION: None}}})
    wait_ready(api_client, "BrokerCluster", namespace, "bc")
    eventually(lambda: {p.metadata.name
                        for p in policy.list_namespaced_pod_disruption_budget(namespace).items}
               == {"bc-brokers"}, timeout=30, what="the group budgets to give way to the cluster's")

    # no template change: nothing rolls
    assert {s.metadata.name: s.metadata.generation
            for s in apps.list_namespaced_stateful_set(namespace).items} == sets_before
    assert {p.metadata.name: p.metadata.uid for p in all_pods_ready()} == pods_before
    services = {s.metadata.name for s in core.list_namespaced_service(namespace).items}
    assert {"bc-0", "bc-1", "bc-brokers"} <= services
    assert {"bc-0-config", "bc-1-config"} <= {c.metadata.name
                                              for c in core.list_namespaced_config_map(namespace).items}
    for group in (0, 1):
        out = kubectl(kubeconfig, "rollout", "status", f"statefulset/bc-{group}", "-n", namespace,
                      "--timeout=30s")
        assert "roll" in out.stdout and out.returncode == 0

    # A group added now uses the cluster's Service and ConfigMap.
    patch_cr(api_client, "BrokerCluster", namespace, "bc", {"spec": {"groupReplica": 3}})
    eventually(lambda: apps.read_namespaced_stateful_set("bc-2", namespace).spec.service_name == "bc-brokers",
               timeout=30, what="the new group's StatefulSet")
    wait_ready(api_client, "BrokerCluster", namespace, "bc")
    assert "group-2-broker-0.conf" in core.read_namespaced_config_map("bc-brokers", namespace).data
    assert get_cr(api_client, "BrokerCluster", namespace, "bc")["status"]["readyMembers"] == 6


def test_a_group_added_past_half_the_config_map_limit_gets_its_own_and_it_goes_with_the_group(
        operator, api_client, namespace):
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    big = {"bigProperty": "x" * 100_000}  # two members: 200 KB of files per group
    create_cr(api_client, "BrokerCluster", namespace, small_cluster(namespace, properties=big))
    wait_ready(api_client, "BrokerCluster", namespace, "bc")
    sets_before = {s.metadata.name: s.metadata.generation
                   for s in apps.list_namespaced_stateful_set(namespace).items}

    patch_cr(api_client, "BrokerCluster", namespace, "bc", {"spec": {"groupReplica": 3}})
    eventually(lambda: apps.read_namespaced_stateful_set("bc-2", namespace), timeout=30, what="group 2")
    wait_ready(api_client, "BrokerCluster", namespace, "bc")
    volumes = apps.read_namespaced_stateful_set("bc-2", namespace).spec.template.spec.volumes
    assert "bc-2-config" in {v.config_map.name for v in volumes if v.config_map}
    assert sorted(core.read_namespaced_config_map("bc-2-config", namespace).data) == [
        "broker-0.conf", "broker-1.conf", "broker-probe.sh", "start-broker.sh"]
    assert not [k for k in core.read_namespaced_config_map("bc-brokers", namespace).data
                if k.startswith("group-2-")]
    assert {s.metadata.name: s.metadata.generation for s in apps.list_namespaced_stateful_set(namespace).items
            if s.metadata.name != "bc-2"} == sets_before  # the running groups are not touched

    patch_cr(api_client, "BrokerCluster", namespace, "bc", {"spec": {
        "groupReplica": 2, "allowGroupScaleDown": True, "drainAcceptMessageLoss": True}})
    eventually(lambda: "bc-2-config" not in {c.metadata.name
                                             for c in core.list_namespaced_config_map(namespace).items},
               timeout=60, what="group 2's ConfigMap to go with it")
