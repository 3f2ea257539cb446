"""The Console reconciler: the RocketMQ dashboard Deployment with the name-server address injected.

The workload shape (runtime/workload): paused → a Paused condition only; the name-server address is
``spec.nameServers``, else the namespace's only NameService through the resolver the broker doors use (the
NameService is watched, so when it scales the address in the Deployment follows), and without one the spec is
refused; apply the Deployment and its Service; Ready once the Deployment's pods are.
"""

from __future__ import annotations

from typing import Any

from rocketmq_operator.controllers.runtime.opening import Opened
from rocketmq_operator.controllers.runtime.refs import name_service_key
from rocketmq_operator.controllers.runtime.workload import (
    Built,
    NameServiceClientReconciler,
    Readiness,
    counted,
    ready_replicas,
)
from rocketmq_operator.resources.console import console_objects


def console_name_service_key(console: dict[str, Any]) -> str | None:
    return name_service_key(console, implicit=True)


class ConsoleReconciler(NameServiceClientReconciler):
    def build(self, obj: dict[str, Any]) -> Built:
        address, problem = self.name_servers(obj)
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
