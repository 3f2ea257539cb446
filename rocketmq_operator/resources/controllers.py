"""Desired Kubernetes objects of a RocketMQ 5 controller group (the Raft group that elects broker masters).

Controller ``c`` of ``size`` members becomes a StatefulSet ``c`` behind a headless Service ``c`` that
publishes not-ready addresses (Raft peers must find each other before any is Ready), and a
PodDisruptionBudget ``c`` that lets one member go at a time (a majority keeps electing). Each pod writes
its ``controller.conf`` at start: the group, the peers ``n<i>-c-<i>.c.<namespace>.svc.<domain>:9878``
(stable names, never pod IPs) and its own id ``n<ordinal>``, the store on the data volume; then it runs
the image's ``mqcontroller``. A controller answers brokers and admins on its peer port, so a broker's
``controllerAddr`` is the same list of host:9878.

The same keys run a controller inside each name server when a NameService sets
``enableControllerInNamesrv`` (see :func:`controller_conf_lines`, used by resources/nameservers.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rocketmq_operator.resources import jvm, meta, naming, pod
from rocketmq_operator.resources.meta import ParentRef
from rocketmq_operator.resources.modelparts import (
    Problem,
    ServerModel,
    pod_options,
    pod_problems,
    retention_policy,
    storage,
)

API_VERSION = "rocketmq.apache.org/v1alpha1"
COMPONENT = "controller"
CONTAINER_NAME = "controller"
CONTROLLER_APP = "rocketmq-controller"
# the Raft log holds replica-table events only (RocketMQ's default: 1 GiB)
MAPPED_FILE_SIZE = 64 * 1024 * 1024
ENV_GROUP, ENV_PEERS, ENV_STORE = naming.CONTROLLER_ENV
OPERATOR_ENV = (*naming.FIELD_ENV, ENV_GROUP, ENV_PEERS, ENV_STORE)


@dataclass(frozen=True)
class ControllerModel(ServerModel):
    @property
    def group(self) -> str:
        """``controllerDLegerGroup``: the resource's name."""
        return self.name

    @property
    def peers(self) -> str:
        return naming.controller_peers(self.name, self.namespace, self.size,
                                       cluster_domain=self.cluster_domain)

    @property
    def address(self) -> str:
        """The ``controllerAddr`` brokers use."""
        return naming.controller_address(self.name, self.namespace, self.size,
                                         cluster_domain=self.cluster_domain)


def from_controller(obj: Mapping[str, Any], *,
                    cluster_domain: str = naming.DEFAULT_CLUSTER_DOMAIN) -> ControllerModel:
    """The model of a ``Controller`` custom resource (the Apache operator's fields)."""
    spec = obj.get("spec") or {}
    problems: list[Problem] = []
    if not spec.get("controllerImage"):
        problems.append(Problem("spec.controllerImage", "a controller image is required"))
    size = int(spec.get("size", 1))
    if size < 1:
        problems.append(Problem("spec.size", "a controller group needs at least one member"))
    options = pod_options(spec)
    store = storage(spec, retention=retention_policy(spec), problems=problems)
    refused, notes = pod_problems(options, storage=store, operator_env=OPERATOR_ENV, operator_volumes=())
    return ControllerModel(
        parent=ParentRef.of(obj, api_version=API_VERSION, kind="Controller"),
        image=spec.get("controllerImage", ""), size=size,
        image_pull_policy=spec.get("imagePullPolicy") or None,
        labels=dict((obj.get("metadata") or {}).get("labels") or {}), pod=options, storage=store,
        generation=int((obj.get("metadata") or {}).get("generation", 0)), cluster_domain=cluster_domain,
        problems=(*problems, *refused), notes=tuple(notes))


def controller_conf_lines(*, store_env: str = ENV_STORE) -> list[str]:
    """The controller keys as shell ``printf`` arguments, read from the pod's env at start (self id from the
    pod ordinal)."""
    return ['"controllerDLegerGroup=$' + ENV_GROUP + '"', '"controllerDLegerPeers=$' + ENV_PEERS + '"',
            '"controllerDLegerSelfId=n${POD_NAME##*-}"', '"controllerStorePath=$' + store_env + '"',
            f'"mappedFileSize={MAPPED_FILE_SIZE}"']


def start_command(conf: str, *, script: str, extra_lines: tuple[str, ...] = ()) -> str:
    """A shell command writing ``conf`` from the controller keys (and ``extra_lines``) and exec'ing ``script``
    from the image (``mqcontroller`` or ``mqnamesrv``) with it."""
    lines = " ".join([*extra_lines, *controller_conf_lines()])
    return (f'set -eu; mkdir -p "${ENV_STORE}"; printf "%s\\n" {lines} > {conf}; '
            f'if [ -n "${{ROCKETMQ_HOME:-}}" ] && [ -f "$ROCKETMQ_HOME/bin/{script}" ]; then '
            f'exec sh "$ROCKETMQ_HOME/bin/{script}" -c {conf}; fi; exec {script} -c {conf}')


def controller_env(*, group: str, peers: str, store: str) -> list[dict[str, Any]]:
    return [{"name": ENV_GROUP, "value": group}, {"name": ENV_PEERS, "value": peers},
            {"name": ENV_STORE, "value": store}]


def controller_selector(model: ControllerModel) -> dict[str, str]:
    return {meta.LABEL_APP: CONTROLLER_APP, meta.LABEL_INSTANCE: model.name}


def _labels(model: ControllerModel) -> dict[str, str]:
    return {**meta.standard_labels(model.name, component=COMPONENT), **controller_selector(model)}


def _meta(model: ControllerModel) -> dict[str, Any]:
    return meta.object_meta(model.name, model.parent, labels=_labels(model), extra_labels=model.labels)


def controller_service(model: ControllerModel) -> dict[str, Any]:
    port = naming.CONTROLLER_PORT
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(model),
            "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                     "selector": controller_selector(model),
                     "ports": [{"name": "controller", "port": port, "targetPort": port, "protocol": "TCP"}]}}


def _container(model: ControllerModel) -> dict[str, Any]:
    port = naming.CONTROLLER_PORT
    conf = f"{naming.CONTROLLER_STORE_DIR}/controller.conf"
    env = [*pod.field_env(),
           *controller_env(group=model.group, peers=model.peers, store=naming.CONTROLLER_STORE_DIR)]
    container: dict[str, Any] = {
        "name": CONTAINER_NAME, "image": model.image,
        "command": ["/bin/sh", "-c", start_command(conf, script="mqcontroller")],
        "ports": [{"name": "controller", "containerPort": port, "protocol": "TCP"}],
        **pod.probes(port),
        "volumeMounts": pod.data_mounts(model.storage, subdirs=("logs", "store")),
        **pod.container_options(model.pod, env=env, heap=jvm.CONTROLLER),
    }
    if model.image_pull_policy:
        container["imagePullPolicy"] = model.image_pull_policy
    return container


def controller_statefulset(model: ControllerModel) -> dict[str, Any]:
    selector = controller_selector(model)
    template_meta: dict[str, Any] = {"labels": _labels(model)}
    if model.pod.annotations:
        template_meta["annotations"] = dict(model.pod.annotations)
    init = pod.volume_permissions(model.pod, model.storage, image=model.image, subdirs=("logs", "store"),
                                  image_pull_policy=model.image_pull_policy)
    spec: dict[str, Any] = {
        "replicas": model.size, "serviceName": model.name, "podManagementPolicy": "Parallel",
        "selector": {"matchLabels": selector}, "updateStrategy": {"type": "RollingUpdate"},
        "persistentVolumeClaimRetentionPolicy": pod.retention_spec(model.storage),
        "template": {"metadata": template_meta, "spec": pod.pod_spec(
            model.pod, containers=[_container(model)], volumes=pod.data_volumes(model.storage),
            selector=selector, image=model.image, init_containers=init)},
    }
    templates = pod.claim_templates(model.storage, labels=selector)
    if templates:
        spec["volumeClaimTemplates"] = templates
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta(model), "spec": spec}


def controller_pdb(model: ControllerModel) -> dict[str, Any]:
    """One controller evicted at a time: the others keep a Raft majority (with three or more)."""
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(model),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": controller_selector(model)}}}


def controller_objects(model: ControllerModel) -> list[dict[str, Any]]:
    """Service, StatefulSet and PodDisruptionBudget, in create order."""
    return [controller_service(model), controller_statefulset(model), controller_pdb(model)]
