"""Front doors: how each custom-resource kind that describes brokers becomes a broker-cluster model.

``BrokerCluster`` (``rocketmq.huanwei.io``) and the Apache ``Broker`` (``rocketmq.apache.org``) share
one reconciler. A door says, for its kind, which objects a resource refers to (a NameService, a
ConfigMap of broker properties), resolves them from the listers into a frozen :class:`Refs`, builds the
model from the resource and its refs, and adds the kind's own status fields. Adding a kind is one
door here and one line in the registry.

The NameService a resource uses is named by one key for every kind (see :func:`name_service_key`): a
NameService name, :data:`IMPLICIT_NAME_SERVICE` for "the namespace's only NameService", or None. The
same key indexes resources by the NameService they follow, so a NameService change requeues exactly
its users — Broker, BrokerCluster and Console alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rocketmq_operator.informers import Lister
from rocketmq_operator.kube import BROKER_CLUSTERS, BROKERS, NotFound, Resource
from rocketmq_operator.resources import model as models
from rocketmq_operator.resources import naming
from rocketmq_operator.resources.model import BrokerClusterModel

IMPLICIT_NAME_SERVICE = "*"  # nameServers: "" on a Broker or Console: the namespace's only NameService


@dataclass(frozen=True)
class Refs:
    """What a resource refers to, as the listers had it when the sync began."""

    name_service: Mapping[str, Any] | None = None
    config_map: Mapping[str, Any] | None = None
    controller: Mapping[str, Any] | None = None  # the Controller of a CONTROLLER-mode cluster
    problems: tuple[tuple[str, str, str], ...] = ()  # (reason, field, message): references not resolved


@dataclass(frozen=True)
class FrontDoor:
    """How one custom-resource kind becomes a broker-cluster model."""

    resource: Resource
    name_service_key: Callable[[Mapping[str, Any]], str | None]
    config_map_name: Callable[[Mapping[str, Any]], str | None]
    build: Callable[[Mapping[str, Any], Refs], BrokerClusterModel]
    extra_status: Callable[[BrokerClusterModel, list[dict[str, Any]]], dict[str, Any]]
    config_map_field: str = "spec.config"  # where the resource names its properties ConfigMap

    def resolve(self, obj: Mapping[str, Any], *, name_services: Lister, config_maps: Lister,
                controllers: Lister | None = None) -> Refs:
        name_service, problem = resolve_name_service(obj, self.name_service_key(obj), name_services)
        field = "spec.nameServers" if self.name_service_key(obj) == IMPLICIT_NAME_SERVICE else "spec.nameServiceRef"
        problems = [(problem[0], field, problem[1])] if problem else []
        config_map = None
        cm_name = self.config_map_name(obj)
        if cm_name:
            try:
                config_map = config_maps.get(obj["metadata"]["namespace"], cm_name)
            except NotFound:
                problems.append(("ConfigMapNotFound", self.config_map_field,
                                 f"{self.config_map_field}: ConfigMap {cm_name} not found"))
        controller = resolve_controller(obj, name_service, controllers) if controllers is not None else None
        return Refs(name_service=name_service, config_map=config_map, controller=controller,
                    problems=tuple(problems))


def resolve_controller(obj: Mapping[str, Any], name_service: Mapping[str, Any] | None,
                       lister: Lister) -> Mapping[str, Any] | None:
    """The Controller a CONTROLLER-mode cluster uses: ``spec.controllerRef``, else — unless its name servers
    embed the controller — the namespace's only Controller. None when there is none (the model says why)."""
    spec = obj.get("spec") or {}
    if (spec.get("clusterMode") or "STATIC") != "CONTROLLER":
        return None
    namespace = obj["metadata"]["namespace"]
    ref = (spec.get("controllerRef") or {}).get("name")
    if ref:
        try:
            return lister.get(namespace, ref)
        except NotFound:
            return None
    if ((name_service or {}).get("spec") or {}).get("enableControllerInNamesrv"):
        return None
    found = lister.list(namespace)
    return found[0] if len(found) == 1 else None


# -- the NameService a resource follows -------------------------------------------------------------------

def name_service_key(obj: Mapping[str, Any], *, implicit: bool) -> str | None:
    """``spec.nameServiceRef.name``; else, for kinds where an empty ``nameServers`` means the namespace's
    only NameService (``implicit``), :data:`IMPLICIT_NAME_SERVICE`; else None (a literal list, or nothing)."""
    spec = obj.get("spec") or {}
    ref = spec.get("nameServiceRef")
    if isinstance(ref, dict) and ref.get("name"):
        return str(ref["name"])
    if implicit and not str(spec.get("nameServers") or "").strip():
        return IMPLICIT_NAME_SERVICE
    return None


def resolve_name_service(obj: Mapping[str, Any], key: str | None,
                         lister: Lister) -> tuple[Mapping[str, Any] | None, tuple[str, str] | None]:
    """The NameService ``key`` names in ``obj``'s namespace, or ``(reason, message)`` saying why there is none."""
    if key is None:
        return None, None
    namespace = obj["metadata"]["namespace"]
    if key != IMPLICIT_NAME_SERVICE:
        try:
            return lister.get(namespace, key), None
        except NotFound:
            return None, ("NameServiceNotFound", f"NameService {key!r} not found in namespace {namespace!r}")
    found = lister.list(namespace)
    if len(found) == 1:
        return found[0], None
    names = ", ".join(sorted(n["metadata"]["name"] for n in found)) or "none"
    message = (f"spec.nameServers is empty and the namespace has {len(found)} NameServices ({names}): "
               f"set spec.nameServers or keep exactly one NameService")
    return None, ("NameServiceNotFound", message)


def client_name_servers(obj: Mapping[str, Any], name_services: Lister) -> tuple[str, str | None]:
    """The ``namesrvAddr`` of a client kind (Console, Proxy): ``spec.nameServers``, else the NameService of
    ``spec.nameServiceRef``, else the namespace's only NameService; or ``("", why there is none)``."""
    given = str((obj.get("spec") or {}).get("nameServers") or "").strip()
    if given:
        return given, None
    ns, problem = resolve_name_service(obj, name_service_key(obj, implicit=True), name_services)
    if ns is None:
        return "", problem[1] if problem else "spec.nameServers is empty"
    size = int((ns.get("spec") or {}).get("size", 1))
    return naming.name_server_address(ns["metadata"]["name"], obj["metadata"]["namespace"], size), None


def name_service_users_index(door_key: Callable[[Mapping[str, Any]], str | None]):
    """An indexer of resources by ``<namespace>/<name-service key>``."""
    def index(obj: dict[str, Any]) -> list[str]:
        key = door_key(obj)
        return [f"{obj['metadata'].get('namespace', '')}/{key}"] if key else []
    return index


# -- the two broker doors ---------------------------------------------------------------------------------

def _properties_config_map(obj: Mapping[str, Any]) -> str | None:
    """The ConfigMap a BrokerCluster takes broker properties from (``spec.config.name``)."""
    config = (obj.get("spec") or {}).get("config")
    return (config.get("name") or None) if isinstance(config, dict) else None


def _broker_common_config_map(obj: Mapping[str, Any]) -> str | None:
    """The ConfigMap an Apache Broker's ``volumes[0]`` mounts ``broker-common.conf`` from."""
    return models.broker_common_config_map_name(obj.get("spec") or {})


def _no_extra_status(model: BrokerClusterModel, pods: list[dict[str, Any]]) -> dict[str, Any]:
    return {}


def _apache_broker_status(model: BrokerClusterModel, pods: list[dict[str, Any]]) -> dict[str, Any]:
    """The Apache operator's status fields: ``size`` and ``nodes`` (pod names)."""
    return {"size": model.groups, "nodes": sorted(p["metadata"]["name"] for p in pods)}


BROKER_CLUSTER_DOOR = FrontDoor(
    resource=BROKER_CLUSTERS,
    name_service_key=lambda obj: name_service_key(obj, implicit=False),
    config_map_name=_properties_config_map,
    build=lambda obj, refs: models.from_broker_cluster(obj, name_service=refs.name_service,
                                                       config_map=refs.config_map, controller=refs.controller),
    extra_status=_no_extra_status,
)
BROKER_DOOR = FrontDoor(
    resource=BROKERS,
    name_service_key=lambda obj: name_service_key(obj, implicit=True),
    config_map_name=_broker_common_config_map,
    build=lambda obj, refs: models.from_broker(obj, name_service=refs.name_service, config_map=refs.config_map,
                                               controller=refs.controller),
    extra_status=_apache_broker_status,
    config_map_field="spec.volumes[0].configMap",
)
