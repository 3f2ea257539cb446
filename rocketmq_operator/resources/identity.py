"""One broker identity: what RocketMQ calls each member of a broker cluster, in every mode.

Everything that names a broker to RocketMQ — broker.conf, the registration check, status, the roll's fence
and lag gate, the drain, the scale-out copy, TopicTransfer — asks here; nothing else formats a broker name.

- Broker group ``g`` of a cluster whose groups take the prefix ``p``: ``brokerName=p-g``, shared by the
  group's master and its slaves (``brokerId`` = member ordinal; the master is member 0). In DLEDGER mode the
  Raft group elects the master and the group's name is also its ``dLegerGroup``; in CONTROLLER mode every
  member starts with ``brokerId=-1`` and the controller assigns the ids.
- ``allMaster``: every member is a master of its own, ``brokerName`` = its pod name, ``brokerId=0`` (as
  ``mqadmin clusterList`` shows in the 2018 talk).
- The prefix (:func:`default_prefix`, kept on each group's StatefulSet by :data:`ANNOTATION_PREFIX`):
  ``spec.brokerNamePrefix`` when given; else ``broker`` for a ``BrokerCluster`` (the talk's ``broker-0``,
  ``broker-1``) — or its own name when another cluster on the same name servers already uses ``broker-<g>``;
  else an Apache ``Broker``'s own name (the Apache operator's ``<Broker name>-<g>``). Groups created by an
  earlier version of this operator carry no annotation and keep ``broker``: renaming a running group would
  drop its routes.

A name server keys its route table by broker name alone (whatever the cluster name), so two clusters that
register on one name server must never share a broker name; :func:`clashes` finds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rocketmq_operator.resources import naming

ANNOTATION_PREFIX = "rocketmq.apache.org/broker-name-prefix"
LEGACY_PREFIX = "broker"  # every group of an earlier version, and a lone BrokerCluster's


@dataclass(frozen=True)
class Layout:
    """What a cluster's broker names follow (``BrokerClusterModel.layout``)."""

    name: str  # the custom resource's name (pods are <name>-<g>-<m>)
    cluster_name: str  # brokerClusterName
    prefix: str
    groups: int
    members: int
    all_master: bool = False
    controller_mode: bool = False
    dledger: bool = False
    master_role: str | None = "ASYNC_MASTER"  # brokerRole of a static master (None: elected)


@dataclass(frozen=True)
class BrokerIdentity:
    """One member as RocketMQ knows it."""

    group: int
    member: int
    pod: str
    cluster_name: str
    broker_name: str
    broker_id: int  # -1 in CONTROLLER mode: the controller assigns it
    role: str | None  # the brokerRole broker.conf says (None: DLEDGER, the Raft group elects)


def member(layout: Layout, group: int, ordinal: int) -> BrokerIdentity:
    """The identity of member ``ordinal`` of broker group ``group`` (also of a group beyond the spec)."""
    pod = naming.pod_name(layout.name, group, ordinal)
    name = pod if layout.all_master else group_broker_name(layout, group)
    broker_id = 0 if layout.all_master else -1 if layout.controller_mode else ordinal
    if layout.controller_mode:
        role: str | None = "SLAVE"  # every broker starts as a slave and takes the role the controller elects
    elif layout.master_role is None:
        role = None
    else:
        role = layout.master_role if ordinal == 0 or layout.all_master else "SLAVE"
    return BrokerIdentity(group, ordinal, pod, layout.cluster_name, name, broker_id, role)


def group_broker_name(layout: Layout, group: int) -> str:
    """The broker name a group's members share (DLEDGER: also its ``dLegerGroup``). In allMaster mode each
    member has its own (:func:`group_brokers`); this is then the name the group would have otherwise."""
    return f"{layout.prefix}-{group}"


def group_brokers(layout: Layout, group: int) -> tuple[str, ...]:
    """The broker names of group ``group``: one, or one per member in allMaster mode."""
    if layout.all_master:
        return tuple(member(layout, group, m).broker_name for m in range(layout.members))
    return (group_broker_name(layout, group),)


def cluster_brokers(layout: Layout, groups: Iterable[int] | None = None) -> tuple[str, ...]:
    """Every broker name of the cluster's groups (``groups``: these groups instead of the spec's)."""
    wanted = range(layout.groups) if groups is None else groups
    return tuple(name for g in wanted for name in group_brokers(layout, g))


def own_topics(layout: Layout) -> set[str]:
    """Topics each broker makes for itself: named after its cluster and after its broker name."""
    return {layout.cluster_name, *cluster_brokers(layout)}


def recorded_prefix(stateful_sets: Iterable[Mapping[str, Any]]) -> str | None:
    """The prefix a running cluster's groups were created with (None: no group exists yet). A StatefulSet
    without the annotation was created by an earlier version, whose groups were all ``broker-<g>``."""
    found = sorted(stateful_sets, key=lambda s: s["metadata"]["name"])
    if not found:
        return None
    annotations = found[0]["metadata"].get("annotations") or {}
    return annotations.get(ANNOTATION_PREFIX) or LEGACY_PREFIX


def requested_prefix(kind: str, obj: Mapping[str, Any]) -> str:
    """The prefix a new cluster asks for, before any clash with others is considered."""
    spec = obj.get("spec") or {}
    if spec.get("brokerNamePrefix"):
        return str(spec["brokerNamePrefix"])
    return LEGACY_PREFIX if kind == "BrokerCluster" else str(obj["metadata"]["name"])


def claimed_brokers(kind: str, obj: Mapping[str, Any]) -> set[str]:
    """The broker names another cluster holds or will hold: what its status lists, and what its prefix (from
    status, else its spec) gives its groups."""
    status = obj.get("status") or {}
    names = {b["brokerName"] for b in status.get("brokers") or ()
             if isinstance(b, Mapping) and b.get("brokerName")}
    spec = obj.get("spec") or {}
    groups = spec.get("groupReplica", spec.get("size", 1))
    layout = Layout(name=obj["metadata"]["name"], cluster_name="",
                    prefix=str(status.get("brokerNamePrefix") or requested_prefix(kind, obj)),
                    groups=int(groups or 1), members=int(spec.get("membersPerGroup") or 1),
                    all_master=bool(spec.get("allMaster", False)))
    return names | set(cluster_brokers(layout))


def clashes(ours: Iterable[str],
            others: Iterable[tuple[str, Mapping[str, Any]]]) -> list[tuple[str, str, list[str]]]:
    """``(kind, name, shared broker names)`` of each other cluster that holds one of ``ours``."""
    mine = set(ours)
    out = []
    for kind, obj in others:
        shared = sorted(mine & claimed_brokers(kind, obj))
        if shared:
            out.append((kind, obj["metadata"]["name"], shared))
    return out


def name_server_tokens(obj: Mapping[str, Any]) -> set[str]:
    """What a cluster's spec says of its name servers, to tell whether two clusters of a namespace share one:
    ``ns:<name>`` for a NameService it names, ``ns:*`` for the namespace's only one (``nameServers: ""`` on a
    Broker), ``host:<host:port>`` for each literal address."""
    spec = obj.get("spec") or {}
    ref = ((spec.get("nameServiceRef") or {}).get("name") if isinstance(spec.get("nameServiceRef"), Mapping)
           else None)
    if ref:
        return {f"ns:{ref}"}
    hosts = [h.strip() for h in str(spec.get("nameServers") or "").split(";") if h.strip()]
    return {f"host:{h}" for h in hosts} if hosts else {"ns:*"}


def share_name_servers(a: set[str], b: set[str]) -> bool:
    """Whether two token sets (:func:`name_server_tokens`) may name one name server."""
    if a & b:
        return True
    return (("ns:*" in a and any(t.startswith("ns:") for t in b))
            or ("ns:*" in b and any(t.startswith("ns:") for t in a)))
