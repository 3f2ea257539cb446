"""The roll planner: which broker restarts next, and what must hold first. Pure: facts in, a plan out.

A change to the pod template (image, resources, broker.conf) is rolled one broker at a time across the
whole cluster — the slaves of every group first, then the masters group by group — never one per group
at once. The StatefulSet controller still replaces the pods: the plan sets each group's
``rollingUpdate.partition`` so that exactly the next pod falls above it (``kubectl rollout status``
keeps working). Before the next pod is released:

- every broker pod of the cluster is Ready and, when RocketMQ is observed, registered;
- for a master with slaves: its slaves are within ``max_lag_bytes`` of it, its write permission is
  wiped on the name servers (the fence is recorded in status first, so an operator restart resumes;
  then the wipe is done — it is idempotent — and its time recorded), and producers have had time to
  move: its put TPS is near zero or ``drain_seconds`` have passed since the wipe;
- after the master is back, registered and Ready, its write permission is restored, then the fence is
  cleared from status.

With emptyDir stores a static master (member 0, or any allMaster pod) is never restarted: it would come back
empty, and its slaves, restarted first, re-replicate from it. The roll stops there with ``refused`` (the
slaves are rolled; they copy their store back from the master). CONTROLLER-mode groups hand mastership to an
in-sync slave first, so the restarted pod is a slave that copies its store back. DLEDGER members rejoin their
Raft group and copy the log back.

In allMaster mode every pod is a master of its own broker name with no slave: each is fenced and drained of
producers as above (there is no lag to wait for) before it restarts, one at a time.

In CONTROLLER mode (RocketMQ 5 controllers elect the masters) the master is the pod RocketMQ names, not
member 0, and no write permission is wiped: the slaves restart first; before the master restarts, the plan
asks the controller to elect an updated, Ready, in-sync slave (``elect``: an admin-designated election, which
moves writes in well under a second), and the old master restarts as a slave once the controller's view
shows the switch. The StatefulSet releases the highest ordinals first, so when the master is not member 0
its turn may come before its slaves'; the heir is then a slave not yet updated, which hands over once
more at its own turn. Without the controller's view of a group, nothing in it restarts.

A roll that cannot proceed says what it waits for; nothing is forced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

DEFAULT_MAX_LAG_BYTES = 1024 * 1024
DEFAULT_DRAIN_SECONDS = 15.0
QUIET_TPS = 1.0


@dataclass(frozen=True)
class PodState:
    name: str
    group: int
    ordinal: int
    updated: bool  # on the StatefulSet's update revision
    ready: bool
    registered: bool | None = None  # None: RocketMQ not observed
    lag_bytes: int | None = None
    put_tps: float | None = None
    master: bool | None = None  # CONTROLLER mode: RocketMQ's controller names it master (None: not known)
    broker_id: int | None = None  # CONTROLLER mode: the id the controller gave it
    in_sync: bool = False  # CONTROLLER mode: in its group's sync-state set and alive
    broker_name: str = ""  # its RocketMQ brokerName (resources.identity): what a fence wipes


@dataclass(frozen=True)
class GroupState:
    group: int
    broker_name: str
    replicas: int
    pending: bool  # the template differs from what (some of) the pods run
    settled: bool  # the StatefulSet controller has seen the latest spec
    partition: int = 0  # the partition the StatefulSet has now
    new_template: bool = False  # this sync writes a new template (no pod runs it yet)
    brokers: tuple[str, ...] = ()  # its broker names (allMaster: one per member); () means (broker_name,)


@dataclass(frozen=True)
class RollParams:
    max_lag_bytes: int = DEFAULT_MAX_LAG_BYTES
    drain_seconds: float = DEFAULT_DRAIN_SECONDS
    observed: bool = True  # RocketMQ facts are available (registration, lag, fencing)
    # masters are elected by RocketMQ controllers (hand over instead of fencing)
    controller_mode: bool = False
    all_master: bool = False  # every pod is a master of its own broker name (no slaves to wait for)
    ephemeral: bool = False  # the store is an emptyDir: a restarted static master comes back empty


@dataclass(frozen=True)
class RollPlan:
    partitions: Mapping[int, int]
    roll: Mapping[str, Any]  # status.roll to persist: {} when no roll is in flight
    wipe: str | None = None  # broker name whose write permission to wipe now
    restore: str | None = None  # broker name whose write permission to restore now
    waiting: str | None = None  # what the roll waits for (a condition message)
    next_pod: str | None = None
    elect: tuple[str, int] | None = None  # CONTROLLER mode: (broker name, broker id) to make master now
    refused: str | None = None  # the roll stops here for good (until the spec changes): why
    done: bool = False
    notes: tuple[str, ...] = field(default=())


def plan(groups: Sequence[GroupState], pods: Sequence[PodState], roll: Mapping[str, Any], *, now: float,
         params: RollParams) -> RollPlan:
    """The next step of the cluster's roll (see the module docstring)."""
    by_group = {g.group: [p for p in pods if p.group == g.group] for g in groups}
    fenced = roll.get("fenced")
    if not all(g.settled for g in groups):
        return _unsettled(groups, by_group, roll)
    if not any(g.pending for g in groups):
        if fenced:
            return RollPlan(partitions={g.group: 0 for g in groups}, roll=dict(roll), restore=fenced,
                            waiting=f"restoring write permission of {fenced}")
        return RollPlan(partitions={g.group: 0 for g in groups}, roll={}, done=True)
    partitions = {g.group: _held(g, by_group[g.group]) for g in groups}
    if fenced and _master_back(fenced, groups, pods, params):
        return RollPlan(partitions=partitions, roll=dict(roll), restore=fenced,
                        waiting=f"restoring write permission of {fenced}")
    moving = _in_flight(groups, by_group)
    if moving:
        return RollPlan(partitions=partitions, roll=dict(roll),
                        waiting=f"waiting for {', '.join(moving)} to restart")
    blocker = _unhealthy(pods, groups, params)
    if blocker:
        return RollPlan(partitions=partitions, roll=dict(roll), waiting=blocker)
    candidate = _next(groups, by_group, params)
    if candidate is None:  # every pod is updated; the StatefulSet revisions catch up
        return RollPlan(partitions=partitions, roll=dict(roll),
                        waiting="waiting for the StatefulSet to settle")
    group = next(g for g in groups if g.group == candidate.group)
    if params.ephemeral and _is_master(candidate, params) and not params.controller_mode:
        why = (f"not restarting master {candidate.name}: its store is an emptyDir, so it would come back "
               f"without its messages, topics and consumer offsets; set storageMode StorageClass with "
               f"volumeClaimTemplates to keep them")
        return RollPlan(partitions=partitions, roll=dict(roll), waiting=why, refused=why)
    if params.controller_mode and group.replicas > 1 and params.observed:
        gate = _handover_gate(candidate, group, by_group[group.group], roll)
        if gate is not None:
            return replace(gate, partitions=partitions)
    elif params.all_master and params.observed:
        gate = _fence_gate(candidate, roll, now=now, params=params)
        if gate is not None:
            return replace(gate, partitions=partitions)
    elif candidate.ordinal == 0 and group.replicas > 1 and params.observed:
        gate = _master_gate(candidate, group, by_group[group.group], roll, now=now, params=params)
        if gate is not None:
            return replace(gate, partitions=partitions)
    return RollPlan(partitions={**partitions, candidate.group: candidate.ordinal},
                    roll=_rolling(roll, candidate), next_pod=candidate.name,
                    waiting=f"restarting {candidate.name}")


def _unsettled(groups: Sequence[GroupState], by_group: Mapping[int, list[PodState]],
               roll: Mapping[str, Any]) -> RollPlan:
    """The plan while the StatefulSet controller has not seen the latest spec of some group. Such a group's
    status still names the update revision of the spec before: right after a template change, the pods still
    on the old template look updated, the replacement of a released pod looks old, and the group may look as
    if nothing were pending. Its partition stays as written (nothing moves, nothing is finished or restored)
    until the controller reports on it; a group that gets a new template now holds every pod, as ever."""
    partitions = {g.group: _held(g, by_group[g.group]) if g.settled or g.new_template else g.partition
                  for g in groups}
    waiting = "waiting for the StatefulSet controller" if roll or any(g.pending for g in groups) else None
    return RollPlan(partitions=partitions, roll=dict(roll), waiting=waiting)


def _released(group: GroupState, ordinal: int) -> bool:
    """At or above the partition already written: the StatefulSet controller replaces it (or has)."""
    return not group.new_template and ordinal >= group.partition


def _held(group: GroupState, pods: list[PodState]) -> int:
    """The partition that keeps every pod where it is: the start of the group's updated suffix. A pod
    already released (at or above the current partition) counts as updated: raising the partition over
    it would have the StatefulSet controller put it back on the old revision."""
    partition = group.replicas
    for ordinal in range(group.replicas - 1, -1, -1):
        pod = next((p for p in pods if p.ordinal == ordinal), None)
        if not _released(group, ordinal) and (pod is None or not pod.updated):
            break
        partition = ordinal
    return partition


def _in_flight(groups: Sequence[GroupState], by_group: Mapping[int, list[PodState]]) -> list[str]:
    """Released pods that do not run the update revision yet: being replaced now."""
    return [p.name for g in groups for p in by_group[g.group]
            if g.pending and _released(g, p.ordinal) and not p.updated]


def _unhealthy(pods: Sequence[PodState], groups: Sequence[GroupState], params: RollParams) -> str | None:
    expected = sum(g.replicas for g in groups)
    if len(pods) < expected:
        return f"waiting for {expected - len(pods)} broker pod(s) to exist"
    not_ready = [p.name for p in pods if not p.ready]
    if not_ready:
        return f"waiting for {', '.join(not_ready)} to be Ready"
    if params.observed:
        unregistered = [p.name for p in pods if not p.registered]
        if unregistered:
            return f"waiting for {', '.join(unregistered)} to be registered on the name servers"
    return None


def _is_master(pod: PodState, params: RollParams) -> bool:
    if params.controller_mode and pod.master is not None:
        return pod.master
    return pod.ordinal == 0 or params.all_master


def _next(groups: Sequence[GroupState], by_group: Mapping[int, list[PodState]],
          params: RollParams) -> PodState | None:
    """Slaves of every group first, then masters group by group. Within a group the StatefulSet's partition
    releases the highest ordinals first, so each group offers its highest pod not yet updated."""
    offers = [max((p for p in by_group[g.group] if not p.updated), key=lambda p: p.ordinal, default=None)
              for g in groups if g.pending]
    candidates = [p for p in offers if p is not None]
    if not candidates:
        return None
    return min(candidates, key=lambda p: (_is_master(p, params), p.group, -p.ordinal))


def _handover_gate(candidate: PodState, group: GroupState, pods: list[PodState],
                   roll: Mapping[str, Any]) -> RollPlan | None:
    """None when ``candidate`` may restart now (a slave, as the controller sees it); else the plan that waits
    for the controller's view or hands the master's role to an updated, Ready, in-sync slave."""
    if any(p.master is None for p in pods):
        return RollPlan(partitions={}, roll=dict(roll),
                        waiting=f"waiting for the controller's view of {group.broker_name} before restarting "
                                f"{candidate.name}")
    if not candidate.master:
        return None
    heirs = [p for p in pods if p is not candidate and p.in_sync and p.ready and p.broker_id is not None]
    if not heirs:
        return RollPlan(partitions={}, roll=dict(roll),
                        waiting=f"waiting for an in-sync slave of {group.broker_name} to take over from "
                                f"master {candidate.name}")
    heir = min(heirs, key=lambda p: (not p.updated, p.ordinal))  # an updated heir needs no second handover
    return RollPlan(partitions={}, roll=dict(roll), elect=(group.broker_name, int(heir.broker_id or 0)),
                    waiting=f"handing mastership of {group.broker_name} from {candidate.name} to {heir.name}")


def _master_gate(master: PodState, group: GroupState, pods: list[PodState], roll: Mapping[str, Any], *,
                 now: float, params: RollParams) -> RollPlan | None:
    """None when the master may restart now; else the plan that brings it closer (sync, fence, drain)."""
    behind = [p.name for p in pods
              if p.ordinal > 0 and (p.lag_bytes is None or p.lag_bytes > params.max_lag_bytes)]
    if behind:
        return RollPlan(partitions={}, roll=dict(roll),
                        waiting=f"waiting for {', '.join(behind)} to catch up with {master.name} "
                                f"(lag over {params.max_lag_bytes} bytes) before the master restarts")
    return _fence_gate(master, roll, now=now, params=params)


def _fence_gate(master: PodState, roll: Mapping[str, Any], *, now: float,
                params: RollParams) -> RollPlan | None:
    """None once ``master``'s broker name is fenced and its producers have left; else the step towards it. An
    allMaster pod has no slaves, so this is its whole gate."""
    broker = master.broker_name
    if roll.get("fenced") != broker:  # recorded before it is done: a restart resumes it
        fence = {**roll, "fenced": broker}
        return RollPlan(partitions={}, roll=fence, waiting=f"wiping write permission of {broker}")
    if "wipedAt" not in roll:  # the executor records wipedAt once the name servers confirm
        return RollPlan(partitions={}, roll=dict(roll), wipe=broker,
                        waiting=f"wiping write permission of {broker}")
    waited = now - float(roll["wipedAt"])
    quiet = master.put_tps is not None and master.put_tps < QUIET_TPS
    if not quiet and waited < params.drain_seconds:
        return RollPlan(partitions={}, roll=dict(roll), wipe=broker,
                        waiting=f"waiting for producers to leave {broker} "
                                f"({waited:.0f}/{params.drain_seconds:.0f} s)")
    return None


def _master_back(broker_name: str, groups: Sequence[GroupState], pods: Sequence[PodState],
                 params: RollParams) -> bool:
    """The fenced broker's master is updated, Ready and registered again (or its group is gone: nothing left
    to fence)."""
    group = next((g for g in groups if broker_name in (g.brokers or (g.broker_name,))), None)
    if group is None:
        return True
    master = next((p for p in pods if p.group == group.group and p.broker_name == broker_name
                   and _is_master(p, params)), None)
    return bool(master and master.updated and master.ready and (master.registered or not params.observed))


def _rolling(roll: Mapping[str, Any], pod: PodState) -> dict[str, Any]:
    return {**roll, "pod": pod.name}
