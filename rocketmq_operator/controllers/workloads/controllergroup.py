"""The Controller reconciler: a Raft group of RocketMQ 5 controllers as a StatefulSet behind a headless Service.

``sync(key)``: read the Controller; paused → a Paused condition only; build the model (problems → condition
and Warning event, no change); apply the Service, the StatefulSet and the budget (the StatefulSet controller
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
from rocketmq_operator.controllers.runtime.common import pods_not_created
from rocketmq_operator.controllers.runtime.conditions import FALSE, TRUE, ConditionSet
from rocketmq_operator.controllers.runtime.control import ObjectControl, StatusWriter, apply_all
from rocketmq_operator.controllers.runtime.opening import mark_overridden, open_parent, refuse
from rocketmq_operator.controllers.runtime.runner import Key, Result
from rocketmq_operator.events import WARNING
from rocketmq_operator.informers import Lister
from rocketmq_operator.resources import naming
from rocketmq_operator.resources.controllers import ControllerModel, controller_objects, from_controller

READY = "Ready"
LEADER_ELECTED = "LeaderElected"


class ControllerGroupReconciler:
    def __init__(self, *, lister: Lister, pods: Lister, failed_creates: Lister, controls: dict[str, ObjectControl],
                 status: StatusWriter, recorder: Any, clock: Clock = REAL_CLOCK,
                 observer: Observer | None = None) -> None:
        self._lister = lister
        self._pods = pods
        self._failed_creates = failed_creates
        self._controls = controls
        self._status = status
        self._recorder = recorder
        self._clock = clock
        self._observer = observer

    def sync(self, key: Key) -> Result | None:
        def gone() -> None:
            if self._observer is not None:
                self._observer.forget(("Controller", key.namespace, key.name))
        opened = open_parent(self._lister, key, clock=self._clock, status=self._status, gone=gone)
        if opened is None:
            return None
        obj, old, conds = opened.obj, opened.old, opened.conds
        model = from_controller(obj)
        if model.problems:
            refuse(opened, reason="InvalidSpec", message="; ".join(str(p) for p in model.problems),
                   recorder=self._recorder, status=self._status)
            return None
        mark_overridden(opened, self._recorder, model.notes)
        applied = apply_all(obj, controller_objects(model), self._controls, self._recorder)
        sts = applied.first("StatefulSet")
        facts = self._observe(key, model)
        ready = int(((sts or {}).get("status") or {}).get("readyReplicas") or 0)
        self._ready(obj, model, conds, applied, sts, ready, facts)
        status = {"observedGeneration": conds.generation, "size": model.size, "readyReplicas": ready,
                  "nodes": [f"{model.name}-{i}" for i in range(model.size)], "controllerAddr": model.address,
                  "conditions": conds.items}
        if facts is not None:
            status["leader"] = facts.leader or ""
            status["members"] = [_member_status(m) for m in facts.members]
        elif "leader" in old:
            status["leader"], status["members"] = old["leader"], old.get("members", [])
        self._status.write(obj, status)
        return _later(applied.result(), self._observer)

    def _observe(self, key: Key, model: ControllerModel) -> ControllerFacts | None:
        if self._observer is None:
            return None
        okey = ("Controller", key.namespace, key.name)
        hosts = naming.controller_hosts(model.name, model.namespace, model.size, cluster_domain=model.cluster_domain)
        addrs = dialable_list(hosts, self._pods)
        target = ControllerTarget(members=tuple(zip([f"{model.name}-{i}" for i in range(model.size)], addrs)))
        self._observer.ensure(okey, target)
        facts = self._observer.fresh_facts(okey)
        return facts if isinstance(facts, ControllerFacts) and facts.target == target else None

    def _ready(self, obj: dict[str, Any], model: ControllerModel, conds: ConditionSet, applied: Any,
               sts: dict[str, Any] | None, ready: int, facts: ControllerFacts | None) -> None:
        not_created = pods_not_created(sts, self._failed_creates)
        counted = f"{ready}/{model.size} controllers ready"
        if facts is not None:
            leader = f"{facts.leader} leads" if facts.leader else "no member says it leads"
            conds.set(LEADER_ELECTED, TRUE if facts.leader else FALSE,
                      reason="Elected" if facts.leader else "NoLeader",
                      message=f"{leader} ({facts.answered}/{len(facts.members)} members answered)")
        if conds.mark_blocked(denied=applied.denied, invalid=applied.invalid, conflicts=applied.conflicts):
            return
        if not_created:
            if not_created not in (conds.message(READY) or ""):
                self._recorder.event(obj, WARNING, "FailedCreate", not_created)
            conds.set(READY, FALSE, reason="FailedCreate", message=not_created)
        elif ready < model.size or not _rolled_out(sts, model.size):
            conds.set(READY, FALSE, reason="Progressing", message=counted)
        elif facts is not None and not facts.leader:
            conds.set(READY, FALSE, reason="NoLeader", message=f"{counted}; no member says it leads")
        else:
            conds.set(READY, TRUE, reason="AllControllersReady", message=counted)


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
