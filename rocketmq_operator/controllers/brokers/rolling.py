"""Carrying out the roll planner's steps for the broker-cluster reconciler.

Three parts, in the order a sync uses them:

- :func:`roll_inputs` reads what the planner needs from the desired objects, the cached StatefulSets and
  pods, and the observer's facts (a pod is *updated* when its ``controller-revision-hash`` is the
  StatefulSet's update revision and the template the operator is about to write is the one that revision
  holds);
- :func:`set_partitions` writes the plan's partitions into the desired StatefulSets before they are
  applied (a cluster that does not allow restarts keeps every pod held);
- :func:`fence` wipes or restores a broker group's write permission on every name server (idempotent,
  bounded by the admin client's timeouts) and returns the ``status.roll`` to record;
  :func:`writes_name_servers` says whether a step needs one (the reconciler holds such a step where it may not
  write, see writegate);
- :func:`handover` (CONTROLLER mode) asks the controllers' leader to make the planned slave master.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rocketmq_operator.controllers.brokers.registration import (
    controller_view,
    facts_by_pod,
    is_registered,
    member_of,
)
from rocketmq_operator.controllers.observe.observer import ClusterFacts
from rocketmq_operator.controllers.plans.rollplan import GroupState, PodState, RollPlan
from rocketmq_operator.controllers.runtime.common import pod_ready
from rocketmq_operator.logs import get_logger
from rocketmq_operator.resources import identity
from rocketmq_operator.resources.diff import ContainsMemo, contains
from rocketmq_operator.resources.model import BrokerClusterModel
from rocketmq_operator.rocketmq import RemotingError
from rocketmq_operator.rocketmq.controlleradmin import elect_master, find_leader

log = get_logger(__name__)
REVISION_LABEL = "controller-revision-hash"


def roll_inputs(model: BrokerClusterModel, desired_sets: Mapping[int, dict[str, Any]],
                current_sets: Mapping[int, dict[str, Any]], pods: Sequence[dict[str, Any]],
                facts: ClusterFacts | None, *,
                memo: ContainsMemo | None = None) -> tuple[list[GroupState], list[PodState]]:
    """``memo``: template comparisons already made, by StatefulSet version (see :class:`ContainsMemo`)."""
    groups, states = [], []
    by_pod = facts_by_pod(facts)
    view = controller_view(model, facts, list(pods)) if model.controller_mode else {}
    layout = model.layout
    for group in range(model.groups):
        current = current_sets.get(group)
        template = desired_sets[group]["spec"]["template"]
        new_template = current is None or not (
            memo.contains(template, current, ("spec", "template")) if memo is not None
            else contains(template, current["spec"].get("template"), path=("spec", "template")))
        status = (current or {}).get("status") or {}
        revision = None if new_template else status.get("updateRevision")
        # A StatefulSet the StatefulSet controller has not reported on yet (no update revision) is new: its
        # pods are on its one revision, nothing to roll (not "waiting for every pod to restart").
        unreported = not new_template and revision is None
        group_pods = [p for p in pods if member_of(p)[0] == group]
        pending = current is not None and (new_template
                                           or (not unreported
                                               and any(_revision(p) != revision for p in group_pods)))
        settled = current is not None and status.get("observedGeneration", 0) >= current["metadata"].get(
            "generation", 0)
        strategy = ((current or {}).get("spec") or {}).get("updateStrategy") or {}
        groups.append(GroupState(group, identity.group_broker_name(layout, group), model.members_per_group,
                                 pending=pending, settled=settled or current is None,
                                 new_template=new_template,
                                 partition=int((strategy.get("rollingUpdate") or {}).get("partition") or 0),
                                 brokers=identity.group_brokers(layout, group)))
        for pod in group_pods:
            fact = by_pod.get(pod["metadata"]["name"])
            seen = view.get(pod["metadata"]["name"], {})
            ordinal = member_of(pod)[1]
            states.append(PodState(
                pod["metadata"]["name"], group, ordinal,
                broker_name=identity.member(layout, group, ordinal).broker_name,
                updated=unreported or (revision is not None and _revision(pod) == revision),
                ready=pod_ready(pod),
                registered=is_registered(fact, facts) if facts is not None else None,
                lag_bytes=fact.lag_bytes if fact else None, put_tps=fact.put_tps if fact else None,
                master=seen.get("master"), broker_id=seen.get("brokerId"), in_sync=bool(seen.get("inSync"))))
    return groups, states


def set_partitions(desired_sets: Mapping[int, dict[str, Any]], plan: RollPlan, *,
                   allow_restart: bool) -> None:
    for group, sts in desired_sets.items():
        replicas = sts["spec"]["replicas"]
        partition = plan.partitions.get(group, 0) if allow_restart else replicas
        sts["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}}


def fence(plan: RollPlan, *, admin_factory: Callable[[tuple[str, ...]], Any], name_servers: tuple[str, ...],
          now: float) -> tuple[dict[str, Any], str | None]:
    """Does the plan's wipe or restore; returns the roll status to record and an error message, if any."""
    roll = dict(plan.roll)
    broker = plan.wipe or plan.restore
    if broker is None:
        return roll, None
    admin = admin_factory(name_servers)
    try:
        result = admin.wipe_write_perm(broker) if plan.wipe else admin.add_write_perm(broker)
    except RemotingError as e:
        return roll, f"could not {'wipe' if plan.wipe else 'restore'} write permission of {broker}: {e}"
    finally:
        admin.close()
    if not result.counts:  # no name server took it (a dead one serves no routes, so one that did is enough)
        errors = "; ".join(f"{ns}: {e}" for ns, e in result.errors.items())
        return roll, f"no name server changed the write permission of {broker}: {errors}"
    log.info("fenced broker" if plan.wipe else "restored broker", broker=broker)
    if plan.wipe:
        return {**roll, "wipedAt": roll.get("wipedAt", now)}, None
    return {k: v for k, v in roll.items() if k not in ("fenced", "wipedAt")}, None


def writes_name_servers(plan: RollPlan, recorded: Mapping[str, Any]) -> bool:
    """The step wipes or restores a write permission, or records a fence (``recorded``: status.roll now)."""
    fenced = plan.roll.get("fenced")
    return bool(plan.wipe or plan.restore or (fenced and fenced != recorded.get("fenced")))


def handover(plan: RollPlan, *, admin_factory: Callable[[tuple[str, ...]], Any], controllers: tuple[str, ...],
             cluster: str) -> str | None:
    """Does the plan's designated election on the controllers' leader (idempotent: a second call for the same
    broker changes nothing); returns an error message, if any."""
    if plan.elect is None:
        return None
    broker_name, broker_id = plan.elect
    admin = admin_factory(())
    try:
        leader, _ = find_leader(admin, controllers)
        if leader is None:
            return f"cannot hand mastership of {broker_name} over: no controller says it leads"
        result = elect_master(admin, leader, cluster=cluster, broker_name=broker_name, broker_id=broker_id)
    except RemotingError as e:
        return f"could not hand mastership of {broker_name} to broker {broker_id}: {e}"
    finally:
        admin.close()
    log.info("handed mastership over", broker=broker_name, broker_id=broker_id, changed=result.changed)
    return None


def _revision(pod: dict[str, Any]) -> str | None:
    return (pod["metadata"].get("labels") or {}).get(REVISION_LABEL)


