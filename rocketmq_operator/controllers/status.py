"""What a broker-cluster sync found, turned into the custom resource's status.

A ``Report`` collects findings while the sync runs (problems, conflicts, progress, pause) and builds
the status at the end. The status is built from scratch each time from the cache, with condition
timestamps carried over when nothing changed, so equal findings give an equal status and no write.
"""

from __future__ import annotations

from typing import Any

from rocketmq_operator.controllers.conditions import (
    FALSE,
    PAUSED,
    PAUSED_MESSAGE,
    TRUE,
    remove_condition,
    set_condition,
)
from rocketmq_operator.resources import meta, naming
from rocketmq_operator.resources.model import BrokerClusterModel

READY = "Ready"
SCALE_DOWN = "ScaleDownRefused"
RESTART_PENDING = "RestartPending"


def _ready(pod: dict[str, Any]) -> bool:
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


class Report:
    def __init__(self, obj: dict[str, Any], *, now: str) -> None:
        self.obj = obj
        self.now = now
        self.generation = int(obj.get("metadata", {}).get("generation") or 0)
        self.problems: list[str] = []
        self.problem_reason = "InvalidSpec"
        self.conflicts: list[str] = []
        self.denied: list[str] = []
        self.progress: str | None = None
        self.is_paused = False
        self.scale_down: str | None = None
        self.restart: str | None = None

    def paused(self) -> None:
        self.is_paused = True

    def invalid(self, message: str, *, reason: str) -> None:
        if not self.problems:
            self.problem_reason = reason
        self.problems.append(message)

    def conflict(self, message: str) -> None:
        self.conflicts.append(message)

    def forbidden(self, message: str) -> None:
        self.denied.append(message)

    def progressing(self, message: str) -> None:
        self.progress = self.progress or message

    def scale_down_refused(self, message: str) -> None:
        self.scale_down = message

    def restart_pending(self, message: str) -> None:
        self.restart = message

    # -- building the status --------------------------------------------------------------------------

    def _set(self, conds: list[dict[str, Any]], type_: str, status: str, reason: str,
             message: str) -> list[dict[str, Any]]:
        return set_condition(conds, type_, status, reason=reason, message=message, generation=self.generation,
                             now=self.now)

    def _optional(self, conds: list[dict[str, Any]], type_: str, message: str | None,
                  reason: str) -> list[dict[str, Any]]:
        if message is None:
            return remove_condition(conds, type_)
        return self._set(conds, type_, TRUE, reason, message)

    def _ready_condition(self, conds: list[dict[str, Any]], ready: int, total: int) -> list[dict[str, Any]]:
        if self.problems:
            return self._set(conds, READY, FALSE, self.problem_reason, "; ".join(self.problems))
        if self.denied:
            return self._set(conds, READY, FALSE, "Forbidden", "; ".join(self.denied))
        if self.conflicts:
            return self._set(conds, READY, FALSE, "ResourceConflict", "; ".join(self.conflicts))
        if self.progress or ready < total or total == 0:
            return self._set(conds, READY, FALSE, "Progressing",
                             self.progress or f"{ready}/{total} brokers ready")
        return self._set(conds, READY, TRUE, "AllBrokersReady", f"{ready}/{total} brokers ready")

    def status(self, model: BrokerClusterModel | None, *, sets: list[dict[str, Any] | None],
               pods: list[dict[str, Any]], kind: str) -> dict[str, Any]:
        old = dict(self.obj.get("status") or {})
        conds = list(old.get("conditions") or [])
        conds = self._optional(conds, PAUSED, PAUSED_MESSAGE if self.is_paused else None,
                               "PauseAnnotation")
        if self.is_paused:
            return {**old, "conditions": conds}
        conds = self._optional(conds, SCALE_DOWN, self.scale_down, "GroupsHoldMessages")
        conds = self._optional(conds, RESTART_PENDING, self.restart, "RestartNotAllowed")
        if model is None:
            conds = self._ready_condition(conds, 0, 0)
            return {**old, "conditions": conds, "observedGeneration": self.generation}
        total = model.groups * model.members_per_group
        ready = sum(1 for p in pods if _ready(p))
        if len(pods) != total:  # members still coming or going
            self.progressing(f"{len(pods)}/{total} broker pods exist")
        conds = self._ready_condition(conds, ready, total)
        status: dict[str, Any] = {
            "observedGeneration": self.generation,
            "groups": model.groups,
            "readyGroups": _ready_groups(pods, model),
            "members": len(pods),
            "readyMembers": ready,
            "nameServers": model.name_server_address,
            "brokers": [_broker_entry(p, model) for p in sorted(pods, key=_pod_sort_key)],
            "conditions": conds,
        }
        if kind == "Broker":  # the Apache operator's fields
            status["size"] = model.groups
            status["nodes"] = sorted(p["metadata"]["name"] for p in pods)
        return status


def _ready_groups(pods: list[dict[str, Any]], model: BrokerClusterModel) -> int:
    ready_by_group = [0] * model.groups
    for pod in pods:
        group = _pod_sort_key(pod)[0]
        if group < model.groups and _ready(pod):
            ready_by_group[group] += 1
    return sum(1 for n in ready_by_group if n >= model.members_per_group)


def _pod_sort_key(pod: dict[str, Any]) -> tuple[int, int]:
    labels = pod["metadata"].get("labels") or {}
    return int(labels.get(meta.LABEL_GROUP, 0)), int(pod["metadata"]["name"].rsplit("-", 1)[1])


def _broker_entry(pod: dict[str, Any], model: BrokerClusterModel) -> dict[str, Any]:
    group, member = _pod_sort_key(pod)
    if model.dledger:
        role = "DLEDGER"
    elif model.all_master or member == 0:
        role = model.master_role or "ASYNC_MASTER"
    else:
        role = "SLAVE"
    broker_name = pod["metadata"]["name"] if model.all_master else naming.broker_name(group)
    return {"name": pod["metadata"]["name"], "group": group, "brokerName": broker_name,
            "brokerId": 0 if model.all_master else member, "role": role, "ready": _ready(pod)}
