"""Which controllers the operator runs, built over one shared informer factory and event recorder.

Each controller gets its own queue and its own reconciler; they share only the informers (one
list/watch per resource) and the event recorder. Nothing here is global: two operators in one
process (as the tests run them) share nothing.
"""

from __future__ import annotations

from typing import Any

from rocketmq_operator.controllers.brokercluster import (
    CLUSTER_INDEX,
    BrokerClusterReconciler,
    Controls,
    FrontDoor,
    Listers,
    cluster_index,
)
from rocketmq_operator.controllers.console import ConsoleReconciler
from rocketmq_operator.controllers.control import ObjectControl
from rocketmq_operator.controllers.enqueue import controller_ref, mapped_handler, owner_keys, parent_handler
from rocketmq_operator.controllers.nameservice import NameServiceReconciler
from rocketmq_operator.controllers.runner import Controller, Key
from rocketmq_operator.informers import Lister, SharedInformerFactory
from rocketmq_operator.kube import (
    BROKER_CLUSTERS,
    BROKERS,
    CONFIG_MAPS,
    CONSOLES,
    DEPLOYMENTS,
    NAME_SERVICES,
    POD_DISRUPTION_BUDGETS,
    PODS,
    SERVICES,
    STATEFUL_SETS,
    KubeClient,
    NotFound,
)
from rocketmq_operator.resources.model import from_broker, from_broker_cluster
from rocketmq_operator.workqueue import RateLimitingQueue

NAME_SERVICE_INDEX = "name-service"
CONFIG_MAP_INDEX = "properties-config-map"
IMPLICIT_NAME_SERVICE = "*"  # Broker with nameServers: "" uses the namespace's only NameService


# -- front doors -----------------------------------------------------------------------------------------

def _cluster_name_service(obj: dict[str, Any], lister: Lister) -> tuple[dict | None, str | None]:
    ref = ((obj.get("spec") or {}).get("nameServiceRef") or {}).get("name")
    if not ref:
        return None, None
    try:
        return lister.get(obj["metadata"]["namespace"], ref), None
    except NotFound:
        return None, None  # the model reports the missing NameService


def _broker_name_service(obj: dict[str, Any], lister: Lister) -> tuple[dict | None, str | None]:
    if ((obj.get("spec") or {}).get("nameServers") or "").strip():
        return None, None
    found = lister.list(obj["metadata"]["namespace"])
    if len(found) == 1:
        return found[0], None
    names = sorted(ns["metadata"]["name"] for ns in found)
    if not found:
        return None, "spec.nameServers is empty and there is no NameService in this namespace"
    return None, (f"spec.nameServers is empty and there are {len(found)} NameServices in this namespace "
                  f"({', '.join(names)}): set spec.nameServers to choose one")


def _properties_config_map(obj: dict[str, Any]) -> str | None:
    """The name of the ConfigMap a BrokerCluster takes broker properties from (``spec.config.name``)."""
    config = (obj.get("spec") or {}).get("config")
    return (config.get("name") or None) if isinstance(config, dict) else None


BROKER_CLUSTER_DOOR = FrontDoor(
    resource=BROKER_CLUSTERS,
    build=from_broker_cluster,
    name_service=_cluster_name_service,
    config_map_name=_properties_config_map,
)
BROKER_DOOR = FrontDoor(
    resource=BROKERS,
    build=lambda obj, *, name_service=None, config_map=None: from_broker(obj, name_service=name_service),
    name_service=_broker_name_service,
    config_map_name=lambda obj: None,
)


# -- indexes and event mapping -------------------------------------------------------------------------------

def _name_service_index(obj: dict[str, Any]) -> list[str]:
    spec, ns = obj.get("spec") or {}, obj["metadata"].get("namespace", "")
    ref = (spec.get("nameServiceRef") or {}).get("name") if isinstance(spec.get("nameServiceRef"), dict) else None
    if ref:
        return [f"{ns}/{ref}"]
    if "nameServers" in spec and not (spec.get("nameServers") or "").strip():
        return [f"{ns}/{IMPLICIT_NAME_SERVICE}"]
    return []


def _config_map_index(obj: dict[str, Any]) -> list[str]:
    name = _properties_config_map(obj)
    return [f"{obj['metadata'].get('namespace', '')}/{name}"] if name else []


def _keys(objs: list[dict[str, Any]]) -> list[Key]:
    return [Key(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objs]


def _users_of_name_service(parents: Lister):
    def to_keys(ns_obj: dict[str, Any]) -> list[Key]:
        namespace = ns_obj["metadata"].get("namespace", "")
        return _keys(parents.by_index(NAME_SERVICE_INDEX, f"{namespace}/{ns_obj['metadata']['name']}")
                     + parents.by_index(NAME_SERVICE_INDEX, f"{namespace}/{IMPLICIT_NAME_SERVICE}"))
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


# -- building ------------------------------------------------------------------------------------------------

def _queue(kind: str) -> RateLimitingQueue:
    return RateLimitingQueue(name=kind)


def _broker_controller(kind: str, door: FrontDoor, *, client: KubeClient, factory: SharedInformerFactory,
                       recorder: Any, workers: int) -> Controller:
    parent = factory.informer(door.resource)
    parent.add_indexers({NAME_SERVICE_INDEX: _name_service_index, CONFIG_MAP_INDEX: _config_map_index})
    listers = Listers(parent=parent.lister(), name_services=factory.lister(NAME_SERVICES),
                      config_maps=factory.lister(CONFIG_MAPS), stateful_sets=factory.lister(STATEFUL_SETS),
                      pods=factory.lister(PODS))
    controls = Controls(
        config_maps=ObjectControl(client, listers.config_maps, CONFIG_MAPS, recorder),
        services=ObjectControl(client, factory.lister(SERVICES), SERVICES, recorder),
        stateful_sets=ObjectControl(client, listers.stateful_sets, STATEFUL_SETS, recorder),
        pdbs=ObjectControl(client, factory.lister(POD_DISRUPTION_BUDGETS), POD_DISRUPTION_BUDGETS, recorder))
    reconciler = BrokerClusterReconciler(door, client=client, listers=listers, controls=controls,
                                         recorder=recorder)
    informers = [factory.informer(r) for r in (door.resource, NAME_SERVICES, CONFIG_MAPS, SERVICES,
                                                STATEFUL_SETS, POD_DISRUPTION_BUDGETS, PODS)]
    controller = Controller(kind, reconciler, queue=_queue(kind), recorder=recorder, workers=workers,
                            has_synced=[i.has_synced for i in informers])
    enqueue = controller.enqueue
    parent.add_handler(parent_handler(enqueue))
    for resource in (CONFIG_MAPS, SERVICES, STATEFUL_SETS, POD_DISRUPTION_BUDGETS):
        factory.informer(resource).add_handler(mapped_handler(enqueue, owner_keys(door.resource.kind)))
    factory.informer(PODS).add_handler(mapped_handler(enqueue, _pod_owner(listers.stateful_sets,
                                                                         door.resource.kind)))
    factory.informer(NAME_SERVICES).add_handler(mapped_handler(enqueue, _users_of_name_service(listers.parent)))
    factory.informer(CONFIG_MAPS).add_handler(mapped_handler(
        enqueue, lambda cm: _keys(listers.parent.by_index(
            CONFIG_MAP_INDEX, f"{cm['metadata'].get('namespace', '')}/{cm['metadata']['name']}"))))
    return controller


def _name_service_controller(*, client: KubeClient, factory: SharedInformerFactory, recorder: Any,
                             workers: int) -> Controller:
    informer = factory.informer(NAME_SERVICES)
    reconciler = NameServiceReconciler(
        client=client, lister=informer.lister(), recorder=recorder,
        services=ObjectControl(client, factory.lister(SERVICES), SERVICES, recorder),
        stateful_sets=ObjectControl(client, factory.lister(STATEFUL_SETS), STATEFUL_SETS, recorder))
    informers = [informer, factory.informer(SERVICES), factory.informer(STATEFUL_SETS)]
    controller = Controller("nameserver", reconciler, queue=_queue("nameserver"), recorder=recorder,
                            workers=workers, has_synced=[i.has_synced for i in informers])
    informer.add_handler(parent_handler(controller.enqueue))
    for resource in (SERVICES, STATEFUL_SETS):
        factory.informer(resource).add_handler(mapped_handler(controller.enqueue, owner_keys("NameService")))
    return controller


def _console_controller(*, client: KubeClient, factory: SharedInformerFactory, recorder: Any,
                        workers: int) -> Controller:
    informer = factory.informer(CONSOLES)
    reconciler = ConsoleReconciler(
        client=client, lister=informer.lister(), name_services=factory.lister(NAME_SERVICES), recorder=recorder,
        deployments=ObjectControl(client, factory.lister(DEPLOYMENTS), DEPLOYMENTS, recorder),
        services=ObjectControl(client, factory.lister(SERVICES), SERVICES, recorder))
    informers = [informer, factory.informer(NAME_SERVICES), factory.informer(DEPLOYMENTS), factory.informer(SERVICES)]
    controller = Controller("console", reconciler, queue=_queue("console"), recorder=recorder, workers=workers,
                            has_synced=[i.has_synced for i in informers])
    informer.add_handler(parent_handler(controller.enqueue))
    for resource in (DEPLOYMENTS, SERVICES):
        factory.informer(resource).add_handler(mapped_handler(controller.enqueue, owner_keys("Console")))
    factory.informer(NAME_SERVICES).add_handler(mapped_handler(
        controller.enqueue, lambda ns: _keys(informer.lister().list(ns["metadata"].get("namespace", "")))))
    return controller


def build_controllers(client: KubeClient, factory: SharedInformerFactory, recorder: Any, *,
                      workers: int) -> list[Controller]:
    """One Controller per kind; each registers its informers and event handlers on ``factory``."""
    for resource in (PODS, STATEFUL_SETS):  # shared by the BrokerCluster and Broker controllers
        factory.informer(resource).add_indexers({CLUSTER_INDEX: cluster_index})
    common = {"client": client, "factory": factory, "recorder": recorder, "workers": workers}
    return [
        _name_service_controller(**common),
        _broker_controller("brokercluster", BROKER_CLUSTER_DOOR, **common),
        _broker_controller("broker", BROKER_DOOR, **common),
        _console_controller(**common),
    ]
