"""The operator as a process: flags, probes, metrics, signals and leader election on a real Lease."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client

from tests.e2e.conftest import needs_exclusive_cluster
from tests.e2e.waiting import eventually

pytestmark = needs_exclusive_cluster

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = [sys.executable, "-m", "rocketmq_operator.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OperatorProcess:
    def __init__(self, kubeconfig: str, *extra: str, identity: str, log_dir: Path) -> None:
        self.port = free_port()
        self.log_path = log_dir / f"{identity}.log"
        env = dict(os.environ, POD_NAME=identity, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [*OPERATOR, "run", "--kubeconfig", kubeconfig, "--metrics-bind-address", f"127.0.0.1:{self.port}",
             "--log-format", "json", *extra],
            stdout=self.log_path.open("w"), stderr=subprocess.STDOUT, env=env, cwd=ROOT)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)


@pytest.fixture
def operators(kubeconfig, crds, tmp_path):
    started: list[OperatorProcess] = []

    def start(*extra: str, identity: str) -> OperatorProcess:
        p = OperatorProcess(kubeconfig, *extra, identity=identity, log_dir=tmp_path)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def test_a_wrong_flag_gives_one_clear_line_and_a_nonzero_exit():
    proc = subprocess.run([*OPERATOR, "run", "--workers", "zero"], check=False, capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert "--workers" in proc.stderr and "Traceback" not in proc.stderr


def test_an_unreachable_cluster_gives_one_clear_line_and_exit_1(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    port = free_port()
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}', "
        f"insecure-skip-tls-verify: true}}}}]\n"
        "users: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n")
    proc = subprocess.run([*OPERATOR, "run", "--kubeconfig", str(kubeconfig), "--metrics-bind-address",
                           f"127.0.0.1:{free_port()}"], check=False, capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    assert proc.returncode == 1
    assert "cannot reach the Kubernetes API" in proc.stderr and "Traceback" not in proc.stderr


def test_the_operator_serves_probes_and_metrics_and_exits_0_on_sigterm(operators):
    op = operators(identity="probe-test")
    eventually(lambda: op.get("/readyz")[0] == 200, timeout=60, what="/readyz ok")
    assert op.get("/healthz") == (200, "ok\n")
    status, body = op.get("/metrics")
    assert status == 200 and "process_resident_memory_bytes" in body
    assert op.stop() == 0
    assert '"connected"' in op.log() and "server_version" in op.log()


def _lease_holder(api_client) -> str:
    lease = client.CoordinationV1Api(api_client).read_namespaced_lease("rocketmq-operator-lock", "default")
    return lease.spec.holder_identity or ""


def test_only_one_of_two_operators_leads_and_the_other_takes_over_after_kill_9(operators, api_client):
    first = operators("--leader-elect", identity="candidate-a")
    eventually(lambda: _lease_holder(api_client) == "candidate-a", timeout=60, what="candidate-a to lead")
    second = operators("--leader-elect", identity="candidate-b")
    eventually(lambda: second.get("/readyz")[0] == 200, timeout=60, what="the standby to be Ready")
    time.sleep(3)  # a retry period or more: the standby must not take the lease while it is renewed
    assert _lease_holder(api_client) == "candidate-a"
    assert "became leader" in first.log() and "became leader" not in second.log()

    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    killed_at = time.monotonic()
    eventually(lambda: _lease_holder(api_client) == "candidate-b", timeout=30, interval=0.2,
               what="candidate-b to take over")
    took = time.monotonic() - killed_at
    assert took <= 15 + 2 + 2, f"take-over took {took:.1f}s, more than the lease duration plus a retry period"
    assert "became leader" in second.log()

    assert second.stop() == 0, second.log()[-3000:]
    eventually(lambda: _lease_holder(api_client) == "", timeout=10, what="the lease to be released")


def test_custom_resources_the_api_server_does_not_serve_are_named(kubeconfig, crds):
    from rocketmq_operator.kube import BROKERS, Resource, connect
    from rocketmq_operator.manager import missing_crds

    unknown = Resource("rocketmq.apache.org", "v1alpha1", "nosuchthings", "NoSuchThing")
    assert missing_crds(connect(kubeconfig), (BROKERS, unknown)) == ["nosuchthings.rocketmq.apache.org"]
