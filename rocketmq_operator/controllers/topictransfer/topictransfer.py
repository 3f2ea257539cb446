"""The TopicTransfer reconciler: executes the transfer planner's actions, one per sync.

``sync(key)``: read the TopicTransfer from the lister; a finished transfer (Done, RolledBack) is never
acted on again and costs no RocketMQ call. Otherwise resolve both clusters, read the facts from RocketMQ
(every call bounded by the admin client's connect and request timeouts), ask the planner for the next
action, execute it, and write status last through the ``StatusWriter`` — only when it differs, so a
transfer waiting on unchanged facts writes nothing. A step is recorded when the next sync's facts show it
done; every wait is a ``Result(requeue_after=...)``, never a sleep.

RocketMQ that cannot be reached is a ``Ready=False`` condition with reason ``RocketMQUnreachable`` and a
recheck that backs off the longer it lasts. A write RocketMQ refuses before the source is being deleted
fails the transfer (Warning event) and the planner rolls it back; after that it is retried.

The finalizer ``rocketmq.apache.org/topictransfer-rollback`` (:data:`FINALIZER`) keeps a deleted transfer
until what it changed in RocketMQ is undone. It is added, and seen back in the cache, before the first sync
that reads or changes RocketMQ (record first, act next sync); a finished transfer gets none. On delete
(``transferplan.on_delete``): a transfer before Deleting fails with reason ``TransferDeleted`` and rolls back
as any failed one; the finalizer goes only once the planner, on facts read back from RocketMQ, records
RolledBack (or Done, for one deleted while Deleting, which has nothing left to undo) — or at once when there
is nothing to undo (Pending, Done, RolledBack). While the rollback cannot go on (RocketMQ unreachable, a
refusal, an expected master not registered) the ``RollbackPending`` condition says what it waits for, a
Warning event says so once per cause, and the sync is retried with backoff.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.controllers.plans import transferplan as tp
from rocketmq_operator.controllers.runtime.common import is_paused
from rocketmq_operator.controllers.runtime.conditions import (
    READY,
    TRUE,
    ConditionSet,
    Recorder,
    get_condition,
    rfc3339,
    warn_when_new,
)
from rocketmq_operator.controllers.runtime.control import StatusWriter
from rocketmq_operator.controllers.runtime.finalizers import FinalizerWriter, is_deleted
from rocketmq_operator.controllers.runtime.runner import Key, Result
from rocketmq_operator.controllers.topictransfer.transferfacts import (
    AdminFor,
    ClusterListers,
    ClusterProblem,
    Endpoint,
    candidates,
    group_configs,
    read_facts,
    resolve,
)
from rocketmq_operator.events import NORMAL, WARNING
from rocketmq_operator.informers import Lister
from rocketmq_operator.kube import NotFound
from rocketmq_operator.rocketmq import AdminClient, RemotingError, ResponseError, TopicConfig

UNREACHABLE = "RocketMQUnreachable"
SPEC_IGNORED = "SpecChangeIgnored"
ROLLBACK_PENDING = "RollbackPending"
FINALIZER = "rocketmq.apache.org/topictransfer-rollback"
CONNECT_TIMEOUT, REQUEST_TIMEOUT = 3.0, 5.0
WRITE_RECHECK = 1.0  # seconds before a write is read back
MIN_BACKOFF, MAX_BACKOFF = 5.0, 60.0
SYSTEM_BUSY = 2


def default_admin_for(name_servers: tuple[str, ...]) -> AdminClient:
    return AdminClient(name_servers, connect_timeout=CONNECT_TIMEOUT, request_timeout=REQUEST_TIMEOUT)


class _Admins:
    """One admin client per name-server list for the length of a sync, closed at its end."""

    def __init__(self, make: AdminFor, stack: contextlib.ExitStack) -> None:
        self._make = make
        self._stack = stack
        self._open: dict[tuple[str, ...], AdminClient] = {}

    def __call__(self, name_servers: tuple[str, ...]) -> AdminClient:
        if name_servers not in self._open:
            self._open[name_servers] = self._stack.enter_context(self._make(name_servers))
        return self._open[name_servers]


class TopicTransferReconciler:
    def __init__(self, *, lister: Lister, clusters: ClusterListers, status: StatusWriter,
                 finalizer: FinalizerWriter, recorder: Recorder, clock: Clock = REAL_CLOCK,
                 admin_for: AdminFor = default_admin_for) -> None:
        self._lister = lister
        self._clusters = clusters
        self._status = status
        self._finalizer = finalizer
        self._recorder = recorder
        self._clock = clock
        self._admin_for = admin_for

    def sync(self, key: Key) -> Result | None:
        try:
            obj = self._lister.get(key.namespace, key.name)
        except NotFound:
            return None
        spec, progress = tp.Spec.from_obj(obj), tp.Progress.from_status(obj.get("status"))
        conds = ConditionSet(obj, now=rfc3339(self._clock.wall()))
        generation = conds.generation
        if conds.mark_paused(is_paused(obj)):  # nothing changes in RocketMQ while paused
            self._write(obj, conds, {})
            return None
        if is_deleted(obj):
            return self._deleted(obj, conds, spec, progress) if self._finalizer.holds(obj) else None
        if progress.phase in tp.TERMINAL:
            self._finished(obj, conds, tp.plan(spec=spec, progress=progress, facts=None, now=0,
                                               generation=generation))
            return None
        if not self._finalizer.holds(obj):  # recorded before anything changes in RocketMQ; acted on next sync
            self._finalizer.add(obj)
            return Result(requeue_after=WRITE_RECHECK)
        return self._step(obj, conds, spec, progress)

    def _step(self, obj: dict[str, Any], conds: ConditionSet, spec: tp.Spec,
              progress: tp.Progress) -> Result | None:
        """Read RocketMQ, plan, execute: one action."""
        with self._admins() as admins:
            try:
                source, target = self._endpoints(obj, spec, admins)
                now = self._clock.wall()
                facts = read_facts(spec=spec, progress=progress, source=source, target=target,
                                   admin_for=admins, now=now)
                action = tp.plan(spec=spec, progress=progress, facts=facts, now=now,
                                 generation=conds.generation)
                return self._execute(obj, conds, action, spec=spec, progress=progress, source=source,
                                     target=target, admins=admins)
            except ClusterProblem as problem:
                return self._waiting(obj, conds, problem.reason, problem.message, tp.IDLE_RECHECK)
            except ResponseError as error:
                return self._refused(obj, conds, progress, error)
            except RemotingError as error:
                return self._unreachable(obj, conds, error)

    def _deleted(self, obj: dict[str, Any], conds: ConditionSet, spec: tp.Spec,
                 progress: tp.Progress) -> Result | None:
        """A deleted transfer that holds the finalizer: let it go, fail into the rollback, or go on."""
        first = tp.on_delete(progress)
        if isinstance(first, tp.Release):
            if self._finalizer.remove(obj):
                self._recorder.event(obj, NORMAL, "FinalizerRemoved",
                                     f"{first.message}; removed finalizer {FINALIZER}")
            return None
        if isinstance(first, tp.Fail):
            return self._fail(obj, conds, progress, first.reason, first.message)
        return self._step(obj, conds, spec, progress)

    # -- the steps of a sync -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _admins(self) -> Iterator[_Admins]:
        with contextlib.ExitStack() as stack:
            yield _Admins(self._admin_for, stack)

    def _endpoints(self, obj: dict[str, Any], spec: tp.Spec, admins: _Admins) -> tuple[Endpoint, Endpoint]:
        namespace = obj["metadata"]["namespace"]
        found = []
        for role, name in (("source", spec.source), ("target", spec.target)):
            try:
                found.append(resolve(name, candidates(name, namespace, self._clusters), admins))
            except ClusterProblem as problem:
                raise ClusterProblem(problem.reason, f"{role} {problem.message}") from None
        return found[0], found[1]

    def _execute(self, obj: dict[str, Any], conds: ConditionSet, action: tp.Action, *, spec: tp.Spec,
                 progress: tp.Progress, source: Endpoint, target: Endpoint, admins: _Admins) -> Result | None:
        ends = {"source": source.to_status(), "target": target.to_status()}
        if isinstance(action, tp.Advance):
            return self._advance(obj, conds, action, ends)
        if isinstance(action, tp.Fail):
            return self._fail(obj, conds, progress, action.reason, action.message)
        if isinstance(action, tp.Wait):
            return self._waiting(obj, conds, action.reason, action.message, action.after,
                                 {**ends, **action.updates})
        if isinstance(action, tp.Idle):
            self._finished(obj, conds, action)
            return None
        side = source if action.side == "source" else target
        _WRITERS[type(action)](admins(side.name_servers), side, action, spec=spec, source=source,
                               admins=admins)
        conds.remove(ROLLBACK_PENDING)
        conds.ready(False, reason=progress.phase, message=action.message)
        self._write(obj, conds, {**ends, "phase": progress.phase})
        return Result(requeue_after=WRITE_RECHECK)

    def _advance(self, obj: dict[str, Any], conds: ConditionSet, action: tp.Advance,
                 ends: dict[str, Any]) -> Result | None:
        old = obj.get("status") or {}
        steps = list(old.get("steps") or ())
        now = rfc3339(self._clock.wall())
        if action.step and action.step not in (s["name"] for s in steps):
            steps.append({"name": action.step, "completedAt": now})
            conds.set(action.step, TRUE, reason=action.step, message=action.message)
        if action.phase == tp.DONE:
            conds.ready(True, reason=tp.DONE, message=action.message)
        elif action.phase == tp.ROLLED_BACK:
            conds.ready(False, reason=tp.ROLLED_BACK, message=action.message)
        else:
            conds.ready(False, reason=action.phase, message=action.message)
        conds.remove(UNREACHABLE)
        updates = {**ends, **action.updates, "phase": action.phase, "steps": steps}
        conds.remove(ROLLBACK_PENDING)
        if self._write(obj, conds, updates):
            kind = WARNING if action.phase == tp.ROLLED_BACK else NORMAL
            self._recorder.event(obj, kind, action.step or action.phase, action.message)
        if action.phase in tp.TERMINAL and not is_deleted(obj):
            return None
        return Result(requeue_after=WRITE_RECHECK)  # a deleted transfer lets its finalizer go next sync

    def _fail(self, obj: dict[str, Any], conds: ConditionSet, progress: tp.Progress, reason: str,
              message: str) -> Result:
        conds.ready(False, reason=reason, message=f"{message}; rolling back")
        if self._write(obj, conds, {"phase": tp.FAILED, "failedIn": progress.phase}):
            self._recorder.event(obj, WARNING, reason, f"{message}; rolling back")
        return Result(requeue_after=WRITE_RECHECK)

    def _refused(self, obj: dict[str, Any], conds: ConditionSet, progress: tp.Progress,
                 error: ResponseError) -> Result:
        if error.code != SYSTEM_BUSY and tp.on_error(progress.phase) == tp.FAILED:
            return self._fail(obj, conds, progress, "StepFailed", f"RocketMQ refused a step: {error}")
        return self._waiting(obj, conds, "StepRefused", f"RocketMQ refused a step, retrying: {error}",
                             self._backoff(conds, "StepRefused"))

    def _unreachable(self, obj: dict[str, Any], conds: ConditionSet, error: RemotingError) -> Result:
        message = f"cannot reach RocketMQ: {error}"
        conds.set(UNREACHABLE, TRUE, reason="RemotingError", message=message)
        return self._waiting(obj, conds, UNREACHABLE, message, self._backoff(conds, UNREACHABLE))

    def _waiting(self, obj: dict[str, Any], conds: ConditionSet, reason: str, message: str, after: float,
                 updates: dict[str, Any] | None = None) -> Result:
        if reason != UNREACHABLE:
            conds.remove(UNREACHABLE)
        conds.ready(False, reason=reason, message=message)
        if is_deleted(obj):
            self._rollback_pending(obj, conds, reason, message)
        self._write(obj, conds, updates or {})
        return Result(requeue_after=after)

    def _rollback_pending(self, obj: dict[str, Any], conds: ConditionSet, reason: str, message: str) -> None:
        """Says why a deleted transfer keeps its finalizer: a condition, and a Warning when the cause is
        new."""
        text = (f"the TopicTransfer is deleted; finalizer {FINALIZER} stays until the rollback is done: "
                f"{message}")
        warn_when_new(self._recorder, obj, get_condition(obj, ROLLBACK_PENDING), reason=ROLLBACK_PENDING,
                      message=text, said="", said_reason=reason)
        conds.set(ROLLBACK_PENDING, TRUE, reason=reason, message=text)

    def _finished(self, obj: dict[str, Any], conds: ConditionSet, action: tp.Action) -> None:
        if isinstance(action, tp.Idle) and action.reason == SPEC_IGNORED:
            warn_when_new(self._recorder, obj, conds.get(SPEC_IGNORED), reason=SPEC_IGNORED,
                          message=action.message)
            conds.set(SPEC_IGNORED, TRUE, reason=SPEC_IGNORED, message=action.message)
            self._write(obj, conds, {})

    # -- helpers -----------------------------------------------------------------------------------------

    def _write(self, obj: dict[str, Any], conds: ConditionSet, updates: dict[str, Any]) -> bool:
        old = obj.get("status") or {}
        status = {**old, "phase": old.get("phase") or tp.PENDING, **updates, "conditions": conds.items,
                  "observedGeneration": conds.generation}
        return self._status.write(obj, status)

    def _backoff(self, conds: ConditionSet, reason: str) -> float:
        """Longer the longer the same condition lasts: the time since it began, within bounds."""
        ready = next((c for c in conds.items if c.get("type") == READY), {})
        if ready.get("reason") != reason:
            return MIN_BACKOFF
        since = self._clock.wall() - tp.parse_time(ready["lastTransitionTime"])
        return min(max(MIN_BACKOFF, since), MAX_BACKOFF)


# -- the writes, one per kind of action ----------------------------------------------------------------------

def _create_topics(admin: AdminClient, side: Endpoint, action: tp.CreateTopics, **_: Any) -> None:
    q = action.queues
    for addr in side.masters.values():
        for topic in action.topics:
            admin.create_topic(TopicConfig(topic, read_queue_nums=q.read, write_queue_nums=q.write,
                                           perm=q.perm), broker_addr=addr)


def _create_groups(admin: AdminClient, side: Endpoint, action: tp.CreateGroups, *, source: Endpoint,
                   admins: _Admins, **_: Any) -> None:
    configs = group_configs(admins(source.name_servers), source, action.groups)
    for addr in side.masters.values():
        for group in action.groups:
            admin.create_subscription_group(addr, configs[group])


def _set_perm(admin: AdminClient, side: Endpoint, action: tp.SetPerm, *, spec: tp.Spec, **_: Any) -> None:
    """Each broker keeps its own queue counts; only the perm changes."""
    route = {q.broker_name: q for q in admin.topic_route(spec.topic).queues}
    for broker, addr in side.masters.items():
        if broker in route:
            q = route[broker]
            admin.create_topic(TopicConfig(spec.topic, read_queue_nums=q.read_queue_nums,
                                           write_queue_nums=q.write_queue_nums, perm=action.queues.perm),
                               broker_addr=addr)


def _delete_topic(admin: AdminClient, side: Endpoint, action: tp.DeleteTopic, *, spec: tp.Spec,
                  **_: Any) -> None:
    for addr in side.masters.values():
        admin.delete_topic_in_broker(addr, spec.topic)
    admin.delete_topic_in_namesrv(spec.topic, cluster=side.cluster)


def _delete_groups(admin: AdminClient, side: Endpoint, action: tp.DeleteGroups, **_: Any) -> None:
    for addr in side.masters.values():
        for group in action.groups:
            admin.delete_subscription_group(addr, group)


_WRITERS = {tp.CreateTopics: _create_topics, tp.CreateGroups: _create_groups, tp.SetPerm: _set_perm,
            tp.DeleteTopic: _delete_topic, tp.DeleteGroups: _delete_groups}
