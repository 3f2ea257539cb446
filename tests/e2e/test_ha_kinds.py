"""RocketMQ 5 high availability kinds against the local control plane (KWOK pods, no RocketMQ inside): a
Controller becomes a StatefulSet behind its headless Service; a Broker in CONTROLLER mode gets the controller
keys and follows a Controller resize; name servers can embed the controller; a Proxy becomes a Deployment
behind a Service and follows a NameService resize by a rolling update."""

from __future__ import annotations

import copy

import yaml
from kubernetes import client

from tests.e2e.clusters import SAMPLES, create_cr, get_cr, patch_cr, wait_ready
from tests.e2e.waiting import eventually


def sample(name: str, namespace: str) -> dict:
    obj = yaml.safe_load((SAMPLES / name).read_text())
    obj["metadata"]["namespace"] = namespace
    return obj


def name_service(namespace: str, **spec) -> dict:
    obj = sample("nameserver.yaml", namespace)
    obj["spec"].update(spec)
    return obj


def conf_of(api_client, namespace: str, cluster: str, group: int, member: int = 0) -> dict[str, str]:
    """Member ``member``'s broker.conf in the cluster's ConfigMap, as properties."""
    data = client.CoreV1Api(api_client).read_namespaced_config_map(f"{cluster}-brokers", namespace).data
    text = data[f"group-{group}-broker-{member}.conf"]
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def controller_addr(name: str, namespace: str, size: int) -> str:
    return ";".join(f"{name}-{i}.{name}.{namespace}.svc.cluster.local:9878" for i in range(size))


def test_a_controller_mode_broker_takes_the_controllers_and_follows_their_resize(
        operator, api_client, namespace):
    create_cr(api_client, "Controller", namespace, sample("rocketmq-controller.yaml", namespace))
    broker = sample("rocketmq-cluster-controller.yaml", namespace)
    broker["spec"]["nameServers"] = "ns-0:9876"
    create_cr(api_client, "Broker", namespace, broker)
    found = wait_ready(api_client, "Controller", namespace, "rocketmq-controller", timeout=120)
    assert found["status"]["controllerAddr"] == controller_addr("rocketmq-controller", namespace, 3)
    wait_ready(api_client, "Broker", namespace, "rocketmq-ha", timeout=180)
    conf = conf_of(api_client, namespace, "rocketmq-ha", 1, member=2)
    assert (conf["enableControllerMode"], conf["brokerId"], conf["brokerRole"]) == ("true", "-1", "SLAVE")
    assert conf["controllerAddr"] == controller_addr("rocketmq-controller", namespace, 3)
    patch_cr(api_client, "Controller", namespace, "rocketmq-controller", {"spec": {"size": 5}})
    eventually(lambda: conf_of(api_client, namespace, "rocketmq-ha", 0)["controllerAddr"]
               == controller_addr("rocketmq-controller", namespace, 5), timeout=30,
               what="the brokers' controllerAddr to follow the Controller resize")


def test_a_controller_mode_broker_without_controllers_says_so(operator, api_client, namespace):
    broker = sample("rocketmq-cluster-controller.yaml", namespace)
    del broker["spec"]["controllerRef"]
    broker["spec"]["nameServers"] = "ns-0:9876"
    create_cr(api_client, "Broker", namespace, broker)

    def refused():
        obj = get_cr(api_client, "Broker", namespace, "rocketmq-ha")
        ready = next((c for c in (obj.get("status") or {}).get("conditions") or ()
                      if c["type"] == "Ready"), {})
        return ready if ready.get("reason") == "InvalidSpec" else None
    ready = eventually(refused, timeout=30, what="the Broker to report that it has no controllers")
    assert "clusterMode CONTROLLER needs a Controller" in ready["message"]
    assert client.AppsV1Api(api_client).list_namespaced_stateful_set(namespace).items == []


def test_name_servers_that_embed_the_controller_serve_a_controller_mode_broker(
        operator, api_client, namespace):
    create_cr(api_client, "NameService", namespace, name_service(namespace, enableControllerInNamesrv=True))
    broker = sample("rocketmq-cluster-controller.yaml", namespace)
    del broker["spec"]["controllerRef"]
    broker["spec"]["nameServers"] = ""
    create_cr(api_client, "Broker", namespace, broker)
    found = wait_ready(api_client, "NameService", namespace, "rocketmq-nameserver", timeout=120)
    embedded = controller_addr("rocketmq-nameserver", namespace, 2)
    assert found["status"]["controllerAddr"] == embedded
    service = client.CoreV1Api(api_client).read_namespaced_service("rocketmq-nameserver", namespace)
    assert [p.port for p in service.spec.ports] == [9876, 9878]
    wait_ready(api_client, "Broker", namespace, "rocketmq-ha", timeout=180)
    assert conf_of(api_client, namespace, "rocketmq-ha", 0)["controllerAddr"] == embedded


def test_a_proxy_runs_behind_its_service_and_rolls_one_pod_at_a_time_to_follow_its_name_service(
        operator, api_client, namespace):
    create_cr(api_client, "NameService", namespace, name_service(namespace))
    proxy = sample("rocketmq-proxy.yaml", namespace)
    create_cr(api_client, "Proxy", namespace, copy.deepcopy(proxy))
    found = wait_ready(api_client, "Proxy", namespace, "rocketmq-proxy", timeout=120)
    assert found["status"]["nameServers"].count(":9876") == 2 and found["status"]["readyReplicas"] == 2
    service = client.CoreV1Api(api_client).read_namespaced_service("rocketmq-proxy", namespace)
    assert {(p.name, p.port) for p in service.spec.ports} == {("grpc", 8081), ("remoting", 8080)}
    apps = client.AppsV1Api(api_client)
    deployment = apps.read_namespaced_deployment("rocketmq-proxy", namespace)
    assert (deployment.spec.strategy.rolling_update.max_unavailable,
            deployment.spec.strategy.rolling_update.max_surge) == (1, 0)
    before = deployment.metadata.generation
    patch_cr(api_client, "NameService", namespace, "rocketmq-nameserver", {"spec": {"size": 3}})
    third = f"rocketmq-nameserver-2.rocketmq-nameserver.{namespace}.svc.cluster.local:9876"

    def rolled():
        d = apps.read_namespaced_deployment("rocketmq-proxy", namespace)
        env = {e.name: e.value for e in d.spec.template.spec.containers[0].env}
        return d if d.metadata.generation > before and third in env["ROCKETMQ_PROXY_CONFIG"] else None
    eventually(rolled, timeout=30, what="the proxies' namesrvAddr to follow the NameService resize")
    found = wait_ready(api_client, "Proxy", namespace, "rocketmq-proxy", timeout=180)
    assert third in found["status"]["nameServers"]
