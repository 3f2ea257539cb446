"""rocketmq-operator against a plain kopf operator (``bench/kopf_baseline.py``), like for like.

Usage: ``python bench/bench_vs_kopf.py [--clusters 1000] [--only operator|kopf] [--profile]``.

Each contender gets a control plane of its own (``hack/localcluster.py up`` with KWOK nodes only and the
API server's audit log of writes on), started fresh, so neither inherits the other's etcd or caches. Then:

1. CRDs applied, pod capacity raised, the namespaces (50 clusters each) created; the contender started as
   a process of its own (the operator: ``rocketmq-operator run``; kopf: ``kopf run --standalone``) and
   given 10 s to start;
2. N BrokerClusters of 2 groups x 2 members (``manifests/samples/04-cluster-2m-2s.yaml``, name servers on
   loopback) created on 8 client threads;
3. followed by a watch each (the StatefulSets, and the BrokerClusters; one event per change costs the API
   server far less than a table of 1,000 rows every second): StatefulSets with 2/2 ready replicas and, for the
   operator, CRs whose Ready condition says AllBrokersReady, sampled once a second until all are there;
4. 30 s of idle: writes made by the contender once converged.

The contender's writes are read from the API server's audit log, by the contender's user agent (the
operator ``rocketmq-operator/…``; kopf ``kopf/…`` and its handlers' client ``kopf-baseline/…``), by verb
and resource; its CPU time and peak RSS from /proc. ``--profile`` samples the operator with py-spy while it
converges (the thread holding the GIL) and prints where its Python CPU went; with py-spy installed, the
contender's CPU time is also read per thread from /proc at the end (thread names from ``py-spy dump``).

The operator runs with RocketMQ observation off (``--rocketmq-observe-interval 0``): KWOK pods run no
broker, and neither does kopf talk to RocketMQ. Ready then means every broker pod is Ready.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from benchkit import wait_for_default_service_accounts  # bench/ runs as scripts

from rocketmq_operator.kube import (
    BROKER_CLUSTERS,
    NAMESPACES,
    NODES,
    STATEFUL_SETS,
    AlreadyExists,
    ApiError,
    KubeClient,
    Resource,
    connect,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "manifests" / "samples" / "04-cluster-2m-2s.yaml"
PER_NAMESPACE = 50
GROUPS, MEMBERS = 2, 2
IDLE_WINDOW = 30.0
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
CONTENDERS = {
    # the second: versions before the operator named itself
    "operator": ("rocketmq-operator/", "OpenAPI-Generator/"),
    "kopf": ("kopf/", "kopf-baseline/"),
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_field(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


class Tally:
    """How many objects of a resource satisfy ``test``, kept by list then watch (reopened when it ends)."""

    def __init__(self, client: KubeClient, resource: Resource, test: Any) -> None:
        self._client, self._resource, self._test = client, resource, test
        self._ok: dict[tuple[str, str], bool] = {}
        self._stop = threading.Event()
        self._stream: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def count(self) -> int:
        return sum(self._ok.values())

    def stop(self) -> None:
        self._stop.set()
        if self._stream is not None:
            self._stream.close()

    def _note(self, obj: dict[str, Any], gone: bool = False) -> None:
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if gone:
            self._ok.pop(key, None)
        else:
            self._ok[key] = bool(self._test(obj))

    def _run(self) -> None:
        rv = ""
        while not self._stop.is_set():
            try:
                if not rv:
                    listed = self._client.list(self._resource)
                    self._ok.clear()
                    for obj in listed.items:
                        self._note(obj)
                    rv = listed.resource_version
                self._stream = self._client.watch(self._resource, resource_version=rv, timeout_seconds=300)
                for event in self._stream:
                    obj = event["object"]
                    rv = obj["metadata"].get("resourceVersion", rv)
                    if event["type"] != "BOOKMARK":
                        self._note(obj, gone=event["type"] == "DELETED")
            except ApiError:
                rv = ""  # expired or dropped: list again
                self._stop.wait(0.5)


def sts_ready(sts: dict[str, Any]) -> bool:
    return (sts.get("status") or {}).get("readyReplicas") == MEMBERS


def cr_ready(cr: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("reason") == "AllBrokersReady"
               for c in (cr.get("status") or {}).get("conditions") or ())


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of the process's live threads, by thread name with worker numbers folded together."""
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        return {}
    dump = subprocess.run([str(spy), "dump", "--pid", str(pid), "--nonblocking"], capture_output=True,
                          text=True, timeout=60, check=False).stdout
    names = {int(tid): name
             for tid, name in re.findall(r'^Thread (\d+) \([^)]*\): "([^"]*)"', dump, re.MULTILINE)}
    tick = os.sysconf("SC_CLK_TCK")
    out: Counter = Counter()
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    out["(system time, all threads)"] = int(fields[12]) / tick
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = re.sub(r"[-_]\d+$", "-N", names.get(int(task.name), "(not Python)"))
        out[name] += (int(fields[11]) + int(fields[12])) / tick
    return dict(out)


def cluster_body(namespace: str, name: str) -> dict[str, Any]:
    body = yaml.safe_load(SAMPLE.read_text())
    body["metadata"] = {"name": name, "namespace": namespace}
    body["spec"]["nameServers"] = "127.0.0.1:9876"  # nothing outside this machine, even if something dials
    assert body["spec"]["groupReplica"] == GROUPS and body["spec"]["membersPerGroup"] == MEMBERS
    return body


class ControlPlane:
    """A fresh local control plane with the audit log of writes on, in a directory of its own."""

    def __init__(self, name: str) -> None:
        self.dir = Path(f"/tmp/rocketmq-bench-{name}")
        self.env = dict(os.environ, LOCAL_CLUSTER_DIR=str(self.dir), LOCAL_CLUSTER_AUDIT="1", REAL_NODES="0")
        self.kubeconfig = str(self.dir / "kubeconfig")

    def _run(self, cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(ROOT / "hack" / "localcluster.py"), cmd], env=self.env,
                              capture_output=True, text=True, check=False)

    def up(self) -> None:
        self._run("down")
        started = time.monotonic()
        proc = self._run("up")
        if proc.returncode != 0:
            raise SystemExit(f"the local control plane did not start:\n{proc.stderr[-4000:]}")
        log(f"control plane up in {time.monotonic() - started:.0f}s ({self.dir})")
        for args in (("apply", "-f", str(ROOT / "manifests" / "crds")),
                     ("wait", "--for=condition=Established", "--timeout=60s", "crd", "-l",
                      "app.kubernetes.io/name=rocketmq-operator")):
            subprocess.run(["kubectl", f"--kubeconfig={self.kubeconfig}", *args], check=True,
                           capture_output=True, timeout=120)

    def pids(self) -> dict[str, int]:
        return json.loads((self.dir / "state.json").read_text())["pids"]

    def audit_records(self) -> list[dict[str, Any]]:
        out = []
        with open(self.dir / "logs" / "audit.log") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def down(self) -> None:
        self._run("down")


class Run:
    def __init__(self, name: str, args: argparse.Namespace) -> None:
        self.name = name
        self.args = args
        self.n = args.clusters
        self.plane = ControlPlane(name)
        self.proc: subprocess.Popen | None = None
        self.results: dict[str, Any] = {"contender": name}
        self.timeline: list[str] = []

    # -- set-up ------------------------------------------------------------------------------------

    def prepare(self) -> None:
        self.plane.up()
        self.client = connect(self.plane.kubeconfig, user_agent="rocketmq-bench/1")
        needed = GROUPS * MEMBERS * self.n + 50
        nodes = self.client.list(NODES).items
        per_node = str(-(-needed // len(nodes)))
        for node in nodes:
            self.client.patch(NODES, node["metadata"]["name"],
                              {"status": {"capacity": {"pods": per_node}, "allocatable": {"pods": per_node}}},
                              subresource="status")
        self.namespaces = [f"bench-{i}" for i in range(-(-self.n // PER_NAMESPACE))]
        for ns in self.namespaces:
            try:
                self.client.create(NAMESPACES, {"metadata": {"name": ns}})
            except AlreadyExists:
                pass
        wait_for_default_service_accounts(self.client, self.namespaces)

    def start(self) -> None:
        env = dict(os.environ, KUBECONFIG=self.plane.kubeconfig)
        if self.args.operator_src and self.name == "operator":  # another checkout's operator, e.g. a "before"
            env["PYTHONPATH"] = self.args.operator_src
        bindir = Path(sys.executable).parent
        if self.name == "operator":
            self.metrics_port = free_port()
            cmd = [str(bindir / "rocketmq-operator"), "run", "--kubeconfig", self.plane.kubeconfig,
                   "--rocketmq-observe-interval", "0",
                   "--metrics-bind-address", f"127.0.0.1:{self.metrics_port}",
                   "--log-format", "json", "--log-level", "warning",
                   *(["--workers", str(self.args.operator_workers)] if self.args.operator_workers else [])]
        else:
            cmd = [str(bindir / "kopf"), "run", "--standalone", "--all-namespaces", "--quiet",
                   str(ROOT / "bench" / "kopf_baseline.py")]
        self.log_path = self.plane.dir / "logs" / f"contender-{self.name}.log"
        self.proc = subprocess.Popen(cmd, env=env, stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
                                     cwd=ROOT, start_new_session=True)
        time.sleep(10)
        if self.proc.poll() is not None:
            raise SystemExit(f"{self.name} exited at start:\n{self.log_path.read_text()[-3000:]}")
        self.results["rss_started"] = status_field(self.proc.pid, "VmRSS")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    # -- the run -------------------------------------------------------------------------------------

    def create(self, i: int) -> None:
        ns = self.namespaces[i // PER_NAMESPACE]
        self.client.create(BROKER_CLUSTERS, cluster_body(ns, f"bc-{i:04d}"), namespace=ns)

    def converge(self) -> None:
        assert self.proc is not None
        pid, n = self.proc.pid, self.n
        profiler = self._start_profiler() if self.args.profile and self.name == "operator" else None
        cpu0 = cpu_of(pid)
        plane0 = {k: cpu_of(v) for k, v in self.plane.pids().items()}
        self.t0_wall = time.time()
        t0 = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(self.create, range(n)))
        self.results["create_s"] = time.monotonic() - t0
        log(f"{self.name}: {n} BrokerClusters created in {self.results['create_s']:.1f}s")
        want_crs = self.name == "operator"
        sets = Tally(self.client, STATEFUL_SETS, sts_ready)
        crs = Tally(self.client, BROKER_CLUSTERS, cr_ready) if want_crs else None
        sts_at = cr_at = None
        last = 0.0
        while time.monotonic() - t0 < self.args.timeout:
            time.sleep(1.0)
            elapsed = time.monotonic() - t0
            ready_sets = sets.count()
            ready_crs = crs.count() if crs is not None else 0
            if sts_at is None and ready_sets >= GROUPS * n:
                sts_at = elapsed
                self.results["cpu_at_sts"] = cpu_of(pid) - cpu0
            if want_crs and cr_at is None and ready_crs >= n:
                cr_at = elapsed
            if elapsed - last >= 10:
                line = (f"{self.name} t={elapsed:6.1f}s StatefulSets ready {ready_sets:5d}/{GROUPS * n}"
                        + (f"  CRs Ready {ready_crs:5d}/{n}" if want_crs else "")
                        + f"  cpu {cpu_of(pid) - cpu0:6.1f}s"
                          f"  rss {status_field(pid, 'VmRSS') / 2**20:6.1f} MiB")
                self.timeline.append(line)
                log(line)
                last = elapsed
            if sts_at is not None and (cr_at is not None or not want_crs):
                break
        sets.stop()
        if crs is not None:
            crs.stop()
        done = time.monotonic()
        self.results.update({"sts_ready_s": sts_at, "cr_ready_s": cr_at, "cpu_converged": cpu_of(pid) - cpu0,
                             "plane_cpu": {k: cpu_of(v) - plane0[k] for k, v in self.plane.pids().items()}})
        if profiler is not None:
            self._stop_profiler(profiler)
        # Writes made while converging end once the contender has nothing queued; give its tail 10 s,
        # then watch 30 s of idle.
        time.sleep(10)
        self.idle_from = time.time()
        cpu_idle0 = cpu_of(pid)
        time.sleep(IDLE_WINDOW)
        self.idle_to = time.time()
        self.results["cpu_idle"] = cpu_of(pid) - cpu_idle0
        self.results["cpu_total"] = cpu_of(pid) - cpu0
        self.results["hwm"] = status_field(pid, "VmHWM")
        self.results["rss_end"] = status_field(pid, "VmRSS")
        self.results["wall_to_idle_s"] = done - t0
        self.results["threads"] = thread_cpu(pid)
        if self.name == "operator":
            metrics = operator_metrics(self.metrics_port)
            self.results["reconciles"] = operator_reconciles(metrics)
            self.results["informers"] = operator_informers(metrics)

    def _start_profiler(self) -> subprocess.Popen | None:
        spy = Path(sys.executable).parent / "py-spy"
        if not spy.exists():
            log("py-spy not installed (pip install py-spy); no profile")
            return None
        self.profile_path = Path(f"/tmp/rocketmq-bench-profile-{self.name}.txt")  # kept after the plane goes
        return subprocess.Popen([str(spy), "record", "--pid", str(self.proc.pid), "--rate", "100", "--format",
                                 "raw", "--output", str(self.profile_path), "--nonblocking", "--gil"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _stop_profiler(self, profiler: subprocess.Popen) -> None:
        profiler.send_signal(signal.SIGINT)
        try:
            profiler.wait(60)
        except subprocess.TimeoutExpired:
            profiler.kill()
        self.results["profile"] = summarize_profile(self.profile_path)

    def count_writes(self) -> None:
        time.sleep(3)  # the audit backend writes in batches of at most 1 s
        prefixes = CONTENDERS[self.name]
        converge: Counter = Counter()
        idle: Counter = Counter()
        others: Counter = Counter()
        codes: Counter = Counter()
        status_writes: Counter = Counter()  # per CR
        for rec in self.plane.audit_records():
            if rec.get("stage") != "ResponseComplete" or rec.get("verb") not in WRITE_VERBS:
                continue
            at = _epoch(rec.get("requestReceivedTimestamp", ""))
            if at < self.t0_wall:
                continue
            ref = rec.get("objectRef") or {}
            what = (rec["verb"],
                    ref.get("resource", "?") + ("/" + ref["subresource"] if ref.get("subresource") else ""))
            agent = rec.get("userAgent", "")
            if agent.startswith(prefixes):
                code = (rec.get("responseStatus") or {}).get("code", 0)
                if code >= 300:
                    codes[(*what, code)] += 1
                if what[1].endswith("/status"):
                    status_writes[(ref.get("namespace"), ref.get("name"))] += 1
                (idle if self.idle_from <= at < self.idle_to
                 else converge if at < self.idle_from else Counter())[what] += 1
            elif not agent.startswith("rocketmq-bench/"):
                others[agent.split("/")[0] or "?"] += 1
        self.results.update({"writes": converge, "idle_writes": idle, "other_writes": others,
                             "failed_writes": codes, "status_writes_per_cr": Counter(status_writes.values())})

    def execute(self) -> dict[str, Any]:
        try:
            self.prepare()
            self.start()
            self.converge()
            self.count_writes()
        finally:
            self.stop()
            self.plane.down()
        return self.results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def operator_metrics(port: int) -> list[str]:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                      timeout=10).read().decode().splitlines()
    except OSError:
        return []


def operator_reconciles(lines: list[str]) -> float | None:
    """BrokerCluster syncs the operator ran, from its own /metrics (``operator_metrics``)."""
    if not lines:
        return None
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines
               if line.startswith("rocketmq_brokercluster_reconcile_total{"))


def operator_informers(lines: list[str]) -> dict[str, dict[str, float]]:
    """``{resource: {"lists", "watches", "watch_events"}}`` from the operator's /metrics, whole run."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for line in lines:
        m = re.match(r'rocketmq_operator_informer_(lists|watches|watch_events)_total'
                     r'\{resource="([^"]*)"\} (\S+)', line)
        if m:
            out[m.group(2)][m.group(1)] = float(m.group(3))
    return dict(out)


def _epoch(timestamp: str) -> float:
    from datetime import datetime
    try:
        return datetime.fromisoformat(timestamp).timestamp()  # 3.11 reads the Z suffix
    except ValueError:
        return 0.0


def summarize_profile(path: Path, top: int = 45) -> list[tuple[str, float]]:
    """py-spy's raw (collapsed) stacks (samples of the thread holding the GIL: Python work, not waits) → the
    share of samples in which each function is on the stack (inclusive), then the share in which it is the
    innermost frame (self)."""
    inclusive: Counter = Counter()
    leaf: Counter = Counter()
    total = 0
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        try:
            count = int(count_text)
        except ValueError:
            continue
        total += count
        seen = set()
        label = ""
        for frame in stack.split(";"):
            name = frame.split(" (")[0]
            where = frame[frame.find("(") + 1:frame.rfind(")")] if "(" in frame else ""
            label = f"{name} ({where.rsplit('/', 1)[-1].split(':')[0]})"
            if label not in seen:
                seen.add(label)
                inclusive[label] += count
        leaf["self: " + label] += count
    if not total:
        return []
    return [(label, 100.0 * c / total) for label, c in (*inclusive.most_common(top), *leaf.most_common(top))]


def report(runs: dict[str, dict[str, Any]], n: int) -> None:
    print(f"\n== {n} BrokerClusters of {GROUPS} groups x {MEMBERS} members, one fresh local control plane "
          f"each, {os.cpu_count()} cpus")
    rows = [
        ("create calls returned", lambda r: f"{r['create_s']:.1f} s"),
        ("all StatefulSets ready", lambda r: _s(r["sts_ready_s"])),
        ("every CR Ready",
         lambda r: _s(r["cr_ready_s"]) if r["contender"] == "operator" else "(writes none)"),
        ("API writes while converging", lambda r: f"{sum(r['writes'].values())}"),
        ("API writes per cluster", lambda r: f"{sum(r['writes'].values()) / n:.2f}"),
        ("writes in 30 s once converged", lambda r: f"{sum(r['idle_writes'].values())}"),
        ("CPU until its StatefulSets were ready", lambda r: f"{r.get('cpu_at_sts', float('nan')):.1f} s"),
        ("CPU until converged", lambda r: f"{r['cpu_converged']:.1f} s"),
        ("CPU per cluster (until converged)", lambda r: f"{1000 * r['cpu_converged'] / n:.1f} ms"),
        ("CPU in 30 s once converged", lambda r: f"{r['cpu_idle']:.2f} s"),
        ("RSS after start / peak (VmHWM)",
         lambda r: f"{r['rss_started'] / 2**20:.0f} / {r['hwm'] / 2**20:.0f} MiB"),
    ]
    names = list(runs)
    width = max(len(r[0]) for r in rows)
    print(f"{'':<{width}}  " + "".join(f"{name:>22}" for name in names))
    for label, fmt in rows:
        print(f"{label:<{width}}  " + "".join(f"{fmt(runs[name]):>22}" for name in names))
    if runs.get("operator", {}).get("reconciles") is not None:
        print(f"operator: BrokerCluster syncs while converging {runs['operator']['reconciles']:.0f} "
              f"({runs['operator']['reconciles'] / n:.1f} per cluster)")
    if runs.get("operator", {}).get("informers"):
        seen = sorted(runs["operator"]["informers"].items(), key=lambda kv: -kv[1].get("watch_events", 0))
        print("operator: watch events decoded (whole run), lists and watches, by resource: " + ", ".join(
            f"{res} {c.get('watch_events', 0):.0f} ({c.get('watch_events', 0) / n:.1f}/cluster, "
            f"{c.get('lists', 0):.0f} list(s), {c.get('watches', 0):.0f} watch(es))"
            for res, c in seen if c.get("watch_events") or c.get("lists", 0) > 1))
    if set(names) == {"operator", "kopf"}:
        o, k = runs["operator"], runs["kopf"]
        if o["cr_ready_s"] and k["sts_ready_s"]:
            print(f"ratio: operator every CR Ready / kopf StatefulSets ready = "
                  f"{o['cr_ready_s'] / k['sts_ready_s']:.2f}")
        print(f"ratio: writes per cluster operator / kopf = "
              f"{sum(o['writes'].values()) / max(1, sum(k['writes'].values())):.2f}")
        print(f"ratio: CPU per cluster operator / kopf = "
              f"{o['cpu_converged'] / max(1e-9, k['cpu_converged']):.2f}")
    for name, r in runs.items():
        print(f"\n{name}: writes while converging, by verb and resource")
        for (verb, res), count in sorted(r["writes"].items(), key=lambda kv: -kv[1]):
            print(f"  {verb:<7} {res:<40} {count:6d}  ({count / n:.2f}/cluster)")
        if r["failed_writes"]:
            print(f"{name}: writes the API server refused (counted above): "
                  + ", ".join(f"{verb} {res} {code}: {count}"
                              for (verb, res, code), count in r["failed_writes"].items()))
        print(f"{name}: CRs by number of status writes: "
              + ", ".join(f"{k} write(s): {v}" for k, v in sorted(r["status_writes_per_cr"].items())))
        if r["idle_writes"]:
            print(f"{name}: writes once converged: {dict(r['idle_writes'])}")
        print(f"{name}: other clients' writes meanwhile: {dict(r['other_writes'].most_common())}")
        print(f"{name}: control-plane CPU while converging: "
              + ", ".join(f"{k} {v:.0f} s" for k, v in sorted(r["plane_cpu"].items(), key=lambda kv: -kv[1])))
        if r.get("threads"):
            print(f"{name}: CPU by thread (from /proc, whole run): "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(r["threads"].items(), key=lambda kv: -kv[1])
                              if v >= 0.05))
        if r.get("profile"):
            print(f"{name}: py-spy, share of CPU samples with the function on the stack (inclusive), then "
                  f"as the innermost frame (self):")
            for label, share in r["profile"]:
                print(f"  {share:5.1f}%  {label}")


def _s(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--only", choices=tuple(CONTENDERS), default=None)
    parser.add_argument("--profile", action="store_true",
                        help="sample the operator with py-spy while it converges")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--operator-workers", type=int, default=None,
                        help="the operator's --workers (default: its own)")
    parser.add_argument("--operator-src", default=None,
                        help="run the operator from this checkout (PYTHONPATH), e.g. an older commit for a "
                             "before/after")
    args = parser.parse_args()
    runs = {}
    for name in ([args.only] if args.only else ["kopf", "operator"]):
        log(f"== {name}")
        runs[name] = Run(name, args).execute()
    report(runs, args.clusters)
    return 0


if __name__ == "__main__":
    sys.exit(main())
