"""The controller runner: N worker threads pulling keys from a rate-limited queue and calling ``sync``.

A reconciler is anything with a ``sync(key) -> Result | None``. The one function that owns the queue
protocol, ``process_next``, turns what ``sync`` did into what happens to the key:

==========================  ==========================================================
``sync`` returned / raised  the key
==========================  ==========================================================
``None`` or ``Result()``    forgotten (the next failure starts from the shortest delay)
``Result(requeue_after=s)`` forgotten, then added again after ``s`` seconds
``TerminalError``           forgotten, logged, a Warning event on its object; no retry
any other exception         added rate-limited (exponential backoff), logged with traceback
==========================  ==========================================================

An exception never kills a worker. Every reconcile gets an id in its log context, an outcome in
``rocketmq_<kind>_reconcile_total{result}`` and a duration in ``rocketmq_<kind>_reconcile_duration_seconds``.
"""

from __future__ import annotations

import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import structlog
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from rocketmq_operator.controllers.runtime.conditions import Recorder
from rocketmq_operator.kube.errors import FencedOff
from rocketmq_operator.logs import get_logger
from rocketmq_operator.workqueue import PRIORITY_CHILD, PRIORITY_NORMAL, RateLimitingQueue

log = get_logger(__name__)


@dataclass(frozen=True, order=True)
class Key:
    """The identity of a parent resource: what the queue holds."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Result:
    requeue_after: float | None = None


class TerminalError(Exception):
    """A failure that retrying cannot fix (bad input): reported, not retried."""

    def __init__(self, message: str, *, reason: str = "ReconcileFailed",
                 obj: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.obj = obj


class Reconciler(Protocol):
    def sync(self, key: Key) -> Result | None: ...


RESULTS = ("success", "requeue_after", "error", "terminal_error")


class ControllerMetrics:
    """Per-kind reconcile metrics, registered once per registry. Every result series exists (at zero) from
    the start, so a dashboard shows it before the first reconcile."""

    _by_registry: ClassVar[weakref.WeakKeyDictionary] = weakref.WeakKeyDictionary()
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, kind: str, registry: CollectorRegistry) -> None:
        self.total = Counter(f"rocketmq_{kind}_reconcile_total", f"{kind} reconciles by result", ["result"],
                             registry=registry)
        self.errors = Counter(f"rocketmq_{kind}_reconcile_errors_total", f"{kind} reconciles that failed",
                              registry=registry)
        self.duration = Histogram(f"rocketmq_{kind}_reconcile_duration_seconds", f"{kind} reconcile duration",
                                  registry=registry,
                                  buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        for result in RESULTS:
            self.total.labels(result=result)

    @classmethod
    def for_kind(cls, kind: str, registry: CollectorRegistry) -> ControllerMetrics:
        with cls._lock:
            kinds = cls._by_registry.setdefault(registry, {})
            if kind not in kinds:
                kinds[kind] = cls(kind, registry)
            return kinds[kind]


class Controller:
    """Runs one reconciler with ``workers`` threads once every cache in ``has_synced`` has synced."""

    def __init__(self, kind: str, reconciler: Reconciler, *, queue: RateLimitingQueue,
                 has_synced: list[Callable[[], bool]], recorder: Recorder | None = None, workers: int = 2,
                 registry: CollectorRegistry = REGISTRY, child_delay: float = 0.0,
                 may_act: Callable[[], bool] | None = None) -> None:
        self.kind = kind
        self.child_delay = child_delay
        self.reconciler = reconciler
        self.queue = queue
        self._has_synced = has_synced
        self._recorder = recorder
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._metrics = ControllerMetrics.for_kind(kind, registry)
        self._log = log.bind(controller=kind)
        self._may_act = may_act  # asked before every sync (the leader lease); no sync is begun without it

    def enqueue(self, key: Key, *, priority: int = PRIORITY_NORMAL) -> None:
        """Queues ``key``. A change seen on an owned object (``PRIORITY_CHILD``: pods turning Ready, status
        churn) waits up to ``child_delay`` seconds, so that the burst of changes a new or rolling cluster
        makes is one sync, not one per change; a key already due is not delayed."""
        if priority == PRIORITY_CHILD and self.child_delay > 0:
            self.queue.add_after(key, self.child_delay, priority=priority)
        else:
            self.queue.add(key, priority=priority)

    def start(self, stop: threading.Event, *, sync_timeout: float | None = None,
              may_act: Callable[[], bool] | None = None) -> bool:
        """Waits for the caches (False when ``stop`` is set first or the timeout passes), then starts
        workers. ``may_act``: asked before every sync (the leader lease); a sync is not begun without it."""
        if may_act is not None:
            self._may_act = may_act
        deadline = None if sync_timeout is None else time.monotonic() + sync_timeout
        while not all(check() for check in self._has_synced):
            if stop.wait(0.05) or (deadline is not None and time.monotonic() > deadline):
                return False
        for i in range(self._workers):
            t = threading.Thread(target=self._worker, name=f"{self.kind}-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        self._log.info("controller started", workers=self._workers)
        return True

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stops taking work and waits (bounded) for in-flight syncs to finish."""
        drainer = threading.Thread(target=self.queue.shutdown_with_drain, daemon=True)
        drainer.start()
        drainer.join(timeout)
        if drainer.is_alive():
            self.queue.shutdown()
        deadline = time.monotonic() + max(0.0, timeout)
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def _worker(self) -> None:
        while self.process_next():
            pass

    def process_next(self) -> bool:
        """Handles one key; False once the queue is shut down."""
        key, shutdown = self.queue.get()
        if shutdown:
            return False
        try:
            self._reconcile(key)
        finally:
            self.queue.done(key)
        return True

    def _reconcile(self, key: Key) -> None:
        reconcile_id = uuid.uuid4().hex[:12]
        structlog.contextvars.bind_contextvars(controller=self.kind, key=str(key), reconcile_id=reconcile_id)
        start = time.monotonic()
        try:
            outcome = self._outcome(key)
        finally:
            duration = time.monotonic() - start
            self._metrics.duration.observe(duration)
        self._metrics.total.labels(result=outcome).inc()
        self._log.info("reconciled", key=str(key), reconcile_id=reconcile_id, result=outcome,
                        duration=round(duration, 4))
        structlog.contextvars.clear_contextvars()

    def _outcome(self, key: Key) -> str:
        try:
            if self._may_act is not None and not self._may_act():
                raise FencedOff(f"{self.kind} {key} not synced: this replica does not hold the leader lease")
            result = self.reconciler.sync(key)
        except TerminalError as e:
            self.queue.forget(key)
            self._metrics.errors.inc()
            self._log.error("reconcile failed, not retrying", key=str(key), reason=e.reason, error=str(e))
            if self._recorder is not None and e.obj is not None:
                self._recorder.event(e.obj, "Warning", e.reason, str(e))
            return "terminal_error"
        except FencedOff as e:
            # the lease ran out: the process is stopping, and the new leader syncs this key
            self.queue.forget(key)
            self._log.warning("reconcile stopped: not the leader", key=str(key), error=str(e))
            return "error"
        except Exception:  # noqa: BLE001 - any failure is retried with backoff
            self._metrics.errors.inc()
            self.queue.add_rate_limited(key)
            self._log.exception("reconcile failed, will retry", key=str(key),
                                requeues=self.queue.num_requeues(key))
            return "error"
        self.queue.forget(key)
        if result is not None and result.requeue_after is not None:
            self.queue.add_after(key, result.requeue_after)
            return "requeue_after"
        return "success"
