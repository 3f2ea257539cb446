"""The one reconciler shape the workload kinds share (NameService, Console, Proxy, Controller).

``sync(key)``: open the parent (gone or paused: nothing else, see opening); build what the spec asks for (a
spec it cannot serve is refused: Ready=False naming why, one Warning, no object touched); say Overridden for
what the model applied differently; apply the objects; then Ready, one way for every kind — a blocked write
first, then pods the StatefulSet controller cannot create (a Warning when that is news), then what the kind
says of its workload; status last, written only when it differs. A kind fills in
:meth:`WorkloadReconciler.build`, :meth:`~WorkloadReconciler.readiness` and
:meth:`~WorkloadReconciler.status_fields`, and may look at more (``observe``) or ask to be looked at again
(``result``).

Nothing of one sync is kept on the reconciler: what a sync learns travels in its arguments (workers run
syncs of different objects at once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.controllers.runtime.common import pods_not_created
from rocketmq_operator.controllers.runtime.conditions import READY, Recorder, warn_when_new
from rocketmq_operator.controllers.runtime.control import ApplyReport, ObjectControl, StatusWriter, apply_all
from rocketmq_operator.controllers.runtime.opening import Opened, mark_overridden, open_parent, refuse
from rocketmq_operator.controllers.runtime.refs import client_name_servers
from rocketmq_operator.controllers.runtime.runner import Key, Result
from rocketmq_operator.informers import Lister


@dataclass(frozen=True)
class Built:
    """What one sync builds from the spec: the objects to apply, or why the spec cannot be served."""

    model: Any = None
    objects: list[dict[str, Any]] = field(default_factory=list)
    notes: tuple[Any, ...] = ()  # what the model applied differently from the spec (the Overridden condition)
    refused: tuple[str, str] | None = None  # (reason, message): nothing is applied


@dataclass(frozen=True)
class Readiness:
    """What the kind says of its workload: Ready or not, with the reason and message that say why."""

    ok: bool
    reason: str
    message: str


def counted(ready: int, size: int, noun: str) -> str:
    return f"{ready}/{size} {noun} ready"


def ready_replicas(workload: dict[str, Any] | None) -> int:
    return int(((workload or {}).get("status") or {}).get("readyReplicas") or 0)


class WorkloadReconciler:
    workload_kind = "StatefulSet"  # the applied object whose status says how far the pods are

    def __init__(self, *, lister: Lister, controls: dict[str, ObjectControl], status: StatusWriter,
                 recorder: Recorder, clock: Clock = REAL_CLOCK, failed_creates: Lister | None = None) -> None:
        self._lister = lister
        self._controls = controls
        self._status = status
        self._recorder = recorder
        self._clock = clock
        self._failed_creates = failed_creates

    # -- what a kind fills in ----------------------------------------------------------------------------

    def build(self, obj: dict[str, Any]) -> Built:
        raise NotImplementedError

    def readiness(self, opened: Opened, built: Built, workload: dict[str, Any] | None,
                  seen: Any) -> Readiness:
        raise NotImplementedError

    def status_fields(self, opened: Opened, built: Built, workload: dict[str, Any] | None,
                      seen: Any) -> dict[str, Any]:
        raise NotImplementedError

    def observe(self, key: Key, built: Built) -> Any:
        """What the kind reads beyond Kubernetes for this sync (passed to readiness and status_fields)."""
        return None

    def gone(self, key: Key) -> None:
        """The parent was deleted."""

    def result(self, result: Result | None, seen: Any) -> Result | None:
        return result

    # -- the shape ---------------------------------------------------------------------------------------

    def sync(self, key: Key) -> Result | None:
        opened = open_parent(self._lister, key, clock=self._clock, status=self._status,
                             gone=lambda: self.gone(key))
        if opened is None:
            return None
        built = self.build(opened.obj)
        if built.refused is not None:
            reason, message = built.refused
            refuse(opened, reason=reason, message=message, recorder=self._recorder, status=self._status)
            return None
        mark_overridden(opened, self._recorder, built.notes)
        applied = apply_all(opened.obj, built.objects, self._controls, self._recorder)
        workload = applied.first(self.workload_kind)
        seen = self.observe(key, built)
        self._say_ready(opened, applied, workload, self.readiness(opened, built, workload, seen))
        self._status.write(opened.obj, {"observedGeneration": opened.conds.generation,
                                        **self.status_fields(opened, built, workload, seen),
                                        "conditions": opened.conds.items})
        return self.result(applied.result(), seen)

    def _say_ready(self, opened: Opened, applied: ApplyReport, workload: dict[str, Any] | None,
                   readiness: Readiness) -> None:
        conds = opened.conds
        if conds.mark_blocked(denied=applied.denied, invalid=applied.invalid, conflicts=applied.conflicts):
            return
        not_created = (pods_not_created(workload, self._failed_creates) if self._failed_creates is not None
                       else None)
        if not_created:
            warn_when_new(self._recorder, opened.obj, conds.get(READY), reason="FailedCreate",
                          message=not_created)
            conds.ready(False, reason="FailedCreate", message=not_created)
            return
        conds.ready(readiness.ok, reason=readiness.reason, message=readiness.message)


class NameServiceClientReconciler(WorkloadReconciler):
    """A workload that is a client of name servers (Console, Proxy): a Deployment, its name servers taken from
    ``spec.nameServers``, else ``spec.nameServiceRef``, else the namespace's only NameService."""

    workload_kind = "Deployment"

    def __init__(self, *, lister: Lister, name_services: Lister, controls: dict[str, ObjectControl],
                 status: StatusWriter, recorder: Recorder, clock: Clock = REAL_CLOCK) -> None:
        super().__init__(lister=lister, controls=controls, status=status, recorder=recorder, clock=clock)
        self._name_services = name_services

    def name_servers(self, obj: dict[str, Any]) -> tuple[str, str | None]:
        """The ``namesrvAddr`` to give the workload, or ``("", why there is none)``."""
        return client_name_servers(obj, self._name_services)
