"""Scale-out copies metadata: a new broker group gets the topics and subscription groups of an existing one.

A producer only sends to a broker group that serves the topic, and a consumer group only consumes from a
broker group that knows it; so a group added to a running cluster would sit idle. Before the new group is
reported Ready, the operator reads the topic configs and subscription groups of the source group's master
(the group ``scalePodName`` names — the Apache operator's ``<name>-<group>-master-0`` — or group 0) and
creates the same on the new group's master, through the admin API, then reads them back. The groups done
are recorded in ``status.scaleOut.copiedGroups`` so the copy happens once per group, also across operator
restarts; a copy that fails is retried on the next sync and reported meanwhile.

RocketMQ's system topics and the topics every broker creates for itself (named after its cluster or broker
name) are not copied.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rocketmq_operator.controllers.observer import ClusterFacts
from rocketmq_operator.resources import naming
from rocketmq_operator.resources.model import BrokerClusterModel
from rocketmq_operator.rocketmq import RemotingError

MAX_WRITES_PER_SYNC = 64  # bounds one sync's admin calls; the rest goes on the next
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


def source_group(model: BrokerClusterModel) -> int:
    """The group ``scalePodName`` names (``<name>-<group>-...``), else 0."""
    match = re.match(rf"^{re.escape(model.name)}-(\d+)(-|$)", model.metadata_source_pod or "")
    group = int(match.group(1)) if match else 0
    return group if group < model.groups else 0


def masters(facts: ClusterFacts) -> dict[str, str]:
    """Registered master address by broker name."""
    return {b.broker_name: b.addr for b in facts.brokers if b.broker_id == 0 and b.registered_on}


def copy_metadata(model: BrokerClusterModel, facts: ClusterFacts | None, copied: tuple[int, ...], *,
                  admin_factory: Callable[[tuple[str, ...]], Any]) -> CopyResult:
    """Copies to the next group that needs it (at most one group, and a bounded number of writes, per call)."""
    source = source_group(model)
    todo = [g for g in range(model.groups) if g != source and g not in copied]
    if not todo:
        return CopyResult(copied=copied)
    if facts is None:
        return CopyResult(copied=copied, waiting="waiting for RocketMQ to be observed to copy topics")
    addrs = masters(facts)
    source_addr = addrs.get(naming.broker_name(source))
    target = todo[0]
    target_addr = addrs.get(naming.broker_name(target))
    if not source_addr or not target_addr:
        return CopyResult(copied=copied, waiting=f"waiting for the masters of broker groups {source} and "
                                                 f"{target} to register before copying topics")
    admin = admin_factory(())
    try:
        done = _copy(admin, source_addr, target_addr, skip=_own_topics(model))
    except RemotingError as e:
        return CopyResult(copied=copied, error=f"copying topics from broker group {source} to {target}: {e}")
    finally:
        admin.close()
    if not done:
        return CopyResult(copied=copied, waiting=f"copying topics and subscription groups to broker group {target}")
    return CopyResult(copied=tuple(sorted({*copied, target})))


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


def _own_topics(model: BrokerClusterModel) -> set[str]:
    """Topics each broker makes for itself: its cluster's and its broker group's names."""
    return {model.cluster_name, *(naming.broker_name(g) for g in range(model.groups))}


def _plain(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in config.items()}
