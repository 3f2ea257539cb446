"""A watch over a real loopback socket: a silent stream hits the read timeout, and close() unblocks a read."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from kubernetes.client import ApiClient, Configuration

from rocketmq_operator.kube import CONFIG_MAPS, KubeClient, Transport, TransportError


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
