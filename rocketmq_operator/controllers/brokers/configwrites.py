"""Writing a broker cluster's ConfigMaps before the StatefulSets that mount them, and holding back every group
whose ConfigMap was not written.

A group's pod template carries the hash of its files (resources.brokers), so a StatefulSet written with a new
hash starts a roll. Were its ConfigMap not written, the restarted brokers would come up on the old broker.conf
— or not at all, when a key their volume names is missing. So the ConfigMaps go first, and a group whose
StatefulSet mounts one that was not written is *held*: its StatefulSet is not written (it keeps its template
and its partition, so no pod of it is released), the roll planner leaves its pods alone, and the sync looks
again. What stopped the write decides what the cluster's status says:

- an API error — 413 or 422 for a ConfigMap too large, 403, 5xx, no answer: Ready is False with reason
  ``ConfigNotWritten``, naming the ConfigMap, the error and the held groups, and one Warning event says so
  (not again while the condition names that ConfigMap);
- the name taken by an object another owner controls: ``ResourceConflict``, as for any kind;
- the cache behind the server (409, or the object gone meanwhile): quiet, the sync runs again within a second.

Every key of these ConfigMaps is the operator's: a key of a group that no longer has its files there (removed,
or moved to a ConfigMap of its own) is dropped at the next write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rocketmq_operator.controllers.runtime.conditions import READY, Recorder, get_condition, warn_when_new
from rocketmq_operator.controllers.runtime.control import Change, ChangeLog, ObjectControl, warn_not_owned
from rocketmq_operator.kube import ApiError, Conflict, Forbidden, NotFound
from rocketmq_operator.kube.errors import namespace_terminating
from rocketmq_operator.resources import meta
from rocketmq_operator.resources.configlayout import mounted

REASON = "ConfigNotWritten"


@dataclass
class ConfigWrites:
    """What writing the ConfigMaps found, and what the rest of the sync may apply."""

    rest: list[dict[str, Any]]  # the other objects, in order, without the held groups' StatefulSets
    held: dict[int, str] = field(default_factory=dict)  # group → a ConfigMap it mounts that was not written
    failed: list[str] = field(default_factory=list)  # messages for Ready (reason ConfigNotWritten)
    conflicts: list[str] = field(default_factory=list)  # names taken by foreign objects
    stale: bool = False  # the cache is behind the server: look again soon
    changes: ChangeLog = field(default_factory=ChangeLog)


def write_configs(owner: dict[str, Any], objects: list[dict[str, Any]], control: ObjectControl,
                  recorder: Recorder) -> ConfigWrites:
    """Writes each ConfigMap of ``objects`` and holds back the StatefulSets that mount one not written."""
    writes = ConfigWrites(rest=[])
    errors: dict[str, str] = {}
    unwritten: set[str] = set()
    for desired in (o for o in objects if o["kind"] == "ConfigMap"):
        name = desired["metadata"]["name"]
        error = _write(owner, desired, control, recorder, writes)
        if error is not None:
            unwritten.add(name)
            if error:
                errors[name] = error
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            continue
        missing = sorted(mounted(obj) & unwritten) if obj["kind"] == "StatefulSet" else []
        if missing:
            writes.held[int(obj["metadata"]["labels"][meta.LABEL_GROUP])] = missing[0]
        else:
            writes.rest.append(obj)
    for name, error in errors.items():
        writes.failed.append(_held_message(name, error, [g for g, n in writes.held.items() if n == name]))
        _warn_once(owner, recorder, name, writes.failed[-1])
    return writes


def _write(owner: dict[str, Any], desired: dict[str, Any], control: ObjectControl, recorder: Recorder,
           writes: ConfigWrites) -> str | None:
    """None when written (or unchanged); else why not: an error message, or "" for a reason reported
    otherwise (a foreign object, a cache behind, a namespace going away)."""
    name = desired["metadata"]["name"]
    try:
        applied = control.apply(owner, desired, exact=("data",))
    except (Conflict, NotFound):
        writes.stale = True
        return ""
    except ApiError as e:
        if isinstance(e, Forbidden) and namespace_terminating(e):
            return ""
        return f"HTTP {e.status}: {e.message}" if e.status else e.message
    if applied.change is Change.NOT_OWNED:
        writes.conflicts.append(warn_not_owned(recorder, owner, control.resource, name))
        return ""
    writes.changes.note(control.resource, name, applied.change)
    return None


def _held_message(name: str, error: str, groups: list[int]) -> str:
    if not groups:
        held = "nothing mounts it yet"
    elif len(groups) == 1:
        held = f"broker group {groups[0]} keeps its pod template and none of its pods restarts until it is"
    else:
        held = (f"broker groups {group_ranges(groups)} keep their pod templates and none of their pods "
                f"restarts until it is")
    return f"ConfigMap {name} was not written ({error}): {held}"


def _warn_once(owner: dict[str, Any], recorder: Recorder, name: str, message: str) -> None:
    warn_when_new(recorder, owner, get_condition(owner, READY), reason=REASON, message=message,
                  said=f"ConfigMap {name} was not written", said_reason=REASON)


def group_ranges(groups: Iterable[int]) -> str:
    """``0-3, 7, 9-10``: group numbers in runs."""
    runs: list[list[int]] = []
    for g in sorted(groups):
        if runs and g == runs[-1][1] + 1:
            runs[-1][1] = g
        else:
            runs.append([g, g])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
