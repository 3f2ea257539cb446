"""A synchronous pull consumer: PULL_MESSAGE over every queue of a topic, offsets kept by the caller's side.

    with PullConsumer("ns-0:9876", group="audit", topic="orders") as consumer:
        while running:
            for message in consumer.poll():
                handle(message)
            consumer.commit()      # UPDATE_CONSUMER_OFFSET: the group's lag on the brokers is real

One instance reads every read queue of every broker group in the topic's route (no rebalancing
between instances). ``poll`` pulls each queue once, without suspending on the broker, and returns what
it found; it waits for nothing, so the caller decides how long to idle when a round is empty. The next
offset of each queue is kept in memory: a queue seen for the first time starts at the group's
committed offset on the broker, else at ``start_from`` ("earliest" or "latest") if it was in the first
route the consumer read, else at the earliest offset — a queue that appears later (a new broker group)
is new, and starting it at "latest" would skip what producers sent there before it was noticed.

Routes are followed: the route is read again every ``route_ttl`` seconds and soon after any failure,
so queues of a new broker group appear and those of a removed one stop being pulled. A pull goes to
the member the previous response suggested (``suggestWhichBrokerId``), else the master, else — while
the master is gone — the lowest slave, as RocketMQ's client does; a slave that does not serve reads
(``slaveReadEnable=false``) refuses and the queue is tried again at the next poll. Failures of one
queue never stop the others: each queue's last error is in ``errors`` until it pulls again, and a
broker that could not be reached is not tried again for its other queues in the same poll, so a hung
broker costs one request timeout per poll.

A broker that says the offset is out of range (PULL_OFFSET_MOVED) gives the offset to continue from,
which the consumer takes. Moving back yields messages again; moving forward happens only past
messages the broker no longer holds. Offsets are committed to masters only.

Every queue request names its broker group (``bname``), as RocketMQ's own clients do: brokers ignore it,
and a RocketMQ 5 proxy, which stands for every broker of the route, forwards by it.
"""

from __future__ import annotations

import enum
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Self

from rocketmq_operator.clock import REAL_CLOCK, Clock

from .admin import AdminClient
from .errors import ProtocolError, RemotingError, ResponseError, TopicNotFound
from .message import MessageExt, MessageFormatError, decode_messages
from .protocol import RemotingCommand, RequestCode, ResponseCode
from .routes import RouteCache, broker_addr, readable_queues
from .types import MASTER_ID, MessageQueue

__all__ = ["PullConsumer", "PullResult", "PullStatus"]

FLAG_SUBSCRIPTION = 0x1 << 2
StartFrom = Literal["earliest", "latest"]


class PullStatus(enum.Enum):
    FOUND = ResponseCode.SUCCESS
    NO_NEW_MSG = ResponseCode.PULL_NOT_FOUND
    NO_MATCHED_MSG = ResponseCode.PULL_RETRY_IMMEDIATELY
    OFFSET_ILLEGAL = ResponseCode.PULL_OFFSET_MOVED


_STATUS_BY_CODE = {int(status.value): status for status in PullStatus}


@dataclass(frozen=True)
class PullResult:
    status: PullStatus
    messages: tuple[MessageExt, ...]
    next_begin_offset: int
    min_offset: int
    max_offset: int
    suggest_which_broker_id: int
    broker_id: int  # the member that answered


class PullConsumer:
    """Pulls one topic for one consumer group. Not for use by several threads at once."""

    def __init__(
        self,
        namesrv_addrs: str | Sequence[str],
        *,
        group: str,
        topic: str,
        start_from: StartFrom = "earliest",
        batch_size: int = 32,
        request_timeout: float = 3.0,
        connect_timeout: float = 1.0,
        route_ttl: float = 30.0,
        route_min_interval: float = 1.0,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        if start_from not in ("earliest", "latest"):
            raise ValueError(f"start_from must be 'earliest' or 'latest', not {start_from!r}")
        self.group = group
        self.topic = topic
        self.start_from = start_from
        self.batch_size = batch_size
        self._clock = clock
        self._admin = AdminClient(
            namesrv_addrs, connect_timeout=connect_timeout, request_timeout=request_timeout, clock=clock
        )
        self._routes = RouteCache(
            self._admin.topic_route, ttl=route_ttl, min_interval=route_min_interval, clock=clock
        )
        self._offsets: dict[MessageQueue, int] = {}
        self._committed: dict[MessageQueue, int] = {}
        self._suggested: dict[MessageQueue, int] = {}
        self._errors: dict[MessageQueue, RemotingError] = {}
        self._received_from: Counter[tuple[str, int]] = Counter()
        self._queues: tuple[MessageQueue, ...] = ()
        self._first_queues: frozenset[MessageQueue] | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._admin.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what the consumer knows ----------------------------------------------------------------

    @property
    def queues(self) -> tuple[MessageQueue, ...]:
        """The queues the last poll read."""
        return self._queues

    @property
    def offsets(self) -> Mapping[MessageQueue, int]:
        """Next offset to pull, per queue."""
        with self._lock:
            return MappingProxyType(dict(self._offsets))

    @property
    def received_from(self) -> Mapping[tuple[str, int], int]:
        """Messages received so far per (broker name, broker id) that served them."""
        return MappingProxyType(dict(self._received_from))

    @property
    def errors(self) -> Mapping[MessageQueue, RemotingError]:
        """Each queue's error from its last failed pull (cleared when it pulls again)."""
        return MappingProxyType(dict(self._errors))

    # -- polling --------------------------------------------------------------------------------

    def poll(self) -> list[MessageExt]:
        """Pull every queue once; raises only when the topic's route cannot be read at all
        (``TopicNotFound`` while no broker serves the topic yet)."""
        try:
            route = self._routes.get(self.topic)
        except TopicNotFound:
            if self._first_queues is None:
                self._first_queues = frozenset()  # every queue that appears is new
            raise
        self._queues = tuple(readable_queues(route))
        if self._first_queues is None:
            self._first_queues = frozenset(self._queues)
        found: list[MessageExt] = []
        unreachable: dict[str, RemotingError] = {}  # one timeout per broker and round, not per queue
        for queue in self._queues:
            member = broker_addr(route, queue.broker_name, prefer=self._suggested.get(queue, MASTER_ID))
            if member is None:
                continue
            try:
                if member[1] in unreachable:
                    raise unreachable[member[1]]
                found += self._pull_queue(queue, *member)
                self._errors.pop(queue, None)
            except RemotingError as exc:
                self._errors[queue] = exc
                self._suggested.pop(queue, None)
                self._routes.invalidate(self.topic)
                if not isinstance(exc, ResponseError):
                    unreachable[member[1]] = exc
        return found

    def _pull_queue(self, queue: MessageQueue, broker_id: int, addr: str) -> list[MessageExt]:
        offset = self._offsets.get(queue)
        if offset is None:
            offset = self._initial_offset(queue, addr)
        result = self.pull(queue, offset, addr=addr, broker_id=broker_id)
        with self._lock:
            self._offsets[queue] = result.next_begin_offset
        self._suggested[queue] = result.suggest_which_broker_id
        if result.messages:
            self._received_from[(queue.broker_name, broker_id)] += len(result.messages)
        return list(result.messages)

    def pull(self, queue: MessageQueue, offset: int, *, addr: str, broker_id: int = MASTER_ID) -> PullResult:
        """One PULL_MESSAGE of at most ``batch_size`` messages from ``offset``, without suspending."""
        fields = {
            "consumerGroup": self.group,
            "topic": queue.topic,
            "queueId": queue.queue_id,
            "bname": queue.broker_name,
            "queueOffset": offset,
            "maxMsgNums": self.batch_size,
            "sysFlag": FLAG_SUBSCRIPTION,
            "commitOffset": 0,
            "suspendTimeoutMillis": 0,
            "subscription": "*",
            "subVersion": int(self._clock.wall() * 1000),
            "expressionType": "TAG",
        }
        response = self._admin.request(addr, RequestCode.PULL_MESSAGE, fields=fields)
        status = _STATUS_BY_CODE.get(response.code)
        if status is None:
            raise ResponseError(response.code, response.remark, addr=addr)
        return _pull_result(response, status, addr=addr, broker_id=broker_id)

    def _initial_offset(self, queue: MessageQueue, addr: str) -> int:
        committed = self.committed_offset(queue, addr=addr)
        if committed is not None:
            with self._lock:
                self._committed[queue] = committed
            return committed
        latest = self.start_from == "latest" and queue in (self._first_queues or ())
        code = RequestCode.GET_MAX_OFFSET if latest else RequestCode.GET_MIN_OFFSET
        fields = {"topic": queue.topic, "queueId": queue.queue_id, "bname": queue.broker_name}
        return _int_field(self._admin.invoke(addr, code, fields=fields), "offset", addr)

    def committed_offset(self, queue: MessageQueue, *, addr: str) -> int | None:
        """The group's committed offset of ``queue`` on the broker at ``addr``; None when it has none."""
        fields = {
            "consumerGroup": self.group,
            "topic": queue.topic,
            "queueId": queue.queue_id,
            "bname": queue.broker_name,
            "setZeroIfNotFound": False,
        }
        response = self._admin.request(addr, RequestCode.QUERY_CONSUMER_OFFSET, fields=fields)
        if response.code == ResponseCode.QUERY_NOT_FOUND:
            return None
        if response.code != ResponseCode.SUCCESS:
            raise ResponseError(response.code, response.remark, addr=addr)
        return _int_field(response, "offset", addr)

    # -- committing -----------------------------------------------------------------------------

    def commit(self) -> int:
        """UPDATE_CONSUMER_OFFSET for each queue whose offset moved, on its master; returns how many.

        A queue whose master is not registered, or whose commit fails, stays due for the next commit
        (its error is in ``errors``).
        """
        route = self._routes.get(self.topic)
        masters = {b.name: b.master_addr for b in route.brokers if b.master_addr}
        with self._lock:
            due = {q: o for q, o in self._offsets.items() if self._committed.get(q) != o}
        done = 0
        for queue, offset in sorted(due.items()):
            addr = masters.get(queue.broker_name)
            if addr is None:
                continue
            fields = {"consumerGroup": self.group, "topic": queue.topic, "queueId": queue.queue_id,
                      "bname": queue.broker_name}
            try:
                self._admin.invoke(
                    addr, RequestCode.UPDATE_CONSUMER_OFFSET, fields={**fields, "commitOffset": offset}
                )
            except RemotingError as exc:
                self._errors[queue] = exc
                continue
            with self._lock:
                self._committed[queue] = offset
            done += 1
        return done


def _int_field(response: RemotingCommand, name: str, addr: str) -> int:
    try:
        return int(response.ext_fields[name])
    except (KeyError, ValueError) as exc:
        raise ProtocolError(f"response without a valid {name}: {exc}", addr=addr) from exc


def _pull_result(response: RemotingCommand, status: PullStatus, *, addr: str, broker_id: int) -> PullResult:
    messages: tuple[MessageExt, ...] = ()
    if status is PullStatus.FOUND:
        try:
            messages = tuple(decode_messages(response.body))
        except MessageFormatError as exc:
            raise ProtocolError(f"undecodable pull response: {exc}", addr=addr) from exc
    return PullResult(
        status=status,
        messages=messages,
        next_begin_offset=_int_field(response, "nextBeginOffset", addr),
        min_offset=_int_field(response, "minOffset", addr),
        max_offset=_int_field(response, "maxOffset", addr),
        suggest_which_broker_id=_int_field(response, "suggestWhichBrokerId", addr),
        broker_id=broker_id,
    )
