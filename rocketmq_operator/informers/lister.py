"""One generic, read-only view of an informer's store.

A lister is what controllers read current state from. ``get`` raises the client's own ``NotFound`` so
code that handles a missing object does not care whether it asked the cache or the server. Returned
objects are the cached dicts themselves: read-only, copy before changing.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..kube.errors import NotFound
from ..kube.resources import Resource
from .store import NAMESPACE_INDEX, Obj, Store, key_of


class Lister:
    def __init__(self, store: Store, resource: Resource) -> None:
        self._store = store
        self.resource = resource

    def get(self, namespace: str | None, name: str) -> Obj:
        """The cached object, or ``NotFound`` (namespace is ignored for cluster-scoped kinds)."""
        namespace = namespace if self.resource.namespaced else None
        obj = self._store.get(key_of(namespace, name))
        if obj is None:
            raise NotFound(f'{self.resource.plural} "{name}" not found', reason="NotFound",
                           body={"kind": "Status", "code": 404, "reason": "NotFound",
                                 "details": {"name": name, "kind": self.resource.plural}})
        return obj

    def list(self, namespace: str | None = None, selector: Mapping[str, str] | None = None) -> list[Obj]:
        """Objects in ``namespace`` (all when None) whose labels include every ``selector`` pair."""
        if namespace is not None and self.resource.namespaced:
            objects = self._store.by_index(NAMESPACE_INDEX, namespace)
        else:
            objects = self._store.list()
        if not selector:
            return objects
        return [obj for obj in objects if matches_labels(obj, selector)]

    def by_index(self, index_name: str, value: str) -> list[Obj]:
        return self._store.by_index(index_name, value)


def matches_labels(obj: Obj, selector: Mapping[str, str]) -> bool:
    labels = obj["metadata"].get("labels") or {}
    return all(labels.get(key) == value for key, value in selector.items())
