"""The operator process: wires configuration → client → informers → controllers, and runs them.

``run_operator`` only wires and waits. The order of a run:

1. connect (one clear line and exit 1 when the cluster cannot be reached or the config is wrong);
2. start the probe/metrics server (``/readyz`` turns ok once the caches have synced);
3. with ``--leader-elect``, wait for the Lease; a lost lease stops everything and exits 1;
4. start the shared informers, wait for their caches, start each controller's workers;
5. on SIGTERM/SIGINT: stop taking work, drain in-flight syncs (bounded), release the lease, exit 0;
   a second signal exits at once.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from rocketmq_operator import __version__, logs
from rocketmq_operator.controllers.observe.observer import DEFAULT_INTERVAL as DEFAULT_OBSERVE_INTERVAL
from rocketmq_operator.controllers.observe.observer import Observer
from rocketmq_operator.controllers.registry import build_controllers
from rocketmq_operator.events import EventRecorder
from rocketmq_operator.httpserver import ProbeServer
from rocketmq_operator.informers import SharedInformerFactory
from rocketmq_operator.kube import (
    BROKER_CLUSTERS,
    BROKERS,
    CONSOLES,
    CONTROLLERS,
    NAME_SERVICES,
    POD_DISRUPTION_BUDGETS,
    PODS,
    PROXIES,
    TOPIC_TRANSFERS,
    USER_AGENT,
    ApiError,
    ClusterUnreachable,
    KubeConfigError,
    NotFound,
    Resource,
    RetryPolicy,
    connect,
)
from rocketmq_operator.leaderelection import LeaderElector, LeaseConfig

log = logs.get_logger(__name__)
DRAIN_TIMEOUT = 15.0
# A caught-up watch waits this long (seconds) before its next read, so a steady stream of events (clusters
# converging) is read a batch at a time rather than one wake-up per event; the caches lag by at most this.
WATCH_GATHER = 0.25
LEASE_NAME = "rocketmq-operator-lock"


POD_FIELDS_KEPT = ("name", "namespace", "uid", "resourceVersion", "generation", "labels", "annotations",
                   "ownerReferences", "deletionTimestamp", "creationTimestamp")


def slim_pod(pod: dict[str, Any]) -> dict[str, Any]:
    """Pods are the most numerous objects the operator caches and it reads few of their fields: identity,
    ownership, labels, the IP and whether the pod is Ready (the Ready condition's type and status). An
    update that changes nothing else (a binding to a node, a container's start time, another condition's
    probe time) then reaches the cache as a new resourceVersion only, and no sync."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    slim: dict[str, Any] = {"podIP": status["podIP"]} if status.get("podIP") else {}
    ready = [{"type": "Ready", "status": c.get("status")} for c in status.get("conditions") or ()
             if c.get("type") == "Ready"]
    if ready:
        slim["conditions"] = ready
    return {"metadata": {k: meta[k] for k in POD_FIELDS_KEPT if k in meta}, "status": slim}


def slim_budget(pdb: dict[str, Any]) -> dict[str, Any]:
    """The operator reads a PodDisruptionBudget's spec only, never its status, which the disruption controller
    rewrites whenever a broker pod's readiness changes: without it those rewrites reach no sync."""
    pdb.pop("status", None)
    return pdb


def _namespaces(value: str) -> list[str]:
    return [ns.strip() for ns in value.split(",") if ns.strip()]


def _identity() -> str:
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}_{os.getpid()}"


def user_agent(identity: str) -> str:
    """The User-Agent of this process: the audit log tells replicas apart by it."""
    return f"{USER_AGENT} ({identity})"


def _lease_namespace(args: argparse.Namespace) -> str:
    if args.leader_election_namespace:
        return args.leader_election_namespace
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
            return f.read().strip()
    except OSError:
        return os.environ.get("POD_NAMESPACE") or "default"


class Operator:
    """Everything one operator process runs; built by ``run_operator``, also used by tests in-process."""

    def __init__(self, client: Any, *, namespaces: list[str], workers: int, resync_period: float,
                 identity: str, observe_interval: float = DEFAULT_OBSERVE_INTERVAL,
                 allow_external_name_servers: bool = False) -> None:
        self.client = client
        self.identity = identity
        self.stop_event = threading.Event()
        self.exit_code = 0
        self.stop_reason = ""
        self.factory = SharedInformerFactory(client, namespaces=namespaces or None,
                                             resync_period=resync_period,
                                             transforms={PODS: slim_pod, POD_DISRUPTION_BUDGETS: slim_budget},
                                             watch_gather=WATCH_GATHER)
        self.recorder = EventRecorder(client, instance=identity)
        # RocketMQ is observed (registration, roles, lag, name-server pushes) unless the interval is 0.
        self.observer = Observer(interval=observe_interval) if observe_interval > 0 else None
        self.controllers = build_controllers(client, self.factory, self.recorder, workers=workers,
                                             observer=self.observer,
                                             allow_external_name_servers=allow_external_name_servers)
        self.synced = threading.Event()
        self.started = False
        # With leader election: whether this replica may act now (syncs and API writes are fenced on it).
        self.may_act: Any = None

    def start(self) -> None:
        """Starts informers and controllers; returns once every controller has its workers running."""
        self.started = True
        self.recorder.start()
        self.factory.start()
        for controller in self.controllers:
            if not controller.start(self.stop_event, may_act=self.may_act):
                return
        self.synced.set()
        log.info("operator running", controllers=[c.kind for c in self.controllers])

    def shutdown(self) -> None:
        """Stops taking work, drains in-flight syncs of every controller at once (bounded), stops watches."""
        self.stop_event.set()
        deadline = time.monotonic() + DRAIN_TIMEOUT
        drains = [threading.Thread(target=c.shutdown, args=(DRAIN_TIMEOUT,), daemon=True)
                  for c in self.controllers]
        for t in drains:
            t.start()
        for t in drains:
            t.join(max(0.0, deadline - time.monotonic()))
        self.factory.stop()
        if self.observer is not None:
            self.observer.shutdown()
        self.recorder.stop(timeout=2.0)


class InformerCollector:
    """The informers' figures at scrape time, by resource: lists, watches opened and watch events applied
    since start (how much of the API server's traffic the operator decodes), and objects cached now. The
    reflectors keep plain counters; nothing is counted through a metric lock on the watch path."""

    def __init__(self, factory: SharedInformerFactory) -> None:
        self._factory = factory

    def collect(self) -> Iterator[Metric]:
        families = {
            "lists": CounterMetricFamily("rocketmq_operator_informer_lists",
                                         "lists made by the informer of a resource", labels=["resource"]),
            "watches": CounterMetricFamily("rocketmq_operator_informer_watches",
                                           "watches opened by the informer of a resource",
                                           labels=["resource"]),
            "events": CounterMetricFamily("rocketmq_operator_informer_watch_events",
                                          "watch events (bookmarks aside) the informer of a resource applied",
                                          labels=["resource"]),
            "objects": GaugeMetricFamily("rocketmq_operator_informer_objects",
                                         "objects in the cache of the informer of a resource",
                                         labels=["resource"]),
            "failures": CounterMetricFamily("rocketmq_operator_informer_failures",
                                            "failed lists and watches of the informer of a resource (each "
                                            "is retried; any error that is not the API's relists)",
                                            labels=["resource"]),
            "failing_for": GaugeMetricFamily("rocketmq_operator_informer_failing_seconds",
                                             "seconds since the informer of a resource last succeeded, while "
                                             "it fails (0 when it delivers)", labels=["resource"]),
        }
        for resource, stats in sorted(self._factory.stats().items(), key=lambda item: str(item[0])):
            for name, family in families.items():
                family.add_metric([_resource_label(resource)], stats[name])
        yield from families.values()


def _resource_label(resource: Resource) -> str:
    """``pods``, ``statefulsets.apps``, ``events`` with its field selector when it has one."""
    return f"{resource}({resource.field_selector})" if resource.field_selector else str(resource)


def register_informer_metrics(factory: SharedInformerFactory, registry: CollectorRegistry = REGISTRY) -> None:
    registry.register(InformerCollector(factory))


# Young objects collected once this many more are allocated than freed (the interpreter's default is 700).
# Decoding one watch event allocates hundreds of dicts and strings that live a few microseconds; at 700 nearly
# every event triggered a collection that found them still alive and carried them into older generations.
GC_YOUNG_THRESHOLD = 20_000


def tune_garbage_collector() -> None:
    """Moves everything allocated so far (imported modules: most of the process at start) out of the cyclic
    collector's sight, and collects young objects less often (see GC_YOUNG_THRESHOLD). The cache itself is
    plain decoded JSON, which reference counting frees; the collector is there for the rare cycle."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def run_operator(args: argparse.Namespace) -> int:
    logs.configure(level=args.log_level, fmt=args.log_format)
    tune_garbage_collector()
    identity = _identity()
    try:
        client = connect(args.kubeconfig, user_agent=user_agent(identity))
        version = client.server_version()
    except (KubeConfigError, ClusterUnreachable, ApiError) as e:
        print(f"rocketmq-operator: cannot reach the Kubernetes API: {e}", file=sys.stderr)
        return 1
    missing = missing_crds(client)
    if missing:
        print(f"rocketmq-operator: these CRDs are not installed: {', '.join(missing)}; "
              f"install them with: kubectl apply -f manifests/crds/", file=sys.stderr)
        return 1
    log.info("connected", operator_version=__version__, server_version=version.get("gitVersion"),
             namespaces=_namespaces(args.namespace) or "all", identity=identity)
    op = Operator(client, namespaces=_namespaces(args.namespace), workers=args.workers,
                  resync_period=args.resync_period, identity=identity,
                  observe_interval=args.rocketmq_observe_interval,
                  allow_external_name_servers=args.allow_external_name_servers)
    register_informer_metrics(op.factory)
    servers = _start_servers(args, op)
    if servers is None:
        return 1
    _install_signal_handlers(op)
    elector = _start_leader_election(args, op, client, identity) if args.leader_elect else None
    if elector is None:
        threading.Thread(target=op.start, name="operator-start", daemon=True).start()
    while not op.stop_event.wait(0.5):  # wakes up regularly, so signal handlers run promptly
        pass
    log.info("shutting down", reason=op.stop_reason or "stop requested")
    stopper = threading.Thread(target=op.shutdown, name="shutdown", daemon=True)
    stopper.start()
    stopper.join(DRAIN_TIMEOUT + 5)
    if stopper.is_alive():
        log.warning("shutdown did not finish in time; exiting anyway")
    if elector is not None:
        elector.stop()
        elector.release()
    for server in servers:
        server.stop()
    return op.exit_code


def missing_crds(client: Any, resources: tuple = (BROKER_CLUSTERS, BROKERS, NAME_SERVICES, CONSOLES,
                                                 TOPIC_TRANSFERS, CONTROLLERS, PROXIES)) -> list[str]:
    """Names of the custom resource definitions the API server does not serve."""
    missing = []
    for resource in resources:
        try:
            next(iter(client.list_pages(resource, limit=1)), None)
        except NotFound:
            missing.append(f"{resource.plural}.{resource.group}")
        except ApiError:
            pass  # e.g. forbidden in a namespaced install: the informers report it
    return missing


def _start_servers(args: argparse.Namespace, op: Operator) -> list[ProbeServer] | None:
    def ready() -> bool:
        return op.synced.is_set() or (args.leader_elect and not op.started)

    def healthy() -> bool:
        """False once an informer has delivered nothing for --cache-unhealthy-after seconds (the kubelet then
        restarts the process: a cache that stopped would otherwise serve stale objects for good)."""
        stuck = op.factory.unhealthy(args.cache_unhealthy_after)
        if stuck:
            log.error("informers not delivering", informers=stuck, after=args.cache_unhealthy_after)
        return not stuck

    try:
        metrics = ProbeServer(args.metrics_bind_address, ready=ready, healthy=healthy)
        servers = [metrics]
        if args.health_probe_bind_address and args.health_probe_bind_address != args.metrics_bind_address:
            servers.append(ProbeServer(args.health_probe_bind_address, ready=ready, healthy=healthy,
                                       serve_metrics=False))
    except OSError as e:
        print(f"rocketmq-operator: cannot listen on {args.metrics_bind_address}: {e}", file=sys.stderr)
        return None
    for server in servers:
        server.start()
    log.info("serving", metrics=args.metrics_bind_address, probes=args.health_probe_bind_address or "same")
    return servers


def _install_signal_handlers(op: Operator) -> None:
    def handle(signum, frame) -> None:
        # No logging here: a handler interrupts whatever the main thread was doing, locks included.
        if op.stop_event.is_set():
            os._exit(1)  # second signal: leave at once
        op.stop_reason = f"signal {signal.Signals(signum).name}, draining"
        op.stop_event.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _start_leader_election(args: argparse.Namespace, op: Operator, client: Any,
                           identity: str) -> LeaderElector:
    def lost() -> None:
        log.error("lost the leader lease; exiting so that only one replica reconciles")
        op.exit_code = 1
        op.stop_reason = "lost the leader lease"
        op.stop_event.set()

    config = LeaseConfig(namespace=_lease_namespace(args), name=LEASE_NAME, identity=identity)
    # The lease has a client of its own: one attempt per call, each bounded well inside the renew deadline
    # (a round is a get and a replace), never queued behind the controllers' requests.
    call = config.renew_deadline / 5
    lease_client = connect(args.kubeconfig, retry=RetryPolicy(attempts=1), probe=False,
                           user_agent=user_agent(identity), timeout=(call, call))
    elector = LeaderElector(lease_client, config, on_started_leading=op.start, on_stopped_leading=lost)
    op.may_act = elector.leading
    client.fence(elector.leading)
    threading.Thread(target=elector.run, name="leader-election", daemon=True).start()
    return elector
