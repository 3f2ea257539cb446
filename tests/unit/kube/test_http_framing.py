"""Covers the fences of the direct HTTP road: its answer parser reads what ``http.client`` reads (property
tests over status, headers and every body framing), turns every framing it cannot take into an HTTP error
(never a bare ValueError), bounds bodies, holds the read timeout as a deadline for the whole answer, drops a
connection whose answer it could not read, and reuses a kept-alive connection above file descriptor 1023."""

from __future__ import annotations

import http.client
import io
import os
import resource
import socket
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rocketmq_operator.kube import TransportError
from rocketmq_operator.kube import transport as tr

from .test_direct_http import _client, _scripted

TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).filter(
    lambda t: t.strip("-") and t not in ("content-length", "transfer-encoding", "connection"))
VALUE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 ,;=/.", max_size=30).map(str.strip)


@st.composite
def answers(draw) -> tuple[bytes, int, bytes, dict[str, str]]:
    status = draw(st.sampled_from([200, 201, 202, 400, 404, 409, 410, 429, 500, 503]))
    headers = draw(st.dictionaries(TOKEN, VALUE, max_size=6))
    body = draw(st.binary(max_size=2000))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    head = [f"HTTP/1.1 {status} Whatever\r\n"] + [f"{k}: {v}\r\n" for k, v in headers.items()]
    if framing == "length":
        head.append(f"Content-Length: {len(body)}\r\n")
        data = body
    elif framing == "chunked":
        head.append("Transfer-Encoding: chunked\r\n")
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=5)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True) if b > a]
        data = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        head.append("Connection: close\r\n")
        data = body
    return "".join(head).encode() + b"\r\n" + data, status, body, headers


class _OneShot:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self._data))


@settings(max_examples=300, deadline=None)
@given(answers())
def test_the_parser_reads_every_answer_as_http_client_does(answer):
    raw, status, body, headers = answer
    ours = tr._read_response(io.BufferedReader(io.BytesIO(raw)), "GET")
    theirs = http.client.HTTPResponse(_OneShot(raw))  # type: ignore[arg-type]
    theirs.begin()
    assert (ours[0], ours[2]) == (theirs.status, theirs.read()) == (status, body)
    for name, value in headers.items():
        assert ours[1][name] == theirs.getheader(name) == value


MALFORMED = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 70000 + b"\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 200 + b"\r\n",
    b"HTTP/1.1 200 OK\r\nX-Long: " + b"y" * 70000 + b"\r\n\r\n",
    b"HTTP/1.1 20x OK\r\n\r\n",
]


@pytest.mark.parametrize("raw", MALFORMED, ids=range(len(MALFORMED)))
def test_framing_the_parser_cannot_take_is_an_http_error_not_a_value_error(raw):
    with pytest.raises(http.client.HTTPException):
        tr._read_response(io.BufferedReader(io.BytesIO(raw)), "GET")


@settings(max_examples=300, deadline=None)
@given(answers(), st.binary(min_size=1, max_size=8), st.data())
def test_any_garbling_of_an_answer_is_read_or_refused_as_http_never_another_error(answer, junk, data):
    raw = answer[0]
    at = data.draw(st.integers(0, len(raw)))
    garbled = raw[:at] + junk + raw[at + len(junk):]
    try:
        tr._read_response(io.BufferedReader(io.BytesIO(garbled)), "GET")
    except http.client.HTTPException:
        pass


def test_bodies_above_the_bound_are_refused_however_framed(monkeypatch):
    monkeypatch.setattr(tr, "MAX_BODY", 100)
    for raw in (b"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n" + b"x" * 101,
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + b"x" * 64 + b"\r\n40\r\n"
                + b"x" * 64 + b"\r\n0\r\n\r\n",
                b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 101):
        with pytest.raises(tr.BadFraming):
            tr._read_response(io.BufferedReader(io.BytesIO(raw)), "GET")


def test_a_malformed_answer_drops_the_connection_and_the_next_request_gets_a_fresh_one():
    bad = b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n{}"
    good = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    server, _ = _scripted([bad, good])
    with server:
        client, _ = _client(int(server.addr.rsplit(":", 1)[1]))
        with pytest.raises(TransportError, match="Content-Length 'ten' is not a number"):
            client._transport.exchange("POST", "/a", body={})
        assert client._transport._direct._local.conn is None
        server2, _ = _scripted([good])
    with server2:
        client2, _ = _client(int(server2.addr.rsplit(":", 1)[1]))
        assert client2._transport.exchange("GET", "/b") == {}


def test_the_read_timeout_is_a_deadline_for_the_whole_answer_not_for_each_read():
    from tests.unit.rocketmq.rmq_fakes import FakeServer

    def dribble(conn: socket.socket) -> None:  # a byte every 0.1 s: no single read ever waits 0.5 s
        conn.recv(65536)
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000:
            conn.sendall(bytes([byte]))
            time.sleep(0.1)

    with FakeServer(dribble) as server:
        client, _ = _client(int(server.addr.rsplit(":", 1)[1]))
        started = time.monotonic()
        with pytest.raises(TransportError, match="deadline|timed out"):
            client._transport._direct.exchange("GET", "/slow", timeout=(1.0, 0.5))
        assert time.monotonic() - started < 1.5


def test_a_kept_alive_connection_above_file_descriptor_1023_is_reused():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"the hard limit of open files is {hard}")
    if soft != resource.RLIM_INFINITY and soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1200 if hard == resource.RLIM_INFINITY else hard,
                                                        4096), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        good = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
        server, _ = _scripted([good, good, good])
        with server:
            client, _ = _client(int(server.addr.rsplit(":", 1)[1]))
            for _ in range(3):
                assert client._transport.exchange("GET", "/a") == {}
            assert client._transport._direct._local.conn.sock.fileno() > 1023
            assert server.accepted == 1  # one connection for the three requests
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
