"""Event handlers that turn informer events into parent keys.

A handler does one thing: find the key of the parent resource an event concerns and add it to the
queue. Delete tombstones are unwrapped; children are followed through their controlling
ownerReference; a resync that brings no change (same resourceVersion) and the adds of the initial list
go in at low priority, so that new work is never stuck behind them; changes seen on owned objects (mostly
status churn while clusters converge) go in below changes to the parents themselves, so a cluster created
during a burst is not queued behind the burst's status updates. A deleted child is repaired at normal
priority.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rocketmq_operator.controllers.runtime.runner import Key
from rocketmq_operator.informers import DeletedFinalStateUnknown, FuncHandler
from rocketmq_operator.workqueue import PRIORITY_CHILD, PRIORITY_LOW, PRIORITY_NORMAL

Enqueue = Callable[..., None]


def unwrap(obj: Any) -> dict[str, Any]:
    return obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj


def key_of(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata", {})
    return Key(meta.get("namespace", ""), meta["name"])


def controller_ref(obj: dict[str, Any]) -> dict[str, Any] | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def _rv(obj: dict[str, Any]) -> str | None:
    return obj.get("metadata", {}).get("resourceVersion")


def same_but_version(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Equal apart from ``metadata.resourceVersion``: as the cache keeps them (see the informers' transforms),
    nothing a sync reads has changed."""
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    if old.keys() != new.keys() or om.keys() != nm.keys():
        return False
    return (all(old[k] == new[k] for k in old if k != "metadata")
            and all(om[k] == nm[k] for k in om if k != "resourceVersion"))


def _only_status_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Same generation (spec), labels, annotations and deletion state: the change is in status."""
    o, n = old.get("metadata", {}), new.get("metadata", {})
    return all(o.get(k) == n.get(k) for k in ("generation", "labels", "annotations", "deletionTimestamp"))


def parent_handler(enqueue: Enqueue, *,
                   is_echo: Callable[[dict[str, Any]], bool] | None = None) -> FuncHandler:
    """Handler for the parent kind itself. ``is_echo`` tells the controller's own status writes coming back
    through the watch: a change of status only, made by the last sync, needs no sync of its own."""

    def add(obj: dict[str, Any], is_initial_list: bool) -> None:
        enqueue(key_of(obj), priority=PRIORITY_LOW if is_initial_list else PRIORITY_NORMAL)

    def update(old: dict[str, Any], new: dict[str, Any]) -> None:
        if _rv(old) == _rv(new):
            priority = PRIORITY_LOW  # a resync
        elif _only_status_changed(old, new):
            if is_echo is not None and is_echo(new):
                return
            priority = PRIORITY_CHILD  # status written by someone else (or before a restart)
        else:
            priority = PRIORITY_NORMAL
        enqueue(key_of(new), priority=priority)

    def delete(obj: Any) -> None:
        enqueue(key_of(unwrap(obj)))

    return FuncHandler(add=add, update=update, delete=delete)


def settled(sts: dict[str, Any]) -> bool:
    """A StatefulSet whose controller has seen its spec and has every replica updated and ready."""
    status, replicas = sts.get("status") or {}, (sts.get("spec") or {}).get("replicas", 1)
    return (status.get("observedGeneration", 0) >= (sts.get("metadata") or {}).get("generation", 0)
            and status.get("readyReplicas", 0) == replicas and status.get("updatedReplicas", 0) == replicas)


def became_settled(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """The update that completes a StatefulSet's rollout: the one that may make its parent Ready."""
    return settled(new) and not settled(old)


def mapped_handler(enqueue: Enqueue, to_keys: Callable[[dict[str, Any]], Iterable[Key]], *,
                   completes: Callable[[dict[str, Any], dict[str, Any]], bool] | None = None) -> FuncHandler:
    """Handler for related objects: ``to_keys`` maps an object to the parents it concerns. An update that
    ``completes`` says may finish the parent's work (a StatefulSet settling) goes in at normal priority, so
    the parent reports Ready without waiting out the delay of other changes on owned objects."""

    def emit(obj: dict[str, Any], priority: int) -> None:
        for key in to_keys(obj):
            enqueue(key, priority=priority)

    def add(obj: dict[str, Any], is_initial_list: bool) -> None:
        emit(obj, PRIORITY_LOW if is_initial_list else PRIORITY_CHILD)

    def update(old: dict[str, Any], new: dict[str, Any]) -> None:
        if _rv(old) == _rv(new):
            return  # a resync of a child: the parent's own resync covers it
        if same_but_version(old, new):
            return  # changed only in what the cache leaves out (e.g. a budget's status): nothing to look at
        emit(new, PRIORITY_NORMAL if completes is not None and completes(old, new) else PRIORITY_CHILD)
        if controller_ref(old) != controller_ref(new):
            emit(old, PRIORITY_CHILD)

    def delete(obj: Any) -> None:
        emit(unwrap(obj), PRIORITY_NORMAL)

    return FuncHandler(add=add, update=update, delete=delete)


def owner_keys(*kinds: str) -> Callable[[dict[str, Any]], list[Key]]:
    """Maps a child to its controlling parent when that parent is one of ``kinds``."""

    def to_keys(obj: dict[str, Any]) -> list[Key]:
        ref = controller_ref(obj)
        if ref is None or ref.get("kind") not in kinds:
            return []
        return [Key(obj["metadata"].get("namespace", ""), ref["name"])]

    return to_keys
