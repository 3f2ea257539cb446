"""Which controllers the operator runs, built over one shared informer factory and event recorder.

Each controller gets its own queue and its own reconciler; they share only the informers (one
list/watch per resource) and the event recorder. Nothing here is global: two operators in one
process (as the tests run them) share nothing.

Reconcilers are made by the ``*_reconciler`` functions from a ``lister_for(resource)`` function: the
informer factory's here, the unit tests' in-memory stores there, so the tests wire every reconciler
exactly as production does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import REGISTRY

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.controllers.brokers.brokercluster import BrokerClusterReconciler, Listers
from rocketmq_operator.controllers.brokers.doors import BROKER_CLUSTER_DOOR, BROKER_DOOR, FrontDoor
from rocketmq_operator.controllers.brokers.nameclaims import NameClaims
from rocketmq_operator.controllers.observe.clustermetrics import ClusterMetrics
from rocketmq_operator.controllers.observe.observer import Observer
from rocketmq_operator.controllers.runtime.common import (
    CLUSTER_INDEX,
    INVOLVED_UID_INDEX,
    cluster_index,
    involved_uid_index,
)
from rocketmq_operator.controllers.runtime.conditions import Recorder
from rocketmq_operator.controllers.runtime.control import ObjectControl, StatusWriter, controller_uid
from rocketmq_operator.controllers.runtime.enqueue import (
    became_settled,
    controller_ref,
    mapped_handler,
    owner_keys,
    parent_handler,
    settled,
)
from rocketmq_operator.controllers.runtime.finalizers import FinalizerWriter
from rocketmq_operator.controllers.runtime.refs import IMPLICIT_NAME_SERVICE, name_service_users_index
from rocketmq_operator.controllers.runtime.runner import Controller, Key
from rocketmq_operator.controllers.runtime.statuspace import StatusPacer
from rocketmq_operator.controllers.topictransfer.topictransfer import FINALIZER as TRANSFER_FINALIZER
from rocketmq_operator.controllers.topictransfer.topictransfer import TopicTransferReconciler
from rocketmq_operator.controllers.topictransfer.transferfacts import ClusterListers
from rocketmq_operator.controllers.workloads.console import ConsoleReconciler, console_name_service_key
from rocketmq_operator.controllers.workloads.controllergroup import ControllerGroupReconciler
from rocketmq_operator.controllers.workloads.nameservice import NameServiceReconciler
from rocketmq_operator.controllers.workloads.proxy import ProxyReconciler
from rocketmq_operator.informers import Lister, SharedInformerFactory
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
    KubeClient,
    NotFound,
    Resource,
)
from rocketmq_operator.workqueue import PRIORITY_CHILD, RateLimitingQueue

NAME_SERVICE_INDEX = "name-service"
CONFIG_MAP_INDEX = "properties-config-map"
ListerFor = Callable[[Resource], Lister]

BROKER_CHILDREN = (CONFIG_MAPS, SERVICES, STATEFUL_SETS, POD_DISRUPTION_BUDGETS)
NAME_SERVICE_CHILDREN = (SERVICES, STATEFUL_SETS, POD_DISRUPTION_BUDGETS)
CONSOLE_CHILDREN = (DEPLOYMENTS, SERVICES)
CONTROLLER_CHILDREN = (SERVICES, STATEFUL_SETS, POD_DISRUPTION_BUDGETS)
PROXY_CHILDREN = (SERVICES, DEPLOYMENTS, POD_DISRUPTION_BUDGETS)


# -- reconcilers: built the same way here and in the unit tests (from a lister per resource) --------------

def object_controls(kinds: Iterable[Resource], *, client: KubeClient, lister_for: ListerFor,
                    recorder: Recorder) -> dict[str, ObjectControl]:
    """One control object per child kind, keyed by kind."""
    return {r.kind: ObjectControl(client, lister_for(r), r, recorder) for r in kinds}


def broker_reconciler(door: FrontDoor, *, client: KubeClient, lister_for: ListerFor, recorder: Recorder,
                      clock: Clock = REAL_CLOCK, observer: Observer | None = None,
                      metrics: ClusterMetrics | None = None, allow_external_name_servers: bool = False,
                      name_claims: NameClaims | None = None) -> BrokerClusterReconciler:
    listers = Listers(parent=lister_for(door.resource), name_services=lister_for(NAME_SERVICES),
                      config_maps=lister_for(CONFIG_MAPS), stateful_sets=lister_for(STATEFUL_SETS),
                      pods=lister_for(PODS), failed_creates=lister_for(FAILED_CREATE_EVENTS),
                      controllers=lister_for(CONTROLLERS),
                      peers=(("BrokerCluster", lister_for(BROKER_CLUSTERS)), ("Broker", lister_for(BROKERS))))
    return BrokerClusterReconciler(
        door, listers=listers, status=StatusWriter(client, door.resource), recorder=recorder, clock=clock,
        observer=observer, metrics=metrics, pacer=StatusPacer(clock=clock),
        allow_external_name_servers=allow_external_name_servers, name_claims=name_claims,
        controls=object_controls(BROKER_CHILDREN, client=client, lister_for=lister_for, recorder=recorder))


def name_service_reconciler(*, client: KubeClient, lister_for: ListerFor, recorder: Recorder,
                            clock: Clock = REAL_CLOCK) -> NameServiceReconciler:
    return NameServiceReconciler(
        lister=lister_for(NAME_SERVICES), failed_creates=lister_for(FAILED_CREATE_EVENTS),
        status=StatusWriter(client, NAME_SERVICES), recorder=recorder, clock=clock,
        controls=object_controls(NAME_SERVICE_CHILDREN, client=client, lister_for=lister_for,
                                 recorder=recorder))


def console_reconciler(*, client: KubeClient, lister_for: ListerFor, recorder: Recorder,
                       clock: Clock = REAL_CLOCK) -> ConsoleReconciler:
    return ConsoleReconciler(
        lister=lister_for(CONSOLES), name_services=lister_for(NAME_SERVICES),
        status=StatusWriter(client, CONSOLES), recorder=recorder, clock=clock,
        controls=object_controls(CONSOLE_CHILDREN, client=client, lister_for=lister_for, recorder=recorder))


def controller_group_reconciler(*, client: KubeClient, lister_for: ListerFor, recorder: Recorder,
                                clock: Clock = REAL_CLOCK,
                                observer: Observer | None = None) -> ControllerGroupReconciler:
    return ControllerGroupReconciler(
        lister=lister_for(CONTROLLERS), pods=lister_for(PODS),
        failed_creates=lister_for(FAILED_CREATE_EVENTS),
        status=StatusWriter(client, CONTROLLERS), recorder=recorder, clock=clock, observer=observer,
        controls=object_controls(CONTROLLER_CHILDREN, client=client, lister_for=lister_for,
                                 recorder=recorder))


def proxy_reconciler(*, client: KubeClient, lister_for: ListerFor, recorder: Recorder,
                     clock: Clock = REAL_CLOCK) -> ProxyReconciler:
    return ProxyReconciler(
        lister=lister_for(PROXIES), name_services=lister_for(NAME_SERVICES),
        status=StatusWriter(client, PROXIES), recorder=recorder, clock=clock,
        controls=object_controls(PROXY_CHILDREN, client=client, lister_for=lister_for, recorder=recorder))


def topic_transfer_reconciler(*, client: KubeClient, lister_for: ListerFor, recorder: Recorder,
                              clock: Clock = REAL_CLOCK, **admin: Any) -> TopicTransferReconciler:
    """``admin`` may carry ``admin_for``: how to make an AdminClient for a name-server list."""
    clusters = ClusterListers(brokers=lister_for(BROKERS), broker_clusters=lister_for(BROKER_CLUSTERS),
                              name_services=lister_for(NAME_SERVICES), pods=lister_for(PODS))
    return TopicTransferReconciler(lister=lister_for(TOPIC_TRANSFERS), clusters=clusters, recorder=recorder,
                                   status=StatusWriter(client, TOPIC_TRANSFERS),
                                   finalizer=FinalizerWriter(client, TOPIC_TRANSFERS, TRANSFER_FINALIZER),
                                   clock=clock, **admin)


# -- event mapping -------------------------------------------------------------------------------------------

def _keys(objs: list[dict[str, Any]]) -> list[Key]:
    return [Key(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objs]


def _users_of_name_service(parents: Lister):
    def to_keys(ns_obj: dict[str, Any]) -> list[Key]:
        namespace = ns_obj["metadata"].get("namespace", "")
        return _keys(parents.by_index(NAME_SERVICE_INDEX, f"{namespace}/{ns_obj['metadata']['name']}")
                     + parents.by_index(NAME_SERVICE_INDEX, f"{namespace}/{IMPLICIT_NAME_SERVICE}"))
    return to_keys


def _controller_mode_clusters(parents: Lister):
    """A Controller changed (created, resized): the namespace's CONTROLLER-mode clusters look again."""
    def to_keys(controller: dict[str, Any]) -> list[Key]:
        found = parents.list(controller["metadata"].get("namespace", ""))
        return _keys([p for p in found if (p.get("spec") or {}).get("clusterMode") == "CONTROLLER"])
    return to_keys


def _users_of_config_map(parents: Lister):
    def to_keys(cm: dict[str, Any]) -> list[Key]:
        return _keys(parents.by_index(CONFIG_MAP_INDEX,
                                      f"{cm['metadata'].get('namespace', '')}/{cm['metadata']['name']}"))
    return to_keys


def _config_map_index(door: FrontDoor):
    def index(obj: dict[str, Any]) -> list[str]:
        name = door.config_map_name(obj)
        return [f"{obj['metadata'].get('namespace', '')}/{name}"] if name else []
    return index


def _event_owner(stateful_sets: Lister, kind: str):
    """A FailedCreate event → the StatefulSet it is about → that StatefulSet's parent of ``kind``."""
    to_parent = owner_keys(kind)

    def to_keys(event: dict[str, Any]) -> list[Key]:
        involved = event.get("involvedObject") or {}
        if involved.get("kind") != "StatefulSet":
            return []
        try:
            sts = stateful_sets.get(involved.get("namespace", ""), involved.get("name", ""))
        except NotFound:
            return []
        return to_parent(sts) if sts["metadata"].get("uid") == involved.get("uid") else []
    return to_keys


def _pod_owner(stateful_sets: Lister, kind: str):
    to_parent = owner_keys(kind)

    def to_keys(pod: dict[str, Any]) -> list[Key]:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "StatefulSet":
            return []
        try:
            sts = stateful_sets.get(pod["metadata"].get("namespace", ""), ref["name"])
        except NotFound:
            return []
        return to_parent(sts)
    return to_keys


# -- controllers ---------------------------------------------------------------------------------------------

CHILD_DELAY = 2.0  # seconds a change on an owned object waits, to be synced with the changes that follow it


def _controller(name: str, reconciler: Any, *, factory: SharedInformerFactory, watched: Iterable[Resource],
                recorder: Recorder, workers: int) -> Controller:
    informers = [factory.informer(r) for r in watched]
    return Controller(name, reconciler, queue=RateLimitingQueue(name=name), recorder=recorder,
                      workers=workers, has_synced=[i.has_synced for i in informers], child_delay=CHILD_DELAY)


def _broker_controller(kind: str, door: FrontDoor, *, client: KubeClient, factory: SharedInformerFactory,
                       recorder: Recorder, workers: int, observer: Observer | None,
                       allow_external_name_servers: bool, name_claims: NameClaims) -> Controller:
    parent = factory.informer(door.resource)
    parent.add_indexers({NAME_SERVICE_INDEX: name_service_users_index(door.name_service_key),
                         CONFIG_MAP_INDEX: _config_map_index(door)})
    reconciler = broker_reconciler(door, client=client, lister_for=factory.lister, recorder=recorder,
                                   observer=observer, metrics=ClusterMetrics.for_registry(REGISTRY),
                                   allow_external_name_servers=allow_external_name_servers,
                                   name_claims=name_claims)
    controller = _controller(kind, reconciler, factory=factory, recorder=recorder, workers=workers,
                             watched=(BROKER_CLUSTERS, BROKERS, NAME_SERVICES, CONTROLLERS, PODS,
                                      FAILED_CREATE_EVENTS, *BROKER_CHILDREN))
    enqueue = controller.enqueue
    parent.add_handler(parent_handler(enqueue, is_echo=reconciler.status_writer.is_echo))
    for resource in BROKER_CHILDREN:
        completes = _settles_cluster(factory.lister(STATEFUL_SETS)) if resource is STATEFUL_SETS else None
        factory.informer(resource).add_handler(mapped_handler(enqueue, owner_keys(door.resource.kind),
                                                              completes=completes))
    factory.informer(PODS).add_handler(mapped_handler(enqueue, _pod_owner(factory.lister(STATEFUL_SETS),
                                                                         door.resource.kind)))
    factory.informer(NAME_SERVICES).add_handler(mapped_handler(enqueue,
                                                               _users_of_name_service(parent.lister())))
    factory.informer(CONFIG_MAPS).add_handler(mapped_handler(enqueue, _users_of_config_map(parent.lister())))
    factory.informer(CONTROLLERS).add_handler(mapped_handler(enqueue,
                                                             _controller_mode_clusters(parent.lister())))
    factory.informer(FAILED_CREATE_EVENTS).add_handler(mapped_handler(
        enqueue, _event_owner(factory.lister(STATEFUL_SETS), door.resource.kind)))
    if observer is not None:
        observer.on_done(_observed(door.resource.kind, enqueue))
    return controller


def _settles_cluster(sets: Lister) -> Callable[[dict[str, Any], dict[str, Any]], bool]:
    """The StatefulSet update that settles the last of its parent's StatefulSets not yet settled: the change
    that may make the parent Ready, synced without the delay of other changes on owned objects. Settling one
    group of several is progress like any other and waits with the rest."""

    def completes(old: dict[str, Any], new: dict[str, Any]) -> bool:
        if not became_settled(old, new):
            return False
        owner = controller_uid(new)
        return all(settled(sts) for key in cluster_index(new) for sts in sets.by_index(CLUSTER_INDEX, key)
                   if controller_uid(sts) == owner)  # the cache holds ``new`` already

    return completes


def _observed(kind: str, enqueue):
    """The observer finished looking at a cluster: its next sync puts what it saw into status."""
    def done(key: tuple[str, str, str]) -> None:
        if key[0] == kind:
            enqueue(Key(key[1], key[2]), priority=PRIORITY_CHILD)
    return done


def _name_service_controller(*, client: KubeClient, factory: SharedInformerFactory, recorder: Recorder,
                             workers: int) -> Controller:
    reconciler = name_service_reconciler(client=client, lister_for=factory.lister, recorder=recorder)
    controller = _controller("nameserver", reconciler, factory=factory, recorder=recorder, workers=workers,
                             watched=(NAME_SERVICES, FAILED_CREATE_EVENTS, *NAME_SERVICE_CHILDREN))
    factory.informer(NAME_SERVICES).add_handler(parent_handler(controller.enqueue))
    factory.informer(FAILED_CREATE_EVENTS).add_handler(mapped_handler(
        controller.enqueue, _event_owner(factory.lister(STATEFUL_SETS), "NameService")))
    for resource in NAME_SERVICE_CHILDREN:
        factory.informer(resource).add_handler(mapped_handler(controller.enqueue, owner_keys("NameService")))
    return controller


def _name_service_client_controller(name: str, kind: str, parents: Any, children: tuple[Any, ...],
                                    build: Callable[..., Any], *, client: KubeClient,
                                    factory: SharedInformerFactory, recorder: Recorder,
                                    workers: int) -> Controller:
    """A kind that runs clients of a NameService (Console, Proxy): requeued by its children and by changes of
    the NameService it names."""
    informer = factory.informer(parents)
    informer.add_indexers({NAME_SERVICE_INDEX: name_service_users_index(console_name_service_key)})
    reconciler = build(client=client, lister_for=factory.lister, recorder=recorder)
    controller = _controller(name, reconciler, factory=factory, recorder=recorder, workers=workers,
                             watched=(parents, NAME_SERVICES, *children))
    informer.add_handler(parent_handler(controller.enqueue))
    for resource in children:
        factory.informer(resource).add_handler(mapped_handler(controller.enqueue, owner_keys(kind)))
    factory.informer(NAME_SERVICES).add_handler(mapped_handler(controller.enqueue,
                                                               _users_of_name_service(informer.lister())))
    return controller


def _controller_group_controller(*, client: KubeClient, factory: SharedInformerFactory, recorder: Recorder,
                                 workers: int, observer: Observer | None) -> Controller:
    reconciler = controller_group_reconciler(client=client, lister_for=factory.lister, recorder=recorder,
                                             observer=observer)
    controller = _controller("controller", reconciler, factory=factory, recorder=recorder, workers=workers,
                             watched=(CONTROLLERS, PODS, FAILED_CREATE_EVENTS, *CONTROLLER_CHILDREN))
    factory.informer(CONTROLLERS).add_handler(parent_handler(controller.enqueue))
    factory.informer(FAILED_CREATE_EVENTS).add_handler(mapped_handler(
        controller.enqueue, _event_owner(factory.lister(STATEFUL_SETS), "Controller")))
    for resource in CONTROLLER_CHILDREN:
        factory.informer(resource).add_handler(mapped_handler(controller.enqueue, owner_keys("Controller")))
    factory.informer(PODS).add_handler(mapped_handler(
        controller.enqueue, _pod_owner(factory.lister(STATEFUL_SETS), "Controller")))
    if observer is not None:
        observer.on_done(_observed("Controller", controller.enqueue))
    return controller


def _transfers_in_namespace(transfers: Lister):
    """A Broker, BrokerCluster or NameService changed: the namespace's unfinished transfers look again."""
    def to_keys(obj: dict[str, Any]) -> list[Key]:
        found = transfers.list(obj["metadata"].get("namespace", ""))
        return _keys([t for t in found if (t.get("status") or {}).get("phase") not in ("Done", "RolledBack")])
    return to_keys


def _topic_transfer_controller(*, client: KubeClient, factory: SharedInformerFactory, recorder: Recorder,
                               workers: int) -> Controller:
    reconciler = topic_transfer_reconciler(client=client, lister_for=factory.lister, recorder=recorder)
    controller = _controller("topictransfer", reconciler, factory=factory, recorder=recorder, workers=workers,
                             watched=(TOPIC_TRANSFERS, BROKERS, BROKER_CLUSTERS, NAME_SERVICES, PODS))
    factory.informer(TOPIC_TRANSFERS).add_handler(parent_handler(controller.enqueue))
    for resource in (BROKERS, BROKER_CLUSTERS, NAME_SERVICES):
        factory.informer(resource).add_handler(mapped_handler(
            controller.enqueue, _transfers_in_namespace(factory.lister(TOPIC_TRANSFERS))))
    return controller


def build_controllers(client: KubeClient, factory: SharedInformerFactory, recorder: Recorder, *,
                      workers: int, observer: Observer | None = None,
                      allow_external_name_servers: bool = False) -> list[Controller]:
    """One Controller per kind; each registers its informers and event handlers on ``factory``.
    ``allow_external_name_servers``: broker clusters that ask for it may be written to through name servers
    that are not their namespace's own (see controllers.brokers.writegate)."""
    for resource in (PODS, STATEFUL_SETS):  # shared by the BrokerCluster and Broker controllers
        factory.informer(resource).add_indexers({CLUSTER_INDEX: cluster_index})
    factory.informer(FAILED_CREATE_EVENTS).add_indexers({INVOLVED_UID_INDEX: involved_uid_index})
    common = {"client": client, "factory": factory, "recorder": recorder, "workers": workers}
    # one NameClaims for both kinds: a new cluster's broker names are decided one at a time (see nameclaims)
    brokers = {"observer": observer, "allow_external_name_servers": allow_external_name_servers,
               "name_claims": NameClaims()}
    return [
        _name_service_controller(**common),
        _broker_controller("brokercluster", BROKER_CLUSTER_DOOR, **brokers, **common),
        _broker_controller("broker", BROKER_DOOR, **brokers, **common),
        _name_service_client_controller("console", "Console", CONSOLES, CONSOLE_CHILDREN, console_reconciler,
                                        **common),
        _topic_transfer_controller(**common),
        _controller_group_controller(observer=observer, **common),
        _name_service_client_controller("proxy", "Proxy", PROXIES, PROXY_CHILDREN, proxy_reconciler,
                                        **common),
    ]
