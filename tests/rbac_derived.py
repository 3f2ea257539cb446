"""What the operator calls on the API, derived from its code: the verbs from the client methods each control
object, status writer, finalizer writer, event recorder and leader elector calls (read from their source), the
resources from the controllers as the registry wires them. The RBAC unit test compares it with manifests/rbac,
the e2e test asks the API server whether the installed rules allow exactly it."""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path
from typing import Any

import yaml

from rocketmq_operator.controllers.registry import build_controllers
from rocketmq_operator.controllers.runtime.control import ObjectControl, StatusWriter
from rocketmq_operator.controllers.runtime.finalizers import FinalizerWriter
from rocketmq_operator.events import EventRecorder
from rocketmq_operator.informers import SharedInformerFactory
from rocketmq_operator.kube import EVENTS, Resource

RBAC = Path(__file__).resolve().parents[1] / "manifests" / "rbac"
CLIENT_VERBS = {"get": "get", "list": "list", "list_pages": "list", "watch": "watch", "create": "create",
                "replace": "update", "update_status": "update", "patch": "patch", "delete": "delete"}
Grant = tuple[str, str, str]  # (apiGroup, resource[/subresource], verb)


def client_verbs(cls: type) -> set[str]:
    """The API verbs behind every ``self._client.<method>(...)`` call in ``cls``'s source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    methods = {node.func.attr for node in ast.walk(tree)
               if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
               and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "_client"}
    return {CLIENT_VERBS[m] for m in methods}


def grants(resource: Resource, verbs: set[str], subresource: str = "") -> set[Grant]:
    name = f"{resource.plural}/{subresource}" if subresource else resource.plural
    return {(resource.group, name, verb) for verb in verbs}


def wired_parts(controllers: list[Any]) -> list[Any]:
    """Every control object, status writer and finalizer writer the reconcilers hold."""
    parts = []
    for controller in controllers:
        for value in vars(controller.reconciler).values():
            parts += [v for v in (value.values() if isinstance(value, dict) else [value])
                      if isinstance(v, ObjectControl | StatusWriter | FinalizerWriter)]
    return parts


def required() -> set[Grant]:
    factory = SharedInformerFactory(source=None)
    controllers = build_controllers(client=None, factory=factory, recorder=None, workers=1)
    needed = set().union(*(grants(r, {"list", "watch"}) for r in factory.resources()))
    parts = wired_parts(controllers)
    for part in parts:
        if isinstance(part, ObjectControl):
            needed |= grants(part.resource, client_verbs(ObjectControl))
        elif isinstance(part, FinalizerWriter):  # metadata.finalizers of the custom resource itself
            needed |= grants(part.resource, client_verbs(FinalizerWriter))
        else:
            needed |= grants(part.resource, client_verbs(StatusWriter), "status")
    owners = {c.reconciler._status.resource for c in controllers
              if any(isinstance(v, dict) and v for v in vars(c.reconciler).values())}
    for owner in owners:  # children carry blockOwnerDeletion, which needs update on the owner's finalizers
        needed |= grants(owner, {"update"}, "finalizers")
    return needed | grants(EVENTS, client_verbs(EventRecorder))


def granted(path: Path) -> set[Grant]:
    rules = yaml.safe_load(path.read_text())["rules"]
    return {(group, resource, verb) for rule in rules for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}
