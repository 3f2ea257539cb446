"""Kinds whose CRDs the operator installs before it acts on them: ``Controller`` (RocketMQ 5 controller
mode).

A user migrating from the Apache operator may apply these resources unchanged. Rather than leave them
without any status, the operator says plainly that this version does not act on them yet: condition
``Ready=False`` with reason ``NotServed`` and a message naming what is missing, written once (the
status is equal on every later pass, so nothing more is written). Nothing is created for them.
"""

from __future__ import annotations

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.controllers.conditions import FALSE, ConditionSet, rfc3339
from rocketmq_operator.controllers.control import StatusWriter
from rocketmq_operator.controllers.runner import Key, Result
from rocketmq_operator.informers import Lister
from rocketmq_operator.kube import NotFound

NOT_SERVED = "NotServed"
MESSAGES = {
    "Controller": ("this operator version does not run RocketMQ controllers yet (controller mode is planned); "
                   "nothing was created for this Controller"),
}


class UnservedReconciler:
    def __init__(self, kind: str, *, lister: Lister, status: StatusWriter, clock: Clock = REAL_CLOCK) -> None:
        self._message = MESSAGES[kind]
        self._lister = lister
        self._status = status
        self._clock = clock

    def sync(self, key: Key) -> Result | None:
        try:
            obj = self._lister.get(key.namespace, key.name)
        except NotFound:
            return None
        conds = ConditionSet(obj, now=rfc3339(self._clock.wall()))
        conds.set("Ready", FALSE, reason=NOT_SERVED, message=self._message)
        old = obj.get("status") or {}
        self._status.write(obj, {**old, "observedGeneration": conds.generation, "conditions": conds.items})
        return None
