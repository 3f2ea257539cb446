"""A synchronous RocketMQ producer: SEND_MESSAGE_V2 to the master of a writable queue, with retries.

    with Producer("ns-0:9876;ns-1:9876") as producer:
        result = producer.send(Message("orders", b"...", keys=("order-42",)))
        result.status   # SendStatus.SEND_OK

Queue choice is RocketMQ's: round-robin over the writable queues of broker groups that have a master
(write permission as the name servers report it, so a group whose writes were wiped gets no new
messages). A send that fails for a reason another broker might not have — no connection, a timeout,
a busy or refusing broker — is retried on a queue of another group, if there is one, until
``max_attempts`` or the ``send_timeout`` budget is used up; the route is refreshed after such a failure.
Between attempts the producer waits ``retry_backoff`` seconds of its clock (``close`` cuts it short).
A group whose master could not be reached gets no sends for ``isolation`` seconds while another group
is writable, so a dead or hung master costs one timeout, not one per message.

A broker that stored the message answers SEND_OK, or FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT or
SLAVE_NOT_AVAILABLE when it stored it without the flush or replication its configuration asks for;
those statuses are returned, not retried (a retry would store the message twice). Anything else
raises ``SendFailed`` with every attempt's error. A timed-out send may still have been stored, so a
message that raised can arrive at consumers; one that returned is stored on the broker it names.

Bodies of ``compress_over`` bytes or more are sent zlib-compressed, as the Java client does.
"""

from __future__ import annotations

import enum
import itertools
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from rocketmq_operator.clock import REAL_CLOCK, Clock

from .admin import DEFAULT_TOPIC, AdminClient
from .errors import ProtocolError, RemotingError, ResponseError, TopicNotFound
from .message import COMPRESSED_FLAG, ZLIB_COMPRESSION, Message, UniqKeyGenerator, encode_properties
from .protocol import RemotingCommand, RequestCode, ResponseCode
from .routes import RouteCache, writable_queues
from .types import MessageQueue, TopicRoute

__all__ = ["DEFAULT_PRODUCER_GROUP", "Producer", "SendFailed", "SendResult", "SendStatus"]

DEFAULT_PRODUCER_GROUP = "DEFAULT_PRODUCER"
DEFAULT_TOPIC_QUEUE_NUMS = 4
# The codes after which RocketMQ's own producer tries another broker.
RETRY_CODES = frozenset({1, 2, 14, 16, 17, 204, 205, 1500})


class SendStatus(enum.Enum):
    SEND_OK = ResponseCode.SUCCESS
    FLUSH_DISK_TIMEOUT = ResponseCode.FLUSH_DISK_TIMEOUT
    FLUSH_SLAVE_TIMEOUT = ResponseCode.FLUSH_SLAVE_TIMEOUT
    SLAVE_NOT_AVAILABLE = ResponseCode.SLAVE_NOT_AVAILABLE


_STATUS_BY_CODE = {int(status.value): status for status in SendStatus}


@dataclass(frozen=True)
class SendResult:
    status: SendStatus
    msg_id: str  # the producer's id (UNIQ_KEY); consumers see it as MessageExt.uniq_key
    offset_msg_id: str  # the broker's id: store host and commit-log offset
    queue: MessageQueue
    queue_offset: int
    broker_addr: str
    attempts: int


class SendFailed(RemotingError):
    """Every attempt failed; ``errors`` holds each attempt's broker name (or None) and error."""

    def __init__(self, message: str, errors: Sequence[tuple[str | None, RemotingError]]) -> None:
        detail = "; ".join(f"{name or '-'}: {exc}" for name, exc in errors)
        super().__init__(f"{message}: {detail}" if detail else message)
        self.errors = tuple(errors)


class Producer:
    """Sends messages to the topics the name servers route. One instance can be shared by threads."""

    def __init__(
        self,
        namesrv_addrs: str | Sequence[str],
        *,
        group: str = DEFAULT_PRODUCER_GROUP,
        send_timeout: float = 3.0,
        connect_timeout: float = 1.0,
        max_attempts: int = 3,
        retry_backoff: float = 0.05,
        route_ttl: float = 30.0,
        compress_over: int = 4096,
        compress_level: int = 5,
        auto_create_topic: bool = True,
        isolation: float = 3.0,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.group = group
        self.isolation = isolation
        self.send_timeout = send_timeout
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        self.compress_over = compress_over
        self.compress_level = compress_level
        self.auto_create_topic = auto_create_topic
        self._clock = clock
        self._admin = AdminClient(
            namesrv_addrs, connect_timeout=connect_timeout, request_timeout=send_timeout, clock=clock
        )
        self._routes = RouteCache(self._fetch_route, ttl=route_ttl, clock=clock)
        self._ids = UniqKeyGenerator()
        self._next_queue = itertools.count()
        self._closed = threading.Event()
        self._isolated: dict[str, float] = {}  # broker name → until (clock seconds)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._closed.set()
        self._admin.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, message: Message) -> SendResult:
        """Send once, retrying on another broker as described above; raises ``SendFailed``."""
        deadline = self._clock.now() + self.send_timeout
        errors: list[tuple[str | None, RemotingError]] = []
        failed: set[str] = set()
        body, sys_flag = self._body(message.body)
        msg_id = self._ids.next(now=self._clock.wall())
        properties = encode_properties(message.wire_properties(msg_id))
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1 and not self._back_off(deadline):
                break
            remaining = deadline - self._clock.now()
            if remaining <= 0 or self._closed.is_set():
                break
            try:
                queue, addr = self._choose(message.topic, failed)
            except RemotingError as exc:
                errors.append((None, exc))
                continue
            fields = self._header(message, queue, sys_flag=sys_flag, properties=properties)
            try:
                response = self._admin.request(
                    addr, RequestCode.SEND_MESSAGE_V2, fields=fields, body=body, timeout=remaining
                )
                return self._result(response, queue, addr, msg_id=msg_id, attempts=attempt)
            except RemotingError as exc:
                errors.append((queue.broker_name, exc))
                if isinstance(exc, ResponseError) and exc.code not in RETRY_CODES:
                    break
                failed.add(queue.broker_name)
                self._routes.invalidate(message.topic)
                if not isinstance(exc, ResponseError):
                    with self._lock:
                        self._isolated[queue.broker_name] = self._clock.now() + self.isolation
        raise SendFailed(f"sending to {message.topic!r} failed after {len(errors)} attempt(s)", errors)

    def _body(self, body: bytes) -> tuple[bytes, int]:
        if len(body) >= self.compress_over:
            return zlib.compress(body, self.compress_level), COMPRESSED_FLAG | ZLIB_COMPRESSION
        return body, 0

    def _back_off(self, deadline: float) -> bool:
        """Wait ``retry_backoff`` (bounded by the deadline); False when closed meanwhile."""
        delay = min(self.retry_backoff, max(deadline - self._clock.now(), 0.0))
        if delay > 0:
            self._clock.wait(self._closed, delay)
        return not self._closed.is_set()

    def _choose(self, topic: str, failed: set[str]) -> tuple[MessageQueue, str]:
        route = self._routes.get(topic)
        queues = writable_queues(route, topic=topic, limit=self._queue_limit(route, topic))
        if not queues:
            raise ResponseError(ResponseCode.NO_PERMISSION, f"no writable queue with a master for {topic!r}")
        now = self._clock.now()
        with self._lock:
            avoid = failed | {name for name, until in self._isolated.items() if until > now}
        fresh = (
            [q for q in queues if q.broker_name not in avoid]
            or [q for q in queues if q.broker_name not in failed]
            or queues
        )
        queue = fresh[next(self._next_queue) % len(fresh)]
        master = next(b.master_addr for b in route.brokers if b.name == queue.broker_name)
        assert master is not None  # writable_queues keeps only groups with a master
        return queue, master

    def _queue_limit(self, route: TopicRoute, topic: str) -> int | None:
        return DEFAULT_TOPIC_QUEUE_NUMS if route.topic != topic else None

    def _fetch_route(self, topic: str) -> TopicRoute:
        try:
            return self._admin.topic_route(topic)
        except TopicNotFound:
            if not self.auto_create_topic:
                raise
            # Like RocketMQ's client: send by the default topic's route; the broker creates the topic.
            return self._admin.topic_route(DEFAULT_TOPIC)

    def _header(self, message: Message, queue: MessageQueue, *, sys_flag: int, properties: str) -> dict:
        """SEND_MESSAGE_V2's compact header (SendMessageRequestHeaderV2's one-letter fields)."""
        return {
            "a": self.group,
            "b": message.topic,
            "c": DEFAULT_TOPIC,
            "d": DEFAULT_TOPIC_QUEUE_NUMS,
            "e": queue.queue_id,
            "f": sys_flag,
            "g": int(self._clock.wall() * 1000),
            "h": message.flag,
            "i": properties,
            "j": 0,
            "k": False,
            "m": False,
            "n": queue.broker_name,
        }

    def _result(
        self, response: RemotingCommand, queue: MessageQueue, addr: str, *, msg_id: str, attempts: int
    ) -> SendResult:
        status = _STATUS_BY_CODE.get(response.code)
        if status is None:
            raise ResponseError(response.code, response.remark, addr=addr)
        fields = response.ext_fields
        try:
            queue_id, queue_offset = int(fields["queueId"]), int(fields["queueOffset"])
        except (KeyError, ValueError) as exc:
            raise ProtocolError(
                f"send response without a valid queueId/queueOffset: {exc}", addr=addr
            ) from exc
        return SendResult(
            status=status,
            msg_id=msg_id,
            offset_msg_id=fields.get("msgId", ""),
            queue=MessageQueue(queue.topic, queue.broker_name, queue_id),
            queue_offset=queue_offset,
            broker_addr=addr,
            attempts=attempts,
        )
