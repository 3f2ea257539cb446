"""One finalizer on a custom resource: added before the operator changes anything outside Kubernetes on the
object's behalf, removed once what it changed is undone (or needs no undoing).

The writer PUTs the cached object with ``metadata.finalizers`` changed and the cached resourceVersion, so a
cache that is behind meets a Conflict instead of overwriting a newer object (the watch brings the newer one
and the sync runs again); NotFound means the object is gone. Both are quiet. The status subresource ignores
a PUT of the main resource, so this never rewrites status.
"""

from __future__ import annotations

import copy
from typing import Any

from rocketmq_operator.kube import Conflict, KubeClient, NotFound, Resource


def is_deleted(obj: dict[str, Any]) -> bool:
    """The API server has been asked to delete ``obj`` (it waits for the finalizers)."""
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


class FinalizerWriter:
    """Adds and removes the finalizer ``name`` on objects of ``resource``; writes only when it changes."""

    def __init__(self, client: KubeClient, resource: Resource, name: str) -> None:
        self._client = client
        self.resource = resource
        self.name = name

    def holds(self, obj: dict[str, Any]) -> bool:
        return self.name in ((obj.get("metadata") or {}).get("finalizers") or ())

    def add(self, obj: dict[str, Any]) -> bool:
        """True when the finalizer was written."""
        if self.holds(obj):
            return False
        return self._put(obj, [*(obj["metadata"].get("finalizers") or ()), self.name])

    def remove(self, obj: dict[str, Any]) -> bool:
        """True when the finalizer was taken off (the API server then finishes a pending delete)."""
        if not self.holds(obj):
            return False
        return self._put(obj, [f for f in obj["metadata"]["finalizers"] if f != self.name])

    def _put(self, obj: dict[str, Any], finalizers: list[str]) -> bool:
        body = copy.deepcopy(obj)
        body["metadata"]["finalizers"] = finalizers
        try:
            self._client.replace(self.resource, body, namespace=obj["metadata"]["namespace"])
        except (Conflict, NotFound):
            return False
        return True
