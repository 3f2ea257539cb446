"""Typed, frozen views of the bodies RocketMQ returns, and the parsers that build them.

Each ``from_wire`` classmethod takes the value ``fastjson.loads`` produced for a response body and
raises ``KeyError``, ``TypeError`` or ``ValueError`` when the body does not have the expected shape;
``admin`` turns those into ``ProtocolError``. Mappings are read-only views so that a value handed to a
caller cannot be changed behind the client's back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "MASTER_ID",
    "PERM_READ",
    "PERM_WRITE",
    "BrokerData",
    "BrokerRuntimeInfo",
    "ClusterInfo",
    "ConsumeStats",
    "DeferredMessages",
    "HAConnection",
    "HAStatus",
    "MessageQueue",
    "QueueData",
    "QueueOffsets",
    "TopicConfig",
    "TopicRoute",
]

PERM_WRITE = 0x2
PERM_READ = 0x4
MASTER_ID = 0
SCHEDULE_OFFSET_PREFIX = "scheduleMessageOffset_"


def _readonly(mapping: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(mapping))


def _object(value: Any, what: str) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{what} is not a JSON object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"{what} is not a JSON array")
    return value


@dataclass(frozen=True)
class BrokerData:
    """One broker group (a master and its slaves) as registered on the name servers."""

    cluster: str
    name: str
    addrs: Mapping[int, str]  # broker id → "host:port"; id 0 is the master

    def __post_init__(self) -> None:
        object.__setattr__(self, "addrs", _readonly(self.addrs))

    @property
    def master_addr(self) -> str | None:
        return self.addrs.get(MASTER_ID)

    @classmethod
    def from_wire(cls, data: Any) -> BrokerData:
        data = _object(data, "broker data")
        addrs = _object(data.get("brokerAddrs") or {}, "brokerAddrs")
        return cls(
            cluster=str(data.get("cluster") or ""),
            name=str(data["brokerName"]),
            addrs={int(broker_id): str(addr) for broker_id, addr in addrs.items()},
        )


@dataclass(frozen=True)
class ClusterInfo:
    """GET_BROKER_CLUSTER_INFO: broker groups by name, and broker names by cluster."""

    brokers: Mapping[str, BrokerData]
    clusters: Mapping[str, frozenset[str]]

    def __post_init__(self) -> None:
        object.__setattr__(self, "brokers", _readonly(self.brokers))
        object.__setattr__(self, "clusters", _readonly(self.clusters))

    def brokers_in(self, cluster: str | None = None) -> tuple[BrokerData, ...]:
        """Broker groups of ``cluster`` (all clusters when None), sorted by name."""
        if cluster is None:
            names = set(self.brokers)
        else:
            names = set(self.clusters.get(cluster, ()))
        return tuple(self.brokers[name] for name in sorted(names) if name in self.brokers)

    @classmethod
    def from_wire(cls, data: Any) -> ClusterInfo:
        data = _object(data, "cluster info")
        brokers = _object(data.get("brokerAddrTable") or {}, "brokerAddrTable")
        clusters = _object(data.get("clusterAddrTable") or {}, "clusterAddrTable")
        return cls(
            brokers={str(name): BrokerData.from_wire(item) for name, item in brokers.items()},
            clusters={
                str(name): frozenset(str(b) for b in _list(members, "cluster members"))
                for name, members in clusters.items()
            },
        )


@dataclass(frozen=True)
class QueueData:
    broker_name: str
    read_queue_nums: int
    write_queue_nums: int
    perm: int
    topic_sys_flag: int = 0

    @property
    def writable(self) -> bool:
        return bool(self.perm & PERM_WRITE)

    @classmethod
    def from_wire(cls, data: Any) -> QueueData:
        data = _object(data, "queue data")
        return cls(
            broker_name=str(data["brokerName"]),
            read_queue_nums=int(data.get("readQueueNums", 0)),
            write_queue_nums=int(data.get("writeQueueNums", 0)),
            perm=int(data.get("perm", 0)),
            topic_sys_flag=int(data.get("topicSysFlag", 0)),
        )


@dataclass(frozen=True)
class TopicRoute:
    """GET_ROUTEINFO_BY_TOPIC: which broker groups serve a topic, with how many queues."""

    topic: str
    brokers: tuple[BrokerData, ...]
    queues: tuple[QueueData, ...]

    @classmethod
    def from_wire(cls, topic: str, data: Any) -> TopicRoute:
        data = _object(data, "topic route")
        brokers = (BrokerData.from_wire(b) for b in _list(data.get("brokerDatas"), "brokerDatas"))
        queues = (QueueData.from_wire(q) for q in _list(data.get("queueDatas"), "queueDatas"))
        return cls(
            topic=topic,
            brokers=tuple(sorted(brokers, key=lambda b: b.name)),
            queues=tuple(sorted(queues, key=lambda q: q.broker_name)),
        )


@dataclass(frozen=True)
class TopicConfig:
    """What UPDATE_AND_CREATE_TOPIC sets on a broker."""

    name: str
    read_queue_nums: int = 8
    write_queue_nums: int = 8
    perm: int = PERM_READ | PERM_WRITE
    order: bool = False
    attributes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", _readonly(self.attributes))


def _int(table: Mapping[str, str], key: str, default: int = 0) -> int:
    try:
        return int(table.get(key, default))
    except ValueError:
        return default


@dataclass(frozen=True)
class BrokerRuntimeInfo:
    """GET_BROKER_RUNTIME_INFO. The commit-log offsets of a master and its slave show replication lag."""

    version_desc: str  # e.g. "V5_3_3"
    version: int
    active: bool  # a master accepting writes; False on slaves
    commit_log_min_offset: int
    commit_log_max_offset: int
    dispatch_behind_bytes: int
    table: Mapping[str, str]  # every key the broker reported, unparsed

    def __post_init__(self) -> None:
        object.__setattr__(self, "table", _readonly(self.table))

    @classmethod
    def from_wire(cls, data: Any) -> BrokerRuntimeInfo:
        table = {str(k): str(v) for k, v in _object(_object(data, "kv table")["table"], "table").items()}
        return cls(
            version_desc=table.get("brokerVersionDesc", ""),
            version=_int(table, "brokerVersion"),
            active=table.get("brokerActive", "false") == "true",
            commit_log_min_offset=_int(table, "commitLogMinOffset"),
            commit_log_max_offset=_int(table, "commitLogMaxOffset"),
            dispatch_behind_bytes=_int(table, "dispatchBehindBytes"),
            table=table,
        )


@dataclass(frozen=True)
class DeferredMessages:
    """What GET_BROKER_RUNTIME_INFO tells of the messages a master holds back for later delivery.

    Delay-level messages wait in SCHEDULE_TOPIC_XXXX, one queue per level (queue id = level - 1); the
    broker reports ``scheduleMessageOffset_<level>`` = ``"<next offset to deliver>,<max offset>"`` for
    each level it has delivered from since it started. Timer messages (RocketMQ 5) are first stored in
    the timer topic, then put into the timer wheel: ``timerOffsetBehind`` counts those not yet in the
    wheel, ``timerCongestNum`` those in the wheel not yet delivered. Brokers without a timer wheel
    (before 5.0) report neither key and hold no timer messages.
    """

    delay_levels: Mapping[int, tuple[int, int]]  # delay level → (next offset to deliver, max offset)
    timer_unread: int  # timer messages stored but not yet in the wheel
    timer_waiting: int  # timer messages in the wheel, not yet delivered

    def __post_init__(self) -> None:
        object.__setattr__(self, "delay_levels", _readonly(self.delay_levels))

    @property
    def timer(self) -> int:
        return self.timer_unread + self.timer_waiting

    @classmethod
    def from_table(cls, table: Mapping[str, str]) -> DeferredMessages:
        """Raises ``ValueError`` for a figure that is not a number: unreadable is not zero."""
        levels = {}
        for key, value in table.items():
            if key.startswith(SCHEDULE_OFFSET_PREFIX):
                delivered, _, max_offset = value.partition(",")
                levels[int(key[len(SCHEDULE_OFFSET_PREFIX):])] = (int(delivered), int(max_offset))
        return cls(delay_levels=levels, timer_unread=int(table.get("timerOffsetBehind", "0")),
                   timer_waiting=int(table.get("timerCongestNum", "0")))


@dataclass(frozen=True)
class HAConnection:
    """A slave connected to a master, as the master sees it."""

    addr: str
    slave_ack_offset: int
    diff: int  # master's max offset minus the slave's acknowledged offset
    in_sync: bool


@dataclass(frozen=True)
class HAStatus:
    """GET_BROKER_HA_STATUS: replication state of a master (connections) or a slave (offsets)."""

    is_master: bool
    master_commit_log_max_offset: int
    in_sync_slave_nums: int
    connections: tuple[HAConnection, ...]
    slave_max_offset: int  # on a slave: how far its commit log is replicated
    master_flush_offset: int

    @classmethod
    def from_wire(cls, data: Any) -> HAStatus:
        data = _object(data, "HA runtime info")
        client = _object(data.get("haClientRuntimeInfo") or {}, "haClientRuntimeInfo")
        connections = tuple(
            HAConnection(
                addr=str(c.get("addr", "")),
                slave_ack_offset=int(c.get("slaveAckOffset", 0)),
                diff=int(c.get("diff", 0)),
                in_sync=bool(c.get("inSync", False)),
            )
            for c in (_object(c, "HA connection") for c in _list(data.get("haConnectionInfo"), "connections"))
        )
        return cls(
            is_master=bool(data.get("master", False)),
            master_commit_log_max_offset=int(data.get("masterCommitLogMaxOffset", 0)),
            in_sync_slave_nums=int(data.get("inSyncSlaveNums", 0)),
            connections=connections,
            slave_max_offset=int(client.get("maxOffset", 0)),
            master_flush_offset=int(client.get("masterFlushOffset", 0)),
        )


@dataclass(frozen=True, order=True)
class MessageQueue:
    topic: str
    broker_name: str
    queue_id: int


@dataclass(frozen=True)
class QueueOffsets:
    broker_offset: int  # next offset the broker will write
    consumer_offset: int  # next offset the group will consume
    pull_offset: int = 0
    last_timestamp: int = 0  # store time (ms) of the last consumed message; 0 if unknown

    @property
    def lag(self) -> int:
        return max(self.broker_offset - self.consumer_offset, 0)


@dataclass(frozen=True)
class ConsumeStats:
    """GET_CONSUME_STATS: a consumer group's progress per message queue."""

    offsets: Mapping[MessageQueue, QueueOffsets]
    consume_tps: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "offsets", _readonly(dict(sorted(self.offsets.items()))))

    @property
    def lag(self) -> int:
        return sum(o.lag for o in self.offsets.values())

    def merge(self, other: ConsumeStats) -> ConsumeStats:
        return ConsumeStats({**self.offsets, **other.offsets}, self.consume_tps + other.consume_tps)

    @classmethod
    def from_wire(cls, data: Any) -> ConsumeStats:
        data = _object(data, "consume stats")
        offsets = {}
        for key, value in _object(data.get("offsetTable") or {}, "offsetTable").items():
            queue = dict(key) if isinstance(key, tuple) else {}
            value = _object(value, "offset wrapper")
            mq = MessageQueue(str(queue["topic"]), str(queue["brokerName"]), int(queue["queueId"]))
            offsets[mq] = QueueOffsets(
                broker_offset=int(value.get("brokerOffset", 0)),
                consumer_offset=int(value.get("consumerOffset", 0)),
                pull_offset=int(value.get("pullOffset", 0)),
                last_timestamp=int(value.get("lastTimestamp", 0)),
            )
        return cls(offsets=offsets, consume_tps=float(data.get("consumeTps") or 0.0))
