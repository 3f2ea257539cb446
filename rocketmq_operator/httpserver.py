"""The operator's one small HTTP server: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``.

``/healthz`` answers while the process is alive and its threads are not stuck; ``/readyz`` answers ok
once the caches have synced (and, with leader election, also while waiting for the lease, so that a
standby replica is Ready but idle).
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


class _Handler(BaseHTTPRequestHandler):
    server: ProbeServer

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

    def __init__(self, address: str, *, ready: Callable[[], bool], healthy: Callable[[], bool] = lambda: True,
                 registry: CollectorRegistry = REGISTRY, serve_metrics: bool = True) -> None:
        host, port = parse_bind_address(address)
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)
        self.ready = ready
        self.healthy = healthy
        self.registry = registry
        self.serve_metrics = serve_metrics
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name=f"http-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
