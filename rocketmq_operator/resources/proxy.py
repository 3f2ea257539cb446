"""Desired Kubernetes objects of a RocketMQ 5 proxy (cluster mode).

Proxy ``p`` becomes a Deployment ``p`` of ``size`` stateless proxies, a Service ``p`` with the gRPC port
(8081) and the remoting port (8080), and a PodDisruptionBudget ``p`` (one proxy down at a time). Each pod
writes ``rmq-proxy.json`` from its env at start (cluster name, ``namesrvAddr``, both ports) and runs the
image's ``mqproxy -pm cluster``. A proxy reads ``namesrvAddr`` only at start, so a name-server change is a new
pod template: the Deployment replaces the proxies one at a time (``maxUnavailable: 1``, no surge; a single
proxy is surged instead, so it is never down), each new pod taking traffic only once Ready.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rocketmq_operator.resources import jvm, meta, naming, pod
from rocketmq_operator.resources.meta import ParentRef
from rocketmq_operator.resources.modelparts import PodOptions, Problem, Storage, pod_options, pod_problems

API_VERSION = "rocketmq.apache.org/v1alpha1"
COMPONENT = "proxy"
CONTAINER_NAME = "proxy"
PROXY_APP = "rocketmq-proxy"
ENV_CONFIG = "ROCKETMQ_PROXY_CONFIG"
OPERATOR_ENV = (*naming.FIELD_ENV, ENV_CONFIG)
RUN_DIR = "/tmp/rocketmq-operator"
DEFAULT_CLUSTER = "DefaultCluster"
START_COMMAND = (
    f'set -eu; printf "%s" "${ENV_CONFIG}" > {RUN_DIR}/rmq-proxy.json; '
    'if [ -n "${ROCKETMQ_HOME:-}" ] && [ -f "$ROCKETMQ_HOME/bin/mqproxy" ]; then '
    f'exec sh "$ROCKETMQ_HOME/bin/mqproxy" -pc {RUN_DIR}/rmq-proxy.json -pm cluster; fi; '
    f'exec mqproxy -pc {RUN_DIR}/rmq-proxy.json -pm cluster'
)


@dataclass(frozen=True)
class ProxyModel:
    parent: ParentRef
    image: str
    size: int
    name_server_address: str
    cluster_name: str = DEFAULT_CLUSTER
    image_pull_policy: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    pod: PodOptions = field(default_factory=PodOptions)
    generation: int = 0
    problems: tuple[Problem, ...] = ()
    notes: tuple[Problem, ...] = ()

    @property
    def name(self) -> str:
        return self.parent.name

    @property
    def config(self) -> dict[str, Any]:
        """rmq-proxy.json."""
        return {"rocketMQClusterName": self.cluster_name, "namesrvAddr": self.name_server_address,
                "proxyMode": "cluster", "remotingListenPort": naming.PROXY_REMOTING_PORT,
                "grpcServerPort": naming.PROXY_GRPC_PORT}


def from_proxy(obj: Mapping[str, Any], *, name_server_address: str) -> ProxyModel:
    spec = obj.get("spec") or {}
    problems: list[Problem] = []
    if not spec.get("proxyImage"):
        problems.append(Problem("spec.proxyImage", "a proxy image is required"))
    if not name_server_address:
        problems.append(Problem("spec.nameServers", "the proxy needs name servers"))
    options = pod_options(spec)
    refused, notes = pod_problems(options, storage=Storage(), operator_env=OPERATOR_ENV,
                                  operator_volumes=(naming.RUN_VOLUME,))
    return ProxyModel(
        parent=ParentRef.of(obj, api_version=API_VERSION, kind="Proxy"), image=spec.get("proxyImage", ""),
        size=int(spec.get("size", 1)), name_server_address=name_server_address,
        cluster_name=spec.get("clusterName") or DEFAULT_CLUSTER,
        image_pull_policy=spec.get("imagePullPolicy") or None,
        labels=dict((obj.get("metadata") or {}).get("labels") or {}), pod=options,
        generation=int((obj.get("metadata") or {}).get("generation", 0)), problems=(*problems, *refused),
        notes=tuple(notes))


def proxy_selector(model: ProxyModel) -> dict[str, str]:
    return {meta.LABEL_APP: PROXY_APP, meta.LABEL_INSTANCE: model.name}


def _labels(model: ProxyModel) -> dict[str, str]:
    return {**meta.standard_labels(model.name, component=COMPONENT), **proxy_selector(model)}


def _meta(model: ProxyModel) -> dict[str, Any]:
    return meta.object_meta(model.name, model.parent, labels=_labels(model), extra_labels=model.labels)


def _ports(*, container: bool) -> list[dict[str, Any]]:
    key = "containerPort" if container else "port"
    ports = []
    for name, number in (("grpc", naming.PROXY_GRPC_PORT), ("remoting", naming.PROXY_REMOTING_PORT)):
        port: dict[str, Any] = {"name": name, key: number, "protocol": "TCP"}
        if not container:
            port["targetPort"] = number
        ports.append(port)
    return ports


def proxy_service(model: ProxyModel) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(model),
            "spec": {"selector": proxy_selector(model), "ports": _ports(container=False)}}


def _container(model: ProxyModel) -> dict[str, Any]:
    env = [*pod.field_env(), {"name": ENV_CONFIG, "value": json.dumps(model.config, separators=(",", ":"))}]
    container: dict[str, Any] = {
        "name": CONTAINER_NAME, "image": model.image, "command": ["/bin/sh", "-c", START_COMMAND],
        "ports": _ports(container=True), **pod.probes(naming.PROXY_GRPC_PORT),
        "volumeMounts": [{"name": naming.RUN_VOLUME, "mountPath": RUN_DIR},
                         {"name": naming.RUN_VOLUME, "mountPath": f"{naming.ROCKETMQ_HOME_DIR}/logs",
                          "subPath": "logs"}],
        **pod.container_options(model.pod, env=env, heap=jvm.PROXY),
    }
    if model.image_pull_policy:
        container["imagePullPolicy"] = model.image_pull_policy
    return container


def proxy_deployment(model: ProxyModel) -> dict[str, Any]:
    selector = proxy_selector(model)
    template_meta: dict[str, Any] = {"labels": _labels(model)}
    if model.pod.annotations:
        template_meta["annotations"] = dict(model.pod.annotations)
    rolling = {"maxUnavailable": 1, "maxSurge": 0} if model.size > 1 else {"maxUnavailable": 0, "maxSurge": 1}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(model), "spec": {
        "replicas": model.size, "selector": {"matchLabels": selector},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": rolling},
        "template": {"metadata": template_meta, "spec": pod.pod_spec(
            model.pod, containers=[_container(model)], volumes=[{"name": naming.RUN_VOLUME, "emptyDir": {}}],
            selector=selector, image=model.image)}}}


def proxy_pdb(model: ProxyModel) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(model),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": proxy_selector(model)}}}


def proxy_objects(model: ProxyModel) -> list[dict[str, Any]]:
    """Service, Deployment and PodDisruptionBudget, in create order."""
    return [proxy_service(model), proxy_deployment(model), proxy_pdb(model)]

