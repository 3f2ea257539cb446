"""The NameService reconciler: a StatefulSet of name servers behind a headless Service, with a
PodDisruptionBudget.

``sync(key)``: read the NameService; paused → a Paused condition only; build the model (problems →
condition and Warning event, no change); apply the Service, the StatefulSet and the budget (rolling
updates are the StatefulSet controller's: name servers keep no state a restart loses); write status
last, only when it differs. Broker clusters and consoles that use this NameService are requeued by
their own controllers' watches.
"""

from __future__ import annotations

from typing import Any

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.controllers.runtime.common import pods_not_created
from rocketmq_operator.controllers.runtime.conditions import FALSE, TRUE
from rocketmq_operator.controllers.runtime.control import ObjectControl, StatusWriter, apply_all
from rocketmq_operator.controllers.runtime.opening import mark_overridden, open_parent, refuse
from rocketmq_operator.controllers.runtime.runner import Key, Result
from rocketmq_operator.events import WARNING
from rocketmq_operator.informers import Lister
from rocketmq_operator.resources.model import from_name_service
from rocketmq_operator.resources.nameservers import name_service_objects, name_service_status_addresses

READY = "Ready"


class NameServiceReconciler:
    def __init__(self, *, lister: Lister, failed_creates: Lister, controls: dict[str, ObjectControl],
                 status: StatusWriter, recorder: Any, clock: Clock = REAL_CLOCK) -> None:
        self._lister = lister
        self._failed_creates = failed_creates
        self._controls = controls
        self._status = status
        self._recorder = recorder
        self._clock = clock

    def sync(self, key: Key) -> Result | None:
        opened = open_parent(self._lister, key, clock=self._clock, status=self._status)
        if opened is None:
            return None
        obj, conds = opened.obj, opened.conds
        model = from_name_service(obj)
        if model.problems:
            refuse(opened, reason="InvalidSpec", message="; ".join(str(p) for p in model.problems),
                   recorder=self._recorder, status=self._status)
            return None
        mark_overridden(opened, self._recorder, model.notes)
        applied = apply_all(obj, name_service_objects(model), self._controls, self._recorder)
        sts = applied.first("StatefulSet")
        sts_status = (sts or {}).get("status") or {}
        ready = int(sts_status.get("readyReplicas") or 0)
        settled = _rolled_out(sts) and int(sts_status.get("replicas") or 0) == model.size
        not_created = pods_not_created(sts, self._failed_creates)
        if conds.mark_blocked(denied=applied.denied, invalid=applied.invalid, conflicts=applied.conflicts):
            pass
        elif not_created:
            if not_created not in (conds.message(READY) or ""):
                self._recorder.event(obj, WARNING, "FailedCreate", not_created)
            conds.set(READY, FALSE, reason="FailedCreate", message=not_created)
        elif ready == model.size and settled:
            conds.set(READY, TRUE, reason="AllNameServersReady", message=f"{ready}/{model.size} name servers ready")
        else:
            conds.set(READY, FALSE, reason="Progressing", message=f"{ready}/{model.size} name servers ready")
        status = {"observedGeneration": conds.generation, "size": model.size, "readyReplicas": ready,
                  "nameServers": name_service_status_addresses(model), "conditions": conds.items}
        if model.embedded_controller:
            status["controllerAddr"] = model.controller_address
        self._status.write(obj, status)
        return applied.result()


def _rolled_out(sts: dict[str, Any] | None) -> bool:
    if not sts:
        return False
    status = sts.get("status") or {}
    return (status.get("observedGeneration", 0) >= sts["metadata"].get("generation", 0)
            and status.get("updateRevision") == status.get("currentRevision")
            and status.get("updatedReplicas", 0) >= sts["spec"].get("replicas", 0))

