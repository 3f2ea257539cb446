"""Fakes for the controller tests: an API client that records every call and answers like a server,
an event recorder that records events, and a cluster of real informer stores seeded by hand.

The reconcilers read only from listers and write only through the client, so a test seeds the
listers, calls ``sync(key)`` and reads ``api.actions``: the ordered list of what the operator asked
the API server to do. ``Cluster.catch_up()`` plays the informers: it copies what the fake server holds
into the stores, as the watches would.
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rocketmq_operator.controllers import registry
from rocketmq_operator.controllers.brokers.brokercluster import BrokerClusterReconciler
from rocketmq_operator.controllers.brokers.doors import BROKER_CLUSTER_DOOR, BROKER_DOOR
from rocketmq_operator.controllers.brokers.nameclaims import NameClaims
from rocketmq_operator.controllers.runtime.common import (
    CLUSTER_INDEX,
    INVOLVED_UID_INDEX,
    cluster_index,
    involved_uid_index,
)
from rocketmq_operator.controllers.workloads.console import ConsoleReconciler
from rocketmq_operator.controllers.workloads.nameservice import NameServiceReconciler
from rocketmq_operator.informers import Lister, Store, object_key
from rocketmq_operator.kube import (
    BROKER_CLUSTERS,
    BROKERS,
    CONFIG_MAPS,
    CONSOLES,
    CONTROLLERS,
    DEPLOYMENTS,
    FAILED_CREATE_EVENTS,
    NAME_SERVICES,
    POD_DISRUPTION_BUDGETS,
    PODS,
    PROXIES,
    SERVICES,
    STATEFUL_SETS,
    TOPIC_TRANSFERS,
    AlreadyExists,
    Conflict,
    NotFound,
    Resource,
)
from rocketmq_operator.rocketmq import ConnectError, DeferredMessages, RemotingTimeout, WritePermResult
from rocketmq_operator.rocketmq.types import BrokerData, BrokerRuntimeInfo, ClusterInfo
from tests.fakeclock import FakeClock

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
START = 1_700_000_000.0  # the fake clock's wall time: 2023-11-14T22:13:20Z


def load_sample(name: str, *, uid: str, generation: int = 1, claims: bool = False) -> dict[str, Any]:
    """A sample manifest with the uid, generation and resourceVersion the API server would add; ``claims``:
    its brokers keep their stores on claims (the samples' emptyDir stores make rolls skip masters)."""
    obj = yaml.safe_load((SAMPLES / name).read_text())
    obj["metadata"].update(uid=uid, generation=generation, resourceVersion="1")
    return with_claims(obj) if claims else obj


def with_claims(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with a claim template per broker (storageMode StorageClass; the talk's kind names one template,
    the Apache kind a list)."""
    template = {"metadata": {"name": "broker-storage"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    obj["spec"]["storageMode"] = "StorageClass"
    if obj.get("kind") == "BrokerCluster":
        obj["spec"]["volumeClaimTemplate"] = template
    else:
        obj["spec"]["volumeClaimTemplates"] = [template]
    return obj


@dataclass(frozen=True)
class Action:
    """One call the operator made: client-go's fake actions (verb, resource, subresource, ns, name)."""

    verb: str  # create, update, patch, delete
    resource: str  # plural
    subresource: str | None
    namespace: str | None
    name: str
    body: Any = field(compare=False)

    @property
    def head(self) -> tuple[str, str, str | None, str | None, str]:
        return self.verb, self.resource, self.subresource, self.namespace, self.name


@dataclass
class _Failure:
    verb: str
    resource: str
    subresource: str | None
    name: str | None
    error: Exception


class FakeApi:
    """The client methods the controllers call, over an in-memory server.

    Writes check ``metadata.resourceVersion`` like the API server (a stale one raises Conflict), a create
    of an existing name raises AlreadyExists, an update that takes the last finalizer off an object being
    deleted deletes it, and ``fail(...)`` makes the next matching call raise.
    Every call is recorded before it is answered, failed or not.
    """

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.objects: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self._failures: list[_Failure] = []
        self._rv = itertools.count(100)

    # -- test controls ------------------------------------------------------------------------------

    def fail(self, verb: str, resource: Resource, error: Exception, *, name: str | None = None,
             subresource: str | None = None) -> None:
        """The next ``verb`` on ``resource`` (and ``name``, when given) raises ``error``."""
        self._failures.append(_Failure(verb, resource.plural, subresource, name, error))

    def heads(self) -> list[tuple[str, str, str | None, str | None, str]]:
        return [a.head for a in self.actions]

    def writes_to(self, name: str) -> list[Action]:
        return [a for a in self.actions if a.name == name]

    def clear(self) -> None:
        self.actions.clear()

    def store(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        """Put ``obj`` on the server as it stands (uid and resourceVersion added when missing)."""
        obj = copy.deepcopy(obj)
        meta = obj["metadata"]
        meta.setdefault("uid", f"uid-{resource.plural}-{meta['name']}")
        meta.setdefault("resourceVersion", str(next(self._rv)))
        self.objects[(resource.plural, meta.get("namespace"), meta["name"])] = obj
        return copy.deepcopy(obj)

    # -- the client's methods -----------------------------------------------------------------------

    def create(self, resource: Resource, body: dict[str, Any], *,
               namespace: str | None = None) -> dict[str, Any]:
        name = body["metadata"]["name"]
        self._record("create", resource, None, namespace, name, body)
        if (resource.plural, namespace, name) in self.objects:
            raise AlreadyExists(f'{resource.plural} "{name}" already exists', reason="AlreadyExists")
        obj = copy.deepcopy(body)
        obj["metadata"].pop("resourceVersion", None)
        obj["metadata"]["generation"] = 1
        return self.store(resource, obj)

    def replace(self, resource: Resource, body: dict[str, Any], *,
                namespace: str | None = None) -> dict[str, Any]:
        name = body["metadata"]["name"]
        self._record("update", resource, None, namespace, name, body)
        current = self._current(resource, namespace, name, body)
        obj = copy.deepcopy(body)
        obj["status"] = copy.deepcopy(current.get("status", {}))
        obj["metadata"]["generation"] = current["metadata"].get("generation", 1) + (
            body.get("spec") != current.get("spec"))
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        if obj["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
            del self.objects[(resource.plural, namespace, name)]  # the last finalizer gone: deleted
            return obj
        return self.store(resource, obj)

    def update_status(self, resource: Resource, body: dict[str, Any], *,
                      namespace: str | None = None) -> dict[str, Any]:
        name = body["metadata"]["name"]
        self._record("update", resource, "status", namespace, name, body)
        obj = copy.deepcopy(self._current(resource, namespace, name, body))
        obj["status"] = copy.deepcopy(body.get("status"))
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        return self.store(resource, obj)

    def patch(self, resource: Resource, name: str, patch: Any, *, namespace: str | None = None,
              patch_type: str = "merge", subresource: str | None = None) -> dict[str, Any]:
        self._record("patch", resource, subresource, namespace, name, patch)
        obj = copy.deepcopy(self._current(resource, namespace, name, None))
        obj.update(copy.deepcopy(patch))
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        return self.store(resource, obj)

    def delete(self, resource: Resource, name: str, *, namespace: str | None = None,
               propagation_policy: str | None = None, uid: str | None = None,
               resource_version: str | None = None) -> dict[str, Any]:
        options = {"propagationPolicy": propagation_policy, "preconditions": {"uid": uid}}
        self._record("delete", resource, None, namespace, name, options)
        current = self._current(resource, namespace, name, None)
        if uid and current["metadata"].get("uid") != uid:
            raise Conflict(f'{resource.plural} "{name}": uid precondition failed')
        del self.objects[(resource.plural, namespace, name)]
        return {"kind": "Status", "status": "Success"}

    # -- inside -------------------------------------------------------------------------------------

    def _record(self, verb: str, resource: Resource, subresource: str | None, namespace: str | None,
                name: str, body: Any) -> None:
        self.actions.append(Action(verb, resource.plural, subresource, namespace, name, copy.deepcopy(body)))
        for failure in self._failures:
            if (failure.verb, failure.resource, failure.subresource) == (verb, resource.plural, subresource) \
                    and failure.name in (None, name):
                self._failures.remove(failure)
                raise failure.error

    def _current(self, resource: Resource, namespace: str | None, name: str,
                 body: dict[str, Any] | None) -> dict[str, Any]:
        current = self.objects.get((resource.plural, namespace, name))
        if current is None:
            raise NotFound(f'{resource.plural} "{name}" not found', reason="NotFound")
        sent_rv = (body or {}).get("metadata", {}).get("resourceVersion")
        if body is not None and sent_rv != current["metadata"]["resourceVersion"]:
            raise Conflict(f'{resource.plural} "{name}": the object has been modified', reason="Conflict")
        return current


@dataclass(frozen=True)
class Event:
    involved: str  # kind/name
    type: str
    reason: str
    message: str


class FakeRecorder:
    """Records ``event(obj, type_, reason, message)`` calls."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append(Event(f"{obj.get('kind', '')}/{obj['metadata']['name']}", type_, reason, message))

    def reasons(self, type_: str | None = None) -> list[str]:
        return [e.reason for e in self.events if type_ is None or e.type == type_]


WATCHED = (BROKER_CLUSTERS, BROKERS, CONTROLLERS, PROXIES, TOPIC_TRANSFERS, NAME_SERVICES, CONSOLES,
           CONFIG_MAPS, SERVICES, STATEFUL_SETS, POD_DISRUPTION_BUDGETS, DEPLOYMENTS, PODS,
           FAILED_CREATE_EVENTS)


class Cluster:
    """Real informer stores and listers in front of a ``FakeApi``; ``seed`` puts an object in both."""

    def __init__(self) -> None:
        self.api = FakeApi()
        self.recorder = FakeRecorder()
        self.clock = FakeClock(start=START)
        self._stores = {r: Store() for r in WATCHED}
        for resource in (PODS, STATEFUL_SETS):  # as registry.build_controllers adds them
            self._stores[resource].add_indexers({CLUSTER_INDEX: cluster_index})
        self._stores[FAILED_CREATE_EVENTS].add_indexers({INVOLVED_UID_INDEX: involved_uid_index})

    def lister(self, resource: Resource) -> Lister:
        return Lister(self._stores[resource], resource)

    def seed(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        """The object as the server now holds it, also in the informer's cache."""
        stored = self.api.store(resource, obj)
        self._stores[resource].put(copy.deepcopy(stored))
        return stored

    def unseed(self, resource: Resource, obj: dict[str, Any]) -> None:
        """Forgets ``obj`` in the cache only (a watch that has not delivered the create yet)."""
        self._stores[resource].delete(object_key(obj))

    def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        return copy.deepcopy(self.api.objects[(resource.plural, namespace, name)])

    def catch_up(self) -> None:
        """The watches deliver: each store now holds exactly what the server holds."""
        for resource, store in self._stores.items():
            on_server = {object_key(obj): obj for (plural, _, _), obj in self.api.objects.items()
                         if plural == resource.plural}
            for key in set(store.keys()) - set(on_server):
                store.delete(key)
            for obj in on_server.values():
                store.put(copy.deepcopy(obj))

    def _wiring(self) -> dict[str, Any]:
        return {"client": self.api, "lister_for": self.lister, "recorder": self.recorder, "clock": self.clock}

    def broker_cluster_reconciler(self, observer: Any = None, metrics: Any = None, *,
                                  allow_external_name_servers: bool = False,
                                  name_claims: NameClaims | None = None) -> BrokerClusterReconciler:
        """Built by the registry function production uses, for the BrokerCluster front door."""
        return registry.broker_reconciler(BROKER_CLUSTER_DOOR, observer=observer, metrics=metrics,
                                          allow_external_name_servers=allow_external_name_servers,
                                          name_claims=name_claims, **self._wiring())

    def broker_reconciler(self, observer: Any = None, *, allow_external_name_servers: bool = False,
                          name_claims: NameClaims | None = None) -> BrokerClusterReconciler:
        """The same reconciler behind the Apache Broker front door."""
        return registry.broker_reconciler(BROKER_DOOR, observer=observer,
                                          allow_external_name_servers=allow_external_name_servers,
                                          name_claims=name_claims, **self._wiring())

    def name_service_reconciler(self) -> NameServiceReconciler:
        return registry.name_service_reconciler(**self._wiring())

    def console_reconciler(self) -> ConsoleReconciler:
        return registry.console_reconciler(**self._wiring())

    def topic_transfer_reconciler(self, **admin: Any):
        """``admin_for`` (name servers → an AdminClient or a fake of one) may be given."""
        return registry.topic_transfer_reconciler(**self._wiring(), **admin)

    def controller_group_reconciler(self, observer: Any = None):
        return registry.controller_group_reconciler(observer=observer, **self._wiring())

    def proxy_reconciler(self):
        return registry.proxy_reconciler(**self._wiring())


TALK_NAME_SERVER_IPS = ("10.10.103.181", "10.10.101.98")  # the name servers of the 04-cluster-* samples


def seed_name_service(cluster: Cluster, namespace: str, name: str = "ns", *, size: int = 1,
                      ips: tuple[str, ...] = ()) -> None:
    """A NameService of ``size`` pods in ``namespace``; with ``ips``, its pods too (Ready, at those IPs), as
    its StatefulSet would have them."""
    cluster.seed(NAME_SERVICES, {"apiVersion": "rocketmq.apache.org/v1alpha1", "kind": "NameService",
                                 "metadata": {"name": name, "namespace": namespace, "uid": f"uid-ns-{name}"},
                                 "spec": {"size": size, "nameServiceImage": "apache/rocketmq:5.3.2"}})
    for i, ip in enumerate(ips):
        cluster.seed(PODS, {"metadata": {"name": f"{name}-{i}", "namespace": namespace,
                                         "labels": {"app": "rocketmq-nameserver",
                                                    "app.kubernetes.io/instance": name}},
                            "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]}})


# -- RocketMQ as the observer sees it ---------------------------------------------------------------------

class ScriptedAdmin:
    """Answers like name servers and brokers that are up (or, for addresses in ``dead``, refuse; for those
    in ``silent``, time out)."""

    def __init__(self, addrs: tuple[str, ...], world: World) -> None:
        self.addrs, self.world = addrs, world

    def close(self) -> None:
        pass

    def cluster_info(self) -> ClusterInfo:
        self.world.asked[self.addrs[0]] += 1
        if self.addrs[0] in self.world.silent:
            raise RemotingTimeout("no response within the request timeout", addr=self.addrs[0])
        if self.addrs[0] in self.world.dead:
            raise ConnectError(f"connect {self.addrs[0]}: refused")
        if self.world.registered is not None:  # {brokerName: {brokerId: addr}}
            found = {n: BrokerData(cluster="DefaultCluster", name=n, addrs=dict(a))
                     for n, a in self.world.registered.items()}
            return ClusterInfo(brokers=found, clusters={"DefaultCluster": frozenset(found)})
        registered = {0: "10.0.0.1:10911", 1: "10.0.0.2:10911"}
        if self.addrs[0] in self.world.without_slave:
            del registered[1]
        data = BrokerData(cluster="DefaultCluster", name="broker-0", addrs=registered)
        return ClusterInfo(brokers={"broker-0": data}, clusters={"DefaultCluster": frozenset({"broker-0"})})

    def broker_runtime_info(self, addr: str) -> BrokerRuntimeInfo:
        self.world.asked[addr] += 1
        if addr in self.world.silent:
            raise RemotingTimeout("no response within the request timeout", addr=addr)
        offset = {"10.0.0.1:10911": 5000, "10.0.0.2:10911": 4200}.get(addr, 5000)
        return BrokerRuntimeInfo(version_desc="V5_3_3", version=1, active=True, commit_log_min_offset=0,
                                 commit_log_max_offset=offset, dispatch_behind_bytes=0,
                                 table=self.world.runtime_tables.get(addr, {}))

    def broker_config(self, addr: str) -> dict[str, str]:
        return {"namesrvAddr": self.world.configs.get(addr, "ns-0:9876")}

    def wipe_write_perm(self, broker_name: str) -> WritePermResult:
        self.world.fences.append(("wipe", broker_name))
        return WritePermResult(counts={a: 1 for a in self.addrs})

    def add_write_perm(self, broker_name: str) -> WritePermResult:
        self.world.fences.append(("add", broker_name))
        return WritePermResult(counts={a: 1 for a in self.addrs})

    def topic_configs(self, addr: str) -> dict[str, Any]:
        return {}

    def deferred_messages(self, addr: str) -> DeferredMessages:
        return DeferredMessages.from_table({"timerOffsetBehind": "0", "timerCongestNum": "0"})

    def subscription_groups(self, addr: str) -> dict[str, Any]:
        return {}

    def update_broker_config(self, addr: str, properties: dict[str, Any]) -> None:
        self.world.pushes.append((addr, properties["namesrvAddr"]))
        self.world.configs[addr] = properties["namesrvAddr"]


class World:
    def __init__(self) -> None:
        self.dead: set[str] = set()
        self.silent: set[str] = set()  # accept, never answer: every call runs into its timeout
        self.asked: Counter[str] = Counter()  # calls that reached each address
        self.without_slave: set[str] = set()
        self.configs: dict[str, str] = {}
        self.runtime_tables: dict[str, dict[str, str]] = {}  # broker addr → its runtime info's table
        self.pushes: list[tuple[str, str]] = []
        self.fences: list[tuple[str, str]] = []
        self.calls = 0
        # what the name servers list (None: broker-0 of two)
        self.registered: dict[str, dict[int, str]] | None = None

    def admin(self, addrs: tuple[str, ...]) -> ScriptedAdmin:
        self.calls += 1
        return ScriptedAdmin(addrs, self)


class InlinePool:
    """Runs submitted work at once, so the tests see an observation's effect without threads."""

    def submit(self, fn, *args):
        fn(*args)

    def shutdown(self, **_: Any) -> None:
        pass


def sync_until_fenced(world: World, cluster: Cluster, reconciler: Any, key: Any, ips: dict[str, str],
                      broker: str, *, rounds: int = 12) -> None:
    """Syncs, playing the StatefulSet controller and a second of time between syncs, until the reconciler has
    wiped ``broker``'s write permission (AssertionError when it never does)."""
    for _ in range(rounds):
        reconciler.sync(key)
        cluster.catch_up()
        if ("wipe", broker) in world.fences:
            return
        play_statefulset_controller(cluster, key.namespace, ips)
        cluster.clock.step(1)
    raise AssertionError(f"{broker} was never fenced: {world.fences}")


def play_statefulset_controller(cluster: Cluster, namespace: str,
                                ips: dict[str, str] | None = None) -> list[str]:
    """One pass of the StatefulSet controller over every StatefulSet: pods at or above the partition that run
    an old revision are replaced (and come back Ready at the new one). Returns the pods it replaced."""
    import hashlib
    import json

    cluster.catch_up()
    replaced = []
    for sts in cluster.lister(STATEFUL_SETS).list(namespace):
        sts = copy.deepcopy(sts)
        revision = hashlib.sha1(json.dumps(sts["spec"]["template"], sort_keys=True).encode()).hexdigest()[:10]
        partition = (sts["spec"]["updateStrategy"].get("rollingUpdate") or {}).get("partition", 0)
        old = (sts.get("status") or {}).get("currentRevision") or revision
        at_revision = 0
        for member in range(sts["spec"]["replicas"]):
            name = f"{sts['metadata']['name']}-{member}"
            try:
                pod = cluster.lister(PODS).get(namespace, name)
                pod_revision = pod["metadata"]["labels"]["controller-revision-hash"]
            except NotFound:
                pod, pod_revision = None, old if member < partition else revision
            if member >= partition and pod_revision != revision:
                pod_revision = revision
                if pod is not None:
                    replaced.append(name)
            at_revision += pod_revision == revision
            labels = {**sts["spec"]["template"]["metadata"]["labels"],
                      "controller-revision-hash": pod_revision}
            cluster.seed(PODS, {"metadata": {"name": name, "namespace": namespace, "labels": labels},
                                "status": {"podIP": (ips or {}).get(name, ""),
                                           "conditions": [{"type": "Ready", "status": "True"}]}})
        n = sts["spec"]["replicas"]
        sts["status"] = {"observedGeneration": sts["metadata"]["generation"], "replicas": n,
                         "readyReplicas": n,
                         "updatedReplicas": at_revision, "updateRevision": revision,
                         "currentRevision": revision if at_revision == n else old}
        cluster.seed(STATEFUL_SETS, sts)
    return replaced
