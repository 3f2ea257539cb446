"""A synchronous admin client for RocketMQ name servers and brokers.

``AdminClient`` speaks the remoting protocol through a ``ConnectionPool`` and offers the operations an
operator needs: read the cluster layout, read and hot-update broker configuration, read replication
state, create and delete topics, fence a broker group from writes on the name servers, and read a
consumer group's progress and what a broker holds (queue offsets, delay and timer backlogs). Results
are frozen dataclasses from ``types``; failures are the ``RemotingError`` tree from ``errors``.

Name-server reads fail over: the name servers are tried in the order given and the first answer wins
(a ``ResponseError`` is an answer and is raised at once). Name-server writes (fencing, deleting a
topic's route) go to every name server, because each keeps its own copy of the routes.

Every call is bounded by the connect timeout plus the request timeout per address tried. The client
holds no state beyond its pool and an opaque counter, so one instance per cluster can be shared by
threads.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Self, TypeVar

from rocketmq_operator.clock import REAL_CLOCK, Clock

from . import fastjson
from .errors import ProtocolError, RemotingError, ResponseError, response_error
from .protocol import RemotingCommand, RequestCode, ResponseCode
from .transport import ConnectionPool, split_addr
from .types import (
    BrokerRuntimeInfo,
    ClusterInfo,
    ConsumeStats,
    DeferredMessages,
    HAStatus,
    MessageQueue,
    TopicConfig,
    TopicRoute,
)

__all__ = ["GET_BROKER_HA_STATUS", "AdminClient", "WritePermResult", "parse_namesrv_addrs"]

GET_BROKER_HA_STATUS = 907
GET_ALL_SUBSCRIPTIONGROUP_CONFIG = 201
GET_ALL_TOPIC_CONFIG = 21
GET_TOPIC_STATS_INFO = 202
DELETE_SUBSCRIPTIONGROUP = 207
QUERY_TOPIC_CONSUME_BY_WHO = 300
DEFAULT_TOPIC = "TBW102"
T = TypeVar("T")


def parse_namesrv_addrs(addrs: str | Sequence[str]) -> tuple[str, ...]:
    """``"a:9876;b:9876"`` or a sequence of addresses, validated, order kept, duplicates dropped."""
    items = addrs.split(";") if isinstance(addrs, str) else list(addrs)
    result = tuple(dict.fromkeys(a.strip() for a in items if a and a.strip()))
    for addr in result:
        split_addr(addr)
    return result


@dataclass(frozen=True)
class WritePermResult:
    """Outcome of fencing or unfencing a broker group on each name server."""

    counts: Mapping[str, int]  # name server → number of topics whose permission changed
    errors: Mapping[str, RemotingError] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", MappingProxyType(dict(self.counts)))
        object.__setattr__(self, "errors", MappingProxyType(dict(self.errors)))

    @property
    def ok(self) -> bool:
        return not self.errors


class AdminClient:
    """Admin operations on one RocketMQ deployment, addressed by its name servers.

    Broker operations take the broker's address, so a client made without name servers can still
    talk to brokers directly.
    """

    def __init__(
        self,
        namesrv_addrs: str | Sequence[str] = (),
        *,
        connect_timeout: float = 3.0,
        request_timeout: float = 5.0,
        language: str = "PYTHON",
        pool: ConnectionPool | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.namesrv_addrs = parse_namesrv_addrs(namesrv_addrs)
        self.request_timeout = request_timeout
        self._language = language
        self._pool = pool or ConnectionPool(connect_timeout=connect_timeout, clock=clock)
        self._opaque = itertools.count(1)
        self._opaque_lock = threading.Lock()

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the generic call ------------------------------------------------------------------------

    def invoke(
        self,
        addr: str,
        code: int,
        *,
        fields: Mapping[str, Any] | None = None,
        body: bytes = b"",
        timeout: float | None = None,
    ) -> RemotingCommand:
        """Send one request; return the response, or raise ``ResponseError`` for a non-success code."""
        response = self.request(addr, code, fields=fields, body=body, timeout=timeout)
        if response.code != ResponseCode.SUCCESS:
            raise response_error(response.code, response.remark, addr=addr)
        return response

    def request(
        self,
        addr: str,
        code: int,
        *,
        fields: Mapping[str, Any] | None = None,
        body: bytes = b"",
        timeout: float | None = None,
    ) -> RemotingCommand:
        """Send one request and return the response whatever its code (``invoke`` checks it).

        For the calls whose answers carry meaning in codes other than SUCCESS: a send stored but not
        yet flushed, a pull that found nothing.
        """
        with self._opaque_lock:
            opaque = next(self._opaque) & 0x7FFFFFFF
        request = RemotingCommand(
            code=code,
            opaque=opaque,
            ext_fields={k: _field(v) for k, v in (fields or {}).items() if v is not None},
            body=body,
            language=self._language,
        )
        return self._pool.call(addr, request, timeout=timeout or self.request_timeout)

    # -- name server reads -----------------------------------------------------------------------

    def cluster_info(self) -> ClusterInfo:
        response = self._namesrv_read(RequestCode.GET_BROKER_CLUSTER_INFO)
        return _parse(response, ClusterInfo.from_wire, "cluster info")

    def topic_route(self, topic: str) -> TopicRoute:
        """Raises ``TopicNotFound`` when no broker serves the topic."""
        fields = {"topic": topic, "acceptStandardJsonOnly": True}
        response = self._namesrv_read(RequestCode.GET_ROUTEINFO_BY_TOPIC, fields=fields)
        return _parse(response, lambda data: TopicRoute.from_wire(topic, data), "topic route")

    def topic_list(self) -> frozenset[str]:
        response = self._namesrv_read(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
        return _parse(response, lambda data: frozenset(map(str, data.get("topicList") or ())), "topic list")

    # -- name server writes ----------------------------------------------------------------------

    def wipe_write_perm(self, broker_name: str) -> WritePermResult:
        """Remove write permission of ``broker_name`` on every name server (producers stop sending)."""
        return self._write_perm(RequestCode.WIPE_WRITE_PERM_OF_BROKER, broker_name, "wipeTopicCount")

    def add_write_perm(self, broker_name: str) -> WritePermResult:
        """Give ``broker_name`` its write permission back on every name server."""
        return self._write_perm(RequestCode.ADD_WRITE_PERM_OF_BROKER, broker_name, "addTopicCount")

    def delete_topic_in_namesrv(self, topic: str, *, cluster: str | None = None) -> None:
        """Drop the topic's route from every name server (only ``cluster``'s brokers when given)."""
        for addr in self._require_namesrv():
            self.invoke(
                addr, RequestCode.DELETE_TOPIC_IN_NAMESRV, fields={"topic": topic, "clusterName": cluster}
            )

    # -- broker configuration and state ----------------------------------------------------------

    def broker_config(self, broker_addr: str) -> Mapping[str, str]:
        response = self.invoke(broker_addr, RequestCode.GET_BROKER_CONFIG)
        return MappingProxyType(_decode_properties(response.body))

    def update_broker_config(self, broker_addr: str, properties: Mapping[str, Any]) -> None:
        """Hot-update broker properties (for example ``namesrvAddr``); the broker persists them."""
        if not properties:
            return
        body = _encode_properties({k: _field(v) for k, v in properties.items()})
        self.invoke(broker_addr, RequestCode.UPDATE_BROKER_CONFIG, body=body)

    def broker_runtime_info(self, broker_addr: str) -> BrokerRuntimeInfo:
        response = self.invoke(broker_addr, RequestCode.GET_BROKER_RUNTIME_INFO)
        return _parse(response, BrokerRuntimeInfo.from_wire, "broker runtime info")

    def deferred_messages(self, broker_addr: str) -> DeferredMessages:
        """Delay-level and timer messages a master has not delivered yet (from its runtime info)."""
        info = self.broker_runtime_info(broker_addr)
        try:
            return DeferredMessages.from_table(info.table)
        except ValueError as exc:
            raise ProtocolError(f"malformed delivery figures in runtime info: {exc}",
                                addr=broker_addr) from exc

    def broker_ha_status(self, broker_addr: str) -> HAStatus:
        response = self.invoke(broker_addr, GET_BROKER_HA_STATUS)
        return _parse(response, HAStatus.from_wire, "HA status")

    # -- topics ----------------------------------------------------------------------------------

    def create_topic(
        self, config: TopicConfig, *, cluster: str | None = None, broker_addr: str | None = None
    ) -> tuple[str, ...]:
        """Create or update a topic on one broker or on every master of a cluster; return the addresses.

        Brokers register the topic with the name servers themselves.
        """
        fields = {
            "topic": config.name,
            "defaultTopic": DEFAULT_TOPIC,
            "readQueueNums": config.read_queue_nums,
            "writeQueueNums": config.write_queue_nums,
            "perm": config.perm,
            "topicFilterType": "SINGLE_TAG",
            "topicSysFlag": 0,
            "order": config.order,
            "attributes": ",".join(f"+{k}={v}" for k, v in config.attributes.items()) or None,
        }
        addrs = self._target_brokers(cluster=cluster, broker_addr=broker_addr)
        for addr in addrs:
            self.invoke(addr, RequestCode.UPDATE_AND_CREATE_TOPIC, fields=fields)
        return addrs

    def delete_topic(self, topic: str, *, cluster: str) -> None:
        """Delete a topic from every master of ``cluster``, then its route from every name server."""
        for addr in self._target_brokers(cluster=cluster, broker_addr=None):
            self.delete_topic_in_broker(addr, topic)
        self.delete_topic_in_namesrv(topic, cluster=cluster)

    def delete_topic_in_broker(self, broker_addr: str, topic: str) -> None:
        self.invoke(broker_addr, RequestCode.DELETE_TOPIC_IN_BROKER, fields={"topic": topic})

    # -- consumer progress -----------------------------------------------------------------------

    def broker_consume_stats(self, broker_addr: str, group: str, *, topic: str | None = None) -> ConsumeStats:
        fields = {"consumerGroup": group, "topic": topic}
        response = self.invoke(broker_addr, RequestCode.GET_CONSUME_STATS, fields=fields)
        return _parse(response, ConsumeStats.from_wire, "consume stats")

    def consume_stats(
        self, group: str, *, topic: str | None = None, cluster: str | None = None
    ) -> ConsumeStats:
        """A group's progress on every master (of ``cluster`` when given), merged."""
        stats = ConsumeStats(offsets={})
        for broker in self.cluster_info().brokers_in(cluster):
            if broker.master_addr:
                stats = stats.merge(self.broker_consume_stats(broker.master_addr, group, topic=topic))
        return stats

    # -- subscription groups ---------------------------------------------------------------------

    def topic_configs(self, broker_addr: str) -> Mapping[str, TopicConfig]:
        """Every topic's config on one broker, by topic name (system topics included)."""
        response = self.invoke(broker_addr, GET_ALL_TOPIC_CONFIG)
        return _parse(response, _topic_table, "topic config table")

    def subscription_groups(self, broker_addr: str) -> Mapping[str, Mapping[str, Any]]:
        """Every subscription group's config on one broker, by group name, as the broker holds it."""
        response = self.invoke(broker_addr, GET_ALL_SUBSCRIPTIONGROUP_CONFIG)
        return _parse(response, _group_table, "subscription group table")

    def create_subscription_group(self, broker_addr: str, config: Mapping[str, Any]) -> None:
        """Create or update a subscription group from its config (``groupName`` and any of RocketMQ's
        ``SubscriptionGroupConfig`` fields; the broker's defaults fill the rest)."""
        if not config.get("groupName"):
            raise ValueError("a subscription group config needs groupName")
        body = json.dumps(dict(config), separators=(",", ":")).encode("utf-8")
        self.invoke(broker_addr, RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, body=body)

    def delete_subscription_group(self, broker_addr: str, group: str, *, clean_offset: bool = False) -> None:
        self.invoke(broker_addr, DELETE_SUBSCRIPTIONGROUP,
                    fields={"groupName": group, "cleanOffset": clean_offset})

    def topic_consumers(self, broker_addr: str, topic: str) -> frozenset[str]:
        """The groups that consume ``topic`` on one broker: online subscribers and groups with offsets."""
        response = self.invoke(broker_addr, QUERY_TOPIC_CONSUME_BY_WHO, fields={"topic": topic})
        return _parse(response, lambda data: frozenset(map(str, data.get("groupList") or ())), "group list")

    def topic_stats(self, broker_addr: str, topic: str) -> Mapping[MessageQueue, tuple[int, int]]:
        """``(min offset, max offset)`` of each of the topic's queues on one broker."""
        response = self.invoke(broker_addr, GET_TOPIC_STATS_INFO, fields={"topic": topic})
        return _parse(response, _topic_offsets, "topic stats")

    # -- helpers ---------------------------------------------------------------------------------

    def _namesrv_read(self, code: int, *, fields: Mapping[str, Any] | None = None) -> RemotingCommand:
        """Ask the name servers in order; the first answer wins, transport failures move on."""
        failure: RemotingError | None = None
        for addr in self._require_namesrv():
            try:
                return self.invoke(addr, code, fields=fields)
            except ResponseError:
                raise
            except RemotingError as exc:
                failure = exc
        assert failure is not None
        raise failure

    def _write_perm(self, code: int, broker_name: str, count_field: str) -> WritePermResult:
        counts: dict[str, int] = {}
        errors: dict[str, RemotingError] = {}
        for addr in self._require_namesrv():
            try:
                response = self.invoke(addr, code, fields={"brokerName": broker_name})
                counts[addr] = int(response.ext_fields.get(count_field) or 0)
            except RemotingError as exc:
                errors[addr] = exc
            except ValueError as exc:
                errors[addr] = ProtocolError(f"bad {count_field}: {exc}", addr=addr)
        return WritePermResult(counts, errors)

    def _require_namesrv(self) -> tuple[str, ...]:
        if not self.namesrv_addrs:
            raise ValueError("this operation needs name server addresses")
        return self.namesrv_addrs

    def _target_brokers(self, *, cluster: str | None, broker_addr: str | None) -> tuple[str, ...]:
        if (cluster is None) == (broker_addr is None):
            raise ValueError("give exactly one of cluster= and broker_addr=")
        if broker_addr is not None:
            return (broker_addr,)
        info = self.cluster_info()
        if cluster not in info.clusters:
            raise ValueError(f"cluster {cluster!r} is not registered on the name servers")
        return tuple(b.master_addr for b in info.brokers_in(cluster) if b.master_addr)


def _field(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse(response: RemotingCommand, build: Callable[[Any], T], what: str) -> T:
    try:
        return build(fastjson.loads(response.body))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ProtocolError(f"malformed {what} body: {exc}") from exc


def _topic_table(data: Any) -> Mapping[str, TopicConfig]:
    table = data.get("topicConfigTable") or {}
    if not isinstance(table, dict):
        raise TypeError("topicConfigTable is not a JSON object")
    return MappingProxyType({str(name): TopicConfig(
        name=str(name), read_queue_nums=int(c.get("readQueueNums", 8)),
        write_queue_nums=int(c.get("writeQueueNums", 8)),
        perm=int(c.get("perm", 6)), order=bool(c.get("order", False)),
        attributes={str(k): str(v) for k, v in (c.get("attributes") or {}).items()})
        for name, c in table.items()})


def _group_table(data: Any) -> Mapping[str, Mapping[str, Any]]:
    table = data.get("subscriptionGroupTable") or {}
    if not isinstance(table, dict):
        raise TypeError("subscriptionGroupTable is not a JSON object")
    return MappingProxyType({str(name): MappingProxyType(dict(config)) for name, config in table.items()})


def _topic_offsets(data: Any) -> Mapping[MessageQueue, tuple[int, int]]:
    offsets = {}
    for key, value in (data.get("offsetTable") or {}).items():
        queue = dict(key)
        mq = MessageQueue(str(queue["topic"]), str(queue["brokerName"]), int(queue["queueId"]))
        offsets[mq] = (int(value.get("minOffset", 0)), int(value.get("maxOffset", 0)))
    return MappingProxyType(dict(sorted(offsets.items())))


def _decode_properties(body: bytes) -> dict[str, str]:
    """GET_BROKER_CONFIG's body: ``key=value`` lines, unescaped, as the broker writes them."""
    result = {}
    for line in body.decode("utf-8", errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.lstrip().startswith(("#", "!")):
            result[key.strip()] = value
    return result


def _encode_properties(properties: Mapping[str, str]) -> bytes:
    """A body that ``java.util.Properties.load`` (ISO-8859-1, backslash escapes) reads back exactly."""
    lines: Iterable[str] = (
        f"{_escape(key, is_key=True)}={_escape(value, is_key=False)}" for key, value in properties.items()
    )
    return ("\n".join(lines) + "\n").encode("ascii")


def _escape(text: str, *, is_key: bool) -> str:
    out = []
    for index, char in enumerate(text):
        if char == "\\":
            out.append("\\\\")
        elif char in "\t\n\r\f":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f"}[char])
        elif char in "=:#!" or (char == " " and (is_key or index == 0)):
            out.append("\\" + char)
        elif not 0x20 <= ord(char) < 0x7F:
            out.append("".join(f"\\u{unit:04x}" for unit in _utf16_units(char)))
        else:
            out.append(char)
    return "".join(out)


def _utf16_units(char: str) -> tuple[int, ...]:
    data = char.encode("utf-16-be")
    return tuple(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
