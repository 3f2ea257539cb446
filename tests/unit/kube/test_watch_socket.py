"""A watch over a real loopback socket: a silent stream hits the read timeout, and close() unblocks a read."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from kubernetes.client import ApiClient, Configuration

from rocketmq_operator.kube import CONFIG_MAPS, KubeClient, Transport, TransportError
from rocketmq_operator.kube.transport import _readable_now


class SilentWatch(http.server.BaseHTTPRequestHandler):
    """Sends one event, then holds the connection open without a byte until the server shuts down."""

    protocol_version = "HTTP/1.1"
    release = threading.Event()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        line = b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"2"}}}\n'
        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.wfile.flush()
        self.release.wait(10)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def client() -> Iterator[KubeClient]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SilentWatch)
    server.daemon_threads = True
    SilentWatch.release.clear()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    configuration = Configuration(host=f"http://127.0.0.1:{server.server_address[1]}")
    configuration.retries = False
    yield KubeClient(Transport(ApiClient(configuration)))
    SilentWatch.release.set()
    server.shutdown()
    server.server_close()


def test_a_silent_stream_raises_a_transport_error_after_the_read_timeout(client: KubeClient):
    events = iter(client.watch(CONFIG_MAPS, namespace="ns", read_timeout=0.2))
    assert next(events)["object"]["metadata"]["name"] == "a"
    with pytest.raises(TransportError, match="(?i)timed? ?out"):
        next(events)


def test_close_from_another_thread_ends_a_blocked_watch_quietly(client: KubeClient):
    stream = client.watch(CONFIG_MAPS, namespace="ns", read_timeout=30.0)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.extend(e["type"] for e in stream))
    reader.start()
    while not received:
        reader.join(0.01)
    stream.close()
    reader.join(5)
    assert not reader.is_alive() and received == ["ADDED"]


def _event(name: str) -> bytes:
    return b'{"type":"ADDED","object":{"metadata":{"name":"%s","resourceVersion":"2"}}}\n' % name.encode()


class ChunkyWatch(http.server.BaseHTTPRequestHandler):
    """Chunks that do not follow event boundaries: two and a half events in one (with a chunk extension), the
    rest of the third with a fourth in the next, each flushed on its own; then the last chunk, or none."""

    protocol_version = "HTTP/1.1"
    finish = True

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        third = _event("c")
        first = _event("a") + _event("b") + third[:10]
        second = third[10:] + b"\n" + _event("d")  # an empty line between events is skipped
        self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(first), first))
        self.wfile.flush()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(second), second))
        if self.finish:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


def _chunky_client(finish: bool) -> tuple[KubeClient, http.server.ThreadingHTTPServer]:
    handler = type("Handler", (ChunkyWatch,), {"finish": finish})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    configuration = Configuration(host=f"http://127.0.0.1:{server.server_address[1]}")
    configuration.retries = False
    return KubeClient(Transport(ApiClient(configuration))), server


@pytest.mark.parametrize("read_size", [65536, 7])
def test_events_are_split_at_newlines_whatever_the_chunks_and_the_last_chunk_ends_the_stream(read_size: int):
    client, server = _chunky_client(finish=True)
    try:
        stream = client.watch(CONFIG_MAPS, namespace="ns", read_timeout=5.0)
        stream._chunk_size = read_size  # 7: every chunk header and event arrives in pieces
        assert [e["object"]["metadata"]["name"] for e in stream] == ["a", "b", "c", "d"]
    finally:
        server.shutdown()
        server.server_close()


def test_a_body_cut_off_before_the_last_chunk_raises_a_transport_error():
    client, server = _chunky_client(finish=False)
    try:
        names = []
        with pytest.raises(TransportError):
            for event in client.watch(CONFIG_MAPS, namespace="ns", read_timeout=5.0):
                names.append(event["object"]["metadata"]["name"])
        assert names == ["a", "b", "c", "d"]
    finally:
        server.shutdown()
        server.server_close()


def test_a_gathering_watch_reaches_its_socket_and_reads_every_event():
    client, server = _chunky_client(finish=True)
    try:
        stream = client.watch(CONFIG_MAPS, namespace="ns", read_timeout=5.0, gather=0.01)
        assert _readable_now(stream._response) is not None  # the wait applies to a real response
        assert [e["object"]["metadata"]["name"] for e in stream] == ["a", "b", "c", "d"]
    finally:
        server.shutdown()
        server.server_close()
