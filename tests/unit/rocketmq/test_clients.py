"""Producer, PullConsumer and route handling against local fake peers that answer like RocketMQ 5.3.3:
retries on another broker, statuses that are not retried, wiped write permission, slave reads,
moved offsets, commits to masters only — the paths real brokers rarely take on demand."""

from __future__ import annotations

import json
import socket
import threading
import time
import zlib
from collections.abc import Callable

import pytest

from rocketmq_operator.rocketmq import MessageQueue, RemotingError, RemotingTimeout, TopicNotFound, TopicRoute
from rocketmq_operator.rocketmq.consumer import PullConsumer, PullStatus
from rocketmq_operator.rocketmq.message import Message, decode_properties
from rocketmq_operator.rocketmq.producer import Producer, SendFailed, SendStatus
from rocketmq_operator.rocketmq.protocol import RemotingCommand, RequestCode, ResponseCode
from rocketmq_operator.rocketmq.routes import RouteCache, broker_addr, readable_queues, writable_queues
from tests.fakeclock import FakeClock
from tests.unit.rocketmq.rmq_fakes import FakeServer, hold_open, respond, serve_forever
from tests.unit.rocketmq.rmq_vectors import stored

Reply = Callable[[RemotingCommand], bytes]


class Peer(FakeServer):
    """A fake name server or broker: ``replies[code](request)`` answers, every request is recorded."""

    def __init__(self, replies: dict[int, Reply]) -> None:
        self.replies = replies
        self.requests: list[RemotingCommand] = []
        self._lock = threading.Lock()
        super().__init__(serve_forever(self._reply))

    def _reply(self, request: RemotingCommand) -> bytes:
        with self._lock:
            self.requests.append(request)
        handler = self.replies.get(request.code)
        return handler(request) if handler else respond(request, code=ResponseCode.REQUEST_CODE_NOT_SUPPORTED)

    def codes(self) -> list[int]:
        with self._lock:
            return [r.code for r in self.requests]


def route_body(groups: dict[str, dict[int, str]], *, queues: int = 2, perm: int = 6) -> bytes:
    return json.dumps(
        {
            "brokerDatas": [
                {"brokerName": name, "cluster": "C", "brokerAddrs": {str(i): a for i, a in addrs.items()}}
                for name, addrs in groups.items()
            ],
            "queueDatas": [
                {"brokerName": name, "perm": perm, "readQueueNums": queues, "writeQueueNums": queues}
                for name in groups
            ],
        }
    ).encode()


def namesrv(routes: dict[str, bytes]) -> Peer:
    def route(request: RemotingCommand) -> bytes:
        body = routes.get(request.ext_fields["topic"])
        if body is None:
            return respond(request, code=ResponseCode.TOPIC_NOT_EXIST, remark="no route")
        return respond(request, body=body)

    return Peer({RequestCode.GET_ROUTEINFO_BY_TOPIC: route})


def stored_answer(code: int = 0) -> Reply:
    def answer(request: RemotingCommand) -> bytes:
        fields = {
            "msgId": "0A00000200002A9F0000000000000000",
            "queueId": request.ext_fields["e"],
            "queueOffset": "5",
        }
        return respond(request, code=code, fields=fields)

    return answer


def refuse(code: int) -> Reply:
    return lambda request: respond(request, code=code, remark="refused")


# -- producer ------------------------------------------------------------------------------------


def test_a_busy_broker_is_retried_on_another_group_with_the_compact_v2_header():
    with (
        Peer({RequestCode.SEND_MESSAGE_V2: refuse(ResponseCode.SYSTEM_BUSY)}) as busy,
        Peer({RequestCode.SEND_MESSAGE_V2: stored_answer()}) as ok,
        namesrv({"T": route_body({"a": {0: busy.addr}, "b": {0: ok.addr}})}) as ns,
        Producer(ns.addr, group="G", retry_backoff=0) as producer,
    ):
        result = producer.send(Message("T", b"body", keys=("k1",), tags="TagA"))
    assert result.status is SendStatus.SEND_OK and result.attempts == 2
    assert (result.queue.broker_name, result.queue_offset, result.broker_addr) == ("b", 5, ok.addr)
    (request,) = ok.requests
    fields = request.ext_fields
    assert {k: fields[k] for k in "abcdefhjkmn"} == {
        "a": "G",
        "b": "T",
        "c": "TBW102",
        "d": "4",
        "e": fields["e"],
        "f": "0",
        "h": "0",
        "j": "0",
        "k": "false",
        "m": "false",
        "n": "b",
    }
    assert int(fields["g"]) > 1_700_000_000_000 and request.body == b"body"
    properties = decode_properties(fields["i"])
    assert properties == {"KEYS": "k1", "TAGS": "TagA", "UNIQ_KEY": result.msg_id, "WAIT": "true"}


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (ResponseCode.FLUSH_DISK_TIMEOUT, SendStatus.FLUSH_DISK_TIMEOUT),
        (ResponseCode.FLUSH_SLAVE_TIMEOUT, SendStatus.FLUSH_SLAVE_TIMEOUT),
        (ResponseCode.SLAVE_NOT_AVAILABLE, SendStatus.SLAVE_NOT_AVAILABLE),
    ],
)
def test_stored_without_flush_or_replication_is_a_status_and_not_retried(code, status):
    with (
        Peer({RequestCode.SEND_MESSAGE_V2: stored_answer(code)}) as broker,
        namesrv({"T": route_body({"a": {0: broker.addr}})}) as ns,
        Producer(ns.addr) as producer,
    ):
        assert producer.send(Message("T", b"x")).status is status
        assert len(broker.requests) == 1


def test_a_refusal_no_other_broker_would_change_is_raised_after_one_attempt():
    with (
        Peer({RequestCode.SEND_MESSAGE_V2: refuse(13)}) as broker,  # MESSAGE_ILLEGAL
        namesrv({"T": route_body({"a": {0: broker.addr}})}) as ns,
        Producer(ns.addr) as producer,
        pytest.raises(SendFailed, match="response code 13") as caught,
    ):
        producer.send(Message("T", b"x"))
    assert len(caught.value.errors) == 1 and len(broker.requests) == 1


def test_retries_stop_at_max_attempts_and_the_error_lists_each():
    with (
        Peer({RequestCode.SEND_MESSAGE_V2: refuse(ResponseCode.SYSTEM_ERROR)}) as broker,
        namesrv({"T": route_body({"a": {0: broker.addr}})}) as ns,
        Producer(ns.addr, max_attempts=3, retry_backoff=0) as producer,
        pytest.raises(SendFailed) as caught,
    ):
        producer.send(Message("T", b"x"))
    assert [name for name, _ in caught.value.errors] == ["a", "a", "a"] and len(broker.requests) == 3


def test_a_group_whose_write_permission_was_wiped_gets_nothing():
    with (
        Peer({RequestCode.SEND_MESSAGE_V2: stored_answer()}) as broker,
        namesrv({"T": route_body({"a": {0: broker.addr}}, perm=4)}) as ns,
        Producer(ns.addr, retry_backoff=0) as producer,
        pytest.raises(SendFailed, match="no writable queue"),
    ):
        producer.send(Message("T", b"x"))
    assert broker.requests == []


def test_an_unknown_topic_is_sent_by_the_default_topics_route_and_big_bodies_go_compressed():
    body = b"abc" * 3000
    with (
        Peer({RequestCode.SEND_MESSAGE_V2: stored_answer()}) as broker,
        namesrv({"TBW102": route_body({"a": {0: broker.addr}}, queues=8)}) as ns,
        Producer(ns.addr) as producer,
    ):
        assert producer.send(Message("new", body)).queue.topic == "new"
        for _ in range(7):
            producer.send(Message("new", b"small"))
        with Producer(ns.addr, auto_create_topic=False) as strict, pytest.raises(SendFailed, match="code 17"):
            strict.send(Message("new", b"x"))
    first = broker.requests[0]
    assert int(first.ext_fields["f"]) == 0x301 and zlib.decompress(first.body) == body  # COMPRESSED | ZLIB
    assert {int(r.ext_fields["e"]) for r in broker.requests} == {0, 1, 2, 3}  # at most 4 default queues
    assert {int(r.ext_fields["f"]) for r in broker.requests[1:]} == {0}


# -- consumer ------------------------------------------------------------------------------------


def pull_answer(messages: bytes, *, suggest: int = 0, code: int = 0, next_offset: int = 1) -> Reply:
    def answer(request: RemotingCommand) -> bytes:
        fields = {
            "nextBeginOffset": str(next_offset),
            "minOffset": "0",
            "maxOffset": "9",
            "suggestWhichBrokerId": str(suggest),
        }
        return respond(request, code=code, body=messages if code == 0 else b"", fields=fields)

    return answer


def offsets_answer(offset: int | None) -> Reply:
    def answer(request: RemotingCommand) -> bytes:
        if offset is None:
            return respond(request, code=ResponseCode.QUERY_NOT_FOUND)
        return respond(request, fields={"offset": str(offset)})

    return answer


def test_with_the_master_gone_the_slave_is_pulled_and_commits_wait_for_a_master():
    replies = {
        RequestCode.QUERY_CONSUMER_OFFSET: offsets_answer(None),
        RequestCode.GET_MAX_OFFSET: offsets_answer(0),
        RequestCode.PULL_MESSAGE: pull_answer(stored(body=b"m"), suggest=1),
    }
    with (
        Peer(replies) as slave,
        namesrv({"T": route_body({"a": {1: slave.addr}}, queues=1)}) as ns,
        PullConsumer(ns.addr, group="G", topic="T", start_from="latest") as consumer,
    ):
        assert [m.body for m in consumer.poll()] == [b"m"]
        assert consumer.commit() == 0  # no master: the offset stays due
        assert dict(consumer.offsets) == {MessageQueue("T", "a", 0): 1}
        assert dict(consumer.received_from) == {("a", 1): 1}
    pull = next(r for r in slave.requests if r.code == RequestCode.PULL_MESSAGE)
    assert {
        k: pull.ext_fields[k] for k in ("consumerGroup", "topic", "queueId", "queueOffset", "sysFlag")
    } == {"consumerGroup": "G", "topic": "T", "queueId": "0", "queueOffset": "0", "sysFlag": "4"}
    assert (pull.ext_fields["subscription"], pull.ext_fields["expressionType"]) == ("*", "TAG")
    assert RequestCode.UPDATE_CONSUMER_OFFSET not in slave.codes()


def test_committed_offsets_start_the_queue_and_moved_offsets_are_followed():
    replies = {
        RequestCode.QUERY_CONSUMER_OFFSET: offsets_answer(7),
        RequestCode.PULL_MESSAGE: pull_answer(b"", code=ResponseCode.PULL_OFFSET_MOVED, next_offset=3),
        RequestCode.UPDATE_CONSUMER_OFFSET: lambda request: respond(request),
    }
    with (
        Peer(replies) as master,
        namesrv({"T": route_body({"a": {0: master.addr}}, queues=1)}) as ns,
        PullConsumer(ns.addr, group="G", topic="T") as consumer,
    ):
        assert consumer.poll() == []
        assert dict(consumer.offsets) == {MessageQueue("T", "a", 0): 3}
        assert consumer.commit() == 1 and consumer.commit() == 0
        result = consumer.pull(MessageQueue("T", "a", 0), 3, addr=master.addr)
    assert result.status is PullStatus.OFFSET_ILLEGAL and result.next_begin_offset == 3
    assert (
        next(r for r in master.requests if r.code == RequestCode.PULL_MESSAGE).ext_fields["queueOffset"]
        == "7"
    )
    commit = next(r for r in master.requests if r.code == RequestCode.UPDATE_CONSUMER_OFFSET)
    assert (commit.ext_fields["commitOffset"], commit.ext_fields["queueId"]) == ("3", "0")


def test_a_refusing_queue_is_reported_and_the_others_are_still_pulled():
    good = {
        RequestCode.QUERY_CONSUMER_OFFSET: offsets_answer(0),
        RequestCode.PULL_MESSAGE: pull_answer(stored(body=b"ok")),
    }
    bad = {**good, RequestCode.PULL_MESSAGE: refuse(ResponseCode.SYSTEM_BUSY)}
    with (
        Peer(bad) as refusing,
        Peer(good) as serving,
        namesrv({"T": route_body({"a": {0: refusing.addr}, "b": {0: serving.addr}}, queues=1)}) as ns,
        PullConsumer(ns.addr, group="G", topic="T") as consumer,
    ):
        assert [m.body for m in consumer.poll()] == [b"ok"]
        assert set(consumer.errors) == {MessageQueue("T", "a", 0)}
        assert consumer.queues == (MessageQueue("T", "a", 0), MessageQueue("T", "b", 0))


def test_a_topic_without_a_route_raises_from_poll():
    with (
        namesrv({}) as ns,
        PullConsumer(ns.addr, group="G", topic="T") as consumer,
        pytest.raises(TopicNotFound),
    ):
        consumer.poll()


# -- routes --------------------------------------------------------------------------------------


def route(groups: dict[str, dict[int, str]], *, perm: int = 6, queues: int = 2) -> TopicRoute:
    return TopicRoute.from_wire("T", json.loads(route_body(groups, perm=perm, queues=queues)))


def test_writable_queues_need_write_permission_and_a_master_readable_ones_any_member():
    both = route({"a": {0: "m:1", 1: "s:1"}, "b": {1: "s:2"}})
    assert writable_queues(both) == [MessageQueue("T", "a", 0), MessageQueue("T", "a", 1)]
    assert [q.broker_name for q in readable_queues(both)] == ["a", "a", "b", "b"]
    assert writable_queues(route({"a": {0: "m:1"}}, perm=4)) == []
    assert readable_queues(route({"a": {0: "m:1"}}, perm=2)) == []
    assert len(writable_queues(route({"a": {0: "m:1"}}, queues=8), limit=4)) == 4


def test_broker_addr_takes_the_suggestion_else_the_master_else_the_lowest_slave():
    members = route({"a": {0: "m", 1: "s1", 2: "s2"}, "b": {2: "s2", 1: "s1"}})
    assert broker_addr(members, "a", prefer=1) == (1, "s1")
    assert broker_addr(members, "a", prefer=5) == (0, "m")
    assert broker_addr(members, "b") == (1, "s1")
    assert broker_addr(members, "gone") is None


def test_the_route_cache_refreshes_on_ttl_or_when_stale_but_not_faster_than_min_interval():
    clock, calls = FakeClock(), []
    answers: list[TopicRoute | Exception] = [route({"a": {0: "m"}}), route({"b": {0: "m"}})]

    def fetch(topic: str) -> TopicRoute:
        calls.append(clock.now())
        answer = answers.pop(0) if answers else RemotingError("down")
        if isinstance(answer, Exception):
            raise answer
        return answer

    cache = RouteCache(fetch, ttl=30, min_interval=1, clock=clock)
    assert cache.get("T").brokers[0].name == "a"
    cache.invalidate("T")
    clock.step(0.5)
    assert cache.get("T").brokers[0].name == "a" and len(calls) == 1  # stale, but too soon
    clock.step(0.5)
    assert cache.get("T").brokers[0].name == "b" and len(calls) == 2
    clock.step(30)
    assert cache.get("T").brokers[0].name == "b" and len(calls) == 3  # refresh failed: keep the last route
    assert cache.get("T").brokers[0].name == "b" and len(calls) == 3  # and do not ask again at once
    with pytest.raises(RemotingError):
        RouteCache(fetch, clock=clock).get("T")


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def test_a_master_that_cannot_be_reached_gets_no_sends_until_its_isolation_ends():
    clock, dead = FakeClock(), closed_port()
    with (
        Peer({RequestCode.SEND_MESSAGE_V2: stored_answer()}) as ok,
        namesrv({"T": route_body({"a": {0: dead}, "b": {0: ok.addr}})}) as ns,
        Producer(ns.addr, retry_backoff=0, isolation=3.0, clock=clock) as producer,
    ):
        results = [producer.send(Message("T", b"x")) for _ in range(6)]
        assert {r.queue.broker_name for r in results} == {"b"}
        assert [r.attempts for r in results].count(2) == 1  # only the first send tried "a"
        clock.step(3.1)
        assert [producer.send(Message("T", b"x")).attempts for _ in range(2)].count(2) == 1  # "a" again


def test_a_hung_broker_costs_one_timeout_per_poll_not_one_per_queue():
    with (
        FakeServer(hold_open) as hung,
        namesrv({"T": route_body({"a": {0: hung.addr}}, queues=4)}) as ns,
        PullConsumer(ns.addr, group="G", topic="T", request_timeout=0.3) as consumer,
    ):
        started = time.monotonic()
        assert consumer.poll() == []
        assert time.monotonic() - started < 0.6 + 0.3
        assert len(consumer.errors) == 4
        assert all(isinstance(e, RemotingTimeout) for e in consumer.errors.values())
