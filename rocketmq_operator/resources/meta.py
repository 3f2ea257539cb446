"""Object metadata shared by every object the operator creates: labels, ownerReferences, hashes.

Every child object carries a controlling ownerReference to its custom resource (so the garbage
collector deletes it with its parent and the controllers can map it back to the parent's key) and the
standard ``app.kubernetes.io/*`` labels. Pods also carry the short ``app`` label the Apache operator's
users select on (``kubectl get pods -l app=rocketmq-broker``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MANAGED_BY = "rocketmq-operator"
APP_NAME = "rocketmq"

LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_APP = "app"
LABEL_CLUSTER = "rocketmq.apache.org/cluster"
LABEL_GROUP = "rocketmq.apache.org/group"

ANNOTATION_CONFIG_HASH = "rocketmq.apache.org/config-hash"
# Set on a broker cluster's custom resource to ask for a restart of every broker (``kubectl rocketmq
# restart``): its value is copied onto the pod template, so a new value changes the template and the
# roll planner restarts the brokers one at a time, as for any other template change.
ANNOTATION_RESTART = "rocketmq.apache.org/restartedAt"

BROKER_APP = "rocketmq-broker"
NAME_SERVER_APP = "rocketmq-nameserver"
CONSOLE_APP = "rocketmq-console"


@dataclass(frozen=True)
class ParentRef:
    """The custom resource that owns (controls) a child object."""

    api_version: str
    kind: str
    name: str
    namespace: str
    uid: str

    @classmethod
    def of(cls, obj: Mapping[str, Any], *, api_version: str, kind: str) -> ParentRef:
        """The parent reference of a custom resource read from the API (a plain dict).

        ``api_version`` and ``kind`` are given because list responses omit them on their items.
        """
        meta = obj.get("metadata") or {}
        return cls(
            api_version=api_version,
            kind=kind,
            name=meta.get("name", ""),
            namespace=meta.get("namespace", ""),
            uid=meta.get("uid", ""),
        )


def owner_reference(parent: ParentRef) -> dict[str, Any]:
    """A controlling ownerReference to ``parent`` that blocks its foreground deletion."""
    return {
        "apiVersion": parent.api_version,
        "kind": parent.kind,
        "name": parent.name,
        "uid": parent.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def standard_labels(instance: str, *, component: str) -> dict[str, str]:
    """The ``app.kubernetes.io/*`` labels of an object of ``component`` owned by ``instance``."""
    return {
        LABEL_NAME: APP_NAME,
        LABEL_INSTANCE: instance,
        LABEL_COMPONENT: component,
        LABEL_MANAGED_BY: MANAGED_BY,
    }


def object_meta(
    name: str,
    parent: ParentRef,
    *,
    labels: Mapping[str, str],
    extra_labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``metadata`` of a child of ``parent``: name, namespace, labels, ownerReference.

    ``extra_labels`` (the parent's own labels) never override the operator's ``labels``.
    """
    meta: dict[str, Any] = {
        "name": name,
        "namespace": parent.namespace,
        "labels": {**(extra_labels or {}), **labels},
        "ownerReferences": [owner_reference(parent)],
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def content_hash(data: Any) -> str:
    """A short, stable hash of JSON-serialisable ``data`` (key order does not matter)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
