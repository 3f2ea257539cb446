"""The Proxy reconciler: RocketMQ 5 proxies (cluster mode) as a Deployment behind a Service.

The workload shape (runtime/workload): paused → a Paused condition only; the name servers are
``spec.nameServers``, else ``spec.nameServiceRef``, else the namespace's only NameService — watched, so a
resize reaches the proxies by a rolling update, one pod at a time; a spec with problems (or no name servers) →
condition and Warning event, no change; apply the Service, the Deployment and the budget; Ready once every
proxy runs the latest spec.
"""

from __future__ import annotations

from typing import Any

from rocketmq_operator.controllers.runtime.opening import Opened
from rocketmq_operator.controllers.runtime.workload import (
    Built,
    NameServiceClientReconciler,
    Readiness,
    counted,
    ready_replicas,
)
from rocketmq_operator.resources.proxy import from_proxy, proxy_objects


class ProxyReconciler(NameServiceClientReconciler):
    def build(self, obj: dict[str, Any]) -> Built:
        address, unknown = self.name_servers(obj)
        model = from_proxy(obj, name_server_address=address)
        if unknown:
            return Built(model, refused=("NameServersUnknown", unknown))
        if model.problems:
            return Built(model, refused=("InvalidSpec", "; ".join(str(p) for p in model.problems)))
        return Built(model, proxy_objects(model), tuple(model.notes))

    def readiness(self, opened: Opened, built: Built, workload: dict[str, Any] | None,
                  seen: Any) -> Readiness:
        size, ready = built.model.size, ready_replicas(workload)
        ok = ready >= size and _rolled_out(workload, size)
        return Readiness(ok, "AllProxiesReady" if ok else "Progressing", counted(ready, size, "proxies"))

    def status_fields(self, opened: Opened, built: Built, workload: dict[str, Any] | None,
                      seen: Any) -> dict[str, Any]:
        status = (workload or {}).get("status") or {}
        return {"size": built.model.size, "readyReplicas": ready_replicas(workload),
                "updatedReplicas": int(status.get("updatedReplicas") or 0),
                "nameServers": built.model.name_server_address}


def _rolled_out(deployment: dict[str, Any] | None, size: int) -> bool:
    """The Deployment controller saw the latest spec and every pod runs it (no old pod left)."""
    if not deployment:
        return False
    status = deployment.get("status") or {}
    return (status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
            and int(status.get("updatedReplicas") or 0) == size and int(status.get("replicas") or 0) == size)
