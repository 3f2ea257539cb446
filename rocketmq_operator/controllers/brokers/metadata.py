"""Scale-out copies metadata: a new broker group gets the topics and subscription groups of an existing one.

A producer only sends to a broker group that serves the topic, and a consumer group only consumes from a
broker group that knows it; so a group added to a running cluster would sit idle. Before the new group is
reported Ready, the operator reads the topic configs and subscription groups of the source group's master
(the group ``scalePodName`` names — the Apache operator's ``<name>-<group>-master-0`` — or group 0) and
creates the same on the new group's master, through the admin API, then reads them back. In allMaster mode
every member is a master of its own, so each one other than the source gets the copy, a member added to a
group too. The groups done are recorded in ``status.scaleOut.copiedGroups`` (and, in allMaster mode, the
brokers in ``copiedBrokers``) so the copy happens once, also across operator restarts; a copy that fails is
retried on the next sync and reported meanwhile. Broker names come from :mod:`resources.identity`.

RocketMQ's system topics and the topics every broker creates for itself (named after its cluster or broker
name) are not copied.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rocketmq_operator.controllers.observe.observer import ClusterFacts
from rocketmq_operator.resources import identity
from rocketmq_operator.resources.model import BrokerClusterModel
from rocketmq_operator.rocketmq import RemotingError

MAX_WRITES_PER_SYNC = 64  # bounds one sync's admin calls; the rest goes on the next
MAX_TARGETS_PER_SYNC = 8  # brokers one sync copies to (each read back); the rest goes on the next
# RocketMQ's own topics: each broker makes those it needs, and brokers refuse them from a client.
SYSTEM_TOPICS = frozenset({"TBW102", "SCHEDULE_TOPIC_XXXX", "BenchmarkTest", "RMQ_SYS_TRANS_HALF_TOPIC",
                           "RMQ_SYS_TRACE_TOPIC", "RMQ_SYS_TRANS_OP_HALF_TOPIC", "TRANS_CHECK_MAX_TIME_TOPIC",
                           "SELF_TEST_TOPIC", "OFFSET_MOVED_EVENT"})
SYSTEM_PREFIX = "rmq_sys_"


@dataclass(frozen=True)
class CopyResult:
    copied: tuple[int, ...]  # groups done (status.scaleOut.copiedGroups)
    waiting: str | None = None
    error: str | None = None
    brokers: tuple[str, ...] = ()  # brokers done (status.scaleOut.copiedBrokers)


def source_group(model: BrokerClusterModel) -> int:
    """The group ``scalePodName`` names (``<name>-<group>-...``), else 0."""
    match = re.match(rf"^{re.escape(model.name)}-(\d+)(-|$)", model.metadata_source_pod or "")
    group = int(match.group(1)) if match else 0
    return group if group < model.groups else 0


def masters(facts: ClusterFacts) -> dict[str, str]:
    """Registered master address by broker name."""
    return {b.broker_name: b.addr for b in facts.brokers if b.broker_id == 0 and b.registered_on}


def copy_metadata(model: BrokerClusterModel, facts: ClusterFacts | None, copied: tuple[int, ...], *,
                  admin_factory: Callable[[tuple[str, ...]], Any],
                  copied_brokers: tuple[str, ...] = ()) -> CopyResult:
    """Copies to the brokers that need it (a bounded number of brokers and of writes per call). The
    source is the master of the source group's member 0; every other master of the cluster is a target (one
    per group, or each member in allMaster mode). A group in ``copied`` counts as done for the broker name its
    members share."""
    layout = model.layout
    source_at = source_group(model)
    source = identity.member(layout, source_at, 0).broker_name
    done = set(copied_brokers)
    todo = [(g, b) for g in range(model.groups) for b in identity.group_brokers(layout, g)
            if b != source and b not in done and not (g in copied and not model.all_master)]
    if not todo:
        return _result(model, copied, done, source_at)
    if facts is None:
        return CopyResult(copied=copied, brokers=_kept(model, done),
                          waiting="waiting for RocketMQ to be observed to copy topics")
    addrs, skip = masters(facts), identity.own_topics(layout)
    admin = None
    try:
        for group, target in todo[:MAX_TARGETS_PER_SYNC]:
            source_addr, target_addr = addrs.get(source), addrs.get(target)
            if not source_addr or not target_addr:
                missing = " and ".join(b for b, a in ((source, source_addr), (target, target_addr)) if not a)
                return _result(model, copied, done, source_at,
                               waiting=f"waiting for the master of {missing} to register before copying "
                                       f"topics from {source} to {target}")
            admin = admin or admin_factory(())
            try:
                complete = _copy(admin, source_addr, target_addr, skip=skip)
            except RemotingError as e:
                return _result(model, copied, done, source_at,
                               error=f"copying topics from {source} to {target} (broker group {group}): {e}")
            if not complete:
                return _result(model, copied, done, source_at,
                               waiting=f"copying topics and subscription groups to {target}")
            done.add(target)
    finally:
        if admin is not None:
            admin.close()
    more = len(todo) > MAX_TARGETS_PER_SYNC
    return _result(model, copied, done, source_at,
                   waiting="copying topics and subscription groups to the next brokers" if more else None)


def _kept(model: BrokerClusterModel, done: set[str]) -> tuple[str, ...]:
    """The brokers done, as status keeps them (allMaster only: elsewhere a group has one broker)."""
    return tuple(sorted(done)) if model.all_master else ()


def _result(model: BrokerClusterModel, copied: tuple[int, ...], done: set[str], source_at: int, *,
            waiting: str | None = None, error: str | None = None) -> CopyResult:
    """What the copy has done: the groups (other than the source group) every broker of which has its copy,
    and in allMaster mode the brokers."""
    layout = model.layout
    source = identity.member(layout, source_at, 0).broker_name
    groups = set(copied) | {g for g in range(model.groups) if g != source_at
                            and all(b in done or b == source for b in identity.group_brokers(layout, g))}
    return CopyResult(copied=tuple(sorted(groups)), brokers=_kept(model, done), waiting=waiting, error=error)


def _copy(admin: Any, source: str, target: str, *, skip: set[str]) -> bool:
    """One bounded round of the copy; True once the target holds everything (read back)."""
    topics = {n: c for n, c in admin.topic_configs(source).items() if n not in skip and not _system(n)}
    groups = dict(admin.subscription_groups(source))
    have_topics, have_groups = admin.topic_configs(target), admin.subscription_groups(target)
    writes = 0
    for name, config in topics.items():
        if name not in have_topics and writes < MAX_WRITES_PER_SYNC:
            admin.create_topic(config, broker_addr=target)
            writes += 1
    for name, config in groups.items():
        if name not in have_groups and writes < MAX_WRITES_PER_SYNC:
            admin.create_subscription_group(target, _plain(config))
            writes += 1
    if writes == 0:
        return True
    have_topics, have_groups = admin.topic_configs(target), admin.subscription_groups(target)
    return set(topics) <= set(have_topics) and set(groups) <= set(have_groups)


def _system(topic: str) -> bool:
    return topic in SYSTEM_TOPICS or topic.lower().startswith(SYSTEM_PREFIX)


def _plain(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in config.items()}
