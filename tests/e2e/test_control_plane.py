"""The cluster under test is a real one: scheduling, volumes, garbage collection, RBAC and versioning."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.e2e.waiting import eventually


def test_the_api_server_reports_a_real_kubernetes_version(api_client):
    info = client.VersionApi(api_client).get_code()
    assert info.git_version.startswith("v1.")
    assert info.major == "1" and int(info.minor.rstrip("+")) >= 30


def test_a_statefulset_with_claims_gets_ready_pods_on_distinct_nodes_and_bound_claims(api_client, namespace,
                                                                                     local_cluster_dir):
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    labels = {"app": "web"}
    core.create_namespaced_service(namespace, {
        "metadata": {"name": "web"},
        "spec": {"clusterIP": "None", "selector": labels, "ports": [{"port": 80}]}})
    apps.create_namespaced_stateful_set(namespace, {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3, "serviceName": "web", "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "containers": [{"name": "web", "image": "nginx:1.27",
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
        }})

    def all_ready():
        sts = apps.read_namespaced_stateful_set_status("web", namespace)
        return sts.status.ready_replicas == 3

    eventually(all_ready, timeout=90, what="3 ready replicas")
    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert sorted(p.metadata.name for p in pods) == ["web-0", "web-1", "web-2"]
    assert all(p.spec.node_name for p in pods)
    if local_cluster_dir is not None:  # the local control plane's nodes are KWOK's
        assert all(p.spec.node_name.startswith("kwok-node-") for p in pods)
    assert all(p.status.phase == "Running" and p.status.pod_ip for p in pods)
    claims = core.list_namespaced_persistent_volume_claim(namespace).items
    assert sorted(c.metadata.name for c in claims) == ["data-web-0", "data-web-1", "data-web-2"]
    assert {c.status.phase for c in claims} == {"Bound"}


def test_deleting_an_owner_garbage_collects_the_configmap_it_owns(api_client, namespace):
    core = client.CoreV1Api(api_client)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "owned", "ownerReferences": [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid,
        "controller": True, "blockOwnerDeletion": True}]}})
    core.delete_namespaced_config_map("owner", namespace)

    def owned_gone():
        try:
            core.read_namespaced_config_map("owned", namespace)
        except ApiException as e:
            return e.status == 404
        return False

    eventually(owned_gone, timeout=60, what="the owned ConfigMap to be collected")


def test_a_service_account_with_a_narrow_role_is_forbidden_other_verbs(api_client, namespace):
    core, rbac = client.CoreV1Api(api_client), client.RbacAuthorizationV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "cm-reader"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "cm-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}]})
    token = core.create_namespaced_service_account_token(
        "reader", namespace, {"spec": {"expirationSeconds": 600}}).status.token

    conf = client.Configuration()
    admin = api_client.configuration
    conf.host, conf.ssl_ca_cert = admin.host, admin.ssl_ca_cert
    conf.api_key = {"authorization": token}
    conf.api_key_prefix = {"authorization": "Bearer"}
    as_reader = client.CoreV1Api(client.ApiClient(conf))

    def reader_can_list():
        return as_reader.list_namespaced_config_map(namespace) is not None

    eventually(reader_can_list, timeout=30, what="the RoleBinding to take effect")
    with pytest.raises(ApiException) as denied:
        as_reader.create_namespaced_config_map(namespace, {"metadata": {"name": "nope"}})
    assert denied.value.status == 403
    with pytest.raises(ApiException) as denied_secrets:
        as_reader.list_namespaced_secret(namespace)
    assert denied_secrets.value.status == 403
