"""Leader election on a ``coordination.k8s.io/v1`` Lease.

Only the replica that holds the Lease runs controllers. The rules:

- A candidate takes the Lease when nobody holds it, or when the holder has not renewed it for
  ``lease_duration`` as measured on the candidate's own clock from the moment it last saw the record
  change (so clock skew between machines does not matter).
- The holder renews every ``retry_period``, also while ``on_started_leading`` is still starting (it runs on a
  thread of its own: waiting for caches never holds up a renewal). A round is bounded by the lease client's
  timeouts, which the process keeps well under ``renew_deadline``.
- The holder may act until ``renew_deadline`` after the start of its last successful round
  (:meth:`LeaderElector.leading`): ``renew_deadline`` < ``lease_duration``, and a candidate counts the lease
  from when it saw the renewal, which is later, so a standby takes over only once the holder has stopped
  acting. The process fences its writes on ``leading()``: a holder frozen past the deadline (SIGSTOP, a
  stalled VM) sends nothing when it wakes. The first missed deadline ends leadership for good:
  ``on_stopped_leading`` runs and the elector stops; the process then exits non-zero.
- Every write carries the resourceVersion that was read, so two candidates never both win.
- ``release()`` on a clean shutdown empties the holder, so a successor does not wait a whole lease.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from rocketmq_operator.clock import REAL_CLOCK, Clock
from rocketmq_operator.kube.errors import ApiError, Conflict, NotFound
from rocketmq_operator.kube.resources import LEASES
from rocketmq_operator.logs import get_logger

log = get_logger(__name__)


class LeaseClient(Protocol):
    def get(self, resource, name: str, *, namespace: str | None = None) -> dict[str, Any]: ...

    def create(self, resource, body: dict[str, Any], *, namespace: str | None = None) -> dict[str, Any]: ...

    def replace(self, resource, body: dict[str, Any], *, namespace: str | None = None) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def micro_time(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _on_a_thread(fn: Callable[[], None]) -> None:
    threading.Thread(target=fn, name="leading", daemon=True).start()


class LeaderElector:
    """Acquires, renews and releases one Lease. ``run()`` blocks; call it from its own thread."""

    def __init__(self, client: LeaseClient, config: LeaseConfig, *,
                 on_started_leading: Callable[[], None], on_stopped_leading: Callable[[], None],
                 clock: Clock = REAL_CLOCK,
                 start: Callable[[Callable[[], None]], None] | None = None) -> None:
        """``start``: how ``on_started_leading`` is run (by default on a thread of its own, so that renewing
        goes on while it starts)."""
        self._client = client
        self._cfg = config
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._start = start or _on_a_thread
        self._clock = clock
        self._stop = threading.Event()
        self._observed: dict[str, Any] | None = None  # last Lease read or written
        self._observed_spec: tuple | None = None
        self._observed_at = 0.0  # our clock when the record last changed
        self._valid_until = float("-inf")  # our clock: may act until then (the last renewal + renew_deadline)
        self.is_leader = False
        self.became_leader_at: float | None = None  # our clock, for the hand-over figure

    def leading(self) -> bool:
        """Whether this replica may act now: it holds the lease and its last renewal is within the
        deadline."""
        return self.is_leader and self._clock.now() < self._valid_until

    # -- one attempt --------------------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """One round: True when this candidate holds the lease afterwards."""
        now, wall = self._clock.now(), self._clock.wall()
        try:
            lease = self._client.get(LEASES, self._cfg.name, namespace=self._cfg.namespace)
        except NotFound:
            return self._create(now, wall)
        self._observe(lease, now)
        spec = lease.get("spec", {})
        holder = spec.get("holderIdentity") or ""
        if holder and holder != self._cfg.identity and now < self._observed_at + self._lease_seconds(spec):
            return False
        return self._update(lease, now, wall, taking_over=holder != self._cfg.identity)

    def _lease_seconds(self, spec: dict[str, Any]) -> float:
        return float(spec.get("leaseDurationSeconds") or self._cfg.lease_duration)

    def _observe(self, lease: dict[str, Any], now: float) -> None:
        spec = lease.get("spec", {})
        key = (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("leaseTransitions"))
        if key != self._observed_spec:
            self._observed_spec, self._observed_at = key, now
        self._observed = lease

    def _create(self, now: float, wall: float) -> bool:
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self._cfg.name, "namespace": self._cfg.namespace},
                "spec": self._spec(wall, acquire=wall, transitions=0)}
        try:
            created = self._client.create(LEASES, body, namespace=self._cfg.namespace)
        except (Conflict, ApiError) as e:
            log.info("lease create failed", lease=self._cfg.name, error=str(e))
            return False
        self._observe(created, now)
        return True

    def _update(self, lease: dict[str, Any], now: float, wall: float, *, taking_over: bool) -> bool:
        old = lease.get("spec", {})
        transitions = int(old.get("leaseTransitions") or 0) + (1 if taking_over else 0)
        acquire = wall if taking_over else None
        body = {**lease, "spec": self._spec(wall, acquire=acquire, transitions=transitions, previous=old)}
        try:
            updated = self._client.replace(LEASES, body, namespace=self._cfg.namespace)
        except ApiError as e:
            log.info("lease update failed", lease=self._cfg.name, error=str(e))
            return False
        self._observe(updated, now)
        return True

    def _spec(self, wall: float, *, acquire: float | None, transitions: int,
              previous: dict[str, Any] | None = None) -> dict[str, Any]:
        spec = {"holderIdentity": self._cfg.identity, "leaseDurationSeconds": int(self._cfg.lease_duration),
                "renewTime": micro_time(wall), "leaseTransitions": transitions}
        spec["acquireTime"] = (micro_time(acquire) if acquire is not None
                               else (previous or {}).get("acquireTime"))
        return spec

    # -- loops --------------------------------------------------------------------------------------

    def run(self) -> None:
        """Acquire (retrying), lead until the lease is lost or ``stop()`` is called."""
        log.info("waiting for leadership", lease=f"{self._cfg.namespace}/{self._cfg.name}",
                 identity=self._cfg.identity)
        while not self._stop.is_set():
            if self._safe_round():
                break
            self._clock.wait(self._stop, self._cfg.retry_period)
        if self._stop.is_set():
            return
        self.is_leader = True
        self.became_leader_at = self._clock.now()
        log.info("became leader", identity=self._cfg.identity)
        self._start(self._on_started)
        self._renew_loop()

    def _safe_round(self) -> bool:
        """One round; on success the replica may act until ``renew_deadline`` after the round began."""
        started = self._clock.now()
        try:
            won = self.try_acquire_or_renew()
        except Exception:
            log.exception("leader election round failed")
            return False
        if won:
            self._valid_until = started + self._cfg.renew_deadline
        return won

    def _renew_loop(self) -> None:
        while not self._stop.is_set():
            self._clock.wait(self._stop, self._cfg.retry_period)
            if self._stop.is_set():
                return
            if not self.leading() or not self._safe_round():
                if self.leading():
                    continue  # a missed round within the deadline: try again next period
                self.is_leader = False
                log.error("leadership lost", identity=self._cfg.identity,
                          late=round(self._clock.now() - self._valid_until, 3))
                self._on_stopped()
                return

    def stop(self) -> None:
        self._stop.set()

    def release(self) -> None:
        """Gives the lease up at once (clean shutdown); a no-op unless we hold it."""
        lease = self._observed
        if not self.is_leader or not lease:
            return
        spec = {**lease.get("spec", {}), "holderIdentity": "", "leaseDurationSeconds": 1,
                "renewTime": micro_time(self._clock.wall())}
        try:
            self._client.replace(LEASES, {**lease, "spec": spec}, namespace=self._cfg.namespace)
            log.info("lease released", identity=self._cfg.identity)
        except ApiError as e:
            log.warning("lease release failed", error=str(e))
        self.is_leader = False
