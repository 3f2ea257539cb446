"""Prints informer figures against a real API server: watch events ingested per second, and memory
per cached object for ConfigMaps and Pods next to the objects' JSON size.

Usage: ``python bench/bench_informer.py KUBECONFIG [--count 10000]``. It creates a scratch namespace,
fills it with ``count`` ConfigMaps and ``count`` Pods (``schedulerName: none`` so no scheduler works on
them), and deletes the namespace at the end. Ingestion is measured by replaying the creations: an
informer whose first "list" is empty at the resourceVersion from before the creations, so its watch
delivers every creation as fast as the server can send them. Memory is measured in a fresh child
process (RSS delta after the cache synced / cached objects), so the creation phase does not pollute it. Pods
are measured twice: cached whole, and as the operator caches them (``manager.slim_pod``). Figures only, no
assertions.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rocketmq_operator.informers import FuncHandler, SharedInformer
from rocketmq_operator.kube import CONFIG_MAPS, NAMESPACES, PODS, KubeClient, NotFound, Resource, connect
from rocketmq_operator.manager import slim_pod

SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")
LABELS = {"app.kubernetes.io/name": "bench", "app.kubernetes.io/instance": "bench",
          "app.kubernetes.io/managed-by": "rocketmq-operator"}


def configmap(ns: str, i: int) -> dict[str, Any]:
    return {"metadata": {"name": f"bench-{i}", "namespace": ns, "labels": LABELS},
            "data": {"broker.conf": f"brokerClusterName=bench\nbrokerName=broker-{i}\nbrokerId=0\n"}}


def pod(ns: str, i: int) -> dict[str, Any]:
    container = {"name": "broker", "image": "apache/rocketmq:5.3.1", "ports": [{"containerPort": 10911}],
                 "env": [{"name": "BROKER_ID", "value": str(i)}],
                 "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}}
    return {"metadata": {"name": f"bench-{i}", "namespace": ns, "labels": LABELS},
            "spec": {"schedulerName": "none", "containers": [container]}}


def create_many(kube: KubeClient, resource: Resource, ns: str, count: int, build: Any) -> float:
    """Create ``count`` objects on 16 threads; return creations per second."""
    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: kube.create(resource, build(ns, i)), range(count)))
    return count / (time.perf_counter() - started)


class ReplaySource:
    """Lists nothing at ``resource_version`` the first time, so the watch replays what came after."""

    def __init__(self, kube: KubeClient, resource_version: str) -> None:
        self._kube, self._rv = kube, resource_version

    def list_pages(self, resource: Resource, **kwargs: Any) -> Iterator[dict[str, Any]]:
        if self._rv:
            rv, self._rv = self._rv, ""
            return iter([{"items": [], "metadata": {"resourceVersion": rv}}])
        return self._kube.list_pages(resource, **kwargs)

    def watch(self, resource: Resource, **kwargs: Any) -> Any:
        return self._kube.watch(resource, **kwargs)


def ingest_rate(kube: KubeClient, resource: Resource, ns: str, rv: str, count: int) -> float:
    seen = [0]
    done = threading.Event()

    def added(obj: dict, initial: bool) -> None:
        seen[0] += 1
        if seen[0] >= count:
            done.set()

    informer = SharedInformer(ReplaySource(kube, rv), resource, namespaces=[ns])
    informer.add_handler(FuncHandler(add=added))
    started = time.perf_counter()
    informer.start()
    finished = done.wait(300)
    elapsed = time.perf_counter() - started
    informer.stop()
    return count / elapsed if finished else float("nan")


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def measure_memory(kubeconfig: str, plural: str, ns: str) -> dict[str, float]:
    """Runs in the child: RSS delta of a synced informer per object, and mean JSON sizes."""
    resource = {"configmaps": CONFIG_MAPS, "pods": PODS, "pods-slim": PODS}[plural]
    transform = slim_pod if plural == "pods-slim" else None  # what the operator caches of a pod
    kube = connect(kubeconfig)
    kube.list(resource, namespace=ns, limit=1)
    gc.collect()
    before = rss_bytes()
    informer = SharedInformer(kube, resource, namespaces=[ns], transform=transform)
    informer.start()
    informer.wait_for_sync(300)
    gc.collect()
    delta = rss_bytes() - before
    cached = informer.store.list()
    informer.stop()
    served = kube.list(resource, namespace=ns).items
    return {"count": len(cached), "rss_per_object": delta / len(cached),
            "live_per_object": _deep_size(cached) / len(cached),
            "json_served": _mean_json(served), "json_cached": _mean_json(cached)}


def _deep_size(objects: list[dict]) -> int:
    """Bytes reachable from ``objects``, each shared string or container counted once."""
    seen: set[int] = set()
    stack: list[Any] = list(objects)
    total = 0
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        total += sys.getsizeof(value)
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return total


def _mean_json(objects: list[dict]) -> float:
    return sum(len(json.dumps(o, separators=(",", ":"))) for o in objects) / max(1, len(objects))


def memory_in_child(kubeconfig: str, plural: str, ns: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, kubeconfig, "--measure", plural, "--namespace", ns],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def wait_for_service_account(kube: KubeClient, ns: str) -> None:
    for _ in range(300):
        try:
            kube.get(SERVICE_ACCOUNTS, "default", namespace=ns)
            return
        except NotFound:
            time.sleep(0.1)


def bench(kubeconfig: str, count: int) -> None:
    kube = connect(kubeconfig)
    ns = f"bench-{uuid.uuid4().hex[:8]}"
    kube.create(NAMESPACES, {"metadata": {"name": ns}})
    try:
        wait_for_service_account(kube, ns)
        for resource, build in ((CONFIG_MAPS, configmap), (PODS, pod)):
            rv = kube.list(resource, namespace=ns, limit=1).resource_version
            created = create_many(kube, resource, ns, count, build)
            ingested = ingest_rate(kube, resource, ns, rv, count)
            print(f"{resource.plural:>10}: created {created:8.0f}/s   "
                  f"watch events ingested {ingested:8.0f}/s")
            variants = [resource.plural] + (["pods-slim"] if resource is PODS else [])
            for variant in variants:
                mem = memory_in_child(kubeconfig, variant, ns)
                print(f"{variant:>10}  {mem['count']:.0f} cached: {mem['rss_per_object']:6.0f} B/object RSS "
                      f"({mem['live_per_object']:.0f} B live)   "
                      f"JSON {mem['json_served']:5.0f} B as served, {mem['json_cached']:5.0f} B as cached "
                      f"(ratio {mem['rss_per_object'] / mem['json_served']:.2f}x / "
                      f"{mem['rss_per_object'] / mem['json_cached']:.2f}x)")
    finally:
        kube.delete(NAMESPACES, ns, propagation_policy="Background")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kubeconfig")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure_memory(args.kubeconfig, args.measure, args.namespace)))
        return
    bench(args.kubeconfig, args.count)


if __name__ == "__main__":
    main()
