"""The work queue the controllers' workers pull keys from.

One class holds the three behaviours client-go spreads over layers — deduplication with a processing
set, delays, and priorities — because they share one lock and one notion of "which state is this key
in". Rate limiting sits on top in :mod:`.rate_limiting`. Each key is, at any time, in at most one of:

* *waiting*  — added with a delay that has not passed yet (a heap ordered by ready time);
* *ready*    — in the queue, handed out by ``get`` (a heap ordered by priority, then arrival);
* *pending*  — added again while a worker holds it; it becomes ready when that worker calls ``done``;

and, independently, *processing* while a worker holds it (never together with *ready*).

Both heaps are lazy: raising a key's priority or moving its ready time earlier pushes a new entry and
the old one is skipped when it surfaces, so an add is one dict update and one heap push.

There is no background thread. Whoever looks at the queue (``get``, ``try_get``, ``len``, ``tick``)
first moves the keys whose delay has passed into the ready heap; a blocked ``get`` sleeps until the
next ready time. With a clock that moves only by hand, call ``tick`` after moving it.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.workqueue.metrics import NOOP_METRICS, MetricsProvider, QueueMetrics, default_provider

T = TypeVar("T", bound=Hashable)

PRIORITY_HIGH = 100
PRIORITY_NORMAL = 0
PRIORITY_CHILD = -10  # a change seen on an owned object (mostly status): after new work on the parents
PRIORITY_LOW = -100  # keys from the initial list and from resyncs that changed nothing: new work goes first

_NO_ENTRY = (PRIORITY_NORMAL, -1)  # matches no heap entry: every seq is >= 0


@dataclass(slots=True)
class _Waiting:
    ready_at: float
    seq: int  # of the key's live entry in the waiting heap
    priority: int


class WorkQueue(Generic[T]):
    """A thread-safe queue of keys with deduplication, delays and priorities.

    Guarantees (each has a test in ``tests/unit/workqueue``):

    * **Fair** — keys are handed out by priority, highest first, and in the order they became ready
      within one priority.
    * **Stingy** — a key added many times before a worker takes it is handed out once; a duplicate keeps
      the highest priority and the earliest ready time it was given.
    * **One worker per key** — a key is never handed to a second worker before the first calls ``done``;
      an add meanwhile is remembered and the key is ready again right after ``done``.
    * **Many producers and consumers** — every method may be called from any thread.
    * **Clean shutdown** — after ``shutdown`` adds are ignored and delayed keys dropped; ``get`` hands
      out the keys already ready, then returns ``(None, True)`` to every worker.
      ``shutdown_with_drain`` also waits until the workers have called ``done`` on what they hold.

    Metrics are recorded only for a named queue (``name=``), in ``metrics`` or the default registry.
    """

    def __init__(
        self, *, name: str | None = None, clock: Clock = REAL_CLOCK, metrics: MetricsProvider | None = None
    ) -> None:
        self.name = name
        self._clock = clock
        self._metrics: QueueMetrics = NOOP_METRICS
        if name is not None:
            self._metrics = (metrics or default_provider()).for_queue(name, clock=clock)
        self._lock = threading.Lock()
        self._has_work = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._seq = itertools.count()
        self._ready: dict[T, tuple[int, int]] = {}  # key -> (priority, seq of its live heap entry)
        self._ready_heap: list[tuple[int, int, T]] = []  # (-priority, seq, key)
        self._pending: dict[T, int] = {}  # key -> priority
        self._waiting: dict[T, _Waiting] = {}
        self._waiting_heap: list[tuple[float, int, T]] = []  # (ready_at, seq, key)
        self._processing: set[T] = set()
        self._sleepers = 0  # workers blocked in get()
        self._drainers = 0  # threads blocked in shutdown_with_drain()
        self._shutting_down = False

    # --- producers ---------------------------------------------------------------------------------

    def add(self, item: T, *, priority: int = PRIORITY_NORMAL) -> None:
        """Make ``item`` ready now (or right after the worker holding it calls ``done``)."""
        with self._lock:
            if not self._shutting_down:
                self._make_ready(item, priority)

    def add_after(self, item: T, delay: float, *, priority: int = PRIORITY_NORMAL) -> None:
        """Make ``item`` ready after ``delay`` seconds of the queue's clock; no delay means now."""
        if delay <= 0:
            return self.add(item, priority=priority)
        with self._lock:
            if self._shutting_down:
                return
            if item in self._ready or item in self._pending:
                self._make_ready(item, priority)  # already due: only the priority can rise
                return
            self._wait(item, self._clock.now() + delay, priority)

    # --- consumers ---------------------------------------------------------------------------------

    def get(self) -> tuple[T | None, bool]:
        """Block until a key is ready and return ``(key, False)``; ``(None, True)`` once shut down and
        empty."""
        with self._lock:
            while True:
                next_ready_in = self._promote()
                if self._ready:
                    return self._take(), False
                if self._shutting_down:
                    return None, True
                self._sleepers += 1
                try:
                    self._has_work.wait(next_ready_in)
                finally:
                    self._sleepers -= 1

    def try_get(self) -> T | None:
        """Return a ready key without blocking, or None when none is ready."""
        with self._lock:
            self._promote()
            return self._take() if self._ready else None

    def done(self, item: T) -> None:
        """Mark ``item`` finished; if it was added meanwhile it is ready again."""
        with self._lock:
            self._processing.discard(item)
            self._metrics.done(item)
            priority = self._pending.pop(item, None)
            if priority is not None:
                self._push_ready(item, priority)
            if self._drainers and not self._processing:
                self._idle.notify_all()

    def tick(self) -> None:
        """Move keys whose delay has passed into the queue and wake the workers that wait for them.

        ``get``, ``try_get`` and ``len`` do this themselves; call it when the clock moves by hand.
        """
        with self._lock:
            self._promote()
            self._has_work.notify_all()

    def __len__(self) -> int:
        """The number of keys ready to be handed out."""
        with self._lock:
            self._promote()
            return len(self._ready)

    # --- shutdown ----------------------------------------------------------------------------------

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def shutdown(self) -> None:
        """Ignore further adds, drop delayed keys and wake every worker."""
        with self._lock:
            self._shutting_down = True
            self._waiting.clear()
            self._waiting_heap.clear()
            self._has_work.notify_all()

    def shutdown_with_drain(self, *, timeout: float | None = None) -> bool:
        """Shut down, then wait until no worker holds a key; False if ``timeout`` seconds passed first."""
        self.shutdown()
        with self._lock:
            self._drainers += 1
            try:
                return self._idle.wait_for(lambda: not self._processing, timeout)
            finally:
                self._drainers -= 1

    # --- inside the lock ---------------------------------------------------------------------------

    def _make_ready(self, item: T, priority: int) -> None:
        if item in self._ready:
            if priority > self._ready[item][0]:
                self._push_ready(item, priority)
            return
        if item in self._pending:
            self._pending[item] = max(priority, self._pending[item])
            return
        waiting = self._waiting.pop(item, None)
        if waiting is not None:
            priority = max(priority, waiting.priority)
        self._metrics.added(item)
        if item in self._processing:
            self._pending[item] = priority
        else:
            self._push_ready(item, priority)

    def _push_ready(self, item: T, priority: int) -> None:
        seq = next(self._seq)
        self._ready[item] = (priority, seq)
        heapq.heappush(self._ready_heap, (-priority, seq, item))
        if self._sleepers:
            self._has_work.notify()

    def _take(self) -> T:
        heap, ready = self._ready_heap, self._ready
        while True:
            _, seq, item = heapq.heappop(heap)
            if ready.get(item, _NO_ENTRY)[1] == seq:
                del ready[item]
                self._processing.add(item)
                self._metrics.got(item)
                return item

    def _wait(self, item: T, ready_at: float, priority: int) -> None:
        waiting = self._waiting.get(item)
        if waiting is not None:
            waiting.priority = max(priority, waiting.priority)
            if waiting.ready_at <= ready_at:
                return
            priority = waiting.priority
        seq = next(self._seq)
        self._waiting[item] = _Waiting(ready_at, seq, priority)
        heapq.heappush(self._waiting_heap, (ready_at, seq, item))
        if self._sleepers and self._waiting_heap[0][1] == seq:
            self._has_work.notify_all()  # the earliest ready time moved: sleepers recompute their timeout

    def _promote(self) -> float | None:
        """Make due waiting keys ready; return the seconds until the next one is due (None: nothing waits)."""
        heap = self._waiting_heap
        if not heap:
            return None
        now = self._clock.now()
        while heap and heap[0][0] <= now:
            _, seq, item = heapq.heappop(heap)
            waiting = self._waiting.get(item)
            if waiting is not None and waiting.seq == seq:
                del self._waiting[item]
                self._make_ready(item, waiting.priority)
        return heap[0][0] - now if heap else None
