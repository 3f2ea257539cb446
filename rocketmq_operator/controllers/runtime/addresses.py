"""Turning the addresses RocketMQ is configured with into addresses the operator can dial.

Brokers and clients are configured with stable DNS names (``<pod>.<service>.<namespace>.svc.<domain>``)
that only resolve inside the cluster. The operator may run outside it (against a kubeconfig), so before it
dials a name server it looks the pod up in its own cache and uses the pod IP. Anything that is not such a
name (an IP, an external host) is dialled as written. Pure: a lister in, strings out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rocketmq_operator.controllers.runtime.common import pod_ready
from rocketmq_operator.informers import Lister
from rocketmq_operator.kube import NotFound


def split_host_port(addr: str) -> tuple[str, str]:
    host, _, port = addr.strip().rpartition(":")
    return (host, port) if host else (port, "")


def pod_of_dns_name(host: str) -> tuple[str, str] | None:
    """``(namespace, pod)`` of ``<pod>.<service>.<namespace>.svc[.<domain>]``, else None."""
    parts = host.rstrip(".").split(".")
    if len(parts) >= 4 and parts[3] == "svc":
        return parts[2], parts[0]
    return None


def dialable(addr: str, pods: Lister) -> str:
    """``addr`` with a cluster pod name replaced by that pod's IP when the cache knows it."""
    host, port = split_host_port(addr)
    found = pod_of_dns_name(host)
    if found is None:
        return addr.strip()
    ip = _pod_ip(pods, *found)
    return f"{ip}:{port}" if ip and port else addr.strip()


def dialable_list(addrs: Iterable[str], pods: Lister) -> tuple[str, ...]:
    return tuple(dialable(a, pods) for a in addrs if a.strip())


def coming_up(addrs: Iterable[str], pods: Lister) -> tuple[str, ...]:
    """The addresses of ``addrs`` that name a cluster pod which does not exist yet or is not Ready: a name
    server still coming up (created with the broker cluster, or restarting), not one that is down."""
    out = []
    for addr in addrs:
        found = pod_of_dns_name(split_host_port(addr)[0])
        if found is None:
            continue
        try:
            pod: dict[str, Any] = pods.get(*found)
        except NotFound:
            out.append(addr.strip())
            continue
        if not pod_ready(pod):
            out.append(addr.strip())
    return tuple(out)


def name_server_list(address: str) -> list[str]:
    """``host:port;host:port`` as a list."""
    return [a.strip() for a in address.split(";") if a.strip()]


def _pod_ip(pods: Lister, namespace: str, name: str) -> str | None:
    try:
        pod: dict[str, Any] = pods.get(namespace, name)
    except NotFound:
        return None
    return (pod.get("status") or {}).get("podIP") or None
