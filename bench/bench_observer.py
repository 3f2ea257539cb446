"""Prints what observing many RocketMQ clusters costs the operator, and what dead brokers do to it.

Usage: ``python bench/bench_observer.py [--clusters 1000] [--dead-fraction 0.1] [--rounds 2]
[--dead-rounds 2] [--interval 30] [--workers 4] [--observer-workers N] [--max-observer-workers N]
[--without-silence]``. Figures only, no assertions. ``--without-silence --observer-workers 4
--max-observer-workers 4`` measures the observer as it was before dead endpoints were remembered and its
pool grew while waiting (a fixed pool of 4).

A fake deployment (``fakeremoting.py``, its own process, so its CPU is not counted here) serves
``--clusters`` clusters, each with its own two name servers and two groups of two brokers, on loopback.
This process runs the operator's own ``Observer`` with its default admin client (real sockets, the
production timeouts) behind a real ``Controller`` (runner + rate-limited work queue) whose reconciler does
what the BrokerCluster reconciler does with the observer: it builds the cluster's objects (the real
builders, as a stand-in for the rest of a sync), calls ``ensure`` and ``fresh_facts``, and asks to be
queued again after the interval; the observer's ``on_done`` queues the cluster again, at child priority.

Phases, one after another on the same operator (each starts with every cluster queued at once, as an
informer resync does):

1. no observer: the reconciles alone (the latency floor);
2. healthy: ``--rounds`` observations of every cluster;
3. dead: ``--dead-fraction`` of the brokers accept connections but never answer; ``--dead-rounds``
   observations of every cluster (or ``--phase-timeout``).

Per phase: each round's duration (first observation started to last one done), CPU seconds of the
observer's threads per round and per cluster, observations per second, peak RSS; the reconciles' queue
wait (ready to picked up) and sync duration; and, for clusters with every broker alive ("healthy") and
those with a dead one ("degraded"), the longest gap between two observations and how many syncs found no
fresh facts (facts older than three intervals count as unknown: status turns Unknown, rolls wait).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import structlog
import yaml
from prometheus_client import CollectorRegistry

from rocketmq_operator import logs
from rocketmq_operator.controllers.observe import observer as observer_module
from rocketmq_operator.controllers.observe.observer import Member, Observer, ObserveTarget
from rocketmq_operator.controllers.runtime.runner import Controller, Key, Result
from rocketmq_operator.resources.brokers import broker_cluster_objects
from rocketmq_operator.resources.model import from_broker_cluster
from rocketmq_operator.workqueue import PRIORITY_CHILD, RateLimitingQueue

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "manifests" / "samples" / "04-cluster-2m-2s.yaml"
TICK = os.sysconf("SC_CLK_TCK")
OPERATOR_LOG = "/tmp/rocketmq-bench-observer.log"


class FakeDeployment:
    """The fake remoting server process and its control lines."""

    def __init__(self, clusters: int) -> None:
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "fakeremoting.py"), "--clusters",
                                      str(clusters)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.layout = json.loads(self.proc.stdout.readline())["clusters"]

    def command(self, line: str) -> dict:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait(10)


def targets(layout: list[dict]) -> dict[Key, ObserveTarget]:
    out = {}
    for cluster in layout:
        members = tuple(Member(f"{cluster['name']}-{g}-{m}", addr, f"broker-{g}", m)
                        for g, m, addr in cluster["brokers"])
        out[Key("bench", cluster["name"])] = ObserveTarget(
            cluster_name=cluster["name"], name_servers=tuple(cluster["name_servers"]),
            namesrv_addr=";".join(cluster["name_servers"]), members=members)
    return out


def thread_cpu() -> Counter:
    """CPU seconds so far of this process's threads, by role (observer, reconcile, other)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: Counter = Counter()
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = names.get(int(tid), "")
        role = ("observer" if name.startswith(("rocketmq-observer", "rocketmq-probe"))
                else "reconcile" if name.startswith("bench") else "other")
        out[role] += (int(fields[11]) + int(fields[12])) / TICK
    return out


class Bench:
    """The reconciler (see the module docstring) and what it measures."""

    def __init__(self, targets: dict[Key, ObserveTarget], *, interval: float, workers: int,
                 observer: Observer | None) -> None:
        self.targets, self.interval, self.observer = targets, interval, observer
        self.sample = yaml.safe_load(SAMPLE.read_text())
        self.first_ns = {t.name_servers[0]: key for key, t in targets.items()}
        self.lock = threading.Lock()
        self.ready: dict[Key, float] = {}
        self.waits: list[float] = []  # queue waits of every sync but the first after a resync
        self.burst_waits: list[float] = []  # ... of those first syncs (every cluster queued at once)
        self.burst: set[Key] = set()
        self.syncs: list[float] = []
        self.starts: dict[Key, list[float]] = defaultdict(list)
        self.ends: dict[Key, list[float]] = defaultdict(list)
        self.unknown: Counter = Counter()  # syncs that found no fresh facts after having had some, by key
        self.queue: RateLimitingQueue[Key] = RateLimitingQueue(name="bench")
        self.controller = Controller("bench", self, queue=self.queue, has_synced=[lambda: True],
                                     workers=workers, registry=CollectorRegistry())
        if observer is not None:
            observer.admin_factory = self._admin
            observer.on_done(self._done)

    def _admin(self, addrs: tuple[str, ...]):
        key = self.first_ns.get(addrs[0]) if len(addrs) == 1 else None
        if key is not None:  # an observation asks its first name server first
            with self.lock:
                self.starts[key].append(time.monotonic())
        return observer_module.default_admin(addrs)

    def _done(self, key: Key) -> None:
        now = time.monotonic()
        with self.lock:
            self.ends[key].append(now)
            self.ready[key] = min(self.ready.get(key, now), now)
        self.queue.add(key, priority=PRIORITY_CHILD)

    def enqueue_all(self) -> None:
        now = time.monotonic()
        with self.lock:
            self.burst = set(self.targets)
            for key in self.targets:
                self.ready[key] = min(self.ready.get(key, now), now)
        for key in self.targets:
            self.queue.add(key)

    def sync(self, key: Key) -> Result:
        start = time.monotonic()
        with self.lock:
            wait = start - self.ready.pop(key, start)
            if key in self.burst:
                self.burst.discard(key)
                self.burst_waits.append(wait)
            else:
                self.waits.append(wait)
        broker_cluster_objects(from_broker_cluster({**self.sample,
                                                    "metadata": {"name": key.name, "namespace": "bench"}}))
        if self.observer is not None:
            self.observer.ensure(key, self.targets[key])
            if self.observer.fresh_facts(key) is None and self.observer.facts(key) is not None:
                self.unknown[key] += 1
        end = time.monotonic()
        with self.lock:
            self.syncs.append(end - start)
            self.ready[key] = min(self.ready.get(key, end + self.interval), end + self.interval)
        return Result(requeue_after=self.interval)

    def mark(self) -> dict:
        with self.lock:
            return {"waits": len(self.waits), "burst_waits": len(self.burst_waits), "syncs": len(self.syncs),
                    "ends": {k: len(v) for k, v in self.ends.items()},
                    "starts": {k: len(v) for k, v in self.starts.items()}, "unknown": Counter(self.unknown),
                    "cpu": thread_cpu(), "at": time.monotonic()}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def wait_rounds(bench: Bench, since: dict, rounds: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with bench.lock:
            if all(len(bench.ends[k]) - since["ends"].get(k, 0) >= rounds for k in bench.targets):
                return True
        time.sleep(0.2)
    return False


def report(name: str, bench: Bench, since: dict, rounds: int, dead: set[str]) -> None:
    now = bench.mark()
    degraded = {k for k, t in bench.targets.items() if any(m.addr in dead for m in t.members)}
    waits, syncs = bench.waits[since["waits"]:now["waits"]], bench.syncs[since["syncs"]:now["syncs"]]
    burst = bench.burst_waits[since["burst_waits"]:now["burst_waits"]]
    cpu = {role: now["cpu"][role] - since["cpu"][role] for role in ("observer", "reconcile", "other")}
    elapsed = now["at"] - since["at"]
    print(f"\n== {name}: {elapsed:.1f} s, {len(syncs)} syncs, CPU s observer {cpu['observer']:.2f} / "
          f"reconcile {cpu['reconcile']:.2f} / other {cpu['other']:.2f}, peak RSS {peak_rss_mb():.0f} MiB")
    print(f"   reconcile queue wait p50 {ms(pct(waits, .5))}  p99 {ms(pct(waits, .99))}  "
          f"max {ms(max(waits, default=0))}"
          f" ({len(waits)} syncs);  sync p50 {ms(pct(syncs, .5))}  p99 {ms(pct(syncs, .99))}")
    print(f"   the resync's {len(burst)} syncs (all clusters queued at once): wait p50 {ms(pct(burst, .5))}  "
          f"max {ms(max(burst, default=0))}")
    if bench.observer is None:
        return
    observations = sum(len(bench.ends[k]) - since["ends"].get(k, 0) for k in bench.targets)
    for r in range(rounds):
        starts = [bench.starts[k][since["starts"].get(k, 0) + r] for k in bench.targets
                  if len(bench.starts[k]) > since["starts"].get(k, 0) + r]
        ends = [bench.ends[k][since["ends"].get(k, 0) + r] for k in bench.targets
                if len(bench.ends[k]) > since["ends"].get(k, 0) + r]
        if starts and ends:
            done = f"{len(ends)}/{len(bench.targets)} done"
            print(f"   round {r + 1}: {max(ends) - min(starts):6.1f} s ({done}), "
                  f"{len(ends) / max(1e-9, max(ends) - min(starts)):.0f} observations/s")
    if observations:
        per = cpu["observer"] / observations
        print(f"   observer CPU {per * len(bench.targets):.2f} s per round of {len(bench.targets)} clusters "
              f"({per * 1e3:.2f} ms per cluster), {observations} observations")
    for label, keys in (("healthy", set(bench.targets) - degraded), ("degraded", degraded)):
        if not keys:
            continue
        gaps = [b - a for k in keys for a, b in zip(bench.ends[k], bench.ends[k][1:], strict=False)
                if b > since["at"]]
        unknown = sum(now["unknown"][k] - since["unknown"][k] for k in keys)
        print(f"   {label:8} clusters {len(keys):4}: longest gap between observations "
              f"{max(gaps, default=float('nan')):.1f} s (p50 {pct(gaps, .5):.1f} s); "
              f"syncs without fresh facts: {unknown}")


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--dead-fraction", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dead-rounds", type=int, default=2)
    parser.add_argument("--interval", type=float, default=observer_module.DEFAULT_INTERVAL)
    parser.add_argument("--workers", type=int, default=4, help="reconcile workers (the operator's default)")
    parser.add_argument("--observer-workers", type=int, default=None, help="default: the Observer's own")
    parser.add_argument("--max-observer-workers", type=int, default=None,
                        help="threads the observer's pool may grow to (default: the Observer's own; "
                             "equal to --observer-workers: a fixed pool, as before it was elastic)")
    parser.add_argument("--phase-timeout", type=float, default=420.0)
    parser.add_argument("--without-silence", action="store_true",
                        help="do not remember silent endpoints (the observer before it did)")
    args = parser.parse_args()
    logs.configure(level="info", fmt="json")  # the operator's own logging cost, into a file
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=open(OPERATOR_LOG, "w")))  # noqa: SIM115
    deployment = FakeDeployment(args.clusters)
    try:
        by_key = targets(deployment.layout)
        print(f"{'without' if args.without_silence else 'with'} remembered silent endpoints, "
              f"observer workers {args.observer_workers or 'default'} (at most "
              f"{args.max_observer_workers or 'default'})")
        print(f"{args.clusters} clusters x {len(deployment.layout[0]['brokers'])} brokers, 2 name servers "
              f"each, interval {args.interval:g} s, connect/request timeouts "
              f"{observer_module.CONNECT_TIMEOUT:g}/{observer_module.REQUEST_TIMEOUT:g} s, {args.workers} "
              f"reconcile workers")
        run(by_key, deployment, args)
    finally:
        deployment.close()


def run(by_key: dict[Key, ObserveTarget], deployment: FakeDeployment, args: argparse.Namespace) -> None:
    stop = threading.Event()
    floor = Bench(by_key, interval=args.interval, workers=args.workers, observer=None)
    floor.controller.start(stop)
    since = floor.mark()
    floor.enqueue_all()
    time.sleep(args.interval + 5)  # the resync, then every cluster's requeue after the interval
    report("no observer", floor, since, 0, set())
    floor.queue.shutdown()

    extra = {name: value for name, value in (("workers", args.observer_workers),
                                             ("max_workers", args.max_observer_workers)) if value is not None}
    observer = Observer(interval=args.interval, **extra)
    if args.without_silence:
        observer.silence = None
    bench = Bench(by_key, interval=args.interval, workers=args.workers, observer=observer)
    bench.controller.start(stop)
    try:
        since = bench.mark()
        bench.enqueue_all()
        wait_rounds(bench, since, args.rounds, args.phase_timeout)
        report("healthy", bench, since, args.rounds, set())
        dead = set(deployment.command(f"dead {args.dead_fraction} 7")["dead"])
        since = bench.mark()
        bench.enqueue_all()
        wait_rounds(bench, since, args.dead_rounds, args.phase_timeout)
        report(f"{args.dead_fraction:.0%} of brokers dead ({len(dead)})", bench, since, args.dead_rounds,
               dead)
        stats = deployment.command("stats")
        print(f"\nfake server: {stats['served']} requests answered, {stats['cpu']:.1f} CPU s "
              f"(not counted above)")
    finally:
        stop.set()
        bench.queue.shutdown()
        observer.shutdown()


if __name__ == "__main__":
    main()
