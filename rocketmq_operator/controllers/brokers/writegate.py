"""Which name servers the broker reconciler may write to RocketMQ through.

A name server keys its routes by broker name, so a write permission wiped or restored there (a roll's fence,
a drain's wipe) acts on every broker of that name that registers with it, whosever it is. A broker cluster's
``nameServers`` is free text: it may name another namespace's NameService or a host outside the cluster. The
operator therefore writes through a cluster's name servers only when each of them is *own*:

- a pod of a NameService of the cluster's namespace, by its stable DNS name
  (``<ns>-<i>.<ns>.<namespace>.svc.<cluster domain>:9876``, see resources.naming.name_server_hosts), or
- the pod IP of such a pod (``<ip>:9876``), as the cache has it;

or when both the resource (``spec.allowExternalNameServers: true``) and the operator
(``--allow-external-name-servers``) allow the others. Anything else is refused; reads go on.

:func:`foreign_name_servers` is the one predicate; :class:`WriteGate` is its verdict for one sync. Pure:
addresses and listers in, a value out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rocketmq_operator.controllers.runtime.addresses import split_host_port
from rocketmq_operator.informers import Lister
from rocketmq_operator.resources import meta, naming

ALLOW_FIELD = "allowExternalNameServers"
ALLOW_FLAG = "--allow-external-name-servers"
NAME_SERVERS_FOREIGN = "NameServersForeign"  # condition: writes through the name servers are refused
REFUSED_REASON = "WritesRefused"


@dataclass(frozen=True)
class WriteGate:
    """May this sync write through the cluster's name servers? ``foreign``: those that are not own."""

    foreign: tuple[str, ...] = ()
    spec_allows: bool = False
    operator_allows: bool = False

    @property
    def open(self) -> bool:
        return not self.foreign or (self.spec_allows and self.operator_allows)

    @property
    def refusal(self) -> str | None:
        """Why writes are refused and how to allow them; None when they are not."""
        if self.open:
            return None
        missing = [m for allowed, m in ((self.spec_allows, f"spec.{ALLOW_FIELD} is not true"),
                                        (self.operator_allows,
                                         f"the operator does not run with {ALLOW_FLAG}"))
                   if not allowed]
        return (f"name servers {', '.join(self.foreign)} are not a NameService of this namespace, and "
                f"{' and '.join(missing)}: the operator writes to RocketMQ (write-permission fences, drains) "
                f"only through its own namespace's name servers; set spec.{ALLOW_FIELD}: true and run the "
                f"operator with {ALLOW_FLAG} to allow these")


def write_gate(addrs: Iterable[str], *, namespace: str, name_services: Lister, pods: Lister,
               spec_allows: bool, operator_allows: bool,
               cluster_domain: str = naming.DEFAULT_CLUSTER_DOMAIN) -> WriteGate:
    foreign = foreign_name_servers(addrs, namespace=namespace, name_services=name_services, pods=pods,
                                   cluster_domain=cluster_domain)
    return WriteGate(foreign=foreign, spec_allows=spec_allows, operator_allows=operator_allows)


def foreign_name_servers(addrs: Iterable[str], *, namespace: str, name_services: Lister, pods: Lister,
                         cluster_domain: str = naming.DEFAULT_CLUSTER_DOMAIN) -> tuple[str, ...]:
    """The addresses of ``addrs`` that are neither the DNS name nor the pod IP of a pod of a NameService of
    ``namespace``, in their order."""
    services = name_services.list(namespace)
    own_names = {host for ns in services for host in _hosts(ns, namespace, cluster_domain)}
    own_ips: set[str] | None = None  # read from the pods only when an address is an IP
    out = []
    for addr in (a.strip() for a in addrs if a.strip()):
        if _normal(addr) in own_names:
            continue
        host, port = split_host_port(addr)
        if port == str(naming.NAME_SERVER_PORT) and _is_ip(host):
            own_ips = own_ips if own_ips is not None else _pod_ips(pods, namespace, services)
            if host in own_ips:
                continue
        out.append(addr)
    return tuple(out)


def _hosts(name_service: dict[str, Any], namespace: str, cluster_domain: str) -> list[str]:
    size = int((name_service.get("spec") or {}).get("size", 1))
    return naming.name_server_hosts(name_service["metadata"]["name"], namespace, size,
                                    cluster_domain=cluster_domain)


def _pod_ips(pods: Lister, namespace: str, services: list[dict[str, Any]]) -> set[str]:
    """The IPs of the pods of the namespace's NameServices that are not being deleted."""
    names = {ns["metadata"]["name"] for ns in services}
    out = set()
    for pod in pods.list(namespace, {meta.LABEL_APP: meta.NAME_SERVER_APP}):
        labels = pod["metadata"].get("labels") or {}
        ip = (pod.get("status") or {}).get("podIP")
        if ip and labels.get(meta.LABEL_INSTANCE) in names and not pod["metadata"].get("deletionTimestamp"):
            out.add(ip)
    return out


def _normal(addr: str) -> str:
    host, port = split_host_port(addr)
    return f"{host.rstrip('.').lower()}:{port}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
