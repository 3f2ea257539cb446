"""RocketMQ on the operator's ``/metrics``: what each broker-cluster sync wrote and observed.

The broker-cluster reconciler calls :meth:`ClusterMetrics.publish` at the end of every sync with the
status it computed and the observer's fresh facts, and :meth:`ClusterMetrics.forget` when the resource is
gone. Each cluster keeps one snapshot; samples are made from the snapshots when the registry is scraped
(a collector, not long-lived labelled children), so a series lives exactly as long as its cluster and
broker: a removed cluster or broker, a changed role, a finished roll or drain leave nothing behind, and
the number of series is bounded by clusters × members.

Every series has the labels ``kind`` (BrokerCluster or Broker), ``namespace`` and ``cluster`` (the
resource's name); broker series add ``broker`` (the pod). Per broker: ``up`` (it answered the runtime-info
call of the last fresh observation), registered name servers, role, replication lag, put/get TPS, pod
Ready. Per cluster: groups and members, ready and registered. Per roll and drain: in progress, the step
(a label with a fixed set of values), how long it has run. Broker facts are published only by an
operator that observes RocketMQ; without observation only the Kubernetes side is exported.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.controllers.observe.observer import BrokerFacts, ClusterFacts

CLUSTER_LABELS = ("kind", "namespace", "cluster")
BROKER_LABELS = (*CLUSTER_LABELS, "broker")
ROLL_STEPS = ("waiting", "restarting", "fencing", "fenced")
DRAIN_STEPS = ("draining", "timed_out")

# name → (help, labels)
FAMILIES: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "rocketmq_broker_up": ("1 when the broker answered the last fresh observation", BROKER_LABELS),
    "rocketmq_broker_ready": ("1 when the broker's pod is Ready", BROKER_LABELS),
    "rocketmq_broker_registered_name_servers": ("name servers that list the broker", BROKER_LABELS),
    "rocketmq_broker_role": ("1 for the role RocketMQ reports (MASTER, SLAVE, LEADER, FOLLOWER)",
                             (*BROKER_LABELS, "broker_name", "role")),
    "rocketmq_broker_replication_lag_bytes": ("a slave's commit log behind its master's", BROKER_LABELS),
    "rocketmq_broker_put_tps": ("messages stored per second (the broker's putTps)", BROKER_LABELS),
    "rocketmq_broker_get_tps": ("messages sent to consumers per second (getTransferredTps)", BROKER_LABELS),
    "rocketmq_cluster_ready": ("1 when the cluster's Ready condition is True", CLUSTER_LABELS),
    "rocketmq_cluster_groups": ("broker groups in the spec", CLUSTER_LABELS),
    "rocketmq_cluster_ready_groups": ("broker groups with every member Ready", CLUSTER_LABELS),
    "rocketmq_cluster_members": ("broker pods that exist", CLUSTER_LABELS),
    "rocketmq_cluster_ready_members": ("broker pods that are Ready", CLUSTER_LABELS),
    "rocketmq_cluster_registered_members": ("brokers registered on every name server that answered",
                                            CLUSTER_LABELS),
    "rocketmq_cluster_name_servers_up": ("name servers that answered the last fresh observation",
                                         CLUSTER_LABELS),
    "rocketmq_roll_in_progress": ("1 while a template roll is under way", CLUSTER_LABELS),
    "rocketmq_roll_step": ("1 for the step of the roll in progress: " + ", ".join(ROLL_STEPS),
                           (*CLUSTER_LABELS, "step")),
    "rocketmq_roll_duration_seconds": (("how long the roll in progress has run "
                                        "(since this operator saw it start)"), CLUSTER_LABELS),
    "rocketmq_drain_in_progress": ("1 while a broker group is drained before its removal", CLUSTER_LABELS),
    "rocketmq_drain_group": ("the broker group being drained", CLUSTER_LABELS),
    "rocketmq_drain_step": ("1 for the step of the drain in progress: " + ", ".join(DRAIN_STEPS),
                            (*CLUSTER_LABELS, "step")),
    "rocketmq_drain_duration_seconds": (("how long the drain in progress has run "
                                         "(from status.drain.startedAt)"), CLUSTER_LABELS),
}

Sample = tuple[str, tuple[str, ...], float]  # family, label values, value


@dataclass
class _Snapshot:
    samples: list[Sample] = field(default_factory=list)
    roll_started: float | None = None  # wall seconds
    drain_started: float | None = None


class ClusterMetrics:
    """The RocketMQ series of every broker cluster one operator reconciles; one collector per registry."""

    _by_registry: ClassVar[weakref.WeakKeyDictionary] = weakref.WeakKeyDictionary()
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, registry: CollectorRegistry | None = None, *, clock: Clock = REAL_CLOCK) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshots: dict[Hashable, _Snapshot] = {}
        if registry is not None:
            registry.register(self)

    @classmethod
    def for_registry(cls, registry: CollectorRegistry) -> ClusterMetrics:
        """The collector of ``registry``, created and registered on first use (shared by both front doors)."""
        with cls._registry_lock:
            if registry not in cls._by_registry:
                cls._by_registry[registry] = cls(registry)
            return cls._by_registry[registry]

    def publish(self, key: tuple[str, str, str], status: Mapping[str, Any], facts: ClusterFacts | None, *,
                observed: bool) -> None:
        """Replaces the series of cluster ``key`` = (kind, namespace, name) with what ``status`` and ``facts``
        say."""
        now = self._clock.wall()
        with self._lock:
            old = self._snapshots.get(key) or _Snapshot()
            roll_started = (old.roll_started or now) if _rolling(status) else None
            self._snapshots[key] = _Snapshot(samples=_samples(key, status, facts, observed=observed),
                                             roll_started=roll_started, drain_started=_drain_started(status))

    def forget(self, key: Hashable) -> None:
        """The cluster is gone: every series of it goes."""
        with self._lock:
            self._snapshots.pop(key, None)

    def describe(self) -> Iterator[Metric]:
        return iter(_families().values())

    def collect(self) -> Iterator[Metric]:
        families = _families()
        now = self._clock.wall()
        with self._lock:
            snapshots = list(self._snapshots.items())
        for key, snap in snapshots:
            for name, labels, value in snap.samples:
                families[name].add_metric(list(labels), value)
            for name, started in (("rocketmq_roll_duration_seconds", snap.roll_started),
                                  ("rocketmq_drain_duration_seconds", snap.drain_started)):
                if started is not None:
                    families[name].add_metric([str(part) for part in key], max(0.0, now - started))
        return iter(families.values())


def _families() -> dict[str, GaugeMetricFamily]:
    return {name: GaugeMetricFamily(name, text, labels=list(labels))
            for name, (text, labels) in FAMILIES.items()}


def _samples(key: tuple[str, str, str], status: Mapping[str, Any], facts: ClusterFacts | None, *,
             observed: bool) -> list[Sample]:
    cluster = tuple(str(part) for part in key)
    out: list[Sample] = [("rocketmq_cluster_ready", cluster,
                          1.0 if _condition(status, "Ready") == "True" else 0.0)]
    for name, field_ in (("rocketmq_cluster_groups", "groups"),
                         ("rocketmq_cluster_ready_groups", "readyGroups"),
                         ("rocketmq_cluster_members", "members"),
                         ("rocketmq_cluster_ready_members", "readyMembers")):
        if field_ in status:
            out.append((name, cluster, float(status[field_])))
    out += _roll_samples(cluster, status) + _drain_samples(cluster, status)
    if not observed:
        return out
    out.append(("rocketmq_cluster_registered_members", cluster, float(status.get("registeredMembers") or 0)))
    if facts is not None:
        out.append(("rocketmq_cluster_name_servers_up", cluster, float(facts.name_servers_up)))
    by_pod = {b.pod: b for b in facts.brokers} if facts is not None else {}
    for entry in status.get("brokers") or ():
        out += _broker_samples((*cluster, entry["name"]), entry, by_pod.get(entry["name"]))
    return out


def _broker_samples(labels: tuple[str, ...], entry: Mapping[str, Any],
                    fact: BrokerFacts | None) -> list[Sample]:
    out: list[Sample] = [
        ("rocketmq_broker_up", labels, 1.0 if fact is not None and not fact.error else 0.0),
        ("rocketmq_broker_ready", labels, 1.0 if entry.get("ready") else 0.0),
        ("rocketmq_broker_registered_name_servers", labels, float(fact.registered_on if fact else 0)),
    ]
    if fact is not None and fact.role:  # as RocketMQ reports it (status holds the DLedger names)
        out.append(("rocketmq_broker_role", (*labels, fact.broker_name, str(entry.get("role") or fact.role)),
                    1.0))
    if fact is not None and fact.lag_bytes is not None:
        out.append(("rocketmq_broker_replication_lag_bytes", labels, float(fact.lag_bytes)))
    if fact is not None and fact.put_tps is not None:
        out.append(("rocketmq_broker_put_tps", labels, fact.put_tps))
    if fact is not None and fact.get_tps is not None:
        out.append(("rocketmq_broker_get_tps", labels, fact.get_tps))
    return out


def _rolling(status: Mapping[str, Any]) -> bool:
    return bool(status.get("roll")) or _condition(status, "Rolling") is not None


def _roll_samples(cluster: tuple[str, ...], status: Mapping[str, Any]) -> list[Sample]:
    if not _rolling(status):
        return [("rocketmq_roll_in_progress", cluster, 0.0)]
    roll = status.get("roll") or {}
    if roll.get("fenced"):
        step = "fenced" if "wipedAt" in roll else "fencing"
    else:
        step = "restarting" if roll.get("pod") else "waiting"
    return [("rocketmq_roll_in_progress", cluster, 1.0), ("rocketmq_roll_step", (*cluster, step), 1.0)]


def _drain_samples(cluster: tuple[str, ...], status: Mapping[str, Any]) -> list[Sample]:
    drain = status.get("drain") or {}
    if not drain:
        return [("rocketmq_drain_in_progress", cluster, 0.0)]
    timed_out = _condition(status, "ScaleDownRefused", field_="reason") == "DrainTimedOut"
    return [("rocketmq_drain_in_progress", cluster, 1.0),
            ("rocketmq_drain_group", cluster, float(drain.get("group", 0))),
            ("rocketmq_drain_step", (*cluster, "timed_out" if timed_out else "draining"), 1.0)]


def _drain_started(status: Mapping[str, Any]) -> float | None:
    drain = status.get("drain") or {}
    return float(drain["startedAt"]) if drain.get("startedAt") is not None else None


def _condition(status: Mapping[str, Any], type_: str, *, field_: str = "status") -> str | None:
    found = next((c for c in status.get("conditions") or () if c.get("type") == type_), None)
    return found.get(field_) if found else None
