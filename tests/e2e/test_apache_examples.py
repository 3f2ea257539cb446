"""The Apache RocketMQ operator's own example CRs (shared/apache-examples, copied unchanged), applied with
kubectl as a migrating user would: each converges; and the
fields they use mean what they meant there (broker-common.conf, BROKER_MEM, a user volume named like one of
the operator's)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.e2e.clusters import get_cr, wait_condition, wait_event, wait_ready
from tests.e2e.conftest import kubectl
from tests.e2e.waiting import eventually

EXAMPLES = Path(__file__).resolve().parent / "apache-examples"  # the example/ folder, unchanged


def example(name: str) -> Path:
    return EXAMPLES / name


def apply(kubeconfig: str, namespace: str, name: str) -> None:
    kubectl(kubeconfig, "apply", "-n", namespace, "-f", str(example(name)))


def pods_of(api_client, namespace: str, selector: str) -> list:
    return client.CoreV1Api(api_client).list_namespaced_pod(namespace, label_selector=selector).items


def container_env(pod, name: str) -> dict[str, str]:
    [container] = [c for c in pod.spec.containers if c.name == name]
    return {e.name: e.value for e in container.env or () if e.value is not None}


def test_the_broker_example_gets_its_pods_and_converges(operator, api_client, kubeconfig, namespace):
    """The example whose user volume is named broker-config, like the operator's own volume used to be: the
    StatefulSet controller could not create a single pod."""
    apply(kubeconfig, namespace, "rocketmq_v1alpha1_nameservice_cr.yaml")
    apply(kubeconfig, namespace, "rocketmq_v1alpha1_broker_cr.yaml")
    wait_ready(api_client, "NameService", namespace, "name-service", timeout=120)
    broker = wait_ready(api_client, "Broker", namespace, "broker", timeout=120)
    assert broker["status"]["nodes"] == ["broker-0-0", "broker-0-1"]
    [pod, _] = sorted(pods_of(api_client, namespace, "rocketmq.apache.org/cluster=broker"),
                      key=lambda p: p.metadata.name)
    assert "broker-config" in [v.name for v in pod.spec.volumes]  # the user's volume is still there
    env = container_env(pod, "broker")
    assert env["HEAP_OPTS"] == "$(BROKER_MEM)"  # the Apache image's knob, for the official image's launcher
    conf = client.CoreV1Api(api_client).read_namespaced_config_map("broker-brokers", namespace).data
    member_1 = conf["group-0-broker-1.conf"]
    assert "fileReservedTime=48" in member_1 and "brokerRole=SLAVE" in member_1


def test_editing_broker_common_conf_rolls_the_brokers(operator, api_client, kubeconfig, namespace):
    apply(kubeconfig, namespace, "rocketmq_v1alpha1_nameservice_cr.yaml")
    apply(kubeconfig, namespace, "rocketmq_v1alpha1_broker_cr.yaml")
    wait_ready(api_client, "Broker", namespace, "broker", timeout=120)
    apps = client.AppsV1Api(api_client)
    before = apps.read_namespaced_stateful_set("broker-0", namespace).spec.template.metadata.annotations
    core = client.CoreV1Api(api_client)
    cm = core.read_namespaced_config_map("broker-config", namespace)
    text = cm.data["broker-common.conf"].replace("fileReservedTime=48", "fileReservedTime=72")
    core.patch_namespaced_config_map("broker-config", namespace, {"data": {"broker-common.conf": text}})

    def rolled():
        sts = apps.read_namespaced_stateful_set("broker-0", namespace)
        return sts if sts.spec.template.metadata.annotations != before else None
    eventually(rolled, timeout=30, what="the broker template to change with broker-common.conf")
    conf = core.read_namespaced_config_map("broker-brokers", namespace).data["group-0-broker-0.conf"]
    assert "fileReservedTime=72" in conf


def test_the_all_in_one_and_console_examples_converge_in_the_namespace_they_name(
        operator, api_client, kubeconfig):
    """rocketmq_v1alpha1_rocketmq_cluster.yaml names namespace default: a NameService with hostNetwork, a
    Broker with nameServers "" and a Console; rocketmq_v1alpha1_console_cr.yaml then replaces that Console
    with one that mounts its own configuration."""
    paths = [str(example(n)) for n in ("rocketmq_v1alpha1_rocketmq_cluster.yaml",
                                       "rocketmq_v1alpha1_console_cr.yaml")]
    try:
        kubectl(kubeconfig, "apply", "-f", paths[0])
        for kind, name in (("NameService", "name-service"), ("Broker", "broker"), ("Console", "console")):
            wait_ready(api_client, kind, "default", name, timeout=120)
        broker = get_cr(api_client, "Broker", "default", "broker")
        assert broker["status"]["nameServers"] == "name-service-0.name-service.default.svc.cluster.local:9876"
        kubectl(kubeconfig, "apply", "-f", paths[1])

        def console_mounts_its_config():
            deployment = client.AppsV1Api(api_client).read_namespaced_deployment("console", "default")
            volumes = [v.name for v in deployment.spec.template.spec.volumes or ()]
            return deployment if "console-config" in volumes else None
        eventually(console_mounts_its_config, timeout=30,
                   what="the console example's volume in the Deployment")
        wait_ready(api_client, "Console", "default", "console", timeout=120)
    finally:
        for path in reversed(paths):
            kubectl(kubeconfig, "delete", "-f", path, "--wait=false", "--ignore-not-found", check=False)


def test_the_console_service_example_applies(kubeconfig, namespace):
    apply(kubeconfig, namespace, "rocketmq_v1alpha1_cluster_service.yaml")


def test_the_controller_example_runs_a_controller_behind_its_headless_service(
        operator, api_client, kubeconfig, namespace):
    apply(kubeconfig, namespace, "rocketmq_v1alpha1_controller_cr.yaml")
    found = wait_ready(api_client, "Controller", namespace, "controller", timeout=120)
    assert found["status"]["nodes"] == ["controller-0"]
    assert found["status"]["controllerAddr"] == f"controller-0.controller.{namespace}.svc.cluster.local:9878"
    service = client.CoreV1Api(api_client).read_namespaced_service("controller", namespace)
    assert service.spec.cluster_ip == "None" and [p.port for p in service.spec.ports] == [9878]
    sts = client.AppsV1Api(api_client).read_namespaced_stateful_set("controller", namespace)
    pod = sts.spec.template.spec
    assert pod.volumes[0].host_path.path == "/data/rocketmq/controller"
    assert pod.containers[0].resources.limits["memory"] == "2Gi"


def test_the_topic_transfer_example_is_served_and_names_the_cluster_it_cannot_find(operator, api_client,
                                                                                  kubeconfig, namespace):
    """No RocketMQ runs behind the example's broker-0 and broker-1 here: the transfer waits, saying so; it
    holds the rollback finalizer, which a delete of the still Pending transfer lets go at once."""
    apply(kubeconfig, namespace, "rocketmq_v1alpha1_topictransfer_cr.yaml")
    found = wait_condition(api_client, "TopicTransfer", namespace, "topictransfer", "Ready", "False",
                           reason="ClusterNotFound", timeout=30)
    assert found["message"].startswith("source cluster broker-0 not found")
    obj = get_cr(api_client, "TopicTransfer", namespace, "topictransfer")
    # the CRD default
    assert obj["status"]["phase"] == "Pending" and obj["spec"]["drainTimeoutSeconds"] == 600
    # before any change
    assert obj["metadata"]["finalizers"] == ["rocketmq.apache.org/topictransfer-rollback"]
    kubectl(kubeconfig, "delete", "-n", namespace, "topictransfer", "topictransfer", "--wait=true",
            "--timeout=30s")
    gone = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        "rocketmq.apache.org", "v1alpha1", namespace, "topictransfers")["items"]
    assert gone == []  # nothing was changed in RocketMQ: the finalizer went at once



def test_pods_the_statefulset_controller_cannot_create_are_said_in_status_and_an_event(operator, api_client,
                                                                                     kubeconfig, namespace):
    """A quota of zero pods: the operator cannot foresee it, the StatefulSet controller meets it
    (FailedCreate)."""
    core = client.CoreV1Api(api_client)
    core.create_namespaced_resource_quota(namespace, {"metadata": {"name": "no-pods"},
                                                      "spec": {"hard": {"pods": "0"}}})
    apply(kubeconfig, namespace, "rocketmq_v1alpha1_nameservice_cr.yaml")
    found = wait_condition(api_client, "NameService", namespace, "name-service", "Ready", "False",
                           reason="FailedCreate", timeout=30)
    assert "StatefulSet name-service cannot create pods" in found["message"] and "quota" in found["message"]
    wait_event(api_client, namespace, "name-service", reason="FailedCreate", type_="Warning",
               contains="quota")
    core.delete_namespaced_resource_quota("no-pods", namespace)
    wait_ready(api_client, "NameService", namespace, "name-service", timeout=120)


@pytest.mark.parametrize("omit", [False, True], ids=["nameServers-empty", "nameServers-omitted"])
def test_a_broker_on_the_namespaces_name_service_follows_its_resize_at_once(operator, api_client, kubeconfig,
                                                                          namespace, omit):
    """The operator resyncs every 300 s here: following within seconds means the NameService event did it."""
    apply(kubeconfig, namespace, "rocketmq_v1alpha1_nameservice_cr.yaml")
    broker_docs = list(yaml.safe_load_all(example("rocketmq_v1alpha1_broker_cr.yaml").read_text()))
    if omit:
        del broker_docs[1]["spec"]["nameServers"]
    kubectl(kubeconfig, "apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(broker_docs))
    wait_ready(api_client, "Broker", namespace, "broker", timeout=120)
    kubectl(kubeconfig, "patch", "-n", namespace, "nameservice", "name-service", "--type=merge",
            "-p", '{"spec": {"size": 2}}')
    second = f"name-service-1.name-service.{namespace}.svc.cluster.local:9876"
    core = client.CoreV1Api(api_client)
    eventually(lambda: second in core.read_namespaced_config_map("broker-brokers", namespace)
               .data["group-0-broker-0.conf"],
               timeout=20, what="the broker's namesrvAddr to follow the NameService resize")
