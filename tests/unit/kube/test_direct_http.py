"""Requests on the direct road (kept-alive http.client connections) against a real loopback HTTP server: one
connection carries many requests, a connection the server closed is replaced before the next request, the
token is read on each request, queries are encoded, and failures map to the same errors as the urllib3
road."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from kubernetes.client import ApiClient, Configuration

from rocketmq_operator.kube import CONFIG_MAPS, KubeClient, NotFound, Transport, TransportError
from rocketmq_operator.kube.errors import TooManyRequests
from rocketmq_operator.kube.retry import RetryPolicy
from tests.unit.rocketmq.rmq_fakes import FakeServer


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request with what it saw: the peer port (one per connection), path, headers and body."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[dict[str, Any]]] = []
    close_after: ClassVar[bool] = False

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        record = {"port": self.client_address[1], "method": self.command, "path": self.path,
                  "authorization": self.headers.get("authorization"),
                  "content_type": self.headers.get("Content-Type"),
                  "user_agent": self.headers.get("User-Agent"), "body": body.decode()}
        self.seen.append(record)
        if self.path.startswith("/missing"):
            payload = json.dumps({"kind": "Status", "reason": "NotFound", "message": "gone",
                                  "code": 404}).encode()
            self.send_response(404)
        elif self.path.startswith("/busy"):
            payload = json.dumps({"kind": "Status", "reason": "TooManyRequests", "code": 429}).encode()
            self.send_response(429)
            self.send_header("Retry-After", "3")
        else:
            payload = json.dumps(record).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()
        if self.close_after:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


def _serve(close_after: bool = False) -> tuple[http.server.ThreadingHTTPServer, list[dict[str, Any]]]:
    seen: ClassVar[list[dict[str, Any]]] = []
    handler = type("Handler", (Recorder,), {"seen": seen, "close_after": close_after})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def _client(port: int, *, token: str = "Bearer t0ken") -> tuple[KubeClient, Configuration]:
    configuration = Configuration(host=f"http://127.0.0.1:{port}")
    configuration.api_key = {"authorization": token}
    configuration.retries = False
    api = ApiClient(configuration)
    api.user_agent = "rocketmq-operator/test"
    transport = Transport(api)
    assert transport._direct is not None  # the road under test
    return KubeClient(transport, retry=RetryPolicy(attempts=1)), configuration


@pytest.fixture
def served() -> Iterator[tuple[KubeClient, Configuration, list[dict[str, Any]]]]:
    server, seen = _serve()
    client, configuration = _client(server.server_address[1])
    yield client, configuration, seen
    server.shutdown()
    server.server_close()


def test_one_connection_carries_many_requests_with_headers_query_and_body(served):
    client, _, seen = served
    client.get(CONFIG_MAPS, "a", namespace="ns")
    client.list(CONFIG_MAPS, namespace="ns", label_selector="app in (broker,name server)")
    created = client.create(CONFIG_MAPS, {"metadata": {"name": "b", "namespace": "ns"}, "data": {"k": "v"}})
    assert len({r["port"] for r in seen}) == 1
    assert seen[0]["path"] == "/api/v1/namespaces/ns/configmaps/a"
    assert seen[1]["path"] == ("/api/v1/namespaces/ns/configmaps"
                               "?labelSelector=app%20in%20%28broker%2Cname%20server%29&limit=500")
    assert {r["authorization"] for r in seen} == {"Bearer t0ken"}
    assert {r["user_agent"] for r in seen} == {"rocketmq-operator/test"}
    assert created["method"] == "POST" and created["content_type"] == "application/json"
    assert json.loads(created["body"]) == {"metadata": {"name": "b", "namespace": "ns"}, "data": {"k": "v"}}


def test_the_token_is_read_on_each_request(served):
    client, configuration, seen = served
    client.get(CONFIG_MAPS, "a", namespace="ns")
    configuration.api_key = {"authorization": "Bearer rotated"}
    client.get(CONFIG_MAPS, "a", namespace="ns")
    assert [r["authorization"] for r in seen] == ["Bearer t0ken", "Bearer rotated"]


def test_a_connection_the_server_closed_is_replaced_before_the_next_request():
    server, seen = _serve(close_after=True)
    try:
        client, _ = _client(server.server_address[1])
        for _ in range(3):
            client.get(CONFIG_MAPS, "a", namespace="ns")
        assert len(seen) == 3 and len({r["port"] for r in seen}) == 3
    finally:
        server.shutdown()
        server.server_close()


def _closing_on_second_request() -> tuple[FakeServer, list[tuple[int, str]]]:
    """A raw server that answers the first request on each connection and closes the connection without an
    answer when the second arrives: the server-side idle close racing a request, made certain."""
    answered: list[tuple[int, str]] = []

    def serve(conn: socket.socket) -> None:
        port = conn.getpeername()[1]
        with conn, conn.makefile("rb") as stream:
            for n in (1, 2):
                request = stream.readline().decode()
                length = 0
                while (line := stream.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                stream.read(length)
                if n == 2 or not request:
                    return
                answered.append((port, request.split()[0]))
                payload = json.dumps({"port": port}).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(payload)).encode() + b"\r\n\r\n" + payload)

    return FakeServer(serve), answered


def test_a_read_the_server_closed_under_is_sent_once_more_on_a_fresh_connection():
    server, answered = _closing_on_second_request()
    with server:
        client, _ = _client(int(server.addr.rsplit(":", 1)[1]))
        first = client._transport.exchange("GET", "/api/v1/namespaces/ns/configmaps/a")
        second = client._transport.exchange("GET", "/api/v1/namespaces/ns/configmaps/a")
    assert first["port"] != second["port"]
    assert answered == [(first["port"], "GET"), (second["port"], "GET")]


def test_a_write_the_server_closed_under_is_not_sent_again():
    server, answered = _closing_on_second_request()
    with server:
        client, _ = _client(int(server.addr.rsplit(":", 1)[1]))
        first = client._transport.exchange("GET", "/api/v1/namespaces/ns/configmaps/a")
        with pytest.raises(TransportError) as failed:
            client._transport.exchange("POST", "/api/v1/namespaces/ns/configmaps", body={})
        after = client._transport.exchange("GET", "/api/v1/namespaces/ns/configmaps/a")
    assert not failed.value.not_sent  # the server may have acted on it: a create is not retried blindly
    assert answered == [(first["port"], "GET"), (after["port"], "GET")] and after["port"] != first["port"]


def test_each_thread_has_its_own_connection(served):
    client, _, seen = served
    threads = [threading.Thread(target=lambda: [client.get(CONFIG_MAPS, "a", namespace="ns")
                                                for _ in range(3)])
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(seen) == 6 and len({r["port"] for r in seen}) == 2


def test_error_answers_become_the_same_api_errors(served):
    client, _, _ = served
    transport = client._transport
    with pytest.raises(NotFound, match="gone"):
        transport.exchange("GET", "/missing")
    with pytest.raises(TooManyRequests) as busy:
        transport.exchange("GET", "/busy")
    assert busy.value.retry_after == 3
    assert transport.exchange("GET", "/after")["path"] == "/after"  # the connection survives error answers


def test_a_refused_connection_is_a_transport_error_that_was_not_sent():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client, _ = _client(port)
    with pytest.raises(TransportError) as failed:
        client._transport.exchange("GET", "/version", timeout=(1.0, 1.0))
    assert failed.value.not_sent


def test_a_server_that_answers_nothing_is_a_read_timeout_that_may_have_been_sent():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client, _ = _client(listener.getsockname()[1])
        with pytest.raises(TransportError, match="(?i)timed? ?out") as failed:
            client._transport.exchange("POST", "/api/v1/namespaces/ns/configmaps", body={},
                                       timeout=(1.0, 0.2))
    assert not failed.value.not_sent


def test_a_proxy_keeps_the_urllib3_road():
    configuration = Configuration(host="https://127.0.0.1:6443")
    configuration.proxy = "http://127.0.0.1:3128"
    assert Transport(ApiClient(configuration))._direct is None


def _scripted(answers: list[bytes]) -> tuple[FakeServer, list[bytes]]:
    """A raw server that reads one request per answer in ``answers`` on each connection and writes that answer
    byte for byte (closing the connection after an answer that has no length, as HTTP/1.1 requires)."""
    requests: list[bytes] = []

    def serve(conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as stream:
            for answer in answers:
                head = b""
                while (line := stream.readline()) not in (b"\r\n", b""):
                    head += line
                if not head:
                    return
                length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n")
                               if h.lower().startswith(b"content-length:")), 0)
                requests.append(head + b"\r\n" + stream.read(length))
                conn.sendall(answer)
                if b"content-length" not in answer.lower() and b"chunked" not in answer.lower() \
                        and not answer.startswith(b"HTTP/1.1 204"):
                    return

    return FakeServer(serve), requests


def test_answers_of_every_body_framing_are_read_whole_on_one_connection():
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
               b"6\r\n{\"a\": \r\n3;ext=1\r\n[1]\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n")
    informational = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{\"b\": 2}"
    no_content = b"HTTP/1.1 204 No Content\r\nAudit-Id: x\r\n\r\n"
    until_close = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"c\": 3}"
    server, requests = _scripted([chunked, informational, no_content, until_close])
    with server:
        client, _ = _client(int(server.addr.rsplit(":", 1)[1]))
        direct = client._transport._direct
        assert client._transport.exchange("GET", "/a") == {"a": [1]}
        assert client._transport.exchange("PUT", "/b", body={"x": "é"}) == {"b": 2}
        status, headers, data = direct.exchange("DELETE", "/c")
        assert (status, headers["audit-id"], data) == (204, "x", b"")
        assert client._transport.exchange("GET", "/d") == {"c": 3}
        assert server.accepted == 1  # every framing left the connection reusable, the last one closed it
        assert direct._local.conn is None
    put = requests[1].decode()
    assert put.startswith("PUT /b HTTP/1.1\r\n") and f"Host: 127.0.0.1:{server.addr.rsplit(':', 1)[1]}" in put
    assert "Content-Length: 10\r\n" in put and put.endswith('{"x":"\u00e9"}')  # the length counts bytes
    assert "Content-Length" not in requests[0].decode()  # a GET has no body


def test_an_answer_that_says_connection_close_is_the_last_on_its_connection():
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
    server, _ = _scripted([answer])
    with server:
        client, _ = _client(int(server.addr.rsplit(":", 1)[1]))
        for _ in range(2):
            assert client._transport.exchange("GET", "/a") == {}
        assert server.accepted == 2


def test_a_body_cut_short_or_a_garbled_status_line_is_a_transport_error():
    for answer in (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", b"SPDY/3 what\r\n\r\n",
                   b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"):
        server, _ = _scripted([answer])
        with server:
            client, _ = _client(int(server.addr.rsplit(":", 1)[1]))
            with pytest.raises(TransportError):
                client._transport.exchange("POST", "/a", body={})
