"""The Console reconciler: the RocketMQ dashboard Deployment with the name-server address injected.

``sync(key)``: read the Console; paused → a Paused condition only; find the name-server address
(``spec.nameServers``, else the namespace's only NameService, which is watched: when it scales the
address in the Deployment follows); apply the Deployment and its Service; write status last, only
when it differs.
"""

from __future__ import annotations

from typing import Any

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.controllers.brokercluster import CONFLICT_RECHECK, is_paused, write_status
from rocketmq_operator.controllers.conditions import FALSE, TRUE, ConditionSet, rfc3339
from rocketmq_operator.controllers.control import ObjectControl, apply_all
from rocketmq_operator.controllers.runner import Key, Result
from rocketmq_operator.events import WARNING
from rocketmq_operator.informers import Lister
from rocketmq_operator.kube import CONSOLES, KubeClient, NotFound
from rocketmq_operator.resources import naming
from rocketmq_operator.resources.console import console_objects

READY = "Ready"


def name_server_address(console: dict[str, Any], name_services: Lister) -> tuple[str, str | None]:
    """The address to inject, or an explanation of why there is none."""
    given = ((console.get("spec") or {}).get("nameServers") or "").strip()
    if given:
        return given, None
    namespace = console["metadata"]["namespace"]
    found = name_services.list(namespace)
    if len(found) != 1:
        names = ", ".join(sorted(n["metadata"]["name"] for n in found)) or "none"
        return "", (f"spec.nameServers is empty and the namespace has {len(found)} NameServices ({names}); "
                    f"set spec.nameServers or keep exactly one NameService")
    ns = found[0]
    size = int((ns.get("spec") or {}).get("size", 1))
    return naming.name_server_address(ns["metadata"]["name"], namespace, size), None


class ConsoleReconciler:
    def __init__(self, *, client: KubeClient, lister: Lister, name_services: Lister, deployments: ObjectControl,
                 services: ObjectControl, recorder: Any, clock: Clock = REAL_CLOCK) -> None:
        self._client = client
        self._lister = lister
        self._name_services = name_services
        self._controls = {"Deployment": deployments, "Service": services}
        self._recorder = recorder
        self._clock = clock

    def sync(self, key: Key) -> Result | None:
        try:
            obj = self._lister.get(key.namespace, key.name)
        except NotFound:
            return None
        old = obj.get("status") or {}
        conds = ConditionSet(obj, now=rfc3339(self._clock.wall()))
        if conds.mark_paused(is_paused(obj)):
            return self._write(obj, {**old, "conditions": conds.items})
        address, problem = name_server_address(obj, self._name_services)
        if problem:
            if conds.message(READY) != problem:
                self._recorder.event(obj, WARNING, "NameServersUnknown", problem)
            conds.set(READY, FALSE, reason="NameServersUnknown", message=problem)
            return self._write(obj, {**old, "observedGeneration": conds.generation, "conditions": conds.items})
        applied, conflicts = apply_all(obj, console_objects(obj, name_server_address=address), self._controls,
                                       self._recorder)
        deployment = applied.get("Deployment") or {}
        ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
        wanted = int((deployment.get("spec") or {}).get("replicas", 1))
        if conflicts:
            conds.set(READY, FALSE, reason="ResourceConflict", message="; ".join(conflicts))
        elif ready >= wanted:
            conds.set(READY, TRUE, reason="ConsoleAvailable", message=f"{ready}/{wanted} console pods ready")
        else:
            conds.set(READY, FALSE, reason="Progressing", message=f"{ready}/{wanted} console pods ready")
        self._write(obj, {"observedGeneration": conds.generation, "readyReplicas": ready, "nameServers": address,
                          "conditions": conds.items})
        return Result(requeue_after=CONFLICT_RECHECK) if conflicts else None

    def _write(self, obj: dict[str, Any], status: dict[str, Any]) -> None:
        write_status(self._client, CONSOLES, obj, status)
