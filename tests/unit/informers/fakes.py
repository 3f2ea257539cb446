"""Fakes shared by the informer tests: a scripted list/watch source and a recording clock."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from rocketmq_operator.kube.client import ListResult
from rocketmq_operator.kube.errors import ServerError
from tests.fakeclock import FakeClock

END = object()


def cm(name: str, *, namespace: str = "ns", rv: str = "1", labels: dict[str, str] | None = None,
       owner_uid: str | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "resourceVersion": rv,
                            "uid": f"uid-{namespace}-{name}"}
    if labels:
        meta["labels"] = labels
    if owner_uid:
        meta["ownerReferences"] = [{"uid": owner_uid, "controller": True, "kind": "X", "name": "x"}]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, **extra}


class FakeWatch:
    """Yields queued events; an exception in the queue is raised; END (or close) ends the stream."""

    def __init__(self, events: queue.Queue[Any]) -> None:
        self._events = events
        self.closed = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while not self.closed:
            item = self._events.get(timeout=10)
            if item is END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.closed = True
        self._events.put(END)


class Exhausted(ServerError):
    """Raised by a scripted source when its script has run out."""


class FakeSource:
    """Scripted list results (one page each) and ``watch`` streams; records every call.

    ``watches`` is a list of scripts, one per ``watch`` call: an exception (raised when opening) or a
    list of events (an exception among them is raised mid-stream). When the scripts run out the source
    calls ``on_exhausted`` and raises :class:`Exhausted`. Without ``watches`` every watch reads the
    shared ``events`` queue (for tests where another thread feeds events).
    """

    def __init__(self, lists: list[Any] | None = None, watches: list[Any] | None = None) -> None:
        self.lists = list(lists or [])
        self.watches = None if watches is None else list(watches)
        self.list_calls: list[str | None] = []
        self.watch_calls: list[dict[str, Any]] = []
        self.events: queue.Queue[Any] = queue.Queue()
        self.on_exhausted: Callable[[], None] | None = None

    def list_pages(self, resource: Any, *, namespace: str | None = None, limit: int = 500) -> Iterator[dict]:
        self.list_calls.append(namespace)
        result = self.lists.pop(0) if self.lists else ListResult([], "0")
        if isinstance(result, BaseException):
            raise result
        yield {"items": result.items, "metadata": {"resourceVersion": result.resource_version}}

    def watch(self, resource: Any, **kwargs: Any) -> Any:
        self.watch_calls.append(kwargs)
        if self.watches is None:
            return FakeWatch(self.events)
        if not self.watches:
            if self.on_exhausted:
                self.on_exhausted()
            raise Exhausted("script exhausted")
        script = self.watches.pop(0)
        if isinstance(script, BaseException):
            raise script
        return ScriptedWatch(script)


class ScriptedWatch:
    def __init__(self, script: list[Any]) -> None:
        self._script = script

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for item in self._script:
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        pass


class RecordingClock(FakeClock):
    """A fake clock whose ``wait`` records the timeout and moves time on by it."""

    def __init__(self, *, stop_after: int | None = None, on_stop: Any = None) -> None:
        super().__init__()
        self.waits: list[float] = []
        self._stop_after = stop_after
        self._on_stop = on_stop

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        self.waits.append(timeout or 0.0)
        self.step(timeout or 0.0)
        if self._stop_after is not None and len(self.waits) >= self._stop_after:
            if self._on_stop:
                self._on_stop()
            return True
        return event.is_set()


class RecordingHandler:
    """Collects notifications as tuples; ``wait_for(n)`` blocks until n have arrived."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []
        self._cond = threading.Condition()

    def on_add(self, obj: dict[str, Any], *, is_initial_list: bool) -> None:
        self._record(("add", obj["metadata"]["name"], is_initial_list))

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self._record(("update", new["metadata"]["name"], old["metadata"]["resourceVersion"],
                      new["metadata"]["resourceVersion"], old is new))

    def on_delete(self, obj: Any) -> None:
        self._record(("delete", obj))

    def _record(self, item: tuple[Any, ...]) -> None:
        with self._cond:
            self.seen.append(item)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[Any, ...]]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.seen) >= count, timeout):
                raise AssertionError(f"expected {count} notifications, got {self.seen}")
            return list(self.seen)


class IdleSource(FakeSource):
    """A source whose ``list`` blocks until ``release`` is set, then fails: its reflectors never feed."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def list_pages(self, resource: Any, *, namespace: str | None = None, limit: int = 500) -> Iterator[dict]:
        self.release.wait()
        raise Exhausted("released")
