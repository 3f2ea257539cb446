"""Leader election on a ``coordination.k8s.io/v1`` Lease.

Only the replica that holds the Lease runs controllers. The rules:

- A candidate takes the Lease when nobody holds it, or when the holder has not renewed it for
  ``lease_duration`` as measured on the candidate's own clock from the moment it last saw the record
  change (so clock skew between machines does not matter).
- The holder renews every ``retry_period``. When it cannot renew for ``renew_deadline`` it has lost the
  lease: ``on_stopped_leading`` runs and the elector stops. The process then exits non-zero, because
  another replica may already be reconciling.
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


class LeaderElector:
    """Acquires, renews and releases one Lease. ``run()`` blocks; call it from its own thread."""

    def __init__(self, client: LeaseClient, config: LeaseConfig, *,
                 on_started_leading: Callable[[], None], on_stopped_leading: Callable[[], None],
                 clock: Clock = REAL_CLOCK) -> None:
        self._client = client
        self._cfg = config
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._clock = clock
        self._stop = threading.Event()
        self._observed: dict[str, Any] | None = None  # last Lease read or written
        self._observed_spec: tuple | None = None
        self._observed_at = 0.0  # our clock when the record last changed
        self.is_leader = False

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
        log.info("became leader", identity=self._cfg.identity)
        self._on_started()
        self._renew_loop()

    def _safe_round(self) -> bool:
        try:
            return self.try_acquire_or_renew()
        except Exception:
            log.exception("leader election round failed")
            return False

    def _renew_loop(self) -> None:
        last_renew = self._clock.now()
        while not self._stop.is_set():
            self._clock.wait(self._stop, self._cfg.retry_period)
            if self._stop.is_set():
                return
            if self._safe_round():
                last_renew = self._clock.now()
            elif self._clock.now() - last_renew >= self._cfg.renew_deadline:
                self.is_leader = False
                log.error("leadership lost", identity=self._cfg.identity)
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
