"""Status conditions in the standard ``metav1.Condition`` shape, and the one way to say Ready or warn.

``set_condition`` returns a new list and keeps ``lastTransitionTime`` when the status did not change,
so a sync that finds nothing new produces an identical status and therefore writes nothing.
:meth:`ConditionSet.ready` is how every kind sets its Ready condition, and :func:`warn_when_new` how it
emits a Warning event only when the condition it is about does not say it already.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

from rocketmq_operator.events import WARNING

TRUE, FALSE = "True", "False"
READY = "Ready"
PAUSED = "Paused"
PAUSED_MESSAGE = "reconciliation is paused by annotation"


def rfc3339(seconds: float) -> str:
    """A ``metav1.Time`` string (whole seconds, UTC)."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(conditions: list[dict[str, Any]] | None, type_: str, status: str, *, reason: str,
                  message: str, generation: int, now: str) -> list[dict[str, Any]]:
    out = [dict(c) for c in conditions or () if c.get("type") != type_]
    old = next((c for c in conditions or () if c.get("type") == type_), None)
    transition = old["lastTransitionTime"] if old and old.get("status") == status and old.get(
        "lastTransitionTime") else now
    out.append({"type": type_, "status": status, "reason": reason, "message": message,
                "observedGeneration": generation, "lastTransitionTime": transition})
    return sorted(out, key=lambda c: c["type"])


def remove_condition(conditions: list[dict[str, Any]] | None, type_: str) -> list[dict[str, Any]]:
    return [dict(c) for c in conditions or () if c.get("type") != type_]


class Recorder(Protocol):
    """Where events go (the operator's EventRecorder; a list in tests)."""

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None: ...


def already_says(condition: Mapping[str, Any] | None, text: str, *, reason: str | None = None,
                 status: str | None = None) -> bool:
    """Whether ``condition`` (as read when the sync began) says ``text`` in its message, with ``reason`` and
    ``status`` when those are given."""
    if not condition:
        return False
    return ((reason is None or condition.get("reason") == reason)
            and (status is None or condition.get("status") == status)
            and text in (condition.get("message") or ""))


def warn_when_new(recorder: Recorder, obj: dict[str, Any], condition: Mapping[str, Any] | None, *,
                  reason: str, message: str, said: str | None = None, said_reason: str | None = None,
                  said_status: str | None = None) -> bool:
    """A Warning event ``reason``/``message`` on ``obj`` unless ``condition`` already says it: its message
    holds ``said`` (default: ``message``) and, when given, its reason is ``said_reason`` and its status
    ``said_status``. Returns whether the event was sent."""
    if already_says(condition, message if said is None else said, reason=said_reason, status=said_status):
        return False
    recorder.event(obj, WARNING, reason, message)
    return True


def get_condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c.get("type") == type_:
            return c
    return None


class ConditionSet:
    """The conditions of one object during a sync: starts from its status, ends in the new status."""

    def __init__(self, obj: dict[str, Any], *, now: str) -> None:
        self.generation = int(obj.get("metadata", {}).get("generation") or 0)
        self.items = list((obj.get("status") or {}).get("conditions") or [])
        self._now = now

    def set(self, type_: str, status: str, *, reason: str, message: str) -> None:
        self.items = set_condition(self.items, type_, status, reason=reason, message=message,
                                   generation=self.generation, now=self._now)

    def ready(self, ok: bool, *, reason: str, message: str) -> None:
        """The Ready condition: True when ``ok``, with the reason and message that say why."""
        self.set(READY, TRUE if ok else FALSE, reason=reason, message=message)

    def get(self, type_: str) -> dict[str, Any] | None:
        return next((c for c in self.items if c.get("type") == type_), None)

    def remove(self, type_: str) -> None:
        self.items = remove_condition(self.items, type_)

    def mark_paused(self, paused: bool) -> bool:
        """Sets or clears the Paused condition; returns ``paused``."""
        if paused:
            self.set(PAUSED, TRUE, reason="PauseAnnotation", message=PAUSED_MESSAGE)
        else:
            self.remove(PAUSED)
        return paused

    def mark_blocked(self, *, denied: list[str], invalid: list[str], conflicts: list[str]) -> bool:
        """Ready=False for the first kind of blocked write found (what an apply pass reports); True if any."""
        for found, reason in ((denied, "Forbidden"), (invalid, "InvalidObject"),
                              (conflicts, "ResourceConflict")):
            if found:
                self.ready(False, reason=reason, message="; ".join(found))
                return True
        return False

    def message(self, type_: str) -> str | None:
        return (self.get(type_) or {}).get("message")
