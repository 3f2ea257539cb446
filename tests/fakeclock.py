"""The clock the unit tests inject: it moves only when a test says so, so delays are asserted exactly and
nothing sleeps."""

from __future__ import annotations

import threading


class FakeClock:
    """A clock that moves only when ``step`` is called. ``wait`` returns at once with the event's state."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def wall(self) -> float:
        return self.now()

    def step(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        return event.is_set()
