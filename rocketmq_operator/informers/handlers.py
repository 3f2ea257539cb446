"""Event handlers and the per-handler delivery threads.

Each registered handler gets its own listener: an unbounded FIFO and one thread that calls the
handler. A slow handler therefore delays only itself, never the reflector or other handlers, and it
sees every object's notifications in the order the informer produced them. A handler that raises is
logged and keeps receiving later notifications.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .store import Obj

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeletedFinalStateUnknown:
    """A delete the informer inferred from a relist: the watch missed it, so ``obj`` is the last state
    the cache saw, which may be stale."""

    key: str
    obj: Obj


class EventHandler(Protocol):
    def on_add(self, obj: Obj, *, is_initial_list: bool) -> None: ...

    def on_update(self, old: Obj, new: Obj) -> None: ...

    def on_delete(self, obj: Obj | DeletedFinalStateUnknown) -> None: ...


@dataclass(frozen=True)
class FuncHandler:
    """An :class:`EventHandler` from plain functions; missing ones ignore their events."""

    add: Callable[[Obj, bool], None] | None = None
    update: Callable[[Obj, Obj], None] | None = None
    delete: Callable[[Obj | DeletedFinalStateUnknown], None] | None = None

    def on_add(self, obj: Obj, *, is_initial_list: bool) -> None:
        if self.add is not None:
            self.add(obj, is_initial_list)

    def on_update(self, old: Obj, new: Obj) -> None:
        if self.update is not None:
            self.update(old, new)

    def on_delete(self, obj: Obj | DeletedFinalStateUnknown) -> None:
        if self.delete is not None:
            self.delete(obj)


Notification = tuple[str, Any, Any]
_SYNCED: Notification = ("synced", None, None)
_STOP: Notification = ("stop", None, None)


class Listener:
    """Delivers notifications to one handler from its own thread, in order.

    The hand-over is a ``queue.SimpleQueue`` (C code, no Python-level lock or condition per
    notification): every watch event is pushed to each handler of its informer, so this is on the
    operator's hottest path.
    """

    def __init__(self, handler: EventHandler, *, name: str) -> None:
        self.handler = handler
        self._queue: queue.SimpleQueue[Notification] = queue.SimpleQueue()
        self._synced = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def push(self, kind: str, first: Any, second: Any = None) -> None:
        self._queue.put((kind, first, second))

    def mark_synced(self) -> None:
        """Queue a marker: the listener counts as synced once everything before it was handled."""
        self._queue.put(_SYNCED)

    def has_synced(self) -> bool:
        return self._synced.is_set()

    def stop(self) -> None:
        self._queue.put(_STOP)

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def pending(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        while True:
            kind, first, second = self._queue.get()
            if kind == "stop":
                return
            if kind == "synced":
                self._synced.set()
                continue
            self.deliver(kind, first, second)

    def deliver(self, kind: str, first: Any, second: Any) -> None:
        try:
            if kind == "add":
                self.handler.on_add(first, is_initial_list=second)
            elif kind == "update":
                self.handler.on_update(first, second)
            else:
                self.handler.on_delete(first)
        except Exception:  # a handler bug must not stop delivery to it
            log.exception("event handler %r failed on %s", self.handler, kind)


class HandlerRegistration:
    """Returned by ``add_handler``: ``has_synced`` is True once the handler saw the initial list."""

    def __init__(self, listener: Listener) -> None:
        self._listener = listener

    def has_synced(self) -> bool:
        return self._listener.has_synced()
