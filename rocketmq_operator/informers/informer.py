"""The shared informer: one cache of one resource, kept current by reflectors, fanned out to handlers.

Contract
--------
* **Eventually consistent.** The cache lags the API server by the watch latency. After a disconnect
  it catches up by rewatching from the last resourceVersion, or by relisting when that is too old; it
  then converges to the server's state. Never treat the cache as a read-your-writes store.
* **Per-object ordering.** Every store change and its notification happen under one lock, and each
  handler receives notifications in that order on its own thread; for any one object a handler sees
  add → update* → delete in the order the cache changed. No order holds *between* objects or
  handlers.
* **Notifications.** ``on_add(obj, is_initial_list=...)`` — True for objects of the first list (low
  priority work). ``on_update(old, new)`` — a watch change, a relist that found a newer
  resourceVersion, or a resync, where ``old is new``. ``on_delete(x)`` — ``x`` is the object's final
  state from a DELETED event, or a :class:`DeletedFinalStateUnknown` (key + last cached state, possibly
  stale) when a relist found the object gone.
* **Resync** replays the cache as ``on_update(obj, obj)`` every ``resync_period``; it is not a relist.
* **Scope.** All namespaces, or a list of them: one reflector per namespace feeding one store.
* Objects handed out are the cached dicts: read-only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence

from ..clock import REAL_CLOCK, Clock
from ..kube.resources import Resource
from .handlers import DeletedFinalStateUnknown, Dispatcher, EventHandler, HandlerRegistration, Listener
from .lister import Lister
from .reflector import ListWatchSource, Reflector
from .store import NAMESPACE_INDEX, IndexFunc, Obj, Store, object_key
from .transform import Transform, cache_transform, compact_against

log = logging.getLogger(__name__)


class SharedInformer:
    def __init__(self, source: ListWatchSource, resource: Resource, *,
                 namespaces: Sequence[str] | None = None, resync_period: float | None = None,
                 transform: Transform | None = None, clock: Clock = REAL_CLOCK,
                 idle_timeout: float = 150.0, watch_gather: float = 0.0) -> None:
        """``watch_gather``: how long a caught-up watch waits for more events before its next read (the cache
        then lags by up to that much; see ``WatchStream``)."""
        self.resource = resource
        self.store = Store()
        self._resync_period = resync_period
        self._clock = clock
        self._lock = threading.RLock()
        self._listeners: tuple[Listener, ...] = ()
        self._dispatcher = Dispatcher(name=f"informer-{resource.plural}-handlers")
        scopes: list[str | None] = [None] if namespaces is None or not resource.namespaced else [*namespaces]
        self._reflectors = [
            Reflector(source, resource, self, namespace=ns, clock=clock, idle_timeout=idle_timeout,
                      transform=cache_transform(transform, intern=False), gather=watch_gather)
            for ns in scopes]
        self._listed_scopes: set[str | None] = set()
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False

    def lister(self) -> Lister:
        return Lister(self.store, self.resource)

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        self.store.add_indexers(indexers)

    def add_handler(self, handler: EventHandler) -> HandlerRegistration:
        """Register a handler; objects already cached are replayed to it as initial-list adds."""
        listener = Listener(handler)
        with self._lock:
            self._listeners = (*self._listeners, listener)
            for obj in self.store.list():
                self._dispatcher.push((listener,), "add", obj, True)
            if self._synced.is_set():
                self._dispatcher.push((listener,), "synced", None)
        return HandlerRegistration(listener)

    def start(self) -> None:
        """Start the reflectors, the handler threads and the resync timer (idempotent)."""
        with self._lock:
            if self._started:
                return
            self._started = True
            self._dispatcher.start()
        for reflector in self._reflectors:
            self._spawn(reflector.run, "reflector")
        if self._resync_period:
            self._spawn(self._resync_loop, "resync")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for reflector in self._reflectors:
            reflector.stop()
        self._dispatcher.stop()
        for thread in self._threads:
            thread.join(timeout)
        self._dispatcher.join(timeout)

    def stats(self) -> dict[str, int]:
        """Lists made, watches opened and watch events applied (bookmarks aside) so far, over every reflector,
        and the objects cached now."""
        return {"lists": sum(r.lists for r in self._reflectors),
                "watches": sum(r.watches for r in self._reflectors),
                "events": sum(r.events for r in self._reflectors), "objects": len(self.store),
                "failures": sum(r.failures for r in self._reflectors),
                "failing_for": max((self._clock.now() - r.failing_since for r in self._reflectors
                                    if r.failing_since is not None), default=0.0)}

    def unhealthy(self, after: float) -> list[str]:
        """The scopes (``*`` or a namespace) whose reflector has had no success for ``after`` seconds."""
        return [r.namespace or "*" for r in self._reflectors if not r.healthy(after)]

    def has_synced(self) -> bool:
        """True once every reflector's first list is in the store."""
        return self._synced.is_set()

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    def resync(self) -> None:
        """Replay every cached object to the handlers as ``on_update(obj, obj)``."""
        with self._lock:
            for obj in self.store.list():
                self._notify("update", obj, obj)

    def replace(self, objects: list[Obj], *, namespace: str | None, initial: bool) -> None:
        """Make the cache (within ``namespace``) equal ``objects``; notify adds, updates, tombstones.

        ``replace`` and ``apply`` are the reflectors' sink: they take objects as they go into the cache.
        """
        fresh = {object_key(obj): obj for obj in objects}
        with self._lock:
            self._drop_missing(fresh, namespace)
            for key, obj in fresh.items():
                old = self.store.put(compact_against(obj, self.store.get(key)))
                if old is None:
                    self._notify("add", obj, initial)
                elif _resource_version(old) != _resource_version(obj):
                    self._notify("update", old, obj)
            self._listed(namespace)

    def apply(self, event_type: str, obj: Obj) -> None:
        """Apply one watch event (ADDED, MODIFIED, DELETED)."""
        with self._lock:
            if event_type == "DELETED":
                self.store.delete(object_key(obj))
                self._notify("delete", obj)
                return
            old = self.store.put(compact_against(obj, self.store.get(object_key(obj))))
            if old is None:
                self._notify("add", obj, False)
            else:
                self._notify("update", old, obj)

    def _drop_missing(self, fresh: Mapping[str, Obj], namespace: str | None) -> None:
        cached = self.store.keys_by_index(NAMESPACE_INDEX, namespace) if namespace else self.store.keys()
        for key in cached:
            if key not in fresh:
                last = self.store.delete(key)
                if last is not None:
                    self._notify("delete", DeletedFinalStateUnknown(key, last))

    def _listed(self, namespace: str | None) -> None:
        self._listed_scopes.add(namespace)
        if len(self._listed_scopes) == len(self._reflectors) and not self._synced.is_set():
            self._synced.set()
            self._dispatcher.push(self._listeners, "synced", None)

    def _notify(self, kind: str, first: object, second: object = None) -> None:
        self._dispatcher.push(self._listeners, kind, first, second)

    def _resync_loop(self) -> None:
        assert self._resync_period
        while not self._clock.wait(self._stop, self._resync_period):
            self.resync()

    def _spawn(self, target: object, role: str) -> None:
        thread = threading.Thread(target=target, name=f"informer-{self.resource.plural}-{role}",  # type: ignore[arg-type]
                                  daemon=True)
        self._threads.append(thread)
        thread.start()


def _resource_version(obj: Obj) -> str | None:
    return obj["metadata"].get("resourceVersion")
