"""Covers the readiness check of scripts/broker-probe.sh against fake name servers on 127.0.0.1 (the real-JVM
cases are in tests/rocketmq/test_probe_script_real.py): the name servers are asked at once, each bounded, so
a hung or unreachable one neither delays the answer of a healthy one nor stretches the probe past its
timeoutSeconds."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from importlib import resources as package_files
from pathlib import Path

import pytest

from tests.unit.rocketmq.rmq_fakes import FakeServer, hold_open, respond, serve_forever

pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                reason="the probe runs under bash with coreutils' timeout")
SCRIPT = package_files.files("rocketmq_operator").joinpath("scripts/broker-probe.sh")
ME = "127.0.0.1:10911"


def lists(*addrs: str):
    body = ('{"brokerAddrTable":{"b":{"brokerAddrs":{' + ",".join(f'{i}:"{a}"' for i, a in enumerate(addrs))
            + '},"brokerName":"b","cluster":"C"}},"clusterAddrTable":{"C":["b"]}}').encode()
    return serve_forever(lambda request: respond(request, body=body))


def probe(tmp_path: Path, name_servers: list[str], *, timeout: str = "3") -> tuple[int, str, float]:
    conf = tmp_path / "conf"
    conf.mkdir(exist_ok=True)
    (conf / "broker-0.conf").write_text(
        f"brokerName=b\nlistenPort=10911\nnamesrvAddr={';'.join(name_servers)}\n")
    env = {"PATH": "/usr/bin:/bin", "POD_NAME": "c-0-0", "POD_IP": "127.0.0.1", "BROKER_CONF_DIR": str(conf),
           "BROKER_RUN_DIR": str(tmp_path / "run"), "NAME_SERVER_TIMEOUT": timeout}
    started = time.monotonic()
    done = subprocess.run(["bash", str(SCRIPT), "ready"], env=env, capture_output=True, text=True, timeout=30,
                          check=False)
    return done.returncode, done.stderr, time.monotonic() - started


class Unanswered:
    """A listening port whose accept queue is full: a connect to it hangs, as to a host that drops SYNs."""

    def __enter__(self) -> str:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=0)
        addr = self._listener.getsockname()
        self._fillers = []
        for _ in range(3):  # fill the queue; connects beyond it are left waiting by the kernel
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(addr)
            self._fillers.append(s)
        return f"127.0.0.1:{addr[1]}"

    def __exit__(self, *exc: object) -> None:
        for s in self._fillers:
            s.close()
        self._listener.close()


def test_a_healthy_name_server_answers_at_once_though_another_is_hung(tmp_path):
    with FakeServer(hold_open) as hung, FakeServer(lists(ME)) as healthy:
        code, err, took = probe(tmp_path, [hung.addr, healthy.addr])
    assert code == 0, err
    assert took < 2, f"the hung name server delayed the answer: {took:.1f}s"


def test_two_hung_name_servers_cost_one_bound_not_two(tmp_path):
    with FakeServer(hold_open) as a, FakeServer(hold_open) as b, Unanswered() as c:
        code, err, took = probe(tmp_path, [a.addr, b.addr, c], timeout="1")
    assert code == 1 and "is not registered on any of" in err
    assert 1 <= took < 2.5, f"{took:.1f}s: the name servers were not asked at once, each bounded"


def test_a_name_server_that_lists_other_brokers_only_is_not_enough(tmp_path):
    with FakeServer(lists("127.0.0.1:20911")) as other, FakeServer(lists(ME)) as mine:
        assert probe(tmp_path, [other.addr])[0] == 1
        assert probe(tmp_path, [other.addr, mine.addr])[0] == 0
