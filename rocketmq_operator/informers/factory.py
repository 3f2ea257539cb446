"""One informer per resource, shared by every controller in the process.

Controllers ask the factory for ``informer(resource)`` / ``lister(resource)`` in their constructors;
the factory hands every caller the same instance, so the process keeps one list/watch (per namespace
when scoped to namespaces) and one cache per resource however many controllers read it. ``start()``
starts whatever has been requested so far and may be called again after more informers are added.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence

from ..clock import REAL_CLOCK, Clock
from ..kube.resources import Resource
from .informer import SharedInformer
from .lister import Lister
from .reflector import ListWatchSource
from .transform import Transform


class SharedInformerFactory:
    def __init__(self, source: ListWatchSource, *, namespaces: Sequence[str] | None = None,
                 resync_period: float | None = None, transforms: Mapping[Resource, Transform] | None = None,
                 clock: Clock = REAL_CLOCK, idle_timeout: float = 150.0, watch_gather: float = 0.0) -> None:
        """``namespaces=None`` watches all namespaces; otherwise one reflector per listed namespace."""
        self._source = source
        self._namespaces = None if namespaces is None else tuple(namespaces)
        self._resync_period = resync_period
        self._transforms = dict(transforms or {})
        self._clock = clock
        self._idle_timeout = idle_timeout
        self._watch_gather = watch_gather
        self._lock = threading.Lock()
        self._informers: dict[Resource, SharedInformer] = {}

    def informer(self, resource: Resource) -> SharedInformer:
        with self._lock:
            informer = self._informers.get(resource)
            if informer is None:
                informer = SharedInformer(
                    self._source, resource, namespaces=self._namespaces, resync_period=self._resync_period,
                    transform=self._transforms.get(resource), clock=self._clock,
                    idle_timeout=self._idle_timeout, watch_gather=self._watch_gather)
                self._informers[resource] = informer
            return informer

    def lister(self, resource: Resource) -> Lister:
        return self.informer(resource).lister()

    def resources(self) -> list[Resource]:
        """The resources informers have been requested for (each is listed and watched)."""
        with self._lock:
            return list(self._informers)

    def stats(self) -> dict[Resource, dict[str, int]]:
        """Each informer's :meth:`SharedInformer.stats`."""
        return {informer.resource: informer.stats() for informer in self._snapshot()}

    def unhealthy(self, after: float) -> list[str]:
        """``<resource>@<scope>`` of every reflector that has had no success for ``after`` seconds."""
        return [f"{informer.resource}@{scope}" for informer in self._snapshot()
                for scope in informer.unhealthy(after)]

    def start(self) -> None:
        for informer in self._snapshot():
            informer.start()

    def wait_for_cache_sync(self, timeout: float | None = None) -> bool:
        """Wait until every started informer has synced; False if ``timeout`` (seconds) ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for informer in self._snapshot():
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not informer.wait_for_sync(remaining):
                return False
        return True

    def stop(self) -> None:
        for informer in self._snapshot():
            informer.stop()

    def _snapshot(self) -> list[SharedInformer]:
        with self._lock:
            return list(self._informers.values())
