"""The NameService reconciler: a StatefulSet of name servers behind a headless Service, with a
PodDisruptionBudget.

The workload shape (runtime/workload): paused → a Paused condition only; a spec with problems → condition and
Warning event, no change; apply the Service, the StatefulSet and the budget (rolling updates are the
StatefulSet controller's: name servers keep no state a restart loses); Ready once every name server is ready
and the StatefulSet has rolled out. Broker clusters and consoles that use this NameService are requeued by
their own controllers' watches.
"""

from __future__ import annotations

from typing import Any

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.controllers.runtime.conditions import Recorder
from rocketmq_operator.controllers.runtime.control import ObjectControl, StatusWriter
from rocketmq_operator.controllers.runtime.opening import Opened
from rocketmq_operator.controllers.runtime.workload import (
    Built,
    Readiness,
    WorkloadReconciler,
    counted,
    ready_replicas,
)
from rocketmq_operator.informers import Lister
from rocketmq_operator.resources.model import from_name_service
from rocketmq_operator.resources.nameservers import name_service_objects, name_service_status_addresses


class NameServiceReconciler(WorkloadReconciler):
    def __init__(self, *, lister: Lister, failed_creates: Lister, controls: dict[str, ObjectControl],
                 status: StatusWriter, recorder: Recorder, clock: Clock = REAL_CLOCK) -> None:
        super().__init__(lister=lister, controls=controls, status=status, recorder=recorder, clock=clock,
                         failed_creates=failed_creates)

    def build(self, obj: dict[str, Any]) -> Built:
        model = from_name_service(obj)
        if model.problems:
            return Built(model, refused=("InvalidSpec", "; ".join(str(p) for p in model.problems)))
        return Built(model, name_service_objects(model), tuple(model.notes))

    def readiness(self, opened: Opened, built: Built, workload: dict[str, Any] | None,
                  seen: Any) -> Readiness:
        size, ready = built.model.size, ready_replicas(workload)
        settled = (_rolled_out(workload)
                   and int(((workload or {}).get("status") or {}).get("replicas") or 0) == size)
        ok = ready == size and settled
        return Readiness(ok, "AllNameServersReady" if ok else "Progressing",
                         counted(ready, size, "name servers"))

    def status_fields(self, opened: Opened, built: Built, workload: dict[str, Any] | None,
                      seen: Any) -> dict[str, Any]:
        model = built.model
        status = {"size": model.size, "readyReplicas": ready_replicas(workload),
                  "nameServers": name_service_status_addresses(model)}
        if model.embedded_controller:
            status["controllerAddr"] = model.controller_address
        return status


def _rolled_out(sts: dict[str, Any] | None) -> bool:
    if not sts:
        return False
    status = sts.get("status") or {}
    return (status.get("observedGeneration", 0) >= sts["metadata"].get("generation", 0)
            and status.get("updateRevision") == status.get("currentRevision")
            and status.get("updatedReplicas", 0) >= sts["spec"].get("replicas", 0))
