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


class Dispatcher:
    """Delivers an informer's notifications to its handlers from one thread of its own, in order.

    One hand-over per event (a ``queue.SimpleQueue``: C code, no Python-level lock), not one per handler:
    every watch event reaches every handler of its informer, so this is on the operator's hottest path.
    Handlers only map objects to keys and queue them; a handler that raises does not stop the others.
    """

    def __init__(self, *, name: str) -> None:
        self._queue: queue.SimpleQueue[tuple[tuple[Listener, ...], str, Any, Any]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def push(self, targets: tuple[Listener, ...], kind: str, first: Any, second: Any = None) -> None:
        if targets:
            self._queue.put((targets, kind, first, second))

    def stop(self) -> None:
        self._queue.put(((), "stop", None, None))

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def pending(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        while True:
            targets, kind, first, second = self._queue.get()
            if kind == "stop":
                return
            for listener in targets:
                if kind == "synced":
                    listener.synced.set()
                else:
                    listener.deliver(kind, first, second)


class Listener:
    """One handler of an informer and whether it has seen the initial list (delivered by a Dispatcher)."""

    def __init__(self, handler: EventHandler) -> None:
        self.handler = handler
        self.synced = threading.Event()

    def has_synced(self) -> bool:
        return self.synced.is_set()

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
