"""The operator's one small HTTP server: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``.

``/healthz`` answers while the process is alive and its caches deliver (the manager's check); ``/readyz``
answers ok once the caches have synced (and, with leader election, also while waiting for the lease, so that
a standby replica is Ready but idle).

Bounded: a connection that sends no complete request within ``request_timeout`` is closed, and at most
``max_connections`` are served at once (more are closed at once, unanswered), so idle or slow clients cannot
pile up threads.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest


def parse_bind_address(address: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` (all IPv4 interfaces) or ``[IPV6]:PORT``."""
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


REQUEST_TIMEOUT = 10.0  # seconds a connection may take to send its request
MAX_CONNECTIONS = 32


class _Handler(BaseHTTPRequestHandler):
    server: ProbeServer

    def setup(self) -> None:
        self.timeout = self.server.request_timeout  # socket timeout for every read and write of this request
        super().setup()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics" and self.server.serve_metrics:
            self._reply(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)
        elif path in ("/healthz", "/livez"):
            self._check(self.server.healthy)
        elif path == "/readyz":
            self._check(self.server.ready)
        else:
            self._reply(404, b"not found\n", "text/plain")

    def _check(self, probe: Callable[[], bool]) -> None:
        ok = False
        try:
            ok = probe()
        finally:
            self._reply(200 if ok else 503, b"ok\n" if ok else b"not ready\n", "text/plain")

    def _reply(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        pass


class ProbeServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # the listen backlog: a burst of scrapes and probes is accepted, not retried

    def __init__(self, address: str, *, ready: Callable[[], bool], healthy: Callable[[], bool] = lambda: True,
                 registry: CollectorRegistry = REGISTRY, serve_metrics: bool = True,
                 request_timeout: float = REQUEST_TIMEOUT, max_connections: int = MAX_CONNECTIONS) -> None:
        self.request_timeout = request_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self.refused = 0  # connections closed unanswered because every slot was taken
        host, port = parse_bind_address(address)
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)
        self.ready = ready
        self.healthy = healthy
        self.registry = registry
        self.serve_metrics = serve_metrics
        self._thread: threading.Thread | None = None

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name=f"http-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
