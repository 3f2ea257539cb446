"""Parts shared by the broker and name-service models: problems, pod options, storage.

The pod-level fields of the custom resources (resources, env, affinity, tolerations, security
contexts, ...) are Kubernetes types that the schema keeps opaque; the operator passes them through
to the pod template unchanged, so the model keeps them as the plain dicts the API returned.

Passing them through must never produce a pod spec the API rejects (the StatefulSet controller
would then fail to create every pod, with nothing in the custom resource's status), so
:func:`pod_problems` refuses what would: a user volume named like one the operator adds or like
the data volume, two user volumes of one name, a user env var the operator sets from the downward
API or for its start script. The heap knobs (``HEAP_OPTS``, ``JAVA_OPT_EXT``) are the user's to
set and win (see :mod:`.jvm`). The CRDs expose no ports or volume mounts, so those cannot clash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rocketmq_operator.resources import naming
from rocketmq_operator.resources.meta import ParentRef

STORAGE_MODES = ("EmptyDir", "HostPath", "StorageClass")
DEFAULT_CLAIM_NAME = "broker-storage"


@dataclass(frozen=True)
class Problem:
    """Something in a custom resource the operator cannot apply, located by its field path."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class PodOptions:
    """Pod and container settings passed through from the custom resource to the pod template."""

    resources: Mapping[str, Any] = field(default_factory=dict)
    env: tuple[Mapping[str, Any], ...] = ()
    tolerations: tuple[Mapping[str, Any], ...] = ()
    affinity: Mapping[str, Any] | None = None
    topology_spread: tuple[Mapping[str, Any], ...] = ()
    node_selector: Mapping[str, str] = field(default_factory=dict)
    security_context: Mapping[str, Any] | None = None
    container_security_context: Mapping[str, Any] | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    image_pull_secrets: tuple[Mapping[str, Any], ...] = ()
    priority_class_name: str | None = None
    service_account_name: str | None = None
    host_network: bool = False
    dns_policy: str | None = None
    volumes: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class RetentionPolicy:
    """What happens to the PVCs of a StatefulSet when it is deleted or scaled down."""

    when_deleted: str = "Retain"
    when_scaled: str = "Retain"


@dataclass(frozen=True)
class Storage:
    """Where a pod keeps its data: an emptyDir, a directory of the node, or a PVC per pod."""

    mode: str = "EmptyDir"
    host_path: str = ""
    claim_templates: tuple[Mapping[str, Any], ...] = ()
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)

    @property
    def volume_name(self) -> str:
        """Name of the data volume (the first claim template's name in StorageClass mode)."""
        if self.mode == "StorageClass" and self.claim_templates:
            return (self.claim_templates[0].get("metadata") or {}).get("name") or DEFAULT_CLAIM_NAME
        return DEFAULT_CLAIM_NAME


@dataclass(frozen=True)
class ServerModel:
    """What the kinds that run one StatefulSet of servers (name servers, controllers) share."""

    parent: ParentRef
    image: str
    size: int
    image_pull_policy: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    pod: PodOptions = field(default_factory=PodOptions)
    storage: Storage = field(default_factory=Storage)
    generation: int = 0
    cluster_domain: str = naming.DEFAULT_CLUSTER_DOMAIN
    problems: tuple[Problem, ...] = ()
    notes: tuple[Problem, ...] = ()

    @property
    def name(self) -> str:
        return self.parent.name

    @property
    def namespace(self) -> str:
        return self.parent.namespace


def pod_options(spec: Mapping[str, Any]) -> PodOptions:
    """The pod options of a custom resource's ``spec`` (missing fields are empty)."""
    return PodOptions(
        resources=spec.get("resources") or {},
        env=tuple(spec.get("env") or ()),
        tolerations=tuple(spec.get("tolerations") or ()),
        affinity=spec.get("affinity") or None,
        topology_spread=tuple(spec.get("topologySpreadConstraints") or ()),
        node_selector=spec.get("nodeSelector") or {},
        security_context=spec.get("securityContext") or None,
        container_security_context=spec.get("containerSecurityContext") or None,
        annotations=spec.get("podAnnotations") or {},
        image_pull_secrets=tuple(spec.get("imagePullSecrets") or ()),
        priority_class_name=spec.get("priorityClassName") or None,
        service_account_name=spec.get("serviceAccountName") or None,
        host_network=bool(spec.get("hostNetwork", False)),
        dns_policy=spec.get("dnsPolicy") or None,
        volumes=tuple(spec.get("volumes") or ()),
    )


def pod_problems(
    options: PodOptions, *, storage: Storage, operator_env: Sequence[str], operator_volumes: Sequence[str]
) -> tuple[list[Problem], list[Problem]]:
    """Problems (refused) and notes (applied) of the user's volumes and env against the operator's."""
    taken = {*operator_volumes, storage.volume_name, *(_claim_name(c) for c in storage.claim_templates)}
    problems = _volume_problems([v.get("name") for v in options.volumes], taken=taken)
    notes: list[Problem] = []
    seen: set[str] = set()
    for index, var in enumerate(options.env):
        name = var.get("name")
        if name in operator_env:
            problems.append(Problem(f"spec.env[{index}].name", f"{name} is set by the operator; remove it"))
        elif name in seen:
            notes.append(Problem(f"spec.env[{index}].name", f"{name} is given twice; the last one applies"))
        seen.add(name)
    return problems, notes


def _volume_problems(names: Sequence[Any], *, taken: set[str]) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for index, name in enumerate(names):
        where = f"spec.volumes[{index}].name"
        if not name:
            problems.append(Problem(where, "a volume needs a name"))
        elif name in taken:
            problems.append(Problem(where, f"volume {name!r} has a name the operator uses; rename it"))
        elif name in seen:
            problems.append(Problem(where, f"volume {name!r} is given twice; Kubernetes rejects that"))
        seen.add(name)
    return problems


def _claim_name(claim: Mapping[str, Any]) -> str:
    return (claim.get("metadata") or {}).get("name") or DEFAULT_CLAIM_NAME


def retention_policy(spec: Mapping[str, Any]) -> RetentionPolicy:
    """``spec.persistentVolumeClaimRetentionPolicy``; both cases default to Retain."""
    policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    return RetentionPolicy(
        when_deleted=policy.get("whenDeleted") or "Retain",
        when_scaled=policy.get("whenScaled") or "Retain",
    )


def storage(
    spec: Mapping[str, Any], *, retention: RetentionPolicy, problems: list[Problem] | None = None
) -> Storage:
    """Storage from ``storageMode``, ``hostPath`` and ``volumeClaimTemplates``.

    Without ``storageMode``, claim templates mean StorageClass and no templates mean EmptyDir. A
    mode whose inputs are missing falls back to EmptyDir and is reported in ``problems``.
    """
    claims = tuple(_named_claim(c) for c in spec.get("volumeClaimTemplates") or () if c)
    mode = spec.get("storageMode") or ("StorageClass" if claims else "EmptyDir")
    host_path = spec.get("hostPath") or ""
    problem = _storage_problem(mode, host_path=host_path, claims=claims)
    if problem:
        if problems is not None:
            problems.append(problem)
        mode = "EmptyDir"
    if mode != "StorageClass":
        claims = ()
    return Storage(mode=mode, host_path=host_path, claim_templates=claims, retention=retention)


def _storage_problem(mode: str, *, host_path: str, claims: tuple[Mapping[str, Any], ...]) -> Problem | None:
    if mode not in STORAGE_MODES:
        return Problem("spec.storageMode", f"must be one of {', '.join(STORAGE_MODES)}")
    if mode == "HostPath" and not host_path:
        return Problem("spec.hostPath", "storageMode HostPath needs a hostPath")
    if mode == "StorageClass" and not claims:
        return Problem("spec.storageMode", "storageMode StorageClass needs a volume claim template")
    return None


def _named_claim(claim: Mapping[str, Any]) -> Mapping[str, Any]:
    """A claim template with a name (the talk's template may omit it)."""
    meta = claim.get("metadata") or {}
    if meta.get("name"):
        return claim
    return {**claim, "metadata": {**meta, "name": DEFAULT_CLAIM_NAME}}


def controller_address(spec: Mapping[str, Any], *, name_service: Mapping[str, Any] | None,
                       controller: Mapping[str, Any] | None, namespace: str, problems: list[Problem],
                       cluster_domain: str = naming.DEFAULT_CLUSTER_DOMAIN) -> str:
    """``controllerAddr`` of a broker cluster in CONTROLLER mode ("" otherwise).

    ``controller`` is the Controller the caller resolved (``spec.controllerRef``, else the namespace's only
    one); without one, name servers that embed the controller (``enableControllerInNamesrv``) serve it.
    """
    if (spec.get("clusterMode") or "STATIC") != "CONTROLLER":
        return ""
    ref = (spec.get("controllerRef") or {}).get("name")
    if controller is not None and (not ref or (controller.get("metadata") or {}).get("name") == ref):
        size = int((controller.get("spec") or {}).get("size", 1))
        return naming.controller_address(controller["metadata"]["name"], namespace, size,
                                         cluster_domain=cluster_domain)
    if ref:
        problems.append(Problem("spec.controllerRef",
                                f"Controller {ref!r} not found in namespace {namespace!r}"))
        return ""
    ns_spec = (name_service or {}).get("spec") or {}
    if name_service is not None and ns_spec.get("enableControllerInNamesrv"):
        return naming.controller_address(name_service["metadata"]["name"], namespace,
                                         int(ns_spec.get("size", 1)), cluster_domain=cluster_domain)
    problems.append(Problem("spec.clusterMode", "clusterMode CONTROLLER needs a Controller "
                                                "(spec.controllerRef, or the namespace's only one) or a "
                                                "NameService with enableControllerInNamesrv"))
    return ""
