"""Control objects: the only way controllers change child objects.

One ``ObjectControl`` per child kind (Service, StatefulSet, ConfigMap, PodDisruptionBudget, Deployment),
all built from the same class because they follow one rule: read the current object from the lister,
create it when missing, leave it alone when someone else controls it, update it only when a field the
operator owns differs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from rocketmq_operator.controllers.runtime.common import CONFLICT_RECHECK, STALE_CACHE_RECHECK
from rocketmq_operator.controllers.runtime.conditions import READY, Recorder, get_condition, warn_when_new
from rocketmq_operator.controllers.runtime.runner import Result
from rocketmq_operator.events import NORMAL
from rocketmq_operator.informers import Lister
from rocketmq_operator.kube import Conflict, Forbidden, KubeClient, NotFound, Resource
from rocketmq_operator.kube.errors import Invalid, namespace_terminating
from rocketmq_operator.logs import get_logger
from rocketmq_operator.resources.diff import ContainsMemo, merged, needs_update
from rocketmq_operator.resources.jsoncopy import json_copy

log = get_logger(__name__)


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

    def __init__(self, client: KubeClient, lister: Lister, resource: Resource, recorder: Recorder) -> None:
        self._memo = ContainsMemo()  # specs this control already compared, by object version
        self._client = client
        self._lister = lister
        self.resource = resource
        self._recorder = recorder

    def current(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._lister.get(namespace, name)
        except NotFound:
            return None

    def apply(self, owner: dict[str, Any], desired: dict[str, Any], *,
              exact: tuple[str, ...] = ()) -> Applied:
        """``exact``: top-level maps the operator owns key by key (a ConfigMap's ``data``): a key only the
        current object has is drift too, and the write drops it."""
        meta = desired["metadata"]
        current = self.current(meta["namespace"], meta["name"])
        if current is None:
            return self._create(owner, desired)
        if controller_uid(current) != owner["metadata"]["uid"]:
            return Applied(Change.NOT_OWNED, None)
        stray = any(set(current.get(f) or {}) - set(desired.get(f) or {}) for f in exact)
        if not stray and not needs_update(desired, current, memo=self._memo):
            return Applied(Change.UNCHANGED, current)
        body = merged(desired, current)
        body.update({f: json_copy(desired[f]) for f in exact if f in desired})
        updated = self._client.replace(self.resource, body, namespace=meta["namespace"])
        return Applied(Change.UPDATED, updated)

    def _create(self, owner: dict[str, Any], desired: dict[str, Any]) -> Applied:
        # AlreadyExists means the cache is behind the server: apply_all reports the pass as stale and
        # the sync runs again once the watch has caught up.
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


def warn_not_owned(recorder: Recorder, owner: dict[str, Any], resource: Resource, name: str) -> str:
    """The message for a name taken by a foreign object; a Warning event only when it is news (the owner's
    Ready condition does not already say so), not on every recheck."""
    message = (f"{resource.kind} {name} already exists and is not controlled by this "
               f"{owner.get('kind', 'resource')}; leaving it alone")
    warn_when_new(recorder, owner, get_condition(owner, READY), reason="ResourceConflict", message=message,
                  said_reason="ResourceConflict")
    return message


class ChangeLog:
    """What one sync created and updated, reported as one Normal event per kind of change (not one per
    object: a new cluster is one event, not eight)."""

    def __init__(self) -> None:
        self._seen: list[tuple[Change, str]] = []

    def note(self, resource: Resource, name: str, change: Change) -> None:
        self._seen.append((change, f"{resource.kind} {name}"))

    def report(self, recorder: Recorder, owner: dict[str, Any]) -> None:
        for change, reason in ((Change.CREATED, "Created"), (Change.UPDATED, "Updated")):
            names = [name for c, name in self._seen if c is change]
            if names:
                recorder.event(owner, NORMAL, reason, f"{reason} {', '.join(names)}")


@dataclass
class ApplyReport:
    """What one pass of :func:`apply_all` found.

    ``objects`` holds each applied object as it now is, by ``(kind, name)`` (None where the name is taken by a
    foreign object or the write was refused); ``conflicts`` the messages about foreign objects, ``denied``
    the writes RBAC refused, ``invalid`` the writes the API server rejected as invalid (a 422: mostly an
    edited immutable field, which retrying cannot fix), ``stale`` whether a create found the name already
    taken by an object the cache has not seen yet (the watch brings it; the sync runs again).
    """

    objects: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    stale: bool = False
    changes: ChangeLog = field(default_factory=ChangeLog)

    def first(self, kind: str) -> dict[str, Any] | None:
        """The first applied object of ``kind`` (None when there is none or it is not ours)."""
        return next((obj for (k, _), obj in self.objects.items() if k == kind), None)

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, name))

    def result(self) -> Result | None:
        """Look again later at a name taken by a foreign object or a write RBAC refused (no watch event
        will say when that changes), and soon after finding the cache behind."""
        if self.conflicts or self.denied:
            return Result(requeue_after=CONFLICT_RECHECK)
        return Result(requeue_after=STALE_CACHE_RECHECK) if self.stale else None


def apply_all(owner: dict[str, Any], desired_objects: list[dict[str, Any]],
              controls: dict[str, ObjectControl], recorder: Recorder, *,
              changes: ChangeLog | None = None) -> ApplyReport:
    """Applies each desired object with the control for its kind, in order, and reports what happened.

    A foreign object in the way, a write RBAC forbids and a write the server rejects as invalid are
    reported (one Warning event each when it is news) and the other objects are still applied; a create
    that finds the name taken or an update that meets a newer version (the cache is behind) marks the
    report stale, and the sync runs again soon without an error. Nothing here raises for
    those; any other API error propagates and the sync is retried with backoff. ``changes``: what the sync
    changed before (reported with this pass's changes, as one event per kind of change).
    """
    report = ApplyReport(changes=changes if changes is not None else ChangeLog())
    try:
        for desired in desired_objects:
            _apply_one(owner, desired, controls[desired["kind"]], recorder, report)
    finally:
        report.changes.report(recorder, owner)
    return report


def _apply_one(owner: dict[str, Any], desired: dict[str, Any], control: ObjectControl, recorder: Recorder,
               report: ApplyReport) -> None:
    name = desired["metadata"]["name"]
    report.objects[(desired["kind"], name)] = None
    try:
        applied = control.apply(owner, desired)
    except Conflict:  # AlreadyExists on a create, a stale resourceVersion on an update: the cache is behind
        report.stale = True
        return
    except Forbidden as e:
        if namespace_terminating(e):
            return  # the namespace and the owner with it are going: nothing to create there
        report.denied.append(_warn_once(recorder, owner, "Forbidden", _denied_message(desired, e)))
        return
    except Invalid as e:
        report.invalid.append(_warn_once(recorder, owner, "InvalidObject", _invalid_message(desired, e)))
        return
    if applied.change is Change.NOT_OWNED:
        report.conflicts.append(warn_not_owned(recorder, owner, control.resource, name))
    report.changes.note(control.resource, name, applied.change)
    report.objects[(desired["kind"], name)] = applied.obj


def _denied_message(desired: dict[str, Any], error: Forbidden) -> str:
    log.error("permission denied", kind=desired["kind"], name=desired["metadata"]["name"],
              namespace=desired["metadata"].get("namespace"), error=error.message)
    return (f"the operator may not write {desired['kind']} {desired['metadata']['name']}: {error.message}; "
            f"check its RBAC (manifests/rbac)")


def _invalid_message(desired: dict[str, Any], error: Invalid) -> str:
    causes = ((error.body or {}).get("details") or {}).get("causes") or ()
    fields = sorted({c.get("field") for c in causes if c.get("field")})
    where = f" (field {', '.join(fields)})" if fields else ""
    return (f"the API server rejected {desired['kind']} {desired['metadata']['name']}{where}: "
            f"{error.message}; the change cannot be applied in place — revert it, or delete the object to "
            f"have it recreated")


def _warn_once(recorder: Recorder, owner: dict[str, Any], reason: str, message: str) -> str:
    """A Warning event unless the owner's Ready condition already says ``message``; returns it."""
    warn_when_new(recorder, owner, get_condition(owner, READY), reason=reason, message=message)
    return message


class StatusWriter:
    """Writes a custom resource's status subresource, and only when it differs from the cached one.

    The write carries the cached resourceVersion. A conflict means the cache is behind: the watch event
    that brings the newer object queues another sync, which writes the status again. NotFound means the
    object was deleted meanwhile. Both are quiet.

    After a write the writer remembers the resourceVersion it replaced and the one it made: a sync that
    still reads the replaced version from the cache (its own write has not come back through the watch yet)
    does not write, since the write would only meet a conflict (:meth:`cache_behind`: the caller looks
    again soon), and the watch event that brings the version it made is its own echo (:meth:`is_echo`),
    which needs no sync.
    """

    def __init__(self, client: KubeClient, resource: Resource) -> None:
        self._client = client
        self.resource = resource
        self._replaced: dict[tuple[str, str], str] = {}
        self._made: dict[tuple[str, str], str] = {}

    def write(self, obj: dict[str, Any], status: dict[str, Any]) -> bool:
        """True when a write was made and accepted."""
        if status == (obj.get("status") or {}):
            return False
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        version = meta.get("resourceVersion")
        if self.cache_behind(obj):
            return False  # the cache is behind this writer's own last write
        try:
            written = self._client.update_status(self.resource, {**obj, "status": status},
                                                 namespace=meta["namespace"])
        except NotFound:
            self.forget(*key)
            return False
        except Conflict:
            return False
        if version is not None:
            self._replaced[key] = version
        made = ((written or {}).get("metadata") or {}).get("resourceVersion")
        if made:
            self._made[key] = made
        return True

    def cache_behind(self, obj: dict[str, Any]) -> bool:
        """True when the cached ``obj`` is the version this writer's last write replaced."""
        meta = obj["metadata"]
        version = meta.get("resourceVersion")
        return version is not None and self._replaced.get((meta["namespace"], meta["name"])) == version

    def is_echo(self, obj: dict[str, Any]) -> bool:
        """True when ``obj`` is the version this writer's last status write made (its watch event)."""
        meta = obj.get("metadata") or {}
        version = meta.get("resourceVersion")
        return (version is not None
                and self._made.get((meta.get("namespace", ""), meta.get("name", ""))) == version)

    def forget(self, namespace: str, name: str) -> None:
        """Drops what is remembered of a deleted object."""
        self._replaced.pop((namespace, name), None)
        self._made.pop((namespace, name), None)
