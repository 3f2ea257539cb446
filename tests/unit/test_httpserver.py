"""Covers ProbeServer on a loopback socket: /healthz, /readyz following its probe, /metrics serving the given
registry (or not at all), and 404 for anything else."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from rocketmq_operator.httpserver import ProbeServer, parse_bind_address


def get(server: ProbeServer, path: str) -> tuple[int, str, str]:
    """``(status, content type, body)`` of a GET."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read().decode()


class Probes:
    """What the shared server's probes answer; each test sets what it needs."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.ready: Callable[[], bool] = lambda: True
        self.healthy: Callable[[], bool] = lambda: True


PROBES = Probes()
REGISTRY = CollectorRegistry()
THINGS = Counter("rocketmq_test_things", "things", registry=REGISTRY)


def start(**kwargs) -> ProbeServer:
    server = ProbeServer("127.0.0.1:0", ready=lambda: PROBES.ready(), healthy=lambda: PROBES.healthy(),
                         registry=REGISTRY, **kwargs)
    server.start()
    return server


@pytest.fixture(scope="module")
def server() -> Iterator[ProbeServer]:
    server = start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def probes() -> Iterator[Probes]:
    yield PROBES
    PROBES.reset()


def test_the_server_binds_an_ephemeral_loopback_port(server):
    assert server.server_address == ("127.0.0.1", server.port) and server.port > 0


def test_healthz_and_livez_answer_ok(server):
    assert get(server, "/healthz") == (200, "text/plain", "ok\n")
    assert get(server, "/livez")[0] == 200


def test_healthz_answers_503_when_the_process_is_unhealthy(server, probes):
    probes.healthy = lambda: False
    assert get(server, "/healthz")[0] == 503


def test_readyz_is_503_until_ready_and_200_after(server, probes):
    state = {"ready": False}
    probes.ready = lambda: state["ready"]
    assert get(server, "/readyz") == (503, "text/plain", "not ready\n")
    state["ready"] = True
    assert get(server, "/readyz") == (200, "text/plain", "ok\n")


def test_a_probe_that_raises_answers_503(server, probes):
    def broken() -> bool:
        raise RuntimeError("probe failed")
    probes.ready = broken
    assert get(server, "/readyz")[0] == 503


def test_a_query_string_does_not_change_the_route(server):
    assert get(server, "/readyz?verbose=1")[0] == 200


def test_metrics_serves_the_given_registry(server):
    THINGS.inc(3)
    status, content_type, body = get(server, "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=")
    assert f"rocketmq_test_things_total {REGISTRY.get_sample_value('rocketmq_test_things_total')}" in (
        body.splitlines())


def test_metrics_is_404_when_not_served():
    server = start(serve_metrics=False)
    try:
        assert get(server, "/metrics")[0] == 404
        assert get(server, "/healthz")[0] == 200
    finally:
        server.stop()


def test_an_unknown_path_is_404(server):
    assert get(server, "/nope") == (404, "text/plain", "not found\n")


@pytest.mark.parametrize("address, expected", [
    ("127.0.0.1:8080", ("127.0.0.1", 8080)),
    (":8081", ("0.0.0.0", 8081)),
])
def test_a_bind_address_is_split_into_host_and_port(address, expected):
    assert parse_bind_address(address) == expected


def _ipv6_loopback() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_an_ipv6_bind_address_in_brackets_is_served():
    import urllib.request

    from rocketmq_operator.httpserver import ProbeServer

    server = ProbeServer("[::1]:0", ready=lambda: True)
    server.start()
    try:
        with urllib.request.urlopen(f"http://[::1]:{server.port}/healthz", timeout=2) as r:
            assert r.read() == b"ok\n"
    finally:
        server.stop()


def _idle_connections(port: int, n: int) -> list:
    import socket

    return [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n)]


def test_connections_beyond_the_limit_are_closed_unanswered_and_threads_stay_bounded():
    import threading

    server = ProbeServer("127.0.0.1:0", ready=lambda: True, max_connections=4, request_timeout=30.0)
    server.start()
    before = threading.active_count()
    idle = _idle_connections(server.port, 40)  # connect and say nothing
    try:
        closed = 0
        for sock in idle[4:]:
            sock.settimeout(5)
            closed += sock.recv(1) == b""  # the server closed it
        assert closed == 36 and server.refused == 36
        assert threading.active_count() - before <= 4
    finally:
        for sock in idle:
            sock.close()
        server.stop()


def test_a_connection_that_sends_no_request_is_closed_after_the_request_timeout():
    server = ProbeServer("127.0.0.1:0", ready=lambda: True, request_timeout=0.2)
    server.start()
    (sock,) = _idle_connections(server.port, 1)
    try:
        sock.settimeout(5)
        assert sock.recv(1) == b""  # closed by the server, long before the client's 5 s
        assert get(server, "/healthz")[0] == 200  # and its slot is free again
    finally:
        sock.close()
        server.stop()


def test_by_default_metrics_listen_on_this_machine_only(monkeypatch):
    from rocketmq_operator import cli

    monkeypatch.delenv("METRICS_BIND_ADDRESS", raising=False)
    assert cli.build_parser().parse_args(["run"]).metrics_bind_address == "127.0.0.1:8383"
