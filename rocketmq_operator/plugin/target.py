"""What a plugin command works on: the named custom resource, its Events, and the name servers it uses.

A command names its resource as ``NAME`` (a BrokerCluster or a Broker of that name; both existing is an
error that asks for the kind) or ``KIND/NAME`` with any of the kind's names kubectl knows (``bc/x``,
``broker/x``, ``brokerclusters.rocketmq.huanwei.io/x``).

The name servers are resolved as the operator resolves them: the resource's front door
(:mod:`rocketmq_operator.controllers.brokers.doors`) finds the NameService it follows (``nameServiceRef``, or
for a Broker an empty ``nameServers``: the namespace's only NameService) and builds the model, whose
``name_server_address`` is what the brokers are configured with; a cluster DNS name in it is then replaced by
its pod's IP (:func:`rocketmq_operator.controllers.runtime.addresses.dialable`), because the plugin, like the
operator, may run outside the cluster. The listers the door expects are stood in for by :class:`ApiView`,
which reads the API server directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rocketmq_operator.controllers.brokers.doors import BROKER_CLUSTER_DOOR, BROKER_DOOR, FrontDoor
from rocketmq_operator.controllers.runtime.addresses import dialable_list, name_server_list
from rocketmq_operator.kube import CONFIG_MAPS, EVENTS, NAME_SERVICES, PODS, KubeClient, NotFound, Resource
from rocketmq_operator.resources.model import BrokerClusterModel


class PluginError(Exception):
    """A failure the user can act on; the command prints it as one line and exits with status 1."""


@dataclass(frozen=True)
class Kind:
    """A custom-resource kind the plugin works on, and the names kubectl knows it by."""

    resource: Resource
    door: FrontDoor
    short_names: tuple[str, ...]

    @property
    def names(self) -> frozenset[str]:
        singular, plural, group = self.resource.kind.lower(), self.resource.plural, self.resource.group
        return frozenset({singular, plural, f"{singular}.{group}", f"{plural}.{group}", *self.short_names})

    @property
    def label(self) -> str:
        """How kubectl prints the kind in front of a name: ``brokercluster.rocketmq.huanwei.io``."""
        return f"{self.resource.kind.lower()}.{self.resource.group}"


KINDS = (
    Kind(BROKER_CLUSTER_DOOR.resource, BROKER_CLUSTER_DOOR, ("bc", "rmqbc")),
    Kind(BROKER_DOOR.resource, BROKER_DOOR, ("rmqbroker",)),
)


@dataclass(frozen=True)
class Found:
    """The resource a command works on, as read from the API server."""

    kind: Kind
    obj: Mapping[str, Any]

    @property
    def name(self) -> str:
        return self.obj["metadata"]["name"]

    @property
    def namespace(self) -> str:
        return self.obj["metadata"]["namespace"]

    @property
    def ref(self) -> str:
        return f"{self.kind.label}/{self.name}"


@dataclass(frozen=True)
class Endpoints:
    """Where RocketMQ answers for a broker cluster."""

    cluster_name: str  # brokerClusterName
    configured: str  # the namesrvAddr the brokers are configured with
    name_servers: tuple[str, ...]  # the same, dialable from here (pod IPs for cluster DNS names)


def split_ref(ref: str) -> tuple[tuple[Kind, ...], str]:
    """The kinds ``ref`` may name and the name in it."""
    kind_name, sep, name = ref.rpartition("/")
    if not sep:
        return KINDS, ref
    kinds = tuple(k for k in KINDS if kind_name.lower() in k.names)
    if not kinds or not name:
        known = ", ".join(sorted({n for k in KINDS for n in k.names if "." not in n}))
        raise PluginError(f"{ref!r} is not NAME or KIND/NAME with KIND one of {known}")
    return kinds, name


def find(client: KubeClient, namespace: str, ref: str) -> Found:
    """The resource ``ref`` names in ``namespace``; PluginError when there is none or more than one."""
    kinds, name = split_ref(ref)
    found = []
    for kind in kinds:
        try:
            found.append(Found(kind, client.get(kind.resource, name, namespace=namespace)))
        except NotFound:
            continue
    if not found:
        what = " or ".join(k.resource.kind for k in kinds)
        raise PluginError(f"no {what} named {name!r} in namespace {namespace!r}")
    if len(found) > 1:
        options = " or ".join(f"{k.resource.kind.lower()}/{name}" for k in kinds)
        raise PluginError(f"both a BrokerCluster and a Broker are named {name!r} in namespace {namespace!r}: "
                          f"say {options}")
    return found[0]


def events(client: KubeClient, found: Found) -> list[dict[str, Any]]:
    """The Events about the resource (not about an earlier object of the same name)."""
    selector = f"involvedObject.name={found.name},involvedObject.kind={found.kind.resource.kind}"
    items = client.list(EVENTS, namespace=found.namespace, field_selector=selector).items
    uid = found.obj["metadata"].get("uid")
    return [e for e in items if (e.get("involvedObject") or {}).get("uid") in (None, uid)]


class ApiView:
    """The read half of a lister (``get``, ``list``), answered by the API server instead of a cache."""

    def __init__(self, client: KubeClient, resource: Resource) -> None:
        self._client = client
        self.resource = resource

    def get(self, namespace: str | None, name: str) -> dict[str, Any]:
        return self._client.get(self.resource, name, namespace=namespace)

    def list(self, namespace: str | None = None,
             selector: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        labels = ",".join(f"{k}={v}" for k, v in (selector or {}).items()) or None
        return self._client.list(self.resource, namespace=namespace, label_selector=labels).items


def model_of(client: KubeClient, found: Found) -> tuple[BrokerClusterModel, tuple[str, ...]]:
    """The operator's model of the resource and the references that did not resolve (messages)."""
    refs = found.kind.door.resolve(found.obj, name_services=ApiView(client, NAME_SERVICES),
                                   config_maps=ApiView(client, CONFIG_MAPS))
    return found.kind.door.build(found.obj, refs), tuple(message for _, _, message in refs.problems)


def endpoints(client: KubeClient, found: Found) -> Endpoints:
    """Cluster name and name servers of the resource; PluginError when it has no name servers."""
    model, problems = model_of(client, found)
    return endpoints_of(model, pods=ApiView(client, PODS), problems=problems, ref=found.ref)


def endpoints_of(model: BrokerClusterModel, *, pods: Any, problems: tuple[str, ...] = (),
                 ref: str = "") -> Endpoints:
    """The endpoints of a model; ``pods`` is read (``get``) for the IP of each cluster DNS name."""
    configured = model.name_server_address
    if not configured:
        why = "; ".join(problems) or "spec.nameServers is empty and it follows no NameService"
        raise PluginError(f"{ref or model.name} has no name servers: {why}")
    dialable = dialable_list(name_server_list(configured), pods)
    return Endpoints(cluster_name=model.cluster_name, configured=configured, name_servers=dialable)
