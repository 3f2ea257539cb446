"""Covers scripts/broker-ready.sh (the brokers' readiness probe) against a real name server: ready when the name
server lists the broker, not ready for an address it does not list or a name server that is down."""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources as package_files
from pathlib import Path

import pytest

pytestmark = [pytest.mark.rocketmq,
              pytest.mark.skipif(shutil.which("bash") is None, reason="the readiness check runs under bash")]
SCRIPT = package_files.files("rocketmq_operator").joinpath("scripts/broker-ready.sh")


def ready(tmp_path: Path, *, namesrv: str, broker: str) -> subprocess.CompletedProcess:
    host, port = broker.rsplit(":", 1)
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir(exist_ok=True)
    (conf_dir / "broker-0.conf").write_text(f"brokerName=b\nlistenPort={port}\nnamesrvAddr={namesrv}\n")
    env = {"PATH": "/usr/bin:/bin", "POD_NAME": "c-0-0", "POD_IP": host, "BROKER_CONF_DIR": str(conf_dir),
           "BROKER_RUN_DIR": str(tmp_path / "run")}
    return subprocess.run(["bash", str(SCRIPT)], check=False, env=env, capture_output=True, text=True, timeout=20)


def test_a_registered_broker_is_ready(rocketmq, tmp_path):
    assert ready(tmp_path, namesrv=rocketmq.namesrv, broker=rocketmq.master).returncode == 0
    assert ready(tmp_path, namesrv=f"127.0.0.1:1;{rocketmq.namesrv}", broker=rocketmq.slave).returncode == 0


def test_an_address_the_name_server_does_not_list_is_not_ready_and_says_so(rocketmq, tmp_path):
    done = ready(tmp_path, namesrv=rocketmq.namesrv, broker="127.0.0.1:1")
    assert done.returncode == 1 and "127.0.0.1:1 is not registered" in done.stderr


def test_no_reachable_name_server_is_not_ready(rocketmq, tmp_path):
    assert ready(tmp_path, namesrv="127.0.0.1:1", broker=rocketmq.master).returncode == 1
