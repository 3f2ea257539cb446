"""Pod template parts shared by the broker and name-service StatefulSets.

Storage: one data volume per pod, mounted twice with sub-paths (``logs`` and ``store`` under the
RocketMQ user's home). In HostPath mode the sub-paths start with the pod name (``subPathExpr``), so
two pods scheduled on the same node never share a directory. In StorageClass mode the volume comes
from the StatefulSet's claim template of the same name.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from rocketmq_operator.resources import jvm
from rocketmq_operator.resources.jvm import HeapProfile
from rocketmq_operator.resources.modelparts import PodOptions, Storage
from rocketmq_operator.resources.naming import ROCKETMQ_HOME_DIR

# The Apache RocketMQ images run as user and group 3000. Without a pod securityContext of the
# user's, volumes are made writable for that group (kubelet creates sub-paths with the volume
# root's mode, so they inherit it too).
DEFAULT_SECURITY_CONTEXT = {"fsGroup": 3000, "fsGroupChangePolicy": "OnRootMismatch"}
HOSTNAME_TOPOLOGY_KEY = "kubernetes.io/hostname"


def field_env() -> list[dict[str, Any]]:
    """POD_NAME, POD_NAMESPACE and POD_IP from the downward API."""
    return [
        _field_ref("POD_NAME", "metadata.name"),
        _field_ref("POD_NAMESPACE", "metadata.namespace"),
        _field_ref("POD_IP", "status.podIP"),
    ]


def _field_ref(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def tcp_probe(port: int, *, period: int = 10, failures: int = 3) -> dict[str, Any]:
    """A TCP socket probe on ``port``."""
    return {
        "tcpSocket": {"port": port},
        "periodSeconds": period,
        "failureThreshold": failures,
    }


def data_volumes(storage: Storage) -> list[dict[str, Any]]:
    """Pod volumes for the data directory (none in StorageClass mode: the claim template is it)."""
    if storage.mode == "HostPath":
        source = {"hostPath": {"path": storage.host_path, "type": "DirectoryOrCreate"}}
    elif storage.mode == "EmptyDir":
        source = {"emptyDir": {}}
    else:
        return []
    return [{"name": storage.volume_name, **source}]


def data_mounts(storage: Storage, *, subdirs: Sequence[str]) -> list[dict[str, Any]]:
    """Mounts of the data volume: ``<home>/<subdir>`` for each of ``subdirs``."""
    mounts = []
    for subdir in subdirs:
        mount: dict[str, Any] = {"name": storage.volume_name, "mountPath": f"{ROCKETMQ_HOME_DIR}/{subdir}"}
        if storage.mode == "HostPath":
            mount["subPathExpr"] = f"$(POD_NAME)/{subdir}"
        else:
            mount["subPath"] = subdir
        mounts.append(mount)
    return mounts


def claim_templates(storage: Storage, *, labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """The StatefulSet's ``volumeClaimTemplates`` (StorageClass mode only), labelled like pods."""
    templates = []
    for claim in storage.claim_templates:
        template = copy.deepcopy(dict(claim))
        meta = template.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        template.setdefault("apiVersion", "v1")
        template.setdefault("kind", "PersistentVolumeClaim")
        templates.append(template)
    return templates


def retention_spec(storage: Storage) -> dict[str, str]:
    """``persistentVolumeClaimRetentionPolicy`` of a StatefulSet."""
    return {"whenDeleted": storage.retention.when_deleted, "whenScaled": storage.retention.when_scaled}


def spread_over_nodes(labels: Mapping[str, str], *, weight: int = 100) -> dict[str, Any]:
    """Affinity preferring to place pods matching ``labels`` on different nodes."""
    term = {
        "weight": weight,
        "podAffinityTerm": {
            "labelSelector": {"matchLabels": dict(labels)},
            "topologyKey": HOSTNAME_TOPOLOGY_KEY,
        },
    }
    return {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [term]}}


def container_options(
    options: PodOptions, *, env: Sequence[Mapping[str, Any]], heap: HeapProfile
) -> dict[str, Any]:
    """Container fields from pod options: env, resources, security context.

    Env is the operator's ``env`` first, then the user's, then ``HEAP_OPTS`` (see :mod:`.jvm`),
    which may refer to the user's ``BROKER_MEM`` as ``$(BROKER_MEM)``.
    """
    user_env = copy.deepcopy(list(options.env))
    container: dict[str, Any] = {
        "env": [
            *copy.deepcopy(list(env)),
            *user_env,
            *jvm.heap_env(user_env, resources=options.resources, profile=heap),
        ],
        "resources": copy.deepcopy(dict(options.resources)),
    }
    if options.container_security_context:
        container["securityContext"] = copy.deepcopy(dict(options.container_security_context))
    return container


def pod_spec(
    options: PodOptions,
    *,
    containers: Sequence[Mapping[str, Any]],
    volumes: Sequence[Mapping[str, Any]],
    default_affinity: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A pod spec with the user's scheduling, security and networking options.

    The user's ``affinity`` replaces ``default_affinity`` entirely, and the user's
    ``securityContext`` replaces :data:`DEFAULT_SECURITY_CONTEXT`. ``hostNetwork`` without a
    ``dnsPolicy`` gets ClusterFirstWithHostNet so that pods still resolve cluster DNS names.
    """
    spec: dict[str, Any] = {
        "containers": [dict(c) for c in containers],
        "volumes": [*volumes, *copy.deepcopy(list(options.volumes))],
    }
    affinity = options.affinity or default_affinity
    optional = {
        "affinity": copy.deepcopy(dict(affinity)) if affinity else None,
        "nodeSelector": dict(options.node_selector) or None,
        "tolerations": copy.deepcopy(list(options.tolerations)) or None,
        "securityContext": copy.deepcopy(dict(options.security_context or DEFAULT_SECURITY_CONTEXT)),
        "imagePullSecrets": copy.deepcopy(list(options.image_pull_secrets)) or None,
        "priorityClassName": options.priority_class_name,
        "serviceAccountName": options.service_account_name,
        "dnsPolicy": options.dns_policy or ("ClusterFirstWithHostNet" if options.host_network else None),
    }
    spec.update({key: value for key, value in optional.items() if value is not None})
    if options.host_network:
        spec["hostNetwork"] = True
    return spec
