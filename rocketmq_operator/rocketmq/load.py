"""A load driver: a keyed producer and a pull consumer on one topic, and the figures that prove delivery.

    run = LoadRun("ns-0:9876", "orders", rate=100).start()
    ...                                   # roll brokers, kill a master, move a topic
    report = run.stop()                   # stop sending, drain, stop consuming
    assert report.lost == 0

The producer thread sends at ``rate`` messages per second, each with a unique key ``<run id>-<seq>``;
a send that raised is counted in an error window (consecutive failures with no success between them,
with wall-clock start and end) and never resent, so every key is sent at most once by this driver —
a message that reappears is a duplicate from RocketMQ's side (a retried or re-pulled message). The
consumer thread polls with a consumer group of its own and commits its offsets every
``commit_interval`` seconds, so the group's lag on the brokers is real while it runs.

``stop`` stops the producer, then lets the consumer run until it has every acknowledged key or
``drain_timeout`` passes. ``lost`` counts acknowledged keys (SEND_OK, or stored with a flush or
replication status) never received; a key whose send raised may still arrive (the broker stored it
but the answer did not come back) and is counted in ``received_unacknowledged``, not as lost.

Only keys of this run count: the consumer starts at the latest offsets of the queues the topic has
when the run starts (queues that appear later are read from their beginning), and skips other keys.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Self

from rocketmq_operator.clock import REAL_CLOCK, Clock

from .consumer import PullConsumer, StartFrom
from .errors import RemotingError
from .message import Message, MessageExt
from .producer import Producer, SendResult, SendStatus

__all__ = ["ErrorWindow", "LoadReport", "LoadRun"]

_MAX_LISTED = 20


@dataclass(frozen=True)
class ErrorWindow:
    """Consecutive failed sends: wall-clock seconds of the first and last, how many, the first error."""

    start: float
    end: float
    count: int
    first_error: str


@dataclass(frozen=True)
class LoadReport:
    topic: str
    run_id: str
    duration_s: float
    sent_ok: int
    send_errors: int
    error_windows: tuple[ErrorWindow, ...]
    stored_not_ok: dict[str, int]  # FLUSH_DISK_TIMEOUT / FLUSH_SLAVE_TIMEOUT / SLAVE_NOT_AVAILABLE
    sent_by_broker: dict[str, int]
    received: int  # unique keys of this run
    received_from: dict[str, int]  # messages by the member that served them, "broker-a/0"
    duplicates: int
    lost: int
    lost_keys: tuple[str, ...]  # the first few, sorted
    received_unacknowledged: int
    max_send_gap_s: float
    send_rate: float  # acknowledged sends per second while producing
    latency_ms: dict[str, float]  # born → received: p50, p99, max
    drained: bool  # every acknowledged key arrived before the drain timeout

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["error_windows"] = [asdict(w) for w in self.error_windows]
        data["lost_keys"] = list(self.lost_keys)
        return data


@dataclass
class _Tally:
    """Everything both threads record; guarded by ``LoadRun._lock``."""

    acked: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    received: set[str] = field(default_factory=set)
    duplicates: int = 0
    sent_ok: int = 0
    stored_not_ok: Counter[str] = field(default_factory=Counter)
    by_broker: Counter[str] = field(default_factory=Counter)
    windows: list[ErrorWindow] = field(default_factory=list)
    in_window: bool = False
    last_ok: float | None = None
    max_gap: float = 0.0
    latencies: list[float] = field(default_factory=list)


class LoadRun:
    """One producer thread and one consumer thread on ``topic``; ``start``, then ``stop`` for the report."""

    def __init__(
        self,
        namesrv_addrs: str | Sequence[str],
        topic: str,
        *,
        rate: float = 50.0,
        body_size: int = 64,
        group: str | None = None,
        start_from: StartFrom = "latest",
        drain_timeout: float = 30.0,
        commit_interval: float = 1.0,
        idle_wait: float = 0.05,
        send_timeout: float = 3.0,
        route_ttl: float = 30.0,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.topic = topic
        self.run_id = uuid.uuid4().hex[:12]
        self.rate = rate
        self.body_size = body_size
        self.drain_timeout = drain_timeout
        self.commit_interval = commit_interval
        self.idle_wait = idle_wait
        self._clock = clock
        self._producer = Producer(
            namesrv_addrs,
            group=f"load-producer-{self.run_id}",
            send_timeout=send_timeout,
            route_ttl=route_ttl,
            clock=clock,
        )
        self._consumer = PullConsumer(
            namesrv_addrs,
            group=group or f"load-consumer-{self.run_id}",
            topic=topic,
            start_from=start_from,
            route_ttl=route_ttl,
            clock=clock,
        )
        self._tally = _Tally()
        self._lock = threading.Lock()
        self._sending = threading.Event()  # set: the producer runs
        self._stop_sending = threading.Event()
        self._producer_done = threading.Event()  # set after the producer thread's last send
        self._stop_consuming = threading.Event()
        self._consumer_ready = threading.Event()
        self._all_received = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started_at = self._send_started = self._send_stopped = 0.0

    # -- life cycle -----------------------------------------------------------------------------

    def start(self, *, ready_timeout: float = 10.0) -> Self:
        """Start consuming; start producing once the consumer has read the topic's offsets (bounded)."""
        if self._threads:
            raise RuntimeError("a LoadRun starts once")
        self._started_at = self._clock.now()
        self._spawn(self._consume, "load-consumer")
        self._clock.wait(self._consumer_ready, ready_timeout)
        self._spawn(self._produce, "load-producer")
        return self

    def stop(self) -> LoadReport:
        """Stop sending, drain for up to ``drain_timeout``, stop consuming; the final report."""
        if not self._threads:
            raise RuntimeError("the LoadRun was not started")
        self._stop_sending.set()
        for thread in self._threads[1:]:
            thread.join()
        self._producer_done.set()
        self._check_drained()
        self._clock.wait(self._all_received, self.drain_timeout)
        self._stop_consuming.set()
        self._threads[0].join()
        report = self.report()
        self._producer.close()
        self._consumer.close()
        return report

    def acknowledged(self) -> frozenset[str]:
        """The keys acknowledged so far: what a second consumer group of the topic must also read."""
        with self._lock:
            return frozenset(self._tally.acked)

    def report(self) -> LoadReport:
        """The figures so far (``stop`` returns the final ones)."""
        with self._lock:
            tally = self._tally
            lost = sorted(tally.acked - tally.received)
            sending_end = self._send_stopped if self._producer_done.is_set() else self._clock.now()
            producing = max(sending_end - self._send_started, 1e-9) if self._sending.is_set() else 0.0
            return LoadReport(
                topic=self.topic,
                run_id=self.run_id,
                duration_s=round(self._clock.now() - self._started_at, 3),
                sent_ok=tally.sent_ok,
                send_errors=len(tally.failed),
                error_windows=tuple(tally.windows),
                stored_not_ok=dict(tally.stored_not_ok),
                sent_by_broker=dict(tally.by_broker),
                received=len(tally.received),
                received_from={f"{name}/{bid}": n for (name, bid), n in self._consumer.received_from.items()},
                duplicates=tally.duplicates,
                lost=len(lost),
                lost_keys=tuple(lost[:_MAX_LISTED]),
                received_unacknowledged=len(tally.received & tally.failed),
                max_send_gap_s=round(max(tally.max_gap, self._tail_gap(sending_end)), 3),
                send_rate=round(len(tally.acked) / producing, 1) if producing else 0.0,
                latency_ms=_percentiles(tally.latencies),
                drained=not lost,
            )

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=f"{name}-{self.run_id}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _tail_gap(self, sending_end: float) -> float:
        """A run that ends inside an error window: the time since the last acknowledged send."""
        if not self._tally.in_window:
            return 0.0
        last = self._tally.last_ok if self._tally.last_ok is not None else self._send_started
        return sending_end - last

    # -- producing ------------------------------------------------------------------------------

    def _produce(self) -> None:
        interval = 1.0 / self.rate
        self._send_started = next_at = self._clock.now()
        self._sending.set()
        seq = 0
        while not self._stop_sending.is_set():
            delay = next_at - self._clock.now()
            if delay > 0:
                self._clock.wait(self._stop_sending, delay)
                continue
            seq += 1
            key = f"{self.run_id}-{seq}"
            try:
                result = self._producer.send(Message(self.topic, self._body(key), keys=(key,)))
            except RemotingError as exc:
                self._record_failure(key, exc)
            else:
                self._record_sent(key, result)
            next_at = max(next_at + interval, self._clock.now() - 1.0)  # at most 1 s of backlog
        self._send_stopped = self._clock.now()

    def _body(self, key: str) -> bytes:
        return key.encode().ljust(self.body_size, b".")

    def _record_sent(self, key: str, result: SendResult) -> None:
        now = self._clock.now()
        with self._lock:
            tally = self._tally
            tally.acked.add(key)
            tally.by_broker[result.queue.broker_name] += 1
            if result.status is SendStatus.SEND_OK:
                tally.sent_ok += 1
            else:
                tally.stored_not_ok[result.status.name] += 1
            since = tally.last_ok if tally.last_ok is not None else self._send_started
            tally.max_gap = max(tally.max_gap, now - since)
            tally.last_ok, tally.in_window = now, False

    def _record_failure(self, key: str, exc: RemotingError) -> None:
        wall = self._clock.wall()
        with self._lock:
            tally = self._tally
            tally.failed.add(key)
            if tally.in_window:
                last = tally.windows[-1]
                tally.windows[-1] = ErrorWindow(last.start, wall, last.count + 1, last.first_error)
            else:
                tally.windows.append(ErrorWindow(wall, wall, 1, str(exc)))
                tally.in_window = True

    # -- consuming ------------------------------------------------------------------------------

    def _consume(self) -> None:
        last_commit = self._clock.now()
        while not self._stop_consuming.is_set():
            batch = self._poll()
            self._record_received(batch)
            if self._clock.now() - last_commit >= self.commit_interval:
                self._commit()
                last_commit = self._clock.now()
            if not batch:
                self._clock.wait(self._stop_consuming, self.idle_wait)
        self._commit()

    def _poll(self) -> list[MessageExt]:
        try:
            return self._consumer.poll()
        except RemotingError:
            return []  # no route yet (topic not created) or name servers away: try again
        finally:
            self._consumer_ready.set()

    def _commit(self) -> None:
        try:
            self._consumer.commit()
        except RemotingError:
            pass  # due again at the next commit

    def _record_received(self, batch: list[MessageExt]) -> None:
        prefix = f"{self.run_id}-"
        wall_ms = self._clock.wall() * 1000
        with self._lock:
            tally = self._tally
            for message in batch:
                key = next((k for k in message.keys if k.startswith(prefix)), None)
                if key is None:
                    continue
                if key in tally.received:
                    tally.duplicates += 1
                    continue
                tally.received.add(key)
                tally.latencies.append(max(wall_ms - message.born_timestamp, 0.0))
        self._check_drained()

    def _check_drained(self) -> None:
        with self._lock:
            if self._producer_done.is_set() and self._tally.acked <= self._tally.received:
                self._all_received.set()


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(fraction: float) -> float:
        return round(ordered[min(int(fraction * len(ordered)), len(ordered) - 1)], 1)

    return {"p50": at(0.5), "p99": at(0.99), "max": round(ordered[-1], 1)}
