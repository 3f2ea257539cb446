"""Covers LeaderElector over an in-memory Lease store that enforces resourceVersion: acquiring, renewing,
taking over after lease_duration on the candidate's own clock, losing the lease after renew_deadline,
two candidates racing on one read, and release."""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable
from typing import Any

import pytest

from rocketmq_operator.kube.errors import AlreadyExists, Conflict, NotFound, ServerError
from rocketmq_operator.leaderelection import LeaderElector, LeaseConfig
from tests.fakeclock import FakeClock

NS, LEASE = "operators", "rocketmq-operator"


class LeaseStore:
    """Leases in memory with the API server's write rules: a replace with a stale resourceVersion raises
    Conflict, a create of an existing name raises AlreadyExists. ``broken`` makes every call fail."""

    def __init__(self) -> None:
        self.leases: dict[tuple[str | None, str], dict[str, Any]] = {}
        self.broken = False
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self._rv = itertools.count(1)

    def lease(self) -> dict[str, Any]:
        return copy.deepcopy(self.leases[(NS, LEASE)])

    def get(self, resource, name: str, *, namespace: str | None = None) -> dict[str, Any]:
        self._check()
        if (namespace, name) not in self.leases:
            raise NotFound(f'leases "{name}" not found')
        return copy.deepcopy(self.leases[(namespace, name)])

    def create(self, resource, body: dict[str, Any], *, namespace: str | None = None) -> dict[str, Any]:
        self._check()
        name = body["metadata"]["name"]
        if (namespace, name) in self.leases:
            raise AlreadyExists(f'leases "{name}" already exists', reason="AlreadyExists")
        return self._put("create", namespace, body)

    def replace(self, resource, body: dict[str, Any], *, namespace: str | None = None) -> dict[str, Any]:
        self._check()
        name = body["metadata"]["name"]
        current = self.leases.get((namespace, name))
        if current is None:
            raise NotFound(f'leases "{name}" not found')
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise Conflict(f'leases "{name}": the object has been modified', reason="Conflict")
        return self._put("replace", namespace, body)

    def _check(self) -> None:
        if self.broken:
            raise ServerError("etcdserver: request timed out")

    def _put(self, verb: str, namespace: str | None, body: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(body)
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        self.leases[(namespace, obj["metadata"]["name"])] = obj
        self.writes.append((verb, copy.deepcopy(obj)))
        return copy.deepcopy(obj)


class SteppingClock(FakeClock):
    """A fake clock whose ``wait`` lets the whole timeout pass at once (unless the event is set), so
    ``run()`` loops on fake time in the test's thread; a loop that never ends fails instead of hanging."""

    LIMIT = 3600.0

    def __init__(self) -> None:
        super().__init__()
        self._end = self.now() + self.LIMIT

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        if not event.is_set() and timeout:
            self.step(timeout)
            if self.now() > self._end:
                raise AssertionError(f"run() still looping after {self.LIMIT} s of fake time")
        return event.is_set()


class Candidate:
    """One replica: an elector over the shared store, its own clock, and a record of its callbacks.
    ``when_leading(candidate)`` runs inside on_started_leading, in the test's thread unless ``start`` says
    otherwise."""

    def __init__(self, store: LeaseStore, identity: str, *, clock: FakeClock | None = None,
                 when_leading: Callable[[Candidate], None] = lambda candidate: None,
                 start: Callable[[Callable[[], None]], None] = lambda fn: fn()) -> None:
        self.clock = clock or FakeClock()
        self.started: list[str] = []
        self.stopped: list[str] = []

        def started() -> None:
            self.started.append(identity)
            when_leading(self)

        self.elector = LeaderElector(
            store, LeaseConfig(namespace=NS, name=LEASE, identity=identity, lease_duration=15.0,
                               renew_deadline=10.0, retry_period=2.0),
            on_started_leading=started, on_stopped_leading=lambda: self.stopped.append(identity),
            clock=self.clock, start=start)

    def attempt(self) -> bool:
        return self.elector.try_acquire_or_renew()


@pytest.fixture
def store() -> LeaseStore:
    return LeaseStore()


@pytest.fixture
def candidates(store) -> Callable[..., Candidate]:
    return lambda identity, **kw: Candidate(store, identity, **kw)


def stop(candidate: Candidate) -> None:
    candidate.elector.stop()


def spec(store: LeaseStore) -> dict[str, Any]:
    return store.lease()["spec"]


# -- the store fake itself -----------------------------------------------------------------------------------

def test_the_lease_store_rejects_a_replace_with_a_stale_resource_version(store):
    store.create(None, {"metadata": {"name": LEASE}, "spec": {}}, namespace=NS)
    stale = store.lease()
    store.replace(None, store.lease(), namespace=NS)
    with pytest.raises(Conflict):
        store.replace(None, stale, namespace=NS)


def test_the_lease_store_rejects_a_second_create_of_the_same_name(store):
    store.create(None, {"metadata": {"name": LEASE}, "spec": {}}, namespace=NS)
    with pytest.raises(AlreadyExists):
        store.create(None, {"metadata": {"name": LEASE}, "spec": {}}, namespace=NS)


# -- acquiring and renewing ----------------------------------------------------------------------------------

def test_the_first_candidate_creates_the_lease_and_holds_it(store, candidates):
    a = candidates("a")
    assert a.attempt() is True
    assert spec(store) == {"holderIdentity": "a", "leaseDurationSeconds": 15,
                           "renewTime": "1970-01-01T00:16:40.000000Z", "leaseTransitions": 0,
                           "acquireTime": "1970-01-01T00:16:40.000000Z"}


def test_a_second_candidate_cannot_take_the_lease_while_the_holder_renews(store, candidates):
    a, b = candidates("a"), candidates("b")
    a.attempt()
    for _ in range(20):  # 40 s on both clocks, far beyond lease_duration
        a.clock.step(2)
        b.clock.step(2)
        assert a.attempt() is True
        assert b.attempt() is False
    assert spec(store)["holderIdentity"] == "a"
    assert spec(store)["leaseTransitions"] == 0


def test_renewing_moves_the_renew_time_and_keeps_the_acquire_time(store, candidates):
    a = candidates("a")
    a.attempt()
    a.clock.step(2)
    a.attempt()
    assert spec(store)["renewTime"] == "1970-01-01T00:16:42.000000Z"
    assert spec(store)["acquireTime"] == "1970-01-01T00:16:40.000000Z"


def test_a_candidate_takes_over_once_the_holder_has_not_renewed_for_lease_duration_on_its_own_clock(
        store, candidates):
    a = candidates("a")
    b = candidates("b", clock=FakeClock(start=5_000_000.0))  # skewed: only b's own elapsed time counts
    a.attempt()
    assert b.attempt() is False  # b first sees the record now
    b.clock.step(14.999)
    assert b.attempt() is False
    b.clock.step(0.001)
    assert b.attempt() is True
    lease = spec(store)
    assert (lease["holderIdentity"], lease["leaseTransitions"]) == ("b", 1)
    assert lease["acquireTime"] == lease["renewTime"]


def test_the_takeover_clock_restarts_whenever_the_candidate_sees_a_renewal(store, candidates):
    a, b = candidates("a"), candidates("b")
    a.attempt()
    b.attempt()
    a.clock.step(10)
    a.attempt()
    b.clock.step(10)
    assert b.attempt() is False  # b sees the renewal at 10 s: without it, it could take over at 15 s
    b.clock.step(14.999)
    assert b.attempt() is False
    b.clock.step(0.001)
    assert b.attempt() is True


def test_the_old_holder_does_not_take_the_lease_back_after_a_takeover(store, candidates):
    a, b = candidates("a"), candidates("b")
    a.attempt()
    b.attempt()
    b.clock.step(15)
    b.attempt()
    a.clock.step(2)
    assert a.attempt() is False
    assert spec(store)["holderIdentity"] == "b"


def test_two_candidates_that_read_the_same_expired_lease_cannot_both_win(store, candidates):
    a, b, c = candidates("a"), candidates("b"), candidates("c")
    a.attempt()
    for other in (b, c):
        other.attempt()
        other.clock.step(15)
    get = store.get

    def get_then_let_c_win(*args, **kwargs):
        lease = get(*args, **kwargs)
        store.get = get
        assert c.attempt() is True  # c writes between b's read and b's write
        return lease

    store.get = get_then_let_c_win
    assert b.attempt() is False
    assert (spec(store)["holderIdentity"], spec(store)["leaseTransitions"]) == ("c", 1)


def test_a_candidate_that_loses_the_create_race_does_not_hold_the_lease(store, candidates):
    a, b = candidates("a"), candidates("b")
    get = store.get

    def not_found_then_a_creates(*args, **kwargs):
        store.get = get
        assert a.attempt() is True
        raise NotFound("not found (yet)")

    store.get = not_found_then_a_creates
    assert b.attempt() is False
    assert spec(store)["holderIdentity"] == "a"


# -- losing and releasing ------------------------------------------------------------------------------------

def test_a_holder_that_cannot_renew_for_renew_deadline_stops_leading(store):
    def break_the_store(candidate: Candidate) -> None:
        store.broken = True  # from now on every renewal fails

    a = Candidate(store, "a", clock=SteppingClock(), when_leading=break_the_store)
    start = a.clock.now()
    a.elector.run()
    assert (a.started, a.stopped) == (["a"], ["a"])
    assert a.clock.now() - start == 10.0  # five failed renewals, 2 s apart
    assert a.elector.is_leader is False


def test_a_holder_whose_lease_was_taken_stops_leading_after_renew_deadline(store, candidates):
    b = candidates("b")

    def taken_by_b(candidate: Candidate) -> None:
        b.attempt()
        b.clock.step(15)
        assert b.attempt() is True

    a = Candidate(store, "a", clock=SteppingClock(), when_leading=taken_by_b)
    a.elector.run()
    assert a.stopped == ["a"]


def test_stop_ends_run_without_calling_on_stopped_leading(store):
    a = Candidate(store, "a", clock=SteppingClock(), when_leading=stop)
    a.elector.run()
    assert a.stopped == [] and a.elector.is_leader is True


def test_release_empties_the_holder_so_a_successor_takes_over_at_once(store, candidates):
    a = Candidate(store, "a", clock=SteppingClock(), when_leading=stop)
    a.elector.run()
    b = candidates("b")
    a.elector.release()
    assert (spec(store)["holderIdentity"], spec(store)["leaseDurationSeconds"]) == ("", 1)
    assert a.elector.is_leader is False
    assert b.attempt() is True
    assert spec(store)["holderIdentity"] == "b"


def test_release_is_a_no_op_for_a_candidate_that_does_not_lead(store, candidates):
    a, b = candidates("a"), candidates("b")
    a.attempt()
    writes = len(store.writes)
    b.elector.release()
    assert len(store.writes) == writes
    assert spec(store)["holderIdentity"] == "a"


def test_a_failed_round_is_survived_by_run_and_retried_after_retry_period(store):
    a = Candidate(store, "a", clock=SteppingClock(), when_leading=stop)
    store.broken = True
    start = a.clock.now()
    rounds = []
    get = store.get

    def heal_on_third_round(*args, **kwargs):
        rounds.append(a.clock.now() - start)
        if len(rounds) == 3:
            store.broken = False
        return get(*args, **kwargs)

    store.get = heal_on_third_round
    a.elector.run()
    assert rounds == [0.0, 2.0, 4.0]
    assert a.started == ["a"] and a.elector.is_leader is True


# -- acting only while the lease is surely held -------------------------------------------------------

def test_renewals_go_on_while_the_new_leader_is_still_starting():
    """on_started_leading waits for caches for as long as they take; the lease is renewed meanwhile."""
    store = LeaseStore()
    starting, released = threading.Event(), threading.Event()
    renewals_while_starting = []

    def slow_start(candidate: Candidate) -> None:
        starting.set()
        released.wait(10)

    a = Candidate(store, "a", clock=SteppingClock(), when_leading=slow_start,
                  start=lambda fn: threading.Thread(target=fn, daemon=True).start())
    replace = store.replace

    def renew(*args, **kwargs):
        assert starting.wait(10)
        renewals_while_starting.append(not released.is_set())
        if len(renewals_while_starting) == 3:
            released.set()
            a.elector.stop()
        return replace(*args, **kwargs)

    store.replace = renew
    a.elector.run()
    assert renewals_while_starting == [True, True, True]
    assert a.stopped == [] and spec(store)["holderIdentity"] == "a"


def test_a_leader_may_act_only_until_renew_deadline_after_its_last_successful_round(store):
    a = Candidate(store, "a", clock=SteppingClock(), when_leading=stop)
    a.elector.run()
    assert a.elector.leading() is True
    a.clock.step(9.9)
    assert a.elector.leading() is True
    a.clock.step(0.2)
    assert a.elector.leading() is False
    assert a.elector.is_leader is True  # it still thinks it holds the lease: leading() is what fences


class FreezingClock(SteppingClock):
    """The process is frozen (SIGSTOP) for ``freeze`` seconds during its ``at``-th wait."""

    def __init__(self, *, at: int, freeze: float) -> None:
        super().__init__()
        self.waits, self._at, self._freeze = 0, at, freeze

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        self.waits += 1
        return super().wait(event, self._freeze if self.waits == self._at else timeout)


def test_a_leader_frozen_past_the_renew_deadline_stops_at_once_without_renewing(store, candidates):
    b = candidates("b")
    a = Candidate(store, "a", clock=FreezingClock(at=2, freeze=30.0))
    writes_before = []

    def frozen_wait(event, timeout, wait=a.clock.wait):
        if a.clock.waits == 1:  # the next wait is the freeze: the standby takes the lease meanwhile
            writes_before.append(len(store.writes))
            b.attempt()
            b.clock.step(16)
            assert b.attempt() is True
        return wait(event, timeout)

    a.clock.wait = frozen_wait
    a.elector.run()
    assert a.stopped == ["a"] and a.elector.leading() is False
    assert [w for w in store.writes[writes_before[0]:] if w[1]["spec"]["holderIdentity"] == "a"] == []


def test_a_leader_whose_rounds_fail_stops_on_the_first_missed_deadline_not_after_a_late_success(store):
    a = Candidate(store, "a", clock=SteppingClock(), when_leading=lambda c: setattr(store, "broken", True))
    rounds = []
    get = store.get

    def heal_after_the_deadline(*args, **kwargs):
        rounds.append(a.clock.now())
        if len(rounds) == 6:  # 12 s of failures: the deadline (10 s) has passed
            store.broken = False
        return get(*args, **kwargs)

    store.get = heal_after_the_deadline
    a.elector.run()
    assert a.stopped == ["a"] and len(rounds) == 5  # no round after the deadline, so no late renewal
