"""References every kind resolves the same way: the NameService a resource follows and the Controller a
CONTROLLER-mode cluster uses, read from the listers.

The NameService a resource uses is named by one key for every kind (see :func:`name_service_key`): a
NameService name, :data:`IMPLICIT_NAME_SERVICE` for "the namespace's only NameService", or None. The
same key indexes resources by the NameService they follow, so a NameService change requeues exactly
its users — Broker, BrokerCluster, Console and Proxy alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rocketmq_operator.informers import Lister
from rocketmq_operator.kube import NotFound
from rocketmq_operator.resources import naming

IMPLICIT_NAME_SERVICE = "*"  # nameServers: "" on a Broker or Console: the namespace's only NameService


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
    """The NameService ``key`` names in ``obj``'s namespace, or ``(reason, message)`` saying why there is
    none."""
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
