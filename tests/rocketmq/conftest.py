"""Fixtures for the RocketMQ client tests: one real name server and master/slave pair per session.

The JVMs start on first use by a ``@pytest.mark.rocketmq`` test, so the unit tests in this directory
run without Java. Without ``java`` or ``mvn`` on PATH the real tests skip; any other failure (download,
boot) is an error that shows the server logs. Start times and each JVM's RSS are printed in the
terminal summary.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from rocketmq_operator.rocketmq import AdminClient
from tests.prerequisites import missing_tools
from tests.rocketmq.rmq_servers import (
    BROKER,
    CLUSTER,
    Jars,
    JavaProcess,
    RocketMQ,
    fetch_jars,
    start_broker,
    start_namesrv,
    stop_all,
    wait_until,
)

_REPORT = pytest.StashKey[list]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REPORT] = []


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    lines = config.stash.get(_REPORT, [])
    if lines:
        terminalreporter.section("rocketmq")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def rocketmq_jars(request: pytest.FixtureRequest) -> Jars:
    verdict = missing_tools(("java", "mvn"), which=shutil.which, ci=os.environ.get("CI") == "true")
    if verdict is not None:
        fail, message = verdict
        if fail:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    started = time.monotonic()
    jars = fetch_jars()
    request.config.stash[_REPORT].append(
        f"RocketMQ {jars.version} jars in {jars.lib} ready in {time.monotonic() - started:.1f}s"
    )
    request.config.stash[_REPORT].extend(jars.warnings)
    return jars


@pytest.fixture(scope="session")
def rocketmq(
    rocketmq_jars: Jars, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[RocketMQ]:
    home = tmp_path_factory.mktemp("rocketmq")
    started = time.monotonic()
    processes: dict[str, JavaProcess] = {}
    try:
        processes["namesrv"], namesrv = start_namesrv(rocketmq_jars, home / "namesrv")
        boot = {"namesrv": processes["namesrv"].wait_booted()}
        processes["master"], master = start_broker(
            rocketmq_jars, home / "master", namesrv=namesrv, cluster=CLUSTER, name=BROKER, broker_id=0
        )
        processes["slave"], slave = start_broker(
            rocketmq_jars, home / "slave", namesrv=namesrv, cluster=CLUSTER, name=BROKER, broker_id=1
        )
        with ThreadPoolExecutor(2) as pool:
            boot["master"], boot["slave"] = pool.map(
                lambda p: p.wait_booted(), [processes["master"], processes["slave"]]
            )
        server = RocketMQ(rocketmq_jars, home, namesrv, master, slave, processes)
        wait_until(
            lambda: _ready(server), timeout=60, what="both brokers registered and serving runtime info"
        )
        request.config.stash[_REPORT].append(
            f"name server + master + slave ready in {time.monotonic() - started:.1f}s ("
            + ", ".join(f"{name} booted in {seconds:.1f}s" for name, seconds in boot.items())
            + ")"
        )
        yield server
        request.config.stash[_REPORT].append(
            "RSS at end: " + ", ".join(f"{name} {p.rss_kib() // 1024} MiB" for name, p in processes.items())
        )
    finally:
        stop_all(p for name, p in processes.items() if name != "namesrv")  # brokers unregister first
        stop_all(p for name, p in processes.items() if name == "namesrv")


def _ready(server: RocketMQ) -> bool:
    """Both brokers registered, and past the first seconds in which runtime info is a SYSTEM_ERROR."""
    with AdminClient(server.namesrv) as client:
        broker = client.cluster_info().brokers.get(BROKER)
        if not broker or len(broker.addrs) != 2:
            return False
        return all(client.broker_runtime_info(addr).version_desc for addr in broker.addrs.values())


@pytest.fixture
def admin(rocketmq: RocketMQ) -> Iterator[AdminClient]:
    with AdminClient(rocketmq.namesrv, request_timeout=10.0) as client:
        yield client


@pytest.fixture(scope="session")
def rocketmq_report(request: pytest.FixtureRequest) -> list[str]:
    """Lines for the terminal summary's ``rocketmq`` section (figures a test measured)."""
    return request.config.stash[_REPORT]
