"""Parts shared by the broker and name-service models: problems, pod options, storage.

The pod-level fields of the custom resources (resources, env, affinity, tolerations, security
contexts, ...) are Kubernetes types that the schema keeps opaque; the operator passes them through
to the pod template unchanged, so the model keeps them as the plain dicts the API returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STORAGE_MODES = ("EmptyDir", "HostPath", "StorageClass")
RETENTION_VALUES = ("Retain", "Delete")
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


def pod_options(spec: Mapping[str, Any]) -> PodOptions:
    """The pod options of a custom resource's ``spec`` (missing fields are empty)."""
    return PodOptions(
        resources=spec.get("resources") or {},
        env=tuple(spec.get("env") or ()),
        tolerations=tuple(spec.get("tolerations") or ()),
        affinity=spec.get("affinity") or None,
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
