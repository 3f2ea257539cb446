"""The opening the workload reconcilers (NameService, Console, Proxy, Controller) share.

Each ``sync`` starts the same way: read the parent from its lister (gone: nothing to do), take its
conditions, honour the pause annotation (a Paused condition and nothing else), and refuse a spec it cannot
serve (Ready=False naming what is wrong, one Warning event per new message, status written, no object
touched). :func:`open_parent` and :func:`refuse` are those steps; :func:`mark_overridden` sets or clears
the ``Overridden`` condition from the model's notes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rocketmq_operator.clock import Clock
from rocketmq_operator.controllers.runtime.common import OVERRIDDEN, is_paused, note_overrides
from rocketmq_operator.controllers.runtime.conditions import (
    READY,
    TRUE,
    ConditionSet,
    Recorder,
    rfc3339,
    warn_when_new,
)
from rocketmq_operator.controllers.runtime.control import StatusWriter
from rocketmq_operator.controllers.runtime.runner import Key
from rocketmq_operator.informers import Lister
from rocketmq_operator.kube import NotFound


@dataclass(frozen=True)
class Opened:
    obj: dict[str, Any]
    old: dict[str, Any]  # its status as read
    conds: ConditionSet


def open_parent(lister: Lister, key: Key, *, clock: Clock, status: StatusWriter,
                gone: Callable[[], None] | None = None) -> Opened | None:
    """The parent of ``key`` with its conditions; None when it is gone (``gone`` is called) or paused (the
    Paused condition is written)."""
    try:
        obj = lister.get(key.namespace, key.name)
    except NotFound:
        if gone is not None:
            gone()
        return None
    old = obj.get("status") or {}
    conds = ConditionSet(obj, now=rfc3339(clock.wall()))
    if conds.mark_paused(is_paused(obj)):
        status.write(obj, {**old, "conditions": conds.items})
        return None
    return Opened(obj, old, conds)


def refuse(opened: Opened, *, reason: str, message: str, recorder: Recorder, status: StatusWriter) -> None:
    """Ready=False with ``reason`` and ``message`` (a Warning event when the message is new); status
    written."""
    warn_when_new(recorder, opened.obj, opened.conds.get(READY), reason=reason, message=message)
    opened.conds.ready(False, reason=reason, message=message)
    status.write(opened.obj, {**opened.old, "observedGeneration": opened.conds.generation,
                              "conditions": opened.conds.items})


def mark_overridden(opened: Opened, recorder: Recorder, notes: Any) -> None:
    """``Overridden`` while the model applied some of the spec differently (one Warning per new note)."""
    overridden = note_overrides(recorder, opened.obj, notes)
    if overridden:
        opened.conds.set(OVERRIDDEN, TRUE, reason="AppliedDifferently", message=overridden)
    else:
        opened.conds.remove(OVERRIDDEN)
