"""What a TopicTransfer needs to know before it acts: where its clusters are, and their state in RocketMQ.

``sourceCluster`` and ``targetCluster`` are what the Apache operator meant by them — RocketMQ cluster names
(``brokerClusterName``) — or, as users of this operator write them, names of a Broker or BrokerCluster in
the transfer's namespace. A resource name wins: its ``status.nameServers`` are asked which cluster its
brokers registered in. A plain cluster name is looked up on the name servers of the namespace's Brokers,
BrokerClusters and NameServices. Cluster DNS names of pods are dialled as pod IPs (the operator may run
outside the cluster).

Which masters a transfer must fence and drain: for a Broker or BrokerCluster, every broker name the resource
should have (:func:`expected_brokers`: the names its ``status.brokers`` lists, and — once its status records
the broker-name prefix — the names its spec gives its groups and those of its pods), whether registered now
or not; one that is not registered is ``Side.missing`` and the planner waits for it. For a bare RocketMQ
cluster name no resource says what should be there, so the masters its name servers list now are all there
is (a master that is down then is not known to be missing).

``read_facts`` reads everything the planner decides on in one pass and stops at the first transport
failure, so a dead name server costs one timeout per sync, never a stuck worker. Reads that only matter in
some phases (consumer lag while draining, retry topics while deleting, the target's messages while rolling
back) are made only then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rocketmq_operator.controllers.plans import transferplan as tp
from rocketmq_operator.controllers.runtime.addresses import dialable_list, name_server_list
from rocketmq_operator.informers import Lister
from rocketmq_operator.kube import NotFound
from rocketmq_operator.resources import identity, meta
from rocketmq_operator.rocketmq import AdminClient, ClusterInfo, TopicNotFound

SYSTEM_GROUP_PREFIXES = ("CID_RMQ_SYS_", "CID_ONSAPI_", "CID_SYS_RMQ_", "TOOLS_CONSUMER",
                         "FILTERSRV_CONSUMER", "SELF_TEST_", "CID_ONS-HTTP-PROXY", "__MONITOR_CONSUMER")
AdminFor = Callable[[tuple[str, ...]], AdminClient]


class ClusterProblem(Exception):
    """A cluster cannot be used yet (not found, no brokers registered): a condition, not an error."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Candidate:
    """Name servers that may know a cluster, and what is known of it without asking."""

    name_servers: tuple[str, ...]
    owner: str = ""  # "Broker broker-0" when the spec named a resource
    broker_names: frozenset[str] = frozenset()  # as its status lists them: to find its cluster
    expected: frozenset[str] = frozenset()  # every broker name it should have a master for


@dataclass(frozen=True)
class Endpoint:
    """A resolved cluster: its RocketMQ name, the name servers to dial, its masters."""

    cluster: str
    name_servers: tuple[str, ...]
    masters: Mapping[str, str] = field(default_factory=dict)  # broker name → master address
    expected: frozenset[str] = frozenset()  # broker names that should have a master (empty: not known)

    def to_status(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "nameServers": ";".join(self.name_servers)}


@dataclass(frozen=True)
class ClusterListers:
    brokers: Lister
    broker_clusters: Lister
    name_services: Lister
    pods: Lister


# -- resolving a cluster -----------------------------------------------------------------------------------

def candidates(name: str, namespace: str, listers: ClusterListers) -> list[Candidate]:
    """Where to look for ``name``: the Broker or BrokerCluster of that name, else every name-server list
    of the namespace; raises ``ClusterProblem`` when there is nowhere to look."""
    for kind, lister in (("Broker", listers.brokers), ("BrokerCluster", listers.broker_clusters)):
        try:
            obj = lister.get(namespace, name)
        except NotFound:
            continue
        return [_resource_candidate(kind, obj, listers.pods)]
    found = {c.name_servers: c for c in _namespace_candidates(namespace, listers) if c.name_servers}
    if not found:
        raise ClusterProblem("ClusterNotFound",
                             f"cluster {name} not found: no Broker or BrokerCluster of that name and no "
                             f"name servers in namespace {namespace} to ask")
    return list(found.values())


def _resource_candidate(kind: str, obj: Mapping[str, Any], pods: Lister) -> Candidate:
    owner = f"{kind} {obj['metadata']['name']}"
    status = obj.get("status") or {}
    addrs = dialable_list(_addresses(status.get("nameServers")), pods)
    if not addrs:
        raise ClusterProblem("ClusterNotReady", f"{owner} has no name servers in its status yet")
    names = frozenset(b["brokerName"] for b in status.get("brokers") or () if b.get("brokerName"))
    return Candidate(addrs, owner, names, names | expected_brokers(kind, obj, pods))


def expected_brokers(kind: str, obj: Mapping[str, Any], pods: Lister) -> frozenset[str]:
    """The broker names a Broker or BrokerCluster should have: those its status lists and, when its status
    records the broker-name prefix, those its spec gives its groups (``identity.claimed_brokers``) and those
    of the pods it has (a pod whose broker is down is still expected)."""
    status = obj.get("status") or {}
    prefix = status.get("brokerNamePrefix")
    if not prefix:
        return frozenset(b["brokerName"] for b in status.get("brokers") or () if b.get("brokerName"))
    name = obj["metadata"]["name"]
    layout = identity.Layout(name=name, cluster_name="", prefix=str(prefix), groups=1, members=1,
                             all_master=bool((obj.get("spec") or {}).get("allMaster", False)))
    selector = {meta.LABEL_APP: meta.BROKER_APP, meta.LABEL_CLUSTER: name}
    of_pods = {_pod_broker(layout, pod) for pod in pods.list(obj["metadata"].get("namespace"), selector)}
    return frozenset(identity.claimed_brokers(kind, obj) | (of_pods - {""}))


def _pod_broker(layout: identity.Layout, pod: Mapping[str, Any]) -> str:
    """The broker name of a pod ``<name>-<group>-<member>`` (empty when its name or labels say otherwise)."""
    group = (pod["metadata"].get("labels") or {}).get(meta.LABEL_GROUP, "")
    ordinal = pod["metadata"]["name"].rsplit("-", 1)[-1]
    if not (group.isdigit() and ordinal.isdigit()):
        return ""
    return identity.member(layout, int(group), int(ordinal)).broker_name


def _namespace_candidates(namespace: str, listers: ClusterListers) -> Iterable[Candidate]:
    for lister in (listers.brokers, listers.broker_clusters, listers.name_services):
        for obj in sorted(lister.list(namespace), key=lambda o: o["metadata"]["name"]):
            yield Candidate(dialable_list(_addresses((obj.get("status") or {}).get("nameServers")),
                                          listers.pods))


def _addresses(value: Any) -> list[str]:
    """``status.nameServers``: ``"a;b"`` on brokers, a list on NameServices."""
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return name_server_list(str(value or ""))


def resolve(name: str, found: list[Candidate], admin_for: AdminFor) -> Endpoint:
    """The cluster ``name`` stands for, asked of the candidates' name servers in order."""
    for candidate in found:
        info = admin_for(candidate.name_servers).cluster_info()
        cluster = _cluster_of(candidate, name, info)
        if cluster:
            masters = {b.name: b.master_addr for b in info.brokers_in(cluster) if b.master_addr}
            return Endpoint(cluster, candidate.name_servers, masters, candidate.expected)
    if found and found[0].owner:
        raise ClusterProblem("ClusterNotReady", f"the brokers of {found[0].owner} are not registered on "
                                                f"its name servers {';'.join(found[0].name_servers)} yet")
    asked = ", ".join(";".join(c.name_servers) for c in found)
    raise ClusterProblem("ClusterNotFound", f"cluster {name} not found: no Broker or BrokerCluster of that "
                                            f"name and no RocketMQ cluster of that name on name servers "
                                            f"{asked}")


def _cluster_of(candidate: Candidate, name: str, info: ClusterInfo) -> str | None:
    if not candidate.owner:
        return name if name in info.clusters else None
    return next((info.brokers[b].cluster for b in sorted(candidate.broker_names) if b in info.brokers), None)


# -- reading the facts -------------------------------------------------------------------------------------

def read_facts(*, spec: tp.Spec, progress: tp.Progress, source: Endpoint, target: Endpoint,
               admin_for: AdminFor, now: float) -> tp.Facts:
    src_admin, tgt_admin = admin_for(source.name_servers), admin_for(target.name_servers)
    src = _side(src_admin, source, spec.topic, groups=False)
    tgt = _side(tgt_admin, target, spec.topic, groups=True)
    consumers = _consumers(src_admin, source, spec.topic) if src.any_topic else frozenset()
    lag = None
    if progress.phase == tp.DRAINING:
        lag = {g: _lag(src_admin, source, g, spec.topic) for g in sorted({*progress.groups, *consumers})}
    if progress.phase == tp.DELETING:
        tgt = _with_retry_topics(tgt_admin, tgt, target, progress.groups)
    if progress.phase == tp.FAILED and tgt.any_topic:
        tgt = _with_messages(tgt_admin, tgt, target, spec.topic)
    return tp.Facts(read_at=now, source=src, target=tgt, consumers=consumers, lag=lag)


def _side(admin: AdminClient, endpoint: Endpoint, topic: str, *, groups: bool) -> tp.Side:
    masters = tuple(sorted(endpoint.masters))
    present = frozenset.intersection(*(frozenset(admin.subscription_groups(endpoint.masters[b]))
                                       for b in masters)) \
        if groups and masters else frozenset()
    return tp.Side(cluster=endpoint.cluster, masters=masters, topic=_queues(admin, endpoint, topic),
                   groups=present, missing=tuple(sorted(endpoint.expected - set(endpoint.masters))))


def _queues(admin: AdminClient, endpoint: Endpoint, topic: str) -> dict[str, tp.Queues]:
    """The topic's queues on the endpoint's brokers, as its name servers route them."""
    try:
        route = admin.topic_route(topic)
    except TopicNotFound:
        return {}
    return {q.broker_name: tp.Queues(q.read_queue_nums, q.write_queue_nums, q.perm)
            for q in route.queues if q.broker_name in endpoint.masters}


def _consumers(admin: AdminClient, endpoint: Endpoint, topic: str) -> frozenset[str]:
    groups: set[str] = set()
    for addr in endpoint.masters.values():
        groups |= admin.topic_consumers(addr, topic)
    return frozenset(g for g in groups if not g.startswith(SYSTEM_GROUP_PREFIXES))


def _lag(admin: AdminClient, endpoint: Endpoint, group: str, topic: str) -> int:
    total = 0
    for broker, addr in endpoint.masters.items():
        stats = admin.broker_consume_stats(addr, group, topic=topic)
        total += sum(o.lag for mq, o in stats.offsets.items()
                     if mq.topic == topic and mq.broker_name == broker)
    return total


def _with_retry_topics(admin: AdminClient, side: tp.Side, endpoint: Endpoint,
                       groups: Iterable[str]) -> tp.Side:
    present = frozenset(tp.RETRY_PREFIX + g for g in groups
                        if set(side.masters) <= set(_queues(admin, endpoint, tp.RETRY_PREFIX + g)))
    return replace(side, retry_topics=present)


def _with_messages(admin: AdminClient, side: tp.Side, endpoint: Endpoint, topic: str) -> tp.Side:
    held = sum(high for b in side.masters if b in side.topic
               for _, high in admin.topic_stats(endpoint.masters[b], topic).values())
    return replace(side, messages=held)


def group_configs(admin: AdminClient, endpoint: Endpoint, groups: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The source's config of each group (``{"groupName": g}`` where the source has none), to copy."""
    wanted = set(groups)
    configs: dict[str, dict[str, Any]] = {}
    for addr in endpoint.masters.values():
        table = admin.subscription_groups(addr)
        configs.update({g: dict(table[g]) for g in wanted - set(configs) if g in table})
    return {g: configs.get(g, {"groupName": g}) for g in sorted(wanted)}
