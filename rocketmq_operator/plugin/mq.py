"""What the plugin asks RocketMQ: the brokers of one cluster and the topics they serve.

Every call goes through the project's admin client with the command's timeout (connect and request),
so a dead name server or broker costs at most one timeout per address. A broker that does not answer is
reported in its row, not as a failure of the whole command; name servers that do not answer are a
:class:`~rocketmq_operator.plugin.target.PluginError` naming them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rocketmq_operator.controllers.brokers.metadata import SYSTEM_PREFIX, SYSTEM_TOPICS
from rocketmq_operator.plugin.target import Endpoints, PluginError
from rocketmq_operator.rocketmq import AdminClient, RemotingError
from rocketmq_operator.rocketmq.types import PERM_READ, PERM_WRITE, ClusterInfo


@dataclass(frozen=True)
class BrokerRow:
    """One broker as the name servers list it, with what it says of itself."""

    cluster: str
    broker_name: str
    broker_id: int
    addr: str
    version: str = ""
    put_tps: str = ""
    error: str = ""  # the broker did not answer


@dataclass(frozen=True)
class TopicRow:
    """One topic, merged over the masters of the cluster that hold it."""

    topic: str
    brokers: tuple[str, ...]
    read_queues: int  # summed over the brokers
    write_queues: int
    perm: str  # RW, R-, -W or -- (of the first broker; "mixed" when they differ)


def connect(endpoints: Endpoints, *, timeout: float) -> AdminClient:
    return AdminClient(endpoints.name_servers, connect_timeout=min(timeout, 3.0), request_timeout=timeout)


def cluster_info(admin: AdminClient, endpoints: Endpoints) -> ClusterInfo:
    """The name servers' view; PluginError when none answers or the cluster is not registered."""
    try:
        info = admin.cluster_info()
    except RemotingError as e:
        raise PluginError(f"cannot reach the name servers {', '.join(endpoints.name_servers)} "
                          f"(configured: {endpoints.configured}): {e}") from e
    if endpoints.cluster_name not in info.clusters:
        others = ", ".join(sorted(info.clusters)) or "none"
        raise PluginError(f"cluster {endpoints.cluster_name!r} is not registered on the name servers "
                          f"{', '.join(endpoints.name_servers)} (registered clusters: {others})")
    return info


def broker_rows(admin: AdminClient, endpoints: Endpoints) -> list[BrokerRow]:
    """Every broker of the cluster (master and slaves of each group), with version and put TPS."""
    info = cluster_info(admin, endpoints)
    rows = []
    for broker in info.brokers_in(endpoints.cluster_name):
        for broker_id, addr in sorted(broker.addrs.items()):
            row = BrokerRow(endpoints.cluster_name, broker.name, broker_id, addr)
            try:
                runtime = admin.broker_runtime_info(addr)
            except RemotingError as e:
                rows.append(replace(row, error=str(e)))
                continue
            tps = (runtime.table.get("putTps") or "").split()
            rows.append(replace(row, version=runtime.version_desc, put_tps=tps[0] if tps else ""))
    return rows


def topic_rows(admin: AdminClient, endpoints: Endpoints, *,
               include_system: bool = False) -> tuple[list[TopicRow], list[str]]:
    """The topics the cluster's masters hold, and one message per master that did not answer."""
    info = cluster_info(admin, endpoints)
    masters = {b.name: b.master_addr for b in info.brokers_in(endpoints.cluster_name) if b.master_addr}
    own = {endpoints.cluster_name, *masters}  # each broker makes a topic named after its cluster and itself
    seen: dict[str, list[tuple[str, int, int, int]]] = {}
    errors = []
    for name, addr in sorted(masters.items()):
        try:
            configs = admin.topic_configs(addr)
        except RemotingError as e:
            errors.append(f"{name} ({addr}): {e}")
            continue
        for topic, config in configs.items():
            if include_system or not (system_topic(topic) or topic in own):
                seen.setdefault(topic, []).append((name, config.read_queue_nums, config.write_queue_nums,
                                                   config.perm))
    if masters and len(errors) == len(masters):
        raise PluginError("no master of the cluster answered: " + "; ".join(errors))
    return [_topic_row(topic, held) for topic, held in sorted(seen.items())], errors


def _topic_row(topic: str, held: list[tuple[str, int, int, int]]) -> TopicRow:
    perms = {_perm(p) for _, _, _, p in held}
    return TopicRow(topic, tuple(b for b, _, _, _ in held), sum(r for _, r, _, _ in held),
                    sum(w for _, _, w, _ in held), perms.pop() if len(perms) == 1 else "mixed")


def _perm(perm: int) -> str:
    return ("R" if perm & PERM_READ else "-") + ("W" if perm & PERM_WRITE else "-")


def system_topic(topic: str) -> bool:
    return topic in SYSTEM_TOPICS or topic.lower().startswith(SYSTEM_PREFIX)
