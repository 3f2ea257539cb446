"""Graceful scale-in of broker groups: a group is deleted only once its messages are consumed.

With ``allowGroupScaleDown: true`` and fewer groups in the spec, each group beyond the spec is drained
before its objects go (the highest first, one at a time):

1. the drain is recorded in ``status.drain`` (group, start time) before anything is done, so an operator
   restart resumes it;
2. the group's write permission is wiped on every name server (repeated while draining: idempotent), so
   producers send elsewhere;
3. the operator waits until every consumer group known to the group's master has consumed what the group
   holds (consumer lag 0 on its queues), or until ``drainTimeoutSeconds`` (spec, default 600) pass — then
   the drain stops with a condition naming the group and the lag, and nothing is deleted;
4. the group's objects are deleted (claims follow the StatefulSet's retention policy).

:func:`drain_step` reads RocketMQ with bounded calls and returns what the reconciler does next; without
RocketMQ observed there is nothing to ask, and the group is deleted as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rocketmq_operator.controllers.observer import ClusterFacts
from rocketmq_operator.rocketmq import RemotingError

DEFAULT_DRAIN_TIMEOUT = 600.0
INTERNAL_GROUPS_PREFIX = "CID_RMQ_SYS_"


@dataclass(frozen=True)
class DrainStep:
    drain: Mapping[str, Any]  # status.drain to record ({} when none)
    delete: int | None = None  # group whose objects to delete now
    waiting: str | None = None
    stuck: str | None = None  # the drain cannot finish (timed out): a condition, nothing deleted


def drain_step(extra: list[int], drain: Mapping[str, Any], facts: ClusterFacts | None, *, now: float,
               timeout: float, brokers: Callable[[int], tuple[str, ...]],
               admin_factory: Callable[[tuple[str, ...]], Any],
               name_servers: tuple[str, ...]) -> DrainStep:
    if not extra:
        return DrainStep(drain={})
    group = max(extra)
    if drain.get("group") != group:  # recorded first; acted on from the next sync
        return DrainStep(drain={"group": group, "startedAt": now},
                         waiting=f"draining broker group {group} before removing it")
    broker = brokers(group)[0]
    master = _master(facts, broker)
    if master is None:
        return DrainStep(drain=drain, waiting=f"waiting for the master of {broker} to be registered to drain it")
    admin = admin_factory(name_servers)
    try:
        admin.wipe_write_perm(broker)
        lag = _lag(admin, master, broker)
    except RemotingError as e:
        return DrainStep(drain=drain, waiting=f"draining {broker}: {e}")
    finally:
        admin.close()
    if not lag:
        return DrainStep(drain={}, delete=group)
    waited = now - float(drain.get("startedAt", now))
    behind = ", ".join(f"{g} ({n} messages)" for g, n in sorted(lag.items()))
    if waited >= timeout:
        return DrainStep(drain=drain, stuck=f"broker group {group} still holds unconsumed messages after "
                                            f"{waited:.0f} s: {behind}; nothing is deleted — consume them or "
                                            f"raise drainTimeoutSeconds")
    return DrainStep(drain=drain, waiting=f"draining {broker}: waiting for {behind}")


def _master(facts: ClusterFacts | None, broker: str) -> str | None:
    if facts is None:
        return None
    return next((b.addr for b in facts.brokers if b.broker_name == broker and b.broker_id == 0 and b.registered_on),
                None)


def _lag(admin: Any, master: str, broker: str) -> dict[str, int]:
    """Unconsumed messages of each consumer group on ``broker``'s queues."""
    lag = {}
    for group in admin.subscription_groups(master):
        if group.startswith(INTERNAL_GROUPS_PREFIX):
            continue
        try:
            stats = admin.broker_consume_stats(master, group)
        except RemotingError:
            continue  # a group without offsets here has consumed nothing here and holds nothing back
        behind = sum(o.lag for q, o in stats.offsets.items() if q.broker_name == broker and not q.topic.startswith("%"))
        if behind:
            lag[group] = behind
    return lag
