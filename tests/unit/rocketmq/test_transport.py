"""Transport against local fake peers: opaque matching, connection reuse, and bounded failure."""

from __future__ import annotations

import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from rocketmq_operator.rocketmq.errors import ConnectError, ConnectionLost, ProtocolError, RemotingTimeout
from rocketmq_operator.rocketmq.protocol import RemotingCommand, encode
from rocketmq_operator.rocketmq.transport import Connection, ConnectionPool, split_addr
from tests.fakeclock import FakeClock
from tests.unit.rocketmq.rmq_fakes import FakeServer, hold_open, read_request, respond, serve_forever

pytestmark = pytest.mark.timeout(30)
TIMEOUT = 0.5
SLACK = 1.0


def request(opaque: int = 1) -> RemotingCommand:
    return RemotingCommand(code=106, opaque=opaque)


def echo_body(req: RemotingCommand) -> bytes:
    return respond(req, body=b"body-%d" % req.opaque)


def refused_addr() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"  # closed again: nothing listens there


def call_once(addr: str, *, timeout: float = TIMEOUT) -> RemotingCommand:
    conn = Connection.open(addr, timeout=1.0)
    return conn.call(request(), timeout=timeout)


def assert_fails_within(exc_type, addr: str, seconds: float, match: str | None = None):
    started = time.monotonic()
    with pytest.raises(exc_type, match=match) as caught:
        call_once(addr)
    assert time.monotonic() - started < seconds
    assert caught.value.addr == addr
    return caught.value


def test_the_response_with_the_requests_opaque_is_returned_and_others_are_skipped():
    def behaviour(conn):
        req = read_request(conn)
        stray = RemotingCommand(code=40, opaque=99)  # a server-side request, not a response
        conn.sendall(encode(stray) + respond(req, opaque=req.opaque + 1) + respond(req, body=b"mine"))
        hold_open(conn)

    with FakeServer(behaviour) as server:
        assert call_once(server.addr).body == b"mine"


def test_the_pool_reuses_one_connection_for_sequential_calls():
    pool = ConnectionPool()
    with FakeServer(serve_forever(echo_body)) as server:
        bodies = [pool.call(server.addr, request(n), timeout=TIMEOUT).body for n in (1, 2, 3)]
        assert bodies == [b"body-1", b"body-2", b"body-3"]
        assert (server.accepted, pool.opened_count(server.addr), pool.idle_count(server.addr)) == (1, 1, 1)
    pool.close()


def test_an_idle_connection_the_peer_closed_is_replaced_not_reused():
    def one_answer_then_close(conn):
        conn.sendall(respond(read_request(conn)))
        conn.close()

    pool = ConnectionPool()
    with FakeServer(one_answer_then_close) as server:
        pool.call(server.addr, request(1), timeout=TIMEOUT)
        time.sleep(0.1)  # let the FIN arrive
        pool.call(server.addr, request(2), timeout=TIMEOUT)
        assert server.accepted == 2
    pool.close()


def test_a_connection_idle_longer_than_the_idle_timeout_is_replaced():
    clock = FakeClock()
    pool = ConnectionPool(idle_timeout=60, clock=clock)
    with FakeServer(serve_forever(echo_body)) as server:
        pool.call(server.addr, request(1), timeout=TIMEOUT)
        clock.step(59)
        pool.call(server.addr, request(2), timeout=TIMEOUT)
        clock.step(61)
        pool.call(server.addr, request(3), timeout=TIMEOUT)
        assert pool.opened_count(server.addr) == 2
    pool.close()


def test_a_failed_connection_is_closed_and_never_returned_to_the_pool():
    answers = iter([b"\x00\x00\x00\x09garbage!!", None])

    def behaviour(conn):
        req = read_request(conn)
        conn.sendall(next(answers) or respond(req))
        hold_open(conn)

    pool = ConnectionPool()
    with FakeServer(behaviour) as server:
        with pytest.raises(ProtocolError):
            pool.call(server.addr, request(1), timeout=TIMEOUT)
        assert pool.idle_count(server.addr) == 0
        pool.call(server.addr, request(2), timeout=TIMEOUT)
        assert server.accepted == 2
    pool.close()


def test_concurrent_calls_get_their_own_connections_and_only_max_idle_are_kept():
    def slow_echo(req):
        time.sleep(0.3)
        return echo_body(req)

    pool = ConnectionPool(max_idle_per_addr=1)
    with FakeServer(serve_forever(slow_echo)) as server, ThreadPoolExecutor(2) as threads:
        calls = [threads.submit(pool.call, server.addr, request(n), timeout=2) for n in (1, 2)]
        assert sorted(call.result().body for call in calls) == [b"body-1", b"body-2"]
        assert (pool.opened_count(server.addr), pool.idle_count(server.addr)) == (2, 1)
    pool.close()


def test_a_closed_pool_refuses_calls():
    pool = ConnectionPool()
    pool.close()
    with pytest.raises(ConnectError, match="closed"):
        pool.call("127.0.0.1:9", request(), timeout=TIMEOUT)


def test_a_refused_connection_is_a_connect_error():
    addr = refused_addr()
    started = time.monotonic()
    with pytest.raises(ConnectError, match="cannot connect") as caught:
        ConnectionPool(connect_timeout=1).call(addr, request(), timeout=TIMEOUT)
    assert caught.value.addr == addr and time.monotonic() - started < SLACK


def test_a_peer_that_closes_without_answering_is_a_lost_connection():
    def close_after_request(conn):
        read_request(conn)
        conn.close()

    with FakeServer(close_after_request) as server:
        assert_fails_within(ConnectionLost, server.addr, SLACK, match="closed by peer")


def test_a_peer_that_resets_the_connection_is_a_lost_connection():
    def reset(conn):
        read_request(conn)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    with FakeServer(reset) as server:
        assert_fails_within(ConnectionLost, server.addr, SLACK)


def test_a_peer_that_sends_nothing_times_out_within_the_request_timeout():
    with FakeServer(hold_open) as server:
        error = assert_fails_within(RemotingTimeout, server.addr, TIMEOUT + SLACK)
    assert "request timeout" in str(error)


def test_a_half_frame_then_silence_times_out():
    def half(conn):
        req = read_request(conn)
        conn.sendall(respond(req, body=b"x" * 100)[:60])
        hold_open(conn)

    with FakeServer(half) as server:
        assert_fails_within(RemotingTimeout, server.addr, TIMEOUT + SLACK)


def test_a_half_frame_then_close_is_a_truncated_frame():
    def half_then_close(conn):
        req = read_request(conn)
        conn.sendall(respond(req, body=b"x" * 100)[:60])
        conn.close()

    with FakeServer(half_then_close) as server:
        assert_fails_within(ProtocolError, server.addr, SLACK, match="closed mid-frame")


def test_a_peer_dribbling_bytes_cannot_stretch_the_call_past_its_deadline():
    def dribble(conn):
        for byte in respond(read_request(conn), body=b"y" * 50):
            conn.sendall(bytes([byte]))
            time.sleep(0.05)

    with FakeServer(dribble) as server:
        assert_fails_within(RemotingTimeout, server.addr, TIMEOUT + SLACK)


@pytest.mark.parametrize(
    "garbage, match",
    [
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "exceeds the limit"),
        (b"\xff\xff\xff\xff", "exceeds the limit"),
        (b"\x00\x00\x00\x02ab", "shorter than its header-length field"),
        (struct.pack(">II", 10, 0x01000006) + b"{}{}{}", "unsupported serialize type"),
        (struct.pack(">II", 10, 6) + b"{oops}", "header is not JSON"),
    ],
)
def test_garbage_is_a_protocol_error_without_waiting_for_the_timeout(garbage, match):
    def send_garbage(conn):
        read_request(conn)
        conn.sendall(garbage)
        hold_open(conn)

    with FakeServer(send_garbage) as server:
        assert_fails_within(ProtocolError, server.addr, SLACK, match=match)


def test_an_oversized_frame_is_refused_from_its_length_prefix():
    def big(conn):
        req = read_request(conn)
        conn.sendall(respond(req, body=b"z" * 5000))
        hold_open(conn)

    with FakeServer(big) as server:
        conn = Connection.open(server.addr, timeout=1.0, max_frame_size=4096)
        with pytest.raises(ProtocolError, match="exceeds the limit of 4096"):
            conn.call(request(), timeout=TIMEOUT)


@pytest.mark.parametrize("addr", ["", "host", "host:", ":9876", "host:port", "host:70000", "host:0"])
def test_malformed_addresses_are_value_errors(addr):
    with pytest.raises(ValueError):
        split_addr(addr)


def test_addresses_split_into_host_and_port():
    assert split_addr("10.0.0.1:9876") == ("10.0.0.1", 9876)
    assert split_addr("[::1]:9876") == ("::1", 9876)
