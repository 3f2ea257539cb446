"""The Proxy reconciler: RocketMQ 5 proxies (cluster mode) as a Deployment behind a Service.

``sync(key)``: read the Proxy; paused → a Paused condition only; find the name servers (``spec.nameServers``,
else ``spec.nameServiceRef``, else the namespace's only NameService — watched, so a resize reaches the proxies
by a rolling update, one pod at a time); build the model (problems → condition and Warning event, no change);
apply the Service, the Deployment and the budget; write status last, only when it differs.
"""

from __future__ import annotations

from typing import Any

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.controllers.runtime.conditions import FALSE, TRUE
from rocketmq_operator.controllers.runtime.control import ObjectControl, StatusWriter, apply_all
from rocketmq_operator.controllers.runtime.opening import mark_overridden, open_parent, refuse
from rocketmq_operator.controllers.runtime.refs import client_name_servers
from rocketmq_operator.controllers.runtime.runner import Key, Result
from rocketmq_operator.informers import Lister
from rocketmq_operator.resources.proxy import from_proxy, proxy_objects

READY = "Ready"


class ProxyReconciler:
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
        address, unknown = client_name_servers(obj, self._name_services)
        model = from_proxy(obj, name_server_address=address)
        problems = [unknown] if unknown else [str(p) for p in model.problems]
        if problems:
            refuse(opened, reason="NameServersUnknown" if unknown else "InvalidSpec", message="; ".join(problems),
                   recorder=self._recorder, status=self._status)
            return None
        mark_overridden(opened, self._recorder, model.notes)
        applied = apply_all(obj, proxy_objects(model), self._controls, self._recorder)
        deployment = applied.first("Deployment")
        status = (deployment or {}).get("status") or {}
        ready = int(status.get("readyReplicas") or 0)
        message = f"{ready}/{model.size} proxies ready"
        if conds.mark_blocked(denied=applied.denied, invalid=applied.invalid, conflicts=applied.conflicts):
            pass
        elif ready >= model.size and _rolled_out(deployment, model.size):
            conds.set(READY, TRUE, reason="AllProxiesReady", message=message)
        else:
            conds.set(READY, FALSE, reason="Progressing", message=message)
        self._status.write(obj, {"observedGeneration": conds.generation, "size": model.size, "readyReplicas": ready,
                                 "updatedReplicas": int(status.get("updatedReplicas") or 0),
                                 "nameServers": address, "conditions": conds.items})
        return applied.result()


def _rolled_out(deployment: dict[str, Any] | None, size: int) -> bool:
    """The Deployment controller saw the latest spec and every pod runs it (no old pod left)."""
    if not deployment:
        return False
    status = deployment.get("status") or {}
    return (status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
            and int(status.get("updatedReplicas") or 0) == size and int(status.get("replicas") or 0) == size)
