"""Desired Kubernetes objects of a broker cluster: three for the cluster, a StatefulSet per broker group.

For cluster ``c`` (see :mod:`naming`):

- headless Service ``c-brokers`` selecting every broker pod of the cluster: each pod's stable DNS name
  (``publishNotReadyAddresses``: DLedger peers must find each other before any of them is ready);
- ConfigMap ``c-brokers``: ``group-<g>-broker-<m>.conf`` for each member of each group it holds and the
  scripts; each group's pods mount their own members' files as ``broker-<m>.conf``. It holds the groups while
  their files fit well under the API server's 1 MiB limit; a group beyond that gets a ConfigMap of its own
  (see resources.configlayout, which also keeps every running group where its pods mount it);
- PodDisruptionBudget ``c-brokers`` allowing one broker of the cluster down at a time (a voluntary
  eviction never takes two brokers at once, whatever their groups).

For broker group ``g``:

- ConfigMap ``c-g-config`` (``broker-<m>.conf`` per member, the scripts), for a group whose files are not in
  the cluster's (``model.own_config_groups``): groups created by a version that gave each group its own, and
  groups whose files did not fit in the cluster's;
- headless Service ``c-g``, only for a group whose StatefulSet was created by a version that gave each group
  its own (``serviceName`` cannot change, and a new volume would restart the pods); the reconciler names those
  groups in ``model.legacy_groups``. Their PodDisruptionBudget ``c-g`` is replaced by the cluster's
  (see controllers.brokers.brokercluster), which changes no pod;
- StatefulSet ``c-g`` with ``membersPerGroup`` pods and a **RollingUpdate** strategy: the StatefulSet
  controller replaces pods from the highest ordinal down, one at a time, each only after the one
  before is Ready again — slaves first, the master (ordinal 0) last — and ``kubectl rollout status``
  follows it. ``allowRestart: false`` sets the partition to the member count, which holds every
  existing pod on its old revision. The pod template carries a hash of the ConfigMap's content, so a
  change of broker.conf changes the template and rolls the group, and the value of the custom resource's
  restart annotation (``rocketmq.apache.org/restartedAt``), so a new value rolls it too (removing the
  annotation rolls nothing: the live template keeps the last value).

One Service, ConfigMap and PodDisruptionBudget per cluster instead of one each per group: three API
writes fewer for a new cluster of two groups, with the same files, names and protection; a group's own
ConfigMap only where the cluster's would grow too large.

All functions are pure: model in, plain dicts out.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from importlib import resources as package_files
from typing import Any

from rocketmq_operator.resources import configlayout, identity, jvm, meta, naming, pod
from rocketmq_operator.resources.brokerconf import (
    cluster_conf_key,
    conf_file_name,
    group_confs,
    group_service,
)
from rocketmq_operator.resources.model import BrokerClusterModel

COMPONENT = "broker"
CONTAINER_NAME = "broker"
START_SCRIPT = "start-broker.sh"
PROBE_SCRIPT = "broker-probe.sh"
PRE_STOP_SECONDS = 5
TERMINATION_GRACE_SECONDS = 90  # a broker takes ~12 s to stop; a large store flush takes longer
CONF_DIR = "/etc/rocketmq-operator"
RUN_DIR = "/var/lib/rocketmq-operator"
CONFIG_VOLUME = naming.CONFIG_VOLUME
RUN_VOLUME = naming.RUN_VOLUME


@functools.cache
def script(name: str) -> str:
    """Text of a script shipped with the package (scripts/)."""
    return package_files.files("rocketmq_operator").joinpath(f"scripts/{name}").read_text()


def start_script() -> str:
    """Text of the broker start script shipped with the package."""
    return script(START_SCRIPT)


def registered_probe() -> dict[str, Any]:
    """Readiness: a name server lists the broker (``broker-probe.sh ready``)."""
    return _script_probe("ready")


def answering_probe() -> dict[str, Any]:
    """Liveness: the broker answers a request within 4 s (``broker-probe.sh alive``), 3 times in a row
    failed means restart — a frozen JVM keeps its port open, so a TCP probe would never restart it."""
    # A broker that stopped answering gets 30 s to stop on SIGTERM, not the pod's full grace period.
    return {**_script_probe("alive"), "terminationGracePeriodSeconds": 30}


def _script_probe(mode: str) -> dict[str, Any]:
    """Images without bash (the Apache operator's Alpine images) fall back to the open port the startup
    probe already checked."""
    check = f"command -v bash >/dev/null 2>&1 || exit 0; exec bash {CONF_DIR}/{PROBE_SCRIPT} {mode}"
    return {"exec": {"command": ["/bin/sh", "-c", check]}, "periodSeconds": 10, "timeoutSeconds": 5,
            "failureThreshold": 3}


def group_selector(model: BrokerClusterModel, group: int) -> dict[str, str]:
    """Labels selecting the pods of broker group ``group`` (immutable once a StatefulSet exists)."""
    return {
        meta.LABEL_APP: meta.BROKER_APP,
        meta.LABEL_CLUSTER: model.name,
        meta.LABEL_GROUP: str(group),
    }


def group_labels(model: BrokerClusterModel, group: int) -> dict[str, str]:
    """Labels of every object of broker group ``group`` and of its pods."""
    return {**meta.standard_labels(model.name, component=COMPONENT), **group_selector(model, group)}


def cluster_selector(model: BrokerClusterModel) -> dict[str, str]:
    """Labels selecting every broker pod of the cluster."""
    return {meta.LABEL_APP: meta.BROKER_APP, meta.LABEL_CLUSTER: model.name}


def _meta(model: BrokerClusterModel, name: str, group: int) -> dict[str, Any]:
    return meta.object_meta(name, model.parent, labels=group_labels(model, group), extra_labels=model.labels)


def _cluster_meta(model: BrokerClusterModel, name: str) -> dict[str, Any]:
    labels = {**meta.standard_labels(model.name, component=COMPONENT), **cluster_selector(model)}
    return meta.object_meta(name, model.parent, labels=labels, extra_labels=model.labels)


def group_files(model: BrokerClusterModel, group: int, confs: dict[str, str] | None = None) -> dict[str, str]:
    """The files a pod of ``group`` finds in its configuration directory: each member's broker.conf (``confs``
    when the caller has them already) and the scripts (their content hash is stamped on the group's pod
    template)."""
    confs = group_confs(model, group) if confs is None else confs
    return {**confs, START_SCRIPT: start_script(), PROBE_SCRIPT: script(PROBE_SCRIPT)}


def broker_config_map(model: BrokerClusterModel, group: int,
                      confs: dict[str, str] | None = None) -> dict[str, Any]:
    """The ConfigMap of a group with one of its own (see the module docstring)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(model, naming.config_map_name(model.name, group), group),
        "data": group_files(model, group, confs),
    }


def cluster_config_map(model: BrokerClusterModel, groups: list[int],
                       confs: dict[int, dict[str, str]] | None = None) -> dict[str, Any]:
    """The ConfigMap of every group in ``groups``: ``group-<g>-broker-<m>.conf`` per member, the scripts once.
    ``confs`` holds the groups' broker.conf texts when the caller has them already."""
    data = {START_SCRIPT: start_script(), PROBE_SCRIPT: script(PROBE_SCRIPT)}
    for group in groups:
        texts = confs[group] if confs is not None and group in confs else group_confs(model, group)
        data.update({cluster_conf_key(group, m): text for m, text in enumerate(texts.values())})
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _cluster_meta(model, naming.cluster_service_name(model.name)), "data": data}


def _service_ports(model: BrokerClusterModel) -> list[dict[str, Any]]:
    ports = [
        ("main", naming.BROKER_PORT),
        ("vip", naming.BROKER_VIP_PORT),
        ("ha", naming.BROKER_HA_PORT),
    ]
    if model.dledger:
        ports.append(("dledger", naming.DLEDGER_PORT))
    return [{"name": name, "port": port, "targetPort": port, "protocol": "TCP"} for name, port in ports]


def _headless(metadata: dict[str, Any], selector: dict[str, str],
              model: BrokerClusterModel) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {"clusterIP": "None", "publishNotReadyAddresses": True, "selector": selector,
                 "ports": _service_ports(model)},
    }


def cluster_service(model: BrokerClusterModel) -> dict[str, Any]:
    """The headless Service giving every broker pod of the cluster a stable DNS name."""
    return _headless(_cluster_meta(model, naming.cluster_service_name(model.name)), cluster_selector(model),
                     model)


def broker_service(model: BrokerClusterModel, group: int) -> dict[str, Any]:
    """The headless Service of a group created with a Service of its own (see the module docstring)."""
    return _headless(_meta(model, naming.group_name(model.name, group), group), group_selector(model, group),
                     model)


def _container(model: BrokerClusterModel) -> dict[str, Any]:
    env = [
        *pod.field_env(),
        {"name": "BROKER_CONF_DIR", "value": CONF_DIR},
        {"name": "BROKER_RUN_DIR", "value": RUN_DIR},
    ]
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": model.image,
        "command": ["/bin/sh", f"{CONF_DIR}/{START_SCRIPT}"],
        "ports": [
            {"name": p["name"], "containerPort": p["port"], "protocol": "TCP"} for p in _service_ports(model)
        ],
        **pod.probes(naming.BROKER_PORT),
        "readinessProbe": registered_probe(),
        "livenessProbe": answering_probe(),
        # A short pause before SIGTERM lets clients see the broker leave the Service and the name servers'
        # routes refresh; the grace period below covers the broker's own shutdown (flush, unregister).
        "lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", f"sleep {PRE_STOP_SECONDS}"]}}},
        "volumeMounts": [
            {"name": CONFIG_VOLUME, "mountPath": CONF_DIR, "readOnly": True},
            {"name": RUN_VOLUME, "mountPath": RUN_DIR},
            *pod.data_mounts(model.storage, subdirs=("logs", "store")),
        ],
        **pod.container_options(model.pod, env=env, heap=jvm.BROKER),
    }
    if model.image_pull_policy:
        container["imagePullPolicy"] = model.image_pull_policy
    return container


def has_own_config(model: BrokerClusterModel, group: int) -> bool:
    """Whether the files of ``group`` are in a ConfigMap of its own rather than the cluster's."""
    return group in model.own_config_groups or group in model.legacy_groups


def _volumes(model: BrokerClusterModel, group: int) -> list[dict[str, Any]]:
    if has_own_config(model, group):
        config: dict[str, Any] = {"name": naming.config_map_name(model.name, group), "defaultMode": 0o555}
    else:  # the group's files out of the cluster's ConfigMap, under the names the start script reads
        items = [{"key": cluster_conf_key(group, m), "path": conf_file_name(m)}
                 for m in range(model.members_per_group)]
        items += [{"key": name, "path": name} for name in (START_SCRIPT, PROBE_SCRIPT)]
        config = {"name": naming.cluster_service_name(model.name), "items": items, "defaultMode": 0o555}
    return [
        {"name": CONFIG_VOLUME, "configMap": config},
        {"name": RUN_VOLUME, "emptyDir": {}},
        *pod.data_volumes(model.storage),
    ]


def broker_statefulset(model: BrokerClusterModel, group: int, *, config_hash: str) -> dict[str, Any]:
    """The StatefulSet running the members of broker group ``group``.

    ``config_hash`` is the content hash of the group's ConfigMap (see :func:`config_hash`).
    """
    labels = group_labels(model, group)
    selector = group_selector(model, group)
    annotations = {**model.pod.annotations, meta.ANNOTATION_CONFIG_HASH: config_hash}
    if model.restart:  # a new value is a new template: the roll planner restarts the brokers one at a time
        annotations[meta.ANNOTATION_RESTART] = model.restart
    spec: dict[str, Any] = {
        "replicas": model.members_per_group,
        "serviceName": group_service(model, group),
        "podManagementPolicy": "Parallel",
        "selector": {"matchLabels": selector},
        "updateStrategy": update_strategy(model),
        "persistentVolumeClaimRetentionPolicy": pod.retention_spec(model.storage),
        "template": {
            "metadata": {"labels": labels, "annotations": annotations},
            "spec": {
                **pod.pod_spec(
                    model.pod,
                    containers=[_container(model)],
                    volumes=_volumes(model, group),
                    selector=selector,
                    image=model.image,
                    init_containers=pod.volume_permissions(model.pod, model.storage, image=model.image,
                                                           subdirs=("logs", "store"),
                                                           image_pull_policy=model.image_pull_policy),
                ),
                "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
            },
        },
    }
    templates = pod.claim_templates(model.storage, labels=selector)
    if templates:
        spec["volumeClaimTemplates"] = templates
    metadata = _meta(model, naming.group_name(model.name, group), group)
    # What the group's broker names start with, kept where the group lives (see resources.identity).
    metadata["annotations"] = {**(metadata.get("annotations") or {}),
                               identity.ANNOTATION_PREFIX: model.broker_name_prefix}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": metadata, "spec": spec}


def update_strategy(model: BrokerClusterModel) -> dict[str, Any]:
    """Rolling updates, held (partition = member count) when the cluster does not allow restarts."""
    partition = 0 if model.allow_restart else model.members_per_group
    return {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}}


def cluster_pdb(model: BrokerClusterModel) -> dict[str, Any]:
    """A PodDisruptionBudget letting at most one broker of the cluster be evicted at a time."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _cluster_meta(model, naming.cluster_service_name(model.name)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": cluster_selector(model)}},
    }


def config_hash(config_map: dict[str, Any], *, hot_name_servers: bool = False) -> str:
    """Content hash of a group's files (``{"data": group_files(...)}``, what a group's own ConfigMap holds),
    stamped on the pod template they configure.

    With ``hot_name_servers`` the ``namesrvAddr`` lines are left out: running brokers get a new
    name-server list pushed to them (UPDATE_BROKER_CONFIG) instead of a restart, and new pods read it
    from the ConfigMap.
    """
    data = dict(config_map.get("data") or {})
    if hot_name_servers:
        data = {k: _without_namesrv(v) if k.endswith(".conf") else v for k, v in data.items()}
    return meta.content_hash({"data": data})


def _without_namesrv(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("namesrvAddr="))


def broker_group_objects(model: BrokerClusterModel, group: int, *, hot_name_servers: bool = False,
                         confs: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The objects of one broker group in create order: its StatefulSet, after its own ConfigMap (and Service)
    for a group with those. ``confs``: the group's broker.conf texts, when the caller has them."""
    confs = group_confs(model, group) if confs is None else confs
    files = config_hash({"data": group_files(model, group, confs)}, hot_name_servers=hot_name_servers)
    sts = broker_statefulset(model, group, config_hash=files)
    if group in model.legacy_groups:
        return [broker_config_map(model, group, confs), broker_service(model, group), sts]
    if has_own_config(model, group):
        return [broker_config_map(model, group, confs), sts]
    return [sts]


def broker_cluster_objects(model: BrokerClusterModel, *, hot_name_servers: bool = False,
                           draining: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    """Every object of the cluster in create order: its Service and ConfigMap, each group's objects, its
    PodDisruptionBudget. ``draining`` names groups beyond the spec that still run: their files stay where
    they are until they are gone."""
    model, shared, confs = placed(model, draining)
    config = [cluster_config_map(model, list(shared), confs)] if shared else []
    groups = [obj for group in range(model.groups)
              for obj in broker_group_objects(model, group, hot_name_servers=hot_name_servers,
                                              confs=confs[group])]
    return [cluster_service(model), *config, *groups, cluster_pdb(model)]


def placed(model: BrokerClusterModel, draining: tuple[int, ...] = ()
           ) -> tuple[BrokerClusterModel, tuple[int, ...], dict[int, dict[str, str]]]:
    """Where each group's files go (see resources.configlayout): the model naming every group with a ConfigMap
    of its own, the groups in the cluster's, and the broker.conf texts of the groups rendered (each once)."""
    own = model.own_config_groups | model.legacy_groups
    rendered = [g for g in (*range(model.groups), *draining) if g < model.groups or g not in own]
    confs = {g: group_confs(model, g) for g in rendered}
    sizes = {g: configlayout.data_size(texts) for g, texts in confs.items()}
    scripts = {START_SCRIPT: start_script(), PROBE_SCRIPT: script(PROBE_SCRIPT)}
    where = configlayout.place(sizes, base=configlayout.data_size(scripts), own=own,
                               shared=model.shared_config_groups, draining=frozenset(draining))
    return replace(model, own_config_groups=where.own), where.shared, confs
