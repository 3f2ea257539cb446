"""When and how the client retries a failed call.

Transient failures (429, 5xx, connection refused/reset, timeouts) are retried a bounded number of
times with exponential backoff and full jitter; a server-sent ``Retry-After`` is a floor on the wait.
A call that is not idempotent (a create, a JSON patch) is retried only when the request surely did not
reach the server: the connection was refused, or the server answered 429 (it rejected the request
before acting on it).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import tenacity

from .errors import ApiError, ServerError, TooManyRequests, TransportError

T = TypeVar("T")


def is_transient(error: BaseException) -> bool:
    """May an idempotent call that failed with ``error`` succeed if tried again?"""
    return isinstance(error, (TooManyRequests, ServerError, TransportError))


def surely_not_applied(error: BaseException) -> bool:
    """Did the server certainly not act on the request? Only then is a create retried."""
    if isinstance(error, TooManyRequests):
        return True
    return isinstance(error, TransportError) and error.not_sent


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter: wait ~ U(0, min(cap, initial * 2**n)).

    ``sleep`` and ``rand`` are injectable so tests can record the waits without sleeping.
    """

    attempts: int = 5
    initial: float = 0.2
    cap: float = 5.0
    sleep: Callable[[float], None] = tenacity.nap.sleep
    rand: Callable[[], float] = field(default=random.random)

    def run(self, call: Callable[[], T], *, idempotent: bool) -> T:
        """Run ``call``, retrying transient :class:`ApiError` s as the call's idempotency allows."""
        should_retry = is_transient if idempotent else surely_not_applied
        try:
            return call()  # nearly every call succeeds at once: no retry machinery for those
        except ApiError as error:
            if self.attempts <= 1 or not should_retry(error):
                raise
            first = error
        self.sleep(self.delay(1, first))
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts - 1),  # the first attempt is made above
            wait=lambda state: self._wait(state, before=1),
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, ApiError) and should_retry(e)),
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(call)

    def delay(self, attempt: int, error: BaseException | None) -> float:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.cap, self.initial * 2 ** (attempt - 1))
        wait = ceiling * self.rand()
        retry_after = getattr(error, "retry_after", None)
        return max(wait, retry_after) if retry_after is not None else wait

    def _wait(self, state: tenacity.RetryCallState, *, before: int = 0) -> float:
        """The wait after tenacity's attempt ``state.attempt_number``, which follows ``before`` attempts of
        ours."""
        error = state.outcome.exception() if state.outcome is not None else None
        return self.delay(state.attempt_number + before, error)


