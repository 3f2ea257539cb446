"""Covers start-broker.sh: it picks the member's file by ordinal, fills in brokerIP1 and execs mqbroker."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rocketmq_operator.resources import brokers

FAKE_MQBROKER = """#!/bin/sh
printf '%s\\n' "$@" > "$FAKE_ARGS_FILE"
"""


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    for member in (0, 1):
        (conf_dir / f"broker-{member}.conf").write_text(f"brokerId={member}\nbrokerIP1=${{POD_IP}}\n")
    script = tmp_path / "start-broker.sh"
    script.write_text(brokers.start_script())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    return {"root": tmp_path, "conf": conf_dir, "run": tmp_path / "run", "script": script, "bin": bin_dir}


def _fake_mqbroker(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    program = directory / "mqbroker"
    program.write_text(FAKE_MQBROKER)
    program.chmod(0o755)


def _run(layout: dict[str, Path], *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {
        "PATH": f"{layout['bin']}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "BROKER_CONF_DIR": str(layout["conf"]),
        "BROKER_RUN_DIR": str(layout["run"]),
        "FAKE_ARGS_FILE": str(layout["root"] / "args"),
        "POD_IP": "10.1.2.3",
    }
    return subprocess.run(
        ["/bin/sh", str(layout["script"]), *args],
        env={**base, **env},
        check=False,
        capture_output=True,
        text=True,
        timeout=20,
    )


def test_the_script_uses_the_members_file_with_the_pod_ip_and_execs_mqbroker(layout):
    _fake_mqbroker(layout["bin"])
    result = _run(layout, HOSTNAME="mybrokercluster-1-1")
    assert result.returncode == 0, result.stderr
    conf = layout["run"] / "broker.conf"
    assert conf.read_text() == "brokerId=1\nbrokerIP1=10.1.2.3\n"
    assert (layout["root"] / "args").read_text().splitlines() == ["-c", str(conf)]


def test_pod_name_wins_over_the_hostname_as_host_network_pods_have_the_nodes(layout):
    _fake_mqbroker(layout["bin"])
    result = _run(layout, POD_NAME="c-0-0", HOSTNAME="node-17")
    assert result.returncode == 0, result.stderr
    assert (layout["run"] / "broker.conf").read_text().startswith("brokerId=0\n")


def test_rocketmq_home_mqbroker_is_preferred_and_extra_arguments_pass_through(layout):
    home = layout["root"] / "rocketmq"
    _fake_mqbroker(home / "bin")
    result = _run(layout, "-n", "x:9876", HOSTNAME="c-0-1", ROCKETMQ_HOME=str(home), PATH="/usr/bin:/bin")
    assert result.returncode == 0, result.stderr
    args = (layout["root"] / "args").read_text().splitlines()
    assert args == ["-c", str(layout["run"] / "broker.conf"), "-n", "x:9876"]


def test_a_hostname_without_an_ordinal_is_refused(layout):
    result = _run(layout, HOSTNAME="not-a-member")
    assert result.returncode != 0
    assert "ordinal" in result.stderr


def test_a_member_without_a_file_is_refused(layout):
    result = _run(layout, HOSTNAME="c-0-5")
    assert result.returncode != 0
    assert "broker-5.conf" in result.stderr


def test_a_missing_pod_ip_is_refused(layout):
    _fake_mqbroker(layout["bin"])
    result = _run(layout, HOSTNAME="c-0-0", POD_IP="")
    assert result.returncode != 0
    assert "POD_IP" in result.stderr
