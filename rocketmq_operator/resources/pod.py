"""Pod template parts shared by the broker and name-service StatefulSets.

Storage: one data volume per pod, mounted twice with sub-paths (``logs`` and ``store`` under the
RocketMQ user's home). In HostPath mode the sub-paths start with the pod name (``subPathExpr``), so
two pods scheduled on the same node never share a directory. In StorageClass mode the volume comes
from the StatefulSet's claim template of the same name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rocketmq_operator.resources import jvm
from rocketmq_operator.resources.jsoncopy import json_copy
from rocketmq_operator.resources.jvm import HeapProfile
from rocketmq_operator.resources.modelparts import PodOptions, Storage
from rocketmq_operator.resources.naming import ROCKETMQ_HOME_DIR

# The official apache/rocketmq images run as user and group 3000 (home /home/rocketmq). Without a
# pod securityContext of the user's, pods run as that user, never as root, and volumes are made
# writable for its group (kubelet creates sub-paths with the volume root's mode, so they inherit
# it too; OnRootMismatch skips the recursive chown when the root is already right).
DEFAULT_SECURITY_CONTEXT = {
    "runAsUser": 3000,
    "runAsGroup": 3000,
    "runAsNonRoot": True,
    "fsGroup": 3000,
    "fsGroupChangePolicy": "OnRootMismatch",
}
# The Apache operator's own images (apacherocketmq/rocketmq-*) run as root from /root, which user
# 3000 cannot enter: for them only the volume group is set, as before.
ROOT_IMAGE_REPOSITORIES = ("apacherocketmq/",)
ROOT_IMAGE_SECURITY_CONTEXT = {"fsGroup": 3000, "fsGroupChangePolicy": "OnRootMismatch"}
DEFAULT_CONTAINER_SECURITY_CONTEXT = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
HOSTNAME_TOPOLOGY_KEY = "kubernetes.io/hostname"
ZONE_TOPOLOGY_KEY = "topology.kubernetes.io/zone"


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


def probes(port: int) -> dict[str, Any]:
    """Startup, readiness and liveness probes of a RocketMQ server listening on ``port``.

    The startup probe gives the JVM up to 5 minutes (60 × 5 s) to open its port — a broker
    recovering a large commit log takes a while — and holds the other two until it has. Liveness
    then restarts a server whose port stays closed for 30 s; readiness takes it out of its
    Service's endpoints after the same.
    """
    return {
        "startupProbe": tcp_probe(port, period=5, failures=60),
        "readinessProbe": tcp_probe(port),
        "livenessProbe": tcp_probe(port),
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
        template = json_copy(dict(claim))
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


def spread_over_zones(labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """A soft spread of pods matching ``labels`` over zones (nodes without a zone label count as one)."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": ZONE_TOPOLOGY_KEY,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(labels)},
        }
    ]


def pod_security_context(options: PodOptions, *, image: str) -> dict[str, Any]:
    """The user's pod securityContext, else the image user's (see :data:`DEFAULT_SECURITY_CONTEXT`)."""
    if options.security_context:
        return json_copy(dict(options.security_context))
    repository = image.removeprefix("docker.io/")
    if repository.startswith(ROOT_IMAGE_REPOSITORIES):
        return dict(ROOT_IMAGE_SECURITY_CONTEXT)
    return dict(DEFAULT_SECURITY_CONTEXT)


def container_options(
    options: PodOptions, *, env: Sequence[Mapping[str, Any]], heap: HeapProfile
) -> dict[str, Any]:
    """Container fields from pod options: env, resources, security context.

    Env is the operator's ``env`` first, then the user's, then ``HEAP_OPTS`` (see :mod:`.jvm`),
    which may refer to the user's ``BROKER_MEM`` as ``$(BROKER_MEM)``.
    """
    user_env = json_copy(list(options.env))
    container: dict[str, Any] = {
        "env": [
            *json_copy(list(env)),
            *user_env,
            *jvm.heap_env(user_env, resources=options.resources, profile=heap),
        ],
        "resources": json_copy(dict(options.resources)),
    }
    given = options.container_security_context or DEFAULT_CONTAINER_SECURITY_CONTEXT
    container["securityContext"] = json_copy(dict(given))
    return container


VOLUME_PERMISSIONS_CONTAINER = "rocketmq-operator-volume-permissions"


def volume_permissions(options: PodOptions, storage: Storage, *, image: str, subdirs: Sequence[str],
                       image_pull_policy: str | None = None) -> list[dict[str, Any]]:
    """An init container that hands the data directories to the image's user (uid/gid 3000).

    kubelet applies ``fsGroup`` to emptyDir volumes but not to host paths — neither to a ``HostPath``
    store nor to the claims of host-path provisioners, which come up root-owned — so a broker running as
    3000 could not write its store. The init container runs as root with only CAP_CHOWN and changes the
    owner of each mount point (not recursively: what the broker writes is already its own). Not added for
    emptyDir storage, for images that run as root, or when the user gave a pod securityContext.
    """
    if storage.mode == "EmptyDir" or options.security_context:
        return []
    if image.removeprefix("docker.io/").startswith(ROOT_IMAGE_REPOSITORIES):
        return []
    mounts = data_mounts(storage, subdirs=subdirs)
    paths = " ".join(m["mountPath"] for m in mounts)
    container: dict[str, Any] = {
        "name": VOLUME_PERMISSIONS_CONTAINER,
        "image": image,
        "command": ["/bin/sh", "-c", f"chown 3000:3000 {paths}"],
        "env": field_env(),
        "volumeMounts": mounts,
        "securityContext": {"runAsUser": 0, "runAsNonRoot": False, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"], "add": ["CHOWN"]}},
    }
    if image_pull_policy:
        container["imagePullPolicy"] = image_pull_policy
    return [container]


def pod_spec(
    options: PodOptions,
    *,
    containers: Sequence[Mapping[str, Any]],
    volumes: Sequence[Mapping[str, Any]],
    selector: Mapping[str, str],
    image: str,
    init_containers: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A pod spec with the user's scheduling, security and networking options.

    Scheduling defaults for the pods ``selector`` matches: prefer different nodes (pod
    anti-affinity) and spread softly over zones. A user ``affinity`` replaces both, user
    ``topologySpreadConstraints`` replace the zone spread. The user's ``securityContext`` replaces
    :func:`pod_security_context`'s default. ``hostNetwork`` without a ``dnsPolicy`` gets
    ClusterFirstWithHostNet so that pods still resolve cluster DNS names.
    """
    spec: dict[str, Any] = {
        "containers": [dict(c) for c in containers],
        "volumes": [*volumes, *json_copy(list(options.volumes))],
    }
    if init_containers:
        spec["initContainers"] = [dict(c) for c in init_containers]
    affinity = options.affinity or spread_over_nodes(selector)
    spread = options.topology_spread or (() if options.affinity else spread_over_zones(selector))
    optional = {
        "affinity": json_copy(dict(affinity)),
        "topologySpreadConstraints": json_copy(list(spread)) or None,
        "nodeSelector": dict(options.node_selector) or None,
        "tolerations": json_copy(list(options.tolerations)) or None,
        "securityContext": pod_security_context(options, image=image),
        "imagePullSecrets": json_copy(list(options.image_pull_secrets)) or None,
        "priorityClassName": options.priority_class_name,
        "serviceAccountName": options.service_account_name,
        "dnsPolicy": options.dns_policy or ("ClusterFirstWithHostNet" if options.host_network else None),
    }
    spec.update({key: value for key, value in optional.items() if value is not None})
    if options.host_network:
        spec["hostNetwork"] = True
    return spec
