"""Prints how fast the operator converges N BrokerClusters, what it writes, and how that compares with
creating the same objects straight from a script (the "floor").

Usage: ``python bench/bench_brokerclusters.py [--clusters 200] [--kubeconfig PATH] [--workers 4]
[--concurrency 8]``. Without ``--kubeconfig`` it starts its own local control plane in
``/tmp/rocketmq-bench-cluster`` (``hack/localcluster.py up``) and takes it down at the end.

Phases (figures only, no assertions):

1. CRDs applied; baseline RSS of this process; the operator started in-process (as the e2e ``operator``
   fixture does) with a ``RequestCounter`` on its own client. The benchmark's client side lives in the
   same process and talks through a second client (its own counter), so the operator's counter holds
   only the operator's calls.
2. N BrokerClusters (the talk's 2 groups x 2 members, ``manifests/samples/04-cluster-2m-2s.yaml``), one
   namespace per 50 clusters, created at once on ``--concurrency`` threads. Time until every one is
   Ready (Ready=True, observedGeneration == generation; a cluster-wide list every second), the
   operator's writes per cluster, then a no-op resync of the BrokerCluster informer and its writes.
3. Right after the N creations return, one extra cluster: time until both of its StatefulSets exist.
   Then (``--restart-probe``, default on) the same after an operator restart, where the N existing
   clusters come from the initial list at low priority.
4. The floor: namespaces deleted, operator stopped, then the CRs and exactly the objects the operator
   would create for them written by this script on the same number of threads; time until every
   StatefulSet has readyReplicas == 2.

Along the way it samples, once a second, the operator's queue, its reconcile count, how many
StatefulSets / ready replicas its caches hold, and the CPU time of this process and (when it started
the control plane itself) of each control-plane component, to show what dominates.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from benchkit import wait_for_default_service_accounts  # bench/ runs as scripts
from prometheus_client import REGISTRY

from rocketmq_operator import logs
from rocketmq_operator.kube import (
    BROKER_CLUSTERS,
    CONFIG_MAPS,
    NAMESPACES,
    NODES,
    POD_DISRUPTION_BUDGETS,
    SERVICES,
    STATEFUL_SETS,
    AlreadyExists,
    KubeClient,
    NotFound,
    RequestCounter,
    connect,
)
from rocketmq_operator.manager import Operator
from rocketmq_operator.resources.brokers import broker_cluster_objects
from rocketmq_operator.resources.model import from_broker_cluster

ROOT = Path(__file__).resolve().parents[1]
BENCH_CLUSTER_DIR = "/tmp/rocketmq-bench-cluster"
SAMPLE = ROOT / "manifests" / "samples" / "04-cluster-2m-2s.yaml"
PER_NAMESPACE = 50
GROUPS, MEMBERS = 2, 2
KIND_RESOURCES = {"ConfigMap": CONFIG_MAPS, "Service": SERVICES, "StatefulSet": STATEFUL_SETS,
                  "PodDisruptionBudget": POD_DISRUPTION_BUDGETS}


# ------------------------------------------------------------------------------------------ helpers

def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def proc_status(field: str) -> int:
    """A ``VmRSS`` / ``VmHWM`` line of /proc/self/status, in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_of(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class CpuMeter:
    """CPU seconds used by this process and by each control-plane component over a phase."""

    def __init__(self, component_pids: dict[str, int]) -> None:
        self.pids = component_pids

    def read(self) -> dict[str, float]:
        out = {"bench+operator (this process)": cpu_self()}
        for name, pid in self.pids.items():
            value = cpu_of(pid)
            if value is not None:
                out[name] = value
        return out

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before[k] for k in after if k in before}


def is_ready(bc: dict[str, Any]) -> bool:
    status = bc.get("status") or {}
    if status.get("observedGeneration") != bc["metadata"].get("generation"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())


def cluster_body(namespace: str, name: str) -> dict[str, Any]:
    body = yaml.safe_load(SAMPLE.read_text())
    body["metadata"] = {"name": name, "namespace": namespace}
    body["spec"]["nameServers"] = "127.0.0.1:9876"  # the sample's addresses are not on this machine
    assert body["spec"]["groupReplica"] == GROUPS and body["spec"]["membersPerGroup"] == MEMBERS
    return body


def run_pool(concurrency: int, fn, items) -> list:
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(fn, items))


# ------------------------------------------------------------------------------------------ cluster

class LocalCluster:
    def __init__(self) -> None:
        self.env = dict(os.environ, LOCAL_CLUSTER_DIR=BENCH_CLUSTER_DIR)

    def _run(self, cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(ROOT / "hack" / "localcluster.py"), cmd], env=self.env,
                              capture_output=True, text=True, check=False)

    def up(self) -> str:
        self._run("down")  # a cluster left behind by an interrupted run of this benchmark
        started = time.monotonic()
        proc = self._run("up")
        if proc.returncode != 0:
            raise SystemExit(f"the local control plane did not start:\n{proc.stderr[-4000:]}")
        log(f"local control plane up in {time.monotonic() - started:.0f}s ({BENCH_CLUSTER_DIR})")
        return f"{BENCH_CLUSTER_DIR}/kubeconfig"

    def pids(self) -> dict[str, int]:
        try:
            return json.loads(Path(BENCH_CLUSTER_DIR, "state.json").read_text())["pids"]
        except (OSError, ValueError, KeyError):
            return {}

    def down(self) -> None:
        self._run("down")
        log("local control plane stopped and removed")


def kubectl(kubeconfig: str, *args: str) -> None:
    proc = subprocess.run(["kubectl", f"--kubeconfig={kubeconfig}", *args], capture_output=True, text=True,
                          timeout=180, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {proc.stderr}")


# ------------------------------------------------------------------------------------------ benchmark

class Bench:
    def __init__(self, args: argparse.Namespace, kubeconfig: str, component_pids: dict[str, int]) -> None:
        self.args = args
        self.n = args.clusters
        self.kubeconfig = kubeconfig
        self.client: KubeClient = connect(kubeconfig, counter=RequestCounter())  # the benchmark's own calls
        self.run_id = uuid.uuid4().hex[:5]
        self.namespaces = [f"bench-bc-{self.run_id}-{i}"
                           for i in range((self.n + PER_NAMESPACE - 1) // PER_NAMESPACE)]
        self.names = [(self.namespaces[i // PER_NAMESPACE], f"bc-{i:04d}") for i in range(self.n)]
        self.cpu = CpuMeter(component_pids)
        self.results: dict[str, Any] = {}
        self.timeline: list[str] = []

    # -- namespaces ------------------------------------------------------------------------------

    def create_namespaces(self) -> None:
        for ns in self.namespaces:
            try:
                self.client.create(NAMESPACES, {"metadata": {"name": ns,
                                                             "labels": {"bench": "brokerclusters"}}})
            except AlreadyExists:
                pass
        wait_for_default_service_accounts(self.client, self.namespaces)

    def delete_namespaces(self) -> float:
        started = time.monotonic()
        for ns in self.namespaces:
            try:
                self.client.delete(NAMESPACES, ns, propagation_policy="Background")
            except NotFound:
                pass
        remaining = set(self.namespaces)
        while remaining and time.monotonic() - started < 900:
            time.sleep(1)
            present = {n["metadata"]["name"]
                       for n in self.client.list(NAMESPACES, label_selector="bench=brokerclusters").items}
            remaining &= present
        if remaining:
            log(f"WARNING: namespaces still terminating after 900s: {sorted(remaining)}")
        return time.monotonic() - started

    def ensure_pod_capacity(self, *, may_patch: bool) -> None:
        """KWOK's nodes take the pod capacity written in their status (localcluster.py: 4 x 500). When the
        run needs more, raise it on this benchmark's own control plane; never on someone else's."""
        needed = GROUPS * MEMBERS * (self.n + 2) + 50
        nodes = self.client.list(NODES).items
        have = sum(int((n.get("status") or {}).get("allocatable", {}).get("pods", "0")) for n in nodes)
        if have >= needed or not nodes:
            return
        if not may_patch:
            log(f"WARNING: the nodes take {have} pods, the run needs {needed}: not every cluster can be "
                f"Ready")
            return
        per_node = str(-(-needed // len(nodes)))
        for node in nodes:
            self.client.patch(NODES, node["metadata"]["name"],
                              {"status": {"capacity": {"pods": per_node}, "allocatable": {"pods": per_node}}},
                              subresource="status")
        log(f"raised pod capacity from {have} to {int(per_node) * len(nodes)} ({len(nodes)} KWOK nodes)")

    # -- polling -----------------------------------------------------------------------------------

    def mine(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        prefix = f"bench-bc-{self.run_id}-"
        return [o for o in items if o["metadata"].get("namespace", "").startswith(prefix)]

    def count_ready_crs(self) -> tuple[int, int]:
        items = self.mine(self.client.list(BROKER_CLUSTERS).items)
        return sum(1 for o in items if is_ready(o)), len(items)

    # -- the operator --------------------------------------------------------------------------------

    def start_operator(self, identity: str) -> tuple[Operator, RequestCounter, float]:
        counter = RequestCounter()
        # RocketMQ observation off: KWOK pods run no broker (bench_observer.py measures the observer).
        op = Operator(connect(self.kubeconfig, counter=counter), namespaces=[], workers=self.args.workers,
                      resync_period=self.args.resync_period, identity=identity, observe_interval=0)
        started = time.monotonic()
        op.start()
        if not op.synced.is_set():
            raise SystemExit("the operator's caches did not sync")
        return op, counter, time.monotonic() - started

    @staticmethod
    def bc_controller(op: Operator):
        return next(c for c in op.controllers if c.kind == "brokercluster")

    @staticmethod
    def results_by_outcome(kind: str = "brokercluster") -> dict[str, float]:
        return {result: REGISTRY.get_sample_value(f"rocketmq_{kind}_reconcile_total",
                                                  {"result": result}) or 0.0
                for result in ("success", "error", "requeue_after", "terminal_error")}

    @staticmethod
    def events_dropped() -> float:
        return REGISTRY.get_sample_value("rocketmq_operator_events_dropped_total") or 0.0

    @staticmethod
    def reconciles(kind: str = "brokercluster") -> float:
        total = 0.0
        for result in ("success", "error", "requeue_after", "terminal_error"):
            total += REGISTRY.get_sample_value(f"rocketmq_{kind}_reconcile_total", {"result": result}) or 0.0
        return total

    @staticmethod
    def reconcile_seconds(kind: str = "brokercluster") -> tuple[float, float]:
        """(count, sum) of the reconcile duration histogram."""
        return (REGISTRY.get_sample_value(f"rocketmq_{kind}_reconcile_duration_seconds_count") or 0.0,
                REGISTRY.get_sample_value(f"rocketmq_{kind}_reconcile_duration_seconds_sum") or 0.0)

    @staticmethod
    def queue_wait(name: str = "brokercluster") -> tuple[float, float]:
        return (REGISTRY.get_sample_value("workqueue_queue_duration_seconds_count", {"name": name}) or 0.0,
                REGISTRY.get_sample_value("workqueue_queue_duration_seconds_sum", {"name": name}) or 0.0)

    def idle(self, op: Operator) -> bool:
        queue = self.bc_controller(op).queue
        return len(queue) == 0 and not getattr(queue, "_processing", ())

    def wait_idle(self, op: Operator, *, quiet_for: float = 2.0, timeout: float = 120.0,
                  min_reconciles: float | None = None) -> float:
        """Waits until the BrokerCluster queue is empty, nothing is processing, the reconcile count is at
        least ``min_reconciles`` and stayed put for ``quiet_for`` seconds. Returns the seconds it took."""
        started = time.monotonic()
        last, since = self.reconciles(), time.monotonic()
        while time.monotonic() - started < timeout:
            time.sleep(0.1)
            now_count = self.reconciles()
            if now_count != last:
                last, since = now_count, time.monotonic()
            if (self.idle(op) and (min_reconciles is None or now_count >= min_reconciles)
                    and time.monotonic() - since >= quiet_for):
                return time.monotonic() - started - quiet_for
        log("WARNING: the BrokerCluster queue did not go idle in time")
        return float("nan")

    def cache_view(self, op: Operator) -> tuple[int, int]:
        """(StatefulSets, ready replicas) of the benchmark's clusters, as the operator's cache sees them."""
        sets = self.mine(op.factory.lister(STATEFUL_SETS).list())
        return len(sets), sum((s.get("status") or {}).get("readyReplicas", 0) for s in sets)

    # -- phase 2 and 3 -------------------------------------------------------------------------------

    def create_cr(self, ns_name: tuple[str, str]) -> dict[str, Any]:
        ns, name = ns_name
        return self.client.create(BROKER_CLUSTERS, cluster_body(ns, name), namespace=ns)

    def time_extra(self, ns: str, name: str, started_at: float | None = None) -> float:
        """Creates one cluster and returns the seconds until both of its StatefulSets exist."""
        started = time.monotonic() if started_at is None else started_at
        self.create_cr((ns, name))
        missing = {f"{name}-{g}" for g in range(GROUPS)}
        while missing and time.monotonic() - started < 900:
            for sts in sorted(missing):
                try:
                    self.client.get(STATEFUL_SETS, sts, namespace=ns)
                    missing.discard(sts)
                except NotFound:
                    pass
            if missing:  # fine-grained at first, then gentler on a busy API server
                time.sleep(0.05 if time.monotonic() - started < 2 else 0.25)
        return time.monotonic() - started if not missing else float("nan")

    def operator_phase(self) -> None:
        n = self.n
        self.create_namespaces()
        rss_before = proc_status("VmRSS")
        hwm_before = proc_status("VmHWM")
        op, counter, sync_s = self.start_operator("bench-in-process")
        log(f"operator started, caches synced in {sync_s:.2f}s; RSS {mib(proc_status('VmRSS'))}")
        controller = self.bc_controller(op)

        counter.reset()
        outcomes0, dropped0 = self.results_by_outcome(), self.events_dropped()
        log_mark = log_size()
        reconciles0 = self.reconciles()
        recon_c0, recon_s0 = self.reconcile_seconds()
        wait_c0, wait_s0 = self.queue_wait()
        cpu0 = self.cpu.read()
        t0 = time.monotonic()
        run_pool(self.args.concurrency, self.create_cr, self.names)
        t_created = time.monotonic() - t0
        log(f"{n} BrokerClusters created in {t_created:.1f}s; queue length {len(controller.queue)}")

        # Phase 3: one more cluster while the N converge (its creations are normal-priority watch events,
        # like the N's own).
        extra_ns, extra_name = self.namespaces[0], "bc-extra"
        extra_result: dict[str, float] = {}
        extra_thread = threading.Thread(
            target=lambda: extra_result.__setitem__("s", self.time_extra(extra_ns, extra_name)), daemon=True)
        queue_at_extra = len(controller.queue)
        extra_thread.start()

        milestones: dict[str, float] = {}
        late_result: dict[str, float] = {}
        late_queue: list[int] = []
        late_thread: threading.Thread | None = None
        peak_queue = queue_at_extra
        last_print = 0.0
        ready = 0
        while time.monotonic() - t0 < self.args.timeout:
            time.sleep(1.0)
            elapsed = time.monotonic() - t0
            ready, _ = self.count_ready_crs()
            sets, ready_replicas = self.cache_view(op)
            qlen = len(controller.queue)
            peak_queue = max(peak_queue, qlen)
            if sets >= GROUPS * (n + 1) and "all StatefulSets exist (operator cache)" not in milestones:
                milestones["all StatefulSets exist (operator cache)"] = elapsed
                if ready < n + 1:  # still converging: pods coming up, status churn queued at child priority
                    late_queue.append(qlen)
                    late_thread = threading.Thread(target=lambda: late_result.__setitem__(
                        "s", self.time_extra(extra_ns, "bc-extra-late")), daemon=True)
                    late_thread.start()
            if (ready_replicas >= GROUPS * MEMBERS * (n + 1)
                    and "all pods ready (operator cache)" not in milestones):
                milestones["all pods ready (operator cache)"] = elapsed
            if qlen == 0 and "queue first empty" not in milestones and elapsed > t_created + 1:
                milestones["queue first empty"] = elapsed
            if elapsed - last_print >= 5:
                line = (f"t={elapsed:6.1f}s ready CRs {ready:5d}/{n + 1} sts {sets:5d}/{GROUPS * (n + 1)} "
                        f"ready pods {ready_replicas:5d}/{GROUPS * MEMBERS * (n + 1)} queue {qlen:5d} "
                        f"reconciles {self.reconciles() - reconciles0:6.0f} writes {counter.writes():6d}")
                self.timeline.append(line)
                log(line)
                last_print = elapsed
            if ready >= n + 1:
                break
        t_ready = time.monotonic() - t0
        extra_thread.join(60)
        if late_thread is not None:
            late_thread.join(60)
        cpu1 = self.cpu.read()
        if ready < n + 1:
            log(f"WARNING: only {ready}/{n + 1} Ready after {self.args.timeout}s")
        log(f"all {n + 1} BrokerClusters Ready after {t_ready:.1f}s")
        reconciles_converge = self.reconciles() - reconciles0
        recon_c1, recon_s1 = self.reconcile_seconds()
        wait_c1, wait_s1 = self.queue_wait()

        # Let the tail of events (last pod/status updates) settle before counting writes.
        settle_s = self.wait_idle(op)
        # Events are written by one background thread; let it finish what the convergence queued, so
        # these writes are counted here and not in the resync below.
        flush_started = time.monotonic()
        event_backlog = op.recorder._queue.qsize() if hasattr(op.recorder, "_queue") else -1
        op.recorder.flush(600)
        event_flush_s = time.monotonic() - flush_started
        writes = counter.writes()
        breakdown = counter.snapshot()
        outcomes1 = self.results_by_outcome()
        outcomes = {k: outcomes1[k] - outcomes0[k] for k in outcomes1 if outcomes1[k] - outcomes0[k]}
        failures = failure_summary(log_mark)
        dropped = self.events_dropped() - dropped0
        hwm_converged = proc_status("VmHWM")

        # No-op resync.
        counter.reset()
        before = self.reconciles()
        resync_started = time.monotonic()
        op.factory.informer(BROKER_CLUSTERS).resync()
        self.wait_idle(op, quiet_for=1.0, min_reconciles=before + n + 1)
        resync_s = time.monotonic() - resync_started - 1.0
        op.recorder.flush(60)
        resync_writes = counter.writes()
        resync_reconciles = self.reconciles() - before
        resync_breakdown = counter.snapshot()

        self.results.update({
            "operator_cache_sync_s": sync_s,
            "create_calls_s": t_created,
            "converge_s": t_ready,
            "ready": ready,
            "milestones": milestones,
            "extra_sts_s": extra_result.get("s", float("nan")),
            "queue_at_extra": queue_at_extra,
            "extra_late_sts_s": late_result.get("s", float("nan")),
            "queue_at_extra_late": late_queue[0] if late_queue else -1,
            "peak_queue": peak_queue,
            "writes": writes,
            "outcomes": outcomes,
            "failures": failures,
            "events_dropped": dropped,
            "writes_per_cluster": writes / (n + 1),
            "breakdown": breakdown,
            "settle_s": settle_s,
            "event_backlog": event_backlog,
            "event_flush_s": event_flush_s,
            "reconciles_converge": reconciles_converge,
            "reconcile_mean_ms": 1000 * (recon_s1 - recon_s0) / max(1.0, recon_c1 - recon_c0),
            "reconcile_busy_s": recon_s1 - recon_s0,
            "queue_wait_mean_s": (wait_s1 - wait_s0) / max(1.0, wait_c1 - wait_c0),
            "cpu_converge": CpuMeter.delta(cpu0, cpu1),
            "resync_writes": resync_writes,
            "resync_reconciles": resync_reconciles,
            "resync_s": resync_s,
            "resync_breakdown": resync_breakdown,
            "rss_baseline": rss_before,
            "hwm_before_operator": hwm_before,
        })

        if self.args.restart_probe:
            op = self.restart_probe(op)
        self.results["rss_end_operator"] = proc_status("VmRSS")
        self.results["hwm_converged"] = hwm_converged
        self.results["hwm_operator"] = max(hwm_converged, proc_status("VmHWM"))
        threads_before = threading.active_count()
        op.shutdown()
        time.sleep(1)
        self.results["threads"] = (threads_before, threading.active_count())
        log("operator stopped")

    def restart(self, op: Operator, identity: str) -> tuple[Operator, RequestCounter, float]:
        op.shutdown()
        # Before ec1be3c every EventRecorder registered its own dropped-events Counter in the global
        # registry, so a second Operator in one process failed with DuplicateTimeseries unless the first
        # one's was removed. Since then the counter is shared per registry and must stay registered.
        from rocketmq_operator import events
        dropped = getattr(op.recorder, "_dropped", None)
        if dropped is not None and not hasattr(events, "_dropped_counter"):
            REGISTRY.unregister(dropped)
        return self.start_operator(identity)

    def restart_probe(self, op: Operator) -> Operator:
        """Two restarts. The first only counts what a restart over N converged clusters costs (writes
        expected 0). The second creates a cluster right after the restart: the N (+1) existing clusters
        come in from the initial list at low priority, so the new one should not wait behind them."""
        n = self.n
        before = self.reconciles()
        cpu0 = self.cpu.read()
        started = time.monotonic()
        op, counter, sync_s = self.restart(op, "bench-in-process-2")
        self.wait_idle(op, quiet_for=1.0, min_reconciles=before + n + 1)
        drain_s = time.monotonic() - started - 1.0
        self.results.update({
            "restart_sync_s": sync_s,
            "restart_drain_s": drain_s,
            "restart_reconciles": self.reconciles() - before,
            "restart_writes": counter.writes(),
            "restart_breakdown": counter.snapshot(),
            "cpu_restart": CpuMeter.delta(cpu0, self.cpu.read()),
        })
        log(f"no-op restart: {counter.writes()} writes, backlog drained in {drain_s:.1f}s")

        before = self.reconciles()
        op, counter, _ = self.restart(op, "bench-in-process-3")
        controller = self.bc_controller(op)
        queue_at_start = len(controller.queue)
        reconciled_at_start = self.reconciles() - before
        extra_s = self.time_extra(self.namespaces[-1], "bc-extra-restart")
        reconciled_at_extra = self.reconciles() - before
        self.wait_idle(op, quiet_for=1.0, min_reconciles=before + n + 2)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.count_ready_crs()[0] < n + 2:
            time.sleep(1)
        self.results.update({
            "restart_queue_at_start": queue_at_start,
            "restart_reconciled_at_start": reconciled_at_start,
            "restart_reconciled_at_extra": reconciled_at_extra,
            "restart_extra_sts_s": extra_s,
        })
        log(f"restart probe: extra cluster's StatefulSets after {extra_s:.2f}s (queue held {queue_at_start} "
            f"low-priority keys when it was created; {reconciled_at_extra:.0f} reconciles had run by then)")
        return op

    # -- phase 4: the floor --------------------------------------------------------------------------

    def floor_cluster(self, ns_name: tuple[str, str]) -> int:
        created = self.create_cr(ns_name)
        objects = broker_cluster_objects(from_broker_cluster(created))
        for obj in objects:
            self.client.create(KIND_RESOURCES[obj["kind"]], copy.deepcopy(obj), namespace=ns_name[0])
        return 1 + len(objects)

    def floor_phase(self) -> None:
        n = self.n
        self.create_namespaces()
        self.client.counter.reset()
        cpu0 = self.cpu.read()
        t0 = time.monotonic()
        run_pool(self.args.concurrency, self.floor_cluster, self.names)
        t_created = time.monotonic() - t0
        log(f"floor: {n} clusters' objects created in {t_created:.1f}s")
        target = GROUPS * n
        ready_sets = 0
        milestones: dict[str, float] = {}
        last_print = 0.0
        while time.monotonic() - t0 < self.args.timeout:
            time.sleep(1.0)
            elapsed = time.monotonic() - t0
            sets = self.mine(self.client.list(
                STATEFUL_SETS, label_selector="app.kubernetes.io/managed-by=rocketmq-operator").items)
            ready_sets = sum(1 for s in sets if (s.get("status") or {}).get("readyReplicas", 0) == MEMBERS)
            if elapsed - last_print >= 5:
                line = f"floor t={elapsed:6.1f}s StatefulSets ready {ready_sets:5d}/{target}"
                self.timeline.append(line)
                log(line)
                last_print = elapsed
            if ready_sets >= target:
                break
        t_ready = time.monotonic() - t0
        log(f"floor: all {target} StatefulSets ready after {t_ready:.1f}s")
        self.results.update({"floor_create_calls_s": t_created, "floor_s": t_ready,
                             "floor_ready_sets": ready_sets, "floor_milestones": milestones,
                             "floor_writes": self.client.counter.writes(),
                             "cpu_floor": CpuMeter.delta(cpu0, self.cpu.read())})

    # -- report --------------------------------------------------------------------------------------

    def report(self) -> None:
        r, n = self.results, self.n
        print()
        print(f"== BrokerCluster benchmark: N={n} clusters of {GROUPS} groups x {MEMBERS} members "
              f"({len(self.namespaces)} namespaces, {PER_NAMESPACE} clusters each), operator workers="
              f"{self.args.workers}, client concurrency={self.args.concurrency}, cpus={os.cpu_count()}")
        rows: list[tuple[str, str]] = []
        add = lambda k, v: rows.append((k, v))
        add("operator: caches synced at start", f"{r['operator_cache_sync_s']:.2f} s")
        add(f"operator: {n} CR create calls returned", f"{r['create_calls_s']:.1f} s")
        for name, value in sorted(r["milestones"].items(), key=lambda kv: kv[1]):
            add(f"operator: {name}", f"{value:.1f} s")
        add(f"operator: all {n}+1 Ready (converge)", f"{r['converge_s']:.1f} s  ({r['ready']}/{n + 1} Ready)")
        add("operator: extra cluster -> both StatefulSets (created with the burst)",
            f"{r['extra_sts_s']:.2f} s  (queue held {r['queue_at_extra']} keys when it was created)")
        add("operator: extra cluster -> both StatefulSets (created while the burst converges)",
            f"{r['extra_late_sts_s']:.2f} s  (queue held {r['queue_at_extra_late']} keys when it was "
            f"created)")
        if "restart_extra_sts_s" in r:
            add("operator restart: caches synced", f"{r['restart_sync_s']:.2f} s")
            add("operator restart: initial-list backlog drained", f"{r['restart_drain_s']:.1f} s "
                f"({r['restart_reconciles']:.0f} reconciles)")
            add("operator restart: writes (no-op restart)", f"{r['restart_writes']}")
            add("operator restart: extra cluster -> both StatefulSets",
                f"{r['restart_extra_sts_s']:.2f} s  (queue held {r['restart_queue_at_start']} low-priority "
                f"keys, {r['restart_reconciled_at_start']:.0f} reconciled before its create; "
                f"{r['restart_reconciled_at_extra']:.0f} by the time its StatefulSets existed)")
        add("operator: peak queue length", f"{r['peak_queue']}")
        add("operator: reconciles while converging", f"{r['reconciles_converge']:.0f} "
            f"({r['reconciles_converge'] / (n + 1):.1f} per cluster)")
        add("operator: mean reconcile duration", f"{r['reconcile_mean_ms']:.1f} ms "
            f"(busy {r['reconcile_busy_s']:.1f} worker-s)")
        add("operator: mean time a key waited in the queue", f"{r['queue_wait_mean_s']:.2f} s")
        add("operator: reconcile outcomes while converging",
            ", ".join(f"{k}={v:.0f}" for k, v in r["outcomes"].items()) or "none")
        add("operator: failed syncs by error (operator log)",
            ", ".join(f"{k}={v}" for k, v in r["failures"].most_common()) or "none")
        add("operator: events dropped (recorder queue full)", f"{r['events_dropped']:.0f}")
        add("operator: events still queued once syncs went idle", f"{r['event_backlog']} "
            f"(written in {r['event_flush_s']:.1f} s more)")
        add("operator: API writes while converging", f"{r['writes']} ({r['writes_per_cluster']:.1f} per "
            f"cluster, N+1 clusters)")
        add("operator: writes during a no-op resync", f"{r['resync_writes']} ({r['resync_reconciles']:.0f} "
            f"reconciles, drained in {r['resync_s']:.2f} s)")
        add("RSS baseline before the operator", mib(r["rss_baseline"]))
        add("peak RSS (VmHWM) until converged (+ no-op resync)", mib(r["hwm_converged"]))
        add("peak RSS delta until converged (operator + bench client)",
            mib(r["hwm_converged"] - r["rss_baseline"]))
        if self.args.restart_probe:
            add("peak RSS (VmHWM) incl. the two in-process restarts", mib(r["hwm_operator"]))
        add("RSS at end of the operator phase", mib(r["rss_end_operator"]))
        add("threads alive before / 1 s after the last operator's shutdown",
            f"{r['threads'][0]} / {r['threads'][1]}")
        add("namespaces deleted (GC of everything)", f"{r['delete_s']:.1f} s")
        if "floor_s" in r:
            add(f"floor: {n} CRs + {8 * n} objects created", f"{r['floor_create_calls_s']:.1f} s "
                f"({r['floor_writes']} writes)")
            add(f"floor: all {GROUPS * n} StatefulSets readyReplicas={MEMBERS}",
                f"{r['floor_s']:.1f} s ({r['floor_ready_sets']}/{GROUPS * n})")
            add("ratio operator converge / floor", f"{r['converge_s'] / r['floor_s']:.2f}")
        width = max(len(k) for k, _ in rows)
        print("-" * (width + 40))
        for k, v in rows:
            print(f"{k:<{width}}  {v}")
        print("-" * (width + 40))

        print("\nwrites while converging, by verb/resource/subresource:")
        for (verb, res, sub), count in sorted(r["breakdown"].items(), key=lambda kv: -kv[1]):
            if verb in ("create", "update", "patch", "delete"):
                print(f"  {verb:<7} {res + ('/' + sub if sub else ''):<45} {count:6d}  "
                      f"({count / (n + 1):.2f}/cluster)")
        print("all calls during the no-op resync:", dict(r["resync_breakdown"]) or "none")
        if "restart_breakdown" in r:
            writes = {k: v for k, v in r["restart_breakdown"].items()
                      if k[0] in ("create", "update", "patch", "delete")}
            print("writes during the no-op restart:", writes or "none")
        for phase in ("cpu_converge", "cpu_restart", "cpu_floor"):
            if phase in r:
                wall = {"cpu_converge": r["converge_s"], "cpu_floor": r.get("floor_s", 0),
                        "cpu_restart": r.get("restart_drain_s", 0)}[phase]
                print(f"\nCPU seconds during {phase[4:]} (wall {wall:.1f} s):")
                for k, v in sorted(r[phase].items(), key=lambda kv: -kv[1]):
                    print(f"  {k:<32} {v:7.1f} s  ({100 * v / wall if wall else 0:5.1f}% of one core)")


OPERATOR_LOG = f"/tmp/rocketmq-bench-operator-{os.getpid()}.log"


def send_operator_logs_to_file() -> None:
    """The operator's structlog output goes to OPERATOR_LOG (failed syncs log tracebacks; at N in the
    hundreds they would drown the figures)."""
    import structlog
    logs.configure(level="info", fmt="json")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=open(OPERATOR_LOG, "a")))  # noqa: SIM115


def log_size() -> int:
    try:
        return os.path.getsize(OPERATOR_LOG)
    except OSError:
        return 0


def failure_summary(offset: int) -> Counter:
    """Failed syncs since ``offset`` of the operator log, by the exception's last line."""
    out: Counter = Counter()
    with open(OPERATOR_LOG) as f:
        f.seek(offset)
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "reconcile failed, will retry":
                exc = (entry.get("exception") or "").strip().splitlines()
                last = exc[-1] if exc else "?"
                out[last.split(":", 1)[0].rsplit(".", 1)[-1]] += 1
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--kubeconfig", default=None)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8,
                        help="client threads for creating (both phases)")
    parser.add_argument("--resync-period", type=float, default=3600.0,
                        help="the operator's periodic resync (long, so none happens by itself)")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds to wait for convergence")
    parser.add_argument("--no-restart-probe", dest="restart_probe", action="store_false")
    parser.add_argument("--no-floor", dest="floor", action="store_false")
    args = parser.parse_args()
    send_operator_logs_to_file()

    local = None
    wall0 = time.monotonic()
    try:
        if args.kubeconfig:
            kubeconfig = args.kubeconfig
        else:
            local = LocalCluster()
            kubeconfig = local.up()
        kubectl(kubeconfig, "apply", "-f", str(ROOT / "manifests" / "crds"))
        kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", "crd", "-l",
                "app.kubernetes.io/name=rocketmq-operator")
        bench = Bench(args, kubeconfig, local.pids() if local else {})
        bench.ensure_pod_capacity(may_patch=local is not None)
        bench.operator_phase()
        bench.results["delete_s"] = bench.delete_namespaces()
        log(f"namespaces deleted in {bench.results['delete_s']:.1f}s")
        if args.floor:
            bench.floor_phase()
            delete_s = bench.delete_namespaces()
            log(f"floor namespaces deleted in {delete_s:.1f}s")
        bench.report()
        print("\ntimeline:")
        for line in bench.timeline:
            print("  " + line)
    finally:
        if local is not None:
            local.down()
    print(f"\noperator log: {OPERATOR_LOG}")
    print(f"end to end (incl. control plane up/down): {time.monotonic() - wall0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
