"""Polling for e2e tests: the one place a test waits for the cluster to converge."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], *, timeout: float = 60.0, interval: float = 0.2, what: str = "") -> T:
    """Calls ``check`` until it returns a truthy value (returned) or ``timeout`` passes (AssertionError).

    Exceptions raised by ``check`` count as "not yet"; the last one is shown when time runs out.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = check()
            if value:
                return value
            last = value
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}: last={last!r}")
        time.sleep(interval)
