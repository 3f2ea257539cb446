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


WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def _audited_writes(audit_log: Path, agent: str) -> list[dict]:
    import json

    records = [json.loads(line) for line in audit_log.read_text().splitlines() if line.strip()]
    return [r for r in records if agent in (r.get("userAgent") or "") and r.get("verb") in WRITE_VERBS]


def _micro(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(text).timestamp()


def _name_service(name: str, size: int = 1) -> dict:
    return {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "NameService", "metadata": {"name": name},
            "spec": {"size": size, "nameServiceImage": "apache/rocketmq:5.3.3",
                     "imagePullPolicy": "IfNotPresent", "storageMode": "EmptyDir"}}


def test_a_leader_frozen_past_its_lease_writes_nothing_once_thawed(operators, api_client, local_cluster_dir,
                                                                    namespace):
    """SIGSTOP the leader longer than the lease while clusters change; the standby takes over; SIGCONT the old
    leader: the API server's audit log holds no write of its user agent after the standby acquired the lease,
    and the old leader exits 1 (lost the lease)."""
    from tests.e2e.clusters import create_cr, get_cr, patch_cr

    if local_cluster_dir is None:
        pytest.skip("needs the session's local control plane and its audit log")
    audit_log = local_cluster_dir / "logs" / "audit.log"
    first = operators("--leader-elect", identity="frozen-a")
    eventually(lambda: _lease_holder(api_client) == "frozen-a", timeout=60, what="frozen-a to lead")
    second = operators("--leader-elect", identity="frozen-b")
    eventually(lambda: second.get("/readyz")[0] == 200, timeout=60, what="the standby to be Ready")
    create_cr(api_client, "NameService", namespace, _name_service("before"))
    def status_size(name: str):
        return (get_cr(api_client, "NameService", namespace, name).get("status") or {}).get("size")

    eventually(lambda: status_size("before"), timeout=60,
               what="the leader to write the first NameService's status")
    assert _audited_writes(audit_log, "(frozen-a)"), "the leader's writes are in the audit log"

    first.proc.send_signal(signal.SIGSTOP)
    frozen_at = time.monotonic()
    try:
        for i in range(3):  # work the frozen leader's watches will deliver when it wakes
            create_cr(api_client, "NameService", namespace, _name_service(f"while-frozen-{i}"))
        patch_cr(api_client, "NameService", namespace, "before", {"spec": {"size": 2}})
        eventually(lambda: _lease_holder(api_client) == "frozen-b", timeout=40, interval=0.2,
                   what="frozen-b to take the lease")
        handover = time.monotonic() - frozen_at
        leases = client.CoordinationV1Api(api_client)
        lease = leases.read_namespaced_lease("rocketmq-operator-lock", "default")
        acquired = lease.spec.acquire_time.timestamp()
        eventually(lambda: all(status_size(f"while-frozen-{i}") for i in range(3)),
                   timeout=60, what="the new leader to serve what changed meanwhile")
        patch_cr(api_client, "NameService", namespace, "before", {"spec": {"size": 3}})  # more work on waking
    finally:
        first.proc.send_signal(signal.SIGCONT)
    assert first.proc.wait(60) == 1, first.log()[-3000:]
    assert "leadership lost" in first.log()

    # once the marker is logged, everything before it is too
    marker = f"audit-marker-{int(time.time() * 1000)}"
    client.CoreV1Api(api_client).create_namespaced_config_map(namespace, {"metadata": {"name": marker}})
    eventually(lambda: marker in audit_log.read_text(), timeout=60, what="the audit log to reach the marker")
    late = [f"{r['verb']} {(r.get('objectRef') or {}).get('resource')}/"
            f"{(r.get('objectRef') or {}).get('name')} at {r['requestReceivedTimestamp']}"
            for r in _audited_writes(audit_log, "(frozen-a)")
            if _micro(r["requestReceivedTimestamp"]) >= acquired]
    assert late == [], f"the old leader wrote after frozen-b acquired the lease: {late}"
    assert _audited_writes(audit_log, "(frozen-b)"), "the new leader's writes are in the audit log"
    print(f"FIGURE leader hand-over after SIGSTOP of the leader: {handover:.1f}s (lease 15 s, retry 2 s)")


def test_an_operator_whose_caches_cannot_fill_turns_healthz_red_and_says_which(operators, api_client,
                                                                                 namespace, tmp_path):
    """A ServiceAccount without any role: every list is forbidden, the reflectors keep failing, and after
    --cache-unhealthy-after /healthz answers 503 (the kubelet would restart the pod) while the failures show
    on /metrics; before that bound /healthz is ok."""
    from tests.e2e.rbac import service_account_kubeconfig

    core = client.CoreV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "nobody"}})
    kubeconfig = service_account_kubeconfig(api_client, namespace=namespace,
                                            path=tmp_path / "nobody.kubeconfig", name="nobody")
    proc = OperatorProcess(kubeconfig, "--cache-unhealthy-after", "10", "--namespace", namespace,
                           identity="nobody", log_dir=tmp_path)
    try:
        eventually(lambda: proc.get("/healthz")[0] in (200, 503), timeout=30, what="the probe server")
        assert proc.get("/healthz")[0] == 200  # failing, but not yet for 10 s
        eventually(lambda: proc.get("/healthz")[0] == 503, timeout=30, interval=0.5,
                   what="/healthz to turn red once the caches failed for 10 s")
        metrics = proc.get("/metrics")[1]
        failures = [line for line in metrics.splitlines()
                    if line.startswith("rocketmq_operator_informer_failures_total{")]
        assert failures and all(float(line.rsplit(" ", 1)[1]) >= 1 for line in failures), failures
        assert "informers not delivering" in proc.log()
    finally:
        proc.stop()
