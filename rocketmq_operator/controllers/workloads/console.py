"""The Console reconciler: the RocketMQ dashboard Deployment with the name-server address injected.

``sync(key)``: read the Console; paused → a Paused condition only; find the name-server address
(``spec.nameServers``, else the namespace's only NameService through the resolver the broker doors use;
the NameService is watched, so when it scales the address in the Deployment follows); apply the
Deployment and its Service; write status last, only when it differs.
"""

from __future__ import annotations

from typing import Any

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.controllers.runtime.conditions import FALSE, TRUE
from rocketmq_operator.controllers.runtime.control import ObjectControl, StatusWriter, apply_all
from rocketmq_operator.controllers.runtime.opening import open_parent, refuse
from rocketmq_operator.controllers.runtime.refs import client_name_servers, name_service_key
from rocketmq_operator.controllers.runtime.runner import Key, Result
from rocketmq_operator.informers import Lister
from rocketmq_operator.resources.console import console_objects

READY = "Ready"


def console_name_service_key(console: dict[str, Any]) -> str | None:
    return name_service_key(console, implicit=True)


def name_server_address(console: dict[str, Any], name_services: Lister) -> tuple[str, str | None]:
    """The address to inject, or an explanation of why there is none."""
    return client_name_servers(console, name_services)


class ConsoleReconciler:
    def __init__(self, *, lister: Lister, name_services: Lister, controls: dict[str, ObjectControl],
                 status: StatusWriter, recorder: Any, clock: Clock = REAL_CLOCK) -> None:
        self._lister = lister
        self._name_services = name_services
        self._controls = controls
        self._status = status
        self._recorder = recorder
        self._clock = clock

    def sync(self, key: Key) -> Result | None:
        opened = open_parent(self._lister, key, clock=self._clock, status=self._status)
        if opened is None:
            return None
        obj, conds = opened.obj, opened.conds
        address, problem = name_server_address(obj, self._name_services)
        if problem:
            refuse(opened, reason="NameServersUnknown", message=problem, recorder=self._recorder,
                   status=self._status)
            return None
        applied = apply_all(obj, console_objects(obj, name_server_address=address), self._controls,
                            self._recorder)
        deployment = applied.first("Deployment") or {}
        ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
        wanted = int((deployment.get("spec") or {}).get("replicas", 1))
        if conds.mark_blocked(denied=applied.denied, invalid=applied.invalid, conflicts=applied.conflicts):
            pass
        elif ready >= wanted:
            conds.set(READY, TRUE, reason="ConsoleAvailable", message=f"{ready}/{wanted} console pods ready")
        else:
            conds.set(READY, FALSE, reason="Progressing", message=f"{ready}/{wanted} console pods ready")
        self._status.write(obj, {"observedGeneration": conds.generation, "readyReplicas": ready,
                                 "nameServers": address, "conditions": conds.items})
        return applied.result()
