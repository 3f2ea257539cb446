"""The Controller reconciler: a Raft group of RocketMQ 5 controllers as a StatefulSet behind a headless
Service.

The workload shape (runtime/workload): paused → a Paused condition only; a spec with problems → condition
and Warning event, no change; apply the Service, the StatefulSet and the budget (the StatefulSet controller
rolls a changed template one pod at a time; a majority keeps electing meanwhile); ask the observer to look at
the members (off this thread) and take what it last saw: which member leads. Status — members, ready pods,
the leader, the ``controllerAddr`` brokers use — is written last, only when it differs. Ready needs every pod
Ready and, when RocketMQ is observed, a member that says it leads.
"""

from __future__ import annotations

from typing import Any

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.controllers.observe.controllerfacts import ControllerFacts, ControllerTarget
from rocketmq_operator.controllers.observe.observer import Observer
from rocketmq_operator.controllers.runtime.addresses import dialable_list
from rocketmq_operator.controllers.runtime.conditions import FALSE, TRUE, Recorder
from rocketmq_operator.controllers.runtime.control import ObjectControl, StatusWriter
from rocketmq_operator.controllers.runtime.opening import Opened
from rocketmq_operator.controllers.runtime.runner import Key, Result
from rocketmq_operator.controllers.runtime.workload import (
    Built,
    Readiness,
    WorkloadReconciler,
    counted,
    ready_replicas,
)
from rocketmq_operator.informers import Lister
from rocketmq_operator.resources import naming
from rocketmq_operator.resources.controllers import ControllerModel, controller_objects, from_controller

LEADER_ELECTED = "LeaderElected"


class ControllerGroupReconciler(WorkloadReconciler):
    def __init__(self, *, lister: Lister, pods: Lister, failed_creates: Lister,
                 controls: dict[str, ObjectControl], status: StatusWriter, recorder: Recorder,
                 clock: Clock = REAL_CLOCK,
                 observer: Observer | None = None) -> None:
        super().__init__(lister=lister, controls=controls, status=status, recorder=recorder, clock=clock,
                         failed_creates=failed_creates)
        self._pods = pods
        self._observer = observer

    def gone(self, key: Key) -> None:
        if self._observer is not None:
            self._observer.forget(("Controller", key.namespace, key.name))

    def build(self, obj: dict[str, Any]) -> Built:
        model = from_controller(obj)
        if model.problems:
            return Built(model, refused=("InvalidSpec", "; ".join(str(p) for p in model.problems)))
        return Built(model, controller_objects(model), tuple(model.notes))

    def observe(self, key: Key, built: Built) -> ControllerFacts | None:
        if self._observer is None:
            return None
        model: ControllerModel = built.model
        okey = ("Controller", key.namespace, key.name)
        hosts = naming.controller_hosts(model.name, model.namespace, model.size,
                                        cluster_domain=model.cluster_domain)
        addrs = dialable_list(hosts, self._pods)
        target = ControllerTarget(members=tuple(zip([f"{model.name}-{i}" for i in range(model.size)], addrs)))
        self._observer.ensure(okey, target)
        facts = self._observer.fresh_facts(okey)
        return facts if isinstance(facts, ControllerFacts) and facts.target == target else None

    def readiness(self, opened: Opened, built: Built, workload: dict[str, Any] | None,
                  seen: ControllerFacts | None) -> Readiness:
        size, ready = built.model.size, ready_replicas(workload)
        message = counted(ready, size, "controllers")
        if seen is not None:
            leader = f"{seen.leader} leads" if seen.leader else "no member says it leads"
            opened.conds.set(LEADER_ELECTED, TRUE if seen.leader else FALSE,
                             reason="Elected" if seen.leader else "NoLeader",
                             message=f"{leader} ({seen.answered}/{len(seen.members)} members answered)")
        if ready < size or not _rolled_out(workload, size):
            return Readiness(False, "Progressing", message)
        if seen is not None and not seen.leader:
            return Readiness(False, "NoLeader", f"{message}; no member says it leads")
        return Readiness(True, "AllControllersReady", message)

    def status_fields(self, opened: Opened, built: Built, workload: dict[str, Any] | None,
                      seen: ControllerFacts | None) -> dict[str, Any]:
        model: ControllerModel = built.model
        status: dict[str, Any] = {"size": model.size, "readyReplicas": ready_replicas(workload),
                                  "nodes": [f"{model.name}-{i}" for i in range(model.size)],
                                  "controllerAddr": model.address}
        if seen is not None:
            status["leader"] = seen.leader or ""
            status["members"] = [_member_status(m) for m in seen.members]
        elif "leader" in opened.old:
            status["leader"], status["members"] = opened.old["leader"], opened.old.get("members", [])
        return status

    def result(self, result: Result | None, seen: Any) -> Result | None:
        return _later(result, self._observer)


def _member_status(member: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": member.pod, "role": "LEADER" if member.is_leader else "FOLLOWER"}
    if member.error:
        entry["role"], entry["error"] = "UNKNOWN", member.error[:512]
    return entry


def _rolled_out(sts: dict[str, Any] | None, size: int) -> bool:
    if not sts:
        return False
    status = sts.get("status") or {}
    return (status.get("observedGeneration", 0) >= sts["metadata"].get("generation", 0)
            and status.get("updateRevision") == status.get("currentRevision")
            and int(status.get("replicas") or 0) == size)


def _later(result: Result | None, observer: Observer | None) -> Result | None:
    """Look again on the observer's schedule (the leader may change without any Kubernetes event)."""
    if observer is None:
        return result
    waits = [observer.interval, *([result.requeue_after] if result and result.requeue_after else [])]
    return Result(requeue_after=min(waits))
