"""Endpoints that did not answer in time, remembered so that observations stop waiting for them.

A broker or name server that accepts connections but never answers costs a full request timeout every
time it is asked, on one of the observer's few threads. Asked on every observation of its cluster, a few
hundred of them keep the whole pool waiting and the facts of healthy clusters age past their bound
(measured in bench/bench_observer.py). So the first wait is remembered:

* later observations do not dial the endpoint; it reads as failed, with the reason and how long ago it
  last answered nothing (facts about it are unknown, as they would be after a timeout);
* when its backoff has passed (the observer's interval at first, doubling up to ``max_backoff``), the
  next observation that meets it starts one *probe*, a single bounded call on a lane of its own threads,
  so the wait never holds an observation;
* an answer, to a probe or to anything else, forgets it; the next observation asks it again as usual.

Only failures that cost time are remembered: a request timeout, or a connect that timed out. A refused
connection or a reset is immediate and is simply tried again next time, so a restarted broker is seen at
once. Nothing here does I/O: the probe itself is a callable the observer passes in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from rocketmq_operator.clock import Clock
from rocketmq_operator.rocketmq import RemotingError, RemotingTimeout

BROKER = "broker"
NAME_SERVER = "name server"


def costs_time(error: RemotingError) -> bool:
    """A failure that took the whole timeout: no answer, or a connect that timed out."""
    return isinstance(error, RemotingTimeout) or isinstance(error.__cause__, TimeoutError)


@dataclass
class _Silent:
    kind: str
    since: float  # when it first failed to answer
    retry_at: float
    backoff: float
    asked_at: float  # when an observation last met it (endpoints no target names any more are dropped)
    probing: bool = False


class Silence:
    """The endpoints that failed to answer in time, each with its next probe; thread-safe."""

    def __init__(self, *, clock: Clock, first_backoff: float, max_backoff: float,
                 probe: Callable[[str, str], None]) -> None:
        self._clock = clock
        self._first, self._max = first_backoff, max(first_backoff, max_backoff)
        self._probe = probe  # probe(addr, kind): ask once, then report answered() or failed()
        self._silent: dict[str, _Silent] = {}
        self._lock = threading.Lock()

    def skip(self, addr: str, kind: str) -> str | None:
        """Why ``addr`` is not asked now (None: ask it). Starts its probe once the backoff has passed."""
        now = self._clock.now()
        with self._lock:
            silent = self._silent.get(addr)
            if silent is None:
                return None
            silent.asked_at = now
            start_probe = not silent.probing and now >= silent.retry_at
            silent.probing = silent.probing or start_probe
            reason = f"not answering for {now - silent.since:.0f}s, not asked until a probe answers"
        if start_probe:
            self._probe(addr, kind)
        return reason

    def failed(self, addr: str, kind: str, error: RemotingError) -> None:
        """Remembers ``addr`` when ``error`` cost a timeout; a probe that failed doubles the backoff."""
        if not costs_time(error):
            self.answered(addr)  # it answered, if only with a refusal: nothing to wait for next time
            return
        now = self._clock.now()
        with self._lock:
            silent = self._silent.get(addr)
            if silent is None:
                self._drop_unasked(now)
                self._silent[addr] = _Silent(kind, since=now, retry_at=now + self._first, backoff=self._first,
                                             asked_at=now)
                return
            if not silent.probing:  # another observation that was already waiting for it
                return
            silent.backoff = min(self._max, silent.backoff * 2)
            silent.retry_at, silent.probing = now + silent.backoff, False

    def answered(self, addr: str) -> None:
        with self._lock:
            self._silent.pop(addr, None)

    def _drop_unasked(self, now: float) -> None:
        for addr in [a for a, s in self._silent.items() if now - s.asked_at > 2 * self._max]:
            del self._silent[addr]

    def silent(self) -> dict[str, float]:
        """Each remembered endpoint with the time of its next probe."""
        with self._lock:
            return {addr: s.retry_at for addr, s in self._silent.items()}
