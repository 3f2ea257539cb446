"""A scripted admin client for the drain tests: masters with topics, queue offsets, consumer offsets and
runtime figures, answering as a RocketMQ 5.3 broker does (a queue without a group's offset reads as 0)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rocketmq_operator.rocketmq import (
    ConsumeStats,
    DeferredMessages,
    MessageQueue,
    QueueOffsets,
    RemotingError,
    TopicConfig,
    TopicNotFound,
    WritePermResult,
)

NAME_SERVER = "ns:9876"


@dataclass
class Master:
    name: str  # its brokerName
    queues: dict[str, dict[int, tuple[int, int]]] = field(default_factory=dict)  # topic → queue → (min, max)
    # group → topic → queue → offset
    offsets: dict[str, dict[str, dict[int, int]]] = field(default_factory=dict)
    # group with consumers connected → topics subscribed
    online: dict[str, set[str]] = field(default_factory=dict)
    runtime: dict[str, str] = field(default_factory=lambda: {"timerOffsetBehind": "0",
                                                             "timerCongestNum": "0"})

    def topic(self, topic: str, *held: int) -> Master:
        """``topic`` with a queue per count, each holding that many messages from offset 0."""
        self.queues[topic] = {q: (0, n) for q, n in enumerate(held)}
        return self

    def consumed(self, group: str, topic: str, *offsets: int) -> Master:
        self.offsets.setdefault(group, {})[topic] = dict(enumerate(offsets))
        return self


class Admin:
    """Serves the masters by address; ``fail[method]`` raises from that call; wipes report ``wipe_count``."""

    def __init__(self, masters: dict[str, Master]) -> None:
        self.masters = masters
        self.fail: dict[str, RemotingError] = {}
        self.wipe_count = 0
        self.wipe_errors: dict[str, RemotingError] = {}
        self.wiped: list[str] = []
        self.calls: list[str] = []
        self.closed = False

    def _call(self, method: str, addr: str | None = None) -> Master | None:
        self.calls.append(method)
        if method in self.fail:
            raise self.fail[method]
        return self.masters[addr] if addr is not None else None

    def close(self) -> None:
        self.closed = True

    def wipe_write_perm(self, broker_name: str) -> WritePermResult:
        self._call("wipe_write_perm")
        self.wiped.append(broker_name)
        return WritePermResult({} if self.wipe_errors else {NAME_SERVER: self.wipe_count}, self.wipe_errors)

    def deferred_messages(self, broker_addr: str) -> DeferredMessages:
        return DeferredMessages.from_table(self._call("deferred_messages", broker_addr).runtime)

    def topic_configs(self, broker_addr: str) -> dict[str, TopicConfig]:
        return {t: TopicConfig(t) for t in self._call("topic_configs", broker_addr).queues}

    def topic_stats(self, broker_addr: str, topic: str) -> dict[MessageQueue, tuple[int, int]]:
        master = self._call("topic_stats", broker_addr)
        if topic not in master.queues:
            raise TopicNotFound(17, f"topic[{topic}] not exist", addr=broker_addr)
        return {MessageQueue(topic, master.name, q): v for q, v in master.queues[topic].items()}

    def topic_consumers(self, broker_addr: str, topic: str) -> frozenset[str]:
        """Groups online and subscribed to ``topic``, and groups with offsets on it."""
        master = self._call("topic_consumers", broker_addr)
        return frozenset({g for g, topics in master.offsets.items() if topic in topics}
                         | {g for g, topics in master.online.items() if topic in topics})

    def broker_consume_stats(self, broker_addr: str, group: str, *, topic: str | None = None) -> ConsumeStats:
        """With a topic: each of its queues with the group's offset (0 when it has none), nothing for a group
        online and subscribed to other topics only."""
        assert topic is not None
        master = self._call("broker_consume_stats", broker_addr)
        if topic not in master.online.get(group, {topic}):
            return ConsumeStats({})
        mine = master.offsets.get(group, {}).get(topic, {})
        return ConsumeStats({MessageQueue(topic, master.name, q): QueueOffsets(broker_offset=high,
                                                                              consumer_offset=mine.get(q, 0))
                             for q, (_, high) in master.queues.get(topic, {}).items()})
