"""Control objects: the only way controllers change child objects.

One ``ObjectControl`` per child kind (Service, StatefulSet, ConfigMap, PodDisruptionBudget, Deployment),
all built from the same class because they follow one rule: read the current object from the lister,
create it when missing, leave it alone when someone else controls it, update it only when a field the
operator owns differs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from rocketmq_operator.events import NORMAL, WARNING
from rocketmq_operator.informers import Lister
from rocketmq_operator.kube import KubeClient, NotFound, Resource
from rocketmq_operator.resources.diff import merged, needs_update


class Change(enum.Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    NOT_OWNED = "not-owned"


@dataclass(frozen=True)
class Applied:
    change: Change
    obj: dict[str, Any] | None  # the object as the server (or cache) has it; None when not owned


def controller_uid(obj: dict[str, Any]) -> str | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref.get("uid")
    return None


def _display(resource: Resource, obj: dict[str, Any]) -> str:
    return f"{resource.kind} {obj['metadata']['name']}"


class ObjectControl:
    """Create-or-update of one kind of child object, owned by a parent custom resource."""

    def __init__(self, client: KubeClient, lister: Lister, resource: Resource, recorder: Any) -> None:
        self._client = client
        self._lister = lister
        self.resource = resource
        self._recorder = recorder

    def current(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._lister.get(namespace, name)
        except NotFound:
            return None

    def apply(self, owner: dict[str, Any], desired: dict[str, Any]) -> Applied:
        meta = desired["metadata"]
        current = self.current(meta["namespace"], meta["name"])
        if current is None:
            return self._create(owner, desired)
        if controller_uid(current) != owner["metadata"]["uid"]:
            return Applied(Change.NOT_OWNED, None)
        if not needs_update(desired, current):
            return Applied(Change.UNCHANGED, current)
        updated = self._client.replace(self.resource, merged(desired, current),
                                       namespace=meta["namespace"])
        return Applied(Change.UPDATED, updated)

    def _create(self, owner: dict[str, Any], desired: dict[str, Any]) -> Applied:
        # AlreadyExists means the cache is behind the server: the sync fails and is retried once the
        # watch has caught up.
        created = self._client.create(self.resource, desired, namespace=desired["metadata"]["namespace"])
        return Applied(Change.CREATED, created)

    def delete(self, owner: dict[str, Any], current: dict[str, Any], *, reason: str = "Deleted") -> None:
        meta = current["metadata"]
        try:
            self._client.delete(self.resource, meta["name"], namespace=meta["namespace"], uid=meta.get("uid"),
                                propagation_policy="Background")
        except NotFound:
            return
        self._recorder.event(owner, NORMAL, reason, f"Deleted {_display(self.resource, current)}")


def warn_not_owned(recorder: Any, owner: dict[str, Any], resource: Resource, name: str) -> str:
    """The message for a name taken by a foreign object; a Warning event only when it is news (the owner's
    Ready condition does not already say so), not on every recheck."""
    message = (f"{resource.kind} {name} already exists and is not controlled by this "
               f"{owner.get('kind', 'resource')}; leaving it alone")
    ready = next((c for c in (owner.get("status") or {}).get("conditions") or () if c.get("type") == "Ready"), {})
    if not (ready.get("reason") == "ResourceConflict" and message in ready.get("message", "")):
        recorder.event(owner, WARNING, "ResourceConflict", message)
    return message


class ChangeLog:
    """What one sync created and updated, reported as one Normal event per kind of change (not one per
    object: a new cluster is one event, not eight)."""

    def __init__(self) -> None:
        self._seen: list[tuple[Change, str]] = []

    def note(self, resource: Resource, name: str, change: Change) -> None:
        self._seen.append((change, f"{resource.kind} {name}"))

    def report(self, recorder: Any, owner: dict[str, Any]) -> None:
        for change, reason in ((Change.CREATED, "Created"), (Change.UPDATED, "Updated")):
            names = [name for c, name in self._seen if c is change]
            if names:
                recorder.event(owner, NORMAL, reason, f"{reason} {', '.join(names)}")


def apply_all(owner: dict[str, Any], desired_objects: list[dict[str, Any]], controls: dict[str, ObjectControl],
              recorder: Any) -> tuple[dict[str, dict[str, Any] | None], list[str]]:
    """Applies each desired object with the control for its kind.

    Returns the objects as they now are, by kind (None where the name is taken by a foreign object), and
    the messages about such foreign objects.
    """
    applied_by_kind: dict[str, dict[str, Any] | None] = {}
    conflicts: list[str] = []
    changes = ChangeLog()
    try:
        for desired in desired_objects:
            control = controls[desired["kind"]]
            applied = control.apply(owner, desired)
            if applied.change is Change.NOT_OWNED:
                conflicts.append(warn_not_owned(recorder, owner, control.resource, desired["metadata"]["name"]))
            changes.note(control.resource, desired["metadata"]["name"], applied.change)
            applied_by_kind[desired["kind"]] = applied.obj
    finally:
        changes.report(recorder, owner)
    return applied_by_kind, conflicts
