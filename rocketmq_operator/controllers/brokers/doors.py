"""Front doors: how each custom-resource kind that describes brokers becomes a broker-cluster model.

``BrokerCluster`` (``rocketmq.huanwei.io``) and the Apache ``Broker`` (``rocketmq.apache.org``) share
one reconciler. A door says, for its kind, which objects a resource refers to (a NameService, a
ConfigMap of broker properties), resolves them from the listers into a frozen :class:`Refs`, builds the
model from the resource and its refs, and adds the kind's own status fields. Adding a kind is one
door here and one line in the registry.

Which NameService and Controller a resource follows is resolved by ``runtime.refs``, shared with the
client kinds (Console, Proxy).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rocketmq_operator.controllers.runtime.refs import (
    IMPLICIT_NAME_SERVICE,
    name_service_key,
    resolve_controller,
    resolve_name_service,
)
from rocketmq_operator.informers import Lister
from rocketmq_operator.kube import BROKER_CLUSTERS, BROKERS, NotFound, Resource
from rocketmq_operator.resources import model as models
from rocketmq_operator.resources.model import BrokerClusterModel


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
        field = ("spec.nameServers" if self.name_service_key(obj) == IMPLICIT_NAME_SERVICE
                 else "spec.nameServiceRef")
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
                                                       config_map=refs.config_map,
                                                       controller=refs.controller),
    extra_status=_no_extra_status,
)
BROKER_DOOR = FrontDoor(
    resource=BROKERS,
    name_service_key=lambda obj: name_service_key(obj, implicit=True),
    config_map_name=_broker_common_config_map,
    build=lambda obj, refs: models.from_broker(obj, name_service=refs.name_service,
                                               config_map=refs.config_map, controller=refs.controller),
    extra_status=_apache_broker_status,
    config_map_field="spec.volumes[0].configMap",
)
