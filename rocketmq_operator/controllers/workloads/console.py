"""The Console reconciler: the RocketMQ dashboard Deployment with the name-server address injected.

The workload shape (runtime/workload): paused → a Paused condition only; the name-server address is
``spec.nameServers``, else the namespace's only NameService through the resolver the broker doors use (the
NameService is watched, so when it scales the address in the Deployment follows), and without one the spec is
refused; apply the Deployment and its Service; Ready once the Deployment's pods are.
"""

from __future__ import annotations

from typing import Any

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.controllers.runtime.conditions import Recorder
from rocketmq_operator.controllers.runtime.control import ObjectControl, StatusWriter
from rocketmq_operator.controllers.runtime.opening import Opened
from rocketmq_operator.controllers.runtime.refs import client_name_servers, name_service_key
from rocketmq_operator.controllers.runtime.workload import (
    Built,
    Readiness,
    WorkloadReconciler,
    counted,
    ready_replicas,
)
from rocketmq_operator.informers import Lister
from rocketmq_operator.resources.console import console_objects


def console_name_service_key(console: dict[str, Any]) -> str | None:
    return name_service_key(console, implicit=True)


def name_server_address(console: dict[str, Any], name_services: Lister) -> tuple[str, str | None]:
    """The address to inject, or an explanation of why there is none."""
    return client_name_servers(console, name_services)


class ConsoleReconciler(WorkloadReconciler):
    workload_kind = "Deployment"

    def __init__(self, *, lister: Lister, name_services: Lister, controls: dict[str, ObjectControl],
                 status: StatusWriter, recorder: Recorder, clock: Clock = REAL_CLOCK) -> None:
        super().__init__(lister=lister, controls=controls, status=status, recorder=recorder, clock=clock)
        self._name_services = name_services

    def build(self, obj: dict[str, Any]) -> Built:
        address, problem = name_server_address(obj, self._name_services)
        if problem:
            return Built(address, refused=("NameServersUnknown", problem))
        return Built(address, console_objects(obj, name_server_address=address))

    def readiness(self, opened: Opened, built: Built, workload: dict[str, Any] | None,
                  seen: Any) -> Readiness:
        ready, wanted = ready_replicas(workload), int(((workload or {}).get("spec") or {}).get("replicas", 1))
        ok = ready >= wanted
        return Readiness(ok, "ConsoleAvailable" if ok else "Progressing",
                         counted(ready, wanted, "console pods"))

    def status_fields(self, opened: Opened, built: Built, workload: dict[str, Any] | None,
                      seen: Any) -> dict[str, Any]:
        return {"readyReplicas": ready_replicas(workload), "nameServers": built.model}
