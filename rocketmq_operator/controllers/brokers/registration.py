"""RocketMQ's view of a broker cluster, turned into status: who is registered, roles, lag, name servers.

Pure functions over the model, the cached pods and the observer's :class:`ClusterFacts`. The reconciler
builds the observation target from the model and pods (:func:`observe_target`) and, at the end of a sync,
asks :func:`registration` what the ``BrokersRegistered`` condition says and merges each member's facts into
its ``status.brokers`` entry (:func:`broker_fields`).

A member is *registered* when some name server that answered lists it: clients can find it, and
``Ready`` counts it. ``BrokersRegistered`` is True only once every name server that answered lists every
member. Between the two — while a broker starts, or after name servers were added — the condition reads
``Propagating``: a broker re-reads its pushed ``namesrvAddr`` every ``updateNameServerAddrPeriod`` (10 s
as the operator writes broker.conf) and registers on each name server at its next heartbeat (30 s).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rocketmq_operator.controllers.observe.observer import BrokerFacts, ClusterFacts, Member, ObserveTarget
from rocketmq_operator.controllers.runtime.addresses import dialable_list, name_server_list
from rocketmq_operator.informers import Lister
from rocketmq_operator.resources import identity, meta, naming
from rocketmq_operator.resources.model import BrokerClusterModel

BROKERS_REGISTERED = "BrokersRegistered"
NAME_SERVERS_SYNCED = "NameServersSynced"


@dataclass(frozen=True)
class Registration:
    status: str  # True | False | Unknown
    reason: str
    message: str
    registered: int  # members listed on at least one name server
    unreachable: bool = False
    serving: bool = False  # every member is registered somewhere (Ready may be True)


def observe_target(model: BrokerClusterModel, pods: list[dict[str, Any]], *,
                   pod_lister: Lister) -> ObserveTarget:
    members = []
    for pod in pods:
        me = identity.member(model.layout, *member_of(pod))
        ip = (pod.get("status") or {}).get("podIP") or ""
        members.append(Member(pod=pod["metadata"]["name"], addr=f"{ip}:{naming.BROKER_PORT}" if ip else "",
                              broker_name=me.broker_name, broker_id=max(me.broker_id, 0)))
    controllers = (dialable_list(name_server_list(model.controller_address), pod_lister)
                   if model.controller_mode else ())
    return ObserveTarget(cluster_name=model.cluster_name,
                         name_servers=dialable_list(name_server_list(model.name_server_address), pod_lister),
                         namesrv_addr=model.name_server_address,
                         members=tuple(sorted(members, key=lambda m: m.pod)),
                         controllers=controllers,
                         broker_names=identity.cluster_brokers(model.layout) if controllers else ())


def member_of(pod: dict[str, Any]) -> tuple[int, int]:
    labels = pod["metadata"].get("labels") or {}
    return int(labels.get(meta.LABEL_GROUP, 0)), int(pod["metadata"]["name"].rsplit("-", 1)[1])


def facts_by_pod(facts: ClusterFacts | None) -> dict[str, BrokerFacts]:
    return {b.pod: b for b in facts.brokers} if facts else {}


def is_registered(broker: BrokerFacts | None, facts: ClusterFacts) -> bool:
    """Listed on every name server that answered (what a roll waits for)."""
    return broker is not None and broker.registered_on > 0 and broker.registered_on >= facts.name_servers_up


def is_listed(broker: BrokerFacts | None) -> bool:
    """Listed on at least one name server: clients can find it."""
    return broker is not None and broker.registered_on > 0


def waits_for_name_servers(facts: ClusterFacts | None, starting: tuple[str, ...]) -> bool:
    """No name server answered, and each configured one is a pod still coming up."""
    return (facts is not None and facts.unreachable and bool(starting)
            and len(starting) >= len(facts.target.name_servers))


def registration(facts: ClusterFacts | None, pods: list[dict[str, Any]], *,
                 starting: tuple[str, ...] = ()) -> Registration:
    """The BrokersRegistered condition for ``pods`` given what the observer last read (None: not yet).
    ``starting``: the configured name servers whose pods do not exist or are not Ready yet; when none answered
    and each is one of those, the cluster waits for them rather than reporting them unreachable."""
    if facts is None:
        return Registration("Unknown", "Observing", "waiting for the first look at the name servers", 0)
    if waits_for_name_servers(facts, starting):
        return Registration("Unknown", "WaitingForNameServers",
                            f"waiting for the name server pods to be ready: {', '.join(starting)}", 0)
    if facts.unreachable:
        errors = "; ".join(facts.name_server_errors) or "no name servers are configured"
        return Registration("False", "NameServersUnreachable", f"cannot reach any name server: {errors}", 0,
                            unreachable=True)
    by_pod = facts_by_pod(facts)
    names = [p["metadata"]["name"] for p in pods]
    missing = [n for n in names if not is_listed(by_pod.get(n))]
    registered = len(names) - len(missing)
    counted = f"{registered}/{len(names)} brokers registered on {facts.name_servers_up} name server(s)"
    if missing:
        return Registration("False", "NotRegistered", f"{counted}; waiting for {', '.join(missing)}",
                            registered)
    partial = [f"{n} on {by_pod[n].registered_on}" for n in names if not is_registered(by_pod[n], facts)]
    if partial:
        return Registration("False", "Propagating",
                            f"{counted} but not yet on each: {', '.join(partial)} (a broker registers on "
                            "each of its name servers at its next heartbeat, every 30 s)", registered,
                            serving=True)
    return Registration("True", "AllRegistered", counted, registered, serving=True)


def broker_fields(entry: Mapping[str, Any], broker: BrokerFacts | None, facts: ClusterFacts | None, *,
                  dledger: bool) -> dict[str, Any]:
    """``entry`` (the pod's status.brokers item) with what RocketMQ says of it."""
    if broker is None or facts is None:
        return dict(entry)
    out = {**entry, "address": broker.addr, "registeredOn": broker.registered_on,
           "nameServersSynced": broker.namesrv_synced}
    if broker.role:
        out["role"] = ("LEADER" if broker.role == "MASTER" else "FOLLOWER") if dledger else broker.role
        out["brokerId"] = broker.broker_id
    if broker.version:
        out["version"] = broker.version
    if broker.lag_bytes is not None:
        out["lagBytes"] = broker.lag_bytes
    return out


def controller_view(model: BrokerClusterModel, facts: ClusterFacts | None,
                    pods: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """CONTROLLER mode: ``{pod: {"master", "brokerId", "inSync"}}`` as the controller's leader reports it
    (pods matched by address; empty when the controllers were not read)."""
    view: dict[str, dict[str, Any]] = {}
    groups = facts.controller.groups if facts is not None and facts.controller is not None else {}
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        group = groups.get(identity.member(model.layout, *member_of(pod)).broker_name)
        replica = (next((r for r in group.replicas if r.addr == f"{ip}:{naming.BROKER_PORT}"), None)
                   if group else None)
        if group is not None and ip:
            view[pod["metadata"]["name"]] = {
                "master": replica is not None and replica.broker_id == group.master_id,
                "brokerId": replica.broker_id if replica else None,
                "inSync": bool(replica and replica.in_sync and replica.alive)}
    return view


def controller_masters(model: BrokerClusterModel, facts: ClusterFacts | None,
                       pods: list[dict[str, Any]]) -> dict[str, str]:
    """CONTROLLER mode: ``{brokerName: master pod}`` of each group the controller has elected a master for."""
    view = controller_view(model, facts, pods)
    return {identity.member(model.layout, *member_of(p)).broker_name: p["metadata"]["name"] for p in pods
            if view.get(p["metadata"]["name"], {}).get("master")}


def unsynced(facts: ClusterFacts | None) -> list[str]:
    """Registered brokers whose namesrvAddr could not be brought to the cluster's name servers."""
    if facts is None:
        return []
    return [b.pod for b in facts.brokers if b.registered_on and not b.namesrv_synced]
