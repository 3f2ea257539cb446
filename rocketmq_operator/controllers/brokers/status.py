"""What a broker-cluster sync found, turned into the custom resource's status.

A ``Report`` collects findings while the sync runs (problems, conflicts, refused writes, progress,
pause, properties the operator overrode) and builds the status at the end through the one condition
builder every controller uses (:class:`ConditionSet`). The status is built from scratch each time from the
cache, with condition timestamps carried over when nothing changed, so equal findings give an equal status and
no write.
"""

from __future__ import annotations

from typing import Any

from rocketmq_operator.controllers.brokers.configwrites import REASON as CONFIG_NOT_WRITTEN
from rocketmq_operator.controllers.brokers.configwrites import ConfigWrites
from rocketmq_operator.controllers.brokers.drain import DrainStep
from rocketmq_operator.controllers.brokers.metadata import CopyResult
from rocketmq_operator.controllers.brokers.registration import (
    BROKERS_REGISTERED,
    NAME_SERVERS_SYNCED,
    broker_fields,
    controller_masters,
    facts_by_pod,
    registration,
    unsynced,
)
from rocketmq_operator.controllers.brokers.writegate import NAME_SERVERS_FOREIGN, REFUSED_REASON
from rocketmq_operator.controllers.observe.observer import ClusterFacts
from rocketmq_operator.controllers.runtime.common import (
    CONFLICT_RECHECK,
    OVERRIDDEN,
    STALE_CACHE_RECHECK,
    pod_ready,
)
from rocketmq_operator.controllers.runtime.conditions import FALSE, PAUSED, PAUSED_MESSAGE, TRUE, ConditionSet
from rocketmq_operator.controllers.runtime.control import ApplyReport
from rocketmq_operator.controllers.runtime.runner import Result
from rocketmq_operator.resources import identity, meta
from rocketmq_operator.resources.model import BrokerClusterModel

SCALE_DOWN = "ScaleDownRefused"
DRAINING = "Draining"
RESTART_PENDING = "RestartPending"
ROLLING = "Rolling"
STALE_MESSAGE = "waiting for the cache to catch up with objects just created"




class Report:
    def __init__(self, obj: dict[str, Any], *, now: str) -> None:
        self.obj = obj
        self.conditions = ConditionSet(obj, now=now)
        self.generation = self.conditions.generation
        self.problems: list[str] = []
        self.problem_reason = "InvalidSpec"
        self.conflicts: list[str] = []
        self.denied: list[str] = []
        self.rejected: list[str] = []
        self.progress: str | None = None
        self.is_paused = False
        self.scale_down: str | None = None
        self.scale_down_reason = "GroupsHoldMessages"
        self.drain_waiting: tuple[str, str] | None = None  # (reason, message) of the Draining condition
        self.restart: str | None = None
        self.override: str | None = None
        # why no write may go through the name servers (condition NameServersForeign)
        self.foreign: str | None = None
        self.not_created: list[str] = []
        self.unreachable: list[str] = []
        self.observing = False
        self.copied: list[int] | None = None
        self.copied_brokers: list[str] = []
        self.restart_reason = "RestartNotAllowed"
        self.drain: dict[str, Any] = {}
        self.roll: dict[str, Any] | None = None
        self.roll_waiting: str | None = None
        self.roll_error: str | None = None
        self.facts: ClusterFacts | None = None
        self.starting: tuple[str, ...] = ()  # name servers whose pods are not up yet
        self.applied: ApplyReport | None = None
        self.configs: ConfigWrites | None = None

    def paused(self) -> None:
        self.is_paused = True

    def invalid(self, message: str, *, reason: str) -> None:
        if not self.problems:
            self.problem_reason = reason
        self.problems.append(message)

    def progressing(self, message: str) -> None:
        self.progress = self.progress or message

    def scale_down_refused(self, message: str, *, reason: str = "GroupsHoldMessages") -> None:
        self.scale_down, self.scale_down_reason = message, reason

    def restart_pending(self, message: str, *, reason: str = "RestartNotAllowed") -> None:
        self.restart, self.restart_reason = message, reason

    def rolling(self, roll: dict[str, Any], *, waiting: str | None, error: str | None) -> None:
        """The roll in flight: what to keep in status.roll, what it waits for, a failed fence call."""
        self.roll, self.roll_waiting, self.roll_error = roll, waiting, error
        if error:
            self.progressing(error)
        elif waiting:
            self.progressing(waiting)

    def draining(self, step: DrainStep) -> None:
        """A group being drained before removal: kept in status.drain; what it waits for is condition
        Draining; a drain that cannot go on (timed out, RocketMQ not observed) is ScaleDownRefused."""
        self.drain = dict(step.drain)
        if step.stuck:
            self.scale_down_refused(step.stuck, reason=step.reason)
        elif step.waiting:
            self.drain_waiting = (step.reason, step.waiting)
            self.progressing(step.waiting)

    def metadata(self, copy: CopyResult) -> None:
        """Topics and subscription groups copied to new broker groups; Ready waits for the copy."""
        self.copied, self.copied_brokers = list(copy.copied), list(copy.brokers)
        if copy.error or copy.waiting:
            self.progressing(copy.error or copy.waiting or "")

    def observed(self, facts: ClusterFacts | None, starting: tuple[str, ...] = ()) -> None:
        """What the observer last read of this cluster (None: nothing yet); its facts go into status.
        ``starting``: configured name servers whose pods do not exist or are not Ready yet."""
        self.observing, self.facts, self.starting = True, facts, starting

    def pods_not_created(self, message: str) -> None:
        self.not_created.append(message)

    def overridden(self, message: str | None) -> None:
        self.override = message

    def writes_refused(self, message: str | None) -> None:
        """The name servers are not the namespace's own and not allowed: fences and drains wait (see
        writegate)."""
        self.foreign = message

    def result(self) -> Result | None:
        """When to look again: what the apply pass asks for (see :meth:`ApplyReport.result`), and soon again
        after a ConfigMap that was not written."""
        waits = [r.requeue_after for r in (self.applied.result() if self.applied is not None else None,)
                 if r is not None and r.requeue_after is not None]
        if self.configs is not None and (self.configs.failed or self.configs.conflicts):
            waits.append(CONFLICT_RECHECK)
        if self.configs is not None and self.configs.stale:
            waits.append(STALE_CACHE_RECHECK)
        return Result(requeue_after=min(waits)) if waits else None

    def configs_written(self, writes: ConfigWrites) -> None:
        """Takes what writing the ConfigMaps found (see controllers.brokers.configwrites)."""
        self.configs = writes
        self.conflicts += writes.conflicts
        if writes.stale:
            self.progressing(STALE_MESSAGE)

    def absorb(self, applied: ApplyReport) -> None:
        """Takes what an apply pass found: foreign objects, refused writes, invalid objects."""
        self.conflicts += applied.conflicts
        self.denied += applied.denied
        self.rejected += applied.invalid
        self.applied = applied
        if applied.stale:
            self.progressing(STALE_MESSAGE)

    # -- building the status --------------------------------------------------------------------------

    def _optional(self, type_: str, message: str | None, reason: str) -> None:
        if message is None:
            self.conditions.remove(type_)
        else:
            self.conditions.set(type_, TRUE, reason=reason, message=message)

    def _ready_condition(self, ready: int, total: int) -> None:
        unwritten = self.configs.failed if self.configs is not None else []
        for found, reason in ((self.problems, self.problem_reason), (unwritten, CONFIG_NOT_WRITTEN),
                              (self.denied, "Forbidden"),
                              (self.rejected, "InvalidObject"), (self.conflicts, "ResourceConflict"),
                              (self.not_created, "FailedCreate"), (self.unreachable, "RocketMQUnreachable")):
            if found:
                self.conditions.ready(False, reason=reason, message="; ".join(found))
                return
        if self.progress or ready < total or total == 0:
            self.conditions.ready(False, reason="Progressing",
                                message=self.progress or f"{ready}/{total} brokers ready")
            return
        self.conditions.ready(True, reason="AllBrokersReady", message=f"{ready}/{total} brokers ready")

    def status(self, model: BrokerClusterModel | None, *, pods: list[dict[str, Any]],
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
        old = dict(self.obj.get("status") or {})
        self._optional(PAUSED, PAUSED_MESSAGE if self.is_paused else None, "PauseAnnotation")
        if self.is_paused:
            if self.roll is not None:  # a fence lifted (or not) while paused
                self._optional(ROLLING, self.roll_error, "StepFailed")
                old = ({k: v for k, v in old.items() if k != "roll"}
                       | ({"roll": self.roll} if self.roll else {}))
            return {**old, "conditions": self.conditions.items}
        self._optional(SCALE_DOWN, self.scale_down, self.scale_down_reason)
        reason, message = self.drain_waiting or ("", None)
        self._optional(DRAINING, message, reason)
        self._optional(RESTART_PENDING, self.restart, self.restart_reason)
        self._optional(OVERRIDDEN, self.override, "AppliedDifferently")
        self._optional(NAME_SERVERS_FOREIGN, self.foreign, REFUSED_REASON)
        self._optional(ROLLING, self.roll_error or self.roll_waiting,
                       "StepFailed" if self.roll_error else "OneAtATime")
        if model is None:
            self._ready_condition(0, 0)
            return {**old, "conditions": self.conditions.items, "observedGeneration": self.generation}
        total = model.groups * model.members_per_group
        ready = sum(1 for p in pods if pod_ready(p))
        if len(pods) != total:  # members still coming or going
            self.progressing(f"{len(pods)}/{total} broker pods exist")
        brokers = [_broker_entry(p, model) for p in sorted(pods, key=_pod_sort_key)]
        status: dict[str, Any] = {"roll": self.roll} if self.roll else {}
        if self.copied or self.copied_brokers:
            status["scaleOut"] = {"copiedGroups": self.copied,
                                  **({"copiedBrokers": self.copied_brokers} if self.copied_brokers else {})}
        if self.drain:
            status["drain"] = self.drain
        if self.observing:
            brokers = self._registration(model, pods, brokers, status)
        self._ready_condition(ready, total)
        return {
            "observedGeneration": self.generation,
            "groups": model.groups,
            "readyGroups": _ready_groups(pods, model),
            "members": len(pods),
            "readyMembers": ready,
            **status,
            "brokerNamePrefix": model.broker_name_prefix,
            "nameServers": model.name_server_address,
            "brokers": brokers,
            "conditions": self.conditions.items,
            **(extra or {}),
        }

    def _registration(self, model: BrokerClusterModel, pods: list[dict[str, Any]],
                      brokers: list[dict[str, Any]], status: dict[str, Any]) -> list[dict[str, Any]]:
        """RocketMQ's view: the BrokersRegistered and NameServersSynced conditions, registeredMembers, and
        each member's facts; Ready waits for every member to be registered."""
        reg = registration(self.facts, pods, starting=self.starting)
        self.conditions.set(BROKERS_REGISTERED, reg.status, reason=reg.reason, message=reg.message)
        behind = unsynced(self.facts)
        self._optional_false(NAME_SERVERS_SYNCED, behind, "PushFailed",
                             f"namesrvAddr could not be updated on {', '.join(behind)}; retrying")
        if reg.unreachable:
            self.unreachable.append(reg.message)
        elif not reg.serving:
            self.progressing(reg.message)
        status["registeredMembers"] = reg.registered
        if model.controller_mode and self.facts is not None and self.facts.controller is not None:
            status["controllerMasters"] = controller_masters(model, self.facts, pods)
        by_pod = facts_by_pod(self.facts)
        return [broker_fields(b, by_pod.get(b["name"]), self.facts, dledger=model.dledger) for b in brokers]

    def _optional_false(self, type_: str, found: list[str], reason: str, message: str) -> None:
        if found:
            self.conditions.set(type_, FALSE, reason=reason, message=message)
        else:
            self.conditions.remove(type_)


def _ready_groups(pods: list[dict[str, Any]], model: BrokerClusterModel) -> int:
    ready_by_group = [0] * model.groups
    for pod in pods:
        group = _pod_sort_key(pod)[0]
        if group < model.groups and pod_ready(pod):
            ready_by_group[group] += 1
    return sum(1 for n in ready_by_group if n >= model.members_per_group)


def _pod_sort_key(pod: dict[str, Any]) -> tuple[int, int]:
    labels = pod["metadata"].get("labels") or {}
    return int(labels.get(meta.LABEL_GROUP, 0)), int(pod["metadata"]["name"].rsplit("-", 1)[1])


def _broker_entry(pod: dict[str, Any], model: BrokerClusterModel) -> dict[str, Any]:
    me = identity.member(model.layout, *_pod_sort_key(pod))
    if model.dledger:
        role = "DLEDGER"
    elif model.controller_mode:
        role = "ELECTED"  # the controllers decide; the observed role (MASTER/SLAVE) replaces this
    else:
        role = me.role or "ASYNC_MASTER"
    entry = {"name": pod["metadata"]["name"], "group": me.group, "brokerName": me.broker_name,
             "brokerId": me.broker_id, "role": role, "ready": pod_ready(pod)}
    if model.controller_mode:
        del entry["brokerId"]  # the controller assigns it; the observed one is added
    return entry
