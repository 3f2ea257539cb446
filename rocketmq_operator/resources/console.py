"""Desired Kubernetes objects of a Console (the RocketMQ dashboard).

A Console carries a whole Deployment in ``spec.consoleDeployment``. The operator names it after the
Console, puts it in the Console's namespace, adds its labels and ownerReference, and tells the
dashboard where the name servers are by adding ``-Drocketmq.namesrv.addr=<address>`` to the
``JAVA_OPTS`` of the console container (the container named ``console``, else the first one). A
ClusterIP Service of the same name exposes the container's first port (8080 by default).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from rocketmq_operator.resources import meta
from rocketmq_operator.resources.meta import ParentRef

CONSOLE_API_VERSION = "rocketmq.apache.org/v1alpha1"
COMPONENT = "console"
DEFAULT_PORT = 8080
NAMESRV_OPTION = "-Drocketmq.namesrv.addr"
_NAMESRV_TOKEN = re.compile(r"(^|\s)-Drocketmq\.namesrv\.addr=\S*")


def console_parent(console: Mapping[str, Any]) -> ParentRef:
    """The parent reference of a Console custom resource."""
    return ParentRef.of(console, api_version=CONSOLE_API_VERSION, kind="Console")


def console_selector(console: Mapping[str, Any]) -> dict[str, str]:
    """The Deployment's selector: the user's ``matchLabels`` if given, else the operator's labels."""
    spec = (console.get("spec") or {}).get("consoleDeployment", {}).get("spec") or {}
    given = (spec.get("selector") or {}).get("matchLabels")
    if given:
        return dict(given)
    name = console_parent(console).name
    return {meta.LABEL_APP: meta.CONSOLE_APP, meta.LABEL_INSTANCE: name}


def with_name_server(java_opts: str, address: str) -> str:
    """``java_opts`` with its name-server option replaced by one pointing at ``address``."""
    rest = _NAMESRV_TOKEN.sub("", java_opts).strip()
    option = f"{NAMESRV_OPTION}={address}"
    return f"{rest} {option}" if rest else option


def _inject_address(container: dict[str, Any], address: str) -> None:
    env = container.setdefault("env", [])
    for var in env:
        if var.get("name") == "JAVA_OPTS" and "valueFrom" not in var:
            var["value"] = with_name_server(var.get("value", ""), address)
            return
    if not any(var.get("name") == "JAVA_OPTS" for var in env):
        env.append({"name": "JAVA_OPTS", "value": with_name_server("", address)})


def _console_container(containers: list[dict[str, Any]]) -> dict[str, Any] | None:
    named = [c for c in containers if c.get("name") == "console"]
    return (named or containers or [None])[0]


def console_deployment(console: Mapping[str, Any], *, name_server_address: str) -> dict[str, Any]:
    """The console Deployment; ``name_server_address`` is ``host:port;host:port`` (may be empty)."""
    parent = console_parent(console)
    given = copy.deepcopy((console.get("spec") or {}).get("consoleDeployment") or {})
    spec = given.get("spec") or {}
    selector = console_selector(console)
    labels = {**meta.standard_labels(parent.name, component=COMPONENT), **selector}
    spec["selector"] = {**(spec.get("selector") or {}), "matchLabels": selector}
    template = spec.setdefault("template", {})
    template_meta = template.setdefault("metadata", {})
    template_meta["labels"] = {**(template_meta.get("labels") or {}), **labels}
    spec.setdefault("replicas", 1)
    container = _console_container((template.get("spec") or {}).get("containers") or [])
    if container is not None and name_server_address:
        _inject_address(container, name_server_address)
    user_labels = (given.get("metadata") or {}).get("labels") or {}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta.object_meta(parent.name, parent, labels=labels, extra_labels=user_labels),
        "spec": spec,
    }


def _first_port(deployment: Mapping[str, Any]) -> int:
    containers = deployment["spec"].get("template", {}).get("spec", {}).get("containers") or []
    container = _console_container(list(containers)) or {}
    ports = container.get("ports") or []
    return int(ports[0]["containerPort"]) if ports else DEFAULT_PORT


def console_service(console: Mapping[str, Any], *, deployment: Mapping[str, Any]) -> dict[str, Any]:
    """A ClusterIP Service in front of the console Deployment."""
    parent = console_parent(console)
    port = _first_port(deployment)
    labels = dict(deployment["metadata"]["labels"])
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.object_meta(parent.name, parent, labels=labels),
        "spec": {
            "type": "ClusterIP",
            "selector": console_selector(console),
            "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }


def console_objects(console: Mapping[str, Any], *, name_server_address: str) -> list[dict[str, Any]]:
    """Deployment and Service of a Console, in create order."""
    deployment = console_deployment(console, name_server_address=name_server_address)
    return [deployment, console_service(console, deployment=deployment)]
