"""Faults with real servers: a name server stopped or frozen, a broker killed mid-request, a dropping
proxy; and the broker's namesrvAddr hot update, which needs a second name server."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from rocketmq_operator.rocketmq import (
    AdminClient,
    ConnectError,
    ConnectionLost,
    ProtocolError,
    RemotingError,
    RemotingTimeout,
)
from tests.rocketmq.rmq_servers import BROKER, JavaProcess, RocketMQ, start_broker, start_namesrv, wait_until
from tests.unit.rocketmq.rmq_fakes import DroppingProxy

pytestmark = [pytest.mark.rocketmq, pytest.mark.timeout(900)]


@pytest.fixture
def spare_namesrv(rocketmq: RocketMQ, tmp_path) -> tuple[JavaProcess, str]:
    proc, addr = start_namesrv(rocketmq.jars, tmp_path / "spare-namesrv")
    try:
        proc.wait_booted()
        yield proc, addr
    finally:
        proc.kill()


@pytest.fixture
def short_lived_broker(rocketmq: RocketMQ, spare_namesrv, tmp_path) -> tuple[JavaProcess, str]:
    _, namesrv = spare_namesrv
    proc, addr = start_broker(
        rocketmq.jars,
        tmp_path / "short-lived",
        namesrv=namesrv,
        cluster="Scratch",
        name="broker-z",
        broker_id=0,
    )
    try:
        proc.wait_booted()
        yield proc, addr
    finally:
        proc.kill()


def elapsed(since: float) -> float:
    return time.monotonic() - since


def test_namesrv_addr_hot_update_makes_the_broker_register_with_the_new_name_server(
    rocketmq, spare_namesrv, admin
):
    _, spare = spare_namesrv
    both = f"{rocketmq.namesrv};{spare}"
    admin.update_broker_config(rocketmq.master, {"namesrvAddr": both})
    try:
        assert admin.broker_config(rocketmq.master)["namesrvAddr"] == both
        with AdminClient(spare) as spare_admin:
            wait_until(
                lambda: BROKER in spare_admin.cluster_info().brokers,
                timeout=60,
                what="the master to register with the name server added by the hot update",
            )
            assert spare_admin.cluster_info().brokers[BROKER].master_addr == rocketmq.master
    finally:
        admin.update_broker_config(rocketmq.master, {"namesrvAddr": rocketmq.namesrv})


def test_a_frozen_then_stopped_name_server_fails_fast_and_reads_fail_over(rocketmq, spare_namesrv):
    proc, spare = spare_namesrv
    with AdminClient(spare, request_timeout=1.0, connect_timeout=1.0) as client:
        client.topic_list()  # leaves a pooled connection behind
        os.kill(proc.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(RemotingTimeout):
                client.topic_list()
            assert 0.9 < elapsed(started) < 3
        finally:
            os.kill(proc.proc.pid, signal.SIGCONT)
        client.topic_list()
        proc.stop()

        started = time.monotonic()
        with pytest.raises(ConnectError, match="cannot connect"):
            client.cluster_info()
        assert elapsed(started) < 2
    with AdminClient([spare, rocketmq.namesrv], connect_timeout=1.0) as client:
        assert BROKER in client.cluster_info().brokers


def test_a_broker_killed_mid_request_is_a_lost_connection_not_a_hang(short_lived_broker):
    proc, addr = short_lived_broker
    with AdminClient(request_timeout=30.0, connect_timeout=1.0) as client:
        # Right after boot the broker answers GET_BROKER_RUNTIME_INFO with SYSTEM_ERROR
        # (NoSuchElementException) until its statistics have a first sample.
        wait_until(
            lambda: client.broker_runtime_info(addr).active, timeout=30, what="runtime info to be served"
        )
        os.kill(proc.proc.pid, signal.SIGSTOP)  # so the next request is surely in flight when it dies
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(client.broker_runtime_info, addr)
            time.sleep(0.5)
            assert not pending.done()
            started = time.monotonic()
            proc.kill()
            with pytest.raises(ConnectionLost):
                pending.result(timeout=10)
            assert elapsed(started) < 5
        with pytest.raises(ConnectError):
            client.broker_runtime_info(addr)


@pytest.mark.parametrize("keep, error", [(0, ConnectionLost), (30, ProtocolError)])
def test_a_proxy_that_drops_the_brokers_response_gives_a_clear_error(rocketmq, keep, error):
    with DroppingProxy(rocketmq.master, keep=keep) as proxy, AdminClient(request_timeout=10.0) as client:
        started = time.monotonic()
        with pytest.raises(error):
            client.broker_runtime_info(proxy.addr)
        assert elapsed(started) < 5


def test_concurrent_calls_from_threads_share_the_client(rocketmq, admin):
    results, errors = [], []

    def work():
        try:
            for _ in range(5):
                results.append(admin.cluster_info().brokers[BROKER].master_addr)
        except RemotingError as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and results == [rocketmq.master] * 20
