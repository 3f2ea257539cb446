"""Desired Kubernetes objects of a name service.

NameService ``n`` becomes a StatefulSet ``n`` of ``size`` name servers, a PodDisruptionBudget ``n``
(one name server down at a time) and a headless Service ``n``
that publishes not-ready addresses, so ``n-0.n.<namespace>.svc.cluster.local:9876`` resolves as soon
as the pod exists — brokers are configured with these stable names, never with pod IPs, and need
no restart when a name server moves. Name servers are stateless peers, so the StatefulSet uses the
RollingUpdate strategy.
"""

from __future__ import annotations

from typing import Any

from rocketmq_operator.resources import jvm, meta, naming, pod
from rocketmq_operator.resources.controllers import controller_env, start_command
from rocketmq_operator.resources.model import NameServiceModel

COMPONENT = "nameserver"
CONTAINER_NAME = "nameserver"

# Prefer the distribution's own script; images that put mqnamesrv on PATH work too.
START_COMMAND = (
    'if [ -n "${ROCKETMQ_HOME:-}" ] && [ -f "$ROCKETMQ_HOME/bin/mqnamesrv" ]; then '
    'exec sh "$ROCKETMQ_HOME/bin/mqnamesrv"; fi; exec mqnamesrv'
)
EMBEDDED_CONF = f"{naming.ROCKETMQ_HOME_DIR}/namesrv/namesrv.conf"


def name_service_selector(model: NameServiceModel) -> dict[str, str]:
    """Labels selecting the name-server pods of ``model``."""
    return {meta.LABEL_APP: meta.NAME_SERVER_APP, meta.LABEL_INSTANCE: model.name}


def name_service_labels(model: NameServiceModel) -> dict[str, str]:
    """Labels of the name service's objects and pods."""
    return {**meta.standard_labels(model.name, component=COMPONENT), **name_service_selector(model)}


def _meta(model: NameServiceModel) -> dict[str, Any]:
    return meta.object_meta(
        model.name, model.parent, labels=name_service_labels(model), extra_labels=model.labels
    )


def name_service_service(model: NameServiceModel) -> dict[str, Any]:
    """The headless Service giving each name server a stable DNS name."""
    port = naming.NAME_SERVER_PORT
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(model),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": name_service_selector(model),
            "ports": [{"name": "main", "port": port, "targetPort": port, "protocol": "TCP"},
                      *_controller_ports(model, service=True)],
        },
    }


def _container(model: NameServiceModel) -> dict[str, Any]:
    port = naming.NAME_SERVER_PORT
    env = pod.field_env()
    command = START_COMMAND
    if model.embedded_controller:
        env += controller_env(group=model.name, peers=naming.controller_peers(
            model.name, model.namespace, model.size, cluster_domain=model.cluster_domain),
            store=naming.NAMESRV_CONTROLLER_STORE_DIR)
        command = start_command(EMBEDDED_CONF, script="mqnamesrv",
                                extra_lines=('"enableControllerInNamesrv=true"',))
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": model.image,
        "command": ["/bin/sh", "-c", command],
        "ports": [{"name": "main", "containerPort": port, "protocol": "TCP"}, *_controller_ports(model)],
        **pod.probes(port),
        "volumeMounts": pod.data_mounts(model.storage, subdirs=("logs", "namesrv")),
        **pod.container_options(model.pod, env=env, heap=jvm.NAME_SERVER),
    }
    if model.image_pull_policy:
        container["imagePullPolicy"] = model.image_pull_policy
    return container


def _controller_ports(model: NameServiceModel, *, service: bool = False) -> list[dict[str, Any]]:
    """The embedded controller's peer port (also where brokers reach it), when the name servers run one."""
    if not model.embedded_controller:
        return []
    port = naming.CONTROLLER_PORT
    if service:
        return [{"name": "controller", "port": port, "targetPort": port, "protocol": "TCP"}]
    return [{"name": "controller", "containerPort": port, "protocol": "TCP"}]


def name_service_statefulset(model: NameServiceModel) -> dict[str, Any]:
    """The StatefulSet running the name servers."""
    labels = name_service_labels(model)
    selector = name_service_selector(model)
    template_meta: dict[str, Any] = {"labels": labels}
    if model.pod.annotations:
        template_meta["annotations"] = dict(model.pod.annotations)
    spec: dict[str, Any] = {
        "replicas": model.size,
        "serviceName": model.name,
        "podManagementPolicy": "Parallel",
        "selector": {"matchLabels": selector},
        "updateStrategy": {"type": "RollingUpdate"},
        "persistentVolumeClaimRetentionPolicy": pod.retention_spec(model.storage),
        "template": {
            "metadata": template_meta,
            "spec": pod.pod_spec(
                model.pod,
                containers=[_container(model)],
                volumes=pod.data_volumes(model.storage),
                selector=selector,
                image=model.image,
                init_containers=pod.volume_permissions(model.pod, model.storage, image=model.image,
                                                       subdirs=("logs", "namesrv"),
                                                       image_pull_policy=model.image_pull_policy),
            ),
        },
    }
    templates = pod.claim_templates(model.storage, labels=selector)
    if templates:
        spec["volumeClaimTemplates"] = templates
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta(model), "spec": spec}


def name_service_pdb(model: NameServiceModel) -> dict[str, Any]:
    """A PodDisruptionBudget letting at most one name server be evicted at a time.

    Brokers register with every name server, so any one may go; two at once during a node drain
    could leave clients of a small name service with none.
    """
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(model),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": name_service_selector(model)}},
    }


def name_service_objects(model: NameServiceModel) -> list[dict[str, Any]]:
    """Service, StatefulSet and PodDisruptionBudget of the name service, in create order."""
    return [name_service_service(model), name_service_statefulset(model), name_service_pdb(model)]


def name_service_status_addresses(model: NameServiceModel) -> list[str]:
    """``host:port`` of each name server, for ``status.nameServers``."""
    return naming.name_server_hosts(
        model.name, model.namespace, model.size, cluster_domain=model.cluster_domain
    )
