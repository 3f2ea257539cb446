"""What a RocketMQ 5 controller group says about itself and about the broker groups it runs.

An observation (run by the :class:`~rocketmq_operator.controllers.observe.observer.Observer`'s pool, never on
a worker thread) asks every member for its Raft metadata, then asks the leader for the replica table of the
broker groups named in the target. Each call is bounded by the admin client's timeouts, so a dead member costs
one timeout. Nothing here touches the Kubernetes API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from rocketmq_operator.rocketmq import RemotingError
from rocketmq_operator.rocketmq.controlleradmin import (
    ControllerMetadata,
    ReplicaGroup,
    find_leader,
    sync_state_data,
)


@dataclass(frozen=True)
class ControllerTarget:
    members: tuple[tuple[str, str], ...]  # (pod, dialable host:port) of each controller
    broker_names: tuple[str, ...] = ()  # broker groups whose replica tables to read from the leader

    def observe(self, *, admin_factory: Callable[[tuple[str, ...]], Any],
                now: Callable[[], float]) -> ControllerFacts:
        return observe_controllers(self, admin_factory=admin_factory, now=now)


@dataclass(frozen=True)
class MemberFacts:
    pod: str
    addr: str
    is_leader: bool = False
    leader_addr: str | None = None
    error: str = ""


@dataclass(frozen=True)
class ControllerFacts:
    target: ControllerTarget
    read_at: float
    members: tuple[MemberFacts, ...]
    leader: str | None  # pod name of the member that says it leads
    groups: Mapping[str, ReplicaGroup] = field(default_factory=dict)
    error: str = ""  # reading the replica tables failed

    @property
    def answered(self) -> int:
        return sum(1 for m in self.members if not m.error)


def observe_controllers(target: ControllerTarget, *, admin_factory: Callable[[tuple[str, ...]], Any],
                        now: Callable[[], float]) -> ControllerFacts:
    admin = admin_factory(())
    try:
        leader_addr, seen = find_leader(admin, [addr for _, addr in target.members])
        members = tuple(_member(pod, addr, seen.get(addr)) for pod, addr in target.members)
        leader = next((m.pod for m in members if m.addr == leader_addr), None)
        groups: Mapping[str, ReplicaGroup] = {}
        error = ""
        if leader_addr and target.broker_names:
            try:
                groups = sync_state_data(admin, leader_addr, target.broker_names)
            except RemotingError as exc:
                error = f"controller {leader_addr}: {exc}"
    finally:
        admin.close()
    return ControllerFacts(target=target, read_at=now(), members=members, leader=leader,
                           groups=MappingProxyType(dict(groups)), error=error)


def _member(pod: str, addr: str, seen: ControllerMetadata | RemotingError | None) -> MemberFacts:
    if isinstance(seen, ControllerMetadata):
        return MemberFacts(pod=pod, addr=addr, is_leader=seen.is_leader, leader_addr=seen.leader_addr)
    return MemberFacts(pod=pod, addr=addr, error=str(seen) if seen else "not asked")
