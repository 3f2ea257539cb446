"""Covers scripts/broker-probe.sh (the brokers' readiness and liveness probes) against a real name server and
broker: ready when the name server lists the broker, not ready for an address it does not list or a name
server that is down; alive when the broker answers, not alive when its port is closed or accepts without
answering (a frozen JVM)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from importlib import resources as package_files
from pathlib import Path

import pytest

pytestmark = [pytest.mark.rocketmq,
              pytest.mark.skipif(shutil.which("bash") is None, reason="the readiness check runs under bash")]
SCRIPT = package_files.files("rocketmq_operator").joinpath("scripts/broker-probe.sh")


def ready(tmp_path: Path, *, namesrv: str, broker: str, mode: str = "ready") -> subprocess.CompletedProcess:
    host, port = broker.rsplit(":", 1)
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir(exist_ok=True)
    (conf_dir / "broker-0.conf").write_text(f"brokerName=b\nlistenPort={port}\nnamesrvAddr={namesrv}\n")
    env = {"PATH": "/usr/bin:/bin", "POD_NAME": "c-0-0", "POD_IP": host, "BROKER_CONF_DIR": str(conf_dir),
           "BROKER_RUN_DIR": str(tmp_path / "run")}
    return subprocess.run(["bash", str(SCRIPT), mode], check=False, env=env, capture_output=True, text=True,
                          timeout=20)


def test_a_registered_broker_is_ready(rocketmq, tmp_path):
    assert ready(tmp_path, namesrv=rocketmq.namesrv, broker=rocketmq.master).returncode == 0
    assert ready(tmp_path, namesrv=f"127.0.0.1:1;{rocketmq.namesrv}", broker=rocketmq.slave).returncode == 0


def test_an_address_the_name_server_does_not_list_is_not_ready_and_says_so(rocketmq, tmp_path):
    done = ready(tmp_path, namesrv=rocketmq.namesrv, broker="127.0.0.1:1")
    assert done.returncode == 1 and "127.0.0.1:1 is not registered" in done.stderr


def test_no_reachable_name_server_is_not_ready(rocketmq, tmp_path):
    assert ready(tmp_path, namesrv="127.0.0.1:1", broker=rocketmq.master).returncode == 1


def test_a_broker_that_answers_is_alive(rocketmq, tmp_path):
    done = ready(tmp_path, namesrv=rocketmq.namesrv, broker=rocketmq.master, mode="alive")
    assert done.returncode == 0, done.stderr


def test_a_closed_port_is_not_alive(rocketmq, tmp_path):
    done = ready(tmp_path, namesrv=rocketmq.namesrv, broker="127.0.0.1:1", mode="alive")
    assert done.returncode == 1 and "did not answer" in done.stderr


def test_a_port_that_accepts_but_never_answers_is_not_alive_within_the_probe_timeout(rocketmq, tmp_path):
    with socket.socket() as frozen:  # listening, never reading: what a stopped JVM looks like from outside
        frozen.bind(("127.0.0.1", 0))
        frozen.listen(8)
        port = frozen.getsockname()[1]
        started = time.monotonic()
        done = ready(tmp_path, namesrv=rocketmq.namesrv, broker=f"127.0.0.1:{port}", mode="alive")
        took = time.monotonic() - started
    assert done.returncode == 1 and "did not answer" in done.stderr
    assert took < 5, f"the liveness check took {took:.1f}s (the probe's timeoutSeconds is 5)"


def test_a_hung_name_server_before_the_real_one_does_not_delay_readiness(rocketmq, tmp_path):
    with socket.socket() as hung:  # accepts (the kernel does), never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        started = time.monotonic()
        done = ready(tmp_path, namesrv=f"127.0.0.1:{hung.getsockname()[1]};{rocketmq.namesrv}",
                     broker=rocketmq.master)
        took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert took < 2, f"readiness took {took:.1f}s with one hung name server (the probe's timeoutSeconds is 5)"
