"""What a master still holds for someone, read from RocketMQ before its broker group is deleted.

A broker holds nothing back only when every message it stores has been taken by whoever it is for:

- every topic's queues (retry topics ``%RETRY%<group>`` included) consumed to their max offset by every
  consumer group of the topic — a group RocketMQ names as its consumer (online and subscribed, or with
  committed offsets on it: QUERY_TOPIC_CONSUME_BY_WHO), its offsets read with GET_CONSUME_STATS; a queue
  without an offset of the group counts from its min offset;
- no queue holding messages that no consumer group consumes (dead-letter topics, trace topics, a topic
  nobody subscribed to yet): nobody will ever take them, so they are lost with the broker;
- every delay level of SCHEDULE_TOPIC_XXXX delivered to its max offset, and no timer message waiting
  (GET_BROKER_RUNTIME_INFO, see ``DeferredMessages``);
- no transactional half message (RMQ_SYS_TRANS_HALF_TOPIC) that the broker's transaction check has not
  settled: its progress is the offset of group ``CID_RMQ_SYS_TRANS`` on that topic.

A queue holds the messages from its min to its max offset (GET_TOPIC_STATS_INFO); what the broker
already deleted (below the min) is no longer held. The broker's own bookkeeping topics (transaction op
records, pop revive logs, the timer topic, offset checkpoints: ``rmq_sys_*`` and two named ones) carry
no message for a consumer and are not counted; what they track is counted where it lands.

:func:`read_holdings` makes one bounded call per topic on the master and one or two per topic that holds
messages; any failure propagates as ``RemotingError``, and the caller must read it as "not known", never
as "nothing held". A topic deleted between the calls (TOPIC_NOT_EXIST) holds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from rocketmq_operator.rocketmq import (
    ConsumeStats,
    DeferredMessages,
    MessageQueue,
    TopicConfig,
    TopicNotFound,
)

SCHEDULE_TOPIC = "SCHEDULE_TOPIC_XXXX"
HALF_TOPIC = "RMQ_SYS_TRANS_HALF_TOPIC"
# the group whose offset on the half topic is the transaction check's progress
HALF_GROUP = "CID_RMQ_SYS_TRANS"
BOOKKEEPING_TOPICS = frozenset({"RMQ_SYS_TRANS_OP_HALF_TOPIC", "CHECKPOINT_TOPIC"})
BOOKKEEPING_PREFIX = "rmq_sys_"  # timer topic, pop revive logs, broker-member sync


class HoldingsAdmin(Protocol):
    """The admin calls :func:`read_holdings` makes (``rocketmq.AdminClient`` has them)."""

    def deferred_messages(self, broker_addr: str) -> DeferredMessages: ...

    def topic_configs(self, broker_addr: str) -> Mapping[str, TopicConfig]: ...

    def topic_stats(self, broker_addr: str, topic: str) -> Mapping[MessageQueue, tuple[int, int]]: ...

    def topic_consumers(self, broker_addr: str, topic: str) -> frozenset[str]: ...

    def broker_consume_stats(self, broker_addr: str, group: str, *,
                             topic: str | None = None) -> ConsumeStats: ...


@dataclass(frozen=True)
class Holdings:
    """Messages one broker still holds, by who they wait for."""

    broker: str
    # (consumer group, topic) → messages
    unconsumed: Mapping[tuple[str, str], int] = field(default_factory=dict)
    unsubscribed: Mapping[str, int] = field(default_factory=dict)  # topic no group consumes → messages
    delayed: int = 0  # delay-level messages not delivered yet
    timer: int = 0  # timer messages not delivered yet
    half: int = 0  # transactional half messages not committed or rolled back yet

    def __post_init__(self) -> None:
        object.__setattr__(self, "unconsumed", MappingProxyType(dict(sorted(self.unconsumed.items()))))
        object.__setattr__(self, "unsubscribed", MappingProxyType(dict(sorted(self.unsubscribed.items()))))

    @property
    def empty(self) -> bool:
        return not (self.unconsumed or self.unsubscribed or self.delayed or self.timer or self.half)

    def describe(self) -> str:
        """``"broker-1 holds 7 messages of orders for group audit, ..."``; "" when empty."""
        parts = [f"{n} messages of {topic} for group {group}"
                 for (group, topic), n in self.unconsumed.items()]
        parts += [f"{n} messages of {topic}, which no consumer group consumes"
                  for topic, n in self.unsubscribed.items()]
        pending = ((self.delayed, "delay messages not delivered yet"),
                   (self.timer, "timer messages not delivered yet"),
                   (self.half, "transactional half messages not committed or rolled back yet"))
        parts += [f"{n} {what}" for n, what in pending if n]
        return f"{self.broker} holds " + ", ".join(parts) if parts else ""


def read_holdings(admin: HoldingsAdmin, addr: str, broker: str) -> Holdings:
    """What the master at ``addr`` (broker name ``broker``) holds; raises ``RemotingError`` when it cannot
    tell."""
    deferred = admin.deferred_messages(addr)
    unconsumed: dict[tuple[str, str], int] = {}
    unsubscribed: dict[str, int] = {}
    delayed = half = 0
    for topic in sorted(admin.topic_configs(addr)):
        held = {} if _bookkeeping(topic) else _held(admin, addr, topic, broker)
        if not held:
            continue
        if topic == SCHEDULE_TOPIC:
            delayed += _undelivered(held, deferred)
        elif topic == HALF_TOPIC:
            half += _behind(held, _offsets(admin.broker_consume_stats(addr, HALF_GROUP, topic=topic),
                                           topic, broker))
        else:
            consumers = _consumers(admin, addr, topic, broker)
            if not consumers:
                unsubscribed[topic] = sum(high - low for low, high in held.values())
            for group, offsets in consumers.items():
                if behind := _behind(held, offsets):
                    unconsumed[(group, topic)] = behind
    return Holdings(broker, unconsumed, unsubscribed, delayed=delayed, timer=deferred.timer, half=half)


def _bookkeeping(topic: str) -> bool:
    return topic in BOOKKEEPING_TOPICS or topic.startswith(BOOKKEEPING_PREFIX)


def _held(admin: HoldingsAdmin, addr: str, topic: str, broker: str) -> dict[int, tuple[int, int]]:
    """``queue id → (min, max offset)`` of the topic's queues on ``broker`` that hold messages."""
    try:
        stats = admin.topic_stats(addr, topic)
    except TopicNotFound:
        return {}
    return {q.queue_id: (low, high) for q, (low, high) in stats.items()
            if q.broker_name == broker and high > low}


def _consumers(admin: HoldingsAdmin, addr: str, topic: str, broker: str) -> dict[str, dict[int, int]]:
    """The offsets of each group that consumes ``topic`` on ``broker``; a group the broker names but reports
    no queue of the topic for (online, subscribed to other topics only) does not consume it."""
    out = {}
    for group in sorted(admin.topic_consumers(addr, topic)):
        offsets = _offsets(admin.broker_consume_stats(addr, group, topic=topic), topic, broker)
        if offsets:
            out[group] = offsets
    return out


def _offsets(stats: ConsumeStats, topic: str, broker: str) -> dict[int, int]:
    return {q.queue_id: o.consumer_offset for q, o in stats.offsets.items()
            if q.topic == topic and q.broker_name == broker}


def _behind(held: Mapping[int, tuple[int, int]], offsets: Mapping[int, int]) -> int:
    """Messages of the held queues past the group's offset (a queue it has no offset on: all of them)."""
    return sum(max(high - max(offsets.get(queue, 0), low), 0) for queue, (low, high) in held.items())


def _undelivered(held: Mapping[int, tuple[int, int]], deferred: DeferredMessages) -> int:
    """Delay-level messages not delivered: queue ``q`` is level ``q + 1``; a level the broker reports no
    progress for has delivered nothing of what it holds."""
    delivered = {level - 1: offset for level, (offset, _) in deferred.delay_levels.items()}
    return _behind(held, delivered)
