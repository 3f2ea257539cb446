#!/usr/bin/env python3
"""The local control plane: a real Kubernetes API server and friends, as plain processes on 127.0.0.1.

Usage: ``localcluster.py up|down|status`` (the Makefile's ``cluster-up`` / ``cluster-down``).

``up`` builds the binaries when they are missing (``hack/build-control-plane.sh``), generates a CA and
certificates, starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on free
loopback ports, writes ``<dir>/kubeconfig``, creates a default StorageClass (the controller manager's
in-tree host-path provisioner binds claims) and fake nodes spread over zones, and returns once
``/readyz`` is ok and every node is Ready. KWOK plays the kubelet of the fake nodes under a user of its own
(``kwok``), which an admission policy allows to delete only pods already being deleted (see
``KWOK_DELETE_POLICY``). ``<dir>`` is ``$LOCAL_CLUSTER_DIR`` or ``.cluster``; two
clusters in two directories run side by side.

Where the machine allows (root, Linux, cgroups, iproute2) and ``REAL_NODES`` is not ``0``, ``up`` also
adds real nodes (``hack/realnodes.py``: kubelet, containerd, CoreDNS, kube-proxy on a private bridge),
labelled and tainted so that only pods that opt in run there. When they fail to come up the cluster runs
with KWOK nodes only and says why in one line — except under ``CI=true``, where ``up`` fails.

``LOCAL_CLUSTER_AUDIT=1`` makes the API server write an audit record of every write (metadata only) to
``<dir>/logs/audit.log``: who wrote what, by user agent (the benchmarks count writes per client from it).

Standard library only, so it runs before the project's virtualenv exists.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HACK = Path(__file__).resolve().parent
sys.path.insert(0, str(HACK))
import hostutil  # hack/ is not a package; localcluster.py runs as a script
import realnodes
from hostutil import free_port, pid_alive, port_open, write_kubeconfig

ROOT = HACK.parent
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
NODES = (("kwok-node-0", "zone-a"), ("kwok-node-1", "zone-b"), ("kwok-node-2", "zone-a"),
         ("kwok-node-3", "zone-b"))
SERVICE_CIDR = "10.96.0.0/16"
START_TIMEOUT = 120.0


class ClusterError(RuntimeError):
    pass


def cluster_dir() -> Path:
    return Path(os.environ.get("LOCAL_CLUSTER_DIR") or ROOT / ".cluster").resolve()


log = hostutil.logger("localcluster")
# run(*args, check=True, **kw): output captured as text; a failure raises ClusterError.
run = functools.partial(hostutil.run, error=ClusterError, words=3)


# ---------------------------------------------------------------- certificates

def make_certs(pki: Path, extra_sans: list[str] = ()) -> None:
    pki.mkdir(parents=True, exist_ok=True)
    o = lambda *a: run("openssl", *a, cwd=pki)
    o("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
      "-subj", "/CN=rocketmq-operator-local-ca")
    (pki / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,IP:10.96.0.1," + "".join(f"{s}," for s in extra_sans) +
        "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n"
        "extendedKeyUsage=serverAuth\n")
    (pki / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    hostutil.sign_certs(o, (("apiserver", "/CN=kube-apiserver", "server.ext"),
                            ("admin", "/O=system:masters/CN=local-admin", "client.ext"),
                            ("kwok", f"/O=system:masters/CN={KWOK_USER}", "client.ext")))
    o("genrsa", "-out", "sa.key", "2048")
    o("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub")


# ---------------------------------------------------------------- processes

def component_args(name: str, bin_dir: Path, d: Path, ports: dict[str, int],
                   extra: dict[str, list[str]] | None = None) -> list[str]:
    """The command line of one component; ``extra`` flags come last (for a repeated flag the last wins)."""
    return _component_args(name, bin_dir, d, ports) + list((extra or {}).get(name, ()))


def _component_args(name: str, bin_dir: Path, d: Path, ports: dict[str, int]) -> list[str]:
    pki, kc = d / "pki", str(d / "kubeconfig")
    if name == "etcd":
        return [str(bin_dir / "etcd"), "--name=local", f"--data-dir={d / 'data' / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{ports['etcd']}",
                f"--advertise-client-urls=http://127.0.0.1:{ports['etcd']}",
                f"--listen-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
                f"--initial-cluster=local=http://127.0.0.1:{ports['etcd-peer']}",
                "--unsafe-no-fsync=true", "--quota-backend-bytes=4294967296", "--log-level=warn"]
    if name == "kube-apiserver":
        return [str(bin_dir / "kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
                "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
                f"--secure-port={ports['apiserver']}", f"--cert-dir={d / 'data' / 'apiserver'}",
                f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}", "--authorization-mode=Node,RBAC",
                "--allow-privileged=true", "--endpoint-reconciler-type=none", "--v=1"]
    if name == "kube-controller-manager":
        return [str(bin_dir / "kube-controller-manager"), f"--kubeconfig={kc}",
                f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
                "--bind-address=127.0.0.1", f"--secure-port={ports['controller-manager']}",
                # its self-signed serving cert, not in /tmp
                f"--cert-dir={d / 'data' / 'controller-manager'}",
                "--leader-elect=false", "--enable-hostpath-provisioner=true",
                f"--root-ca-file={pki / 'ca.crt'}", f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}", "--use-service-account-credentials=false",
                "--concurrent-statefulset-syncs=10", "--concurrent-gc-syncs=20",
                "--kube-api-qps=200", "--kube-api-burst=400", "--v=1"]
    if name == "kube-scheduler":
        return [str(bin_dir / "kube-scheduler"), f"--kubeconfig={kc}",
                f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
                "--bind-address=127.0.0.1", f"--secure-port={ports['scheduler']}", "--leader-elect=false",
                f"--cert-dir={d / 'data' / 'scheduler'}",
                # A pod found unschedulable (a claim not bound yet) waits for an event that says it may fit
                # now; when that requeue is missed it sat out the default 5 minutes before another try.
                "--pod-max-in-unschedulable-pods-duration=20s",
                "--kube-api-qps=200", "--kube-api-burst=400", "--v=1"]
    if name == "kwok":
        return [str(bin_dir / "kwok"), f"--kubeconfig={d / 'kwok.kubeconfig'}",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                f"--server-address=127.0.0.1:{ports['kwok']}", "--cidr=10.244.0.1/16", "--node-ip=127.0.0.1",
                "--node-lease-duration-seconds=40"]
    raise ValueError(name)


AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- level: None
"""


def audit_args(d: Path) -> list[str]:
    """API-server flags for an audit log of writes (``LOCAL_CLUSTER_AUDIT=1``), else none."""
    if os.environ.get("LOCAL_CLUSTER_AUDIT") != "1":
        return []
    policy = d / "audit-policy.yaml"
    policy.write_text(AUDIT_POLICY)
    return [f"--audit-policy-file={policy}", f"--audit-log-path={d / 'logs' / 'audit.log'}",
            "--audit-log-format=json", "--audit-log-mode=batch", "--audit-log-maxsize=0"]


def start(name: str, args: list[str], d: Path, env: dict | None = None) -> int:
    with open(d / "logs" / f"{name}.log", "ab") as logf:
        proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=d, env=env)
    return proc.pid


def log_tail(d: Path, name: str, lines: int = 25) -> str:
    try:
        return "\n".join((d / "logs" / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_for(what: str, check, *, timeout: float, d: Path, component: str, pid: int | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if pid is not None and not pid_alive(pid):
            raise ClusterError(f"{component} exited while waiting for {what}; last log lines:\n"
                               f"{log_tail(d, component)}")
        time.sleep(0.25)
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}; {component} log:\n"
                       f"{log_tail(d, component)}")


def kubectl(d: Path, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    return run("kubectl", f"--kubeconfig={d / 'kubeconfig'}", "--request-timeout=10s", *args, check=check,
               input=stdin)


def readyz(d: Path) -> bool:
    return kubectl(d, "get", "--raw", "/readyz", check=False).stdout.strip() == "ok"


# ---------------------------------------------------------------- cluster objects

def node_manifest(name: str, zone: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name,
                     "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64", "type": "kwok",
                                "topology.kubernetes.io/zone": zone}},
        "status": {"allocatable": {"cpu": "64", "memory": "256Gi", "pods": "500"},
                   "capacity": {"cpu": "64", "memory": "256Gi", "pods": "500"}},
    }


STORAGE_CLASS = {
    "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
    "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
    "provisioner": "kubernetes.io/host-path", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
}


# KWOK (v0.7.0 and its main branch alike) ends a terminating pod with a delete by name, without the uid
# precondition the kubelet has used since Kubernetes 1.3 (kubernetes/kubernetes#25224), and it queues one
# such delete per update it sees of the terminating pod, its own first delete included (which sets the grace
# period to 0 before removing the pod). A StatefulSet recreates a pod under the same name within
# milliseconds, so a delete still queued for the old pod could remove the new one: in a rolling update, a pod
# restarted twice. The policy refuses KWOK's deletes of pods that are not being deleted, which only such a
# stale delete can be; it does not retry them.
KWOK_USER = "kwok"
KWOK_DELETE_POLICY = [
    {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
     "metadata": {"name": "kwok-deletes-terminating-pods-only"},
     "spec": {"failurePolicy": "Fail",
              "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                      "operations": ["DELETE"], "resources": ["pods"]}]},
              "matchConditions": [{"name": "kwok",
                                   "expression": f"request.userInfo.username == '{KWOK_USER}'"}],
              "validations": [{"expression": "has(oldObject.metadata.deletionTimestamp)",
                               "message": "kwok deletes only pods being deleted: this delete was meant for "
                                          "an earlier pod of the same name"}]}},
    {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
     "metadata": {"name": "kwok-deletes-terminating-pods-only"},
     "spec": {"policyName": "kwok-deletes-terminating-pods-only", "validationActions": ["Deny"]}},
]


def create_objects(d: Path) -> None:
    items = [STORAGE_CLASS] + [node_manifest(n, z) for n, z in NODES] + KWOK_DELETE_POLICY
    kubectl(d, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))


def nodes_ready(d: Path) -> bool:
    out = kubectl(d, "get", "nodes", "-o", "json", check=False)
    if out.returncode != 0:
        return False
    nodes = json.loads(out.stdout)["items"]
    ready = [n for n in nodes for c in n.get("status", {}).get("conditions", [])
             if c["type"] == "Ready" and c["status"] == "True"]
    return len(ready) >= len(NODES)


def default_sa_exists(d: Path) -> bool:
    return kubectl(d, "get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0


# ---------------------------------------------------------------- commands

def state_path(d: Path) -> Path:
    return d / "state.json"


def read_state(d: Path) -> dict | None:
    return hostutil.read_json(state_path(d))


def running(d: Path) -> bool:
    return hostutil.any_pid_alive(read_state(d))


def build_binaries() -> Path:
    return hostutil.built_path(HACK / "build-control-plane.sh",
                               ClusterError("building the control plane failed (see the step named above)"))


def up() -> int:
    d = cluster_dir()
    if running(d):
        log(f"a local cluster is already running in {d} (kubeconfig {d / 'kubeconfig'}); "
            f"run 'make cluster-down' first or set LOCAL_CLUSTER_DIR for a second one")
        return 0
    t0 = time.monotonic()
    bin_dir = build_binaries()
    if d.exists():
        down(quiet=True)
    for sub in ("logs", "data"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    unavailable = realnodes.unavailable_reason()
    skipped = unavailable[0] if unavailable else None
    if unavailable and unavailable[1] and os.environ.get("CI") == "true":
        raise ClusterError(f"real nodes cannot come up under CI=true: {skipped}")
    make_certs(d / "pki", [] if skipped else realnodes.server_sans())
    ports = {k: free_port()
             for k in ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok")}
    write_kubeconfig(d / "kubeconfig", d / "pki", f"https://127.0.0.1:{ports['apiserver']}")
    write_kubeconfig(d / "kwok.kubeconfig", d / "pki", f"https://127.0.0.1:{ports['apiserver']}",
                     user=KWOK_USER)
    state = {"ports": ports, "pids": {}, "bin": str(bin_dir), "extra_args": {}}
    if audit_args(d):
        state["extra_args"]["kube-apiserver"] = audit_args(d)
    nodes = None if skipped else realnodes.RealNodes(d, start, wait_for, kubectl)

    def save_state():
        state_path(d).write_text(json.dumps(state, indent=2))

    def real_nodes_failed(phase: str, e: Exception) -> None:
        nonlocal nodes
        nodes_timings = nodes.timing_line() if nodes is not None else ""
        state["realnodes_failed"] = f"{phase}: {e}"
        realnodes.teardown(d, quiet=True)
        state.pop("realnodes", None)
        state["extra_args"]["kube-apiserver"] = audit_args(d)
        save_state()
        nodes = None
        if os.environ.get("CI") == "true":
            raise ClusterError(f"real nodes failed under CI=true ({phase}): {e}")
        log(f"real nodes: FAILED ({phase}), continuing with KWOK nodes only: {str(e).splitlines()[0]}")
        if nodes_timings:
            log(f"real nodes: steps before the failure: {nodes_timings}")

    if skipped:
        state["realnodes_skipped"] = skipped
        state["realnodes_expected"] = unavailable[1]
        log(f"real nodes: skipped ({skipped})")
    else:
        try:
            nodes.prepare(state)
            state["extra_args"]["kube-apiserver"] = audit_args(d) + realnodes.apiserver_args(d / "pki")
        except realnodes.RealNodeError as e:
            real_nodes_failed("prepare", e)
    save_state()
    try:
        for name in COMPONENTS:
            pid = start(name, component_args(name, bin_dir, d, ports, state["extra_args"]), d)
            state["pids"][name] = pid
            state_path(d).write_text(json.dumps(state, indent=2))
            if name == "etcd":
                wait_for("etcd", lambda: port_open(ports["etcd"]), timeout=30, d=d, component=name, pid=pid)
            elif name == "kube-apiserver":
                wait_for("/readyz", lambda: readyz(d), timeout=START_TIMEOUT, d=d, component=name, pid=pid)
                create_objects(d)
        wait_for("nodes Ready", lambda: nodes_ready(d), timeout=60, d=d, component="kwok",
                 pid=state["pids"]["kwok"])
        wait_for("default ServiceAccount", lambda: default_sa_exists(d), timeout=60, d=d,
                 component="kube-controller-manager", pid=state["pids"]["kube-controller-manager"])
        if nodes is not None:
            try:
                nodes.start(state, save_state)
                log(f"real nodes {', '.join(state['realnodes']['nodes'])} Ready: {nodes.timing_line()}")
            except (realnodes.RealNodeError, ClusterError, OSError, subprocess.TimeoutExpired) as e:
                real_nodes_failed("start", e)
                restart("kube-apiserver")  # back on 127.0.0.1 only, now that the guard chain is gone
    except (ClusterError, KeyboardInterrupt):
        down(quiet=True, keep_logs=True)
        raise
    log(f"cluster up in {time.monotonic() - t0:.1f}s: https://127.0.0.1:{ports['apiserver']}; "
        f"export KUBECONFIG={d / 'kubeconfig'}")
    return 0


def remove_provisioned_dirs(d: Path) -> None:
    """The host directories the controller manager's host-path provisioner made for this cluster's
    volumes (real-node pods write into them; the provisioner only removes them when a claim goes)."""
    out = kubectl(d, "get", "pv", "-o", "json", check=False)
    if out.returncode != 0:
        return
    for pv in json.loads(out.stdout).get("items", []):
        provisioner = pv.get("metadata", {}).get("annotations", {}).get("pv.kubernetes.io/provisioned-by")
        path = (pv.get("spec", {}).get("hostPath") or {}).get("path", "")
        if provisioner == "kubernetes.io/host-path" and path.startswith("/tmp/hostpath_pv/") and \
                ".." not in path:
            run("rm", "-rf", path, check=False)


def down(quiet: bool = False, keep_logs: bool = False) -> int:
    d = cluster_dir()
    state = read_state(d)
    realnodes.teardown(d, quiet=quiet)
    if state and running(d):
        remove_provisioned_dirs(d)
    if state:
        for name in reversed(COMPONENTS):
            pid = state.get("pids", {}).get(name)
            if pid:
                hostutil.stop_group(pid)
    if d.exists():
        for child in d.iterdir():
            if keep_logs and child.name == "logs":
                continue
            run("rm", "-rf", str(child))
        if not keep_logs:
            run("rm", "-rf", str(d))
    if not quiet:
        log(f"cluster in {d} stopped and removed")
    return 0


def status() -> int:
    d = cluster_dir()
    state = read_state(d)
    if not state or not running(d):
        print(f"no local cluster running in {d}")
        return 1
    for name, pid in state["pids"].items():
        print(f"{name:<25} pid {pid:<8} {'running' if pid_alive(pid) else 'STOPPED'}")
    for line in realnodes.status_line(state):
        print(line)
    for key in ("realnodes_skipped", "realnodes_failed"):
        if key in state:
            print(f"real nodes: {key.split('_')[1]} ({state[key]})")
    print(f"kubeconfig: {d / 'kubeconfig'}  readyz: {'ok' if readyz(d) else 'not ready'}")
    return 0


def restart(component: str) -> int:
    """Stops one component (SIGKILL, as a crash would) and starts it again on the same ports and data."""
    d = cluster_dir()
    state = read_state(d)
    if not state or not running(d):
        raise ClusterError(f"no local cluster running in {d}")
    if component not in COMPONENTS:
        raise ClusterError(f"unknown component {component!r}; one of {', '.join(COMPONENTS)}")
    pid = state["pids"][component]
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 30
    port = {"kube-apiserver": "apiserver", "kube-controller-manager": "controller-manager",
            "kube-scheduler": "scheduler"}.get(component, component)
    while (pid_alive(pid) or port_open(state["ports"][port])) and time.monotonic() < deadline:
        time.sleep(0.05)
    new_pid = start(component, component_args(component, Path(state["bin"]), d, state["ports"],
                                              state.get("extra_args")), d)
    state["pids"][component] = new_pid
    state_path(d).write_text(json.dumps(state, indent=2))
    if component == "kube-apiserver":
        wait_for("/readyz", lambda: readyz(d), timeout=START_TIMEOUT, d=d, component=component, pid=new_pid)
    log(f"{component} restarted (pid {new_pid})")
    return 0


def main(argv: list[str]) -> int:
    cmds = {"up": up, "down": down, "status": status}
    if len(argv) == 3 and argv[1] == "restart":
        try:
            return restart(argv[2])
        except ClusterError as e:
            log(f"error: {e}")
            return 1
    if len(argv) != 2 or argv[1] not in cmds:
        print(f"usage: {argv[0]} up|down|status|restart COMPONENT", file=sys.stderr)
        return 2
    try:
        return cmds[argv[1]]()
    except ClusterError as e:
        log(f"error: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
