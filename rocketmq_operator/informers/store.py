"""A thread-safe object cache keyed by ``namespace/name``, with secondary indexes.

The store holds the informer's view of one resource. Writers are the informer's reflector threads;
readers are listers on any thread. Objects are shared, not copied: they are read-only by contract
(copy before changing). Index functions map an object to the index values it is filed under; the
``namespace`` and ``controller-uid`` indexes are there by default and custom ones can be added.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], Iterable[str]]

NAMESPACE_INDEX = "namespace"
CONTROLLER_UID_INDEX = "controller-uid"


def object_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name`` for namespaced objects, ``name`` for cluster-scoped ones."""
    meta = obj["metadata"]
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else meta["name"]


def key_of(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def namespace_index(obj: Obj) -> Iterable[str]:
    namespace = obj["metadata"].get("namespace")
    return (namespace,) if namespace else ()


def controller_uid_index(obj: Obj) -> Iterable[str]:
    """The UID of the object's controlling owner, if it has one."""
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            return (ref["uid"],)
    return ()


DEFAULT_INDEXERS: Mapping[str, IndexFunc] = {
    NAMESPACE_INDEX: namespace_index,
    CONTROLLER_UID_INDEX: controller_uid_index,
}


class Store:
    """``key → object`` plus ``index name → value → keys``; every method takes the store's lock."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._lock = threading.RLock()
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = dict(DEFAULT_INDEXERS if indexers is None else indexers)
        self._indices: dict[str, dict[str, set[str]]] = {name: {} for name in self._indexers}

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Add indexes (already cached objects are indexed at once). Names must be new."""
        with self._lock:
            clash = set(indexers) & set(self._indexers)
            if clash:
                raise ValueError(f"indexers already registered: {sorted(clash)}")
            for name, func in indexers.items():
                self._indexers[name] = func
                self._indices[name] = {}
                for key, obj in self._items.items():
                    self._file(name, func, key, obj)

    def put(self, obj: Obj) -> Obj | None:
        """Insert or replace an object; return the one it replaced."""
        key = object_key(obj)
        with self._lock:
            old = self._items.get(key)
            if old is not None:
                self._unindex(key, old)
            self._items[key] = obj
            self._index(key, obj)
            return old

    def delete(self, key: str) -> Obj | None:
        """Remove an object by key; return it (None when it was not cached)."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._unindex(key, old)
            return old

    def get(self, key: str) -> Obj | None:
        with self._lock:
            return self._items.get(key)

    def list(self) -> list[Obj]:
        with self._lock:
            return list(self._items.values())

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def by_index(self, index_name: str, value: str) -> list[Obj]:
        with self._lock:
            index = self._indices[index_name]
            return [self._items[key] for key in index.get(value, ())]

    def keys_by_index(self, index_name: str, value: str) -> list[str]:
        with self._lock:
            return list(self._indices[index_name].get(value, ()))

    def index_names(self) -> list[str]:
        with self._lock:
            return list(self._indexers)

    def _index(self, key: str, obj: Obj) -> None:
        for name, func in self._indexers.items():
            self._file(name, func, key, obj)

    def _file(self, name: str, func: IndexFunc, key: str, obj: Obj) -> None:
        index = self._indices[name]
        for value in func(obj):
            index.setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
