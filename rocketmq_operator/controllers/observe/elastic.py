"""A pool of threads that grows while its calls are blocked, for the observer.

An observation is a few milliseconds of work (encode, parse) between network waits. When RocketMQ
answers, a few threads are enough, and more would only compete with the controller workers for the
interpreter. When endpoints stop answering, each call the observer makes to one of them waits its whole
timeout, and a fixed pool of a few threads spends a round waiting while healthy clusters queue behind
(bench/bench_observer.py measures both). So the pool counts only *fast* calls against its size:

* at most ``workers`` calls younger than ``slow_after`` run at once;
* a call running longer than that is taken to be waiting on the network, and no longer holds a place;
  another queued call may start on another thread, up to ``max_workers`` threads in all;
* calls start in the order they were submitted.

One thread beyond the busy ones stays idle and looks again every ``slow_after / 2`` seconds while calls
run, so a place freed by a call turning slow is used without a new submission. Threads are started on
demand and kept (a blocked or idle thread costs a stack and nothing else).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.logs import get_logger

log = get_logger(__name__)


def may_start(starts: Iterable[float], *, now: float, workers: int, slow_after: float) -> bool:
    """Whether another call may start, given the start times of the running ones."""
    return sum(1 for start in starts if now - start < slow_after) < workers


class ElasticPool:
    def __init__(self, *, workers: int, max_workers: int, slow_after: float, name: str,
                 clock: Clock = REAL_CLOCK) -> None:
        self._workers, self._max = workers, max(workers, max_workers)
        self._slow_after, self._name, self._clock = slow_after, name, clock
        self._pending: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._running: dict[int, float] = {}  # call number → when it started
        self._calls = 0
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False
        self._cond = threading.Condition()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        with self._cond:
            if self._closed:
                return
            self._pending.append((fn, args))
            if self._idle == 0:
                self._spawn()
            self._cond.notify()

    def shutdown(self, *, wait: bool = False, cancel_futures: bool = True) -> None:
        """Stops taking calls; queued ones are dropped when ``cancel_futures`` (running ones finish)."""
        with self._cond:
            self._closed = True
            if cancel_futures:
                self._pending.clear()
            self._cond.notify_all()
        if wait:
            for t in list(self._threads):
                t.join()

    @property
    def threads(self) -> int:
        with self._cond:
            return len(self._threads)

    def _spawn(self) -> None:
        if len(self._threads) >= self._max:
            return
        t = threading.Thread(target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True)
        self._threads.append(t)
        t.start()

    def _ready(self) -> bool:
        return bool(self._pending) and may_start(self._running.values(), now=self._clock.now(),
                                                 workers=self._workers, slow_after=self._slow_after)

    def _work(self) -> None:
        with self._cond:
            while True:
                while not self._closed and not self._ready():
                    self._idle += 1
                    self._cond.wait(self._slow_after / 2 if self._running and self._pending else None)
                    self._idle -= 1
                if self._closed and not self._pending:
                    return
                fn, args = self._pending.popleft()
                self._calls += 1
                call = self._calls
                self._running[call] = self._clock.now()
                if self._idle == 0:
                    self._spawn()  # keep one thread looking while this one may block
                self._cond.release()
                try:
                    fn(*args)
                except Exception:  # a call must never kill its thread
                    log.exception("call failed in the pool", pool=self._name)
                finally:
                    self._cond.acquire()
                    del self._running[call]
                    self._cond.notify_all()
