"""Kubernetes Events on the objects the operator manages.

``EventRecorder.event`` never blocks a sync: it puts the event on a bounded in-memory queue and one
background thread writes it. Repeats of the same (object, type, reason, message) bump the count and
last timestamp of the event already written instead of creating another one. When the queue is full
the event is dropped and counted: events are for people, and a sync must not wait on them.
"""

from __future__ import annotations

import queue
import threading
import uuid
import weakref
from dataclasses import dataclass
from typing import Any, Protocol

from cachetools import LRUCache
from prometheus_client import REGISTRY, CollectorRegistry, Counter

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.kube.errors import ApiError, FencedOff, NotFound
from rocketmq_operator.kube.resources import EVENTS
from rocketmq_operator.leaderelection import micro_time
from rocketmq_operator.logs import get_logger

log = get_logger(__name__)
NORMAL, WARNING = "Normal", "Warning"
COMPONENT = "rocketmq-operator"


class EventClient(Protocol):
    def create(self, resource, body: dict[str, Any], *, namespace: str | None = None) -> dict[str, Any]: ...

    def patch(self, resource, name: str, patch: Any, *, namespace: str | None = None,
              patch_type: str = "merge") -> dict[str, Any]: ...


@dataclass(frozen=True)
class _Pending:
    involved: tuple[tuple[str, str], ...]
    type: str
    reason: str
    message: str


_DROPPED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_DROPPED_LOCK = threading.Lock()


def _dropped_counter(registry: CollectorRegistry) -> Counter:
    """One counter per registry, shared by the recorders that report into it."""
    with _DROPPED_LOCK:
        if registry not in _DROPPED:
            _DROPPED[registry] = Counter("rocketmq_operator_events_dropped",
                                         "Events dropped because the queue was full", registry=registry)
        return _DROPPED[registry]


def involved_object(obj: dict[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata", {})
    ref = {"apiVersion": obj.get("apiVersion", ""), "kind": obj.get("kind", ""), "name": meta.get("name", ""),
           "namespace": meta.get("namespace", ""), "uid": meta.get("uid", "")}
    return {k: v for k, v in ref.items() if v}


class EventRecorder:
    def __init__(self, client: EventClient, *, instance: str = "", clock: Clock = REAL_CLOCK,
                 max_queued: int = 1000, registry: CollectorRegistry | None = REGISTRY) -> None:
        self._client = client
        self._instance = instance
        self._clock = clock
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=max_queued)
        self._seen: LRUCache = LRUCache(maxsize=4096)  # pending key -> (event name, count)
        self._thread: threading.Thread | None = None
        self._dropped = _dropped_counter(registry) if registry is not None else None

    def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        """Records an event about ``obj`` (a cached dict); returns at once."""
        pending = _Pending(tuple(sorted(involved_object(obj).items())), type_, reason, message[:1024])
        try:
            self._queue.put_nowait(pending)
        except queue.Full:
            if self._dropped is not None:
                self._dropped.inc()
            log.warning("event dropped, queue full", reason=reason)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="event-recorder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Writes what is queued (bounded by ``timeout``) and stops the writer thread."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def flush(self, timeout: float = 10.0) -> bool:
        """Waits until every queued event is written (for tests and shutdown)."""
        done = threading.Event()
        waiter = threading.Thread(target=lambda: (self._queue.join(), done.set()), daemon=True)
        waiter.start()
        return done.wait(timeout)

    def _loop(self) -> None:
        while True:
            pending = self._queue.get()
            try:
                if pending is None:
                    return
                self._write(pending)
            except FencedOff:
                pass  # not the leader any more: the event is dropped with the rest of this replica's work
            except Exception:
                log.exception("writing an event failed")
            finally:
                self._queue.task_done()

    def _write(self, p: _Pending) -> None:
        involved = dict(p.involved)
        namespace = involved.get("namespace") or "default"
        now = micro_time(self._clock.wall())
        now_s = now[:19] + "Z"
        seen = self._seen.get(p)
        if seen is not None:
            name, count = seen
            try:
                self._client.patch(EVENTS, name, {"count": count + 1, "lastTimestamp": now_s},
                                   namespace=namespace)
                self._seen[p] = (name, count + 1)
                return
            except NotFound:
                pass  # expired; write a fresh one
            except ApiError as e:
                log.warning("event update failed", reason=p.reason, error=str(e))
                return
        name = f"{involved.get('name', 'unknown')}.{uuid.uuid4().hex[:16]}"
        body = {"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": involved, "reason": p.reason, "message": p.message, "type": p.type,
                "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
                "reportingInstance": self._instance, "firstTimestamp": now_s, "lastTimestamp": now_s,
                "count": 1}
        try:
            self._client.create(EVENTS, body, namespace=namespace)
            self._seen[p] = (name, 1)
        except ApiError as e:
            log.warning("event create failed", reason=p.reason, error=str(e))
